use clap::Parser;
use operator::{
    app,
    cli::{Cli, Command},
};

/// jemalloc returns the memory a burst freed; glibc's allocator kept most of it (see the
/// dependency's comment in Cargo.toml).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // kube's rustls provider, explicitly (see the workspace's rustls dependency).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command() {
        Command::Crd => print!("{}", crds::crd_yaml()),
        Command::Run(args) => {
            telemetry::init(args.log_format);
            app::run(*args).await?;
        }
    }
    Ok(())
}
