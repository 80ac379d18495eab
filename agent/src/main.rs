//! canopy-agent binary: parses settings, starts tracing, runs `run` or `once`.

use std::io::IsTerminal;

use anyhow::Context;
use canopy_agent::settings::{Cli, Command};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Once(settings) => {
            let mut notices = Vec::new();
            let result = canopy_agent::once::once(&settings, &mut notices);
            for notice in notices {
                eprintln!("canopy-agent: {notice}");
            }
            let report = result.context("one-shot sampling failed")?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Run(settings) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime
                .block_on(canopy_agent::daemon::run(settings))
                .context("canopy-agent stopped")
        }
    }
}
