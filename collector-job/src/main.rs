use std::process::ExitCode;

use clap::Parser;
use collector_job::app::cli::Cli;
use collector_job::app::{self, Failure};

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
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
