//! Model references as pipelines and the CLI write them: `root_cause`, `root_cause@3`,
//! `root_cause@production`; and the name rules for models and aliases.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Longest model or alias name accepted (names become directory names).
pub const MAX_NAME_LEN: usize = 64;

/// The alias-like word that always means the highest version.
pub const LATEST: &str = "latest";

/// Which version of a model a reference means.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// The highest registered version (`root_cause` or `root_cause@latest`).
    Latest,
    /// One fixed version (`root_cause@3`).
    Version(u32),
    /// Whatever version the alias points at when resolved (`root_cause@production`).
    Alias(String),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Latest => f.write_str(LATEST),
            Selector::Version(v) => write!(f, "{v}"),
            Selector::Alias(a) => f.write_str(a),
        }
    }
}

/// A reference to a model version, resolved by [`crate::Registry::resolve`].
///
/// Serialises as its string form (`root_cause@production`), so it can be read straight
/// from a pipeline's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    /// The model's name.
    pub name: String,
    /// Which of its versions.
    pub selector: Selector,
}

impl ModelRef {
    /// The latest version of `name` (the name is not validated).
    pub fn latest(name: impl Into<String>) -> ModelRef {
        ModelRef {
            name: name.into(),
            selector: Selector::Latest,
        }
    }

    /// Version `version` of `name` (the name is not validated).
    pub fn version(name: impl Into<String>, version: u32) -> ModelRef {
        ModelRef {
            name: name.into(),
            selector: Selector::Version(version),
        }
    }

    /// The version `alias` of `name` points at (names are not validated).
    pub fn alias(name: impl Into<String>, alias: impl Into<String>) -> ModelRef {
        ModelRef {
            name: name.into(),
            selector: Selector::Alias(alias.into()),
        }
    }
}

impl FromStr for ModelRef {
    type Err = Error;

    /// Parses `NAME`, `NAME@VERSION` or `NAME@ALIAS`; surrounding whitespace is ignored.
    fn from_str(input: &str) -> Result<ModelRef> {
        let invalid = |reason: String| Error::InvalidModelRef {
            input: input.to_string(),
            reason,
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(invalid("it is empty".into()));
        }
        let (name, selector) = match text.split_once('@') {
            None => (text, None),
            Some((name, selector)) => (name, Some(selector)),
        };
        if name.is_empty() {
            return Err(invalid("the model name before `@` is missing".into()));
        }
        if let Err(reason) = name_problem(name) {
            return Err(invalid(format!("model name `{name}` {reason}")));
        }
        let selector = match selector {
            None => Selector::Latest,
            Some("") => {
                return Err(invalid(
                    "nothing follows `@`; give a version number or an alias".into(),
                ));
            }
            Some(LATEST) => Selector::Latest,
            Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => match s.parse::<u32>() {
                Ok(0) => return Err(invalid("versions start at 1".into())),
                Ok(v) => Selector::Version(v),
                Err(_) => return Err(invalid(format!("version `{s}` is too large"))),
            },
            Some(s)
                if s.len() > 1
                    && s.starts_with('-')
                    && s[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                return Err(invalid("versions start at 1".into()));
            }
            Some(s) => {
                if let Err(reason) = name_problem(s) {
                    return Err(invalid(format!("alias `{s}` {reason}")));
                }
                Selector::Alias(s.to_string())
            }
        };
        Ok(ModelRef {
            name: name.to_string(),
            selector,
        })
    }
}

impl fmt::Display for ModelRef {
    /// The canonical string form: `NAME` for the latest version, else `NAME@SELECTOR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::Latest => f.write_str(&self.name),
            other => write!(f, "{}@{other}", self.name),
        }
    }
}

impl serde::Serialize for ModelRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ModelRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<ModelRef, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a model name against `[a-z_][a-z0-9_-]*` (at most [`MAX_NAME_LEN`] characters).
pub fn validate_model_name(name: &str) -> Result<()> {
    name_problem(name).map_err(|reason| Error::InvalidName {
        what: "model name",
        input: name.to_string(),
        reason,
    })
}

/// Checks an alias name: the model-name rules, and not `latest` (numbers cannot match
/// the pattern, and are reported as reserved too).
pub fn validate_alias(alias: &str) -> Result<()> {
    if alias == LATEST || (!alias.is_empty() && alias.bytes().all(|b| b.is_ascii_digit())) {
        return Err(Error::ReservedAlias {
            alias: alias.to_string(),
        });
    }
    name_problem(alias).map_err(|reason| Error::InvalidName {
        what: "alias",
        input: alias.to_string(),
        reason,
    })
}

/// Why `name` is not a valid model or alias name, completing "name `x` ...".
fn name_problem(name: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("is empty".into());
    };
    if !(first.is_ascii_lowercase() || first == '_') {
        return Err(format!(
            "starts with `{first}`; it must start with a lowercase letter or `_`"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(format!("contains `{bad}`"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(validate_model_name("root_cause").is_ok());
        assert!(validate_model_name("_x-2").is_ok());
        assert!(validate_model_name("Root").is_err());
        assert!(validate_model_name("2x").is_err());
        assert!(validate_model_name("a.b").is_err());
        assert!(validate_model_name(&"a".repeat(65)).is_err());
        assert!(validate_model_name(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn versions_start_at_1() {
        for bad in ["m@0", "m@-1", "m@-12"] {
            let err = bad.parse::<ModelRef>().expect_err(bad);
            assert!(
                err.to_string().contains("versions start at 1"),
                "{bad}: {err}"
            );
        }
        assert!("m@-x".parse::<ModelRef>().is_err());
    }

    #[test]
    fn serde_uses_the_string_form() {
        let r: ModelRef = serde_json::from_str("\"root_cause@production\"").expect("parse");
        assert_eq!(r, ModelRef::alias("root_cause", "production"));
        assert_eq!(
            serde_json::to_string(&r).expect("ser"),
            "\"root_cause@production\""
        );
        assert!(serde_json::from_str::<ModelRef>("\"Bad@x\"").is_err());
    }
}
