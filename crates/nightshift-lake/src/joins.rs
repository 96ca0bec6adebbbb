//! Which side of a hash join is held in memory.
//!
//! A features query streams a window of rows (contacts, with their text) past lookup tables
//! (trips, orders). Two DataFusion defaults would hold the whole window in memory instead:
//!
//! * Join selection hashes the side it estimates smaller: by bytes when both sides' byte sizes
//!   are known, otherwise by rows. A scan knows its bytes (its files' sizes) but the output of
//!   a join does not, so a join over another join's result falls back to rows: a million
//!   contacts *with their text*, already joined to their trips, look smaller than 1.5 million
//!   orders of three short columns, and the window is the side hashed.
//! * A partitioned hash join repartitions both inputs by key. The repartition of the streamed
//!   side runs ahead while the tables are being hashed and buffers what it reads (its channels
//!   are unbounded as long as another output partition is drained): the window again ends up
//!   in memory before its first row reaches the writer.
//!
//! [`BuildOnFewerBytes`] runs right after DataFusion's join selection. For every hash join it
//! estimates each input's bytes, as DataFusion's own estimate when there is one and otherwise
//! as rows times a row width (the sum of the inputs' bytes per row for a join, the widest
//! input's for another operator, the schema's for a leaf); it hashes the input with fewer
//! bytes, once, in one table shared by every partition of the other (`CollectLeft`), which is
//! then read in its own partitions, after the build, without a repartition. Memory is then
//! the lookup tables' hash tables plus a few batches, whatever the size of the window. The
//! price: each hash table is built by one thread, where a partitioned join builds on all
//! cores; that matters only when both inputs are large and the cores many.
//!
//! A lookup narrowed to the window's keys (`AND t.trip_id IN (SELECT trip_id FROM window)`,
//! as the `init` template writes it) is a semi-join. It hashes its probe side, the window's
//! keys (one short column), unless that has more rows than the table it filters; its output
//! has no row count in DataFusion's statistics, so it is estimated as at most the smaller of
//! its two inputs (each key finds at most one row of a lookup table) with the width of the
//! table's rows. The lookup join above it then hashes the narrowed table: on the end-to-end
//! benchmark, the trips of the window's contacts instead of all of the week's: a third less
//! peak memory, and a shorter build before the first row streams.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::datafusion::common::JoinType;
use deltalake::datafusion::common::Statistics;
use deltalake::datafusion::common::config::ConfigOptions;
use deltalake::datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use deltalake::datafusion::error::Result as DfResult;
use deltalake::datafusion::physical_optimizer::PhysicalOptimizerRule;
use deltalake::datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use deltalake::datafusion::physical_plan::filter::FilterExec;
use deltalake::datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PartitionMode, SortMergeJoinExec,
};
use deltalake::datafusion::physical_plan::projection::ProjectionExec;
use deltalake::datafusion::physical_plan::repartition::RepartitionExec;
use deltalake::datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};

/// Name of the rule in the session's physical optimiser (see [`BuildOnFewerBytes`]).
pub(crate) const RULE_NAME: &str = "build_on_fewer_bytes";

/// Assumed width of a value whose width the schema does not give (strings, lists, ...).
const VARIABLE_WIDTH: f64 = 32.0;

/// The physical optimiser rule described in the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct BuildOnFewerBytes;

impl PhysicalOptimizerRule for BuildOnFewerBytes {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if !config.optimizer.join_reordering {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if *join.partition_mode() == PartitionMode::Auto
                || !join.join_type().supports_swap()
                || join.null_aware
            {
                return Ok(Transformed::no(node));
            }
            let Some(hash_right) = hash_the_right_side(join) else {
                return Ok(Transformed::no(node));
            };
            if hash_right {
                let swapped = join.swap_inputs(PartitionMode::CollectLeft)?;
                return Ok(Transformed::yes(swapped));
            }
            if *join.partition_mode() == PartitionMode::CollectLeft {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(Arc::new(
                join.builder()
                    .with_partition_mode(PartitionMode::CollectLeft)
                    .build()?,
            )))
        })
        .data()
    }

    fn name(&self) -> &str {
        RULE_NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether `join` should hash its right input rather than its left; `None` without estimates.
/// A semi or anti join filters its kept side by the keys of its probe side: it hashes the
/// probe side (keys only, typically a window's) unless that has more rows than the kept side
/// (whose hashed rows would carry a key each too). Any other join hashes the side with fewer
/// estimated bytes.
fn hash_the_right_side(join: &HashJoinExec) -> Option<bool> {
    if let Some((kept, probe)) = semi_join_sides(join) {
        let (kept_rows, probe_rows) = (estimated_rows(kept)?, estimated_rows(probe)?);
        let hash_probe = probe_rows <= kept_rows;
        tracing::debug!(
            "{:?} join on {:?}: hashing the {} side ({:.0} estimated rows against {:.0})",
            join.join_type(),
            join.on(),
            if hash_probe { "probe" } else { "kept" },
            probe_rows.min(kept_rows),
            probe_rows.max(kept_rows),
        );
        // The probe side of a Left* join is its right input.
        let probe_is_right = Arc::ptr_eq(probe, join.right());
        return Some(hash_probe == probe_is_right);
    }
    let (left, right) = (
        estimated_bytes(join.left())?,
        estimated_bytes(join.right())?,
    );
    let (side, hashed, other) = if left > right {
        ("right", right, left)
    } else {
        ("left", left, right)
    };
    tracing::debug!(
        "hash join on {:?}: hashing the {side} side ({hashed:.0} estimated bytes), \
         not the other ({other:.0})",
        join.on()
    );
    Some(left > right)
}

/// The plan's own byte estimate, or its rows ([`estimated_rows`]) times [`row_width`];
/// `None` without a row count.
fn estimated_bytes(plan: &Arc<dyn ExecutionPlan>) -> Option<f64> {
    let stats = statistics(plan)?;
    if let Some(bytes) = stats.total_byte_size.get_value() {
        return Some(*bytes as f64);
    }
    Some(estimated_rows(plan)? * row_width(plan))
}

/// The plan's own row estimate; without one, for a semi or anti join (which outputs rows of
/// one input, its *kept* side, filtered by the other, its *probe* side): at most the kept
/// side's rows, and, for a lookup table narrowed to the keys of a window (`t.id IN (SELECT
/// id FROM window)`, where each key finds at most one row), the probe side's; for an
/// operator that passes on or drops its one input's rows (filter, projection, coalesce,
/// repartition), that input's.
fn estimated_rows(plan: &Arc<dyn ExecutionPlan>) -> Option<f64> {
    if let Some(rows) = statistics(plan).and_then(|s| s.num_rows.get_value().copied()) {
        return Some(rows as f64);
    }
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        let (kept, probe) = semi_join_sides(join)?;
        return Some(estimated_rows(kept)?.min(estimated_rows(probe)?));
    }
    match plan.children().as_slice() {
        [child] if passes_rows_through(plan.as_ref()) => estimated_rows(child),
        _ => None,
    }
}

/// An input of a plan.
type Input = Arc<dyn ExecutionPlan>;

/// The kept and probe inputs of a semi or anti join; `None` for other joins.
fn semi_join_sides(join: &HashJoinExec) -> Option<(&Input, &Input)> {
    match join.join_type() {
        JoinType::LeftSemi | JoinType::LeftAnti => Some((join.left(), join.right())),
        JoinType::RightSemi | JoinType::RightAnti => Some((join.right(), join.left())),
        _ => None,
    }
}

/// Operators whose output rows are some of their one input's (never more).
fn passes_rows_through(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<FilterExec>()
        || plan.is::<ProjectionExec>()
        || plan.is::<CoalescePartitionsExec>()
        || plan.is::<RepartitionExec>()
}

/// Bytes per output row: a join's row carries a row of each input (a semi or anti join's,
/// of its kept input); another operator's row is at most as wide as its widest input's; a
/// leaf's width comes from its schema.
fn row_width(plan: &Arc<dyn ExecutionPlan>) -> f64 {
    if let Some((kept, _)) = plan
        .downcast_ref::<HashJoinExec>()
        .and_then(semi_join_sides)
    {
        return row_width(kept);
    }
    let children = plan.children();
    if children.is_empty() {
        return schema_width(&plan.schema());
    }
    let mut widths = Vec::with_capacity(children.len());
    for child in children {
        match (estimated_rows(child), estimated_bytes(child)) {
            (Some(rows), Some(bytes)) if rows > 0.0 => widths.push(bytes / rows),
            _ => return schema_width(&plan.schema()),
        }
    }
    if is_join(plan.as_ref()) {
        widths.iter().sum()
    } else {
        widths.into_iter().fold(0.0, f64::max)
    }
}

fn is_join(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<HashJoinExec>()
        || plan.is::<SortMergeJoinExec>()
        || plan.is::<NestedLoopJoinExec>()
        || plan.is::<CrossJoinExec>()
}

/// The whole plan's statistics (all partitions), as DataFusion's own join selection reads them.
fn statistics(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<Statistics>> {
    StatisticsContext::new()
        .compute(plan.as_ref(), &StatisticsArgs::new())
        .ok()
}

/// Bytes of one row by the schema alone: fixed widths as declared, strings and other
/// variable-width values at [`VARIABLE_WIDTH`].
fn schema_width(schema: &Schema) -> f64 {
    schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Boolean => 1.0,
            DataType::Dictionary(key, _) => key.primitive_width().unwrap_or(4) as f64,
            other => other.primitive_width().map_or(VARIABLE_WIDTH, |w| w as f64),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::datatypes::Field;

    #[test]
    fn schema_width_counts_fixed_and_variable_columns() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("ok", DataType::Boolean, true),
            Field::new("text", DataType::Utf8View, true),
            Field::new(
                "city",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
        ]);
        assert_eq!(schema_width(&schema), 8.0 + 1.0 + VARIABLE_WIDTH + 4.0);
    }
}
