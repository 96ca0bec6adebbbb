use crate::{init, nightshift, stderr, stdout};

#[test]
fn three_mistakes_give_three_errors_with_lines_and_exit_2() {
    let (_dir, p) = init();
    let file = p.join("nightshift.toml");
    let text = std::fs::read_to_string(&file).expect("read");
    let text = text
        .replacen("window = \"1d\"", "windwo = \"1d\"", 1)
        .replacen("freshness_sla = \"2d\"", "freshness_sla = \"2 days\"", 1)
        .replacen(
            "reads = [\"support_contacts\", \"trips\", \"orders\"]",
            "reads = [\"support_contacts\", \"trip\", \"orders\"]",
            1,
        );
    std::fs::write(&file, &text).expect("write");
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).expect(needle) + 1;

    let out = nightshift(&p, &["run", "root_cause", "--date", "2026-11-22"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("nightshift.toml:{}:", line_of("windwo"))),
        "{err}"
    );
    assert!(
        err.contains(&format!("nightshift.toml:{}:", line_of("2 days"))),
        "{err}"
    );
    assert!(
        err.contains(&format!("nightshift.toml:{}:", line_of("\"trip\""))),
        "{err}"
    );
    assert!(err.contains("did you mean `window`?"), "{err}");
    assert!(err.contains("did you mean `trips`?"), "{err}");
    assert!(err.contains("3 errors"), "{err}");
    assert_eq!(err.matches("error:").count(), 3, "{err}");

    // With --json, the same errors one by one, each with its line and hint.
    let out = nightshift(&p, &["--json", "run", "root_cause", "--date", "2026-11-22"]);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_str(&crate::stdout(&out)).expect("json");
    let diagnostics = doc["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 3, "{doc}");
    assert!(
        diagnostics
            .iter()
            .any(|d| d["line"] == line_of("windwo") && d["hint"] == "did you mean `window`?"),
        "{doc}"
    );
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("3 errors in ") && e.ends_with("nightshift.toml")),
        "{doc}"
    );
}

#[test]
fn without_project_the_nearest_directory_above_with_a_project_file_is_the_project() {
    let (_d, p) = init();
    let here = |dir: &std::path::Path, env: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_nightshift"));
        command
            .args(["--json", "runs", "list"])
            .current_dir(dir)
            .env_remove("NIGHTSHIFT_PROJECT")
            .env_remove("RUST_LOG");
        if let Some(value) = env {
            // An empty variable (an unset CI variable) is no project given.
            command.env("NIGHTSHIFT_PROJECT", value);
        }
        command.output().expect("run")
    };
    for env in [None, Some("")] {
        let out = here(&p.join("sql"), env);
        assert!(out.status.success(), "{env:?}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "[]");
    }
    let elsewhere = tempfile::tempdir().expect("tmp");
    let out = here(elsewhere.path(), None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "no nightshift.toml in {} or a directory above it",
            elsewhere.path().display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_project_and_bad_dates_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = nightshift(dir.path(), &["sql", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nightshift init"), "{}", stderr(&out));

    let (_d, p) = init();
    let toml = std::fs::read_to_string(p.join("nightshift.toml")).expect("project file");
    assert!(
        toml.contains("name = \"p\""),
        "named after its directory: {toml}"
    );
    let out = nightshift(&p, &["run", "root_cause", "--date", "2026-13-01"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // `generate` reads its dates as `run` does.
    let out = nightshift(&p, &["generate", "--end-date", "2026-13-01"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the calendar has no such day"),
        "{}",
        stderr(&out)
    );
    // A date whose windows would leave the warehouse's timestamps is refused the same way.
    let out = nightshift(&p, &["run", "root_cause", "--date", "+10000-01-01"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("out of range"), "{}", stderr(&out));
    // A date whose window has not started (a typo'd year) would mark a future date done.
    let out = nightshift(
        &p,
        &[
            "run",
            "root_cause",
            "--date",
            "2099-11-22",
            "--only",
            "features",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has not started yet"),
        "{}",
        stderr(&out)
    );
    // Tomorrow's date reads a window that has passed (freshness_sla 2d), but it is not due:
    // done now, it would move the scheduler's catch-up past today's date.
    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let out = nightshift(
        &p,
        &["run", "root_cause", "--date", &tomorrow, "--only", "check"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("whose date is not due yet"),
        "{}",
        stderr(&out)
    );
    // With --json, a usage error caught by the argument parser is one JSON document too.
    let out = nightshift(
        &p,
        &[
            "--json",
            "run",
            "root_cause",
            "--date",
            "2026-11-22",
            "--only",
            "bogus",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let doc: serde_json::Value =
        serde_json::from_str(&crate::stdout(&out)).expect("one JSON document");
    assert_eq!(doc["ok"], false);
    assert!(
        doc["error"].as_str().is_some_and(|e| e.contains("bogus")),
        "{doc}"
    );
    // A mistyped flag: the argument parser's suggestion is a `hint:` line like every other.
    let out = nightshift(&p, &["run", "root_cause", "--dat", "2026-11-22"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("  hint: a similar argument exists: '--date'")
            && !stderr(&out).contains("tip:"),
        "{}",
        stderr(&out)
    );
    let out = nightshift(&p, &["run", "nope", "--date", "2026-11-22"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pipelines: root_cause"),
        "{}",
        stderr(&out)
    );
    // Training data comes from a file or a query: a missing source names both, and both
    // at once are refused.
    let train = |label: &'static str, more: &[&'static str]| {
        let mut args = vec![
            "models",
            "train",
            "m",
            "--text-column",
            "t",
            "--label-column",
            label,
        ];
        args.extend_from_slice(more);
        args
    };
    let out = nightshift(&p, &train("l", &[]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--data <DATA>|--sql <SQL>"),
        "{}",
        stderr(&out)
    );
    let out = nightshift(&p, &train("t", &["--data", "x.csv"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("both the text column and a label column"),
        "{}",
        stderr(&out)
    );
    let out = nightshift(&p, &train("l", &["--data", "x.csv", "--sql", "SELECT 1"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}

/// An argument that is not UTF-8 is a usage error (exit 2), not a panic.
#[cfg(unix)]
#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("--project")
        .arg(dir.path())
        .args(["models", "predict", "m", "--text"])
        .arg(std::ffi::OsStr::from_bytes(b"caf\xe9"))
        .env_remove("NIGHTSHIFT_PROJECT")
        .output()
        .expect("run nightshift");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// `-q` on the command line wins over a `RUST_LOG` left in the environment.
#[test]
fn quiet_wins_over_rust_log() {
    let (_d, p) = init();
    // Tables to open: the Delta library logs each at INFO.
    let out = nightshift(
        &p,
        &[
            "generate",
            "--days",
            "1",
            "--rows-per-day",
            "10",
            "--end-date",
            "2026-11-20",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("--project")
        .arg(&p)
        .args(["-q", "sql", "SELECT 1 AS x"])
        .env_remove("NIGHTSHIFT_PROJECT")
        .env("RUST_LOG", "info")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "nothing but errors on stderr");
}
