use clap::Parser;
use operator::{
    app,
    cli::{Cli, Command},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command() {
        Command::Crd => print!("{}", crds::crd_yaml()),
        Command::Run(args) => {
            telemetry::init(args.log_format);
            app::run(*args).await?;
        }
    }
    Ok(())
}
