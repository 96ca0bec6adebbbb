use std::fs;
use std::path::{Path, PathBuf};

use chrono::{NaiveTime, TimeZone, Utc};
use nightshift_core::{
    AlertSink, ConfigErrors, Duration, PROJECT_FILE, Project, Schedule, compile_project,
    load_project,
};

const EXAMPLE: &str = r#"[project]
name = "support"
warehouse = "warehouse"

[tables.support_contacts]
time_column = "created_at"
freshness_sla = "2d"        # data for a day is complete 2 days later

[tables.trips]
time_column = "requested_at"
freshness_sla = "1d"

[tables.orders]
time_column = "placed_at"
freshness_sla = "1d"

[tables.agent_labels]
time_column = "labelled_at"
freshness_sla = "5d"

[pipelines.root_cause]
schedule = "daily at 06:00"
window = "1d"
reads = ["support_contacts", "trips", "orders"]
features = "sql/root_cause_features.sql"
model = "root_cause@production"
id_column = "contact_id"
text_column = "text"
min_rows = 1
retries = 3
retry_delay = "2m"
deadline = "09:00"
alerts = ["ops"]

[alerts.ops]
log = true
"#;

const FEATURES_SQL: &str = "SELECT c.contact_id, c.text\n\
FROM raw.support_contacts c\n\
WHERE c.created_at >= TIMESTAMP '{{ window_start }}'\n  \
AND c.created_at < TIMESTAMP '{{ window_end }}'\n";

/// A project directory with the features SQL file in place.
fn project_dir(sql: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(dir.path().join("sql")).expect("mkdir");
    fs::write(dir.path().join("sql/root_cause_features.sql"), sql).expect("write sql");
    dir
}

fn compile_in(dir: &Path, text: &str) -> Result<Project, ConfigErrors> {
    compile_project(&dir.join(PROJECT_FILE), text, dir)
}

fn errors(dir: &Path, text: &str) -> ConfigErrors {
    match compile_in(dir, text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

/// (line, column, message, hint) of each diagnostic, for compact assertions.
fn summary(e: &ConfigErrors) -> Vec<(usize, usize, String, Option<String>)> {
    e.diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.message.clone(), d.hint.clone()))
        .collect()
}

/// `(line, message)` of each diagnostic.
fn lines_and_messages(e: &ConfigErrors) -> Vec<(usize, String)> {
    summary(e)
        .into_iter()
        .map(|(line, _, m, _)| (line, m))
        .collect()
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle} not in text"))
}

#[test]
fn example_compiles_with_right_values() {
    let dir = project_dir(FEATURES_SQL);
    fs::write(dir.path().join(PROJECT_FILE), EXAMPLE).expect("write toml");
    let p = load_project(dir.path()).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(p.name, "support");
    assert_eq!(p.root, dir.path());
    assert_eq!(p.file, dir.path().join("nightshift.toml"));
    assert_eq!(p.warehouse, dir.path().join("warehouse"));
    assert_eq!(p.engine, Default::default());
    assert_eq!(
        p.tables.keys().collect::<Vec<_>>(),
        ["agent_labels", "orders", "support_contacts", "trips"]
    );
    let contacts = &p.tables["support_contacts"];
    assert_eq!(contacts.schema, "raw");
    assert_eq!(contacts.sql_name(), "raw.support_contacts");
    assert_eq!(
        contacts.path,
        dir.path().join("warehouse/raw/support_contacts")
    );
    assert_eq!(contacts.time_column.as_deref(), Some("created_at"));
    assert_eq!(
        contacts.freshness_sla,
        Some(Duration::from_seconds(2 * 86_400))
    );

    let rc = &p.pipelines["root_cause"];
    assert_eq!(rc.name, "root_cause");
    assert_eq!(
        rc.schedule,
        "daily at 06:00".parse::<Schedule>().expect("schedule")
    );
    assert_eq!(rc.timezone, "UTC");
    assert_eq!(rc.window, Duration::DAY);
    assert_eq!(rc.reads, ["support_contacts", "trips", "orders"]);
    assert_eq!(rc.max_sla, Some(Duration::from_seconds(2 * 86_400)));
    assert_eq!(
        rc.features_path,
        dir.path().join("sql/root_cause_features.sql")
    );
    assert_eq!(rc.features_sql, FEATURES_SQL);
    assert_eq!(rc.model.as_deref(), Some("root_cause@production"));
    assert_eq!(rc.id_column, "contact_id");
    assert_eq!(rc.text_column, "text");
    assert_eq!(rc.max_text_chars, 10_000);
    assert_eq!(rc.min_rows, 1);
    assert_eq!(rc.retries, 3);
    assert_eq!(rc.retry_delay, Duration::from_seconds(120));
    assert_eq!(rc.deadline, NaiveTime::from_hms_opt(9, 0, 0));
    assert_eq!(rc.alerts, ["ops"]);
    assert!(rc.catchup);
    assert_eq!(rc.features_table(), "intermediate.root_cause_features");
    assert_eq!(rc.predictions_table(), "output.root_cause_predictions");
    assert_eq!(rc.rollups_table(), "output.root_cause_rollups");
    assert_eq!(rc.quality_table(), "output.root_cause_quality");
    assert_eq!(rc.rejects_table(), "output.root_cause_rejects");

    // The run at 06:00 on 2026-11-22 processes 2026-11-19 (2-day SLA).
    let logical = Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap();
    let w = rc.window_for(logical);
    assert_eq!(w.ds(), "2026-11-19");
    assert_eq!(
        rc.next_run_after(Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap()),
        Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap()
    );

    assert_eq!(p.alerts["ops"], AlertSink::Log);
}

#[test]
fn three_mistakes_three_diagnostics() {
    let dir = project_dir(FEATURES_SQL);
    let text = EXAMPLE
        .replace("window = \"1d\"", "windwo = \"1d\"")
        .replace(
            "freshness_sla = \"1d\"\n\n[tables.orders]",
            "freshness_sla = \"2 days\"\n\n[tables.orders]",
        )
        .replace(
            "\"support_contacts\", \"trips\", \"orders\"",
            "\"support_contacts\", \"trip\", \"orders\"",
        );
    let e = errors(dir.path(), &text);
    let windwo = line_of(&text, "windwo");
    let two_days = line_of(&text, "\"2 days\"");
    let reads = line_of(&text, "\"trip\"");
    assert_eq!(
        summary(&e),
        vec![
            (
                two_days,
                17,
                "invalid duration `2 days` for `freshness_sla` in [tables.trips]: no spaces allowed"
                    .to_string(),
                Some("use a number and a unit: 90m, 36h, 2d, 1w".to_string()),
            ),
            (
                windwo,
                1,
                "unknown key `windwo` in [pipelines.root_cause]".to_string(),
                Some("did you mean `window`?".to_string()),
            ),
            (
                reads,
                30,
                "pipeline `root_cause` reads unknown table `trip`".to_string(),
                Some("did you mean `trips`?".to_string()),
            ),
        ]
    );
    assert!(
        e.diagnostics
            .iter()
            .all(|d| d.file == dir.path().join("nightshift.toml"))
    );
    let shown = e.to_string();
    let summary_line = format!(
        "3 errors in {}",
        dir.path().join("nightshift.toml").display()
    );
    assert!(shown.ends_with(&summary_line), "{shown}");
    assert!(shown.contains(&format!(
        "nightshift.toml:{windwo}:1: unknown key `windwo` in [pipelines.root_cause]\n  hint: did you mean `window`?"
    )), "{shown}");
}

#[test]
fn unknown_template_variable_reported_in_sql_file() {
    let sql = "SELECT contact_id, text\nFROM raw.support_contacts\nWHERE day = '{{ nme }}'\n  AND x < '{{ window_end }}' AND y = {{dss}}\n";
    let dir = project_dir(sql);
    let e = errors(dir.path(), EXAMPLE);
    let sql_file = dir.path().join("sql/root_cause_features.sql");
    assert_eq!(e.diagnostics.len(), 2, "{e}");
    let d = &e.diagnostics[0];
    assert_eq!(d.file, sql_file);
    assert_eq!((d.line, d.column), (3, 14));
    assert_eq!(d.message, "unknown template variable `nme`");
    assert_eq!(
        d.hint.as_deref(),
        Some("valid variables: `window_start`, `window_end`, `ds`, `logical_date`")
    );
    let d = &e.diagnostics[1];
    assert_eq!((d.line, d.column), (4, 38));
    assert_eq!(d.message, "unknown template variable `dss`");
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.starts_with("did you mean `ds`?")),
        "{d:?}"
    );
    assert!(
        e.to_string()
            .contains("root_cause_features.sql:3:14: unknown template variable `nme`")
    );
}

#[test]
fn unclosed_template_in_sql_file() {
    let dir = project_dir("SELECT 1\nWHERE a = '{{ ds '\n");
    let e = errors(dir.path(), EXAMPLE);
    assert_eq!(
        summary(&e),
        vec![(
            2,
            12,
            "unclosed `{{`".to_string(),
            Some("close it with `}}`".to_string())
        )]
    );
}

#[test]
fn missing_sql_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = errors(dir.path(), EXAMPLE);
    let line = line_of(EXAMPLE, "features =");
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    let d = &e.diagnostics[0];
    assert_eq!((d.line, d.column), (line, 12));
    assert_eq!(
        d.message,
        format!(
            "features SQL file `{}` for [pipelines.root_cause] does not exist",
            dir.path().join("sql/root_cause_features.sql").display()
        )
    );
    assert_eq!(
        d.hint,
        Some(format!(
            "create it, or fix the path (relative to the project directory, {})",
            dir.path().display()
        ))
    );
}

#[test]
fn relative_root_displays_without_dot() {
    let e = load_project(Path::new("./definitely-not-a-project-dir")).expect_err("missing");
    assert_eq!(
        e.file,
        PathBuf::from("definitely-not-a-project-dir/nightshift.toml")
    );
    assert_eq!(e.diagnostics.len(), 1);
    assert_eq!(e.diagnostics[0].line, 0);
    assert!(
        e.diagnostics[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("nightshift init"))
    );
    assert!(
        e.to_string()
            .ends_with("1 error in definitely-not-a-project-dir/nightshift.toml")
    );
}

#[test]
fn toml_syntax_error_has_position() {
    let dir = project_dir(FEATURES_SQL);
    let e = errors(dir.path(), "[project]\nname = support\n");
    assert_eq!(e.diagnostics.len(), 1);
    let d = &e.diagnostics[0];
    assert_eq!((d.line, d.column), (2, 8));
    assert!(d.message.starts_with("invalid TOML: "), "{}", d.message);
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("key = \"text\""))
    );
}

#[test]
fn every_unknown_key_and_type_error_is_reported() {
    let dir = project_dir(FEATURES_SQL);
    let text = EXAMPLE
        .replace("[project]\n", "[projcet]\nfoo = 1\n[project]\n")
        .replace("name = \"support\"", "name = \"support\"\nwarehous = \"w\"")
        .replace("retries = 3", "retries = \"three\"\nretires = 3")
        .replace("min_rows = 1", "min_rows = -1")
        + "\n[engine]\ntarget_partitions = \"8\"\nurll = \"x\"\n";
    let e = errors(dir.path(), &text);
    let msgs: Vec<(usize, &str, Option<&str>)> = e
        .diagnostics
        .iter()
        .map(|d| (d.line, d.message.as_str(), d.hint.as_deref()))
        .collect();
    assert_eq!(
        msgs,
        vec![
            (
                1,
                "unknown key `projcet` at the top level",
                Some("did you mean `project`?")
            ),
            (
                5,
                "unknown key `warehous` in [project]",
                Some("did you mean `warehouse`?")
            ),
            (
                line_of(&text, "min_rows"),
                "wrong type for `min_rows` in [pipelines.root_cause]: invalid value: integer `-1`, expected u64",
                Some("write a whole number, without quotes: min_rows = 3")
            ),
            (
                line_of(&text, "retries ="),
                "wrong type for `retries` in [pipelines.root_cause]: invalid type: string \"three\", expected u32",
                Some("write a whole number, without quotes: retries = 3")
            ),
            (
                line_of(&text, "retires"),
                "unknown key `retires` in [pipelines.root_cause]",
                Some("did you mean `retries`?")
            ),
            (
                line_of(&text, "target_partitions"),
                "wrong type for `target_partitions` in [engine]: invalid type: string \"8\", expected usize",
                Some("write a whole number, without quotes: target_partitions = 3")
            ),
            (
                line_of(&text, "urll"),
                "unknown key `urll` in [engine]",
                Some("did you mean `url`?")
            ),
        ]
    );
}

#[test]
fn missing_required_keys() {
    let dir = project_dir(FEATURES_SQL);
    let text = "[project]\nwarehouse = \"w\"\n\n[pipelines.p]\nmodel = \"m\"\n";
    let e = errors(dir.path(), text);
    let msgs: Vec<(usize, &str)> = e
        .diagnostics
        .iter()
        .map(|d| (d.line, d.message.as_str()))
        .collect();
    assert_eq!(
        msgs,
        vec![
            (1, "missing required key `name` in [project]"),
            (4, "missing required key `schedule` in [pipelines.p]"),
            (4, "missing required key `window` in [pipelines.p]"),
            (4, "missing required key `reads` in [pipelines.p]"),
            (4, "missing required key `features` in [pipelines.p]"),
        ]
    );
    assert_eq!(
        e.diagnostics[2].hint.as_deref(),
        Some("add window = \"1d\"")
    );
    let e = errors(dir.path(), "[tables.t]\n");
    assert_eq!(e.diagnostics[0].message, "missing [project] section");
}

#[test]
fn bad_values_get_hints() {
    let dir = project_dir(FEATURES_SQL);
    let text = EXAMPLE
        .replace(
            "schedule = \"daily at 06:00\"",
            "schedule = \"daily at 6am\"\ntimezone = \"Europe/Paris\"",
        )
        .replace("deadline = \"09:00\"", "deadline = \"9am\"")
        .replace("retry_delay = \"2m\"", "retry_delay = \"2\"")
        .replace("alerts = [\"ops\"]", "alerts = [\"opz\"]")
        .replace("[tables.orders]", "[tables.Orders-2]");
    let e = errors(dir.path(), &text);
    let msgs: Vec<(usize, &str, &str)> = e
        .diagnostics
        .iter()
        .map(|d| (d.line, d.message.as_str(), d.hint.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        msgs,
        vec![
            (
                line_of(&text, "Orders-2"),
                "invalid name `Orders-2` in [tables]",
                "names become SQL identifiers: use lowercase letters, digits and `_`, not starting with a digit, e.g. `orders_2`"
            ),
            (
                line_of(&text, "6am"),
                "invalid schedule `daily at 6am` in [pipelines.root_cause]: `6am` is not a time like 06:00",
                "accepted forms: `daily at 06:00`, `hourly at :15`, `hourly`, `every 15m`, or 5-field cron like `0 6 * * *`"
            ),
            (
                line_of(&text, "Europe/Paris"),
                "unsupported timezone `Europe/Paris` in [pipelines.root_cause]",
                "use `UTC` or a fixed offset like `+02:00` or `-05:30`"
            ),
            (
                line_of(&text, "reads"),
                "pipeline `root_cause` reads unknown table `orders`",
                "did you mean `Orders-2`?"
            ),
            (
                line_of(&text, "retry_delay"),
                "invalid duration `2` for `retry_delay` in [pipelines.root_cause]: missing unit after `2`",
                "use a number and a unit: 90m, 36h, 2d, 1w"
            ),
            (
                line_of(&text, "9am"),
                "invalid deadline `9am` in [pipelines.root_cause]",
                "use a time of day HH:MM, e.g. \"09:00\""
            ),
            (
                line_of(&text, "opz"),
                "pipeline `root_cause` uses unknown alert sink `opz`",
                "did you mean `ops`?"
            ),
        ]
    );
}

#[test]
fn values_that_cannot_hold_are_refused_at_their_line() {
    let dir = project_dir(FEATURES_SQL);
    let text = EXAMPLE
        .replace(
            "reads = [\"support_contacts\", \"trips\", \"orders\"]",
            "reads = []",
        )
        .replace("model = \"root_cause@production\"", "model = \"root_cause@\"")
        .replace("window = \"1d\"", "window = \"99999999999999d\"")
        .replace(
            "min_rows = 1",
            "min_rows = 1\nmin_row_ratio = 2.0\nmax_row_ratio = 0.5\nmax_null_rate = 1.5\nmin_distinct_labels = 0",
        );
    let e = errors(dir.path(), &text);
    let msgs: Vec<(usize, &str)> = e
        .diagnostics
        .iter()
        .map(|d| (d.line, d.message.as_str()))
        .collect();
    assert_eq!(
        msgs,
        vec![
            (
                line_of(&text, "window ="),
                "invalid duration `99999999999999d` for `window` in [pipelines.root_cause]: duration too large (at most 36500d, 100 years)"
            ),
            (
                line_of(&text, "reads ="),
                "`reads` in [pipelines.root_cause] lists no table"
            ),
            (
                line_of(&text, "model ="),
                "invalid model reference `root_cause@` in [pipelines.root_cause]: the version or alias after `@` is missing"
            ),
            (
                line_of(&text, "max_row_ratio"),
                "`max_row_ratio` in [pipelines.root_cause] (0.5) is below `min_row_ratio` (2): every slice would fail the gate"
            ),
            (
                line_of(&text, "max_null_rate"),
                "`max_null_rate` in [pipelines.root_cause] is 1.5; it must be a rate between 0 and 1 (e.g. 0.1: at most 10% nulls)"
            ),
            (
                line_of(&text, "min_distinct_labels"),
                "`min_distinct_labels` in [pipelines.root_cause] must be at least 1"
            ),
        ]
    );
    for (model, reason) in [
        ("\"\"", "it is empty"),
        ("\"@3\"", "the model name before `@` is missing"),
        ("\"a@b@c\"", "more than one `@`"),
        (
            "\"root cause@prod\"",
            "a model name starts with a lowercase letter",
        ),
        ("\"root_cause@0\"", "versions start at 1"),
        (
            "\"root_cause@Prod\"",
            "an alias starts with a lowercase letter",
        ),
    ] {
        let text = EXAMPLE.replace("\"root_cause@production\"", model);
        let e = errors(dir.path(), &text);
        assert!(e.to_string().contains(reason), "{model}: {e}");
    }
    let text = EXAMPLE.replace("min_rows = 1", "min_rows = 1\nmin_row_ratio = -1.0");
    assert!(
        errors(dir.path(), &text)
            .to_string()
            .contains("is -1; it must be a ratio of at least 0")
    );
    let text = EXAMPLE.replace("min_rows = 1", "min_rows = 1\nmin_row_ratio = nan");
    assert_eq!(
        summary(&errors(dir.path(), &text))[0].3.as_deref(),
        Some("write e.g. min_row_ratio = 0.5, or leave the key out to turn the gate off")
    );
    // A table without `time_column`: its `freshness_sla` would do nothing, and the pipeline
    // that reads it first cannot count `min_rows` in the window.
    let text = EXAMPLE.replace("time_column = \"created_at\"\n", "");
    let e = errors(dir.path(), &text);
    assert_eq!(
        lines_and_messages(&e),
        vec![
            (
                line_of(&text, "freshness_sla = \"2d\""),
                "`freshness_sla` in [tables.support_contacts] has no effect: the table has no `time_column`".to_string()
            ),
            (
                line_of(&text, "min_rows ="),
                "`min_rows` in [pipelines.root_cause] cannot be checked: `support_contacts`, the first table of `reads`, has no `time_column`".to_string()
            ),
        ]
    );
    // A window shorter than the time between two runs leaves data to no run.
    let text = EXAMPLE.replace("window = \"1d\"", "window = \"1h\"");
    let e = errors(dir.path(), &text);
    assert_eq!(
        summary(&e)
            .into_iter()
            .map(|(line, _, m, h)| (line, m, h))
            .collect::<Vec<_>>(),
        vec![(
            line_of(&text, "window ="),
            "`window` in [pipelines.root_cause] (1h) is shorter than the time between two runs of its schedule (1d): the data in between would never be processed".to_string(),
            Some("make the window as long as the schedule's period: window = \"1d\"".to_string())
        )]
    );
    // A dense schedule with a long gap: the gap is looked for over a year, not a few hundred
    // fire times.
    let text = EXAMPLE
        .replace(
            "schedule = \"daily at 06:00\"",
            "schedule = \"*/5 * * * 1-5\"",
        )
        .replace("window = \"1d\"", "window = \"1h\"");
    let e = errors(dir.path(), &text);
    assert!(
        e.to_string()
            .contains("(up to 48h5m, e.g. Fri 2026-01-02 23:55 to Mon 2026-01-05 00:00 UTC)"),
        "{e}"
    );
    // The longest gap counts: a weekday schedule over daily windows never saw the weekends.
    let text = EXAMPLE.replace(
        "schedule = \"daily at 06:00\"",
        "schedule = \"0 6 * * 1-5\"",
    );
    let e = errors(dir.path(), &text);
    assert_eq!(
        summary(&e)
            .into_iter()
            .map(|(line, _, m, h)| (line, m, h))
            .collect::<Vec<_>>(),
        vec![(
            line_of(&text, "window ="),
            "`window` in [pipelines.root_cause] (1d) is shorter than the time between two runs of its schedule (up to 3d, e.g. Fri 2026-01-02 06:00 to Mon 2026-01-05 06:00 UTC): the data in between would never be processed".to_string(),
            Some("schedule the runs evenly, one every 1d (the window), or make the window as long as the longest gap: window = \"3d\"".to_string())
        )]
    );
    // A table read twice, a null-rate gate with no dimensions to check, no partitions.
    for (from, to, message) in [
        (
            "reads = [\"support_contacts\", \"trips\", \"orders\"]",
            "reads = [\"support_contacts\", \"trips\", \"trips\"]",
            "lists `trips` twice",
        ),
        (
            "min_rows = 1",
            "min_rows = 1\nmax_null_rate = 0.1",
            "checks the `dimensions` columns, and there are none",
        ),
        (
            "[project]",
            "[engine]\ntarget_partitions = 0\n\n[project]",
            "`target_partitions` in [engine] is 0",
        ),
        (
            "retries = 3",
            "retries = 100000",
            "`retries = 100000` in [pipelines.root_cause] is more than 20",
        ),
    ] {
        let text = EXAMPLE.replace(from, to);
        assert_ne!(text, EXAMPLE, "{from}");
        let e = errors(dir.path(), &text);
        assert!(e.to_string().contains(message), "{message}: {e}");
    }
    // An empty name or column (which would only fail at run time), or a sink listed twice,
    // is refused where it is.
    for (from, to, message) in [
        (
            "id_column = \"contact_id\"",
            "id_column = \"\"",
            "`id_column` in [pipelines.root_cause] is empty",
        ),
        (
            "text_column = \"text\"",
            "text_column = \" \"",
            "`text_column` in [pipelines.root_cause] is empty",
        ),
        (
            "time_column = \"created_at\"",
            "time_column = \"\"",
            "`time_column` in [tables.support_contacts] is empty",
        ),
        (
            "name = \"support\"",
            "name = \"\"",
            "`name` in [project] is empty",
        ),
        (
            "alerts = [\"ops\"]",
            "alerts = [\"ops\", \"ops\"]",
            "alert sink `ops` is listed twice in `alerts` of [pipelines.root_cause]",
        ),
    ] {
        let text = EXAMPLE.replacen(from, to, 1);
        assert_ne!(text, EXAMPLE, "{from}");
        let e = errors(dir.path(), &text);
        assert_eq!(
            lines_and_messages(&e),
            vec![(line_of(&text, to), message.to_string())]
        );
    }
    // A dimension listed twice, or named like a rollups column, is refused where it is.
    for (dimensions, message) in [
        (
            "[\"channel\", \"channel\"]",
            "`channel` is listed twice in `dimensions` of [pipelines.root_cause]",
        ),
        (
            "[\"contacts\"]",
            "`contacts` in `dimensions` of [pipelines.root_cause] is a column the rollups have already",
        ),
    ] {
        let text = EXAMPLE.replace(
            "min_rows = 1",
            &format!("min_rows = 1\ndimensions = {dimensions}"),
        );
        let e = errors(dir.path(), &text);
        assert_eq!(
            lines_and_messages(&e),
            vec![(line_of(&text, "dimensions ="), message.to_string())]
        );
    }
}

#[test]
fn a_wrong_type_a_duplicate_and_a_non_utf8_byte_are_reported_once_where_they_are() {
    let dir = project_dir(FEATURES_SQL);
    // A value of the wrong type is that, not also a missing key.
    let text = EXAMPLE.replace("window = \"1d\"", "window = 1");
    assert_eq!(
        summary(&errors(dir.path(), &text)),
        vec![(
            line_of(&text, "window ="),
            10,
            "wrong type for `window` in [pipelines.root_cause]: invalid type: integer `1`, expected a string".to_string(),
            Some("put the value in double quotes: window = \"...\"".to_string()),
        )]
    );
    let text = format!("{EXAMPLE}\n[pipelines.root_cause]\nschedule = \"hourly\"\n");
    let e = errors(dir.path(), &text);
    assert!(
        e.diagnostics[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("only once")),
        "{e}"
    );
    // A Latin-1 byte: its line and column, and what to do.
    let mut bytes = EXAMPLE.as_bytes().to_vec();
    bytes.extend_from_slice(b"\n# caf\xe9\n");
    fs::write(dir.path().join(PROJECT_FILE), &bytes).expect("write");
    let e = nightshift_core::load_project(dir.path()).expect_err("not utf-8");
    let lines = EXAMPLE.lines().count();
    assert_eq!(
        summary(&e),
        vec![(
            lines + 2,
            6,
            "byte 0xe9 is not UTF-8 text".to_string(),
            Some("save the file as UTF-8 (Latin-1 or Windows-1252 editors write such bytes for accented letters)".to_string()),
        )]
    );
    // The summary names the files the errors are in.
    let sql = project_dir("SELECT 1 WHERE x > '{{ window_strat }}'");
    let e = errors(
        sql.path(),
        &EXAMPLE.replace("window = \"1d\"", "window = 1"),
    );
    let last = e.to_string().lines().last().expect("summary").to_string();
    assert!(
        last.starts_with("2 errors in ")
            && last.contains("nightshift.toml and ")
            && last.ends_with("root_cause_features.sql"),
        "{e}"
    );
}

#[test]
fn alert_sinks() {
    let dir = project_dir(FEATURES_SQL);
    let base = EXAMPLE.replace("[alerts.ops]\nlog = true\n", "");
    let ok = base.clone()
        + "[alerts.ops]\nlog = true\n[alerts.hook]\nwebhook = \"https://example.com/x\"\n\
           [alerts.cmd]\ncommand = \"notify-send  nightshift failed\"\n[alerts.argv]\ncommand = [\"a b\", \"c\"]\n";
    let p = compile_in(dir.path(), &ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.alerts["hook"],
        AlertSink::Webhook {
            url: "https://example.com/x".into()
        }
    );
    assert_eq!(
        p.alerts["cmd"],
        AlertSink::Command {
            program: "notify-send".into(),
            args: vec!["nightshift".into(), "failed".into()]
        }
    );
    assert_eq!(
        p.alerts["argv"],
        AlertSink::Command {
            program: "a b".into(),
            args: vec!["c".into()]
        }
    );

    let bad = base
        + "[alerts.ops]\nlog = false\n[alerts.two]\nlog = true\nwebhook = \"ftp://x\"\n[alerts.empty]\ncommand = []\n[alerts.spaced]\nwebhook = \"http://hooks.example.com/a b\"\n";
    let e = errors(dir.path(), &bad);
    let msgs: Vec<&str> = e.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec![
            "[alerts.ops] must have exactly one of `webhook`, `command` or `log = true`, found none",
            "[alerts.two] must have exactly one of `webhook`, `command` or `log = true`, found more than one",
            "webhook in [alerts.two] must be an http:// or https:// URL with a host, without spaces",
            "empty command in [alerts.empty]",
            "webhook in [alerts.spaced] must be an http:// or https:// URL with a host, without spaces",
        ]
    );
}

#[test]
fn table_defaults_and_overrides() {
    let dir = project_dir(FEATURES_SQL);
    let text = "[project]\nname = \"x\"\nwarehouse = \"/data/wh\"\n\
                [engine]\ntarget_partitions = 4\nmemory_limit_mb = 2048\n\
                [tables.dim]\nschema = \"ref\"\n\
                [tables.abs]\npath = \"/elsewhere/abs\"\ntime_column = \"ts\"\n\
                [pipelines.p]\nschedule = \"every 15m\"\ntimezone = \"+02:00\"\nwindow = \"1h\"\nreads = [\"dim\"]\n\
                features = \"sql/root_cause_features.sql\"\ncatchup = false\nmax_text_chars = 500\n";
    let p = compile_in(dir.path(), text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.warehouse, PathBuf::from("/data/wh"));
    assert_eq!(p.engine.target_partitions, Some(4));
    assert_eq!(p.engine.memory_limit_mb, Some(2048));
    assert_eq!(p.engine.url, None);
    let dim = &p.tables["dim"];
    assert_eq!(
        (dim.sql_name(), dim.path.clone()),
        ("ref.dim".to_string(), PathBuf::from("/data/wh/ref/dim"))
    );
    assert_eq!((dim.time_column.clone(), dim.freshness_sla), (None, None));
    assert_eq!(p.tables["abs"].path, PathBuf::from("/elsewhere/abs"));
    let pipe = &p.pipelines["p"];
    assert_eq!(pipe.max_sla, None);
    assert_eq!(pipe.retry_delay, Duration::MINUTE);
    assert_eq!(
        (pipe.retries, pipe.min_rows, pipe.max_text_chars),
        (3, 1, 500)
    );
    assert_eq!(
        (pipe.id_column.as_str(), pipe.text_column.as_str()),
        ("id", "text")
    );
    assert!(!pipe.catchup);
    assert_eq!(pipe.utc_offset().local_minus_utc(), 7200);
    let logical = Utc.with_ymd_and_hms(2026, 11, 22, 6, 10, 0).unwrap();
    let w = pipe.window_for(logical);
    assert_eq!(w.ds(), "2026-11-22T05:00");
}
