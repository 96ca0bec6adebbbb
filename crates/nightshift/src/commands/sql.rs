//! `nightshift sql "SELECT ..."`.

use std::io::Write;

use nightshift_lake::Warehouse;
use nightshift_lake::format::{OutputFormat, write_batches};

use crate::cli::{GlobalArgs, SqlArgs};
use crate::failure::Failure;

pub(crate) async fn sql(global: &GlobalArgs, args: &SqlArgs) -> Result<(), Failure> {
    if args.csv && global.json {
        return Err(Failure::usage(
            "--csv and --json cannot be used together",
            Some("--csv prints a CSV table, --json a JSON array of rows: pick one".into()),
        ));
    }
    let project = super::load_project(&global.project)?;
    let warehouse = Warehouse::open(&project).await?;
    let frame = warehouse
        .sql(&args.query)
        .await
        .map_err(super::query_failure)?;
    let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
    let batches = warehouse.collect(frame).await?;
    let format = if global.json {
        OutputFormat::Json
    } else if args.csv {
        OutputFormat::Csv
    } else {
        OutputFormat::Table
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    write_batches(&mut out, &schema, &batches, format)?;
    out.flush()
        .map_err(|e| Failure::work(anyhow::anyhow!("writing to stdout: {e}")))?;
    Ok(())
}
