//! `canopy-node-sim`: runs the node simulator against the cluster of a kubeconfig until Ctrl-C.
//!
//! Settings come from the environment: `KUBECONFIG` (or `CANOPY_SANDBOX_KUBECONFIG`), the
//! `CANOPY_SIM_*` variables of [`SimulatorConfig`], and `CANOPY_SIM_LOGS_ADDR` (for example
//! `127.0.0.1:7181`) to serve simulated logs over HTTP.

use std::path::PathBuf;

use anyhow::Context as _;
use canopy_sandbox::{client_from_kubeconfig, SimulatorConfig};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let kubeconfig = std::env::var_os("CANOPY_SANDBOX_KUBECONFIG")
        .or_else(|| std::env::var_os("KUBECONFIG"))
        .map(PathBuf::from)
        .context("set KUBECONFIG to the sandbox's kubeconfig (scripts/kube-testenv.sh start DIR writes DIR/kubeconfig)")?;
    let config = SimulatorConfig::from_env()?;
    let client = client_from_kubeconfig(&kubeconfig).await?;
    let simulator = canopy_sandbox::start(client, config).await?;

    if let Ok(addr) = std::env::var("CANOPY_SIM_LOGS_ADDR") {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| canopy_sandbox::Error::Serve {
                addr: addr.clone(),
                source,
            })?;
        tracing::info!(addr = %listener.local_addr()?, "serving simulated logs");
        let router = canopy_sandbox::http::router(simulator.logs().clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::error!(error = %err, "log endpoint stopped");
            }
        });
    }

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("stopping");
    simulator.shutdown().await?;
    Ok(())
}
