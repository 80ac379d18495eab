//! This week against last week, for the home page: the organisation's energy (every kind, as
//! the Energy page's total) and each service's workload energy, over the last seven whole UTC
//! days and the seven before, from the precomputed daily totals, with carbon applied per
//! cluster (and live grid intensity where stored) as everywhere else.

use std::collections::BTreeMap;

use app::api::{energy::Figure, home::WeekOverWeek};
use time::{Duration, OffsetDateTime};

use super::EnergyQuery;
use crate::energy::{buckets::buckets, EnergyError};

/// The weeks compared: `[last_from, this_from)` and `[this_from, this_to)`, whole UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weeks {
    pub last_from: OffsetDateTime,
    pub this_from: OffsetDateTime,
    pub this_to: OffsetDateTime,
}

impl Weeks {
    /// The seven whole UTC days before today's, and the seven before those.
    pub fn ending_before(now: OffsetDateTime) -> Self {
        let (_, today) = buckets(now);
        Self {
            last_from: today - Duration::days(14),
            this_from: today - Duration::days(7),
            this_to: today,
        }
    }
}

/// One service's two weeks.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceWeeks {
    pub team: String,
    pub service: String,
    pub weeks: WeekOverWeek,
    /// The namespace (`<team>-<environment>`) where it used the most energy this week.
    pub top_namespace: Option<String>,
}

/// The organisation's two weeks and every service's that had energy in either.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrgWeeks {
    pub org: WeekOverWeek,
    pub services: Vec<ServiceWeeks>,
}

/// Adds a figure to this week or last week's side.
fn add(weeks: &mut WeekOverWeek, this_week: bool, source: &str, figure: Figure) {
    if this_week {
        weeks.this_week.add(source, figure);
    } else {
        weeks.last_week.add(source, figure);
    }
}

impl EnergyQuery {
    /// Both weeks in one pass (one row per service, cluster, source and week; idle and system
    /// energy per cluster and source) over the precomputed per-service days plus the pending
    /// increments, which add up to the daily rollup's figures at every moment (migration
    /// 20261201000030). At 10,000 services the same figures took 6-7 s from the view, a tenth
    /// of that from these.
    pub async fn org_weeks(&self, weeks: Weeks) -> Result<OrgWeeks, EnergyError> {
        let sql = "SELECT at >= $2 AS this_week, kind, team, service, namespace, cluster, source,
                          sum(energy_joules)
                   FROM (SELECT day AS at, kind, team, service, namespace, cluster, source,
                                energy_joules
                         FROM energy_service_daily WHERE day >= $1 AND day < $3
                         UNION ALL
                         SELECT bucket, kind, team, service, namespace, cluster, source,
                                energy_joules
                         FROM energy_rollup_pending WHERE bucket >= $1 AND bucket < $3) t
                   GROUP BY 1, 2, 3, 4, 5, 6, 7";
        type Row = (bool, String, String, String, String, String, String, f64);
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(weeks.last_from)
            .bind(weeks.this_from)
            .bind(weeks.this_to)
            .fetch_all(&self.pool)
            .await?;
        let mut org = WeekOverWeek::default();
        let mut services: BTreeMap<(String, String), WeekOverWeek> = BTreeMap::new();
        // This week's joules per service and namespace, for the namespace it used most.
        let mut by_namespace: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
        for (this_week, kind, team, service, namespace, cluster, source, joules) in rows {
            let figure = self.figure(&cluster, joules);
            add(&mut org, this_week, &source, figure);
            if kind == "workload" && !team.is_empty() {
                let key = (team, service);
                if this_week {
                    *by_namespace
                        .entry(key.clone())
                        .or_default()
                        .entry(namespace)
                        .or_default() += joules;
                }
                add(services.entry(key).or_default(), this_week, &source, figure);
            }
        }
        // Hours with a live grid intensity: the CO2e difference from the table's (no energy).
        for (this_week, from, to) in [
            (false, weeks.last_from, weeks.this_from),
            (true, weeks.this_from, weeks.this_to),
        ] {
            let live: Vec<(String, crate::energy::grid::LiveRow)> = self
                .live_rows(
                    "concat_ws(chr(31), h.kind, h.team, h.service)",
                    "",
                    &[],
                    (86_400, from, to),
                )
                .await?;
            for (group, row) in live {
                let figure = Figure {
                    kwh: 0.0,
                    grams_co2e: row.grams_delta(&self.carbon),
                };
                add(&mut org, this_week, &row.source, figure);
                let mut parts = group.split('\u{1f}');
                let (kind, team, service) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                if kind == "workload" && !team.is_empty() {
                    add(
                        services
                            .entry((team.to_owned(), service.to_owned()))
                            .or_default(),
                        this_week,
                        &row.source,
                        figure,
                    );
                }
            }
        }
        Ok(OrgWeeks {
            org,
            services: services
                .into_iter()
                .map(|(key, weeks)| ServiceWeeks {
                    top_namespace: by_namespace.get(&key).and_then(|namespaces| {
                        namespaces
                            .iter()
                            .max_by(|a, b| a.1.total_cmp(b.1))
                            .map(|(namespace, _)| namespace.clone())
                    }),
                    team: key.0,
                    service: key.1,
                    weeks,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_weeks_are_the_seven_whole_days_before_today_and_the_seven_before() {
        let weeks = Weeks::ending_before(datetime!(2026-11-30 22:45 UTC));
        assert_eq!(weeks.this_to, datetime!(2026-11-30 00:00 UTC));
        assert_eq!(weeks.this_from, datetime!(2026-11-23 00:00 UTC));
        assert_eq!(weeks.last_from, datetime!(2026-11-16 00:00 UTC));
    }
}
