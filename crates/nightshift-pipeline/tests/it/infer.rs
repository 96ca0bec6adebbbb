use std::str::FromStr;

use nightshift_models::TrainConfig;
use nightshift_pipeline::model::{self, Columns, LabelledRows};
use nightshift_pipeline::{RunPlan, features, infer, publish};
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
    let columns = Columns {
        text: "text".into(),
        label: "label".into(),
        parent: None,
        extras: vec![],
    };
    for word in ["one", "two"] {
        model::train_model(
            &registry,
            "rc",
            &training_rows(word),
            &columns,
            "test",
            &TrainConfig::default(),
            at(22, 0),
        )
        .expect("train");
    }
    let plan = RunPlan::new(&project, "rc", at(22, 0), at(22, 6)).expect("plan");
    features(&wh, &plan).await.expect("features");

    for version in ["rc@1", "rc@2", "rc@1"] {
        let loaded =
            model::load_model(&registry, &ModelRef::from_str(version).expect("ref")).expect("load");
        let report = infer(&wh, &plan, &loaded).await.expect("infer");
        assert_eq!(report.rows, 3);
        publish(&wh, &plan, loaded.version.version)
            .await
            .expect("publish");
    }
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM output.rc_predictions").await,
        6,
        "3 rows x 2 versions"
    );
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM output.rc_predictions WHERE model_version = 1"
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
    let columns = Columns {
        text: "text".into(),
        label: "label".into(),
        parent: None,
        extras: vec![],
    };
    model::train_model(
        &registry,
        "rc",
        &training_rows("x"),
        &columns,
        "test",
        &TrainConfig::default(),
        at(22, 0),
    )
    .expect("train");
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
