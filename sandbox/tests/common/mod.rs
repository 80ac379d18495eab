//! The integration-test harness: the real control plane named by `CANOPY_TEST_KUBECONFIG`, one
//! in-process node simulator per test binary, a fresh namespace per test, and waits with
//! deadlines that report what the object looked like when time ran out.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{future::Future, panic::AssertUnwindSafe, time::Duration};

use canopy_sandbox::testing::{delete_namespace, test_client, unique_name};
#[allow(unused_imports)] // each test binary uses some of them
pub use canopy_sandbox::testing::{simulator_logs, wait_until, WAIT};
use futures::FutureExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::{
    api::{LogParams, ObjectMeta, PostParams},
    Api, Client, Resource,
};

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
    let client = test_client().await;
    let name = unique_name(prefix);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|err| panic!("cannot create namespace {name}: {err}"));
    let outcome = AssertUnwindSafe(test(TestNamespace {
        client: client.clone(),
        name: name.clone(),
    }))
    .catch_unwind()
    .await;
    let deleted = delete_namespace(&client, &name).await;
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
