use std::str::FromStr;

use nightshift_models::TrainConfig;
use nightshift_pipeline::model::{self, Columns, LabelledRows};
use nightshift_pipeline::{Error, RunPlan, Task, TaskReport, features, infer, publish};
use nightshift_registry::ModelRef;

use crate::{PROJECT, SQL, at, contacts, pairs, project_with, scalar, trips};

fn training_rows(seed_word: &str) -> LabelledRows {
    let mut rows = LabelledRows::default();
    for i in 0..20 {
        for (text, label) in [
            ("refund please i want my money", "refund"),
            ("driver cancelled on me again", "driver_cancelled"),
            ("the app crashes when i open it", "app_crash"),
        ] {
            rows.texts.push(format!("{text} {seed_word} {i}"));
            rows.labels.push(label.to_string());
            rows.extras.push(Vec::new());
        }
    }
    rows
}

/// Registers the next version of `rc` trained on `rows` (text and label, and `extras`), at
/// the 22nd, 00:00.
fn train(registry: &nightshift_registry::Registry, rows: &LabelledRows, extras: &[&str]) {
    train_named(registry, "rc", rows, extras);
}

/// [`train`] for the model `name`.
fn train_named(
    registry: &nightshift_registry::Registry,
    name: &str,
    rows: &LabelledRows,
    extras: &[&str],
) {
    let columns = Columns {
        text: "text".into(),
        label: "label".into(),
        parent: None,
        extras: extras.iter().map(|e| e.to_string()).collect(),
    };
    model::train_model(
        registry,
        name,
        rows,
        &columns,
        "test",
        &TrainConfig::default(),
        &|| at(22, 0),
        None,
    )
    .expect("train");
}

#[tokio::test]
async fn infer_writes_one_row_per_feature_row_per_model_version_and_reruns_replace() {
    let toml = PROJECT.replace(
        "min_rows = 2",
        "min_rows = 2\nmodel = \"rc@production\"\ntop_k = 2",
    );
    let (_dir, project, wh) = project_with(&toml, SQL).await;
    contacts(
        &wh,
        &[
            (Some("a"), at(19, 1), Some("please refund my money"), "t1"),
            (Some("b"), at(19, 2), Some("my driver cancelled"), "t1"),
            (Some("c"), at(19, 3), Some("app crashes all the time"), "t2"),
            (Some("d"), at(20, 1), Some("later"), "t2"),
        ],
    )
    .await;
    trips(
        &wh,
        &[
            ("t1", at(18, 1), "completed"),
            ("t2", at(19, 1), "cancelled_by_driver"),
        ],
    )
    .await;
    let registry = model::open_registry(&project).expect("registry");
    for word in ["one", "two"] {
        train(&registry, &training_rows(word), &[]);
    }
    // Another model, whose first version is also version 1 (a challenger the pipeline is
    // switched to): its slice is its own, not rc@1's.
    train_named(&registry, "challenger", &training_rows("three"), &[]);
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    features(&wh, &plan).await.expect("features");

    for version in ["rc@1", "rc@2", "challenger@1", "rc@1", "challenger@1"] {
        let loaded =
            model::load_model(&registry, &ModelRef::from_str(version).expect("ref")).expect("load");
        let report = infer(&wh, &plan, &loaded).await.expect("infer");
        assert_eq!(report.rows, 3);
        let published = publish(&wh, &plan, loaded.name(), loaded.version.version)
            .await
            .expect("publish");
        assert_eq!(
            published.contacts, 3,
            "every prediction of the version rolled up"
        );
    }
    assert_eq!(
        pairs(
            &wh,
            "SELECT model_name || '@' || CAST(model_version AS VARCHAR), CAST(count(*) AS VARCHAR) \
             FROM output.rc_predictions GROUP BY 1 ORDER BY 1"
        )
        .await,
        vec![
            ("challenger@1".into(), "3".into()),
            ("rc@1".into(), "3".into()),
            ("rc@2".into(), "3".into())
        ],
        "3 rows x 3 model versions, none replacing another"
    );
    assert_eq!(
        pairs(
            &wh,
            "SELECT model_name || '@' || CAST(model_version AS VARCHAR), CAST(sum(contacts) AS VARCHAR) \
             FROM output.rc_rollups GROUP BY 1 ORDER BY 1"
        )
        .await,
        vec![
            ("challenger@1".into(), "3".into()),
            ("rc@1".into(), "3".into()),
            ("rc@2".into(), "3".into())
        ],
        "the rollups of each model version"
    );
    // A version that predicted nothing in the slice has nothing to publish (the alias moved
    // to it after the run's infer): refused, not rolled up as done.
    let err = publish(&wh, &plan, "rc", 9)
        .await
        .expect_err("no predictions of v9");
    assert!(
        err.to_string().contains("no predictions of model rc@9"),
        "{err}"
    );
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("--only infer,publish")),
        "{err}"
    );
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM output.rc_predictions WHERE model_name = 'rc' AND model_version = 1"
        )
        .await,
        3
    );
    assert_eq!(
        scalar(
            &wh,
            "SELECT sum(contacts) FROM output.rc_rollups WHERE model_version = 2"
        )
        .await,
        3
    );
    assert_eq!(
        pairs(
            &wh,
            "SELECT id, subcategory FROM output.rc_predictions WHERE model_version = 2 ORDER BY id"
        )
        .await,
        vec![
            ("a".into(), "refund".into()),
            ("b".into(), "driver_cancelled".into()),
            ("c".into(), "app_crash".into())
        ]
    );
    assert_eq!(
        scalar(
            &wh,
            "SELECT max(array_length(top_k)) FROM output.rc_predictions"
        )
        .await,
        2,
        "top_k follows the pipeline's setting"
    );
}

#[tokio::test]
async fn infer_before_features_says_what_to_run() {
    let toml = PROJECT.replace("min_rows = 2", "min_rows = 2\nmodel = \"rc\"");
    let (_dir, project, wh) = project_with(&toml, SQL).await;
    let registry = model::open_registry(&project).expect("registry");
    train(&registry, &training_rows("x"), &[]);
    let loaded =
        model::load_model(&registry, &ModelRef::from_str("rc").expect("ref")).expect("load");
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let err = infer(&wh, &plan, &loaded)
        .await
        .expect_err("no features yet");
    assert!(
        err.hint().expect("hint").contains("--only features"),
        "{err}"
    );
}

/// A project with contacts a, b, c in the window (c's trip `t3` unknown, so its
/// `trip_status` is null), a model `rc` version 1, and the run plan of 2026-11-22.
async fn overlapped_project(
    extra: &str,
) -> (
    tempfile::TempDir,
    nightshift_lake::Warehouse,
    RunPlan,
    model::LoadedModel,
) {
    let toml = PROJECT.replace(
        "min_rows = 2",
        &format!("min_rows = 2\nmodel = \"rc@1\"\n{extra}"),
    );
    let (dir, project, wh) = project_with(&toml, SQL).await;
    contacts(
        &wh,
        &[
            (Some("a"), at(19, 1), Some("please refund my money"), "t1"),
            (Some("b"), at(19, 2), Some("my driver cancelled"), "t1"),
            (Some("c"), at(19, 3), Some("app crashes all the time"), "t3"),
            (Some("d"), at(20, 1), Some("later"), "t1"),
        ],
    )
    .await;
    trips(&wh, &[("t1", at(18, 1), "completed")]).await;
    let registry = model::open_registry(&project).expect("registry");
    train(&registry, &training_rows("one"), &[]);
    let loaded =
        model::load_model(&registry, &ModelRef::from_str("rc@1").expect("ref")).expect("load");
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    (dir, wh, plan, loaded)
}

/// Runs `features` then `infer` through the executor (which overlaps them).
async fn execute(
    dir: &std::path::Path,
    wh: &nightshift_lake::Warehouse,
    plan: &mut RunPlan,
    model: &model::LoadedModel,
) -> nightshift_pipeline::RunOutcome {
    let store = nightshift_runs::RunStore::open(&dir.join("runs.db")).expect("store");
    let clock = nightshift_runs::ManualClock::new(at(22, 6));
    let sleep = |_: std::time::Duration| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async {})
    };
    nightshift_pipeline::execute_run(
        wh,
        &store,
        plan,
        &[Task::Features, Task::Infer],
        Some(model),
        nightshift_runs::Trigger::Manual,
        &clock,
        &sleep,
    )
    .await
    .expect("recorded")
}

/// Every Parquet file under a table's directory.
fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn a_run_predicts_while_features_streams_exactly_as_infer_after_it() {
    let (dir, wh, mut plan, loaded) = overlapped_project("").await;
    let outcome = execute(dir.path(), &wh, &mut plan, &loaded).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    match &outcome.reports[..] {
        [TaskReport::Features(_), TaskReport::Infer(infer)] => {
            assert!(infer.overlapped, "predicted from the features stream");
            assert_eq!(infer.rows, 3);
        }
        other => panic!("{other:?}"),
    }
    let query = "SELECT id, subcategory || ' ' || CAST(confidence AS VARCHAR) FROM output.rc_predictions ORDER BY id";
    let overlapped = pairs(&wh, query).await;
    assert!(!infer(&wh, &plan, &loaded).await.expect("infer").overlapped);
    assert_eq!(overlapped.len(), 3, "{overlapped:?}");
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(DISTINCT run_id) FROM output.rc_predictions"
        )
        .await,
        1
    );

    // The same slice predicted by `infer` on its own (above), reading the committed features.
    assert_eq!(pairs(&wh, query).await, overlapped);
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.rc_predictions").await,
        3
    );
}

#[tokio::test]
async fn a_failed_features_gate_commits_nothing_of_the_overlapped_infer() {
    // c has no known trip: a third of `trip_status` is null, over the gate's 20%.
    let (dir, wh, mut plan, loaded) =
        overlapped_project("max_null_rate = 0.2\ndimensions = [\"trip_status\"]").await;
    let outcome = execute(dir.path(), &wh, &mut plan, &loaded).await;
    let err = outcome.error.expect("the gate stops the run");
    assert!(
        matches!(err, nightshift_pipeline::Error::QualityGate { .. }),
        "{err}"
    );
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM intermediate.rc_features").await,
        3,
        "features committed"
    );
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.rc_predictions").await,
        0,
        "the predictions made alongside were not committed"
    );
    let files = parquet_files(&dir.path().join("warehouse/output/rc_predictions"));
    assert!(files.is_empty(), "uncommitted files deleted: {files:?}");
}

#[tokio::test]
async fn an_overlapped_run_whose_rows_are_all_refused_fails_and_keeps_the_predictions() {
    let (dir, wh, mut plan, loaded) = overlapped_project("").await;
    assert!(
        execute(dir.path(), &wh, &mut plan, &loaded)
            .await
            .error
            .is_none()
    );
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.rc_predictions").await,
        3
    );
    let predictions_dir = dir.path().join("warehouse/output/rc_predictions");
    let before = parquet_files(&predictions_dir);
    // The same window again, now with every text over the limit: the run fails at
    // `features` and nothing is replaced.
    let toml = std::fs::read_to_string(dir.path().join("nightshift.toml")).expect("toml");
    std::fs::write(
        dir.path().join("nightshift.toml"),
        toml.replace("max_text_chars = 40", "max_text_chars = 5"),
    )
    .expect("toml");
    let project = nightshift_core::load_project(dir.path()).expect("project");
    let mut plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    let outcome = execute(dir.path(), &wh, &mut plan, &loaded).await;
    assert!(
        matches!(outcome.error, Some(Error::QualityGate { .. })),
        "{:?}",
        outcome.error
    );
    assert!(outcome.reports.is_empty(), "{:?}", outcome.reports);
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM intermediate.rc_features").await,
        3
    );
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.rc_predictions").await,
        3,
        "the predictions of the earlier run stay"
    );
    assert_eq!(
        parquet_files(&predictions_dir),
        before,
        "the files written alongside are deleted"
    );
}

/// A features query that stops returning an input column of the model (after the table was
/// created with it) fails before anything is written, in a run with the model: the slice's
/// column would be null and every prediction made without it, silently.
#[tokio::test]
async fn a_features_query_without_an_input_of_the_model_fails_in_a_run_with_it() {
    let (dir, wh, mut plan, _) = overlapped_project("").await;
    let project = nightshift_core::load_project(dir.path()).expect("project");
    let registry = model::open_registry(&project).expect("registry");
    let mut rows = training_rows("two");
    rows.extras = rows
        .texts
        .iter()
        .map(|_| vec!["completed".to_string()])
        .collect();
    train(&registry, &rows, &["trip_status"]);
    let loaded =
        model::load_model(&registry, &ModelRef::from_str("rc@2").expect("ref")).expect("load");
    assert!(
        execute(dir.path(), &wh, &mut plan, &loaded)
            .await
            .error
            .is_none()
    );
    let before = pairs(
        &wh,
        "SELECT id, subcategory FROM output.rc_predictions ORDER BY id",
    )
    .await;
    assert_eq!(before.len(), 3);

    // The query loses the column (a refactor of the SQL).
    let without = "SELECT contact_id, created_at, text FROM raw.contacts \
         WHERE created_at >= TIMESTAMP '{{ window_start }}' AND created_at < TIMESTAMP '{{ window_end }}'";
    for overlapped in [true, false] {
        let mut plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 7)).expect("plan");
        plan.pipeline.features_sql = without.to_string();
        let err = if overlapped {
            execute(dir.path(), &wh, &mut plan, &loaded)
                .await
                .error
                .expect("refused")
        } else {
            nightshift_pipeline::run_task(&wh, &plan, Task::Features, Some(&loaded))
                .await
                .expect_err("refused")
        };
        assert!(matches!(err, Error::FeaturesShape { .. }), "{err}");
        assert!(err.to_string().contains("`trip_status`"), "{err}");
        assert!(err.to_string().contains("rc@2"), "{err}");
    }
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(trip_status) FROM intermediate.rc_features"
        )
        .await,
        2,
        "the slice keeps its column (t3 has no trip)"
    );
    assert_eq!(
        pairs(
            &wh,
            "SELECT id, subcategory FROM output.rc_predictions ORDER BY id"
        )
        .await,
        before
    );
    // Without a model (`--only features`), the query is the user's to change.
    let mut plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 8)).expect("plan");
    plan.pipeline.features_sql = without.to_string();
    nightshift_pipeline::run_task(&wh, &plan, Task::Features, None)
        .await
        .expect("features alone");
}
