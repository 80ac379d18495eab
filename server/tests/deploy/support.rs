//! The deploy-engine test harness: the real control plane named by `CANOPY_TEST_KUBECONFIG`, one
//! in-process node simulator per test binary, a team of its own per test (its namespace
//! `<team>-dev` is deleted at the end, also when the test fails), and waits with deadlines that
//! show the object when time runs out.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    future::Future,
    panic::AssertUnwindSafe,
    path::PathBuf,
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
    time::Duration,
};

use app::api::spec::{RawServiceSpec, ServiceSpec};
use canopy_sandbox::{client_from_kubeconfig, LogStore, SimulatorConfig};
use canopy_server::deploy::{
    apply::{Applier, ApplyReport},
    render::{render, Capabilities, RenderSettings, RenderedService},
};
use futures::FutureExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    api::DeleteParams,
    runtime::wait::{await_condition, conditions, Condition},
    Api, Client, Resource,
};
use serde::de::DeserializeOwned;

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);

const HOW_TO_START: &str = "CANOPY_TEST_KUBECONFIG is not set: the deploy tests run against the \
real local control plane. Run them with `scripts/sandbox-test-env.sh cargo test -p canopy-server \
--test deploy` (builds the control plane once, starts it, runs the tests, stops it), or by hand: \
`scripts/kube-testenv.sh start /tmp/canopy-kube && CANOPY_TEST_KUBECONFIG=/tmp/canopy-kube/kubeconfig \
cargo test -p canopy-server --test deploy; scripts/kube-testenv.sh stop /tmp/canopy-kube`";

pub fn kubeconfig_path() -> PathBuf {
    match std::env::var_os("CANOPY_TEST_KUBECONFIG") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!("{HOW_TO_START}"),
    }
}

/// The simulator shared by every test of this binary (on its own thread and runtime, because
/// each `#[tokio::test]` has a runtime that ends with the test).
pub fn simulator_logs() -> &'static LogStore {
    static LOGS: OnceLock<LogStore> = OnceLock::new();
    LOGS.get_or_init(|| {
        let path = kubeconfig_path();
        canopy_sandbox::start_detached(path.clone(), SimulatorConfig::for_tests()).unwrap_or_else(
            |err| {
                panic!(
                    "cannot start the node simulator against {}: {err}\n(is the control plane \
                     running? scripts/kube-testenv.sh status DIR)",
                    path.display()
                )
            },
        )
    })
}

/// One test's team: a client, an applier and a team name nobody else uses.
pub struct TestTeam {
    pub client: Client,
    pub applier: Applier,
    pub team: String,
}

impl TestTeam {
    /// The namespace of the team's `dev` environment, where every test service goes.
    pub fn namespace(&self) -> String {
        format!("{}-dev", self.team)
    }

    /// A valid, healthy spec for a service `name` of this team; `adjust` changes it.
    pub fn spec(&self, name: &str, adjust: impl FnOnce(&mut RawServiceSpec)) -> ServiceSpec {
        let mut raw = RawServiceSpec {
            team: self.team.clone(),
            name: name.to_owned(),
            environment: "dev".to_owned(),
            image: "ghcr.io/acme/web:1.0.0".to_owned(),
            port: 8080,
            size: "S".to_owned(),
            replicas: Some(2),
            health_check: Some("/healthz".to_owned()),
            ..RawServiceSpec::default()
        };
        adjust(&mut raw);
        raw.validate()
            .unwrap_or_else(|errors| panic!("the test spec is invalid: {errors}"))
    }

    /// Renders `spec` for this cluster (what it serves, default settings) at `revision`.
    pub async fn render(&self, spec: &ServiceSpec, revision: i64) -> RenderedService {
        self.render_with(spec, revision, &RenderSettings::default())
            .await
    }

    pub async fn render_with(
        &self,
        spec: &ServiceSpec,
        revision: i64,
        settings: &RenderSettings,
    ) -> RenderedService {
        render(
            spec,
            revision,
            &BTreeMap::new(),
            self.capabilities().await,
            settings,
        )
    }

    pub async fn capabilities(&self) -> Capabilities {
        self.applier
            .capabilities()
            .await
            .unwrap_or_else(|err| panic!("capability discovery failed: {err}"))
    }

    pub async fn apply(&self, rendered: &RenderedService) -> ApplyReport {
        self.applier
            .apply(rendered)
            .await
            .unwrap_or_else(|err| panic!("apply failed: {err}"))
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace())
    }
}

/// A client for the test cluster (with the simulator running).
pub async fn test_client() -> Client {
    simulator_logs();
    client_from_kubeconfig(&kubeconfig_path())
        .await
        .unwrap_or_else(|err| panic!("cannot build a client: {err}"))
}

/// Runs `test` with a fresh team (`<prefix>-<unique>`), then deletes the team's `dev` namespace
/// if the test made it and waits until it is gone, also when the test panics (the panic is
/// passed on afterwards).
pub async fn with_team<F, Fut>(prefix: &str, test: F)
where
    F: FnOnce(TestTeam) -> Fut,
    Fut: Future<Output = ()>,
{
    let client = test_client().await;
    let team = unique_name(prefix);
    let namespace = format!("{team}-dev");
    let outcome = AssertUnwindSafe(test(TestTeam {
        applier: Applier::new(client.clone()),
        client: client.clone(),
        team,
    }))
    .catch_unwind()
    .await;
    let deleted = delete_namespace(&client, &namespace).await;
    if let Err(panic) = outcome {
        if let Err(err) = deleted {
            eprintln!("could not delete test namespace {namespace}: {err}");
        }
        std::panic::resume_unwind(panic);
    }
    if let Err(err) = deleted {
        panic!("could not delete test namespace {namespace}: {err}");
    }
}

/// Deletes a namespace and waits until it is gone (its pods terminate only while a simulator
/// runs: it plays the kubelet that confirms their deletion).
async fn delete_namespace(client: &Client, name: &str) -> Result<(), String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let Some(existing) = namespaces.get_opt(name).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let uid = existing.metadata.uid.unwrap_or_default();
    match namespaces.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(err) => return Err(err.to_string()),
    }
    let gone = await_condition(namespaces, name, conditions::is_deleted(&uid));
    match tokio::time::timeout(WAIT, gone).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("still there after {WAIT:?}")),
    }
}

/// A DNS label unique to this process and call, at most 30 characters (team names allow 40).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}-{:04}",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 10_000
    )
}

/// Waits until `condition` holds for the named object; on timeout, fails showing the object.
pub async fn wait_until<K>(api: &Api<K>, name: &str, what: &str, condition: impl Condition<K>) -> K
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned + serde::Serialize + Send + 'static,
{
    match tokio::time::timeout(WAIT, await_condition(api.clone(), name, condition)).await {
        Ok(Ok(Some(object))) => object,
        Ok(Ok(None)) => panic!("{name} was deleted while waiting until {what}"),
        Ok(Err(err)) => panic!("watching {name} failed while waiting until {what}: {err}"),
        Err(_) => {
            let current = api
                .get(name)
                .await
                .map(|object| serde_json::to_string_pretty(&object).unwrap_or_default())
                .unwrap_or_else(|err| format!("(cannot read it: {err})"));
            panic!("timed out after {WAIT:?} waiting until {what}; {name} is now:\n{current}")
        }
    }
}
