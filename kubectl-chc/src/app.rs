//! The binary's edge: a client from the user's kubeconfig, stdout and stderr, the clock.

use std::io::IsTerminal;

use chrono::Utc;
use kube::Client;

use crate::{
    cli::Cli,
    commands::{self, Ctx, Outcome},
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot load the kubeconfig (KUBECONFIG, ~/.kube/config) or the in-cluster config")]
    Client(#[source] kube::Error),
    #[error(transparent)]
    Command(#[from] commands::Error),
}

/// Runs the command with the current kubeconfig context, as kubectl would.
pub async fn run(cli: Cli) -> Result<Outcome, Error> {
    let client = Client::try_default().await.map_err(Error::Client)?;
    let now = Utc::now;
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let live = out.is_terminal();
    let mut ctx = Ctx::new(client, cli.namespace, &now, &mut out, &mut err, live);
    Ok(commands::execute(&mut ctx, cli.command).await?)
}
