//! Reading the Energy page's overview: the period's rollup rows (and live-intensity
//! corrections), folded by [`super::overview_fold`]; the previous period's total for the trend;
//! deploy counts, the top services' series, and which grid intensity the period's hours used.

use app::api::energy::{BySource, EnergyOverview, EnergyPeriod, Figure, PeriodSelection};
use time::OffsetDateTime;

use super::{
    overview_fold::{fold_overview, OverviewFold, OwnedFigure},
    rfc3339, EnergyQuery, Resolution, Selection, TOP_SERIES,
};
use crate::energy::EnergyError;

impl EnergyQuery {
    /// Totals, breakdowns, trend and the top services' series for `period`.
    pub async fn overview(
        &self,
        period: EnergyPeriod,
        now: OffsetDateTime,
    ) -> Result<EnergyOverview, EnergyError> {
        self.overview_for(PeriodSelection::Preset(period), now)
            .await
    }

    /// The overview for a preset or custom period; the trend compares with the period of the
    /// same length just before it.
    pub async fn overview_for(
        &self,
        selection: PeriodSelection,
        now: OffsetDateTime,
    ) -> Result<EnergyOverview, EnergyError> {
        let period = selection.preset().unwrap_or_default();
        let (from, to, step_secs) = Self::selection_range(selection, now);
        let resolution = Resolution::for_range(from, to, step_secs)?;
        let sql = format!(
            "SELECT cluster, kind, source, namespace, team, service, sum(energy_joules)
             FROM {} WHERE bucket >= $1 AND bucket < $2 GROUP BY 1, 2, 3, 4, 5, 6",
            resolution.table()
        );
        type Row = (String, String, String, String, String, String, f64);
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        let live: Vec<(String, crate::energy::grid::LiveRow)> = self
            .live_rows(
                "concat_ws(chr(31), h.kind, h.namespace, h.team, h.service)",
                "",
                &[],
                (step_secs, from, to),
            )
            .await?;
        let corrections = live.into_iter().map(|(group, row)| {
            let mut parts = group.split('\u{1f}').map(str::to_owned);
            let mut next = || parts.next().unwrap_or_default();
            let (kind, namespace, team, service) = (next(), next(), next(), next());
            let figure = Figure {
                kwh: 0.0,
                grams_co2e: row.grams_delta(&self.carbon),
            };
            OwnedFigure {
                kind,
                source: row.source,
                namespace,
                team,
                service,
                figure,
            }
        });
        let figures = rows
            .into_iter()
            .map(
                |(cluster, kind, source, namespace, team, service, joules)| OwnedFigure {
                    figure: self.figure(&cluster, joules),
                    kind,
                    source,
                    namespace,
                    team,
                    service,
                },
            )
            .chain(corrections);
        let OverviewFold {
            total,
            idle,
            system,
            teams: team_rows,
            services: mut service_rows,
            namespaces: namespace_rows,
        } = fold_overview(figures);
        let previous_sql = format!(
            "SELECT cluster, source, sum(energy_joules) FROM {}
             WHERE bucket >= $1 AND bucket < $2 GROUP BY 1, 2",
            resolution.table()
        );
        let length = to - from;
        let previous: Vec<(String, String, f64)> = sqlx::query_as(&previous_sql)
            .bind(from - length)
            .bind(from)
            .fetch_all(&self.pool)
            .await?;
        let mut previous_total = BySource::default();
        for (cluster, source, joules) in previous {
            previous_total.add(&source, self.figure(&cluster, joules));
        }
        let previous_live: Vec<(String, crate::energy::grid::LiveRow)> = self
            .live_rows("''::text", "", &[], (step_secs, from - length, from))
            .await?;
        for (_, row) in previous_live {
            let grams_co2e = row.grams_delta(&self.carbon);
            previous_total.add(
                &row.source,
                Figure {
                    kwh: 0.0,
                    grams_co2e,
                },
            );
        }
        let grid_intensity = crate::energy::grid::intensity_uses(
            &self.pool,
            &self.carbon,
            self.live.as_deref(),
            from,
            to,
        )
        .await?;
        let has_any_data = self.has_any_data().await?;

        let deploys = crate::energy::sci::deploy_counts(&self.pool, from, to).await?;
        for row in &mut service_rows {
            row.deploys = deploys
                .get(&(row.team.clone(), row.service.clone()))
                .copied()
                .unwrap_or(0);
        }
        let mut top_series = Vec::new();
        for row in service_rows.iter().take(TOP_SERIES) {
            let selection = Selection::Service {
                team: row.team.clone(),
                service: row.service.clone(),
            };
            top_series.push(self.series(&selection, from, to, step_secs).await?);
        }
        Ok(EnergyOverview {
            period,
            selection,
            from: rfc3339(from),
            to: rfc3339(to),
            has_any_data,
            total,
            previous_total,
            idle,
            system,
            teams: team_rows,
            services: service_rows,
            namespaces: namespace_rows,
            top_series,
            carbon_notes: self.carbon_notes(),
            grid_intensity,
        })
    }
}
