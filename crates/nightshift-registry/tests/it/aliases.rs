use std::collections::BTreeMap;

use nightshift_registry::{AliasMove, Error, ModelRef};

use crate::{Project, at, register};

#[test]
fn resolve_latest_version_and_alias() {
    let p = Project::new();
    let reg = p.open();
    register(&reg, "root_cause", b"one", at(6, 0));
    register(&reg, "root_cause", b"two", at(7, 0));

    let latest = reg
        .resolve(&"root_cause".parse().expect("ref"))
        .expect("latest");
    assert_eq!(latest.version, 2);
    let first = reg
        .resolve(&"root_cause@1".parse().expect("ref"))
        .expect("@1");
    assert_eq!((first.version, first.created_at), (1, at(6, 0)));

    reg.set_alias("root_cause", "production", 1, "ana", None, at(8, 0))
        .expect("alias");
    let prod: ModelRef = "root_cause@production".parse().expect("ref");
    assert_eq!(reg.resolve(&prod).expect("@production").version, 1);
    assert_eq!(
        reg.resolve(&prod).expect("@production").dir,
        p.models.join("root_cause").join("1")
    );
    reg.set_alias("root_cause", "production", 2, "ana", None, at(9, 0))
        .expect("move");
    assert_eq!(reg.resolve(&prod).expect("@production").version, 2);
}

#[test]
fn unknown_names_versions_and_aliases_list_what_exists() {
    let p = Project::new();
    let reg = p.open();

    let err = reg
        .resolve(&ModelRef::latest("root_cause"))
        .expect_err("empty");
    assert!(matches!(err, Error::UnknownModel { .. }), "{err:?}");
    assert_eq!(
        err.hint().as_deref(),
        Some("the registry is empty; train a model with `nightshift models train NAME ...`")
    );

    register(&reg, "root_cause", b"one", at(6, 0));
    register(&reg, "root_cause", b"two", at(7, 0));
    register(&reg, "churn", b"c", at(7, 0));
    reg.set_alias("root_cause", "production", 1, "ana", None, at(8, 0))
        .expect("alias");
    reg.set_alias("root_cause", "staging", 2, "ana", None, at(8, 0))
        .expect("alias");

    let err = reg
        .resolve(&"root_cause@prod".parse().expect("ref"))
        .expect_err("unknown alias");
    assert_eq!(err.to_string(), "model `root_cause` has no alias `prod`");
    assert_eq!(
        err.hint().as_deref(),
        Some(
            "aliases of `root_cause`: production -> 1, staging -> 2; set one with `nightshift models alias root_cause ALIAS VERSION`"
        )
    );

    let err = reg
        .resolve(&"churn@production".parse().expect("ref"))
        .expect_err("no aliases");
    assert!(
        err.hint()
            .expect("hint")
            .starts_with("`churn` has no aliases yet"),
        "{:?}",
        err.hint()
    );

    let err = reg
        .resolve(&"root_cause@7".parse().expect("ref"))
        .expect_err("unknown version");
    assert_eq!(err.to_string(), "model `root_cause` has no version 7");
    assert_eq!(
        err.hint().as_deref(),
        Some("versions of `root_cause`: 1-2; `nightshift models show root_cause` lists them")
    );

    let err = reg
        .resolve(&"root_caus@production".parse().expect("ref"))
        .expect_err("unknown model");
    assert_eq!(
        err.to_string(),
        "no model named `root_caus` in the registry"
    );
    assert_eq!(
        err.hint().as_deref(),
        Some(
            "registered models: churn, root_cause; train a new one with `nightshift models train NAME ...`"
        )
    );
    assert!(matches!(
        reg.versions("nope"),
        Err(Error::UnknownModel { .. })
    ));
    assert!(matches!(
        reg.aliases("nope"),
        Err(Error::UnknownModel { .. })
    ));
    assert!(matches!(
        reg.alias_history("nope"),
        Err(Error::UnknownModel { .. })
    ));
}

#[test]
fn alias_moves_are_recorded_in_order_and_no_ops_are_not() {
    let p = Project::new();
    let reg = p.open();
    for (i, w) in [b"a", b"b", b"c"].iter().enumerate() {
        let v = register(&reg, "root_cause", *w, at(6, i as u32));
        assert_eq!(v.version, i as u32 + 1);
    }

    let created = reg
        .set_alias(
            "root_cause",
            "production",
            1,
            "ana",
            Some("first release"),
            at(8, 0),
        )
        .expect("create");
    assert_eq!(
        created,
        AliasMove {
            name: "root_cause".into(),
            alias: "production".into(),
            from_version: None,
            to_version: Some(1),
            at: at(8, 0),
            actor: "ana".into(),
            reason: Some("first release".into()),
            changed: true,
        }
    );
    reg.set_alias(
        "root_cause",
        "production",
        3,
        "bo",
        Some("better recall"),
        at(9, 0),
    )
    .expect("move");
    reg.set_alias("root_cause", "staging", 3, "ci", None, at(9, 30))
        .expect("staging");

    // Setting it to where it already points changes and records nothing.
    let same = reg
        .set_alias(
            "root_cause",
            "production",
            3,
            "dee",
            Some("again"),
            at(10, 0),
        )
        .expect("no-op");
    assert!(!same.changed);
    assert_eq!((same.from_version, same.to_version), (Some(3), Some(3)));

    reg.set_alias(
        "root_cause",
        "production",
        2,
        "bo",
        Some("rollback: v3 mislabels refunds"),
        at(11, 0),
    )
    .expect("rollback");

    // Staging is removed: `root_cause@staging` resolves to nothing again, and the history
    // says so; an alias that is not there cannot be removed.
    let removed = reg
        .remove_alias("root_cause", "staging", "ci", Some("trial over"), at(12, 0))
        .expect("remove");
    assert_eq!((removed.from_version, removed.to_version), (Some(3), None));
    assert!(matches!(
        reg.resolve(&"root_cause@staging".parse().expect("ref")),
        Err(Error::UnknownAlias { .. })
    ));
    assert!(matches!(
        reg.remove_alias("root_cause", "staging", "ci", None, at(12, 1)),
        Err(Error::UnknownAlias { .. })
    ));

    let history = reg.alias_history("root_cause").expect("history");
    let rows: Vec<_> = history
        .iter()
        .map(|m| {
            assert!(m.changed);
            assert_eq!(m.name, "root_cause");
            (
                m.alias.as_str(),
                m.from_version,
                m.to_version,
                m.actor.as_str(),
                m.reason.as_deref(),
                m.at,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "production",
                None,
                Some(1),
                "ana",
                Some("first release"),
                at(8, 0)
            ),
            (
                "production",
                Some(1),
                Some(3),
                "bo",
                Some("better recall"),
                at(9, 0)
            ),
            ("staging", None, Some(3), "ci", None, at(9, 30)),
            (
                "production",
                Some(3),
                Some(2),
                "bo",
                Some("rollback: v3 mislabels refunds"),
                at(11, 0)
            ),
            (
                "staging",
                Some(3),
                None,
                "ci",
                Some("trial over"),
                at(12, 0)
            ),
        ]
    );
    assert_eq!(
        reg.aliases("root_cause").expect("aliases"),
        BTreeMap::from([("production".to_string(), 2)])
    );
    let list = reg.list().expect("list");
    assert_eq!(list[0].aliases, reg.aliases("root_cause").expect("aliases"));
}

#[test]
fn reserved_and_invalid_alias_names_and_missing_versions_are_rejected() {
    let p = Project::new();
    let reg = p.open();
    register(&reg, "root_cause", b"a", at(6, 0));

    for alias in ["latest", "3", "007"] {
        let err = reg
            .set_alias("root_cause", alias, 1, "ana", None, at(8, 0))
            .expect_err(alias);
        assert!(
            matches!(&err, Error::ReservedAlias { alias: a } if a == alias),
            "{err:?}"
        );
        assert!(err.to_string().contains("reserved"));
        assert!(err.hint().is_some());
    }
    for alias in ["Prod", "", "pro duction", "a@b"] {
        let err = reg
            .set_alias("root_cause", alias, 1, "ana", None, at(8, 0))
            .expect_err(alias);
        assert!(
            matches!(err, Error::InvalidName { what: "alias", .. }),
            "{err:?}"
        );
    }
    let err = reg
        .set_alias("root_cause", "production", 2, "ana", None, at(8, 0))
        .expect_err("missing version");
    assert!(
        matches!(err, Error::UnknownVersion { version: 2, .. }),
        "{err:?}"
    );
    let err = reg
        .set_alias("nope", "production", 1, "ana", None, at(8, 0))
        .expect_err("missing model");
    assert!(matches!(err, Error::UnknownModel { .. }), "{err:?}");
    assert!(reg.alias_history("root_cause").expect("history").is_empty());
    assert!(reg.aliases("root_cause").expect("aliases").is_empty());
}
