//! Reading a team's energy for the team page: the rows of every node's workload and idle
//! energy and of the team's services the period before (folded by [`super::team_fold`]), and a
//! series per service.

use app::api::energy::{BySource, PeriodSelection, TeamEnergy, TeamServiceEnergy};
use time::OffsetDateTime;

use super::{
    rfc3339,
    team_fold::{fold_team, NodeRow, ServiceRow},
    EnergyQuery, Resolution, Selection,
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
        let mut services = Vec::with_capacity(folded.len());
        let (mut total, mut previous_total) = (BySource::default(), BySource::default());
        for fold in folded {
            total.add_all(&fold.figures);
            previous_total.add_all(&fold.previous);
            let selection = Selection::Service {
                team: team.to_owned(),
                service: fold.service.clone(),
            };
            services.push(TeamServiceEnergy {
                series: self.series(&selection, from, to, step_secs).await?,
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
            services,
            carbon_notes: self.carbon_notes(),
        })
    }
}
