//! `nightshift_predict(text, extra...)`: a DataFusion scalar UDF that runs a text model on
//! whole record batches, so predictions stream through SQL plans (and, later, Ballista).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, Float32Array, Float32Builder, ListArray, StringBuilder, StructArray,
};
use deltalake::arrow::buffer::{NullBuffer, OffsetBuffer};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Fields};
use deltalake::datafusion::common::{DataFusionError, Result as DfResult};
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use nightshift_models::{Input, TextClassifier};

use crate::strings::StringColumn;

/// Name of the UDF in SQL.
pub const PREDICT_UDF: &str = "nightshift_predict";

/// Fields of one `top_k` entry.
fn top_k_fields() -> Fields {
    Fields::from(vec![
        Field::new("label", DataType::Utf8, false),
        Field::new("confidence", DataType::Float32, false),
    ])
}

/// The struct the UDF returns per row (null for a null text).
pub fn prediction_fields() -> Fields {
    Fields::from(vec![
        Field::new("subcategory", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, true),
        Field::new("confidence", DataType::Float32, false),
        Field::new("category_confidence", DataType::Float32, true),
        Field::new(
            "top_k",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(top_k_fields()),
                true,
            ))),
            false,
        ),
    ])
}

/// Runs a [`TextClassifier`] on each batch: argument 1 is the text, arguments 2.. are the
/// model's structured inputs, in the order of `extra_fields` (the names they were trained with).
#[derive(Debug)]
pub struct PredictUdf {
    model: Arc<TextClassifier>,
    extra_fields: Vec<String>,
    top_k: usize,
    signature: Signature,
    /// Recent results by input arrays. A query reads several fields of the prediction struct
    /// (`p['category']`, `p['subcategory']`, ...), and DataFusion may evaluate the call once per
    /// field on the same batch: the cache makes that one model call. Each entry holds the input
    /// arrays themselves, so their addresses cannot be reused by other arrays while cached.
    recent: std::sync::Mutex<std::collections::VecDeque<(Vec<ArrayRef>, ArrayRef)>>,
}

/// Batches remembered by [`PredictUdf`] (a few per partition running at once).
const RECENT_BATCHES: usize = 8;

fn same_arrays(a: &[ArrayRef], b: &[ArrayRef]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

impl PredictUdf {
    /// A UDF over `model`, reporting the `top_k` most probable labels per row.
    pub fn new(model: Arc<TextClassifier>, extra_fields: Vec<String>, top_k: usize) -> PredictUdf {
        PredictUdf {
            signature: Signature::variadic_any(Volatility::Immutable),
            model,
            extra_fields,
            top_k: top_k.max(1),
            recent: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// As a DataFusion [`ScalarUDF`], to register in a session.
    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }
}

// DataFusion compares UDFs to deduplicate expressions: two instances are equal when they wrap
// the same model object with the same settings.
impl PartialEq for PredictUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.model, &other.model)
            && self.extra_fields == other.extra_fields
            && self.top_k == other.top_k
    }
}

impl Eq for PredictUdf {}

impl Hash for PredictUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.model) as usize).hash(state);
        self.extra_fields.hash(state);
        self.top_k.hash(state);
    }
}

impl ScalarUDFImpl for PredictUdf {
    fn name(&self) -> &str {
        PREDICT_UDF
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Struct(prediction_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let expected = 1 + self.extra_fields.len();
        if args.args.len() != expected {
            return Err(DataFusionError::Plan(format!(
                "{PREDICT_UDF} takes the text and {} structured input(s) ({}), got {} argument(s)",
                self.extra_fields.len(),
                self.extra_fields.join(", "),
                args.args.len()
            )));
        }
        let n = args.number_rows;
        let inputs: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(n))
            .collect::<DfResult<_>>()?;
        if let Ok(recent) = self.recent.lock()
            && let Some((_, result)) = recent.iter().find(|(key, _)| same_arrays(key, &inputs))
        {
            return Ok(ColumnarValue::Array(result.clone()));
        }
        // Strings are read in place whatever their layout; other types as their text.
        let texts: Vec<ArrayRef> = inputs
            .iter()
            .map(|a| match StringColumn::of(a) {
                Some(_) => Ok(a.clone()),
                None => cast(a, &DataType::Utf8),
            })
            .collect::<Result<_, _>>()?;
        let columns: Vec<StringColumn<'_>> = texts
            .iter()
            .map(|a| {
                StringColumn::of(a)
                    .ok_or_else(|| DataFusionError::Internal("cast to Utf8 failed".into()))
            })
            .collect::<DfResult<_>>()?;
        let array = outside_the_runtime(|| {
            predict_columns(&self.model, &self.extra_fields, &columns, self.top_k)
        })?;
        if let Ok(mut recent) = self.recent.lock() {
            recent.push_back((inputs, array.clone()));
            while recent.len() > RECENT_BATCHES {
                recent.pop_front();
            }
        }
        Ok(ColumnarValue::Array(array))
    }
}

/// Predicts every row of `columns` (text first, then extras); rows with a null text get a null
/// struct.
fn predict_columns(
    model: &TextClassifier,
    extra_fields: &[String],
    columns: &[StringColumn<'_>],
    top_k: usize,
) -> DfResult<ArrayRef> {
    let texts = &columns[0];
    let n = texts.len();
    // Row i's extras are extras[i * e .. (i + 1) * e]; a null extra is passed as "".
    let e = extra_fields.len();
    let mut extras: Vec<(&str, &str)> = Vec::with_capacity(n * e);
    for i in 0..n {
        for (field, column) in extra_fields.iter().zip(&columns[1..]) {
            extras.push((field.as_str(), column.value_or_empty(i)));
        }
    }
    let inputs: Vec<Input<'_>> = (0..n)
        .map(|i| Input {
            text: texts.value_or_empty(i),
            extras: &extras[i * e..(i + 1) * e],
        })
        .collect();
    let predictions = model.predict_columns(&inputs, top_k);

    let labels = model.labels();
    let parents = model.parents();
    let mut subcategory = StringBuilder::with_capacity(n, n * 16);
    let mut category = StringBuilder::with_capacity(n, n * 12);
    let mut confidence = Float32Builder::with_capacity(n);
    let mut category_confidence = Float32Builder::with_capacity(n);
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0i32);
    let mut k_labels = StringBuilder::with_capacity(n * top_k, n * top_k * 16);
    let mut k_conf = Float32Builder::with_capacity(n * top_k);
    for i in 0..n {
        subcategory.append_value(label_name(labels, predictions.label[i]));
        match (parents, predictions.parent[i]) {
            (Some(names), Some(parent)) => category.append_value(label_name(names, parent)),
            _ => category.append_null(),
        }
        confidence.append_value(predictions.confidence[i]);
        category_confidence.append_option(predictions.parent_confidence[i]);
        for &(label, conf) in predictions.top_k_of(i) {
            k_labels.append_value(label_name(labels, label));
            k_conf.append_value(conf);
        }
        offsets.push(((i + 1) * predictions.k) as i32);
    }
    let entries = StructArray::new(
        top_k_fields(),
        vec![
            Arc::new(k_labels.finish()) as ArrayRef,
            Arc::new(k_conf.finish()) as ArrayRef,
        ],
        None,
    );
    let top_k_array = ListArray::new(
        Arc::new(Field::new("item", DataType::Struct(top_k_fields()), true)),
        OffsetBuffer::new(offsets.into()),
        Arc::new(entries),
        None,
    );
    let nulls = texts
        .nulls()
        .cloned()
        .map(|n| NullBuffer::new(n.inner().clone()));
    let confidence: Float32Array = confidence.finish();
    Ok(Arc::new(StructArray::new(
        prediction_fields(),
        vec![
            Arc::new(subcategory.finish()),
            Arc::new(category.finish()),
            Arc::new(confidence),
            Arc::new(category_confidence.finish()),
            Arc::new(top_k_array),
        ],
        nulls,
    )))
}

fn label_name(names: &[String], index: u32) -> &str {
    names.get(index as usize).map(String::as_str).unwrap_or("")
}

/// Runs `f`, which keeps this thread waiting for the rayon pool, so that the tokio runtime
/// goes on without this thread meanwhile.
///
/// A batch's predictions run on all cores through rayon while the calling thread waits.
/// When that thread is a tokio worker, the tasks queued on it (the features query feeding
/// this one, the Parquet writers of both tables) would wait too, and the model would then
/// starve for input: on 2 cores about 10% of the CPU sat idle in a run's steady state.
/// `block_in_place` hands the worker's queue to another thread first. It is only allowed
/// on a multi-threaded runtime; elsewhere (a current-thread runtime, no runtime) `f` runs
/// as it is.
fn outside_the_runtime<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, StringArray, StringViewArray};
    use nightshift_models::{Example, TrainConfig, train};

    /// A model of three labels trained in a few milliseconds.
    fn small_model() -> TextClassifier {
        let texts = [
            "refund my card",
            "driver was rude",
            "app crashes",
            "card declined",
        ];
        let labels = ["payments", "safety", "app", "payments"];
        let examples: Vec<Example<'_>> = (0..40)
            .map(|i| Example {
                text: texts[i % 4],
                label: labels[i % 4],
                parent: None,
                extras: &[],
            })
            .collect();
        let mut config = TrainConfig::default();
        config.features.hash_bits = 12;
        config.max_epochs = 2;
        train(&config, &examples).expect("train").0
    }

    /// The text column is read in place whatever its layout, and a null text gives a null
    /// prediction.
    #[test]
    fn predictions_are_the_same_for_every_string_layout() {
        let model = small_model();
        let values = vec![
            Some("refund please"),
            None,
            Some("the app crashes again and again"),
        ];
        let utf8: ArrayRef = Arc::new(StringArray::from(values.clone()));
        let view: ArrayRef = Arc::new(StringViewArray::from(values));
        let predict = |array: &ArrayRef| {
            let columns = vec![StringColumn::of(array).expect("strings")];
            predict_columns(&model, &[], &columns, 2).expect("predict")
        };
        let (a, b) = (predict(&utf8), predict(&view));
        assert_eq!(a.to_data(), b.to_data());
        assert!(a.is_null(1) && a.is_valid(0) && a.is_valid(2));
    }

    /// The UDF gives the same result wherever it is called from: outside any runtime, on a
    /// current-thread runtime (where blocking in place is not allowed), on a multi-threaded
    /// runtime's worker and in its `block_on`.
    #[test]
    fn predictions_run_on_every_kind_of_runtime() {
        let model = Arc::new(small_model());
        let texts: ArrayRef = Arc::new(StringArray::from(vec!["refund", "rude driver"]));
        let call = move || {
            let udf = PredictUdf::new(model.clone(), Vec::new(), 1);
            let args = ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(texts.clone())],
                arg_fields: vec![Arc::new(Field::new("text", DataType::Utf8, true))],
                number_rows: 2,
                return_field: Arc::new(Field::new(
                    "p",
                    DataType::Struct(prediction_fields()),
                    true,
                )),
                config_options: Arc::new(Default::default()),
            };
            match udf.invoke_with_args(args).expect("predict") {
                ColumnarValue::Array(a) => a.to_data(),
                ColumnarValue::Scalar(s) => panic!("a scalar: {s:?}"),
            }
        };
        let plain = call();
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert_eq!(current.block_on(async { call() }), plain);
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime");
        assert_eq!(multi.block_on(async { call() }), plain);
        let on_worker = multi.block_on(async { tokio::spawn(async move { call() }).await });
        assert_eq!(on_worker.expect("worker task"), plain);
    }
}
