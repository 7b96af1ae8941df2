use std::process::ExitCode;

use clap::Parser;
use kubectl_chc::{app, cli::Cli, commands::EXIT_ERROR};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // kube's rustls provider, explicitly (see the workspace's rustls dependency).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match app::run(Cli::parse()).await {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(error) => {
            eprintln!("error: {}", telemetry::one_line(&error));
            ExitCode::from(EXIT_ERROR)
        }
    }
}
