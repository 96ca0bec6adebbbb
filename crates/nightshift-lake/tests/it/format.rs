use std::sync::Arc;

use nightshift_lake::arrow::array::{
    Float64Builder, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder, StructBuilder,
};
use nightshift_lake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use nightshift_lake::format::{OutputFormat, write_batches};

use crate::rows;

fn render(format: OutputFormat, schema: &SchemaRef, batches: &[RecordBatch]) -> String {
    let mut out = Vec::new();
    write_batches(&mut out, schema, batches, format).expect("format");
    String::from_utf8(out).expect("utf8")
}

#[test]
fn csv_json_and_table_render_the_same_rows() {
    let batch = rows(&[(1, "2026-11-19", "1"), (2, "2026-11-19", "2")]);
    let schema = batch.schema();
    let csv = render(OutputFormat::Csv, &schema, std::slice::from_ref(&batch));
    assert_eq!(csv, "id,ds,model_version\n1,2026-11-19,1\n2,2026-11-19,2\n");
    let json: serde_json::Value = serde_json::from_str(&render(
        OutputFormat::Json,
        &schema,
        std::slice::from_ref(&batch),
    ))
    .expect("json");
    assert_eq!(json[1]["id"], 2);
    assert_eq!(json[1]["model_version"], "2");
    let table = render(OutputFormat::Table, &schema, &[batch]);
    assert!(
        table.contains("| 2  | 2026-11-19 | 2             |"),
        "{table}"
    );
}

#[test]
fn an_empty_result_is_still_valid_json_and_keeps_its_header() {
    let schema = rows(&[]).schema();
    assert_eq!(render(OutputFormat::Json, &schema, &[]).trim(), "[]");
    assert_eq!(
        render(OutputFormat::Csv, &schema, &[]),
        "id,ds,model_version\n"
    );
    let table = render(OutputFormat::Table, &schema, &[]);
    assert!(table.contains("| id | ds | model_version |"), "{table}");
}

/// Predictions carry `top_k`, a list of structs: CSV gets it as JSON text in one cell, JSON
/// as a nested value, and nulls are written as such in every row.
#[test]
fn nested_values_and_nulls_are_kept_in_csv_and_json() {
    let label = Field::new("label", DataType::Utf8, false);
    let probability = Field::new("probability", DataType::Float64, false);
    let item = DataType::Struct(vec![label.clone(), probability.clone()].into());
    let mut top_k = ListBuilder::new(StructBuilder::from_fields(vec![label, probability], 2))
        .with_field(Arc::new(Field::new("item", item.clone(), true)));
    {
        let s = top_k.values();
        s.field_builder::<StringBuilder>(0)
            .expect("label")
            .append_value("late, \"very\"");
        s.field_builder::<Float64Builder>(1)
            .expect("p")
            .append_value(0.75);
        s.append(true);
    }
    top_k.append(true);
    top_k.append_null();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("note", DataType::Utf8, true),
        Field::new(
            "top_k",
            DataType::List(Arc::new(Field::new("item", item, true))),
            true,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec![None, Some("x")])),
            Arc::new(top_k.finish()),
        ],
    )
    .expect("batch");
    let csv = render(OutputFormat::Csv, &schema, std::slice::from_ref(&batch));
    assert_eq!(
        csv,
        "id,note,top_k\n1,,\"[{\"\"label\"\":\"\"late, \\\"\"very\\\"\"\"\",\"\"probability\"\":0.75}]\"\n2,x,\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&render(OutputFormat::Json, &schema, &[batch])).expect("json");
    assert_eq!(
        json,
        serde_json::json!([
            {"id": 1, "note": null, "top_k": [{"label": "late, \"very\"", "probability": 0.75}]},
            {"id": 2, "note": "x", "top_k": null},
        ])
    );
}
