//! The `nightshift` binary: parses the command line, runs the command, maps failures to exit
//! codes (0 success, 1 the work failed, 2 bad usage or configuration) and prints `error:` /
//! `hint:` lines. Data goes to stdout; logs and progress bars to stderr.

mod cli;
mod commands;
mod failure;
mod progress;
mod scaffold;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::failure::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(&cli.global);
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
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(json),
    }
}

fn init_logging(global: &cli::GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn,nightshift=info,nightshift_pipeline=info",
        (false, 1) => "info,nightshift=debug,nightshift_pipeline=debug,nightshift_lake=debug",
        (false, _) => "debug,nightshift=trace,nightshift_pipeline=trace,nightshift_lake=trace",
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .compact()
        .init();
}
