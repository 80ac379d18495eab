//! The deploy-engine test harness: the real control plane named by `CANOPY_TEST_KUBECONFIG`, one
//! in-process node simulator per test binary, a team of its own per test (its namespace
//! `<team>-dev` is deleted at the end, also when the test fails), and waits with deadlines that
//! show the object when time runs out.
#![allow(dead_code)]

use std::{collections::BTreeMap, future::Future, panic::AssertUnwindSafe};

use app::api::spec::{RawServiceSpec, ServiceSpec};
use canopy_sandbox::testing::delete_namespace;
pub use canopy_sandbox::testing::{
    kubeconfig_path, simulator_logs, test_client, unique_name, wait_until, WAIT,
};
use canopy_server::deploy::{
    apply::{Applier, ApplyReport},
    render::{render, Capabilities, RenderSettings, RenderedService},
};
use futures::FutureExt;
use kube::{Api, Client, Resource};

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
