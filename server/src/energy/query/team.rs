//! A team's energy for the team page: its services side by side (energy by source, the previous
//! period of equal length, a share of the idle energy of the nodes they ran on, a series each).

use std::collections::{BTreeMap, BTreeSet};

use app::api::energy::{BySource, PeriodSelection, TeamEnergy, TeamServiceEnergy};
use time::OffsetDateTime;

use super::{ordered, rfc3339, EnergyQuery, Resolution, Selection};
use crate::energy::EnergyError;

/// `(cluster, node)`.
type NodeKey = (String, String);

/// Joules per node and source, before carbon is applied.
#[derive(Default)]
struct NodeJoules {
    workload: f64,
    idle_by_source: BTreeMap<String, f64>,
}

impl EnergyQuery {
    /// The team's services for `selection`. `NotFound` when the team has neither registered
    /// services nor any energy ever.
    pub async fn team(
        &self,
        team: &str,
        selection: PeriodSelection,
        now: OffsetDateTime,
    ) -> Result<TeamEnergy, EnergyError> {
        let registered = self.registered_services(team).await?;
        let known = !registered.is_empty()
            || sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM teams WHERE name = $1)
                     OR EXISTS (SELECT 1 FROM energy_rollup_daily WHERE team = $1)",
            )
            .bind(team)
            .fetch_one(&self.pool)
            .await?;
        if !known {
            return Err(EnergyError::NotFound("team"));
        }

        let (from, to, step_secs) = Self::selection_range(selection, now);
        self.team_between(team, selection, registered, (from, to, step_secs))
            .await
    }

    /// The team's services over `[from, to)` (whole UTC hours) with a series of `step_secs`
    /// each: what the team page shows, and what the weekly e-mail reports for a team's week.
    /// `selection` is echoed back for the page.
    pub async fn team_in_range(
        &self,
        team: &str,
        selection: PeriodSelection,
        (from, to, step_secs): (OffsetDateTime, OffsetDateTime, i64),
    ) -> Result<TeamEnergy, EnergyError> {
        let registered = self.registered_services(team).await?;
        self.team_between(team, selection, registered, (from, to, step_secs))
            .await
    }

    async fn registered_services(&self, team: &str) -> Result<Vec<String>, EnergyError> {
        Ok(sqlx::query_scalar(
            "SELECT s.name FROM services s JOIN teams t ON t.id = s.team_id
             WHERE t.name = $1 ORDER BY s.name",
        )
        .bind(team)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn team_between(
        &self,
        team: &str,
        selection: PeriodSelection,
        registered: Vec<String>,
        (from, to, step_secs): (OffsetDateTime, OffsetDateTime, i64),
    ) -> Result<TeamEnergy, EnergyError> {
        let resolution = Resolution::for_range(from, to, step_secs)?;
        // Every node's workload and idle energy (for the idle shares), and this team's services.
        let sql = format!(
            "SELECT cluster, node, kind, source,
                    CASE WHEN team = $3 AND kind = 'workload' THEN service END,
                    sum(energy_joules)
             FROM {} WHERE bucket >= $1 AND bucket < $2 AND kind IN ('workload', 'idle')
             GROUP BY 1, 2, 3, 4, 5",
            resolution.table()
        );
        type Row = (String, String, String, String, Option<String>, f64);
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(from)
            .bind(to)
            .bind(team)
            .fetch_all(&self.pool)
            .await?;
        let mut nodes: BTreeMap<NodeKey, NodeJoules> = BTreeMap::new();
        let mut figures: BTreeMap<String, BySource> = BTreeMap::new();
        let mut on_nodes: BTreeMap<String, BTreeMap<NodeKey, f64>> = BTreeMap::new();
        for (cluster, node, kind, source, service, joules) in rows {
            let key = (cluster.clone(), node);
            let entry = nodes.entry(key.clone()).or_default();
            if kind == "idle" {
                *entry.idle_by_source.entry(source).or_default() += joules;
                continue;
            }
            entry.workload += joules;
            if let Some(service) = service {
                figures
                    .entry(service.clone())
                    .or_default()
                    .add(&source, self.figure(&cluster, joules));
                *on_nodes.entry(service).or_default().entry(key).or_default() += joules;
            }
        }

        let previous_sql = format!(
            "SELECT cluster, source, service, sum(energy_joules) FROM {}
             WHERE bucket >= $1 AND bucket < $2 AND team = $3 AND kind = 'workload'
             GROUP BY 1, 2, 3",
            resolution.table()
        );
        let length = to - from;
        let previous_rows: Vec<(String, String, String, f64)> = sqlx::query_as(&previous_sql)
            .bind(from - length)
            .bind(from)
            .bind(team)
            .fetch_all(&self.pool)
            .await?;
        let mut previous: BTreeMap<String, BySource> = BTreeMap::new();
        for (cluster, source, service, joules) in previous_rows {
            previous
                .entry(service)
                .or_default()
                .add(&source, self.figure(&cluster, joules));
        }

        let names: BTreeSet<String> = registered
            .iter()
            .cloned()
            .chain(figures.keys().cloned())
            .chain(previous.keys().cloned())
            .collect();
        let mut services = Vec::with_capacity(names.len());
        let (mut total, mut previous_total) = (BySource::default(), BySource::default());
        for service in names {
            let own = figures.get(&service).copied().unwrap_or_default();
            let before = previous.get(&service).copied().unwrap_or_default();
            let idle = self.idle_share(on_nodes.get(&service), &nodes);
            total.add_all(&own);
            previous_total.add_all(&before);
            let selection = Selection::Service {
                team: team.to_owned(),
                service: service.clone(),
            };
            let series = self.series(&selection, from, to, step_secs).await?;
            services.push(TeamServiceEnergy {
                registered: registered.contains(&service),
                service,
                figures: own,
                previous: before,
                idle,
                series,
            });
        }
        services.sort_by_key(|s| std::cmp::Reverse(ordered(s.figures.total().kwh)));
        Ok(TeamEnergy {
            team: team.to_owned(),
            selection,
            from: rfc3339(from),
            to: rfc3339(to),
            has_any_data: self.has_any_data().await?,
            total,
            previous_total,
            services,
            carbon_notes: self.carbon_notes(),
        })
    }

    /// A service's share of each node's idle energy, in proportion to its share of the node's
    /// workload energy, per source of the idle energy.
    fn idle_share(
        &self,
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
                idle.add(source, self.figure(&key.0, idle_joules * share));
            }
        }
        idle
    }
}
