use chrono::{TimeZone, Utc};
use nightshift_registry::{
    Bundle, Error, FORMAT_VERSION, FileEntry, MANIFEST_FILE, Manifest, ModelRef, sha256_hex,
};

use crate::{Project, at, entries, new_model, register};

#[test]
fn two_versions_get_1_and_2_with_their_own_bundles() {
    let p = Project::new();
    let reg = p.open();
    let v1 = register(&reg, "root_cause", b"weights one", at(6, 0));
    let v2 = register(&reg, "root_cause", b"weights two!", at(7, 30));

    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v1.dir, p.models.join("root_cause").join("1"));
    assert_eq!(v2.dir, p.models.join("root_cause").join("2"));
    assert_eq!(v1.created_at, at(6, 0));
    assert_eq!(v2.created_at, at(7, 30));
    assert_eq!(v2.kind, "nightshift-text-linear");
    assert_eq!(v2.training_rows, 12);
    assert_eq!(v2.fingerprint, format!("{:064x}", 12));
    assert_eq!(v2.code_version, "0.1.0");
    assert_eq!(v2.metrics, serde_json::json!({"train_accuracy": 0.91}));
    assert_eq!(
        entries(&v2.dir),
        ["manifest.json", "vocab.txt", "weights.bin"]
    );

    // The manifest on disk is exactly what was registered.
    let text = std::fs::read(v2.dir.join(MANIFEST_FILE)).expect("manifest");
    assert_eq!(v2.manifest_sha256, sha256_hex(&text));
    let m: Manifest = serde_json::from_slice(&text).expect("parse manifest");
    assert_eq!(m.format_version, FORMAT_VERSION);
    assert_eq!((m.name.as_str(), m.version), ("root_cause", 2));
    assert_eq!(m.created_at, at(7, 30));
    assert_eq!(m.labels, ["billing", "login", "shipping"]);
    assert_eq!(m.training_data.rows, 12);
    assert_eq!(
        m.training_data.source,
        "SELECT text, label FROM raw.contacts"
    );
    assert_eq!(m.hyperparameters["epochs"], 5);
    assert_eq!(m.input_schema.text_column, "text");
    assert_eq!(m.files.len(), 2);
    assert_eq!(
        m.files["weights.bin"],
        FileEntry {
            bytes: 12,
            sha256: sha256_hex(b"weights two!")
        }
    );
    assert_eq!(
        m.files["vocab.txt"],
        FileEntry {
            bytes: 4,
            sha256: sha256_hex(b"a\nb\n")
        }
    );

    // Each bundle opens verified and returns its own bytes.
    let b1 = reg.open_bundle(&v1).expect("open v1");
    assert_eq!(b1.manifest.version, 1);
    assert_eq!(b1.read_file("weights.bin").expect("read"), b"weights one");
    let b2 = Bundle::open(&v2.dir).expect("open v2");
    assert_eq!(b2.manifest, m);
    assert_eq!(b2.read_file("weights.bin").expect("read"), b"weights two!");

    // Another model numbers from 1; the index lists both.
    let other = register(&reg, "churn", b"w", at(8, 0));
    assert_eq!(other.version, 1);
    assert_eq!(
        reg.versions("root_cause")
            .expect("versions")
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    let list = reg.list().expect("list");
    let summary: Vec<(&str, u32, u32)> = list
        .iter()
        .map(|s| (s.name.as_str(), s.latest.version, s.versions))
        .collect();
    assert_eq!(summary, [("churn", 1, 1), ("root_cause", 2, 2)]);
    // Nothing left in the staging area.
    assert_eq!(entries(&p.models.join(".staging")), [".gitignore", ".lock"]);
}

#[test]
fn the_index_survives_reopening_with_exact_timestamps() {
    let p = Project::new();
    let precise = Utc
        .timestamp_opt(1_795_000_000, 123_456_789)
        .single()
        .expect("time");
    let v1 = register(&p.open(), "root_cause", b"w", precise);
    let reopened = p.open();
    let again = reopened
        .resolve(&ModelRef::latest("root_cause"))
        .expect("resolve");
    assert_eq!(again, v1);
    assert_eq!(again.created_at, precise);
    assert!(reopened.recovery().adopted.is_empty());
}

#[test]
fn bad_files_are_rejected_before_anything_is_written() {
    let p = Project::new();
    let reg = p.open();
    let cases: [&[(&str, &[u8])]; 4] = [
        &[("../escape.bin", b"x")],
        &[("manifest.json", b"{}")],
        &[("weights.bin", b"x"), ("weights.bin", b"y")],
        &[(".hidden", b"x")],
    ];
    for files in cases {
        let err = reg
            .register(new_model("root_cause", 1), files, at(6, 0))
            .expect_err("accepted");
        assert!(
            matches!(
                err,
                Error::InvalidFileName { .. } | Error::DuplicateFile { .. }
            ),
            "{err:?}"
        );
        assert!(err.hint().is_some());
    }
    let err = reg
        .register(new_model("Root", 1), &[], at(6, 0))
        .expect_err("bad name accepted");
    assert!(
        matches!(
            err,
            Error::InvalidName {
                what: "model name",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(reg.list().expect("list").is_empty());
    assert!(!p.models.join("root_cause").exists());
}

#[test]
fn a_version_without_extra_files_holds_only_its_manifest() {
    let p = Project::new();
    let reg = p.open();
    let v = reg
        .register(new_model("onnx_model", 0), &[], at(6, 0))
        .expect("register");
    assert_eq!(entries(&v.dir), ["manifest.json"]);
    assert!(reg.open_bundle(&v).expect("open").manifest.files.is_empty());
}

#[test]
fn metrics_recorded_later_live_in_the_index_not_the_bundle() {
    let p = Project::new();
    let reg = p.open();
    let v = register(&reg, "root_cause", b"w", at(6, 0));
    reg.update_metrics(
        "root_cause",
        1,
        "eval_2026_11",
        serde_json::json!({"accuracy": 0.87, "rows": 5000}),
        at(9, 0),
    )
    .expect("update");
    reg.update_metrics(
        "root_cause",
        1,
        "train_accuracy",
        serde_json::json!(0.93),
        at(9, 5),
    )
    .expect("overwrite");
    let after = reg
        .resolve(&ModelRef::version("root_cause", 1))
        .expect("resolve");
    assert_eq!(
        after.metrics,
        serde_json::json!({"train_accuracy": 0.93, "eval_2026_11": {"accuracy": 0.87, "rows": 5000}})
    );
    // The bundle is untouched and still matches the index.
    let bundle = reg.open_bundle(&after).expect("open");
    assert_eq!(bundle.manifest_sha256, v.manifest_sha256);
    assert_eq!(
        bundle.manifest.metrics,
        serde_json::json!({"train_accuracy": 0.91})
    );

    let err = reg
        .update_metrics("root_cause", 9, "x", serde_json::json!(1), at(9, 0))
        .expect_err("unknown version");
    assert!(
        matches!(err, Error::UnknownVersion { version: 9, .. }),
        "{err:?}"
    );
    let err = reg
        .update_metrics("root_cause", 1, " ", serde_json::json!(1), at(9, 0))
        .expect_err("empty key");
    assert!(matches!(err, Error::InvalidMetricsKey { .. }), "{err:?}");
}

#[test]
fn a_version_registered_with_an_alias_gets_both_in_one_step_or_neither() {
    let p = Project::new();
    let reg = p.open();
    let request = |alias| nightshift_registry::AliasRequest {
        alias,
        actor: "ci",
        reason: Some("train --alias"),
    };
    // A reserved alias is refused before anything is written: no version without its alias.
    let err = reg
        .register_with_alias(
            new_model("root_cause", 1),
            &[("weights.bin", b"w")],
            at(6, 0),
            Some(request("latest")),
        )
        .expect_err("reserved");
    assert!(matches!(err, Error::ReservedAlias { .. }), "{err:?}");
    assert!(reg.list().expect("list").is_empty());
    assert!(!reg.version_dir("root_cause", 1).exists());

    let (v1, moved) = reg
        .register_with_alias(
            new_model("root_cause", 1),
            &[("weights.bin", b"w")],
            at(6, 0),
            Some(request("production")),
        )
        .expect("register");
    assert_eq!(v1.version, 1);
    let moved = moved.expect("moved");
    assert_eq!((moved.from_version, moved.to_version), (None, Some(1)));
    assert_eq!(reg.aliases("root_cause").expect("aliases")["production"], 1);
    let history = reg.alias_history("root_cause").expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].actor, "ci");
}
