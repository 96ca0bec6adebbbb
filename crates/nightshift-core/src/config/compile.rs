//! Turning the text of `nightshift.toml` into a [`Project`], collecting every problem.
//!
//! The document is parsed once into a spanned tree (`toml::de::DeTable`). Each
//! section is checked key by key against its serde struct in [`super::schema`]:
//! unknown keys and type errors become diagnostics without stopping the walk.
//! The surviving keys are then deserialised into the struct, and cross-checks
//! (durations, schedules, table and alert references, SQL files) run on those.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diagnostic::{closest, suggestion};
use super::schema::{
    AlertSection, EngineSection, PipelineSection, ProjectFile, ProjectSection, TableSection,
    fields_of,
};
use super::{AlertSink, ConfigErrors, Diagnostic, EngineSpec, PipelineSpec, Project, TableSpec};
use crate::duration::DURATION_HINT;
use crate::schedule::{SCHEDULE_HINT, parse_time_of_day};
use crate::template::TEMPLATE_VARIABLES;
use crate::timezone::{TIMEZONE_HINT, parse_timezone};
use crate::{Duration, Error, Schedule};

/// Hint for names that must be SQL identifiers.
const NAME_HINT: &str = "names become SQL identifiers: use lowercase letters, digits and `_`, not starting with a digit";

/// The most task retries a pipeline may ask for (`retries`).
const MAX_RETRIES: u32 = 20;

/// Drops `.` components so `./nightshift.toml` displays as `nightshift.toml`.
pub(crate) fn tidy(path: PathBuf) -> PathBuf {
    let tidied: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if tidied.as_os_str().is_empty() {
        path
    } else {
        tidied
    }
}

/// Whether `s` matches `[a-z_][a-z0-9_]*`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn identifier_hint(name: &str) -> String {
    let mut fixed: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if fixed.starts_with(|c: char| c.is_ascii_digit()) {
        fixed.insert(0, '_');
    }
    if is_identifier(&fixed) {
        format!("{NAME_HINT}, e.g. `{fixed}`")
    } else {
        NAME_HINT.to_string()
    }
}

/// A section after key checking: its deserialised value and where it is.
struct Section<T> {
    value: T,
    /// Span of the header (or inline table) to point at for missing keys.
    span: Range<usize>,
    /// Known keys that an unknown key was taken to be a typo of.
    suggested: BTreeSet<&'static str>,
    label: String,
}

struct Compiler<'a> {
    file: &'a Path,
    text: &'a str,
    root: &'a Path,
    diagnostics: Vec<Diagnostic>,
}

impl Compiler<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) {
        self.diagnostics.push(Diagnostic::at_offset(
            self.file, self.text, span.start, message, hint,
        ));
    }

    fn finish(mut self) -> ConfigErrors {
        let main = self.file.to_path_buf();
        self.diagnostics
            .sort_by_key(|d| (d.file != main, d.file.clone(), d.line, d.column));
        ConfigErrors {
            file: main,
            diagnostics: self.diagnostics,
        }
    }

    /// Checks every key of `table` against `T`'s fields and types, reporting each
    /// problem, and deserialises the keys that passed.
    fn section<T: DeserializeOwned + Default>(
        &mut self,
        label: String,
        value: &Spanned<DeValue<'_>>,
    ) -> Section<T> {
        let span = value.span();
        let mut section = Section {
            value: T::default(),
            span: span.clone(),
            suggested: BTreeSet::new(),
            label,
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.error(
                span,
                format!(
                    "{} must be a table, found {}",
                    section.label,
                    value.get_ref().type_str()
                ),
                None,
            );
            return section;
        };
        let fields = fields_of::<T>();
        let mut accepted = DeTable::new();
        for (key, item) in table.iter() {
            let name = key.get_ref().as_ref();
            if !fields.contains(&name) {
                if let Some(c) = closest(name, fields.iter().copied()) {
                    section.suggested.insert(c);
                }
                let hint = suggestion(name, fields.iter().copied(), "valid keys");
                self.error(
                    key.span(),
                    format!("unknown key `{name}` in {}", section.label),
                    Some(hint),
                );
                continue;
            }
            let mut single = DeTable::new();
            single.insert(key.clone(), item.clone());
            match deserialize::<T>(single, span.clone()) {
                Ok(_) => {
                    accepted.insert(key.clone(), item.clone());
                }
                Err(e) => {
                    // Reported here: not also as a missing required key.
                    if let Some(field) = fields.iter().find(|f| **f == name) {
                        section.suggested.insert(field);
                    }
                    let at = e.span().unwrap_or_else(|| item.span());
                    let message = e.message();
                    self.error(
                        at,
                        format!("wrong type for `{name}` in {}: {message}", section.label),
                        type_hint(name, message),
                    );
                }
            }
        }
        match deserialize::<T>(accepted, span.clone()) {
            Ok(v) => section.value = v,
            Err(e) => self.error(
                e.span().unwrap_or(span),
                format!("in {}: {}", section.label, e.message()),
                None,
            ),
        }
        section
    }

    /// Reports `key` missing from `section` unless an unknown key there was taken as its typo
    /// (or the key is there with a value of the wrong type, already reported).
    fn require<T, V>(
        &mut self,
        section: &Section<T>,
        key: &'static str,
        value: Option<V>,
        example: &str,
    ) -> Option<V> {
        if value.is_none() && !section.suggested.contains(key) {
            self.error(
                section.span.clone(),
                format!("missing required key `{key}` in {}", section.label),
                Some(format!("add {key} = {example}")),
            );
        }
        value
    }

    /// The value of `key`, reported when it is empty or blank (a name or column that would
    /// only fail at run time).
    fn non_empty(
        &mut self,
        value: Spanned<String>,
        key: &str,
        label: &str,
        example: &str,
    ) -> String {
        if value.get_ref().trim().is_empty() {
            self.error(
                value.span(),
                format!("`{key}` in {label} is empty"),
                Some(format!("give it a value, e.g. {key} = {example}, or remove the line for the default if it has one")),
            );
        }
        value.into_inner()
    }

    fn duration(&mut self, label: &str, key: &str, value: &Spanned<String>) -> Option<Duration> {
        match value.get_ref().parse::<Duration>() {
            Ok(d) => Some(d),
            Err(e) => {
                let reason = match e {
                    Error::InvalidDuration { reason, .. } => reason,
                    other => other.to_string(),
                };
                self.error(
                    value.span(),
                    format!(
                        "invalid duration `{}` for `{key}` in {label}: {reason}",
                        value.get_ref()
                    ),
                    Some(DURATION_HINT.to_string()),
                );
                None
            }
        }
    }

    /// Checks a `[NAME]`-style map section and returns its entries as sections.
    fn named_sections<T: DeserializeOwned + Default>(
        &mut self,
        kind: &str,
        value: &Spanned<DeValue<'_>>,
        require_identifier: bool,
    ) -> Vec<(String, Section<T>)> {
        let DeValue::Table(table) = value.get_ref() else {
            self.error(
                value.span(),
                format!(
                    "`{kind}` must be a table of sections like [{kind}.NAME], found {}",
                    value.get_ref().type_str()
                ),
                None,
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, item) in table.iter() {
            let name = key.get_ref().to_string();
            if require_identifier && !is_identifier(&name) {
                self.error(
                    key.span(),
                    format!("invalid name `{name}` in [{kind}]"),
                    Some(identifier_hint(&name)),
                );
            }
            let section = self.section::<T>(format!("[{kind}.{name}]"), item);
            out.push((name, section));
        }
        out
    }
}

fn deserialize<T: DeserializeOwned>(
    table: DeTable<'_>,
    span: Range<usize>,
) -> Result<T, toml::de::Error> {
    T::deserialize(ValueDeserializer::from(Spanned::new(
        span,
        DeValue::Table(table),
    )))
}

/// Compiles the text of a project file; see [`super::compile_project`].
pub(crate) fn compile(file: &Path, text: &str, root: &Path) -> Result<Project, ConfigErrors> {
    let mut c = Compiler {
        file,
        text,
        root,
        diagnostics: Vec::new(),
    };
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let message = e.message();
            let hint = if message.contains("duplicate key") {
                Some(
                    "a key, and a [section], may appear only once: merge the two or remove one"
                        .to_string(),
                )
            } else {
                Some(
                    "fix the syntax at that line and column: sections are [name] or \
                     [tables.name], values are key = \"text\", 3, 0.5, true or [\"a\", \"b\"] \
                     (TOML, https://toml.io)"
                        .to_string(),
                )
            };
            c.error(
                e.span().unwrap_or(0..0),
                format!("invalid TOML: {message}"),
                hint,
            );
            return Err(c.finish());
        }
    };

    let top_fields = fields_of::<ProjectFile>();
    let mut project: Option<Section<ProjectSection>> = None;
    let mut engine: Option<Section<EngineSection>> = None;
    let mut tables = Vec::new();
    let mut pipelines = Vec::new();
    let mut alerts = Vec::new();
    for (key, value) in doc.get_ref().iter() {
        match key.get_ref().as_ref() {
            "project" => project = Some(c.section("[project]".to_string(), value)),
            "engine" => engine = Some(c.section("[engine]".to_string(), value)),
            "tables" => tables = c.named_sections::<TableSection>("tables", value, true),
            "pipelines" => {
                pipelines = c.named_sections::<PipelineSection>("pipelines", value, true);
            }
            "alerts" => alerts = c.named_sections::<AlertSection>("alerts", value, false),
            other => {
                let hint = suggestion(other, top_fields.iter().copied(), "valid sections");
                c.error(
                    key.span(),
                    format!("unknown key `{other}` at the top level"),
                    Some(hint),
                );
            }
        }
    }

    // [project]
    let (name, warehouse) = match project {
        Some(section) => {
            let name = c.require(
                &section,
                "name",
                section.value.name.clone(),
                "\"my_project\"",
            );
            let name = name.map(|n| c.non_empty(n, "name", "[project]", "\"support\""));
            (name, section.value.warehouse)
        }
        None => {
            c.error(
                0..0,
                "missing [project] section",
                Some("add [project] with name = \"my_project\"".to_string()),
            );
            (None, None)
        }
    };
    let warehouse = tidy(root.join(warehouse.as_deref().unwrap_or("warehouse")));

    // [engine]
    let engine = engine.map(|s| s.value).unwrap_or_default();
    if let Some(t) = &engine.target_partitions
        && *t.get_ref() == 0
    {
        c.error(
            t.span(),
            "`target_partitions` in [engine] is 0",
            Some("give the number of partitions queries run in, 1 or more (default: the number of cores)".into()),
        );
    }
    let engine = EngineSpec {
        url: engine.url,
        target_partitions: engine.target_partitions.map(|t| *t.get_ref()),
        memory_limit_mb: engine.memory_limit_mb,
    };

    // [tables.NAME]
    let mut table_specs = BTreeMap::new();
    for (name, section) in tables {
        let t = section.value;
        let schema = match t.schema {
            Some(s) if !is_identifier(s.get_ref()) => {
                c.error(
                    s.span(),
                    format!("invalid schema `{}` in {}", s.get_ref(), section.label),
                    Some(identifier_hint(s.get_ref())),
                );
                s.into_inner()
            }
            Some(s) => s.into_inner(),
            None => "raw".to_string(),
        };
        let freshness_sla = t
            .freshness_sla
            .as_ref()
            .and_then(|v| c.duration(&section.label, "freshness_sla", v));
        if let (Some(sla), None) = (&t.freshness_sla, &t.time_column) {
            c.error(
                sla.span(),
                format!(
                    "`freshness_sla` in {} has no effect: the table has no `time_column`",
                    section.label
                ),
                Some("set `time_column` to the column of event times the windows are cut on, or remove `freshness_sla` (a lookup table)".into()),
            );
        }
        let time_column = t
            .time_column
            .map(|col| c.non_empty(col, "time_column", &section.label, "\"created_at\""));
        let path = warehouse.join(t.path.unwrap_or_else(|| format!("{schema}/{name}")));
        table_specs.insert(
            name.clone(),
            TableSpec {
                name,
                schema,
                path,
                time_column,
                freshness_sla,
            },
        );
    }

    // [alerts.NAME]; sinks with errors still count as defined, so references
    // to them are not reported a second time.
    let alert_names: BTreeSet<String> = alerts.iter().map(|(n, _)| n.clone()).collect();
    let mut alert_sinks = BTreeMap::new();
    for (name, section) in alerts {
        if let Some(sink) = compile_alert(&mut c, section) {
            alert_sinks.insert(name, sink);
        }
    }

    // [pipelines.NAME]
    let mut pipeline_specs = BTreeMap::new();
    for (name, section) in pipelines {
        if let Some(p) = compile_pipeline(&mut c, name.clone(), section, &table_specs, &alert_names)
        {
            pipeline_specs.insert(name, p);
        }
    }

    if !c.diagnostics.is_empty() {
        return Err(c.finish());
    }
    Ok(Project {
        root: root.to_path_buf(),
        file: file.to_path_buf(),
        name: name.unwrap_or_default(),
        warehouse,
        engine,
        tables: table_specs,
        pipelines: pipeline_specs,
        alerts: alert_sinks,
    })
}

fn compile_alert(c: &mut Compiler<'_>, section: Section<AlertSection>) -> Option<AlertSink> {
    let a = section.value;
    let mut sinks = Vec::new();
    if let Some(url) = a.webhook {
        let text = url.get_ref();
        let rest = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"));
        // A host after the scheme, and no whitespace: what reqwest would refuse at the first
        // alert, hours later.
        let ok = rest.is_some_and(|r| {
            !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace)
        });
        if !ok {
            c.error(
                url.span(),
                format!(
                    "webhook in {} must be an http:// or https:// URL with a host, without spaces",
                    section.label
                ),
                Some("e.g. webhook = \"https://hooks.example.com/nightshift\" (POSTed one JSON object per alert)".into()),
            );
        }
        sinks.push(AlertSink::Webhook {
            url: url.into_inner(),
        });
    }
    if let Some(command) = a.command {
        let span = command.span();
        let mut argv = command.into_inner().0.into_iter();
        match argv.next() {
            Some(program) if !program.is_empty() => sinks.push(AlertSink::Command {
                program,
                args: argv.collect(),
            }),
            _ => {
                c.error(
                    span,
                    format!("empty command in {}", section.label),
                    Some("e.g. command = [\"notify-send\", \"nightshift\"]".to_string()),
                );
                // Still one sink as far as the "exactly one" rule is concerned.
                sinks.push(AlertSink::Log);
            }
        }
    }
    if a.log == Some(true) {
        sinks.push(AlertSink::Log);
    }
    if sinks.len() != 1 {
        let what = if sinks.is_empty() {
            "none"
        } else {
            "more than one"
        };
        c.error(
            section.span,
            format!(
                "{} must have exactly one of `webhook`, `command` or `log = true`, found {what}",
                section.label
            ),
            Some("split it into one [alerts.NAME] section per destination".to_string())
                .filter(|_| !sinks.is_empty())
                .or_else(|| Some("e.g. log = true".to_string())),
        );
        return None;
    }
    sinks.pop()
}

fn compile_pipeline(
    c: &mut Compiler<'_>,
    name: String,
    section: Section<PipelineSection>,
    tables: &BTreeMap<String, TableSpec>,
    alerts: &BTreeSet<String>,
) -> Option<PipelineSpec> {
    let label = section.label.clone();
    let p = &section.value;

    let schedule = c.require(
        &section,
        "schedule",
        p.schedule.as_ref(),
        "\"daily at 06:00\"",
    );
    let schedule = schedule.and_then(|s| match s.get_ref().parse::<Schedule>() {
        Ok(schedule) => Some(schedule),
        Err(e) => {
            let reason = match e {
                Error::InvalidSchedule { reason, .. } => reason,
                other => other.to_string(),
            };
            c.error(
                s.span(),
                format!("invalid schedule `{}` in {label}: {reason}", s.get_ref()),
                Some(SCHEDULE_HINT.to_string()),
            );
            None
        }
    });

    let timezone = match &p.timezone {
        Some(tz) => {
            if parse_timezone(tz.get_ref()).is_err() {
                c.error(
                    tz.span(),
                    format!("unsupported timezone `{}` in {label}", tz.get_ref()),
                    Some(TIMEZONE_HINT.to_string()),
                );
            }
            tz.get_ref().trim().to_string()
        }
        None => "UTC".to_string(),
    };

    let window_value = c.require(&section, "window", p.window.as_ref(), "\"1d\"");
    let window = window_value.and_then(|w| c.duration(&label, "window", w));
    // Each run processes the window before its fire time: a window shorter than the time
    // between two runs leaves the data in between to no run at all. The longest gap counts:
    // a weekday schedule over daily windows never processed the weekends.
    if let (Some(schedule), Some(window), Some(value)) = (&schedule, &window, window_value) {
        let origin = 1_767_225_600; // 2026-01-01
        let start = chrono::DateTime::<chrono::Utc>::from_timestamp(origin, 0).unwrap_or_default();
        // Fire times over a year and a week (monthly and weekday gaps included), or the first
        // 300 000 of a denser schedule (months of them); in the pipeline's timezone.
        let tz = parse_timezone(&timezone).unwrap_or(chrono::Offset::fix(&chrono::Utc));
        let span_end = start + chrono::TimeDelta::days(373);
        let mut at = start;
        let mut longest: Option<(chrono::TimeDelta, chrono::DateTime<chrono::Utc>)> = None;
        let mut shortest: Option<chrono::TimeDelta> = None;
        for _ in 0..300_000 {
            let next = schedule.next_after_in(at, tz);
            let gap = next - at;
            if at != start {
                if longest.is_none_or(|(l, _)| gap > l) {
                    longest = Some((gap, at));
                }
                shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
            }
            at = next;
            if at >= span_end {
                break;
            }
        }
        if let (Some((gap, from)), Some(shortest)) = (longest, shortest)
            && window.as_chrono() < gap
        {
            let gap_text = Duration::from_seconds(gap.num_seconds());
            let (between, hint) = if shortest == gap {
                (
                    gap_text.to_string(),
                    format!(
                        "make the window as long as the schedule's period: window = \"{gap_text}\""
                    ),
                )
            } else {
                (
                    format!(
                        "up to {gap_text}, e.g. {} to {} UTC",
                        from.format("%a %Y-%m-%d %H:%M"),
                        (from + gap).format("%a %Y-%m-%d %H:%M"),
                    ),
                    format!(
                        "schedule the runs evenly, one every {} (the window), or make the window as long as the longest gap: window = \"{gap_text}\"",
                        value.get_ref()
                    ),
                )
            };
            c.error(
                value.span(),
                format!(
                    "`window` in {label} ({}) is shorter than the time between two runs of its schedule ({between}): the data in between would never be processed",
                    value.get_ref(),
                ),
                Some(hint),
            );
        }
    }

    let reads = c.require(&section, "reads", p.reads.as_ref(), "[\"table_name\"]");
    let mut max_sla: Option<Duration> = None;
    let reads: Option<Vec<String>> = reads.map(|reads| {
        if reads.get_ref().is_empty() {
            c.error(
                reads.span(),
                format!("`reads` in {label} lists no table"),
                Some(
                    "list the tables the features SQL reads, the driving one first: reads = [\"support_contacts\"]"
                        .into(),
                ),
            );
        }
        let reads = reads.get_ref();
        for (i, table) in reads.iter().enumerate() {
            if reads[..i].iter().any(|t| t.get_ref() == table.get_ref()) {
                c.error(
                    table.span(),
                    format!("`reads` in {label} lists `{}` twice", table.get_ref()),
                    Some("list each table once, the driving one first".into()),
                );
                continue;
            }
            match tables.get(table.get_ref()) {
                Some(spec) => max_sla = max_sla.max(spec.freshness_sla),
                None => {
                    let hint = suggestion(
                        table.get_ref(),
                        tables.keys().map(String::as_str),
                        "known tables",
                    );
                    c.error(
                        table.span(),
                        format!(
                            "pipeline `{name}` reads unknown table `{}`",
                            table.get_ref()
                        ),
                        Some(hint),
                    );
                }
            }
        }
        reads.iter().map(|t| t.get_ref().clone()).collect()
    });

    let features = c.require(
        &section,
        "features",
        p.features.as_ref(),
        &format!("\"sql/{name}_features.sql\""),
    );
    let features = features.and_then(|f| compile_features(c, &label, f));

    let max_text_chars = match &p.max_text_chars {
        Some(n) if *n.get_ref() == 0 => {
            c.error(
                n.span(),
                format!("`max_text_chars` in {label} must be at least 1"),
                Some(
                    "longer texts go to the rejects table: max_text_chars = 10000 (the default)"
                        .into(),
                ),
            );
            1
        }
        Some(n) => *n.get_ref(),
        None => 10_000,
    };

    // Each retry waits `retry_delay` doubled, up to an hour: 20 of them hold a date for most
    // of a day, and more would hold it for good instead of failing and alerting.
    let retries = match &p.retries {
        Some(n) if *n.get_ref() > MAX_RETRIES => {
            c.error(
                n.span(),
                format!(
                    "`retries = {}` in {label} is more than {MAX_RETRIES}",
                    n.get_ref()
                ),
                Some(format!(
                    "each retry waits retry_delay doubled (at most 1h), so a task that keeps failing would hold its date for days; keep retries at {MAX_RETRIES} or fewer (the scheduler runs a failed date again later anyway)"
                )),
            );
            MAX_RETRIES
        }
        Some(n) => *n.get_ref(),
        None => 3,
    };

    let top_k = match &p.top_k {
        Some(k) if *k.get_ref() == 0 || *k.get_ref() > 100 => {
            c.error(
                k.span(),
                format!("`top_k` in {label} must be between 1 and 100"),
                Some("top_k is how many of the most probable labels each prediction keeps: top_k = 3".into()),
            );
            3
        }
        Some(k) => *k.get_ref(),
        None => 3,
    };

    let retry_delay = match &p.retry_delay {
        Some(d) => c
            .duration(&label, "retry_delay", d)
            .unwrap_or(Duration::MINUTE),
        None => Duration::MINUTE,
    };

    let wait_for_data = p
        .wait_for_data
        .as_ref()
        .and_then(|d| c.duration(&label, "wait_for_data", d));

    let deadline = p.deadline.as_ref().and_then(|d| {
        let parsed = parse_time_of_day(d.get_ref());
        if parsed.is_none() {
            c.error(
                d.span(),
                format!("invalid deadline `{}` in {label}", d.get_ref()),
                Some("use a time of day HH:MM, e.g. \"09:00\"".to_string()),
            );
        }
        parsed
    });

    let mut alert_refs = Vec::new();
    for alert in p.alerts.iter().flatten() {
        if !alerts.contains(alert.get_ref()) {
            let hint = suggestion(
                alert.get_ref(),
                alerts.iter().map(String::as_str),
                "known alert sinks",
            );
            c.error(
                alert.span(),
                format!(
                    "pipeline `{name}` uses unknown alert sink `{}`",
                    alert.get_ref()
                ),
                Some(hint),
            );
        }
        if alert_refs.contains(alert.get_ref()) {
            c.error(
                alert.span(),
                format!(
                    "alert sink `{}` is listed twice in `alerts` of {label}",
                    alert.get_ref()
                ),
                Some("list each sink once: it gets every alert of the pipeline once".into()),
            );
            continue;
        }
        alert_refs.push(alert.get_ref().clone());
    }

    let model = p.model.as_ref().map(|m| {
        if let Some(reason) = model_ref_problem(m.get_ref()) {
            c.error(
                m.span(),
                format!(
                    "invalid model reference `{}` in {label}: {reason}",
                    m.get_ref()
                ),
                Some(
                    "write name, name@VERSION or name@ALIAS, e.g. \"root_cause@production\"".into(),
                ),
            );
        }
        m.get_ref().trim().to_string()
    });
    let gates = compile_gates(c, &label, p);
    // `min_rows` counts the window's rows of the first table read: it needs a time column.
    if let (Some(min_rows), Some(first)) = (&p.min_rows, reads.as_ref().and_then(|r| r.first()))
        && tables.get(first).is_some_and(|t| t.time_column.is_none())
    {
        c.error(
            min_rows.span(),
            format!(
                "`min_rows` in {label} cannot be checked: `{first}`, the first table of `reads`, has no `time_column`"
            ),
            Some(format!(
                "set `time_column` in [tables.{first}], list first a table that has one, or remove `min_rows`"
            )),
        );
    }
    // The rollups have a column per dimension next to their own: a dimension may repeat
    // neither another nor one of those.
    let mut dimensions: Vec<String> = Vec::new();
    for d in p.dimensions.iter().flatten() {
        let name = d.get_ref().trim().to_string();
        if name.is_empty() {
            c.error(
                d.span(),
                format!("an empty name in `dimensions` of {label}"),
                None,
            );
        } else if dimensions.contains(&name) {
            c.error(
                d.span(),
                format!("`{name}` is listed twice in `dimensions` of {label}"),
                Some("list each features column once".into()),
            );
        } else if ROLLUP_COLUMNS.contains(&name.as_str()) {
            c.error(
                d.span(),
                format!("`{name}` in `dimensions` of {label} is a column the rollups have already"),
                Some(format!(
                    "the rollups' own columns are {}; rename the features column (`AS {name}_`) and list that",
                    ROLLUP_COLUMNS.join(", ")
                )),
            );
        } else {
            dimensions.push(name);
        }
    }

    if let Some(rate) = &p.max_null_rate
        && dimensions.is_empty()
        && (0.0..=1.0).contains(rate.get_ref())
    {
        c.error(
            rate.span(),
            format!(
                "`max_null_rate` in {label} checks the `dimensions` columns, and there are none"
            ),
            Some(
                "list the features columns to check in `dimensions`, or remove `max_null_rate`"
                    .into(),
            ),
        );
    }
    let mut column = |value: &Option<Spanned<String>>, key: &str, default: &str| match value {
        Some(v) => c.non_empty(v.clone(), key, &label, &format!("\"{default}\"")),
        None => default.to_string(),
    };
    let id_column = column(&p.id_column, "id_column", "id");
    let text_column = column(&p.text_column, "text_column", "text");
    let (features_path, features_sql) = features?;
    Some(PipelineSpec {
        name,
        schedule: schedule?,
        timezone,
        window: window?,
        reads: reads?,
        max_sla,
        features_path,
        features_sql,
        model,
        id_column,
        text_column,
        max_text_chars,
        min_rows: p.min_rows.as_ref().map_or(1, |m| *m.get_ref()),
        retries,
        retry_delay,
        deadline,
        alerts: alert_refs,
        catchup: p.catchup.unwrap_or(true),
        dimensions,
        top_k,
        wait_for_data,
        gates,
    })
}

/// The columns of `output.<pipeline>_rollups` besides the pipeline's `dimensions`.
const ROLLUP_COLUMNS: &[&str] = &[
    "model_name",
    "model_version",
    "category",
    "subcategory",
    "contacts",
    "mean_confidence",
    "low_confidence",
    "ds",
];

/// Why `reference` cannot be a model reference (`name`, `name@VERSION`, `name@ALIAS`), as far
/// as its shape goes; the registry checks the rest (names, versions, aliases) when a run starts.
pub fn model_ref_problem(reference: &str) -> Option<&'static str> {
    let reference = reference.trim();
    if reference.is_empty() {
        return Some("it is empty");
    }
    let (name, at) = match reference.split_once('@') {
        Some((name, at)) => (name, Some(at)),
        None => (reference, None),
    };
    if name.is_empty() {
        return Some("the model name before `@` is missing");
    }
    // The registry's naming rules (`nightshift_registry::validate_model_name`; the CLI's
    // tests check both agree): a lowercase letter or `_`, then lowercase letters, digits,
    // `_` and `-`.
    let bad_name = |n: &str| {
        !n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            || !n
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    if bad_name(name) {
        return Some(
            "a model name starts with a lowercase letter or `_` and holds only lowercase letters, digits, `_` and `-`",
        );
    }
    match at {
        Some("") => Some("the version or alias after `@` is missing"),
        Some(at) if at.contains('@') => Some("it has more than one `@`"),
        Some(at) if at.bytes().all(|b| b.is_ascii_digit()) => {
            (at.trim_start_matches('0').is_empty()).then_some("versions start at 1")
        }
        Some(at) if bad_name(at) => Some(
            "an alias starts with a lowercase letter or `_` and holds only lowercase letters, digits, `_` and `-`",
        ),
        _ => None,
    }
}

/// The quality gates of a pipeline, each checked for a value that can hold: ratios finite and
/// non-negative with the minimum at most the maximum, a null rate between 0 and 1, at least
/// one distinct label.
fn compile_gates(
    c: &mut Compiler<'_>,
    label: &str,
    p: &PipelineSection,
) -> crate::config::project::Gates {
    let mut ratio = |key: &str, v: &Option<Spanned<f64>>, low: f64, high: f64, what: &str| {
        let v = v.as_ref()?;
        let x = *v.get_ref();
        if !(x.is_finite() && (low..=high).contains(&x)) {
            let example = what
                .split("(e.g. ")
                .nth(1)
                .and_then(|e| e.split(':').next())
                .unwrap_or("0.5");
            c.error(
                v.span(),
                format!("`{key}` in {label} is {x}; it must be {what}"),
                Some(format!(
                    "write e.g. {key} = {example}, or leave the key out to turn the gate off"
                )),
            );
            return None;
        }
        Some((x, v.span()))
    };
    let min_row_ratio = ratio(
        "min_row_ratio",
        &p.min_row_ratio,
        0.0,
        f64::MAX,
        "a ratio of at least 0 (e.g. 0.5: at least half the usual rows)",
    );
    let max_row_ratio = ratio(
        "max_row_ratio",
        &p.max_row_ratio,
        f64::MIN_POSITIVE,
        f64::MAX,
        "a ratio above 0 (e.g. 2.0: at most twice the usual rows)",
    );
    let max_null_rate = ratio(
        "max_null_rate",
        &p.max_null_rate,
        0.0,
        1.0,
        "a rate between 0 and 1 (e.g. 0.1: at most 10% nulls)",
    );
    if let (Some((low, _)), Some((high, span))) = (&min_row_ratio, &max_row_ratio)
        && low > high
    {
        c.error(
            span.clone(),
            format!("`max_row_ratio` in {label} ({high}) is below `min_row_ratio` ({low}): every slice would fail the gate"),
            Some("min_row_ratio must be at most max_row_ratio".into()),
        );
    }
    let min_distinct_labels = p.min_distinct_labels.as_ref().and_then(|v| {
        if *v.get_ref() == 0 {
            c.error(
                v.span(),
                format!("`min_distinct_labels` in {label} must be at least 1"),
                Some("leave it out to turn the gate off".into()),
            );
            return None;
        }
        Some(*v.get_ref())
    });
    crate::config::project::Gates {
        min_row_ratio: min_row_ratio.map(|(x, _)| x),
        max_row_ratio: max_row_ratio.map(|(x, _)| x),
        max_null_rate: max_null_rate.map(|(x, _)| x),
        min_distinct_labels,
    }
}

/// Reads the features SQL file and checks its template variables, reporting
/// problems inside the SQL file at their own line and column.
fn compile_features(
    c: &mut Compiler<'_>,
    label: &str,
    features: &Spanned<String>,
) -> Option<(PathBuf, String)> {
    let path = tidy(c.root.join(features.get_ref()));
    let sql = match std::fs::read_to_string(&path) {
        Ok(sql) => sql,
        Err(e) => {
            let (message, hint) = if e.kind() == std::io::ErrorKind::NotFound {
                (
                    format!(
                        "features SQL file `{}` for {label} does not exist",
                        path.display()
                    ),
                    format!(
                        "create it, or fix the path (relative to the project directory, {})",
                        std::path::absolute(c.root)
                            .unwrap_or_else(|_| c.root.to_path_buf())
                            .display()
                    ),
                )
            } else {
                (
                    format!("cannot read features SQL file `{}`: {e}", path.display()),
                    "check the file's permissions and that it is UTF-8 text".to_string(),
                )
            };
            c.error(features.span(), message, Some(hint));
            return None;
        }
    };
    let valid = TEMPLATE_VARIABLES
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql_error = |offset: usize, message: String, hint: String| {
        c.diagnostics.push(Diagnostic::at_offset(
            &path,
            &sql,
            offset,
            message,
            Some(hint),
        ));
    };
    match crate::template::variables(&sql) {
        Ok(vars) => {
            for (var, offset) in vars {
                if !TEMPLATE_VARIABLES.contains(&var.as_str()) {
                    let guess = closest(&var, TEMPLATE_VARIABLES.iter().copied())
                        .map(|g| format!("did you mean `{g}`? "))
                        .unwrap_or_default();
                    sql_error(
                        offset,
                        format!("unknown template variable `{var}`"),
                        format!("{guess}valid variables: {valid}"),
                    );
                }
            }
        }
        Err(Error::UnclosedTemplate { offset }) => sql_error(
            offset,
            "unclosed `{{`".to_string(),
            "close it with `}}`".to_string(),
        ),
        Err(Error::InvalidTemplateExpression { text, offset }) => sql_error(
            offset,
            format!("invalid template expression `{{{{{text}}}}}`"),
            format!("only variable names are allowed: {valid}"),
        ),
        Err(other) => sql_error(0, other.to_string(), valid.clone()),
    }
    Some((path, sql))
}

/// How to write `key`'s value as the type serde expected, from its message (`invalid type:
/// integer `5`, expected a string`).
fn type_hint(key: &str, message: &str) -> Option<String> {
    let expected = message.split("expected ").nth(1)?;
    Some(if expected.starts_with("a string") {
        format!("put the value in double quotes: {key} = \"...\"")
    } else if expected.starts_with('u') || expected.starts_with('i') {
        format!("write a whole number, without quotes: {key} = 3")
    } else if expected.starts_with('f') {
        format!("write a number, without quotes: {key} = 0.5")
    } else if expected.starts_with("a boolean") {
        format!("write true or false, without quotes: {key} = true")
    } else if expected.starts_with("a sequence") {
        format!("write a list in brackets: {key} = [\"...\"]")
    } else {
        return None;
    })
}
