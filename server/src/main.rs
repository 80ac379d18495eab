//! `canopy`: the Canopy portal server.

use anyhow::Context;
use canopy_server::{
    config::{ClusterSettings, Settings},
    startup, telemetry,
};

/// Rendering a page makes thousands of small, short-lived allocations; mimalloc serves them
/// for a fraction of glibc's cost (docs/PERFORMANCE.md, "Allocation").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let settings = Settings::from_env().context("invalid configuration")?;
    let cluster = ClusterSettings::from_env().context("invalid configuration")?;
    let application = startup::Application::build_with_cluster(settings, cluster)
        .await
        .context("Canopy could not start")?;
    application.run_until(startup::shutdown_signal()).await?;
    Ok(())
}
