//! `fake-dc serve`: runs a scenario's fake datacenter until Ctrl-C and writes each account's
//! session blob, so the real `collector-job collect` can be pointed at it.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fake-dc",
    about = "A loopback Telegram datacenter for the collector"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a scenario and write the session blob of each account.
    Serve {
        /// The scenario JSON (see fake-dc/scenario.example.json).
        #[arg(long)]
        scenario: PathBuf,
        /// Where to listen, e.g. 127.0.0.1:4430 (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:4430")]
        listen: std::net::SocketAddr,
        /// Session blob output: a file with one account (stdout when omitted), a directory
        /// (one `<user id>.session` each) with several.
        #[arg(long)]
        session_out: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The collector's log setup: colours only on a terminal, so piped logs carry no escapes.
    telemetry::init(telemetry::LogFormat::Plain);
    let Command::Serve {
        scenario,
        listen,
        session_out,
    } = Cli::parse().command;
    let shown = scenario.display().to_string();
    let text =
        std::fs::read_to_string(&scenario).with_context(|| format!("cannot read {shown}"))?;
    let scenario = fake_dc::Scenario::from_json(&text)
        .with_context(|| format!("{shown} is not a scenario"))?;
    let users: Vec<i64> = scenario.accounts.iter().map(|a| a.user_id).collect();
    let dc = fake_dc::FakeDc::bind(scenario, listen).await?;
    let blob = |user_id| dc.session(user_id).expect("accounts of the scenario");
    match (&session_out, users.as_slice()) {
        (None, [only]) => println!("{}", blob(*only)),
        (None, _) => anyhow::bail!("the scenario has several accounts: pass --session-out DIR"),
        (Some(path), [only]) if !path.is_dir() => std::fs::write(path, blob(*only))
            .with_context(|| format!("cannot write {}", path.display()))?,
        (Some(dir), users) => {
            for user_id in users {
                let path = dir.join(format!("{user_id}.session"));
                std::fs::write(&path, blob(*user_id))
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
    }
    tracing::info!(addr = %dc.addr(), "serving until Ctrl-C");
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    Ok(())
}
