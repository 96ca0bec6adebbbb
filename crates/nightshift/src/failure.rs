//! How a failed command is reported: exit code, `error:` line, `hint:` line.

use std::io::Write;
use std::process::ExitCode;

/// A command that did not succeed.
pub(crate) struct Failure {
    /// 1 = the work failed, 2 = bad usage or configuration.
    pub(crate) code: u8,
    pub(crate) error: anyhow::Error,
    pub(crate) hint: Option<String>,
    /// The command already printed its JSON document (which says it failed): print no second one.
    pub(crate) json_printed: bool,
}

impl Failure {
    /// The work failed (exit 1).
    pub(crate) fn work(error: anyhow::Error) -> Failure {
        Failure {
            code: 1,
            error,
            hint: None,
            json_printed: false,
        }
    }

    /// Adds a `hint:` line.
    pub(crate) fn hinted(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    /// The same failure as bad usage or input (exit 2) when `usage` holds: an error of the
    /// work's own kind caused by what the command line gave it.
    pub(crate) fn usage_if(mut self, usage: bool) -> Failure {
        if usage {
            self.code = 2;
        }
        self
    }

    /// Bad usage or configuration (exit 2).
    pub(crate) fn usage(error: impl std::fmt::Display, hint: Option<String>) -> Failure {
        Failure {
            code: 2,
            error: anyhow::anyhow!("{error}"),
            hint,
            json_printed: false,
        }
    }

    /// Prints the failure (stderr; also a JSON document on stdout with `--json`).
    #[allow(clippy::print_stderr, clippy::print_stdout)]
    pub(crate) fn report(mut self, json: bool) -> ExitCode {
        let message = chain_message(&self.error);
        if self.hint.is_none() {
            self.hint = fallback_hint(&message);
        }
        self.hint = self.hint.map(|h| pasteable(&h));
        let config = self.error.downcast_ref::<nightshift_core::ConfigErrors>();
        // Written, not `eprintln!`ed: a closed stderr must not turn the exit code into a panic's.
        let mut err = std::io::stderr().lock();
        let _ = if config.is_some() {
            // Already formatted as `error: file:line:col: ...` / `hint:` blocks.
            writeln!(err, "{message}")
        } else {
            writeln!(err, "error: {message}").and_then(|()| match &self.hint {
                Some(hint) => writeln!(err, "  hint: {hint}"),
                None => Ok(()),
            })
        };
        for note in panic_notes(&message) {
            let _ = writeln!(
                err,
                "  note: {note} (perhaps a consequence of the error above; RUST_BACKTRACE=1 shows its stack)"
            );
        }
        drop(err);
        if json && !self.json_printed {
            let mut doc = serde_json::json!({
                "ok": false,
                "exit_code": self.code,
                "error": message,
                "hint": self.hint,
            });
            // A project file's errors one by one, each with its place and hint, and the
            // summary line as the error.
            if let Some(config) = config {
                doc["error"] = message.lines().last().unwrap_or_default().into();
                doc["diagnostics"] = config
                    .diagnostics
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "file": d.file.display().to_string(),
                            "line": d.line,
                            "column": d.column,
                            "message": d.message,
                            "hint": d.hint,
                        })
                    })
                    .collect();
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{doc}");
        }
        ExitCode::from(self.code)
    }
}

/// A panic on a thread other than the main one, held back by [`install_panic_hook`].
#[derive(Debug, Clone, PartialEq)]
struct WorkerPanic {
    message: String,
    location: String,
}

/// The worker panics held back so far (at most [`MAX_HELD_PANICS`]).
static WORKER_PANICS: std::sync::Mutex<Vec<WorkerPanic>> = std::sync::Mutex::new(Vec::new());

const MAX_HELD_PANICS: usize = 4;

/// Set by a long-running command (the scheduler): held-back panics are also logged as
/// warnings when they happen.
static LOG_PANICS_AT_ONCE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// For a command that runs for long (the scheduler): a worker's panic is logged as a warning
/// when it happens, rather than only told when the command ends.
pub(crate) fn log_panics_when_they_happen() {
    LOG_PANICS_AT_ONCE.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// After a command that succeeded: the worker panics that were caught and recovered from,
/// as `note:` lines on stderr (nothing when there were none).
pub(crate) fn report_recovered_panics() {
    let notes = panic_notes("");
    if notes.is_empty() {
        return;
    }
    let mut err = std::io::stderr().lock();
    for note in notes {
        let _ = writeln!(
            err,
            "note: {note}; the command recovered from it and succeeded (RUST_BACKTRACE=1 shows its stack)"
        );
    }
}

fn hold(panic: WorkerPanic) {
    // The same panic from several threads (one per file being written, say) is told once.
    if let Ok(mut held) = WORKER_PANICS.lock()
        && held.len() < MAX_HELD_PANICS
        && !held.contains(&panic)
    {
        held.push(panic);
    }
}

/// Whether a panic on the thread named `thread` is held back rather than printed at once.
fn held_back(thread: Option<&str>, debugging: bool) -> bool {
    !debugging && thread != Some("main")
}

/// The held-back panics that the failure's `message` does not already tell, each as
/// "a worker thread panicked at PLACE: MESSAGE" (the caller adds the label and the ending).
fn panic_notes(message: &str) -> Vec<String> {
    let held = WORKER_PANICS
        .lock()
        .map(|held| held.clone())
        .unwrap_or_default();
    held.into_iter()
        .filter(|p| !message.contains(&p.message))
        .map(|p| {
            format!(
                "a worker thread panicked at {}: {}",
                short_location(&p.location),
                p.message
            )
        })
        .collect()
}

/// A panic's place without the cargo registry's directories: a dependency's
/// `/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/object_store-0.13.2/src/x.rs:1:2`
/// is `object_store-0.13.2/src/x.rs:1:2`.
fn short_location(location: &str) -> &str {
    match location.find("/registry/src/") {
        Some(at) => {
            let rest = &location[at + "/registry/src/".len()..];
            rest.find('/').map_or(rest, |slash| &rest[slash + 1..])
        }
        None => location,
    }
}

/// Holds back the standard message of a panic on a worker thread instead of printing it at
/// once. Libraries under us catch some of their own panics and return them as errors (the
/// Delta writer's upload task on a full disk, for one), and the standard hook would print a
/// `thread 'tokio-rt-worker' panicked` message, unexplained, above the clear `error:` /
/// `hint:` lines of that same failure. A held-back panic is logged at debug level (`-v`; as
/// a warning in the scheduler, [`log_panics_when_they_happen`]) and printed as a `note:`
/// when the command ends: under its error if it fails, unless the error already says it, or
/// after its output if it succeeded ([`report_recovered_panics`]). The main thread's panics, and every panic when `RUST_BACKTRACE` is set (someone is debugging),
/// go to the standard hook as before.
pub(crate) fn install_panic_hook() {
    let standard = std::panic::take_hook();
    let debugging = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| !v.is_empty() && v != "0");
    std::panic::set_hook(Box::new(move |info| {
        if !held_back(std::thread::current().name(), debugging) {
            return standard(info);
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(a panic without a message)".to_string());
        let location = info
            .location()
            .map_or_else(|| "an unknown place".to_string(), |l| l.to_string());
        if LOG_PANICS_AT_ONCE.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(%location, "a worker thread panicked: {message}");
        } else {
            tracing::debug!(%location, "a worker thread panicked: {message}");
        }
        hold(WorkerPanic { message, location });
    }));
}

impl From<nightshift_core::ConfigErrors> for Failure {
    fn from(e: nightshift_core::ConfigErrors) -> Failure {
        Failure {
            code: 2,
            error: anyhow::Error::new(e),
            hint: None,
            json_printed: false,
        }
    }
}

impl From<nightshift_lake::Error> for Failure {
    fn from(e: nightshift_lake::Error) -> Failure {
        let hint = e.hint();
        // SQL that is not a query was a mistake of usage, not a failure of the work.
        let code = if matches!(e, nightshift_lake::Error::NotAQuery { .. }) {
            2
        } else {
            1
        };
        Failure {
            code,
            error: anyhow::Error::new(e),
            hint,
            json_printed: false,
        }
    }
}

impl From<nightshift_pipeline::Error> for Failure {
    fn from(e: nightshift_pipeline::Error) -> Failure {
        let hint = e.hint();
        use nightshift_registry::Error as R;
        let code = match &e {
            nightshift_pipeline::Error::Config { .. } => 2,
            // A reference to a model, version or alias that does not exist is a usage error;
            // a damaged bundle or database is a failure of the work.
            nightshift_pipeline::Error::Registry(
                R::InvalidModelRef { .. }
                | R::InvalidName { .. }
                | R::ReservedAlias { .. }
                | R::UnknownModel { .. }
                | R::UnknownVersion { .. }
                | R::UnknownAlias { .. },
            ) => 2,
            // So is an unknown run id, or a retry of a run that needs none.
            nightshift_pipeline::Error::Runs(
                nightshift_runs::Error::UnknownRun { .. }
                | nightshift_runs::Error::NothingToRetry { .. }
                | nightshift_runs::Error::AlreadyRetried { .. }
                | nightshift_runs::Error::BeingRetried { .. },
            ) => 2,
            _ => 1,
        };
        Failure {
            code,
            error: anyhow::Error::new(e),
            hint,
            json_printed: false,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::work(error)
    }
}

/// The error and its causes as one line, `outer: cause: root cause`, leaving out a cause whose
/// text the line already holds: most library errors repeat their source in their own message
/// (DataFusion's `External error: X`, Delta's `Kernel error: X`), which `{:#}` would print
/// two to five times.
/// Backtraces that some errors append to their text (under `RUST_BACKTRACE`) are cut.
fn chain_message(error: &anyhow::Error) -> String {
    let text =
        |e: &dyn std::fmt::Display| nightshift_lake::without_backtrace(&e.to_string()).to_string();
    let mut message = text(error);
    for cause in error.chain().skip(1) {
        let cause = text(&cause);
        // Also a cause that only puts its kind before a text already said ("sql parser
        // error: X" under "SQL error: ParserError(\"X\")").
        let said = |t: &str| t.len() >= 16 && message.contains(t);
        let core = cause.split_once("error: ").map_or("", |(_, rest)| rest);
        if !message.contains(&cause) && !said(core) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}

/// A hint for an error whose own layer had none, from what its message says.
fn fallback_hint(message: &str) -> Option<String> {
    if message.contains("No space left on device") || message.contains("Disk quota exceeded") {
        return Some(
            "the disk is full: free space where the project lives (`nightshift vacuum` deletes \
             the files that re-runs replaced), then run again; what was being written was not \
             committed, so nothing half-written shows"
                .into(),
        );
    }
    None
}

/// The `--project DIR` the command line gave (not `NIGHTSHIFT_PROJECT`, which a pasted
/// command finds in the same environment), as hints write it.
static PROJECT_ARG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Whether the command line gave `--project`.
pub(crate) fn project_given() -> bool {
    PROJECT_ARG.get().is_some()
}

/// Remembers `dir` as the command line's `--project`, for [`pasteable`].
pub(crate) fn set_project_arg(dir: &std::path::Path) {
    let text = dir.to_string_lossy();
    let quoted = if text
        .chars()
        .all(|c| c.is_alphanumeric() || "/._-+:@,".contains(c))
    {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    };
    let _ = PROJECT_ARG.set(quoted);
}

/// `text` with `--project DIR` put into each `nightshift SUBCOMMAND` it suggests, when the
/// command line named its project with `--project`: the suggestion then works when pasted
/// where the failed command ran.
pub(crate) fn pasteable(text: &str) -> String {
    // Not `init` and `demo`, which make their own project.
    const SUBCOMMANDS: [&str; 7] = [
        "run ",
        "runs ",
        "models ",
        "sql ",
        "vacuum",
        "scheduler",
        "generate ",
    ];
    let Some(project) = PROJECT_ARG.get() else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(at) = rest.find("nightshift ") {
        let (before, after) = rest.split_at(at + "nightshift ".len());
        out.push_str(before);
        if SUBCOMMANDS.iter().any(|c| after.starts_with(c)) {
            out.push_str("--project ");
            out.push_str(project);
            out.push(' ');
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_panics_are_held_for_the_error_report_unless_it_tells_them() {
        assert!(held_back(Some("tokio-rt-worker"), false));
        assert!(held_back(None, false));
        assert!(!held_back(Some("main"), false));
        assert!(!held_back(Some("tokio-rt-worker"), true));
        hold(WorkerPanic {
            message: "Already shut down".into(),
            location: "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/object_store-0.13.2/src/buffered.rs:369:41".into(),
        });
        let notes = panic_notes("No space left on device (os error 28)");
        assert_eq!(
            notes,
            vec![
                "a worker thread panicked at object_store-0.13.2/src/buffered.rs:369:41: Already shut down"
            ]
        );
        assert!(panic_notes("task 3 panicked with message \"Already shut down\"").is_empty());
        // Told once however many threads hit it.
        hold(WorkerPanic {
            message: "Already shut down".into(),
            location: "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/object_store-0.13.2/src/buffered.rs:369:41".into(),
        });
        assert_eq!(panic_notes("").len(), 1);
        for i in 0..2 * MAX_HELD_PANICS {
            hold(WorkerPanic {
                message: format!("panic {i}"),
                location: "x.rs:1:1".into(),
            });
        }
        assert_eq!(panic_notes("").len(), MAX_HELD_PANICS);
        assert_eq!(
            short_location("crates/nightshift/src/main.rs:3:4"),
            "crates/nightshift/src/main.rs:3:4"
        );
    }

    /// An error that repeats its source in its own message, as many libraries' do.
    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Kernel error: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = || std::io::Error::other("unexpected 'g' in log");
        let error = anyhow::Error::new(Repeats(io())).context("table `raw.orders`");
        assert_eq!(
            chain_message(&error),
            "table `raw.orders`: Kernel error: unexpected 'g' in log"
        );
        let error = anyhow::Error::new(io()).context("reading the log");
        assert_eq!(
            chain_message(&error),
            "reading the log: unexpected 'g' in log"
        );
    }

    #[test]
    fn a_full_disk_gets_a_hint() {
        let hint = fallback_hint(
            "table output.rc_predictions: Failed to parse parquet: External: No space left on device (os error 28)",
        );
        assert!(hint.is_some_and(|h| h.contains("the disk is full")));
        assert_eq!(fallback_hint("something else"), None);
    }

    #[test]
    fn suggested_commands_name_the_project_the_command_line_named() {
        let hint = "run it: `nightshift runs retry X` or nightshift run p --date D; nightshift --project q sql; nightshift init p";
        assert_eq!(pasteable(hint), hint, "no --project given");
        set_project_arg(std::path::Path::new("my dir/p"));
        assert_eq!(
            pasteable(hint),
            "run it: `nightshift --project 'my dir/p' runs retry X` or nightshift --project 'my dir/p' run p --date D; nightshift --project q sql; nightshift init p"
        );
    }
}
