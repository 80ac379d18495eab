//! Simulated nodes: registered like a kubelet registers itself, with capacity and a `Ready`
//! condition set through the status subresource, and a heartbeat that keeps them Ready.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{
        DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus,
        NodeSystemInfo,
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::Time},
    jiff::Timestamp,
};
use kube::{
    api::{ObjectMeta, Patch, PatchParams, PostParams},
    Api,
};
use tracing::{debug, info, instrument};

use crate::{config::SimulatorConfig, Result};

/// The label every simulated node carries (value `true`).
pub const SIMULATED_NODE_LABEL: &str = "canopy.dev/simulated";

/// The label naming the simulator a node belongs to (value: the node prefix), for
/// `nodeSelector`s that must land on one simulator's nodes.
pub const NODE_POOL_LABEL: &str = "canopy.dev/node-pool";

/// The address every simulated node reports. Loopback on purpose: anything that tries to reach
/// a simulated node or pod (the API server's log or exec proxy) stays on this machine.
pub const NODE_ADDRESS: &str = "127.0.0.1";

/// What the simulated nodes report besides their configured size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeReport {
    /// When the simulator started (the Ready condition's transition time).
    pub since: Timestamp,
    /// The port of the simulated kubelet's log endpoint on [`NODE_ADDRESS`], if served.
    pub kubelet_port: Option<u16>,
}

/// Creates the node objects that do not exist yet and reports every node Ready.
#[instrument(skip_all, fields(nodes = config.node_count))]
pub(crate) async fn register(
    api: &Api<Node>,
    config: &SimulatorConfig,
    report: NodeReport,
) -> Result<()> {
    for name in config.node_names() {
        match api
            .create(
                &PostParams::default(),
                &node_object(&name, &config.node_prefix),
            )
            .await
        {
            Ok(_) => info!(node = %name, "registered simulated node"),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                debug!(node = %name, "simulated node already registered")
            }
            Err(err) => return Err(err.into()),
        }
    }
    set_schedulable(api, config, true).await?;
    heartbeat(api, config, report).await
}

/// Cordons (`false`) or uncordons (`true`) every simulated node: a stopped simulator cordons
/// its nodes so that the scheduler sends them no more pods, and a starting one uncordons them.
pub(crate) async fn set_schedulable(
    api: &Api<Node>,
    config: &SimulatorConfig,
    schedulable: bool,
) -> Result<()> {
    let patch = serde_json::json!({ "spec": { "unschedulable": !schedulable } });
    for name in config.node_names() {
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(())
}

/// Renews every node's status (capacity, addresses and a fresh `lastHeartbeatTime`).
#[instrument(skip_all)]
pub(crate) async fn heartbeat(
    api: &Api<Node>,
    config: &SimulatorConfig,
    report: NodeReport,
) -> Result<()> {
    let now = Timestamp::now();
    for name in config.node_names() {
        let patch = serde_json::json!({ "status": node_status(config, report, now) });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(())
}

fn node_object(name: &str, pool: &str) -> Node {
    let labels = [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("node.kubernetes.io/instance-type", "canopy-simulated"),
        (SIMULATED_NODE_LABEL, "true"),
        (NODE_POOL_LABEL, pool),
    ];
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

fn node_status(config: &SimulatorConfig, report: NodeReport, now: Timestamp) -> NodeStatus {
    let since = report.since;
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", config.node_cpu.clone()),
        ("memory", config.node_memory.clone()),
        ("pods", config.node_max_pods.to_string()),
        ("ephemeral-storage", "100Gi".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), Quantity(value)))
    .collect();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(since)),
    };
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(vec![
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            condition(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            condition(
                "Ready",
                "True",
                "KubeletReady",
                "simulated kubelet (Canopy sandbox) is posting ready status",
            ),
        ]),
        addresses: Some(vec![NodeAddress {
            type_: "InternalIP".to_owned(),
            address: NODE_ADDRESS.to_owned(),
        }]),
        node_info: Some(NodeSystemInfo {
            architecture: "amd64".to_owned(),
            operating_system: "linux".to_owned(),
            os_image: "Canopy simulated node".to_owned(),
            kernel_version: "6.1.0-canopy-sim".to_owned(),
            container_runtime_version: "canopy-sim://0.1.0".to_owned(),
            kubelet_version: "v1.20.2-canopy-sim".to_owned(),
            kube_proxy_version: "v1.20.2-canopy-sim".to_owned(),
            machine_id: "canopy-simulated".to_owned(),
            system_uuid: "canopy-simulated".to_owned(),
            boot_id: "canopy-simulated".to_owned(),
            ..NodeSystemInfo::default()
        }),
        daemon_endpoints: report.kubelet_port.map(|port| NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(port),
            }),
        }),
        ..NodeStatus::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn nodes_report_their_capacity_and_ready() {
        let config = SimulatorConfig::default();
        let report = NodeReport {
            since: Timestamp::UNIX_EPOCH,
            kubelet_port: Some(10250),
        };
        let status = node_status(&config, report, Timestamp::UNIX_EPOCH);
        let endpoints = status.daemon_endpoints.clone().unwrap();
        assert_eq!(endpoints.kubelet_endpoint.unwrap().port, 10250);
        let capacity = status.capacity.unwrap();
        assert_eq!(capacity["cpu"], Quantity("4".into()));
        assert_eq!(capacity["memory"], Quantity("8Gi".into()));
        let ready = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
    }

    #[test]
    fn nodes_are_labelled_as_simulated() {
        let node = node_object("canopy-sim-0", "canopy-sim");
        let labels = node.metadata.labels.unwrap();
        assert_eq!(labels[SIMULATED_NODE_LABEL], "true");
        assert_eq!(labels["kubernetes.io/hostname"], "canopy-sim-0");
        assert_eq!(labels[NODE_POOL_LABEL], "canopy-sim");
    }
}
