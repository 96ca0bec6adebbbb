//! `nightshift models ...`: train, eval, predict, list, show, alias, history.

use std::str::FromStr;

use nightshift_core::Project;
use nightshift_lake::Warehouse;
use nightshift_lake::arrow::array::RecordBatch;
use nightshift_models::{Input, TrainConfig, default_hidden_units};
use nightshift_pipeline::model::{self, Columns};
use nightshift_registry::{AliasRequest, Bundle, ModelRef, Registry, Selector};

use crate::cli::{
    AliasArgs, DataArgs, EvalArgs, GlobalArgs, ModelsCommand, NameArg, PredictArgs, ShowArgs,
    TrainArgs,
};
use crate::failure::Failure;

pub(crate) async fn models(global: &GlobalArgs, command: &ModelsCommand) -> Result<(), Failure> {
    let project = super::load_project(&global.project)?;
    let registry = model::open_registry(&project)?;
    match command {
        ModelsCommand::Train(args) => train(global, &project, &registry, args).await,
        ModelsCommand::Eval(args) => eval(global, &project, &registry, args).await,
        ModelsCommand::Predict(args) => predict(global, &registry, args),
        ModelsCommand::List => list(global, &registry),
        ModelsCommand::Show(args) => show(global, &registry, args),
        ModelsCommand::Alias(args) => alias(global, &project, &registry, args),
        ModelsCommand::History(args) => history(global, &registry, args),
    }
}

/// Reads the rows of `--data FILE` or `--sql QUERY`, and says where they came from.
pub(crate) async fn load_rows(
    project: &Project,
    data: &DataArgs,
) -> Result<(Vec<RecordBatch>, String), Failure> {
    match (&data.data, &data.sql) {
        (Some(file), _) => {
            // A path that is not a readable data file is a mistake of usage (exit 2).
            if !file.is_file() {
                let what = if file.is_dir() {
                    "is a directory, not a data file"
                } else {
                    "does not exist"
                };
                return Err(Failure::usage(
                    format!("--data {}: {what}", file.display()),
                    Some("give the path of a .csv, .tsv, .parquet or .jsonl file".into()),
                ));
            }
            if let Err(e) = nightshift_lake::files::FileFormat::of(file) {
                let hint = e.hint();
                return Err(Failure::usage(e, hint));
            }
            // A file that does not parse is bad input on the command line, as a bad flag is;
            // a reader that panics on a damaged file (Parquet footers) says so too.
            let path = file.clone();
            let read =
                tokio::spawn(async move { nightshift_lake::files::read_data_file(&path).await })
                    .await;
            let not_readable = |what: String| {
                Failure::usage(
                    format!("--data {}: not a readable data file: {what}", file.display()),
                    Some(
                        "check that the file is whole and of the kind its name says (.csv, .tsv, .parquet, .jsonl)"
                            .into(),
                    ),
                )
            };
            let batches = match read {
                Ok(Ok(batches)) => batches,
                Ok(Err(e @ nightshift_lake::Error::Io { .. })) => return Err(Failure::from(e)),
                Ok(Err(e @ nightshift_lake::Error::DataFile { .. })) => {
                    return Err(Failure::from(e).usage_if(true));
                }
                Ok(Err(e)) => return Err(not_readable(e.to_string())),
                Err(e) if e.is_panic() => {
                    return Err(not_readable("its reader failed on it".into()));
                }
                Err(e) => {
                    return Err(Failure::work(anyhow::anyhow!(
                        "reading {}: {e}",
                        file.display()
                    )));
                }
            };
            // Recorded as the version's training source: absolute, so that it still says
            // which file from another directory or machine.
            let source = std::path::absolute(file).unwrap_or_else(|_| file.clone());
            Ok((batches, source.display().to_string()))
        }
        (None, Some(sql)) => {
            let warehouse = Warehouse::open(project).await?;
            // A query's rows come back in no fixed order (partitions run in parallel); sort them
            // by content so that the same data always trains the same model. The query is
            // planned as given, so that its errors point at its own lines and columns.
            let frame = warehouse.sql(sql).await.map_err(super::query_failure)?;
            let mut keys = vec![data.text_column.as_str(), data.label_column.as_str()];
            keys.extend(data.parent_column.as_deref());
            let frame = warehouse.sorted_by(frame, &keys)?;
            Ok((warehouse.collect(frame).await?, sql.clone()))
        }
        (None, None) => Err(Failure::usage("give --data FILE or --sql QUERY", None)),
    }
}

/// Warns when texts of a CSV or TSV file look like several rows merged into one: a line
/// inside a multi-line text holds as many delimiters as a row of the file has. That is what a value
/// starting with a double quote it does not close does (`"quoted start but not end`): it
/// swallows the lines after it. Texts that merely span lines inside proper quotes (BANKING77
/// has a few) are not warned about.
fn warn_merged_lines(data: &DataArgs, batches: &[RecordBatch], texts: &[String]) {
    let Some(file) = &data.data else {
        return;
    };
    let delimiter = match nightshift_lake::files::FileFormat::of(file) {
        Ok(nightshift_lake::files::FileFormat::Tsv) => '\t',
        Ok(nightshift_lake::files::FileFormat::Csv) => ',',
        _ => return,
    };
    let columns = batches.first().map_or(0, |b| b.num_columns());
    if columns < 2 {
        return;
    }
    // In TSV a tab inside a text is all but unheard of: any line counts. In CSV commas are
    // common in texts: only a later line, and only in files of three columns or more.
    let (skip, min_columns) = if delimiter == '\t' { (0, 2) } else { (1, 3) };
    let merged = |t: &&String| {
        t.contains('\n')
            && columns >= min_columns
            && t.lines()
                .skip(skip)
                .any(|line| line.matches(delimiter).count() >= columns - 1)
    };
    let count = texts.iter().filter(merged).count();
    if let Some(first) = texts.iter().find(merged) {
        let shown: String = first.chars().take(60).collect();
        tracing::warn!(
            "{count} text(s) of {} hold what look like whole rows on their later lines (first: \
             {:?}...): a value that starts with a double quote runs to the next quote, across \
             lines; if the quote is part of the text, double it inside quotes (\"\"\"5\"\" \
             screen\") or remove it",
            file.display(),
            shown
        );
    }
}

fn columns(data: &DataArgs, extras: &[String]) -> Columns {
    Columns {
        text: data.text_column.clone(),
        label: data.label_column.clone(),
        parent: data.parent_column.clone(),
        extras: extras.to_vec(),
    }
}

fn parse_ref(s: &str) -> Result<ModelRef, Failure> {
    ModelRef::from_str(s).map_err(|e| {
        let hint = e.hint();
        Failure::usage(e, hint)
    })
}

/// Who moves an alias: the login name from the environment, else the user account of the
/// process (a container or a cron job often has no `USER`), as `uid N` when it has no name.
fn actor() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(name) = std::env::var(var)
            && !name.trim().is_empty()
        {
            return name;
        }
    }
    account_name().unwrap_or_else(|| "unknown".into())
}

#[cfg(unix)]
fn account_name() -> Option<String> {
    // SAFETY: getpwuid_r fills `entry` with pointers into `buf`, both ours and alive until the
    // name is copied out; a null `found` means no entry.
    unsafe {
        let uid = libc::getuid();
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut found = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut entry, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc != 0 || found.is_null() || entry.pw_name.is_null() {
            return Some(format!("uid {uid}"));
        }
        Some(
            std::ffi::CStr::from_ptr(entry.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

#[cfg(not(unix))]
fn account_name() -> Option<String> {
    None
}

#[allow(clippy::print_stdout)]
async fn train(
    global: &GlobalArgs,
    project: &Project,
    registry: &Registry,
    args: &TrainArgs,
) -> Result<(), Failure> {
    nightshift_registry::validate_model_name(&args.name).map_err(|e| {
        let hint = e.hint();
        Failure::usage(e, hint)
    })?;
    if let Some(alias) = &args.alias {
        nightshift_registry::validate_alias(alias).map_err(|e| {
            let hint = e.hint();
            Failure::usage(e, hint)
        })?;
    }
    if args.data.label_column == args.data.text_column
        || args.data.parent_column.as_deref() == Some(args.data.text_column.as_str())
    {
        return Err(Failure::usage(
            format!(
                "`{}` is both the text column and a label column",
                args.data.text_column
            ),
            Some("--text-column names the text to read, --label-column (and --parent-column) what to predict from it".into()),
        ));
    }
    let answers = std::iter::once(&args.data.label_column).chain(args.data.parent_column.as_ref());
    for answer in answers {
        if args.extra_columns.contains(answer) {
            return Err(Failure::usage(
                format!("`{answer}` is both a label column and an --extra-columns input"),
                Some("an input that is the answer makes the model look right in training and need the answer to predict: leave it out of --extra-columns".into()),
            ));
        }
    }
    if let Some(text) = args
        .extra_columns
        .iter()
        .find(|c| **c == args.data.text_column)
    {
        return Err(Failure::usage(
            format!("`{text}` is both the text column and an --extra-columns input"),
            Some("the text is read from --text-column; --extra-columns adds other columns (channel, city, ...)".into()),
        ));
    }
    if let Some((_, twice)) = args
        .extra_columns
        .iter()
        .enumerate()
        .find(|(i, c)| args.extra_columns[..*i].contains(c))
    {
        return Err(Failure::usage(
            format!("`{twice}` is given twice in --extra-columns"),
            Some("name each input column once".into()),
        ));
    }
    let (batches, source) = load_rows(project, &args.data).await?;
    let columns = columns(&args.data, &args.extra_columns);
    let rows = model::labelled_rows(&batches, &columns, &source)?;
    warn_merged_lines(&args.data, &batches, &rows.texts);
    let distinct: std::collections::HashSet<&str> =
        rows.labels.iter().map(String::as_str).collect();
    if let [only] = distinct.iter().collect::<Vec<_>>()[..] {
        return Err(Failure::usage(
            format!(
                "every labelled row of {source} has the label `{only}`: a model needs at least two labels"
            ),
            Some("check --label-column, and that the data holds examples of every label".into()),
        ));
    }
    if rows.texts.len() >= 100 && distinct.len() * 2 > rows.texts.len() {
        tracing::warn!(
            "{} distinct labels in {} rows: most labels have a single example, so the model \
             can learn little; is --label-column a column of categories?",
            distinct.len(),
            rows.texts.len()
        );
    } else if rows.texts.len() < 5 * distinct.len() {
        tracing::warn!(
            "{} rows for {} labels, fewer than 5 examples per label: the model can learn \
             little, and its holdout accuracy and calibration say little",
            rows.texts.len(),
            distinct.len()
        );
    }
    warn_labels_under_several_parents(&rows);
    let hidden = hidden_units(&rows.texts, distinct.len(), args.hidden);
    tracing::info!(
        rows = rows.texts.len(),
        skipped = rows.skipped,
        "training {}",
        args.name
    );
    let config = TrainConfig {
        seed: args.seed,
        hidden: usize::from(hidden),
        ..TrainConfig::default()
    };
    // The alias moves in the registry transaction that records the version: a crash never
    // leaves the alias moved without its version. (A crash after the bundle is in place and
    // before that transaction leaves the version, indexed at the registry's next open, with
    // a warning, and the alias where it was.)
    let actor = actor();
    let alias = args.alias.as_deref().map(|alias| AliasRequest {
        alias,
        actor: &actor,
        reason: Some("set by models train --alias"),
    });
    let trained = tokio::task::block_in_place(|| {
        model::train_model(
            registry,
            &args.name,
            &rows,
            &columns,
            &source,
            &config,
            &chrono::Utc::now,
            alias,
        )
    })
    // No rows to train on is bad input (the file or query given), not a failed run.
    .map_err(|e| Failure::from(e).usage_if(rows.texts.is_empty()))?;
    let moved = trained.alias.clone();
    if global.json {
        return super::print_json(&serde_json::json!({
            "ok": true,
            "name": trained.version.name,
            "version": trained.version.version,
            "dir": trained.version.dir,
            "alias": moved,
            "report": trained.report,
            "skipped_rows": trained.skipped_rows,
        }));
    }
    let r = &trained.report;
    outln!("{}@{}", trained.version.name, trained.version.version);
    if global.quiet {
        return Ok(());
    }
    eprintln_summary(&format!(
        "trained {}@{} on {} rows ({} skipped), {} labels{} in {:.1} s; holdout accuracy {}; calibration: temperature {:.2}, holdout log-loss {}, ECE {}; bundle {}",
        trained.version.name,
        trained.version.version,
        r.rows,
        trained.skipped_rows,
        r.classes,
        r.parents
            .map(|p| format!(" under {p} parents"))
            .unwrap_or_default(),
        r.seconds,
        r.holdout_accuracy
            .map(|a| format!("{:.1}%", a * 100.0))
            .unwrap_or_else(|| "-".into()),
        r.temperature,
        before_after(r.log_loss_before, r.log_loss_after),
        before_after(r.ece_before, r.ece_after),
        trained.version.dir.display(),
    ));
    if let Some(m) = moved {
        eprintln_summary(&format!(
            "alias {} -> {}",
            m.alias,
            m.to_version.map_or_else(|| "-".into(), |v| v.to_string())
        ));
    }
    Ok(())
}

/// Mean words per text above which the texts are long documents (see [`hidden_units`]).
const LONG_TEXT_WORDS: usize = 150;

/// The hidden layer's units: `--hidden` when given; else 0 for long documents, where the
/// hidden layer's training time grows with each text's features (7 000 newsgroup posts: 365 s
/// against 17 s without it) for about the same accuracy (99.0 against 99.1%), or
/// [`default_hidden_units`] of the `classes`.
fn hidden_units(texts: &[String], classes: usize, asked: Option<u16>) -> u16 {
    let default = u16::try_from(default_hidden_units(classes)).unwrap_or(128);
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    let mean = words / texts.len().max(1);
    match asked {
        Some(units) => {
            if units > 0 && mean > LONG_TEXT_WORDS {
                tracing::warn!(
                    "the texts average {mean} words: the hidden layer ({units} units) makes \
                     training on long documents about 20x slower than the linear model alone, \
                     for about the same accuracy"
                );
            }
            units
        }
        None if mean > LONG_TEXT_WORDS => {
            tracing::info!(
                "the texts average {mean} words: training the linear model alone, without the \
                 hidden layer (about 20x slower on long documents, for about the same accuracy; \
                 --hidden {default} to have it anyway)"
            );
            0
        }
        None => default,
    }
}

/// Warns about labels seen under more than one parent in the training rows, naming a few:
/// each is given its most frequent parent, and its other examples teach the model a parent it
/// will never predict for it.
fn warn_labels_under_several_parents(rows: &model::LabelledRows) {
    let Some(parents) = &rows.parents else {
        return;
    };
    let mut seen: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, usize>> =
        std::collections::BTreeMap::new();
    for (label, parent) in rows.labels.iter().zip(parents) {
        if !parent.is_empty() {
            *seen
                .entry(label.as_str())
                .or_default()
                .entry(parent.as_str())
                .or_default() += 1;
        }
    }
    let several: Vec<String> = seen
        .iter()
        .filter(|(_, p)| p.len() > 1)
        .map(|(label, p)| {
            let list: Vec<String> = p.iter().map(|(name, n)| format!("{name} {n}")).collect();
            format!("`{label}` ({})", list.join(", "))
        })
        .collect();
    if several.is_empty() {
        return;
    }
    tracing::warn!(
        "{} label(s) appear under more than one parent: {}{}; each is given its most frequent \
         parent (the first by name on a tie), and the model predicts that one",
        several.len(),
        several
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("; "),
        if several.len() > 3 { "; ..." } else { "" }
    );
}

/// `a -> b` to three decimals, or `-` without a holdout.
fn before_after(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(a), Some(b)) => format!("{a:.3} -> {b:.3}"),
        _ => "-".into(),
    }
}

#[allow(clippy::print_stderr)]
fn eprintln_summary(line: &str) {
    eprintln!("{line}");
}

#[allow(clippy::print_stdout)]
async fn eval(
    global: &GlobalArgs,
    project: &Project,
    registry: &Registry,
    args: &EvalArgs,
) -> Result<(), Failure> {
    let reference = parse_ref(&args.model)?;
    let loaded = model::load_model(registry, &reference)?;
    if let Some(parent) = &args.data.parent_column
        && loaded.classifier.parents().is_none()
    {
        return Err(Failure::usage(
            format!(
                "{}@{} has no parent labels (it was trained without --parent-column), so --parent-column {parent} cannot be scored",
                loaded.name(),
                loaded.version.version
            ),
            Some("leave out --parent-column, or evaluate a model trained with one".into()),
        ));
    }
    let (batches, source) = load_rows(project, &args.data).await?;
    let columns = columns(&args.data, loaded.extra_columns());
    let rows = model::labelled_rows(&batches, &columns, &source)?;
    warn_merged_lines(&args.data, &batches, &rows.texts);
    if rows.texts.is_empty() {
        return Err(Failure::usage(
            format!("no labelled rows in {source}"),
            Some("check the file and --text-column / --label-column".into()),
        ));
    }
    let report = tokio::task::block_in_place(|| model::evaluate(&loaded, &rows))?;
    // Scores of rows whose every label is unknown would be meaningless zeros: an error of
    // the input, naming the labels the model knows.
    let none_known = |rows: u64, what: &str, known: &[String], column: &str| {
        let shown: Vec<&str> = known.iter().take(5).map(String::as_str).collect();
        Failure::usage(
            format!(
                "none of the {rows} {} rows in {source} has a {what} {}@{} knows (its {} {what}s: {}{})",
                if what == "label" {
                    "labelled"
                } else {
                    "scored"
                },
                report.model,
                report.version,
                known.len(),
                shown.join(", "),
                if known.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            ),
            Some(format!(
                "{column} must name the column the model was trained with as its {what}, whose values are {what}s like those above"
            )),
        )
    };
    if report.rows == 0 {
        let labels = loaded.classifier.labels();
        return Err(none_known(
            report.unknown_labels,
            "label",
            labels,
            "--label-column",
        ));
    }
    if let Some(unknown) = report.unknown_parent_labels
        && report.parent_accuracy.is_none()
    {
        let parents = loaded.classifier.parents().unwrap_or_default();
        return Err(none_known(
            unknown,
            "parent label",
            parents,
            "--parent-column",
        ));
    }
    if let Some(unknown) = report.unknown_parent_labels
        && unknown > 0
    {
        tracing::warn!(
            "{unknown} of the {} scored rows have a parent label {}@{} does not know and are \
             left out of parent_accuracy (unknown_parent_labels)",
            report.rows,
            report.model,
            report.version
        );
    }
    if report.unknown_labels > report.rows {
        tracing::warn!(
            "{} of the {} labelled rows have a label {}@{} does not know and are left out: the \
             figures cover only the other {}; is --label-column the column the model predicts?",
            report.unknown_labels,
            report.unknown_labels + report.rows,
            report.model,
            report.version,
            report.rows
        );
    }
    registry
        .update_metrics(
            &report.model,
            report.version,
            "last_eval",
            serde_json::json!({ "source": source, "report": report }),
            chrono::Utc::now(),
        )
        .map_err(nightshift_pipeline::Error::from)?;
    if global.json {
        return super::print_json(&report);
    }
    outln!("model            {}@{}", report.model, report.version);
    outln!(
        "rows             {} (unknown labels {}, skipped {})",
        report.rows,
        report.unknown_labels,
        report.skipped_rows
    );
    outln!("accuracy         {:.2}%", report.accuracy * 100.0);
    outln!("macro F1         {:.2}%", report.macro_f1 * 100.0);
    if let Some(p) = report.parent_accuracy {
        match report.unknown_parent_labels {
            Some(unknown) if unknown > 0 => outln!(
                "parent accuracy  {:.2}% (unknown parent labels {unknown})",
                p * 100.0
            ),
            _ => outln!("parent accuracy  {:.2}%", p * 100.0),
        }
    }
    outln!("ECE              {:.4}", report.ece);
    outln!("rows/second      {:.0}", report.rows_per_second);
    Ok(())
}

#[allow(clippy::print_stdout)]
fn predict(global: &GlobalArgs, registry: &Registry, args: &PredictArgs) -> Result<(), Failure> {
    let reference = parse_ref(&args.model)?;
    let loaded = model::load_model(registry, &reference)?;
    let mut extras: Vec<(&str, &str)> = Vec::new();
    for e in &args.extras {
        let (k, v) = e.split_once('=').ok_or_else(|| {
            Failure::usage(
                format!("--extra {e}: expected COLUMN=VALUE"),
                Some(format!(
                    "e.g. --extra {e}=... (the value may be empty: --extra {e}=)"
                )),
            )
        })?;
        if args
            .extras
            .iter()
            .filter(|o| o.split_once('=').map(|(c, _)| c) == Some(k))
            .count()
            > 1
        {
            return Err(Failure::usage(
                format!("--extra {k} is given twice"),
                Some("give each structured input once: one prediction is for one row".into()),
            ));
        }
        let known = loaded.extra_columns();
        if !known.iter().any(|c| c == k) {
            return Err(Failure::usage(
                format!(
                    "--extra {k}: {}@{} has no structured input `{k}`",
                    loaded.name(),
                    loaded.version.version
                ),
                Some(if known.is_empty() {
                    "this model reads only the text: leave out --extra".into()
                } else {
                    format!("its structured inputs: {}", known.join(", "))
                }),
            ));
        }
        extras.push((k, v));
    }
    // `run` refuses features without the model's structured inputs: so does predict.
    let missing: Vec<&str> = loaded
        .extra_columns()
        .iter()
        .map(String::as_str)
        .filter(|c| !extras.iter().any(|(k, _)| k == c))
        .collect();
    if !missing.is_empty() {
        return Err(Failure::usage(
            format!(
                "{}@{} also reads the structured input(s) {}",
                loaded.name(),
                loaded.version.version,
                missing.join(", ")
            ),
            Some(format!(
                "give each as --extra COLUMN=VALUE, e.g. --extra {}=...",
                missing[0]
            )),
        ));
    }
    if args.text.trim().is_empty() {
        return Err(Failure::usage(
            "--text is empty: there is nothing to classify",
            Some(
                "pipelines refuse empty texts too (reason `empty_text` in the rejects table)"
                    .into(),
            ),
        ));
    }
    let input = Input {
        text: &args.text,
        extras: &extras,
    };
    let prediction = loaded.classifier.predict(&input, usize::from(args.top_k));
    let labels = loaded.classifier.labels();
    let name = |i: u32| labels.get(i as usize).cloned().unwrap_or_default();
    let parent = prediction.parent.and_then(|p| {
        loaded
            .classifier
            .parents()
            .and_then(|ps| ps.get(p as usize).cloned())
    });
    let top: Vec<serde_json::Value> = prediction
        .top_k
        .iter()
        .map(|(l, c)| serde_json::json!({ "label": name(*l), "confidence": c }))
        .collect();
    if global.json {
        return super::print_json(&serde_json::json!({
            "model": loaded.name(),
            "version": loaded.version.version,
            "label": name(prediction.label),
            "confidence": prediction.confidence,
            "parent": parent,
            "parent_confidence": prediction.parent_confidence,
            "top_k": top,
        }));
    }
    match parent {
        Some(p) => outln!(
            "{p} / {}  ({:.1}%)",
            name(prediction.label),
            prediction.confidence * 100.0
        ),
        None => outln!(
            "{}  ({:.1}%)",
            name(prediction.label),
            prediction.confidence * 100.0
        ),
    }
    for (l, c) in &prediction.top_k {
        // Padded to the label's width on screen: a CJK character takes two columns.
        let label = name(*l);
        let pad = 28usize.saturating_sub(unicode_width::UnicodeWidthStr::width(label.as_str()));
        outln!("  {label}{} {:>5.1}%", " ".repeat(pad), c * 100.0);
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
fn list(global: &GlobalArgs, registry: &Registry) -> Result<(), Failure> {
    let models = registry.list().map_err(nightshift_pipeline::Error::from)?;
    if global.json {
        return super::print_json(&models);
    }
    if models.is_empty() {
        outln!("no models yet: train one with `nightshift models train NAME --data FILE ...`");
        return Ok(());
    }
    outln!("{:<24} {:>7} {:>9}  aliases", "model", "latest", "versions");
    for m in models {
        let aliases: Vec<String> = m.aliases.iter().map(|(a, v)| format!("{a}->{v}")).collect();
        outln!(
            "{:<24} {:>7} {:>9}  {}",
            m.name,
            m.latest.version,
            m.versions,
            aliases.join(", ")
        );
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
fn show(global: &GlobalArgs, registry: &Registry, args: &ShowArgs) -> Result<(), Failure> {
    let reference = parse_ref(&args.model)?;
    let name = &reference.name;
    let mut versions = registry
        .versions(name)
        .map_err(nightshift_pipeline::Error::from)?;
    let aliases = registry
        .aliases(name)
        .map_err(nightshift_pipeline::Error::from)?;
    if versions.is_empty() {
        return Err(Failure::usage(
            format!("no model named `{name}`"),
            Some("`nightshift models list` shows the models".into()),
        ));
    }
    // `name@3`, `name@production`, `name@latest`: that version alone.
    if args.model.contains('@') {
        let one = registry
            .resolve(&reference)
            .map_err(nightshift_pipeline::Error::from)?;
        versions.retain(|v| v.version == one.version);
    }
    // What each version is (from its manifest: labels, hidden layer, training source); a
    // bundle whose manifest cannot be read is listed with the reason instead.
    let details: Vec<Result<ModelDetails, String>> = versions
        .iter()
        .map(|v| {
            Bundle::read_manifest(&v.dir)
                .map(|m| ModelDetails::of(&m))
                .map_err(|e| e.to_string())
        })
        .collect();
    if global.json {
        let versions: Vec<serde_json::Value> = versions
            .iter()
            .zip(&details)
            .map(|(v, d)| {
                let mut value = serde_json::to_value(v).unwrap_or_default();
                if let (Some(object), Ok(d)) = (value.as_object_mut(), d) {
                    object.insert("labels".into(), d.labels.into());
                    object.insert("parents".into(), d.parents.into());
                    object.insert("hidden".into(), d.hidden.into());
                    object.insert("training_source".into(), d.source.clone().into());
                    object.insert("extra_columns".into(), d.extra_columns.clone().into());
                }
                value
            })
            .collect();
        return super::print_json(
            &serde_json::json!({ "name": name, "aliases": aliases, "versions": versions }),
        );
    }
    outln!("model {name}");
    for (alias, v) in &aliases {
        outln!("  alias {alias} -> {v}");
    }
    for (v, d) in versions.iter().zip(&details) {
        let acc = v
            .metrics
            .pointer("/training/holdout_accuracy")
            .and_then(|a| a.as_f64())
            .map(|a| format!("holdout accuracy {:.1}%", a * 100.0))
            .unwrap_or_default();
        outln!(
            "  version {:<4} {}  {} rows  {}  {}",
            v.version,
            v.created_at.format("%Y-%m-%d %H:%M:%S"),
            v.training_rows,
            acc,
            v.dir.display()
        );
        match d {
            Ok(d) => outln!("               {}", d.summary()),
            Err(e) => outln!("               manifest unreadable: {e}"),
        }
    }
    Ok(())
}

/// What `models show` says about a version beyond the registry's index.
struct ModelDetails {
    labels: usize,
    /// Distinct parent labels (0 without a hierarchy).
    parents: usize,
    /// Hidden units (0: linear model only).
    hidden: u64,
    source: String,
    /// Structured inputs besides the text (`--extra-columns`).
    extra_columns: Vec<String>,
}

impl ModelDetails {
    fn of(m: &nightshift_registry::Manifest) -> Self {
        let parents = m.parents.as_ref().map_or(0, |p| {
            p.iter().collect::<std::collections::BTreeSet<_>>().len()
        });
        Self {
            labels: m.labels.len(),
            parents,
            hidden: m
                .hyperparameters
                .get("hidden")
                .and_then(|h| h.as_u64())
                .unwrap_or(0),
            source: m.training_data.source.clone(),
            extra_columns: m.input_schema.extra_columns.clone(),
        }
    }

    fn summary(&self) -> String {
        let parents = if self.parents > 0 {
            format!(" in {} parents", self.parents)
        } else {
            String::new()
        };
        let layer = if self.hidden > 0 {
            format!("linear + hidden layer of {} units", self.hidden)
        } else {
            "linear".to_string()
        };
        let mut source = self.source.replace(['\n', '\r'], " ");
        if source.chars().count() > 60 {
            source = source.chars().take(57).collect::<String>() + "...";
        }
        let inputs = if self.extra_columns.is_empty() {
            String::new()
        } else {
            format!("; structured inputs {}", self.extra_columns.join(", "))
        };
        format!(
            "{} labels{parents}, {layer}{inputs}; trained on {source}",
            self.labels
        )
    }
}

#[allow(clippy::print_stdout)]
fn alias(
    global: &GlobalArgs,
    project: &Project,
    registry: &Registry,
    args: &AliasArgs,
) -> Result<(), Failure> {
    if let Some(reason) = &args.reason
        && reason.chars().any(char::is_control)
    {
        return Err(Failure::usage(
            "--reason holds a line break or another control character",
            Some("give the reason on one line (`models history` prints one line per move)".into()),
        ));
    }
    let usage = |e: nightshift_registry::Error| {
        let hint = e.hint();
        Failure::usage(e, hint)
    };
    let Some(version) = args.version else {
        // `--remove` (clap requires one or the other).
        let removed = registry
            .remove_alias(
                &args.name,
                &args.alias,
                &actor(),
                args.reason.as_deref(),
                chrono::Utc::now(),
            )
            .map_err(usage)?;
        let current = ModelRef {
            name: args.name.clone(),
            selector: Selector::Alias(args.alias.clone()),
        };
        for pipeline in pipelines_running(project, &current) {
            tracing::warn!(
                "pipeline {pipeline} runs {current}, which now resolves to nothing: its next runs \
                 fail at the start until the alias is set again or its `model` changed"
            );
        }
        if global.json {
            return super::print_json(&removed);
        }
        outln!(
            "{} {}: {} -> (removed)",
            args.name,
            removed.alias,
            removed
                .from_version
                .map_or_else(|| "-".into(), |v| v.to_string())
        );
        return Ok(());
    };
    let target = ModelRef {
        name: args.name.clone(),
        selector: Selector::Version(version),
    };
    registry.resolve(&target).map_err(usage)?;
    // The version is loaded as a run would load it (checksums, kind, weights): an alias
    // never moves to a bundle that a run would then fail on.
    let new = model::load_model(registry, &target).map_err(|e| {
        let mut failure = Failure::from(e);
        failure.hint = Some(format!(
            "{}; the alias was not moved",
            failure
                .hint
                .take()
                .unwrap_or_else(|| "train a new version".into())
        ));
        failure
    })?;
    let current = ModelRef {
        name: args.name.clone(),
        selector: Selector::Alias(args.alias.clone()),
    };
    if let Ok(old) = registry.resolve(&current)
        && old.version != version
        && let Ok(old) = Bundle::read_manifest(&old.dir)
    {
        warn_alias_change(project, &current, &old, &new.manifest);
    }
    let moved = registry
        .set_alias(
            &args.name,
            &args.alias,
            version,
            &actor(),
            args.reason.as_deref(),
            chrono::Utc::now(),
        )
        .map_err(usage)?;
    if global.json {
        return super::print_json(&moved);
    }
    if moved.changed {
        outln!(
            "{} {}: {} -> {}",
            args.name,
            moved.alias,
            moved
                .from_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(none)".into()),
            version
        );
    } else {
        outln!(
            "{} {} already points at {version}; nothing recorded",
            args.name,
            moved.alias,
        );
    }
    Ok(())
}

/// The pipelines of the project whose `model` is `reference`.
fn pipelines_running<'a>(project: &'a Project, reference: &ModelRef) -> Vec<&'a str> {
    project
        .pipelines
        .values()
        .filter(|p| {
            p.model
                .as_deref()
                .and_then(|m| ModelRef::from_str(m).ok())
                .is_some_and(|m| m == *reference)
        })
        .map(|p| p.name.as_str())
        .collect()
}

/// Warns, for each pipeline of the project that runs `reference` (`name@alias`), of what
/// moving the alias from `old` to `new` changes in its output or needs from its features
/// query: said before the move, when it can still be undone, rather than found in the next
/// runs.
fn warn_alias_change(
    project: &Project,
    reference: &ModelRef,
    old: &nightshift_registry::Manifest,
    new: &nightshift_registry::Manifest,
) {
    let pipelines = pipelines_running(project, reference);
    if pipelines.is_empty() {
        return;
    }
    let (name, pipelines) = (&reference.name, pipelines.join(", "));
    if old.parents.is_some() && new.parents.is_none() {
        tracing::warn!(
            "{name}@{} predicts no parent label (trained without --parent-column) where \
             {name}@{} did: the `category` of pipeline {pipelines}'s predictions and rollups \
             will be empty from its next run on",
            new.version,
            old.version
        );
    }
    let added: Vec<&str> = new
        .input_schema
        .extra_columns
        .iter()
        .filter(|c| !old.input_schema.extra_columns.contains(c))
        .map(String::as_str)
        .collect();
    if !added.is_empty() {
        tracing::warn!(
            "{name}@{} reads the column(s) {} that {name}@{} did not: the features query of \
             pipeline {pipelines} must return them, or its next runs fail in `features`",
            new.version,
            added.join(", "),
            old.version
        );
    }
}

#[allow(clippy::print_stdout)]
fn history(global: &GlobalArgs, registry: &Registry, args: &NameArg) -> Result<(), Failure> {
    let moves = registry
        .alias_history(&args.name)
        .map_err(nightshift_pipeline::Error::from)?;
    if global.json {
        return super::print_json(&moves);
    }
    if moves.is_empty() {
        outln!("no alias of `{}` has been set", args.name);
    }
    for m in moves {
        outln!(
            "{}  {:<12} {} -> {}  by {}{}",
            m.at.format("%Y-%m-%d %H:%M:%S"),
            m.alias,
            m.from_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(none)".into()),
            m.to_version
                .map_or_else(|| "(removed)".into(), |v| v.to_string()),
            m.actor,
            // One line per move, whatever a reason recorded by an older build holds.
            m.reason
                .map(|r| format!("  ({})", one_line(&r)))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `text` with its control characters (line breaks, ...) written as escapes: `\n`, `\u{1b}`.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
