//! The kubelet stand-in: watches pods bound to the simulated nodes, starts one lifecycle task per
//! pod (see `lifecycle`), and finishes the deletion of terminating pods as a kubelet would.

use std::{collections::HashSet, pin::pin, sync::Arc};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    api::{DeleteParams, Preconditions},
    runtime::{
        watcher::{self, watcher, Event},
        WatchStreamExt,
    },
    Api, ResourceExt,
};
use tracing::{debug, info, instrument, warn};

use crate::{
    context::{Context, Tracked},
    lifecycle, Error, Result,
};

/// Watches bound pods until the task is aborted. Watch errors are logged and retried with
/// back-off; they never end the loop.
pub(crate) async fn watch_pods(ctx: Arc<Context>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let mut events = pin!(watcher(api, config).default_backoff());
    let mut listed: HashSet<String> = HashSet::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => listed.clear(),
            Ok(Event::InitApply(pod)) => {
                listed.insert(pod.uid().unwrap_or_default());
                handle(&ctx, pod).await;
            }
            Ok(Event::InitDone) => {
                // Pods deleted while the watch was down never sent a Delete event.
                let gone: Vec<String> = ctx
                    .tracked()
                    .keys()
                    .filter(|uid| !listed.contains(*uid))
                    .cloned()
                    .collect();
                gone.iter().for_each(|uid| ctx.forget(uid));
            }
            Ok(Event::Apply(pod)) => handle(&ctx, pod).await,
            Ok(Event::Delete(pod)) => ctx.forget(&pod.uid().unwrap_or_default()),
            Err(err) => warn!(error = %err, "pod watch failed; retrying"),
        }
    }
}

async fn handle(ctx: &Arc<Context>, pod: Pod) {
    if let Err(err) = reconcile(ctx, pod).await {
        if !err.is_not_found() {
            warn!(error = %err, "simulating a pod failed");
        }
    }
}

/// Decides what to do with one pod event: ignore it, finish its deletion, or start its task.
#[instrument(skip_all, fields(namespace = pod.metadata.namespace.as_deref(), pod = pod.metadata.name.as_deref()))]
async fn reconcile(ctx: &Arc<Context>, pod: Pod) -> Result<()> {
    let node = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.node_name.as_deref())
        .unwrap_or_default();
    let Some(&node_index) = ctx.nodes.get(node) else {
        return Ok(()); // bound to a node that is not ours
    };
    let uid = pod.uid().ok_or(Error::IncompletePod("uid"))?;
    if pod.metadata.deletion_timestamp.is_some() {
        ctx.forget(&uid);
        return finish_deletion(ctx, &pod, uid).await;
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return Ok(());
    }
    let mut tracked = ctx.tracked();
    if tracked.contains_key(&uid) {
        return Ok(());
    }
    let namespace = pod.namespace().ok_or(Error::IncompletePod("namespace"))?;
    let name = pod
        .metadata
        .name
        .clone()
        .ok_or(Error::IncompletePod("name"))?;
    debug!(node, "taking the pod");
    let task = tokio::spawn(lifecycle::simulate(Arc::clone(ctx), pod, node_index));
    tracked.insert(
        uid,
        Tracked {
            task: task.abort_handle(),
            namespace,
            name,
        },
    );
    Ok(())
}

/// A real kubelet stops the containers, then deletes the pod with grace period 0; without
/// that, terminating pods (scale-down, rollouts, namespace deletion) would never go away.
async fn finish_deletion(ctx: &Context, pod: &Pod, uid: String) -> Result<()> {
    let namespace = pod.namespace().ok_or(Error::IncompletePod("namespace"))?;
    let name = pod
        .metadata
        .name
        .as_deref()
        .ok_or(Error::IncompletePod("name"))?;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {
            info!("terminated pod");
            Ok(())
        }
        // Already gone, or a newer pod of the same name: nothing left to do.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        Err(err) => Err(err.into()),
    }
}
