//! The integration-test harness: the real control plane named by `CANOPY_TEST_KUBECONFIG`, one
//! in-process node simulator per test binary, a fresh namespace per test, and waits with
//! deadlines that report what the object looked like when time ran out.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    path::PathBuf,
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
    time::Duration,
};

use canopy_sandbox::{client_from_kubeconfig, LogStore, SimulatorConfig};
use futures::FutureExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::{
    api::{DeleteParams, LogParams, ObjectMeta, PostParams},
    runtime::wait::{await_condition, conditions, Condition},
    Api, Client, Resource,
};
use serde::de::DeserializeOwned;

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);

const HOW_TO_START: &str = "CANOPY_TEST_KUBECONFIG is not set: these tests run against the real \
local control plane. Run them with `scripts/sandbox-test-env.sh` (builds it once, starts it, runs \
`cargo test -p canopy-sandbox`, stops it), or by hand: `scripts/kube-testenv.sh build && \
scripts/kube-testenv.sh start /tmp/canopy-kube && CANOPY_TEST_KUBECONFIG=/tmp/canopy-kube/kubeconfig \
cargo test -p canopy-sandbox; scripts/kube-testenv.sh stop /tmp/canopy-kube`";

fn kubeconfig_path() -> PathBuf {
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
                "cannot start the node simulator against {}: {err}\n(is the control plane running? \
                 scripts/kube-testenv.sh status DIR)",
                path.display()
            )
            },
        )
    })
}

/// One test's view of the cluster: a client of its own and a namespace of its own.
pub struct TestNamespace {
    pub client: Client,
    pub name: String,
}

impl TestNamespace {
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

/// Runs `test` in a fresh namespace named `<prefix>-<unique>`, then deletes the namespace,
/// also when the test panics (the panic is passed on afterwards).
pub async fn in_namespace<F, Fut>(prefix: &str, test: F)
where
    F: FnOnce(TestNamespace) -> Fut,
    Fut: Future<Output = ()>,
{
    simulator_logs();
    let client = client_from_kubeconfig(&kubeconfig_path())
        .await
        .unwrap_or_else(|err| panic!("cannot build a client: {err}"));
    let name = unique_name(prefix);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let created = namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|err| panic!("cannot create namespace {name}: {err}"));
    let uid = created.metadata.uid.unwrap_or_default();
    let outcome = AssertUnwindSafe(test(TestNamespace {
        client,
        name: name.clone(),
    }))
    .catch_unwind()
    .await;
    // Delete, and wait until the namespace is gone: its pods terminate only while a simulator
    // runs (it plays the kubelet that confirms their deletion).
    let deleted = async {
        namespaces
            .delete(&name, &DeleteParams::default())
            .await
            .map_err(|err| err.to_string())?;
        let gone = await_condition(namespaces.clone(), &name, conditions::is_deleted(&uid));
        match tokio::time::timeout(WAIT, gone).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("still there after {WAIT:?}")),
        }
    };
    let deleted = deleted.await;
    if let Err(panic) = outcome {
        if let Err(err) = deleted {
            eprintln!("could not delete test namespace {name}: {err}");
        }
        std::panic::resume_unwind(panic);
    }
    if let Err(err) = deleted {
        panic!("could not delete test namespace {name}: {err}");
    }
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}-{:04}",
        std::process::id(),
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

/// Reads a pod's log through the API server (which asks the simulated kubelet) until it contains
/// `expected`. Retries for a while: with several test processes simulating the same nodes, a
/// node may for a moment name the log port of a process that has just ended.
pub async fn api_logs(pods: &Api<Pod>, name: &str, params: &LogParams, expected: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = pods.logs(name, params).await;
        if let Ok(text) = &answer {
            if text.contains(expected) {
                return text.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the log of {name} ({params:?}) never contained {expected:?}; last answer: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
