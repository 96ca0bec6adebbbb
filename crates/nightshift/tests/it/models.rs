use std::fmt::Write as _;

use crate::{init, nightshift, stderr, stdout};

/// A small labelled TSV: two categories, four subcategories, distinct vocabularies.
fn training_tsv(rows_per_label: usize) -> String {
    let labels = [
        (
            "payments",
            "double_charge",
            ["charged twice", "two charges", "billed double"],
        ),
        (
            "payments",
            "refund_request",
            ["want my money back", "refund please", "give me a refund"],
        ),
        (
            "account",
            "login_problem",
            ["cannot log in", "password rejected", "login fails"],
        ),
        (
            "account",
            "delete_account",
            ["delete my account", "close my profile", "remove my data"],
        ),
    ];
    let mut out = String::from("text\tlabel\tcategory\n");
    for i in 0..rows_per_label {
        for (category, label, phrases) in &labels {
            let phrase = phrases[i % phrases.len()];
            let _ = writeln!(out, "hello, {phrase} order {i}\t{label}\t{category}");
        }
    }
    out
}

#[test]
fn train_eval_predict_alias_and_history() {
    let (dir, p) = init();
    let data = dir.path().join("train.tsv");
    std::fs::write(&data, training_tsv(30)).expect("write");
    let d = data.to_str().expect("utf8");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "models",
            "train",
            "rc",
            "--data",
            d,
            "--text-column",
            "text",
            "--label-column",
            "label",
            "--parent-column",
            "category",
        ];
        args.extend_from_slice(extra);
        nightshift(&p, &args)
    };
    let out = train(&["--alias", "production"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "rc@1");
    let out = train(&[]);
    assert_eq!(stdout(&out).trim(), "rc@2");
    let weights =
        |v: u32| std::fs::read(p.join(format!("models/rc/{v}/weights.bin"))).expect("weights");
    assert!(
        weights(1) == weights(2),
        "the same file and seed train the same model"
    );

    let out = nightshift(
        &p,
        &[
            "--json",
            "models",
            "eval",
            "rc@production",
            "--data",
            d,
            "--text-column",
            "text",
            "--label-column",
            "label",
            "--parent-column",
            "category",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(report["version"], 1);
    assert_eq!(report["rows"], 120);
    assert!(
        report["accuracy"].as_f64().expect("accuracy") > 0.95,
        "{report}"
    );
    assert!(
        report["parent_accuracy"].as_f64().expect("parent") > 0.95,
        "{report}"
    );
    for key in ["macro_f1", "ece", "rows_per_second"] {
        assert!(report[key].is_number(), "{key} in {report}");
    }
    let eval = |file: &str, label: &str, parent: Option<&str>| {
        let mut args = vec![
            "--json",
            "models",
            "eval",
            "rc@production",
            "--data",
            file,
            "--text-column",
            "text",
            "--label-column",
            label,
        ];
        args.extend(parent.iter().flat_map(|p| ["--parent-column", p]));
        nightshift(&p, &args)
    };
    // Labels the model does not know are counted, not fatal...
    let mixed = dir.path().join("mixed.tsv");
    let mut text = training_tsv(2);
    text.push_str("hello, something else\tlost_item\tsafety\n");
    std::fs::write(&mixed, text).expect("write");
    let out = eval(mixed.to_str().expect("utf8"), "label", None);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(
        (report["rows"].as_u64(), report["unknown_labels"].as_u64()),
        (Some(8), Some(1))
    );
    // So are parents it does not know (a category renamed since training), left out of
    // parent_accuracy and said...
    let renamed = dir.path().join("renamed.tsv");
    std::fs::write(&renamed, training_tsv(2).replace("payments", "billing")).expect("write");
    let out = eval(renamed.to_str().expect("utf8"), "label", Some("category"));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(
        (
            report["rows"].as_u64(),
            report["unknown_parent_labels"].as_u64()
        ),
        (Some(8), Some(4)),
        "{report}"
    );
    assert_eq!(report["parent_accuracy"], 1.0, "{report}");
    assert!(
        stderr(&out).contains("4 of the 8 scored rows have a parent label"),
        "{}",
        stderr(&out)
    );
    // ...and none known is an error of the input, as for labels.
    let shouting = dir.path().join("shouting.tsv");
    std::fs::write(
        &shouting,
        training_tsv(2)
            .replace("\tpayments", "\tPAYMENTS")
            .replace("\taccount", "\tACCOUNT"),
    )
    .expect("write");
    let out = eval(shouting.to_str().expect("utf8"), "label", Some("category"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("none of the 8 scored rows") && stderr(&out).contains("hint:"),
        "{}",
        stderr(&out)
    );
    // ...but when no row has a known label (here: the parent column named as the label), the
    // scores would be meaningless zeros: an error of the input saying so.
    let out = eval(d, "category", None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("none of the 120 labelled rows"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));

    let out = nightshift(
        &p,
        &[
            "--json",
            "models",
            "predict",
            "rc@2",
            "--text",
            "I was charged twice",
        ],
    );
    let prediction: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(prediction["label"], "double_charge");
    assert_eq!(prediction["parent"], "payments");
    // Inputs it cannot use are usage errors, not silently ignored.
    for (args, says) in [
        (
            &["--text", "charged twice", "--extra", "city=Lima"][..],
            "no structured input `city`",
        ),
        (&["--text", "  "][..], "--text is empty"),
        (&["--text", "charged twice", "--top-k", "0"][..], "--top-k"),
        (
            &[
                "--text",
                "x",
                "--extra",
                "city=Lima",
                "--extra",
                "city=Quito",
            ][..],
            "--extra city is given twice",
        ),
    ] {
        let mut all = vec!["models", "predict", "rc@2"];
        all.extend_from_slice(args);
        let out = nightshift(&p, &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }

    // Moved from a cron job or a container, whose environment names no user: the history
    // still says which account did it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("--project")
        .arg(&p)
        .args([
            "models",
            "alias",
            "rc",
            "production",
            "2",
            "--reason",
            "newer",
        ])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("USERNAME")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nightshift(&p, &["--json", "models", "history", "rc"]);
    let moves: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(moves.as_array().expect("array").len(), 2);
    let actor = moves[1]["actor"].as_str().expect("actor");
    assert!(!actor.is_empty() && actor != "unknown", "{actor}");
    assert_eq!(moves[1]["from_version"], 1);
    assert_eq!(moves[1]["to_version"], 2);
    assert_eq!(moves[1]["reason"], "newer");

    // The default has a hidden layer of 96 units with 4 labels (128 with more than 32);
    // `--hidden 0` trains the linear model alone: its own weights, recorded in the
    // manifest, as accurate.
    let manifest = |v: u32| -> serde_json::Value {
        let path = p.join(format!("models/rc/{v}/manifest.json"));
        serde_json::from_slice(&std::fs::read(path).expect("manifest")).expect("json")
    };
    assert_eq!(manifest(1)["hyperparameters"]["hidden"], 96);
    let out = train(&["--hidden", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "rc@3");
    assert!(weights(3) != weights(2));
    assert_eq!(manifest(3)["hyperparameters"]["hidden"], 0);
    // `models show` says which versions have a hidden layer.
    let out = nightshift(&p, &["models", "show", "rc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.matches("linear + hidden layer of 96 units").count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches(", linear; trained on").count(), 1, "{text}");
    let out = nightshift(&p, &["--json", "models", "show", "rc"]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let hidden: Vec<u64> = shown["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["hidden"].as_u64().expect("hidden"))
        .collect();
    assert_eq!(hidden, [96, 96, 0], "{shown}");
    // One version: by number, by alias (production -> 2 above), or the latest.
    let shown_versions = |reference: &str| -> Vec<u64> {
        let out = nightshift(&p, &["--json", "models", "show", reference]);
        assert!(out.status.success(), "{reference}: {}", stderr(&out));
        let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        assert_eq!(shown["name"], "rc", "{shown}");
        shown["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .map(|v| v["version"].as_u64().expect("version"))
            .collect()
    };
    assert_eq!(shown_versions("rc@1"), [1]);
    assert_eq!(shown_versions("rc@production"), [2]);
    assert_eq!(shown_versions("rc@latest"), [3]);
    let out = nightshift(&p, &["models", "show", "rc@3"]);
    let text = stdout(&out);
    assert!(text.contains("version 3"), "{text}");
    assert_eq!(text.matches(", linear; trained on").count(), 1, "{text}");
    assert!(!text.contains("hidden layer of 96 units"), "{text}");
    for missing in ["rc@9", "rc@staging"] {
        let out = nightshift(&p, &["models", "show", missing]);
        assert!(!out.status.success(), "{missing}");
        assert!(
            stderr(&out).contains("hint:"),
            "{missing}: {}",
            stderr(&out)
        );
    }
    let out = nightshift(
        &p,
        &[
            "--json",
            "models",
            "eval",
            "rc@3",
            "--data",
            d,
            "--text-column",
            "text",
            "--label-column",
            "label",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(
        report["accuracy"].as_f64().expect("accuracy") > 0.95,
        "{report}"
    );
    let out = train(&["--hidden", "5000"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--hidden"), "{}", stderr(&out));
}

#[test]
fn training_warns_about_few_examples_and_a_label_under_two_parents() {
    let (dir, p) = init();
    let data = dir.path().join("train.tsv");
    let mut tsv = training_tsv(2);
    tsv.push_str("hello, charged twice again\tdouble_charge\taccount\n");
    std::fs::write(&data, tsv).expect("write");
    let out = nightshift(
        &p,
        &[
            "models",
            "train",
            "rc",
            "--data",
            data.to_str().expect("utf8"),
            "--text-column",
            "text",
            "--label-column",
            "label",
            "--parent-column",
            "category",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("9 rows for 4 labels, fewer than 5 examples per label"),
        "{err}"
    );
    assert!(
        err.contains(
            "1 label(s) appear under more than one parent: `double_charge` (account 1, payments 2)"
        ),
        "{err}"
    );
}

#[test]
fn a_training_query_is_planned_as_given() {
    // It used to be wrapped in `SELECT * FROM (...) ORDER BY ...`: a trailing comment
    // swallowed the wrapper, errors pointed at shifted columns and were exit 1, not 2.
    let (_dir, p) = init();
    let out = nightshift(&p, &["generate", "--days", "2", "--rows-per-day", "300"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let train = |sql: &str| {
        nightshift(
            &p,
            &[
                "models",
                "train",
                "m",
                "--sql",
                sql,
                "--text-column",
                "text",
                "--label-column",
                "subcategory",
                "--hidden",
                "0",
            ],
        )
    };
    let out = train(
        "SELECT c.text, l.subcategory FROM raw.agent_labels l \
         JOIN raw.support_contacts c ON c.contact_id = l.contact_id -- every label",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = train("SELECT text label FROM FROM raw.support_contacts");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Line: 1, Column: 32"),
        "{}",
        stderr(&out)
    );
    let out = train("SELECT text, nope AS subcategory FROM raw.support_contacts");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn unknown_alias_corrupt_bundle_and_empty_training_file_are_clear_errors() {
    let (dir, p) = init();
    let data = dir.path().join("train.tsv");
    std::fs::write(&data, training_tsv(10)).expect("write");
    let d = data.to_str().expect("utf8");
    let train = |name: &str, file: &str| {
        nightshift(
            &p,
            &[
                "models",
                "train",
                name,
                "--data",
                file,
                "--text-column",
                "text",
                "--label-column",
                "label",
            ],
        )
    };
    let out = train("rc", d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("look like whole rows"),
        "{}",
        stderr(&out)
    );

    // A text that starts with a quote it never closes swallows the lines after it: trained,
    // but with a warning that says so.
    let merged = dir.path().join("merged.tsv");
    let mut text = training_tsv(10);
    text.push_str("\"quoted start, never closed\tlogin_problem\taccount\n");
    text.push_str("hello, charged twice on my 6\" phone\tdouble_charge\tpayments\n");
    std::fs::write(&merged, text).expect("write");
    let out = train("merged", merged.to_str().expect("utf8"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 text(s) of") && stderr(&out).contains("look like whole rows"),
        "{}",
        stderr(&out)
    );

    let out = nightshift(&p, &["models", "predict", "rc@production", "--text", "hi"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("production"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));

    // Damage the weights: loading refuses with the file's name.
    let weights = p.join("models/rc/1/weights.bin");
    let mut bytes = std::fs::read(&weights).expect("weights");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&weights, &bytes).expect("write");
    let out = nightshift(&p, &["models", "predict", "rc@1", "--text", "hi"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("weights.bin"), "{}", stderr(&out));

    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "text,label\n").expect("write");
    let out = train("rc", empty.to_str().expect("utf8"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no training rows"),
        "{}",
        stderr(&out)
    );
    let out = nightshift(
        &p,
        &[
            "models",
            "train",
            "rc",
            "--data",
            d,
            "--text-column",
            "body",
            "--label-column",
            "label",
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("no column `body`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn demo_predicts_every_day_with_its_model_version_and_reruns_are_idempotent() {
    let dir = tempfile::tempdir().expect("tmp");
    let demo = dir.path().join("demo");
    let out = nightshift(
        dir.path(),
        &[
            "--json",
            "demo",
            "--dir",
            demo.to_str().expect("utf8"),
            "--days",
            "5",
            "--rows-per-day",
            "400",
            "--no-serve",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let predicted = summary["predicted_rows"].as_i64().expect("predicted");
    assert!(predicted > 0, "{summary}");
    // 5 days ending yesterday: with the 2-day SLA, the runs of the last two days are not due
    // yet (a logical date after now, as `run` refuses it).
    assert_eq!(summary["runs"], 3);

    let count = |q: &str| crate::count(&demo, q);
    assert_eq!(
        count("SELECT count(*) FROM output.root_cause_predictions"),
        predicted
    );
    assert_eq!(
        count("SELECT count(*) FROM output.root_cause_predictions WHERE model_version = 1"),
        predicted
    );
    assert_eq!(
        count("SELECT count(DISTINCT ds) FROM output.root_cause_predictions"),
        3
    );
    let out = nightshift(&demo, &["--json", "runs", "list"]);
    let runs: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let now = chrono::Utc::now().to_rfc3339();
    assert!(
        runs.as_array()
            .expect("runs")
            .iter()
            .all(|r| r["logical_date"]
                .as_str()
                .is_some_and(|d| d <= now.as_str())),
        "no run of a logical date after now: {runs}"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM output.root_cause_predictions p LEFT JOIN intermediate.root_cause_features f ON f.contact_id = p.id AND f.ds = p.ds WHERE f.contact_id IS NULL"
        ),
        0,
        "every prediction belongs to a features row"
    );
    assert_eq!(
        count("SELECT sum(contacts) FROM output.root_cause_rollups"),
        predicted
    );

    // Re-run one date, the demo's last day (from its summary, not the clock, which may
    // have passed midnight since): the same rows, no duplicates.
    let date = summary["days"]["to"].as_str().expect("last day");
    let out = nightshift(&demo, &["run", "root_cause", "--date", date]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        count("SELECT count(*) FROM output.root_cause_predictions"),
        predicted
    );
    assert_eq!(
        count("SELECT count(DISTINCT id) FROM output.root_cause_predictions"),
        predicted
    );

    // A second demo in the same directory replaces the first; given as a relative path, as
    // the README's `cargo run --release -- demo` does (its default is `./nightshift-demo`).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .current_dir(dir.path())
        .args(["-q", "demo", "--dir", "demo", "--days", "4"])
        .args(["--rows-per-day", "200", "--no-serve"])
        .env_remove("NIGHTSHIFT_PROJECT")
        .env_remove("RUST_LOG")
        .output()
        .expect("run nightshift");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        count("SELECT count(DISTINCT ds) FROM output.root_cause_predictions"),
        2
    );
}

/// Bad `--data` for training and evaluation is bad input (exit 2) with a hint: the label as an
/// input, a single label, labels of which the model knows none. Whole numbers stored as floats
/// (JSON `1.0`, a pandas integer column with a gap) are the labels `1`, `2`.
#[test]
fn training_inputs_that_cannot_work_are_refused_and_float_labels_are_whole() {
    let (dir, p) = init();
    let data = dir.path().join("train.tsv");
    std::fs::write(&data, training_tsv(6)).expect("write");
    let train = |args: &[&str]| {
        let mut all = vec!["models", "train", "rc", "--text-column", "text"];
        all.extend_from_slice(args);
        nightshift(&p, &all)
    };
    let path = data.to_str().expect("utf8");
    let out = train(&[
        "--data",
        path,
        "--label-column",
        "label",
        "--extra-columns",
        "label",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("both a label column and an --extra-columns input"));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    // An input named twice would be stored and read twice.
    let out = train(&[
        "--data",
        path,
        "--label-column",
        "label",
        "--extra-columns",
        "category,category",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`category` is given twice in --extra-columns"),
        "{}",
        stderr(&out)
    );

    let single = dir.path().join("single.csv");
    std::fs::write(&single, "text,label\nrefund please,a\ncharged twice,a\n").expect("write");
    let out = train(&[
        "--data",
        single.to_str().expect("utf8"),
        "--label-column",
        "label",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has the label `a`"),
        "{}",
        stderr(&out)
    );

    let floats = dir.path().join("floats.jsonl");
    let mut lines = String::new();
    for i in 0..12 {
        let _ = writeln!(lines, "{{\"text\":\"refund please {i}\",\"label\":1.0}}");
        let _ = writeln!(lines, "{{\"text\":\"cannot log in {i}\",\"label\":2.0}}");
    }
    std::fs::write(&floats, lines).expect("write");
    let out = train(&[
        "--data",
        floats.to_str().expect("utf8"),
        "--label-column",
        "label",
        "--hidden",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nightshift(
        &p,
        &[
            "--json",
            "models",
            "predict",
            "rc",
            "--text",
            "refund please",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(doc["label"], "1", "{doc}");

    let unknown = dir.path().join("unknown.csv");
    std::fs::write(&unknown, "text,label\nrefund please,x\n").expect("write");
    let out = nightshift(
        &p,
        &[
            "models",
            "eval",
            "rc",
            "--data",
            unknown.to_str().expect("utf8"),
            "--text-column",
            "text",
            "--label-column",
            "label",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));

    // Long documents (over 150 words on average) train the linear model alone unless
    // --hidden says otherwise, which is warned about.
    let long = dir.path().join("long.csv");
    let mut rows = String::from("text,label\n");
    for i in 0..12 {
        let filler = "lorem ipsum dolor sit amet ".repeat(32);
        let _ = writeln!(rows, "refund please {i} {filler},refund");
        let _ = writeln!(rows, "cannot log in {i} {filler},login");
    }
    std::fs::write(&long, rows).expect("write");
    let long = long.to_str().expect("utf8");
    let out = train(&["--data", long, "--label-column", "label", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("training the linear model alone"),
        "{}",
        stderr(&out)
    );
    let out = train(&["--data", long, "--label-column", "label", "--hidden", "8"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("about 20x slower"),
        "{}",
        stderr(&out)
    );
    let out = nightshift(&p, &["--json", "models", "show", "rc"]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let hidden: Vec<u64> = shown["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["hidden"].as_u64().expect("hidden"))
        .collect();
    assert_eq!(hidden[hidden.len() - 2..], [0, 8], "{shown}");

    // A model's structured inputs are named by `models show` (predict needs them).
    let out = train(&[
        "--data",
        path,
        "--label-column",
        "label",
        "--extra-columns",
        "category",
        "--hidden",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nightshift(&p, &["models", "show", "rc"]);
    assert!(
        stdout(&out).contains("structured inputs category"),
        "{}",
        stdout(&out)
    );
    let out = nightshift(&p, &["--json", "models", "show", "rc"]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(
        shown["versions"][3]["extra_columns"],
        serde_json::json!(["category"]),
        "{shown}"
    );
}

#[test]
fn an_alias_moves_only_to_a_version_a_run_can_load_and_says_what_the_move_changes() {
    let (dir, p) = init();
    let data = dir.path().join("train.tsv");
    std::fs::write(&data, training_tsv(10)).expect("write");
    let d = data.to_str().expect("utf8");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "models",
            "train",
            "root_cause",
            "--data",
            d,
            "--text-column",
            "text",
            "--label-column",
            "label",
            "--hidden",
            "0",
        ];
        args.extend_from_slice(extra);
        nightshift(&p, &args)
    };
    let alias = |version: &str, reason: &str| {
        nightshift(
            &p,
            &[
                "models",
                "alias",
                "root_cause",
                "production",
                version,
                "--reason",
                reason,
            ],
        )
    };
    let out = train(&["--parent-column", "category", "--alias", "production"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Version 2 predicts no category and reads a column the features query does not return:
    // the move is made, with a warning naming the pipeline that runs root_cause@production.
    let out = train(&["--extra-columns", "category"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = alias("2", "flat");
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("root_cause@2 predicts no parent label")
            && err.contains("the `category` of pipeline root_cause's predictions"),
        "{err}"
    );
    assert!(
        err.contains("root_cause@2 reads the column(s) category that root_cause@1 did not"),
        "{err}"
    );
    // A damaged bundle is refused before the alias moves.
    let out = train(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let weights = p.join("models/root_cause/3/weights.bin");
    let mut bytes = std::fs::read(&weights).expect("weights");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&weights, &bytes).expect("write");
    let out = alias("3", "broken");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("weights.bin") && stderr(&out).contains("the alias was not moved"),
        "{}",
        stderr(&out)
    );
    // A reason on two lines could forge a line of the history: refused.
    let out = alias(
        "1",
        "back\n2026-01-01 00:00:00  production   9 -> 9  by mallory",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("one line"), "{}", stderr(&out));
    let out = nightshift(&p, &["--json", "models", "history", "root_cause"]);
    let moves: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let to: Vec<u64> = moves
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["to_version"].as_u64().expect("to"))
        .collect();
    assert_eq!(to, [1, 2], "neither refused move was recorded");

    // An alias is removed with --remove (a version or --remove is required), recorded in
    // the history, and the pipeline that runs it is warned.
    let out = nightshift(&p, &["models", "alias", "root_cause", "production"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = nightshift(
        &p,
        &[
            "models",
            "alias",
            "root_cause",
            "production",
            "--remove",
            "--reason",
            "retired",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "root_cause production: 2 -> (removed)");
    assert!(
        stderr(&out).contains(
            "pipeline root_cause runs root_cause@production, which now resolves to nothing"
        ),
        "{}",
        stderr(&out)
    );
    let out = nightshift(
        &p,
        &["models", "predict", "root_cause@production", "--text", "hi"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = nightshift(&p, &["--json", "models", "history", "root_cause"]);
    let moves: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(moves[2]["from_version"], 2, "{moves}");
    assert!(moves[2]["to_version"].is_null(), "{moves}");
    let out = nightshift(&p, &["models", "history", "root_cause"]);
    assert!(
        stdout(&out).contains("production   2 -> (removed)  by"),
        "{}",
        stdout(&out)
    );
}
