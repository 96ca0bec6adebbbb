//! SQL templating: `{{ window_start }}`, `{{ window_end }}`, `{{ ds }}`, `{{ logical_date }}`.
//!
//! Deliberately tiny: no expressions, filters or escapes, only variable
//! substitution, so a feature query stays readable SQL.

use chrono::{DateTime, Utc};

use crate::{Error, Window};

/// Names of all variables a template may use.
pub const TEMPLATE_VARIABLES: &[&str] = &["window_start", "window_end", "ds", "logical_date"];

/// Format of timestamps in rendered SQL; usable as `TIMESTAMP '...'`.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Values substituted into a template for one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateVars {
    /// Start of the run's window (inclusive).
    pub window_start: DateTime<Utc>,
    /// End of the run's window (exclusive).
    pub window_end: DateTime<Utc>,
    /// Partition key of the window, see [`Window::ds`].
    pub ds: String,
    /// The run's logical date.
    pub logical_date: DateTime<Utc>,
}

impl TemplateVars {
    /// Variables for a run of `window` at logical date `logical`.
    pub fn new(window: &Window, logical: DateTime<Utc>) -> Self {
        TemplateVars {
            window_start: window.start,
            window_end: window.end,
            ds: window.ds(),
            logical_date: logical,
        }
    }

    /// The rendered value of variable `name`, or `None` if there is no such variable.
    pub fn get(&self, name: &str) -> Option<String> {
        let ts = |t: &DateTime<Utc>| t.format(TIMESTAMP_FORMAT).to_string();
        match name {
            "window_start" => Some(ts(&self.window_start)),
            "window_end" => Some(ts(&self.window_end)),
            "ds" => Some(self.ds.clone()),
            "logical_date" => Some(ts(&self.logical_date)),
            _ => None,
        }
    }
}

/// One `{{ ... }}` occurrence: the trimmed name, where the `{{` starts and where the `}}` ends.
struct Placeholder<'a> {
    name: &'a str,
    start: usize,
    end: usize,
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn placeholders(sql: &str) -> Result<Vec<Placeholder<'_>>, Error> {
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(rel) = sql[pos..].find("{{") {
        let start = pos + rel;
        let inner_start = start + 2;
        let Some(close_rel) = sql[inner_start..].find("}}") else {
            return Err(Error::UnclosedTemplate { offset: start });
        };
        let inner = &sql[inner_start..inner_start + close_rel];
        if inner.contains("{{") {
            return Err(Error::UnclosedTemplate { offset: start });
        }
        let name = inner.trim();
        if !is_identifier(name) {
            return Err(Error::InvalidTemplateExpression {
                text: inner.to_string(),
                offset: start,
            });
        }
        let end = inner_start + close_rel + 2;
        found.push(Placeholder { name, start, end });
        pos = end;
    }
    Ok(found)
}

/// Every `{{ name }}` in `sql`, in order, with the byte offset of its `{{`.
///
/// Names are not checked against [`TEMPLATE_VARIABLES`] (callers do that to
/// report positions); malformed placeholders are errors.
pub fn variables(sql: &str) -> Result<Vec<(String, usize)>, Error> {
    Ok(placeholders(sql)?
        .into_iter()
        .map(|p| (p.name.to_string(), p.start))
        .collect())
}

/// Replaces each `{{ name }}` (whitespace inside the braces optional) with its value.
///
/// `window_start`, `window_end` and `logical_date` render as
/// `YYYY-MM-DD HH:MM:SS` (UTC, usable as `TIMESTAMP '...'`), `ds` as itself.
/// An unknown variable or an unclosed `{{` is an error.
pub fn render(sql: &str, vars: &TemplateVars) -> Result<String, Error> {
    let mut out = String::with_capacity(sql.len());
    let mut pos = 0;
    for p in placeholders(sql)? {
        let value = vars
            .get(p.name)
            .ok_or_else(|| Error::UnknownTemplateVariable {
                name: p.name.to_string(),
                offset: p.start,
            })?;
        out.push_str(&sql[pos..p.start]);
        out.push_str(&value);
        pos = p.end;
    }
    out.push_str(&sql[pos..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Duration, parse_logical_date};

    fn vars() -> TemplateVars {
        let logical = parse_logical_date("2026-11-22T06:00:00Z").expect("date");
        let w =
            Window::for_logical_date(logical, Duration::DAY, Duration::from_seconds(2 * 86_400));
        TemplateVars::new(&w, logical)
    }

    #[test]
    fn renders_all_variables() {
        let sql = "SELECT * FROM raw.t WHERE ts >= TIMESTAMP '{{ window_start }}' \
                   AND ts < TIMESTAMP '{{window_end}}' -- {{  ds  }} @ {{logical_date }}";
        let out = render(sql, &vars()).expect("render");
        assert_eq!(
            out,
            "SELECT * FROM raw.t WHERE ts >= TIMESTAMP '2026-11-19 00:00:00' \
             AND ts < TIMESTAMP '2026-11-20 00:00:00' -- 2026-11-19 @ 2026-11-22 06:00:00"
        );
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        let sql = "SELECT '{' , '}' , '}}' FROM t";
        assert_eq!(render(sql, &vars()).expect("render"), sql);
        assert!(variables(sql).expect("vars").is_empty());
    }

    #[test]
    fn unknown_variable_is_an_error() {
        let err = render("SELECT 1\nWHERE d = '{{ nme }}'", &vars()).unwrap_err();
        match &err {
            Error::UnknownTemplateVariable { name, offset } => {
                assert_eq!(name, "nme");
                assert_eq!(*offset, 20);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string()
                .contains("window_start, window_end, ds, logical_date")
        );
    }

    #[test]
    fn unclosed_braces_are_an_error() {
        let err = render("SELECT '{{ ds '", &vars()).unwrap_err();
        assert!(
            matches!(err, Error::UnclosedTemplate { offset: 8 }),
            "{err:?}"
        );
        let err = variables("{{ ds {{ window_end }}").unwrap_err();
        assert!(
            matches!(err, Error::UnclosedTemplate { offset: 0 }),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "unclosed `{{` at byte 0: expected `}}`");
    }

    #[test]
    fn invalid_expression_is_an_error() {
        let err = variables("x {{ ds | upper }}").unwrap_err();
        assert!(
            matches!(err, Error::InvalidTemplateExpression { offset: 2, .. }),
            "{err:?}"
        );
        assert!(variables("{{}}").is_err());
    }

    #[test]
    fn lists_variables_with_offsets() {
        let found = variables("a {{ds}} b {{ window_end }}\n{{x}}").expect("vars");
        assert_eq!(
            found,
            vec![
                ("ds".to_string(), 2),
                ("window_end".to_string(), 11),
                ("x".to_string(), 28),
            ]
        );
    }
}
