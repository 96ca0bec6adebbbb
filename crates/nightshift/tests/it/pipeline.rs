use crate::{count, init, nightshift, stderr, stdout};

const WINDOW_COUNT: &str = "SELECT count(*) FROM raw.support_contacts \
     WHERE created_at >= TIMESTAMP '2026-11-19 00:00:00' AND created_at < TIMESTAMP '2026-11-20 00:00:00'";

#[test]
fn init_generate_run_writes_exactly_the_window_and_reruns_are_idempotent() {
    let (_dir, p) = init();
    let out = nightshift(
        &p,
        &[
            "generate",
            "--days",
            "4",
            "--rows-per-day",
            "3000",
            "--end-date",
            "2026-11-20",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("raw.support_contacts"));

    let out = nightshift(
        &p,
        &[
            "--json",
            "run",
            "root_cause",
            "--date",
            "2026-11-22",
            "--only",
            "check,features",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(doc["ds"], "2026-11-19");
    assert_eq!(doc["tasks"][0]["task"], "check");
    let features = &doc["tasks"][1];
    let rows_in = features["rows_in"].as_i64().expect("rows_in");
    let written = features["rows_written"].as_i64().expect("written");
    let rejected: i64 = features["rejected"]
        .as_object()
        .expect("map")
        .values()
        .filter_map(|v| v.as_i64())
        .sum();

    let in_window = count(&p, WINDOW_COUNT);
    assert_eq!(rows_in, in_window, "features reads exactly the window");
    assert_eq!(
        written + rejected,
        in_window,
        "every row is written or rejected"
    );
    assert!(rejected > 0, "the generator makes some bad rows");

    // Twice more: same rows, no duplicates.
    for _ in 0..2 {
        let out = nightshift(
            &p,
            &[
                "run",
                "root_cause",
                "--date",
                "2026-11-22",
                "--only",
                "features",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(
        count(&p, "SELECT count(*) FROM intermediate.root_cause_features"),
        written
    );
    assert_eq!(
        count(
            &p,
            "SELECT count(DISTINCT contact_id) FROM intermediate.root_cause_features"
        ),
        written
    );
    assert_eq!(
        count(&p, "SELECT count(*) FROM output.root_cause_rejects"),
        rejected
    );

    // A table another job writes, not declared in [tables]: not Nightshift's to vacuum.
    copy_dir(
        &p.join("warehouse/raw/orders"),
        &p.join("warehouse/raw/events"),
    );
    // The slices the re-runs replaced are still on disk until a vacuum past their retention.
    let out = nightshift(&p, &["--json", "vacuum", "--retain", "1s", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = nightshift(&p, &["vacuum", "--retain", "1s"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a retention under 1h needs --force"
    );
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    let out = nightshift(&p, &["--json", "vacuum", "--retain", "1s", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reports: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let deleted = |table: &str| {
        reports
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["table"] == table)
            .and_then(|r| r["files"].as_i64())
            .expect("table reported")
    };
    assert!(
        deleted("intermediate.root_cause_features") >= 2,
        "the two replaced slices: {reports}"
    );
    for upstream in ["raw.support_contacts", "raw.events"] {
        assert!(
            !stdout(&out).contains(upstream),
            "upstream tables, declared or not, are left to their owners: {reports}"
        );
    }
    let out = nightshift(
        &p,
        &[
            "--json",
            "vacuum",
            "--retain",
            "1s",
            "--force",
            "--include-upstream",
        ],
    );
    let all: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(
        all.as_array()
            .expect("array")
            .iter()
            .any(|r| r["table"] == "raw.support_contacts" && r["files"] == 0),
        "with --include-upstream, raw tables too (never replaced: nothing to delete): {all}"
    );
    assert!(
        all.as_array()
            .expect("array")
            .iter()
            .any(|r| r["table"] == "raw.events"),
        "and the undeclared ones: {all}"
    );
    assert_eq!(
        count(
            &p,
            "SELECT count(DISTINCT contact_id) FROM intermediate.root_cause_features"
        ),
        written
    );
    let out = nightshift(&p, &["vacuum", "--retain", "1s", "--force"]);
    assert!(
        stdout(&out).contains("tables: deleted 0 files"),
        "{}",
        stdout(&out)
    );

    // A features query that lost the window's end reads the later days too: said so.
    let sql_path = p.join("sql/root_cause_features.sql");
    let sql = std::fs::read_to_string(&sql_path).expect("sql");
    let unbounded = sql.replace("AND created_at <  TIMESTAMP '{{ window_end }}'", "");
    assert_ne!(sql, unbounded, "the template's window filter");
    std::fs::write(&sql_path, unbounded).expect("sql");
    let out = nightshift(
        &p,
        &[
            "run",
            "root_cause",
            "--date",
            "2026-11-21",
            "--only",
            "check,features",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rows of `support_contacts` in the window"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_window_whose_data_is_not_complete_fails_the_check_with_exit_1() {
    let (_dir, p) = init();
    let out = nightshift(
        &p,
        &[
            "generate",
            "--days",
            "2",
            "--rows-per-day",
            "500",
            "--end-date",
            "2026-11-20",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // D = 2026-11-23 reads ds 2026-11-20, which needs contacts up to 11-21: not there yet.
    let out = nightshift(
        &p,
        &[
            "run",
            "root_cause",
            "--date",
            "2026-11-23",
            "--only",
            "check",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("check failed"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(
        !p.join("warehouse/intermediate/root_cause_features")
            .exists(),
        "a failed check writes nothing"
    );
}

#[test]
fn a_pipeline_whose_model_is_not_trained_fails_before_running_anything() {
    let (_dir, p) = init();
    let out = nightshift(
        &p,
        &[
            "generate",
            "--days",
            "4",
            "--rows-per-day",
            "200",
            "--end-date",
            "2026-11-20",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nightshift(&p, &["run", "root_cause", "--date", "2026-11-22"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--only check,features"),
        "{}",
        stderr(&out)
    );
    assert!(!p.join("warehouse/intermediate").exists(), "nothing ran");

    // A damaged bundle (read while the warehouse opens) stops the run before any task too.
    let labels = "SELECT c.text, l.category, l.subcategory FROM raw.agent_labels l \
                  JOIN raw.support_contacts c ON c.contact_id = l.contact_id";
    let out = nightshift(
        &p,
        &[
            "models",
            "train",
            "root_cause",
            "--alias",
            "production",
            "--hidden",
            "0",
            "--sql",
            labels,
            "--text-column",
            "text",
            "--label-column",
            "subcategory",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let weights = p.join("models/root_cause/1/weights.bin");
    let mut bytes = std::fs::read(&weights).expect("weights");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&weights, &bytes).expect("write");
    let out = nightshift(&p, &["run", "root_cause", "--date", "2026-11-22"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("weights.bin"), "{}", stderr(&out));
    assert!(!p.join("warehouse/intermediate").exists(), "nothing ran");
}

#[test]
fn runs_are_recorded_and_retry_reruns_only_the_failed_task() {
    let (_dir, p) = init();
    crate::generate_and_train(&p, 4, "2026-11-20");

    // Break publish: a label gate no slice can pass (a permanent error, found after infer).
    let file = p.join("nightshift.toml");
    let good = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        good.replace("min_rows = 1", "min_rows = 1\nmin_distinct_labels = 1000"),
    )
    .expect("write");
    let out = nightshift(&p, &["--json", "run", "root_cause", "--date", "2026-11-22"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("min_distinct_labels = 1000 in [pipelines.root_cause] is more than the"),
        "said before the run: {}",
        stderr(&out)
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let run_id = doc["run_id"].as_str().expect("run id").to_string();
    assert_eq!(doc["status"], "failed");
    assert_eq!(doc["exit_code"], 1, "{doc}");
    assert!(doc["hint"].is_string(), "{doc}");
    assert_eq!(
        doc["tasks"].as_array().expect("tasks").len(),
        3,
        "check, features, infer succeeded"
    );
    let predictions = crate::count(&p, "SELECT count(*) FROM output.root_cause_predictions");

    let out = nightshift(&p, &["--json", "runs", "show", &run_id]);
    let detail: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let states: Vec<&str> = detail["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["succeeded", "succeeded", "succeeded", "failed"]);
    // The model reference is `model` (`name@N`), as the run's; `model_version` is a number
    // wherever it appears (the task's detail, the tables).
    assert_eq!(detail["tasks"][2]["model"], "root_cause@1", "{detail}");
    assert_eq!(detail["tasks"][2]["detail"]["model_version"], 1, "{detail}");
    assert!(
        detail["tasks"][2].get("model_version").is_none(),
        "{detail}"
    );
    assert_eq!(
        detail["tasks"][3]["attempts"], 1,
        "a permanent error is not retried"
    );

    // An edit that moves the date's window to another slice: the retry would finish a slice
    // whose earlier tasks never ran, so it is refused.
    std::fs::write(
        &file,
        good.replace("freshness_sla = \"2d\"", "freshness_sla = \"1d\""),
    )
    .expect("write");
    let out = nightshift(&p, &["runs", "retry", &run_id]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wrote ds 2026-11-19, but with"),
        "{}",
        stderr(&out)
    );

    // Fix the file and retry: only publish runs again. With the run's model version gone,
    // the hint says what a retry can use (not a new version, not fewer tasks), with the
    // `--project` this command was given, so that it can be pasted.
    std::fs::write(&file, good).expect("write");
    let bundle = p.join("models/root_cause/1");
    let away = p.join("v1-away");
    std::fs::rename(&bundle, &away).expect("move the bundle away");
    let out = nightshift(&p, &["runs", "retry", &run_id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "hint: a retry uses the model version its run resolved, root_cause@1: restore"
        ) && stderr(&out).contains(&format!(
            "`nightshift --project {} run root_cause --date 2026-11-22`",
            p.display()
        )),
        "{}",
        stderr(&out)
    );
    std::fs::rename(&away, &bundle).expect("restore the bundle");
    let out = nightshift(&p, &["--json", "runs", "retry", &run_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let tasks: Vec<&str> = doc["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["task"].as_str().expect("task"))
        .collect();
    assert_eq!(tasks, ["publish"]);
    let retry_id = doc["run_id"].as_str().expect("run id").to_string();
    assert_eq!(
        crate::count(&p, "SELECT count(*) FROM output.root_cause_predictions"),
        predictions
    );
    assert_eq!(
        crate::count(&p, "SELECT sum(contacts) FROM output.root_cause_rollups"),
        predictions
    );

    let out = nightshift(&p, &["--json", "runs", "list", "--pipeline", "root_cause"]);
    let runs: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let statuses: Vec<&str> = runs
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["succeeded", "failed"], "newest first");
    let out = nightshift(&p, &["runs", "retry", &retry_id]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a succeeded run has nothing to retry: {}",
        stderr(&out)
    );
    for command in ["retry", "show"] {
        let out = nightshift(&p, &["runs", command, "root_cause-2026-11-19-99"]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        assert!(stderr(&out).contains("no run with id"), "{}", stderr(&out));
    }

    // A later task alone on a date whose earlier task never ran has nothing to read: refused
    // (exit 2, nothing recorded) instead of "succeeding" with 0 rows; once its input is
    // there, it runs.
    // The hint's command runs as pasted: every missing input up the chain, in order.
    for (only, hinted) in [
        ("infer", "features,infer"),
        ("publish", "features,infer,publish"),
        ("check,infer", "check,features,infer"),
        ("features,publish", "features,infer,publish"),
    ] {
        let out = nightshift(
            &p,
            &["run", "root_cause", "--date", "2026-11-23", "--only", only],
        );
        assert_eq!(out.status.code(), Some(2), "{only}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("which no run has written yet"),
            "{}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&format!("--date 2026-11-23 --only {hinted}\n")),
            "{only}: {}",
            stderr(&out)
        );
    }
    let out = nightshift(&p, &["--json", "runs", "list", "--pipeline", "root_cause"]);
    let runs: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(runs.as_array().expect("runs").len(), 2, "nothing recorded");
    for only in ["features", "infer", "publish"] {
        let out = nightshift(
            &p,
            &["run", "root_cause", "--date", "2026-11-23", "--only", only],
        );
        assert!(out.status.success(), "{only}: {}", stderr(&out));
    }
    assert!(
        crate::count(
            &p,
            "SELECT count(*) FROM output.root_cause_rollups WHERE ds = '2026-11-20'"
        ) > 0
    );
}

#[test]
fn sql_prints_csv_and_json_and_bad_sql_and_writes_exit_2_with_a_hint() {
    let (_dir, p) = init();
    let out = nightshift(
        &p,
        &[
            "generate",
            "--days",
            "1",
            "--rows-per-day",
            "200",
            "--end-date",
            "2026-11-20",
            "--no-drift",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nightshift(&p, &["sql", "--csv", "SELECT count(*) AS n FROM raw.trips"]);
    assert_eq!(stdout(&out), "n\n200\n");
    // A query that does not plan is a usage error; its hint lists the tables.
    let out = nightshift(&p, &["sql", "SELECT * FROM raw.nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("raw.support_contacts"),
        "the hint lists the tables: {}",
        stderr(&out)
    );
    let out = nightshift(&p, &["sql", "--csv", "--json", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2));
    let out = nightshift(&p, &["sql", "SELECT 1; SELECT 2"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("one statement at a time"),
        "{}",
        stderr(&out)
    );
    // Nested values are JSON text in a CSV cell, nulls are kept as keys in JSON, and an
    // empty result still has its header.
    let out = nightshift(
        &p,
        &[
            "sql",
            "--csv",
            "SELECT 1 AS a, [named_struct('label', 'x', 'p', 0.5)] AS top_k, NULL AS n",
        ],
    );
    assert_eq!(
        stdout(&out),
        "a,top_k,n\n1,\"[{\"\"label\"\":\"\"x\"\",\"\"p\"\":0.5}]\",\n",
        "{}",
        stderr(&out)
    );
    let out = nightshift(&p, &["--json", "sql", "SELECT 1 AS a, NULL AS n"]);
    assert_eq!(stdout(&out).trim(), r#"[{"a":1,"n":null}]"#);
    let out = nightshift(
        &p,
        &["sql", "--csv", "SELECT trip_id FROM raw.trips WHERE false"],
    );
    assert_eq!(stdout(&out), "trip_id\n");
    // Only queries: a write would bypass the runs' slice replacement.
    let out = nightshift(
        &p,
        &["sql", "INSERT INTO raw.trips SELECT * FROM raw.trips"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("only queries"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    assert_eq!(count(&p, "SELECT count(*) FROM raw.trips"), 200);
}

#[test]
fn generate_is_deterministic_for_a_seed() {
    let (_d1, a) = init();
    let (_d2, b) = init();
    for p in [&a, &b] {
        let out = nightshift(
            p,
            &[
                "generate",
                "--days",
                "2",
                "--rows-per-day",
                "300",
                "--end-date",
                "2026-11-20",
                "--seed",
                "7",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let q = "SELECT contact_id, text FROM raw.support_contacts ORDER BY contact_id";
    let dump = |p| stdout(&nightshift(p, &["sql", "--csv", q]));
    assert_eq!(dump(&a), dump(&b));
}

#[cfg(unix)]
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // As `nightshift ... | head -1` once head has exited: no panic, no error, SIGPIPE.
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let (_dir, p) = init();
    // Runs nightshift with a stdout whose reader went away before anything was written.
    let into_closed_pipe = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nightshift"))
            .arg("--project")
            .arg(&p)
            .args(args)
            .env_remove("NIGHTSHIFT_PROJECT")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        child.wait_with_output().expect("wait")
    };
    for args in [
        &["--json", "runs", "list"][..],
        &["sql", "--csv", "SELECT 1 AS x"],
    ] {
        let out = into_closed_pipe(args);
        const SIGPIPE: i32 = 13;
        assert_eq!(
            out.status.signal(),
            Some(SIGPIPE),
            "{args:?}: {:?} {}",
            out.status,
            stderr(&out)
        );
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }

    // A run whose log goes into a reader that went away (`run ... 2>&1 | head -1`) carries on
    // and records its work: it is not killed halfway.
    let out = nightshift(
        &p,
        &[
            "generate",
            "--days",
            "4",
            "--rows-per-day",
            "200",
            "--end-date",
            "2026-11-20",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut child = Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("--project")
        .arg(&p)
        .args([
            "-v",
            "run",
            "root_cause",
            "--date",
            "2026-11-22",
            "--only",
            "check,features",
        ])
        .env_remove("NIGHTSHIFT_PROJECT")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stderr.take());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(count(&p, "SELECT count(*) FROM intermediate.root_cause_features") > 0);

    // So does one whose report goes into a reader that went away (`run ... | head -1`): the
    // work done, its own exit code, not a panic's (101).
    for args in [
        &[
            "run",
            "root_cause",
            "--date",
            "2026-11-22",
            "--only",
            "check",
        ][..],
        &["--json", "vacuum", "--dry-run"],
    ] {
        let out = into_closed_pipe(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

#[test]
fn a_retried_publish_publishes_the_version_its_run_predicted_with() {
    // infer wrote version 1's predictions, then publish failed (a quality gate); meanwhile
    // production moved to version 2. The retry re-runs publish only: it must roll up version
    // 1's predictions, not look for version 2's.
    let (_dir, p) = init();
    crate::generate_and_train(&p, 4, "2026-11-20");
    let file = p.join("nightshift.toml");
    let good = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        good.replace("top_k = 3", "top_k = 3\nmin_distinct_labels = 1000"),
    )
    .expect("write");
    let run = run_date_22(&p, 1);
    assert_eq!(run["failed_task"], "publish", "{run}");
    // Retried once while the gate still fails: that retry ran publish alone, and the next
    // retry (of the retry) must still find the version through the chain.
    let out = nightshift(
        &p,
        &[
            "--json",
            "runs",
            "retry",
            run["run_id"].as_str().expect("run id"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let run: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    std::fs::write(&file, &good).expect("write");
    crate::train_on_agent_labels(&p, &["--hidden", "0"]);

    let out = nightshift(&p, &["--json", "runs", "retry", &run_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let retry: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(retry["model"], "root_cause@1", "{retry}");
    assert_eq!(
        count(
            &p,
            "SELECT count(*) FROM output.root_cause_rollups WHERE model_version <> 1"
        ),
        0
    );
    assert_eq!(
        count(&p, "SELECT sum(contacts) FROM output.root_cause_rollups"),
        count(&p, "SELECT count(*) FROM output.root_cause_predictions")
    );

    // A failed run whose date a later run completed (by hand here) is not retried.
    std::fs::write(
        &file,
        good.replace("top_k = 3", "top_k = 3\nmin_distinct_labels = 1000"),
    )
    .expect("write");
    let failed = run_date_22(&p, 1);
    std::fs::write(&file, &good).expect("write");
    let out = nightshift(&p, &["run", "root_cause", "--date", "2026-11-22"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nightshift(
        &p,
        &["runs", "retry", failed["run_id"].as_str().expect("run id")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("completed by a later run"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_retried_infer_uses_the_version_its_run_resolved() {
    // The features gate fails the run's `infer` (trip_status is null for order contacts);
    // meanwhile production moves to version 2. The retry runs `infer` and `publish` with
    // version 1, the run's model, as `runs show` says; a new run of the date uses version 2.
    let (_dir, p) = init();
    crate::generate_and_train(&p, 4, "2026-11-20");
    let file = p.join("nightshift.toml");
    let good = std::fs::read_to_string(&file).expect("read");
    let gated = good
        .replace(
            "dimensions = [\"channel\", \"city\"]",
            "dimensions = [\"channel\", \"city\", \"trip_status\"]",
        )
        .replace("top_k = 3", "top_k = 3\nmax_null_rate = 0.0");
    assert_ne!(gated, good, "the template changed: update this test");
    std::fs::write(&file, &gated).expect("write");
    let run = run_date_22(&p, 1);
    assert_eq!(run["failed_task"], "infer", "{run}");
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let out = nightshift(&p, &["--json", "runs", "show", &run_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(shown["run"]["model"], "root_cause@1", "{shown}");

    crate::train_on_agent_labels(&p, &["--hidden", "0"]);
    std::fs::write(&file, &good).expect("write");
    let out = nightshift(&p, &["--json", "runs", "retry", &run_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let retry: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(retry["model"], "root_cause@1", "{retry}");
    let versions = "SELECT count(DISTINCT model_version) FROM output.root_cause_predictions \
                    WHERE model_version = 1";
    assert_eq!(count(&p, versions), 1);
    assert_eq!(
        count(
            &p,
            "SELECT count(*) FROM output.root_cause_predictions WHERE model_version <> 1"
        ),
        0
    );

    let rerun = run_date_22(&p, 0);
    assert_eq!(rerun["model"], "root_cause@2", "{rerun}");

    // A re-run of the done date fails: its retry runs (the earlier successes came before it).
    std::fs::write(&file, &gated).expect("write");
    let failed = run_date_22(&p, 1);
    std::fs::write(&file, &good).expect("write");
    let out = nightshift(
        &p,
        &["runs", "retry", failed["run_id"].as_str().expect("run id")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `nightshift --json run root_cause --date 2026-11-22`, which must exit with `code`: its JSON.
fn run_date_22(project: &std::path::Path, code: i32) -> serde_json::Value {
    let out = nightshift(
        project,
        &["--json", "run", "root_cause", "--date", "2026-11-22"],
    );
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("json")
}

/// Copies the directory `from` (files and subdirectories) to `to`.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
