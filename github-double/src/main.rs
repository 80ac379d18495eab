//! `canopy-github-double`: the GitHub double on a fixed port, for browser tests and for trying
//! Canopy locally without GitHub.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use canopy_github_double::{GithubDouble, Seed};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A local double of GitHub's REST API (App auth, contents, check runs, deployments, comments,
/// webhooks). Control API under /_double/.
#[derive(Debug, Parser)]
#[command(name = "canopy-github-double", version)]
struct Args {
    /// Address to serve on.
    #[arg(long, env = "GITHUB_DOUBLE_LISTEN", default_value = "127.0.0.1:4010")]
    listen: SocketAddr,
    /// JSON file of repositories, branches, files and check runs to create at start.
    #[arg(long, env = "GITHUB_DOUBLE_SEED")]
    seed: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let double = GithubDouble::start_on(args.listen)
        .await
        .with_context(|| format!("cannot serve on {}", args.listen))?;
    if let Some(path) = &args.seed {
        let seed = Seed::from_file(path)?;
        double
            .apply_seed(&seed)
            .with_context(|| format!("cannot apply the seed {}", path.display()))?;
    }
    println!(
        "github-double listening on {} (app id {})",
        double.url(),
        double.app_id()
    );
    shutdown_signal().await?;
    double.stop().await;
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("cannot listen for ctrl-c")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
