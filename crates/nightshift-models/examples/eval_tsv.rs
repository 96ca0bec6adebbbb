//! Train on TSV files (`text<TAB>label`, header row, double-quote quoting) and evaluate.
//!
//! ```text
//! cargo run --release -p nightshift-models --example eval_tsv -- TRAIN.tsv [DEV.tsv] TEST.tsv \
//!     [--parent-prefix _] [--config '{"l2": 1e-6}'] [--threads N] [--no-speed]
//! ```
//!
//! DEV rows (if given) are added to the training data. Prints one JSON line.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use nightshift_models::metrics::{ECE_BINS, expected_calibration_error};
use nightshift_models::{Example, Input, TrainConfig, accuracy, macro_f1, train};

fn read_tsv(path: &str) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .has_headers(true)
        .from_path(path)?;
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        let text = rec.get(0).unwrap_or("").to_owned();
        let label = rec.get(1).unwrap_or("").to_owned();
        rows.push((text, label));
    }
    Ok(rows)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    let mut prefix: Option<String> = None;
    let mut config = TrainConfig::default();
    let mut speed = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--parent-prefix" => prefix = args.next(),
            "--config" => {
                let overrides: serde_json::Value =
                    serde_json::from_str(&args.next().unwrap_or_default())?;
                let mut base = serde_json::to_value(&config)?;
                merge(&mut base, overrides);
                config = serde_json::from_value(base)?;
            }
            "--threads" => config.threads = args.next().and_then(|t| t.parse().ok()),
            "--no-speed" => speed = false,
            _ => files.push(a),
        }
    }
    if files.len() < 2 {
        eprintln!(
            "usage: eval_tsv TRAIN.tsv [DEV.tsv] TEST.tsv [--parent-prefix _] [--config JSON]"
        );
        std::process::exit(2);
    }
    let test = read_tsv(&files[files.len() - 1])?;
    let mut train_rows = Vec::new();
    for f in &files[..files.len() - 1] {
        train_rows.extend(read_tsv(f)?);
    }
    let parent = |label: &str| -> Option<String> {
        prefix
            .as_deref()
            .and_then(|p| label.split_once(p).map(|(a, _)| a.to_owned()))
    };
    let parents: Vec<Option<String>> = train_rows.iter().map(|r| parent(&r.1)).collect();
    let examples: Vec<Example<'_>> = train_rows
        .iter()
        .zip(&parents)
        .map(|((t, l), p)| Example {
            text: t,
            label: l,
            parent: p.as_deref(),
            extras: &[],
        })
        .collect();
    let (model, report) = train(&config, &examples)?;

    let inputs: Vec<Input<'_>> = test.iter().map(|(t, _)| Input::text(t)).collect();
    let preds = model.predict_batch(&inputs, 3);
    let label_index = |l: &str| {
        model
            .labels()
            .iter()
            .position(|x| x == l)
            .map_or(u32::MAX, |i| i as u32)
    };
    let truth: Vec<u32> = test.iter().map(|(_, l)| label_index(l)).collect();
    let pred: Vec<u32> = preds.iter().map(|p| p.label).collect();
    let acc = accuracy(&truth, &pred);
    let f1 = macro_f1(&truth, &pred);
    let conf: Vec<f32> = preds.iter().map(|p| p.confidence).collect();
    let ok: Vec<bool> = truth.iter().zip(&pred).map(|(t, p)| t == p).collect();
    let ece = expected_calibration_error(&conf, &ok, ECE_BINS);
    let parent_accuracy = model.parents().map(|names| {
        let hits = test
            .iter()
            .zip(&preds)
            .filter(|((_, l), p)| {
                parent(l).as_deref() == p.parent.map(|i| names[i as usize].as_str())
            })
            .count();
        hits as f64 / test.len() as f64
    });

    // Throughput: predict the test texts repeated to >= 200k rows, best of 3.
    let reps = if speed {
        200_000usize.div_ceil(inputs.len().max(1))
    } else {
        0
    };
    let big: Vec<Input<'_>> = (0..reps).flat_map(|_| inputs.iter().copied()).collect();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let out = model.predict_batch(&big, 1);
        std::hint::black_box(&out);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let bytes = model.to_bytes();
    let line = serde_json::json!({
        "train_rows": examples.len(),
        "test_rows": test.len(),
        "accuracy": acc,
        "macro_f1": f1,
        "parent_accuracy": parent_accuracy,
        "ece": ece,
        "train_seconds": report.seconds,
        "predict_rows_per_second": big.len() as f64 / best,
        "threads": rayon::current_num_threads(),
        "model_bytes": bytes.len(),
        "report": report,
    });
    println!("{line}");
    Ok(())
}

fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}
