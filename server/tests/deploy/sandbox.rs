//! The sandbox of `make run`, for real: a control plane of its own started with
//! `scripts/kube-testenv.sh` in a temporary folder, the node simulator in this process, a
//! service deployed onto it, then everything stopped.

use std::path::PathBuf;

use canopy_server::{
    config::SandboxSettings,
    deploy::{
        apply::Applier,
        render::render,
        rollout::{watch_rollout, RolloutEnd},
    },
    sandbox::{ClusterContext, Sandbox},
};
use k8s_openapi::api::core::v1::Node;
use kube::{api::ListParams, Api};

use crate::support::WAIT;

#[tokio::test]
async fn the_sandbox_starts_runs_a_deploy_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let settings = SandboxSettings {
        dir: dir.path().join("sandbox"),
        testenv_script: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/kube-testenv.sh"
        )),
    };
    let (client, sandbox) = Sandbox::start(&settings)
        .await
        .unwrap_or_else(|err| panic!("the sandbox did not start: {err}"));
    assert_eq!(sandbox.kubeconfig(), settings.dir.join("kubeconfig"));
    assert!(sandbox.kubeconfig().is_file());
    let cluster = ClusterContext {
        client,
        sandbox: true,
    };

    let nodes = Api::<Node>::all(cluster.client.clone())
        .list(&ListParams::default().labels("canopy.dev/simulated"))
        .await
        .unwrap();
    assert_eq!(
        nodes.items.len(),
        2,
        "the in-process simulator registered its nodes"
    );

    let applier = Applier::new(cluster.client.clone());
    let spec = app::api::spec::RawServiceSpec {
        team: "sandbox".to_owned(),
        name: "web".to_owned(),
        environment: "dev".to_owned(),
        image: "ghcr.io/acme/web:1.0.0".to_owned(),
        port: 8080,
        size: "S".to_owned(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let rendered = render(
        &spec,
        1,
        &Default::default(),
        applier.capabilities().await.unwrap(),
        &Default::default(),
    );
    applier.apply(&rendered).await.unwrap();
    let outcome = watch_rollout(&cluster.client, "sandbox-dev", "web", WAIT, |_| {})
        .await
        .unwrap();
    assert_eq!(outcome.end, RolloutEnd::Available, "{outcome:#?}");

    sandbox.stop().await.unwrap();
    let status = std::process::Command::new(&settings.testenv_script)
        .arg("status")
        .arg(&settings.dir)
        .output()
        .unwrap();
    assert!(
        !status.status.success(),
        "the control plane is stopped: {}",
        String::from_utf8_lossy(&status.stdout)
    );
}
