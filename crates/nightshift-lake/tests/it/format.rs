use nightshift_lake::format::{OutputFormat, write_batches};

use crate::rows;

fn render(format: OutputFormat, batches: &[nightshift_lake::arrow::array::RecordBatch]) -> String {
    let mut out = Vec::new();
    write_batches(&mut out, batches, format).expect("format");
    String::from_utf8(out).expect("utf8")
}

#[test]
fn csv_json_and_table_render_the_same_rows() {
    let batch = rows(&[(1, "2026-11-19", "1"), (2, "2026-11-19", "2")]);
    let csv = render(OutputFormat::Csv, std::slice::from_ref(&batch));
    assert_eq!(csv, "id,ds,model_version\n1,2026-11-19,1\n2,2026-11-19,2\n");
    let json: serde_json::Value =
        serde_json::from_str(&render(OutputFormat::Json, std::slice::from_ref(&batch)))
            .expect("json");
    assert_eq!(json[1]["id"], 2);
    assert_eq!(json[1]["model_version"], "2");
    let table = render(OutputFormat::Table, &[batch]);
    assert!(
        table.contains("| 2  | 2026-11-19 | 2             |"),
        "{table}"
    );
}

#[test]
fn an_empty_result_is_still_valid_json() {
    let json = render(OutputFormat::Json, &[]);
    assert_eq!(json.trim(), "[]");
}
