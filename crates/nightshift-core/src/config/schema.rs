//! The project file's schema as plain serde structs.
//!
//! These structs are the single source of truth for which keys exist: the
//! compiler asks serde for each struct's field names ([`fields_of`]) to find
//! unknown keys, and deserialises each key on its own to report every type
//! error, not just the first.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

/// The whole file. The compiler walks sections itself, so outside tests only
/// its field list ([`fields_of`]) is used.
#[allow(dead_code, reason = "read only by the schema tests")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectFile {
    pub(crate) project: ProjectSection,
    pub(crate) engine: Option<EngineSection>,
    #[serde(default)]
    pub(crate) tables: BTreeMap<String, TableSection>,
    #[serde(default)]
    pub(crate) pipelines: BTreeMap<String, PipelineSection>,
    #[serde(default)]
    pub(crate) alerts: BTreeMap<String, AlertSection>,
}

/// `[project]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectSection {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) warehouse: Option<String>,
}

/// `[engine]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineSection {
    pub(crate) url: Option<String>,
    pub(crate) target_partitions: Option<Spanned<usize>>,
    pub(crate) memory_limit_mb: Option<u64>,
}

/// `[tables.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TableSection {
    pub(crate) schema: Option<Spanned<String>>,
    pub(crate) path: Option<String>,
    pub(crate) time_column: Option<Spanned<String>>,
    pub(crate) freshness_sla: Option<Spanned<String>>,
}

/// `[pipelines.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PipelineSection {
    pub(crate) schedule: Option<Spanned<String>>,
    pub(crate) timezone: Option<Spanned<String>>,
    pub(crate) window: Option<Spanned<String>>,
    pub(crate) reads: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) features: Option<Spanned<String>>,
    pub(crate) model: Option<Spanned<String>>,
    pub(crate) id_column: Option<Spanned<String>>,
    pub(crate) text_column: Option<Spanned<String>>,
    pub(crate) max_text_chars: Option<Spanned<usize>>,
    pub(crate) min_rows: Option<Spanned<u64>>,
    pub(crate) retries: Option<Spanned<u32>>,
    pub(crate) retry_delay: Option<Spanned<String>>,
    pub(crate) deadline: Option<Spanned<String>>,
    pub(crate) alerts: Option<Vec<Spanned<String>>>,
    pub(crate) catchup: Option<bool>,
    pub(crate) dimensions: Option<Vec<Spanned<String>>>,
    pub(crate) top_k: Option<Spanned<usize>>,
    pub(crate) wait_for_data: Option<Spanned<String>>,
    pub(crate) min_row_ratio: Option<Spanned<f64>>,
    pub(crate) max_row_ratio: Option<Spanned<f64>>,
    pub(crate) max_null_rate: Option<Spanned<f64>>,
    pub(crate) min_distinct_labels: Option<Spanned<u64>>,
}

/// `[alerts.NAME]`: exactly one of the three keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertSection {
    pub(crate) webhook: Option<Spanned<String>>,
    pub(crate) command: Option<Spanned<CommandLine>>,
    pub(crate) log: Option<bool>,
}

/// `command = ["prog", "arg"]` or `command = "prog arg"` (split on whitespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandLine(pub(crate) Vec<String>);

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = CommandLine;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandLine, E> {
                Ok(CommandLine(
                    v.split_whitespace().map(str::to_string).collect(),
                ))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<CommandLine, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(CommandLine(argv))
            }
        }
        deserializer.deserialize_any(CommandVisitor)
    }
}

/// The serialised field names of struct `T`, as serde's derive declares them.
pub(crate) fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The capturing deserializer always errors after recording the fields.
    let _ = T::deserialize(FieldCapture(&mut fields));
    fields
}

struct FieldCapture<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Captured;

impl fmt::Display for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names captured")
    }
}

impl std::error::Error for Captured {}

impl de::Error for Captured {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Captured
    }
}

impl<'de> Deserializer<'de> for FieldCapture<'_> {
    type Error = Captured;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Captured> {
        Err(Captured)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Captured> {
        *self.0 = fields;
        Err(Captured)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_serde() {
        assert_eq!(
            fields_of::<ProjectFile>(),
            ["project", "engine", "tables", "pipelines", "alerts"]
        );
        assert_eq!(fields_of::<AlertSection>(), ["webhook", "command", "log"]);
        assert_eq!(fields_of::<PipelineSection>().len(), 22);
    }

    /// A document using every key of every section deserialises with
    /// `deny_unknown_fields`, and every key in it is one `fields_of` lists:
    /// the key lists and the schema cannot drift apart.
    #[test]
    fn full_document_matches_field_lists() {
        let text = r#"
            [project]
            name = "p"
            warehouse = "wh"
            [engine]
            url = "http://localhost:50051"
            target_partitions = 8
            memory_limit_mb = 4096
            [tables.t]
            schema = "raw"
            path = "raw/t"
            time_column = "ts"
            freshness_sla = "1d"
            [pipelines.p]
            schedule = "daily at 06:00"
            timezone = "UTC"
            window = "1d"
            reads = ["t"]
            features = "f.sql"
            model = "m@production"
            id_column = "id"
            text_column = "text"
            max_text_chars = 100
            min_rows = 1
            retries = 3
            retry_delay = "1m"
            deadline = "09:00"
            alerts = ["a"]
            catchup = false
            dimensions = ["channel", "city"]
            top_k = 3
            wait_for_data = "6h"
            min_row_ratio = 0.5
            max_row_ratio = 2.0
            max_null_rate = 0.1
            min_distinct_labels = 3
            [alerts.a]
            webhook = "https://example.com/hook"
            command = ["notify", "--loud"]
            log = true
        "#;
        let file: ProjectFile = toml::from_str(text).expect("full document");
        assert_eq!(file.pipelines["p"].catchup, Some(false));
        assert_eq!(
            file.alerts["a"]
                .command
                .as_ref()
                .map(|c| c.get_ref().0.clone()),
            Some(vec!["notify".to_string(), "--loud".to_string()])
        );
        let doc: toml::Table = toml::from_str(text).expect("table");
        let sections: [(&str, &[&str]); 5] = [
            ("project", fields_of::<ProjectSection>()),
            ("engine", fields_of::<EngineSection>()),
            ("tables.t", fields_of::<TableSection>()),
            ("pipelines.p", fields_of::<PipelineSection>()),
            ("alerts.a", fields_of::<AlertSection>()),
        ];
        for (path, fields) in sections {
            let mut table = &doc;
            for part in path.split('.') {
                table = table[part].as_table().expect(part);
            }
            let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
            let mut expected = fields.to_vec();
            keys.sort_unstable();
            expected.sort_unstable();
            assert_eq!(keys, expected, "[{path}] must use every key");
        }
    }

    #[test]
    fn command_line_accepts_string_or_array() {
        let a: AlertSection = toml::from_str("command = \"notify  --loud\"").expect("string");
        assert_eq!(
            a.command.map(|c| c.into_inner().0),
            Some(vec!["notify".to_string(), "--loud".to_string()])
        );
        let err = toml::from_str::<AlertSection>("command = 5").expect_err("int");
        assert!(
            err.message().contains("a string or an array of strings"),
            "{err}"
        );
    }
}
