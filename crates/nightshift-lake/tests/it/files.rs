use nightshift_lake::Error;
use nightshift_lake::arrow::array::{Array, StringArray};
use nightshift_lake::arrow::compute::cast;
use nightshift_lake::arrow::datatypes::DataType;
use nightshift_lake::files::read_data_file;

fn column(batches: &[nightshift_lake::arrow::array::RecordBatch], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let c = cast(
            b.column(b.schema().index_of(name).expect(name)),
            &DataType::Utf8,
        )
        .expect("cast");
        let c = c.as_any().downcast_ref::<StringArray>().expect("utf8");
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    out
}

#[tokio::test]
async fn tsv_with_quotes_and_numeric_labels_reads_as_text() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("train.tsv");
    std::fs::write(
        &path,
        "text\tlabel\n\"say \"\"hi\"\"\ttab\"\t7\nplain\t12\n",
    )
    .expect("write");
    let batches = read_data_file(&path).await.expect("read");
    assert_eq!(
        column(&batches, "text"),
        vec!["say \"hi\"\ttab".to_string(), "plain".into()]
    );
    assert_eq!(
        column(&batches, "label"),
        vec!["7".to_string(), "12".into()]
    );
    assert_eq!(
        batches[0]
            .schema()
            .field_with_name("label")
            .expect("label")
            .data_type(),
        &DataType::Utf8
    );
}

/// Support texts hold line breaks: quoted CSV and TSV values may span lines (as
/// `nightshift sql --csv` writes them).
#[tokio::test]
async fn quoted_values_may_span_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, sep) in [("a.csv", ","), ("a.tsv", "\t")] {
        let path = dir.path().join(name);
        // Enough rows (~600 KB) that a reader working in chunks meets a value split by one.
        let mut body = format!("text{sep}label\n");
        let mut texts = Vec::new();
        for i in 0..10_000 {
            let text = format!("Hi team {i}\nmy card, declined\r\nagain");
            body.push_str(&format!("\"{text}\"{sep}card\nplain {i}{sep}late\n"));
            texts.push(text);
            texts.push(format!("plain {i}"));
        }
        std::fs::write(&path, body).expect("write");
        let batches = read_data_file(&path).await.expect(name);
        assert_eq!(column(&batches, "text"), texts, "{name}");
        let labels = column(&batches, "label");
        assert_eq!(labels.len(), 20_000);
        assert_eq!(labels[..2], ["card".to_string(), "late".into()]);
    }
}

#[tokio::test]
async fn missing_and_unsupported_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let err = read_data_file(&dir.path().join("nope.csv"))
        .await
        .expect_err("missing");
    assert!(matches!(err, Error::Io { .. }), "{err}");
    let xls = dir.path().join("data.xlsx");
    std::fs::write(&xls, "x").expect("write");
    let err = read_data_file(&xls).await.expect_err("unsupported");
    assert!(err.hint().expect("hint").contains(".tsv"));
}

/// A bad record is reported at the line of the file it starts on, not at Arrow's record
/// count (which differs as soon as a quoted value spans lines), with a hint for the kind of
/// fault.
#[tokio::test]
async fn a_bad_record_is_reported_at_its_line_in_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut data = b"text,label\n".to_vec();
    for i in 0..5 {
        data.extend_from_slice(format!("\"two\nlines {i}\",a\n").as_bytes());
    }
    data.extend_from_slice(b"caf\xe9,b\nfine,a\n");
    let file = dir.path().join("latin1.csv");
    std::fs::write(&file, &data).expect("write");
    let err = read_data_file(&file).await.expect_err("not utf-8");
    assert!(
        matches!(err, Error::DataFile { line: 12, .. }),
        "line 12 holds the bad byte: {err}"
    );
    assert!(err.to_string().contains("record 7"), "{err}");
    assert!(err.hint().is_some_and(|h| h.contains("UTF-8")), "{err}");

    let file = dir.path().join("fields.tsv");
    std::fs::write(&file, "text\tlabel\n\"a\nb\"\tx\nok\ty\tz\nfine\ta\n").expect("write");
    let err = read_data_file(&file).await.expect_err("three fields");
    assert!(matches!(err, Error::DataFile { line: 4, .. }), "{err}");
    assert!(
        err.hint().is_some_and(|h| h.contains("as many fields")),
        "{err}"
    );
}

#[tokio::test]
async fn a_bad_json_line_is_reported_at_its_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("rows.jsonl");
    std::fs::write(
        &file,
        "{\"text\":\"a\",\"label\":\"x\"}\n\n{\"text\":\"b\",\"label\":\"y\"}\n{bad json\n",
    )
    .expect("write");
    let err = read_data_file(&file).await.expect_err("bad line");
    assert!(matches!(err, Error::DataFile { line: 4, .. }), "{err}");
    assert!(
        err.to_string().contains("not valid JSON at column 2"),
        "{err}"
    );
}

/// JSON lines: a byte-order mark is skipped (as in CSV); a field whose kind changes between
/// lines, or a text that is an object, is named at its line with a hint; so is a file that
/// is one JSON array.
#[tokio::test]
async fn json_lines_with_a_bom_read_and_kinds_that_change_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("bom.jsonl");
    std::fs::write(
        &file,
        "\u{feff}{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"y\"}\n",
    )
    .expect("write");
    let batches = read_data_file(&file).await.expect("a BOM is skipped");
    assert_eq!(column(&batches, "label"), ["x", "y"]);

    for (body, line, says) in [
        (
            "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":2}\n",
            2,
            "field `label` is a number here and text on line 1",
        ),
        (
            "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":{\"body\":\"b\"},\"label\":\"y\"}\n",
            2,
            "field `text` is an object here and text on line 1",
        ),
        (
            "[{\"text\":\"a\",\"label\":\"x\"}]\n",
            1,
            "expected a JSON object",
        ),
    ] {
        let file = dir.path().join("rows.jsonl");
        std::fs::write(&file, body).expect("write");
        let err = read_data_file(&file).await.expect_err(says);
        assert!(
            matches!(err, Error::DataFile { line: l, .. } if l == line),
            "{err}"
        );
        assert!(err.to_string().contains(says), "{err}");
        assert!(err.hint().is_some(), "{err}");
    }
}

#[tokio::test]
async fn a_header_naming_a_column_twice_is_said_so() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("dup.csv");
    std::fs::write(&file, "text,label,note,note\na,x,1,2\n").expect("write");
    let err = read_data_file(&file).await.expect_err("two `note`");
    assert!(matches!(err, Error::DataFile { line: 1, .. }), "{err}");
    assert!(err.to_string().contains("column `note` twice"), "{err}");
    assert!(err.hint().is_some(), "{err}");
}
