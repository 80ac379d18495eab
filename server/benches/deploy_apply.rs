//! Deploy engine benchmark against a real control plane (prints figures; not a test):
//! time from a deploy request to every object applied (render + discovery + server-side apply),
//! for new services and for unchanged re-applies.
//!
//! Run: `scripts/sandbox-test-env.sh cargo bench -p canopy-server --bench deploy_apply`
//! (needs `CANOPY_TEST_KUBECONFIG`; no simulator is needed: it measures the apply, not the pods).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use app::api::spec::RawServiceSpec;
use canopy_server::deploy::{
    apply::Applier,
    render::{render, RenderSettings},
};

const SERVICES: usize = 40;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label}: n={} median={:.1} ms p95={:.1} ms max={:.1} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.95).as_secs_f64() * 1000.0,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
}

#[tokio::main]
async fn main() {
    let kubeconfig = std::env::var("CANOPY_TEST_KUBECONFIG").expect(
        "CANOPY_TEST_KUBECONFIG must point at a control plane (scripts/sandbox-test-env.sh)",
    );
    let client = canopy_sandbox::client_from_kubeconfig(std::path::Path::new(&kubeconfig))
        .await
        .expect("client");
    let applier = Applier::new(client);
    let team = format!("bench{}", std::process::id());
    let settings = RenderSettings::default();
    let specs: Vec<_> = (0..SERVICES)
        .map(|i| {
            RawServiceSpec {
                team: team.clone(),
                name: format!("svc-{i}"),
                environment: "dev".into(),
                image: format!("ghcr.io/acme/svc-{i}:1.0.0"),
                port: 8080,
                size: "S".into(),
                replicas: Some(2),
                env: BTreeMap::from([("MODE".to_owned(), "bench".to_owned())]),
                health_check: Some("/healthz".into()),
                ..RawServiceSpec::default()
            }
            .validate()
            .expect("valid spec")
        })
        .collect();

    let mut first = Vec::new();
    for spec in &specs {
        let started = Instant::now();
        let capabilities = applier.capabilities().await.expect("discovery");
        let rendered = render(spec, 1, &BTreeMap::new(), capabilities, &settings);
        applier.apply(&rendered).await.expect("apply");
        first.push(started.elapsed());
    }
    let mut again = Vec::new();
    for spec in &specs {
        let started = Instant::now();
        let capabilities = applier.capabilities().await.expect("discovery");
        let rendered = render(spec, 1, &BTreeMap::new(), capabilities, &settings);
        let report = applier.apply(&rendered).await.expect("apply");
        assert!(
            report.changed.is_empty(),
            "re-apply changed {:?}",
            report.changed
        );
        again.push(started.elapsed());
    }
    println!(
        "deploy request -> all objects applied ({} objects per service, local control plane v1.20)",
        7
    );
    report("new service", first);
    report("unchanged re-apply", again);

    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(applier.client().clone());
    let _ = namespaces
        .delete(&format!("{team}-dev"), &kube::api::DeleteParams::default())
        .await;
}
