//! Test support shared by the sandbox's and the server's integration tests (feature
//! `testing`): the real control plane named by `CANOPY_TEST_KUBECONFIG`, one node simulator per
//! test process, unique names, namespaces deleted after a test, and waits with deadlines that
//! show the object when time runs out. Failing here is failing the test, so it panics.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
    time::Duration,
};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    api::DeleteParams,
    runtime::wait::{await_condition, conditions, Condition},
    Api, Client, Resource,
};
use serde::de::DeserializeOwned;

use crate::{client_from_kubeconfig, LogStore, SimulatorConfig};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);

const HOW_TO_START: &str = "CANOPY_TEST_KUBECONFIG is not set: these tests run against the real \
local control plane. `make test` starts one; by hand: `scripts/kube-testenv.sh build && \
scripts/kube-testenv.sh start /tmp/canopy-kube`, then run the tests with \
CANOPY_TEST_KUBECONFIG=/tmp/canopy-kube/kubeconfig, and `scripts/kube-testenv.sh stop \
/tmp/canopy-kube` afterwards";

pub fn kubeconfig_path() -> PathBuf {
    match std::env::var_os("CANOPY_TEST_KUBECONFIG") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!("{HOW_TO_START}"),
    }
}

/// The simulator shared by every test of this process (on its own thread and runtime, because
/// each `#[tokio::test]` has a runtime that ends with the test).
pub fn simulator_logs() -> &'static LogStore {
    static LOGS: OnceLock<LogStore> = OnceLock::new();
    LOGS.get_or_init(|| {
        let path = kubeconfig_path();
        crate::start_detached(path.clone(), SimulatorConfig::for_tests()).unwrap_or_else(|err| {
            panic!(
                "cannot start the node simulator against {}: {err}\n(is the control plane \
                 running? scripts/kube-testenv.sh status DIR)",
                path.display()
            )
        })
    })
}

/// A client for the test cluster, with the simulator running.
pub async fn test_client() -> Client {
    simulator_logs();
    client_from_kubeconfig(&kubeconfig_path())
        .await
        .unwrap_or_else(|err| panic!("cannot build a client: {err}"))
}

/// A DNS label unique to this process and call, at most 30 characters for short prefixes.
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

/// Why a test namespace could not be cleaned up.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error(transparent)]
    Api(#[from] kube::Error),
    #[error("watching it go: {0}")]
    Watch(#[from] kube::runtime::wait::Error),
    #[error("still there after {WAIT:?}")]
    StillThere,
}

/// Deletes a namespace (if it exists) and waits until it is gone: its pods terminate only while
/// a simulator runs (it plays the kubelet that confirms their deletion).
pub async fn delete_namespace(client: &Client, name: &str) -> Result<(), CleanupError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let Some(existing) = namespaces.get_opt(name).await? else {
        return Ok(());
    };
    let uid = existing.metadata.uid.unwrap_or_default();
    match namespaces.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(err) => return Err(err.into()),
    }
    let gone = await_condition(namespaces, name, conditions::is_deleted(&uid));
    match tokio::time::timeout(WAIT, gone).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(err.into()),
        Err(_) => Err(CleanupError::StillThere),
    }
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
