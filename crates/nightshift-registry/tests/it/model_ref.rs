use nightshift_registry::{Error, ModelRef, Selector};

fn parse(s: &str) -> ModelRef {
    s.parse().unwrap_or_else(|e| panic!("{s:?} rejected: {e}"))
}

#[test]
fn parses_the_three_forms() {
    assert_eq!(
        parse("root_cause"),
        ModelRef {
            name: "root_cause".into(),
            selector: Selector::Latest
        }
    );
    assert_eq!(parse("root_cause@3"), ModelRef::version("root_cause", 3));
    assert_eq!(
        parse("root_cause@production"),
        ModelRef::alias("root_cause", "production")
    );
    assert_eq!(parse("root_cause@latest"), ModelRef::latest("root_cause"));
    assert_eq!(parse("  churn-v2@2 "), ModelRef::version("churn-v2", 2));
    assert_eq!(parse("_x@_y"), ModelRef::alias("_x", "_y"));
    assert_eq!(parse("m@007"), ModelRef::version("m", 7));
}

#[test]
fn display_is_the_canonical_form() {
    for s in ["root_cause", "root_cause@3", "root_cause@production"] {
        assert_eq!(parse(s).to_string(), s);
    }
    assert_eq!(parse("root_cause@latest").to_string(), "root_cause");
}

#[test]
fn rejects_invalid_references_saying_why() {
    let cases = [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("@3", "model name before `@` is missing"),
        ("root_cause@", "nothing follows `@`"),
        ("Root_cause", "starts with `R`"),
        ("9lives", "starts with `9`"),
        ("root cause", "contains ` `"),
        ("root.cause@1", "contains `.`"),
        ("root_cause@0", "versions start at 1"),
        ("root_cause@4294967296", "version `4294967296` is too large"),
        ("root_cause@Prod", "alias `Prod` starts with `P`"),
        ("root_cause@prod@2", "alias `prod@2` contains `@`"),
    ];
    for (input, reason) in cases {
        let err = input
            .parse::<ModelRef>()
            .expect_err(&format!("{input:?} accepted"));
        let msg = err.to_string();
        assert!(
            matches!(err, Error::InvalidModelRef { .. }),
            "{input:?}: {err:?}"
        );
        assert!(msg.contains(reason), "{input:?}: {msg}");
        assert!(
            msg.contains("`NAME`, `NAME@VERSION` or `NAME@ALIAS`"),
            "{input:?}: {msg}"
        );
        assert!(err.hint().is_some());
    }
}
