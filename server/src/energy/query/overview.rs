//! Reading the Energy page's overview: the period's totals per owner (and live-intensity
//! corrections), folded by [`super::overview_fold`]; the previous period's total for the trend;
//! the top services' series, and which grid intensity the period's hours used.
//!
//! At 10,000 services a period has hundreds of thousands of rollup rows; the page shows the
//! largest [`SHOWN_ROWS`] services and teams and the total of the rest. Periods read the
//! precomputed totals without the node (whole days from `energy_service_daily`, the hours at
//! either end from `energy_service_hourly`, plus the pending increments); what was computed is
//! kept per version of the figures
//! ([`super::cache`]), so a page is computed once per change of the data, not per request.

use std::sync::Arc;

use app::api::energy::{
    BySource, EnergyOverview, EnergyPeriod, EnergyRow, Figure, PeriodSelection,
};
use time::OffsetDateTime;

use super::{
    cache::{figures_versions, Versions},
    overview_fold::{fold_overview, OverviewFold, OwnedFigure},
    rfc3339, EnergyQuery, Resolution, Selection, MAX_CHART_BARS, TOP_SERIES,
};
use crate::energy::EnergyError;

/// How many services, teams and namespaces the overview lists (largest first); the rest are
/// one total each.
pub const SHOWN_ROWS: usize = 20;

/// The precomputed rows of `[$1, $2)` (whole hours) with `columns`: whole UTC days `[$3, $4)`
/// from `energy_service_daily`, the hours before `$3` and from `$4` on from
/// `energy_service_hourly`, and the pending increments of the whole range. The three add up to
/// the rollup views' figures (migration `20261201000030`).
fn precomputed_sql(columns: &str, group: &str) -> String {
    format!(
        "SELECT {columns}, sum(energy_joules)
         FROM (SELECT {columns}, energy_joules FROM energy_service_daily
               WHERE day >= $3 AND day < $4
               UNION ALL
               SELECT {columns}, energy_joules FROM energy_service_hourly
               WHERE (hour >= $1 AND hour < $3) OR (hour >= $4 AND hour < $2)
               UNION ALL
               SELECT {columns}, energy_joules FROM energy_rollup_pending
               WHERE bucket >= $1 AND bucket < $2) t
         GROUP BY {group}"
    )
}

/// The whole UTC days inside `[from, to)` (whole hours), as `[first midnight, last midnight)`;
/// an empty range at `from` when there is none.
fn whole_days(from: OffsetDateTime, to: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let (_, day) = crate::energy::buckets::buckets(from);
    let first = if day == from {
        from
    } else {
        day + time::Duration::days(1)
    };
    let last = crate::energy::buckets::buckets(to).1;
    if first < last {
        (first, last)
    } else {
        (from, from)
    }
}

/// A row of the totals per owner: cluster, kind, source, namespace, team, service, joules.
type OwnerRow = (String, String, String, String, String, String, f64);

/// The totals of a period up to the hour before the current one, and of the period before it:
/// changed only by late batches (and the other `history` triggers), so kept per `history`
/// version.
pub struct ClosedPart {
    rows: Vec<OwnerRow>,
    previous: Vec<(String, String, f64)>,
}

/// The first `SHOWN_ROWS` rows (largest first already), and the rest added up.
fn shown_and_rest(mut rows: Vec<EnergyRow>) -> (Vec<EnergyRow>, BySource, i64) {
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let mut rest = BySource::default();
    for row in rows.iter().skip(SHOWN_ROWS) {
        rest.add_all(&row.figures);
    }
    rows.truncate(SHOWN_ROWS);
    (rows, rest, count)
}

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
    /// same length just before it. The figures come from the cache when the energy data has
    /// not changed since they were computed; the deploy counts and the live feed's state are
    /// read for every request.
    pub async fn overview_for(
        &self,
        selection: PeriodSelection,
        now: OffsetDateTime,
    ) -> Result<EnergyOverview, EnergyError> {
        let arrived = std::time::Instant::now();
        let (from, to, step_secs) = Self::selection_range(selection, now);
        let version = figures_versions(&self.pool).await?.all;
        let key = format!(
            "{selection:?}|{}|{}|{step_secs}",
            rfc3339(from),
            rfc3339(to)
        );
        let figures = self
            .overview_cache
            .get_or_compute(key, version, arrived, || async move {
                let versions = figures_versions(&self.pool).await?;
                let figures = self
                    .overview_figures(selection, (from, to, step_secs), now, versions)
                    .await?;
                Ok::<_, EnergyError>((versions.all, figures))
            })
            .await?;
        let mut overview = EnergyOverview::clone(&figures);
        let shown: Vec<(String, String)> = overview
            .services
            .iter()
            .map(|row| (row.team.clone(), row.service.clone()))
            .collect();
        let deploys = crate::energy::sci::deploy_counts_of(&self.pool, from, to, &shown).await?;
        for row in &mut overview.services {
            row.deploys = deploys
                .get(&(row.team.clone(), row.service.clone()))
                .copied()
                .unwrap_or(0);
        }
        overview.grid_intensity = crate::energy::grid::intensity_uses(
            &self.pool,
            &self.carbon,
            self.live.as_deref(),
            from,
            to,
        )
        .await?;
        Ok(overview)
    }

    /// The totals per owner of `[from, to)` (whole hours), from the precomputed totals.
    async fn owner_totals(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<OwnerRow>, EnergyError> {
        let owners = precomputed_sql(
            "cluster, kind, source, namespace, team, service",
            "1, 2, 3, 4, 5, 6",
        );
        let (first_day, last_day) = whole_days(from, to);
        // Ten thousand services' groups: hashed in memory rather than sorted on disk, and no
        // JIT compilation (85 ms measured) for a query of a page.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)")
            .execute(&mut *tx)
            .await?;
        let rows: Vec<OwnerRow> = sqlx::query_as(&owners)
            .bind(from)
            .bind(to)
            .bind(first_day)
            .bind(last_day)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The totals per owner of `[from, cut)` and the total of the `length` before `from`.
    async fn closed_part(
        &self,
        from: OffsetDateTime,
        cut: OffsetDateTime,
        length: time::Duration,
    ) -> Result<ClosedPart, EnergyError> {
        let rows = if from < cut {
            self.owner_totals(from, cut).await?
        } else {
            Vec::new()
        };
        let (first_day, last_day) = whole_days(from - length, from);
        let previous = sqlx::query_as(&precomputed_sql("cluster, source", "1, 2"))
            .bind(from - length)
            .bind(from)
            .bind(first_day)
            .bind(last_day)
            .fetch_all(&self.pool)
            .await?;
        Ok(ClosedPart { rows, previous })
    }

    /// Everything of the overview that depends on the energy data only.
    async fn overview_figures(
        &self,
        selection: PeriodSelection,
        (from, to, step_secs): (OffsetDateTime, OffsetDateTime, i64),
        now: OffsetDateTime,
        versions: Versions,
    ) -> Result<EnergyOverview, EnergyError> {
        let period = selection.preset().unwrap_or_default();
        Resolution::for_range(from, to, step_secs)?;
        // Closed: up to the hour before the current one (kept per `history` version); open: the
        // last two hours, read for every computation.
        let cut =
            (crate::energy::buckets::buckets(now).0 - time::Duration::hours(1)).clamp(from, to);
        let key = format!(
            "{selection:?}|{}|{}|{}",
            rfc3339(from),
            rfc3339(cut),
            rfc3339(to)
        );
        let closed = match self.closed_cache.get(&key, versions.history) {
            Some(closed) => closed,
            None => {
                let closed = Arc::new(self.closed_part(from, cut, to - from).await?);
                self.closed_cache
                    .put(key, versions.history, Arc::clone(&closed));
                closed
            }
        };
        let open: Vec<OwnerRow> = if cut < to {
            self.owner_totals(cut, to).await?
        } else {
            Vec::new()
        };
        let rows = closed.rows.iter().cloned().chain(open);
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
            teams,
            services,
            namespaces,
        } = fold_overview(figures);
        let length = to - from;
        let mut previous_total = BySource::default();
        for (cluster, source, joules) in &closed.previous {
            previous_total.add(source, self.figure(cluster, *joules));
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
        let has_any_data = self.has_any_data().await?;

        // The charts: at most MAX_CHART_BARS bars each (several steps per bar for long periods).
        let steps = ((to - from).whole_seconds() + step_secs - 1) / step_secs;
        let chart_step = step_secs * ((steps + MAX_CHART_BARS - 1) / MAX_CHART_BARS).max(1);
        let mut top_series = Vec::new();
        for row in services.iter().take(TOP_SERIES) {
            let selection = Selection::Service {
                team: row.team.clone(),
                service: row.service.clone(),
            };
            top_series.push(self.series(&selection, from, to, chart_step).await?);
        }
        let (services, other_services, services_count) = shown_and_rest(services);
        let (teams, other_teams, teams_count) = shown_and_rest(teams);
        let (namespaces, other_namespaces, namespaces_count) = shown_and_rest(namespaces);
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
            teams,
            teams_count,
            other_teams,
            services,
            services_count,
            other_services,
            namespaces,
            namespaces_count,
            other_namespaces,
            top_series,
            carbon_notes: self.carbon_notes(),
            grid_intensity: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(service: &str, kwh: f64) -> EnergyRow {
        let mut figures = BySource::default();
        figures.add(
            "measured",
            Figure {
                kwh,
                grams_co2e: kwh * 100.0,
            },
        );
        EnergyRow {
            team: "t".to_owned(),
            service: service.to_owned(),
            namespace: String::new(),
            figures,
            deploys: 0,
        }
    }

    #[test]
    fn whole_days_are_the_midnights_inside_the_range() {
        use time::macros::datetime;
        assert_eq!(
            whole_days(
                datetime!(2026-11-23 17:00 UTC),
                datetime!(2026-11-30 17:00 UTC)
            ),
            (
                datetime!(2026-11-24 00:00 UTC),
                datetime!(2026-11-30 00:00 UTC)
            )
        );
        assert_eq!(
            whole_days(
                datetime!(2026-09-02 00:00 UTC),
                datetime!(2026-12-01 00:00 UTC)
            ),
            (
                datetime!(2026-09-02 00:00 UTC),
                datetime!(2026-12-01 00:00 UTC)
            )
        );
        // 24 hours from 17:00: no whole day, everything from the hourly totals.
        let from = datetime!(2026-11-29 17:00 UTC);
        assert_eq!(
            whole_days(from, datetime!(2026-11-30 17:00 UTC)),
            (from, from)
        );
    }

    #[test]
    fn the_largest_rows_are_shown_and_the_rest_added_up() {
        let rows: Vec<EnergyRow> = (0..25)
            .map(|i| row(&format!("s{i}"), 25.0 - i as f64))
            .collect();
        let (shown, rest, count) = shown_and_rest(rows);
        assert_eq!(shown.len(), SHOWN_ROWS);
        assert_eq!(shown[0].service, "s0");
        assert_eq!(count, 25);
        // s20..s24: 5 + 4 + 3 + 2 + 1 kWh.
        assert_eq!(rest.measured.kwh, 15.0);
        let (shown, rest, count) = shown_and_rest(vec![row("a", 1.0)]);
        assert_eq!((shown.len(), rest, count), (1, BySource::default(), 1));
    }
}
