use std::process::ExitCode;

use clap::Parser;
use collector_job::app::cli::Cli;
use collector_job::app::{self, Failure};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // sqlx's own lines (a slow statement, a connection it lost) are not the collector's to
    // print: a failure is the one line below. RUST_LOG=sqlx=debug shows them.
    telemetry::init_with(cli.log_format, "info,sqlx=off");
    let outcome = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::Other(format!("cannot start the async runtime: {e}")))
        .and_then(|runtime| runtime.block_on(app::run(cli)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("collector-job: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
