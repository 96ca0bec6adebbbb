//! The `nightshift` binary: parses the command line, runs the command, maps failures to exit
//! codes (0 success, 1 the work failed, 2 bad usage or configuration) and prints `error:` /
//! `hint:` lines. Data goes to stdout; logs and progress bars to stderr.

/// `println!` to standard output, its write errors dropped (see [`stdout_line`]).
macro_rules! outln {
    () => {
        $crate::stdout_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::stdout_line(format_args!($($arg)*))
    };
}

mod cli;
mod commands;
mod failure;
mod progress;
mod scaffold;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::failure::Failure;

fn main() -> ExitCode {
    failure::install_panic_hook();
    // `NIGHTSHIFT_PROJECT=` (an unset CI variable, say) means no project given, not an empty
    // `--project` value that the user never typed.
    if std::env::var_os("NIGHTSHIFT_PROJECT").is_some_and(|v| v.is_empty()) {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::remove_var("NIGHTSHIFT_PROJECT") };
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            if e.use_stderr() {
                let _ = write!(std::io::stderr().lock(), "{}", usage_error_text(&e));
            } else {
                let _ = e.print();
            }
            // Scripts that asked for JSON get their one document for a usage error too.
            if code == 2 && std::env::args_os().any(|a| a == "--json") {
                // clap's message: its first paragraph, on one line; for a command group
                // given without its subcommand clap prints the group's help, whose first
                // paragraph describes the group.
                let text = e.to_string();
                let message = if e.kind()
                    == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                {
                    "a subcommand is required (see --help for the list)".to_string()
                } else {
                    text.split("\n\n")
                        .next()
                        .unwrap_or("invalid usage")
                        .trim_start_matches("error: ")
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let doc = serde_json::json!({
                    "ok": false,
                    "exit_code": code,
                    "error": message,
                    "hint": "see --help",
                });
                let _ = writeln!(std::io::stdout().lock(), "{doc}");
            }
            return ExitCode::from(code);
        }
    };
    init_logging(&cli.global);
    // Hints suggest commands with the `--project` this one was given, if any.
    if std::env::args_os()
        .any(|a| a == "--project" || a.to_string_lossy().starts_with("--project="))
    {
        failure::set_project_arg(&cli.global.project);
    }
    limit_malloc_arenas();
    if prints_only(&cli.command) {
        die_on_broken_pipe();
    }
    let json = cli.global.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Failure::work(anyhow::anyhow!("cannot start the async runtime: {e}"))
                .report(json);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(()) => {
            failure::report_recovered_panics();
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(json),
    }
}

/// One glibc malloc arena per core instead of glibc's eight per core: the query, writer,
/// model and runtime threads then share freed memory instead of each growing its own. On the
/// end-to-end benchmark (1M contacts, 2 cores) the peak resident memory falls by ~65 MiB
/// (623 -> 558 MiB) and the page faults by 12%, at the same speed. Left alone when the user tunes
/// malloc (`MALLOC_ARENA_MAX`, `GLIBC_TUNABLES`), and before any thread is started.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some()
            || std::env::var_os("GLIBC_TUNABLES").is_some()
        {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes a malloc parameter; called before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Whether `command` only reads and prints (queries, listings, predictions of given texts):
/// those may end at any write, so their output piped into `head` ends them quietly.
fn prints_only(command: &cli::Command) -> bool {
    use cli::{Command, ModelsCommand, RunsCommand};
    matches!(
        command,
        Command::Sql(_)
            | Command::Runs(RunsCommand::List(_) | RunsCommand::Show(_))
            | Command::Models(
                ModelsCommand::List
                    | ModelsCommand::Show(_)
                    | ModelsCommand::History(_)
                    | ModelsCommand::Predict(_)
                    | ModelsCommand::Eval(_)
            )
    )
}

/// Output piped into `head` and the like: the process ends quietly when the reader goes away
/// (SIGPIPE's default, as for `cat` or `cargo`), instead of Rust's ignored SIGPIPE, which
/// makes `println!` panic and a `--csv` write fail with an error. Only for commands that
/// print and change nothing ([`prints_only`]): a run whose logs go into `| head` must not be
/// killed halfway (it would be left abandoned), and the scheduler's command alert sinks
/// write to a child's stdin, which a child may close.
fn die_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restores a signal's default disposition; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_logging(global: &cli::GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    // The Delta kernel logs each error it returns (with a backtrace under RUST_BACKTRACE),
    // and delta-rs a commit conflict it returns; we report the same error once, with its
    // table and a hint: their own logs show from -v on.
    let default = match (global.quiet, global.verbose) {
        (true, _) => {
            "error,buoyant_kernel=off,buoyant_kernel_engine=off,deltalake_core::kernel::transaction=off"
        }
        (false, 0) => {
            "warn,nightshift=info,nightshift_pipeline=info,buoyant_kernel=off,buoyant_kernel_engine=off,deltalake_core::kernel::transaction=off"
        }
        // The Delta kernel's info lines (one per table snapshot) would drown ours.
        (false, 1) => {
            "info,nightshift=debug,nightshift_pipeline=debug,nightshift_lake=debug,buoyant_kernel=warn,buoyant_kernel_engine=warn"
        }
        (false, _) => "debug,nightshift=trace,nightshift_pipeline=trace,nightshift_lake=trace",
    };
    // `-q` on the command line wins over a `RUST_LOG` left in the environment.
    let filter = match global.quiet {
        true => EnvFilter::new(default),
        false => EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStderr(std::io::stderr()))
        .with_ansi(colour_on_stderr())
        .with_target(false)
        .compact()
        .init();
}

/// clap's usage error as printed on stderr, coloured as the logs are, with its `tip:` lines
/// saying `hint:` like every other error of this CLI.
fn usage_error_text(e: &clap::Error) -> String {
    let rendered = e.render();
    let text = if colour_on_stderr() {
        rendered.ansi().to_string()
    } else {
        rendered.to_string()
    };
    hint_for_tip(&text)
}

/// Renames clap's `tip:` labels (at the start of an indented line, possibly behind a colour
/// code) to `hint:`; any other `tip:` in the text (a value the user typed) is left alone.
fn hint_for_tip(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches(' ');
        let indent = &line[..line.len() - body.len()];
        // A colour code, if any: ESC '[' digits and ';' then 'm'.
        let code_len = if body.starts_with("\u{1b}[") {
            body.find('m').map_or(0, |m| m + 1)
        } else {
            0
        };
        if !indent.is_empty() && body[code_len..].starts_with("tip:") {
            out.push_str(indent);
            out.push_str(&body[..code_len]);
            out.push_str("hint:");
            out.push_str(&body[code_len + "tip:".len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Whether the logs on stderr are coloured: on a terminal, unless `NO_COLOR` is set
/// (<https://no-color.org>) or the terminal is `dumb`.
fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// One line to standard output. A write error is dropped: the output of a command that changes
/// things (`run`, `vacuum`, `models train`, ...) is its report, printed once the work is done,
/// and a reader that went away (`nightshift run ... | head -1`) must not turn that work's exit
/// code into a panic's (`println!` panics on a closed pipe, since Rust ignores SIGPIPE).
/// Commands that only print end at the first write instead ([`die_on_broken_pipe`]).
pub(crate) fn stdout_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
}

/// Standard error for logs, whose write errors are dropped: logs into a reader that went away
/// (`nightshift run ... 2>&1 | head -1`) are lost, and the work goes on. (tracing would report
/// the error with `eprint!`, which panics on that same closed stream.)
struct LossyStderr(std::io::Stderr);

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(self.0.write(buf).unwrap_or(buf.len()))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::hint_for_tip;

    #[test]
    fn clap_tips_become_hints_and_nothing_else_changes() {
        let plain = "error: unexpected argument '--dat' found\n\n  tip: a similar argument exists: '--date'\n\nUsage: nightshift run\n";
        assert_eq!(hint_for_tip(plain), plain.replace("  tip:", "  hint:"),);
        let coloured = "error: x\n\n  \u{1b}[32mtip:\u{1b}[0m use '-- tip:'\n";
        assert_eq!(
            hint_for_tip(coloured),
            "error: x\n\n  \u{1b}[32mhint:\u{1b}[0m use '-- tip:'\n"
        );
        // Only an indented label is clap's: a line of its own text starting with `tip:` stays.
        assert_eq!(hint_for_tip("tip: x\n"), "tip: x\n");
    }
}
