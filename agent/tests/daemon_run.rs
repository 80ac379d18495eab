//! The run mode end to end on loopback: fixture procfs, the estimate, /metrics served, batches
//! spooled while the server is down and pushed in order once it is up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use canopy_agent::sampler::SourceChoice;
use canopy_agent::sensors::estimate::Provider;
use canopy_agent::settings::{RunSettings, SensorSettings};
use canopy_agent::testing::{CpuCounters, ProcfsFixture, SysfsFixture};
use canopy_protocol::{EnergySource, IngestBatch};
use secrecy::SecretString;

async fn free_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

type Batches = Arc<Mutex<Vec<IngestBatch>>>;

async fn ingest(State(batches): State<Batches>, Json(batch): Json<IngestBatch>) -> StatusCode {
    if batch.validate().is_err() {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    batches.lock().unwrap().push(batch);
    StatusCode::ACCEPTED
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_metrics_and_pushes_after_the_server_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let sysfs = SysfsFixture::new(&dir.path().join("sys")).unwrap();
    let procfs = ProcfsFixture::new(&dir.path().join("proc"), 4).unwrap();
    procfs
        .node_cpu(CpuCounters {
            user: 100,
            system: 0,
            idle: 100,
            iowait: 0,
        })
        .unwrap();
    let metrics_addr = free_addr().await;
    let server_addr = free_addr().await;
    let settings = RunSettings {
        sensors: SensorSettings {
            sysfs_root: sysfs.root().to_path_buf(),
            procfs_root: procfs.root().to_path_buf(),
            source: SourceChoice::Auto,
            provider: Provider::Azure,
            node: Some("node-t".into()),
        },
        interval_secs: 0.1,
        metrics_addr,
        server_url: Some(format!("http://{server_addr}")),
        node_token: Some(SecretString::from("t")),
        node_token_file: None,
        identity_token_file: None,
        spool_dir: dir.path().join("spool"),
        spool_max_batches: 1000,
        spool_max_bytes: 64 * 1024 * 1024,
        dead_letter_dir: None,
        dead_letter_max_bytes: 1024 * 1024,
        kube: false,
    };
    let agent = tokio::spawn(canopy_agent::daemon::run(settings));
    let client = reqwest::Client::new();
    // Let a few intervals pass with the server down, moving the CPU counters each time.
    for i in 1..=6u64 {
        procfs
            .node_cpu(CpuCounters {
                user: 100 + 50 * i,
                system: 0,
                idle: 100 + 50 * i,
                iowait: 0,
            })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let spooled = std::fs::read_dir(dir.path().join("spool")).unwrap().count();
    assert!(
        spooled >= 3,
        "expected batches waiting in the spool, found {spooled}"
    );
    let text = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("canopy_node_power_watts{source=\"estimated\"}"),
        "{text}"
    );
    assert!(
        text.contains("canopy_agent_errors_total{kind=\"push\"}"),
        "{text}"
    );

    let batches = Batches::default();
    let app = Router::new()
        .route("/api/v1/ingest", post(ingest))
        .with_state(batches.clone());
    let listener = tokio::net::TcpListener::bind(server_addr).await.unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The agent backs off (1 s, 2 s, ...) between attempts; wait for the spool to drain.
    let mut drained = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if std::fs::read_dir(dir.path().join("spool")).unwrap().count() == 0
            && !batches.lock().unwrap().is_empty()
        {
            drained = true;
            break;
        }
    }
    assert!(drained, "spool did not drain");
    agent.abort();
    server.abort();
    let batches = batches.lock().unwrap();
    assert!(batches.len() >= spooled, "{} < {spooled}", batches.len());
    let starts: Vec<_> = batches.iter().map(|b| b.samples[0].start).collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "in order: {starts:?}"
    );
    let mut ids: Vec<_> = batches.iter().map(|b| b.batch_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), batches.len(), "no duplicates");
    assert!(batches
        .iter()
        .all(|b| b.node == "node-t" && b.samples[0].source == EnergySource::Estimated));
}
