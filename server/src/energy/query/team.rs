//! Reading a team's energy for the team page: every node's workload and idle energy (from the
//! precomputed node totals, `energy_node_hourly` + the pending increments), the team's services
//! on each node now and the period before (folded by [`super::team_fold`]), and a series per
//! service (one query). What the page shows is kept per version of the figures
//! ([`super::cache`]).

use app::api::energy::{BySource, PeriodSelection, SparkSeries, TeamEnergy, TeamServiceEnergy};
use time::OffsetDateTime;

use super::{
    cache::figures_versions,
    rfc3339,
    team_fold::{fold_team, NodeRow, ServiceRow, TEAM_SERVICE},
    EnergyQuery, Resolution,
};
use crate::energy::EnergyError;

impl EnergyQuery {
    /// The team's services for `selection`. `NotFound` when the team has neither registered
    /// services nor any energy ever.
    pub async fn team(
        &self,
        team: &str,
        selection: PeriodSelection,
        now: OffsetDateTime,
    ) -> Result<TeamEnergy, EnergyError> {
        let arrived = std::time::Instant::now();
        let (from, to, step_secs) = Self::selection_range(selection, now);
        let version = figures_versions(&self.pool).await?.all;
        let key = format!(
            "{team}|{selection:?}|{}|{}|{step_secs}",
            rfc3339(from),
            rfc3339(to)
        );
        let page = self
            .team_cache
            .get_or_compute(key, version, arrived, || async move {
                let version = figures_versions(&self.pool).await?.all;
                Ok::<_, EnergyError>((
                    version,
                    self.team_page(team, selection, (from, to, step_secs))
                        .await?,
                ))
            })
            .await?;
        Ok(TeamEnergy::clone(&page))
    }

    /// What the team page shows (computed once per version of the figures by [`Self::team`]).
    async fn team_page(
        &self,
        team: &str,
        selection: PeriodSelection,
        (from, to, step_secs): (OffsetDateTime, OffsetDateTime, i64),
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

        let mut page = self
            .team_between(team, selection, registered, (from, to, step_secs))
            .await?;
        // The page lists the largest services; the rest are one row.
        for service in page.services.iter().skip(super::overview::SHOWN_ROWS) {
            page.other_services.add_all(&service.figures);
            page.other_previous.add_all(&service.previous);
        }
        page.services.truncate(super::overview::SHOWN_ROWS);
        Ok(page)
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
        // Every node's workload and idle energy (for the idle shares: the precomputed node
        // totals plus the pending increments, which together equal the hourly rollup), and this
        // team's services on each node (their rows, by the team's index).
        let sql = format!(
            "SELECT cluster, node, kind, source, NULL::text, sum(energy_joules)
             FROM (SELECT cluster, node, kind, source, energy_joules FROM energy_node_hourly
                   WHERE hour >= $1 AND hour < $2 AND kind IN ('workload', 'idle')
                   UNION ALL
                   SELECT cluster, node, kind, source, energy_joules FROM energy_rollup_pending
                   WHERE bucket >= $1 AND bucket < $2 AND kind IN ('workload', 'idle')) n
             GROUP BY 1, 2, 3, 4
             UNION ALL
             SELECT cluster, node, '{TEAM_SERVICE}', source, service, sum(energy_joules)
             FROM {} WHERE bucket >= $1 AND bucket < $2 AND team = $3 AND kind = 'workload'
             GROUP BY 1, 2, 3, 4, 5",
            resolution.table()
        );
        type Row = (String, String, String, String, Option<String>, f64);
        let rows: Vec<NodeRow> = sqlx::query_as::<_, Row>(&sql)
            .bind(from)
            .bind(to)
            .bind(team)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(
                |(cluster, node, kind, source, service, energy_joules)| NodeRow {
                    cluster,
                    node,
                    kind,
                    source,
                    service,
                    energy_joules,
                },
            )
            .collect();
        let previous_sql = format!(
            "SELECT cluster, source, service, sum(energy_joules) FROM {}
             WHERE bucket >= $1 AND bucket < $2 AND team = $3 AND kind = 'workload'
             GROUP BY 1, 2, 3",
            resolution.table()
        );
        let length = to - from;
        let previous_rows: Vec<ServiceRow> =
            sqlx::query_as::<_, (String, String, String, f64)>(&previous_sql)
                .bind(from - length)
                .bind(from)
                .bind(team)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(cluster, source, service, energy_joules)| ServiceRow {
                    cluster,
                    source,
                    service,
                    energy_joules,
                })
                .collect();

        let folded = fold_team(&self.carbon, &rows, &previous_rows, &registered);
        let names: Vec<String> = folded.iter().map(|f| f.service.clone()).collect();
        let mut series = self
            .team_series(team, &names, (from, to, step_secs))
            .await?;
        let mut services = Vec::with_capacity(folded.len());
        let (mut total, mut previous_total) = (BySource::default(), BySource::default());
        for fold in folded {
            total.add_all(&fold.figures);
            previous_total.add_all(&fold.previous);
            let Some(series) = series.remove(&fold.service) else {
                continue;
            };
            services.push(TeamServiceEnergy {
                sparkline: SparkSeries::of(&series),
                registered: fold.registered,
                service: fold.service,
                figures: fold.figures,
                previous: fold.previous,
                idle: fold.idle,
            });
        }
        Ok(TeamEnergy {
            team: team.to_owned(),
            selection,
            from: rfc3339(from),
            to: rfc3339(to),
            has_any_data: self.has_any_data().await?,
            total,
            previous_total,
            services_count: i64::try_from(services.len()).unwrap_or(i64::MAX),
            other_services: BySource::default(),
            other_previous: BySource::default(),
            services,
            carbon_notes: self.carbon_notes(),
        })
    }
}
