//! The Energy page's overview arithmetic, without a database: figures (carbon already
//! applied) by kind, source and owner, added up into the total, idle, system, and the rows per
//! team, service and unlabelled namespace, largest first. Fed by
//! [`super::EnergyQuery::overview_for`]; unit-tested on figures made by hand.

use std::collections::BTreeMap;

use app::api::energy::{BySource, EnergyRow, Figure};

use super::ordered;

/// One figure of the period: what kind of energy, from which source, whose.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedFigure {
    /// `workload`, `idle` or `system`.
    pub kind: String,
    pub source: String,
    pub namespace: String,
    /// Empty for workloads Canopy did not deploy (counted by namespace).
    pub team: String,
    pub service: String,
    pub figure: Figure,
}

/// The overview's sums and rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OverviewFold {
    pub total: BySource,
    pub idle: BySource,
    pub system: BySource,
    pub teams: Vec<EnergyRow>,
    /// `deploys` is left at 0 (counted from the deploy records by the caller).
    pub services: Vec<EnergyRow>,
    pub namespaces: Vec<EnergyRow>,
}

fn row(team: String, service: String, namespace: String, figures: BySource) -> EnergyRow {
    EnergyRow {
        team,
        service,
        namespace,
        figures,
        deploys: 0,
    }
}

fn largest_first(mut rows: Vec<EnergyRow>) -> Vec<EnergyRow> {
    rows.sort_by_key(|r| std::cmp::Reverse(ordered(r.figures.total().kwh)));
    rows
}

pub fn fold_overview(figures: impl IntoIterator<Item = OwnedFigure>) -> OverviewFold {
    let mut fold = OverviewFold::default();
    let mut teams: BTreeMap<String, BySource> = BTreeMap::new();
    let mut services: BTreeMap<(String, String), BySource> = BTreeMap::new();
    let mut namespaces: BTreeMap<String, BySource> = BTreeMap::new();
    for f in figures {
        fold.total.add(&f.source, f.figure);
        match f.kind.as_str() {
            "idle" => fold.idle.add(&f.source, f.figure),
            "system" => fold.system.add(&f.source, f.figure),
            _ if f.team.is_empty() => namespaces
                .entry(f.namespace)
                .or_default()
                .add(&f.source, f.figure),
            _ => {
                teams
                    .entry(f.team.clone())
                    .or_default()
                    .add(&f.source, f.figure);
                services
                    .entry((f.team, f.service))
                    .or_default()
                    .add(&f.source, f.figure);
            }
        }
    }
    fold.teams = largest_first(
        teams
            .into_iter()
            .map(|(team, figures)| row(team, String::new(), String::new(), figures))
            .collect(),
    );
    fold.services = largest_first(
        services
            .into_iter()
            .map(|((team, service), figures)| row(team, service, String::new(), figures))
            .collect(),
    );
    fold.namespaces = largest_first(
        namespaces
            .into_iter()
            .map(|(namespace, figures)| row(String::new(), String::new(), namespace, figures))
            .collect(),
    );
    fold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(
        kind: &str,
        source: &str,
        ns: &str,
        team: &str,
        service: &str,
        kwh: f64,
    ) -> OwnedFigure {
        OwnedFigure {
            kind: kind.to_owned(),
            source: source.to_owned(),
            namespace: ns.to_owned(),
            team: team.to_owned(),
            service: service.to_owned(),
            figure: Figure {
                kwh,
                grams_co2e: kwh * 100.0,
            },
        }
    }

    #[test]
    fn every_figure_lands_in_the_total_and_in_exactly_one_breakdown() {
        let fold = fold_overview([
            owned(
                "workload",
                "measured",
                "payments-prod",
                "payments",
                "checkout",
                0.5,
            ),
            owned(
                "workload",
                "estimated",
                "payments-prod",
                "payments",
                "cart",
                0.2,
            ),
            owned(
                "workload",
                "measured",
                "search-prod",
                "search",
                "index",
                0.9,
            ),
            owned("workload", "measured", "kube-system", "", "", 0.1),
            owned("idle", "measured", "", "", "", 0.3),
            owned("system", "measured", "", "", "", 0.05),
            // A live-intensity correction: grams only, no kWh.
            OwnedFigure {
                figure: Figure {
                    kwh: 0.0,
                    grams_co2e: 7.0,
                },
                ..owned(
                    "workload",
                    "measured",
                    "payments-prod",
                    "payments",
                    "checkout",
                    0.0,
                )
            },
        ]);
        assert!((fold.total.total().kwh - 2.05).abs() < 1e-12);
        assert!((fold.idle.measured.kwh - 0.3).abs() < 1e-12);
        assert!((fold.system.measured.kwh - 0.05).abs() < 1e-12);
        let teams: Vec<&str> = fold.teams.iter().map(|r| r.team.as_str()).collect();
        assert_eq!(teams, ["search", "payments"]);
        let services: Vec<&str> = fold.services.iter().map(|r| r.service.as_str()).collect();
        assert_eq!(services, ["index", "checkout", "cart"]);
        assert_eq!(fold.services[1].figures.measured.grams_co2e, 57.0);
        assert_eq!(fold.namespaces.len(), 1);
        assert_eq!(fold.namespaces[0].namespace, "kube-system");
    }
}
