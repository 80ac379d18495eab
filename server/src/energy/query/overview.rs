//! The Energy page's overview: totals by source, breakdowns by team, service and namespace, the
//! trend against the previous period of the same length, idle and system energy, the top
//! services' series, and which grid intensity the period's hours used.

use std::collections::BTreeMap;

use app::api::energy::{
    BySource, EnergyOverview, EnergyPeriod, EnergyRow, Figure, PeriodSelection,
};
use time::OffsetDateTime;

use super::{ordered, rfc3339, EnergyQuery, Resolution, Selection, TOP_SERIES};
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
        let (mut total, mut idle, mut system) = Default::default();
        let mut teams: BTreeMap<String, BySource> = BTreeMap::new();
        let mut services: BTreeMap<(String, String), BySource> = BTreeMap::new();
        let mut namespaces: BTreeMap<String, BySource> = BTreeMap::new();
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
            (kind, row.source, namespace, team, service, figure)
        });
        let figures = rows
            .into_iter()
            .map(
                |(cluster, kind, source, namespace, team, service, joules)| {
                    let figure = self.figure(&cluster, joules);
                    (kind, source, namespace, team, service, figure)
                },
            )
            .chain(corrections);
        for (kind, source, namespace, team, service, figure) in figures {
            BySource::add(&mut total, &source, figure);
            match kind.as_str() {
                "idle" => BySource::add(&mut idle, &source, figure),
                "system" => BySource::add(&mut system, &source, figure),
                _ if team.is_empty() => namespaces
                    .entry(namespace)
                    .or_default()
                    .add(&source, figure),
                _ => {
                    teams.entry(team.clone()).or_default().add(&source, figure);
                    services
                        .entry((team, service))
                        .or_default()
                        .add(&source, figure);
                }
            }
        }
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

        let by_kwh = |figures: &BySource| std::cmp::Reverse(ordered(figures.total().kwh));
        let mut service_rows: Vec<EnergyRow> = services
            .into_iter()
            .map(|((team, service), figures)| EnergyRow {
                team,
                service,
                namespace: String::new(),
                figures,
                deploys: 0,
            })
            .collect();
        service_rows.sort_by_key(|r| by_kwh(&r.figures));
        let deploys = crate::energy::sci::deploy_counts(&self.pool, from, to).await?;
        for row in &mut service_rows {
            row.deploys = deploys
                .get(&(row.team.clone(), row.service.clone()))
                .copied()
                .unwrap_or(0);
        }
        let mut team_rows: Vec<EnergyRow> = teams
            .into_iter()
            .map(|(team, figures)| EnergyRow {
                team,
                service: String::new(),
                namespace: String::new(),
                figures,
                deploys: 0,
            })
            .collect();
        team_rows.sort_by_key(|r| by_kwh(&r.figures));
        let mut namespace_rows: Vec<EnergyRow> = namespaces
            .into_iter()
            .map(|(namespace, figures)| EnergyRow {
                team: String::new(),
                service: String::new(),
                namespace,
                figures,
                deploys: 0,
            })
            .collect();
        namespace_rows.sort_by_key(|r| by_kwh(&r.figures));

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
