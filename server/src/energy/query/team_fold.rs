//! The team page's arithmetic, without a database: each service's energy by source, the
//! same for the period before, and its share of the idle energy of the nodes it ran on (in
//! proportion to its share of each node's workload energy). Fed by the rows
//! [`super::EnergyQuery::team_in_range`] reads; unit-tested on rows made by hand.

use std::collections::{BTreeMap, BTreeSet};

use app::api::energy::BySource;

use super::ordered;
use crate::energy::carbon::CarbonSettings;

/// One node's energy in the period: a team's service's workload (`service` set), another
/// workload (`service` none), or the node's idle energy (`kind` `idle`). A row of kind
/// [`TEAM_SERVICE`] is a team's service's workload already counted in the node's `workload`
/// rows (when those are the node's totals, every team included).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub cluster: String,
    pub node: String,
    pub kind: String,
    pub source: String,
    pub service: Option<String>,
    pub energy_joules: f64,
}

/// The kind of a [`NodeRow`] that gives a service's part of the node's workload without adding
/// to it (the node's `workload` rows are its totals).
pub const TEAM_SERVICE: &str = "team_service";

/// A team's service's workload energy in the period before.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub cluster: String,
    pub source: String,
    pub service: String,
    pub energy_joules: f64,
}

/// One service of the team, folded.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFold {
    pub service: String,
    pub figures: BySource,
    pub previous: BySource,
    pub idle: BySource,
    pub registered: bool,
}

/// `(cluster, node)`.
type NodeKey = (String, String);

/// Joules per node and source, before carbon is applied.
#[derive(Default)]
struct NodeJoules {
    workload: f64,
    idle_by_source: BTreeMap<String, f64>,
}

/// The team's services (registered ones, and any with energy now or before), largest first.
pub fn fold_team(
    carbon: &CarbonSettings,
    rows: &[NodeRow],
    previous_rows: &[ServiceRow],
    registered: &[String],
) -> Vec<ServiceFold> {
    let mut nodes: BTreeMap<NodeKey, NodeJoules> = BTreeMap::new();
    let mut figures: BTreeMap<&str, BySource> = BTreeMap::new();
    let mut on_nodes: BTreeMap<&str, BTreeMap<NodeKey, f64>> = BTreeMap::new();
    for row in rows {
        let key = (row.cluster.clone(), row.node.clone());
        let entry = nodes.entry(key.clone()).or_default();
        if row.kind == "idle" {
            *entry.idle_by_source.entry(row.source.clone()).or_default() += row.energy_joules;
            continue;
        }
        if row.kind != TEAM_SERVICE {
            entry.workload += row.energy_joules;
        }
        if let Some(service) = &row.service {
            figures
                .entry(service)
                .or_default()
                .add(&row.source, carbon.figure(&row.cluster, row.energy_joules));
            *on_nodes.entry(service).or_default().entry(key).or_default() += row.energy_joules;
        }
    }
    let mut previous: BTreeMap<&str, BySource> = BTreeMap::new();
    for row in previous_rows {
        previous
            .entry(&row.service)
            .or_default()
            .add(&row.source, carbon.figure(&row.cluster, row.energy_joules));
    }
    let names: BTreeSet<&str> = registered
        .iter()
        .map(String::as_str)
        .chain(figures.keys().copied())
        .chain(previous.keys().copied())
        .collect();
    let mut services: Vec<ServiceFold> = names
        .into_iter()
        .map(|service| ServiceFold {
            service: service.to_owned(),
            figures: figures.get(service).copied().unwrap_or_default(),
            previous: previous.get(service).copied().unwrap_or_default(),
            idle: idle_share(carbon, on_nodes.get(service), &nodes),
            registered: registered.iter().any(|r| r == service),
        })
        .collect();
    services.sort_by_key(|s| std::cmp::Reverse(ordered(s.figures.total().kwh)));
    services
}

/// A service's share of each node's idle energy, in proportion to its share of the node's
/// workload energy, per source of the idle energy.
fn idle_share(
    carbon: &CarbonSettings,
    service_on_nodes: Option<&BTreeMap<NodeKey, f64>>,
    nodes: &BTreeMap<NodeKey, NodeJoules>,
) -> BySource {
    let mut idle = BySource::default();
    for (key, joules) in service_on_nodes.into_iter().flatten() {
        let Some(node) = nodes.get(key).filter(|n| n.workload > 0.0) else {
            continue;
        };
        let share = joules / node.workload;
        for (source, idle_joules) in &node.idle_by_source {
            idle.add(source, carbon.figure(&key.0, idle_joules * share));
        }
    }
    idle
}

#[cfg(test)]
mod tests {
    use super::*;

    const KWH: f64 = 3_600_000.0;

    fn row(node: &str, kind: &str, source: &str, service: Option<&str>, kwh: f64) -> NodeRow {
        NodeRow {
            cluster: "default".to_owned(),
            node: node.to_owned(),
            kind: kind.to_owned(),
            source: source.to_owned(),
            service: service.map(str::to_owned),
            energy_joules: kwh * KWH,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn idle_energy_is_shared_by_workload_energy_per_node() {
        // node-a: checkout 0.5 kWh, another team's pod 0.5 kWh, idle 0.2 kWh measured.
        // node-b: checkout 0.1 kWh alone, idle 0.1 kWh estimated.
        let rows = [
            row("node-a", "workload", "measured", Some("checkout"), 0.5),
            row("node-a", "workload", "measured", None, 0.5),
            row("node-a", "idle", "measured", None, 0.2),
            row("node-b", "workload", "measured", Some("checkout"), 0.1),
            row("node-b", "idle", "estimated", None, 0.1),
        ];
        let folded = fold_team(&CarbonSettings::default(), &rows, &[], &[]);
        assert_eq!(folded.len(), 1);
        let checkout = &folded[0];
        assert!(close(checkout.figures.measured.kwh, 0.6));
        // Half of node-a's idle, all of node-b's.
        assert!(
            close(checkout.idle.measured.kwh, 0.1),
            "{:?}",
            checkout.idle
        );
        assert!(
            close(checkout.idle.estimated.kwh, 0.1),
            "{:?}",
            checkout.idle
        );
        // Carbon: 0.6 kWh × PUE 1.2 × 481 g/kWh (the defaults).
        assert!(close(
            checkout.figures.measured.grams_co2e,
            0.6 * 1.2 * 481.0
        ));
    }

    #[test]
    fn registered_services_without_energy_are_listed_last_and_the_past_is_kept() {
        let rows = [row("node-a", "workload", "simulated", Some("web"), 0.2)];
        let before = [ServiceRow {
            cluster: "default".to_owned(),
            source: "measured".to_owned(),
            service: "old".to_owned(),
            energy_joules: 0.3 * KWH,
        }];
        let registered = ["api".to_owned(), "web".to_owned()];
        let folded = fold_team(&CarbonSettings::default(), &rows, &before, &registered);
        let names: Vec<&str> = folded.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["web", "api", "old"]);
        assert!(folded[0].registered && folded[1].registered && !folded[2].registered);
        assert!(close(folded[2].previous.measured.kwh, 0.3));
        // No idle without idle rows; a node without workload shares nothing.
        assert_eq!(folded[0].idle, BySource::default());
    }
}
