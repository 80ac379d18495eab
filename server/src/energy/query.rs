//! Reading figures: series and the overview, from the hourly or daily rollups, with carbon
//! applied per cluster. Measured, estimated and simulated stay in separate fields.
//!
//! The SQL here is built from a fixed set of fragments (table by resolution, filter by
//! selection) with every value bound, so it uses runtime-checked `sqlx::query_as`: the ten
//! combinations as separate `query!` macros would say the same thing ten times.

use std::sync::Arc;

use app::api::energy::{
    BySource, DayRange, EnergyOverview, EnergyPeriod, EnergySeries, Figure, PeriodSelection,
    SeriesPoint, TeamEnergy,
};
use sqlx::PgPool;
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

pub mod cache;
mod overview;
pub mod overview_fold;
mod team;
pub mod team_fold;
pub mod weeks;

use super::{buckets::buckets, carbon::CarbonSettings, EnergyError};

/// Most points one series may have.
pub const MAX_POINTS: i64 = 10_000;
/// How many services get a chart on the overview.
pub const TOP_SERIES: usize = 3;
/// Most bars of an overview chart: longer periods get several steps per bar.
pub const MAX_CHART_BARS: i64 = 31;

/// Which energy a series adds up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Everything: workloads, idle and system energy of every node.
    All,
    Team(String),
    Service {
        team: String,
        service: String,
    },
    /// Workloads in a namespace (labelled or not).
    Namespace(String),
    /// One node's host energy (workloads, idle and system). Node names are unique within a
    /// cluster only: without `cluster`, the name must be known in one cluster.
    Node {
        cluster: Option<String>,
        node: String,
    },
}

/// Which rollup a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Hourly,
    Daily,
}

impl Resolution {
    fn table(self) -> &'static str {
        match self {
            Self::Hourly => "energy_rollup_hourly",
            Self::Daily => "energy_rollup_daily",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
        }
    }

    /// Daily when the range and step are whole UTC days, else hourly (which needs whole hours).
    pub fn for_range(
        from: OffsetDateTime,
        to: OffsetDateTime,
        step_secs: i64,
    ) -> Result<Self, EnergyError> {
        let day_aligned = |t: OffsetDateTime| buckets(t).1 == t;
        let hour_aligned = |t: OffsetDateTime| buckets(t).0 == t;
        if step_secs % 86_400 == 0 && day_aligned(from) && day_aligned(to) {
            Ok(Self::Daily)
        } else if step_secs % 3_600 == 0 && hour_aligned(from) && hour_aligned(to) {
            Ok(Self::Hourly)
        } else {
            Err(EnergyError::InvalidInput {
                field: "step",
                message: "step must be a whole number of hours, and from/to whole UTC hours \
                          (whole days for step multiples of 1d read the daily rollup)"
                    .to_owned(),
            })
        }
    }
}

#[derive(Clone)]
pub struct EnergyQuery {
    pool: PgPool,
    carbon: Arc<CarbonSettings>,
    pub retention_days: u32,
    /// Live grid intensity (Electricity Maps), when configured: hours with a stored value use it.
    live: Option<Arc<super::grid::LiveGrid>>,
    /// Overviews and team pages by period (and team), per version of the figures.
    overview_cache: Arc<cache::VersionedCache<EnergyOverview>>,
    /// The overview's totals of the hours before the current one, per `history` version.
    closed_cache: Arc<cache::VersionedCache<overview::ClosedPart>>,
    team_cache: Arc<cache::VersionedCache<TeamEnergy>>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl EnergyQuery {
    pub fn new(pool: PgPool, carbon: Arc<CarbonSettings>, retention_days: u32) -> Self {
        Self {
            pool,
            carbon,
            retention_days,
            live: None,
            overview_cache: Arc::default(),
            closed_cache: Arc::default(),
            team_cache: Arc::default(),
        }
    }

    /// Uses stored live grid intensities where they exist.
    pub fn with_live(mut self, live: Option<Arc<super::grid::LiveGrid>>) -> Self {
        self.live = live;
        self
    }

    pub fn live(&self) -> Option<&Arc<super::grid::LiveGrid>> {
        self.live.as_ref()
    }

    /// Live corrections (see [`super::grid`]) for hourly rows `h` in `[from, to)` matching
    /// `filter`, grouped by `group` (SQL, may use `$1` = step secs and `$2` = from) then cluster
    /// and source; none when live intensity is off.
    async fn live_rows<G>(
        &self,
        group: &str,
        filter: &str,
        binds: &[String],
        (step_secs, from, to): (i64, OffsetDateTime, OffsetDateTime),
    ) -> Result<Vec<(G, super::grid::LiveRow)>, EnergyError>
    where
        G: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        if self.live.is_none() {
            return Ok(Vec::new());
        }
        let (clusters, zones, default_zone) = super::grid::zone_map(&self.carbon);
        let sql = format!(
            "SELECT {group} AS g, h.cluster, h.source, sum(h.energy_joules) AS joules,
                    sum(h.energy_joules * gi.grams_co2e_per_kwh) AS joules_g
             FROM energy_rollup_hourly h {join}
             WHERE h.bucket >= $2 AND h.bucket < $3 {filter}
             GROUP BY 1, 2, 3",
            join = super::grid::live_join_sql(6, 7, 8),
        );
        let mut query = sqlx::query_as::<_, (G, String, String, f64, f64)>(&sql)
            .bind(step_secs as f64)
            .bind(from)
            .bind(to);
        for i in 0..2 {
            query = query.bind(binds.get(i).cloned().unwrap_or_default());
        }
        let rows = query
            .bind(clusters)
            .bind(zones)
            .bind(default_zone)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(g, cluster, source, joules, joules_g_per_kwh)| {
                (
                    g,
                    super::grid::LiveRow {
                        cluster,
                        source,
                        joules,
                        joules_g_per_kwh,
                    },
                )
            })
            .collect())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn carbon(&self) -> &CarbonSettings {
        &self.carbon
    }

    fn figure(&self, cluster: &str, energy_joules: f64) -> Figure {
        self.carbon.figure(cluster, energy_joules)
    }

    /// Energy per step from `from` (inclusive) to `to` (exclusive), every step present.
    /// Refuses a node name known in more than one cluster (their series would be merged).
    async fn ensure_one_cluster(&self, node: &str) -> Result<(), EnergyError> {
        let clusters: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT cluster FROM energy_node_tokens WHERE node = $1 ORDER BY cluster",
        )
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        if clusters.len() > 1 {
            return Err(EnergyError::InvalidInput {
                field: "cluster",
                message: format!(
                    "node {node} reports from the clusters {}: add cluster= to choose one",
                    clusters.join(", ")
                ),
            });
        }
        Ok(())
    }

    pub async fn series(
        &self,
        selection: &Selection,
        from: OffsetDateTime,
        to: OffsetDateTime,
        step_secs: i64,
    ) -> Result<EnergySeries, EnergyError> {
        if step_secs <= 0 || to <= from {
            return Err(EnergyError::InvalidInput {
                field: "step",
                message: "step must be positive and `to` after `from`".to_owned(),
            });
        }
        let range_secs = (to - from).whole_seconds();
        let count = (range_secs + step_secs - 1) / step_secs;
        if count > MAX_POINTS {
            return Err(EnergyError::InvalidInput {
                field: "step",
                message: format!(
                    "{count} points requested; at most {MAX_POINTS}: use a larger step"
                ),
            });
        }
        let resolution = Resolution::for_range(from, to, step_secs)?;
        if let Selection::Node {
            cluster: None,
            node,
        } = selection
        {
            self.ensure_one_cluster(node).await?;
        }
        let (filter, binds) = filter_sql(selection);
        let sql = format!(
            "SELECT date_bin(make_interval(secs => $1), bucket, $2) AS b, cluster, source,
                    sum(energy_joules) AS joules
             FROM {table} WHERE bucket >= $2 AND bucket < $3 {filter}
             GROUP BY 1, 2, 3",
            table = resolution.table()
        );
        let mut query = sqlx::query_as::<_, (OffsetDateTime, String, String, f64)>(&sql)
            .bind(step_secs as f64)
            .bind(from)
            .bind(to);
        for value in binds.iter().cloned() {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let live: Vec<(OffsetDateTime, super::grid::LiveRow)> = self
            .live_rows(
                "date_bin(make_interval(secs => $1), h.bucket, $2)",
                &filter.replace("$4", "$4::text").replace("$5", "$5::text"),
                &binds,
                (step_secs, from, to),
            )
            .await?;
        let corrections = live.into_iter().map(|(bucket, row)| {
            let grams_co2e = row.grams_delta(&self.carbon);
            (
                bucket,
                row.source,
                Figure {
                    kwh: 0.0,
                    grams_co2e,
                },
            )
        });
        let figures = rows
            .into_iter()
            .map(|(bucket, cluster, source, joules)| {
                (bucket, source, self.figure(&cluster, joules))
            })
            .chain(corrections);
        let (team, service) = match selection {
            Selection::Service { team, service } => (team.clone(), service.clone()),
            Selection::Team(team) => (team.clone(), String::new()),
            _ => (String::new(), String::new()),
        };
        Ok(build_series(
            (team, service),
            (from, to, step_secs),
            resolution,
            figures,
        ))
    }

    /// The series of each of `team`'s services (workloads), in one query: what the team page
    /// draws a sparkline of. With live grid intensity, one [`Self::series`] per service (its
    /// corrections are read per selection).
    pub async fn team_series(
        &self,
        team: &str,
        services: &[String],
        (from, to, step_secs): (OffsetDateTime, OffsetDateTime, i64),
    ) -> Result<std::collections::HashMap<String, EnergySeries>, EnergyError> {
        let mut by_service = std::collections::HashMap::new();
        if self.live.is_some() {
            for service in services {
                let selection = Selection::Service {
                    team: team.to_owned(),
                    service: service.clone(),
                };
                by_service.insert(
                    service.clone(),
                    self.series(&selection, from, to, step_secs).await?,
                );
            }
            return Ok(by_service);
        }
        let resolution = Resolution::for_range(from, to, step_secs)?;
        let sql = format!(
            "SELECT service, date_bin(make_interval(secs => $1), bucket, $2) AS b, cluster,
                    source, sum(energy_joules) AS joules
             FROM {table} WHERE bucket >= $2 AND bucket < $3 AND team = $4 AND kind = 'workload'
             GROUP BY 1, 2, 3, 4",
            table = resolution.table()
        );
        type Row = (String, OffsetDateTime, String, String, f64);
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(step_secs as f64)
            .bind(from)
            .bind(to)
            .bind(team)
            .fetch_all(&self.pool)
            .await?;
        let mut figures: std::collections::HashMap<&str, Vec<(OffsetDateTime, String, Figure)>> =
            std::collections::HashMap::new();
        for (service, bucket, cluster, source, joules) in &rows {
            figures.entry(service.as_str()).or_default().push((
                *bucket,
                source.clone(),
                self.figure(cluster, *joules),
            ));
        }
        for service in services {
            let series = build_series(
                (team.to_owned(), service.clone()),
                (from, to, step_secs),
                resolution,
                figures.remove(service.as_str()).unwrap_or_default(),
            );
            by_service.insert(service.clone(), series);
        }
        Ok(by_service)
    }

    /// The range, step and resolution a page period stands for, ending at `now`.
    pub fn period_range(
        period: EnergyPeriod,
        now: OffsetDateTime,
    ) -> (OffsetDateTime, OffsetDateTime, i64) {
        let (hour, day) = buckets(now);
        match period {
            EnergyPeriod::Day => (hour - Duration::hours(23), hour + Duration::hours(1), 3_600),
            EnergyPeriod::Week => (
                hour - Duration::hours(167),
                hour + Duration::hours(1),
                3_600 * 6,
            ),
            EnergyPeriod::Month => (day - Duration::days(29), day + Duration::days(1), 86_400),
            EnergyPeriod::Quarter => (day - Duration::days(89), day + Duration::days(1), 86_400),
        }
    }

    /// The range and step of custom days: midnight UTC of the first day to midnight after the
    /// last; hourly steps up to 2 days, 6-hour steps up to 14 days, daily steps beyond.
    pub fn day_range(days: DayRange) -> (OffsetDateTime, OffsetDateTime, i64) {
        let midnight = |d: i64| OffsetDateTime::UNIX_EPOCH + Duration::days(d);
        let from = midnight(days.from.days_since_epoch());
        let to = midnight(days.to.days_since_epoch() + 1);
        let step_secs = match days.days() {
            ..=2 => 3_600,
            3..=14 => 6 * 3_600,
            _ => 86_400,
        };
        (from, to, step_secs)
    }

    /// The range, step and resolution of a preset or custom period.
    pub fn selection_range(
        selection: PeriodSelection,
        now: OffsetDateTime,
    ) -> (OffsetDateTime, OffsetDateTime, i64) {
        match selection {
            PeriodSelection::Preset(period) => Self::period_range(period, now),
            PeriodSelection::Custom(days) => Self::day_range(days),
        }
    }

    /// Whether any agent has ever reported (rollups are kept forever).
    pub async fn has_any_data(&self) -> Result<bool, EnergyError> {
        Ok(
            sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM energy_rollup_daily) AS "exists!""#
            )
            .fetch_one(&self.pool)
            .await?,
        )
    }

    /// One line per configured cluster and one for the rest: PUE and intensity with source.
    pub fn carbon_notes(&self) -> Vec<String> {
        let describe = |name: &str, f: &super::carbon::CarbonFactors| {
            format!(
                "{name}: PUE {} × {} gCO2e/kWh ({})",
                f.pue, f.grams_co2e_per_kwh, f.intensity_source
            )
        };
        let mut notes: Vec<String> = self
            .carbon
            .clusters
            .iter()
            .map(|(name, f)| describe(&format!("cluster {name}"), f))
            .collect();
        notes.push(describe("other clusters", &self.carbon.default));
        notes
    }
}

/// A series of `[from, to)` in steps of `step_secs`, every step present, from figures by
/// bucket (the start of their step) and source.
fn build_series(
    (team, service): (String, String),
    (from, to, step_secs): (OffsetDateTime, OffsetDateTime, i64),
    resolution: Resolution,
    figures: impl IntoIterator<Item = (OffsetDateTime, String, Figure)>,
) -> EnergySeries {
    let count = ((to - from).whole_seconds() + step_secs - 1) / step_secs;
    let mut points: Vec<SeriesPoint> = (0..count)
        .map(|i| SeriesPoint {
            start: rfc3339(from + Duration::seconds(i * step_secs)),
            figures: BySource::default(),
        })
        .collect();
    let mut total = BySource::default();
    for (bucket, source, figure) in figures {
        let index = (bucket - from).whole_seconds() / step_secs;
        total.add(&source, figure);
        if let Some(point) = usize::try_from(index).ok().and_then(|i| points.get_mut(i)) {
            point.figures.add(&source, figure);
        }
    }
    EnergySeries {
        team,
        service,
        from: rfc3339(from),
        to: rfc3339(to),
        step_secs,
        resolution: resolution.as_str().to_owned(),
        points,
        total,
        request_sci: None,
    }
}

/// A total order on finite kWh figures for sorting.
pub(crate) fn ordered(value: f64) -> i64 {
    (value * 1e9) as i64
}

/// The WHERE fragment for a selection and the values it binds ($4, $5).
fn filter_sql(selection: &Selection) -> (&'static str, Vec<String>) {
    match selection {
        Selection::All => ("", vec![]),
        Selection::Team(team) => ("AND team = $4 AND kind = 'workload'", vec![team.clone()]),
        Selection::Service { team, service } => (
            "AND team = $4 AND service = $5 AND kind = 'workload'",
            vec![team.clone(), service.clone()],
        ),
        Selection::Namespace(namespace) => (
            "AND namespace = $4 AND kind = 'workload'",
            vec![namespace.clone()],
        ),
        Selection::Node {
            cluster: None,
            node,
        } => ("AND node = $4", vec![node.clone()]),
        Selection::Node {
            cluster: Some(cluster),
            node,
        } => (
            "AND node = $4 AND cluster = $5",
            vec![node.clone(), cluster.clone()],
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn whole_days_read_the_daily_rollup_and_hours_the_hourly() {
        let day = datetime!(2026-11-01 00:00 UTC);
        assert_eq!(
            Resolution::for_range(day, day + Duration::days(90), 86_400).unwrap(),
            Resolution::Daily
        );
        assert_eq!(
            Resolution::for_range(day, day + Duration::days(1), 3_600).unwrap(),
            Resolution::Hourly
        );
        let odd = day + Duration::minutes(5);
        assert!(Resolution::for_range(odd, odd + Duration::days(1), 3_600).is_err());
    }

    #[test]
    fn periods_end_after_the_current_hour_or_day() {
        let now = datetime!(2026-11-29 16:40 UTC);
        let (from, to, step) = EnergyQuery::period_range(EnergyPeriod::Day, now);
        assert_eq!(to, datetime!(2026-11-29 17:00 UTC));
        assert_eq!(from, datetime!(2026-11-28 17:00 UTC));
        assert_eq!(step, 3_600);
        let (from, to, _) = EnergyQuery::period_range(EnergyPeriod::Quarter, now);
        assert_eq!((to - from).whole_days(), 90);
    }

    #[test]
    fn custom_days_run_midnight_to_midnight_with_a_step_fit_for_their_length() {
        let day = |raw: &str| app::api::energy::CivilDate::parse(raw).unwrap();
        let range = |f: &str, t: &str| {
            EnergyQuery::day_range(DayRange {
                from: day(f),
                to: day(t),
            })
        };
        let (from, to, step) = range("2026-11-29", "2026-11-29");
        assert_eq!(from, datetime!(2026-11-29 00:00 UTC));
        assert_eq!(to, datetime!(2026-11-30 00:00 UTC));
        assert_eq!(step, 3_600);
        assert_eq!(range("2026-11-20", "2026-11-29").2, 6 * 3_600);
        let (from, to, step) = range("2025-10-26", "2026-11-29");
        assert_eq!((to - from).whole_days(), 400);
        assert_eq!(step, 86_400);
        assert_eq!(
            Resolution::for_range(from, to, step).unwrap(),
            Resolution::Daily
        );
        let (from, to, step) = range("2026-11-20", "2026-11-29");
        assert_eq!(
            Resolution::for_range(from, to, step).unwrap(),
            Resolution::Hourly
        );
    }
}
