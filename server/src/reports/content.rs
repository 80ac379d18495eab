//! What a team's weekly e-mail says: built from the same queries as the team page
//! (`EnergyQuery::team_in_range`, `EnergyQuery::series`), then folded by pure functions (top
//! services, risers and fallers, idle share, days) that unit tests exercise without a database.

use app::api::energy::{BySource, CivilDate, DayRange, PeriodSelection, SeriesPoint};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::{week::ReportWeek, ReportError};
use crate::energy::query::{EnergyQuery, Selection};

/// A service's week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceWeek {
    pub service: String,
    pub figures: BySource,
    /// The week before.
    pub previous: BySource,
    /// Its share of the idle energy of the nodes it ran on (not in `figures`).
    pub idle: BySource,
}

impl ServiceWeek {
    /// kWh this week minus the week before (all sources).
    pub fn change_kwh(&self) -> f64 {
        self.figures.total().kwh - self.previous.total().kwh
    }
}

/// One day of the week in the team's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayFigures {
    /// `2026-11-23`.
    pub date: String,
    /// `Mon`.
    pub weekday: String,
    pub figures: BySource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeployCounts {
    pub total: i64,
    pub succeeded: i64,
    pub failed: i64,
}

/// The team's dependency drift at the time of the e-mail, from the `/dependencies` page's
/// figures (the latest scan of each of its services).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftHeadline {
    pub services_scanned: usize,
    pub libyears: f64,
    pub majors_behind: u32,
    pub breaking: u32,
    /// The service furthest behind, and its libyears.
    pub furthest_behind: Option<(String, f64)>,
}

/// A team's week, as frozen in `weekly_reports` when the week's send begins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyReport {
    pub team: String,
    /// Monday and Sunday, in the team's time zone.
    pub week_start: String,
    pub week_end: String,
    pub time_zone: String,
    /// The UTC hours read: `[from, to)`, RFC 3339.
    pub from: String,
    pub to: String,
    /// The team's services together (workloads only; idle apart).
    pub total: BySource,
    pub previous: BySource,
    pub idle: BySource,
    /// Services with energy this week or the week before, largest first.
    pub services: Vec<ServiceWeek>,
    pub days: Vec<DayFigures>,
    pub deploys: DeployCounts,
    /// PUE and grid intensity used, one line per cluster.
    pub carbon_notes: Vec<String>,
    /// None when no service of the team has been scanned (or drift is not available).
    #[serde(default)]
    pub drift: Option<DriftHeadline>,
}

impl WeeklyReport {
    /// Whether the team's services used any energy this week (else the e-mail says so).
    pub fn has_data(&self) -> bool {
        self.total.total().kwh > 0.0
    }

    /// The `n` services that used the most energy this week.
    pub fn top_services(&self, n: usize) -> Vec<&ServiceWeek> {
        self.services
            .iter()
            .filter(|s| s.figures.total().kwh > 0.0)
            .take(n)
            .collect()
    }

    /// The `n` largest increases against the week before, largest first.
    pub fn risers(&self, n: usize) -> Vec<&ServiceWeek> {
        let mut up: Vec<&ServiceWeek> = self
            .services
            .iter()
            .filter(|s| s.change_kwh() > 0.0)
            .collect();
        up.sort_by(|a, b| b.change_kwh().total_cmp(&a.change_kwh()));
        up.truncate(n);
        up
    }

    /// The `n` largest decreases against the week before, largest first.
    pub fn fallers(&self, n: usize) -> Vec<&ServiceWeek> {
        let mut down: Vec<&ServiceWeek> = self
            .services
            .iter()
            .filter(|s| s.change_kwh() < 0.0)
            .collect();
        down.sort_by(|a, b| a.change_kwh().total_cmp(&b.change_kwh()));
        down.truncate(n);
        down
    }

    /// Idle energy attributed to the team, as a share of workload + idle (0 when none).
    pub fn idle_share(&self) -> f64 {
        let idle = self.idle.total().kwh;
        let all = self.total.total().kwh + idle;
        if all > 0.0 {
            idle / all
        } else {
            0.0
        }
    }
}

/// Folds hourly points (RFC 3339 starts) into the week's days (`[from, to)` per day).
pub fn fold_days(
    days: &[(String, String, (OffsetDateTime, OffsetDateTime))],
    points: &[SeriesPoint],
) -> Vec<DayFigures> {
    let mut out: Vec<DayFigures> = days
        .iter()
        .map(|(date, weekday, _)| DayFigures {
            date: date.clone(),
            weekday: weekday.clone(),
            figures: BySource::default(),
        })
        .collect();
    for point in points {
        let Ok(start) = OffsetDateTime::parse(&point.start, &Rfc3339) else {
            continue;
        };
        if let Some(i) = days
            .iter()
            .position(|(_, _, (from, to))| *from <= start && start < *to)
        {
            out[i].figures.add_all(&point.figures);
        }
    }
    out
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn civil(date: jiff::civil::Date) -> Result<CivilDate, ReportError> {
    CivilDate::parse(&date.to_string())
        .ok_or_else(|| ReportError::Internal(format!("{date} is outside the pages' dates")))
}

/// Builds a team's [`WeeklyReport`] from the energy rollups and the deploy records.
#[derive(Clone)]
pub struct ReportBuilder {
    pub query: EnergyQuery,
    pub drift: Option<crate::drift::Drift>,
}

impl ReportBuilder {
    fn pool(&self) -> &PgPool {
        self.query.pool()
    }

    pub async fn build(&self, team: &str, week: &ReportWeek) -> Result<WeeklyReport, ReportError> {
        let (from, to) = week.bounds()?;
        let selection = PeriodSelection::Custom(DayRange {
            from: civil(week.monday)?,
            to: civil(week.sunday()?)?,
        });
        // One step for the whole week: each service's total, as the team page adds it up.
        let energy = self
            .query
            .team_in_range(team, selection, (from, to, (to - from).whole_seconds()))
            .await?;
        let hourly = self
            .query
            .series(&Selection::Team(team.to_owned()), from, to, 3_600)
            .await?;
        let mut days = Vec::with_capacity(7);
        for (i, date) in week.days()?.into_iter().enumerate() {
            let weekday = format!("{:?}", date.weekday());
            days.push((
                date.to_string(),
                weekday.chars().take(3).collect(),
                week.day_bounds(i as i64)?,
            ));
        }
        let mut idle = BySource::default();
        let services = energy
            .services
            .into_iter()
            .filter(|s| s.figures.total().kwh > 0.0 || s.previous.total().kwh > 0.0)
            .map(|s| {
                idle.add_all(&s.idle);
                ServiceWeek {
                    service: s.service,
                    figures: s.figures,
                    previous: s.previous,
                    idle: s.idle,
                }
            })
            .collect();
        Ok(WeeklyReport {
            team: team.to_owned(),
            week_start: week.monday.to_string(),
            week_end: week.sunday()?.to_string(),
            time_zone: week.zone.name().to_owned(),
            from: rfc3339(from),
            to: rfc3339(to),
            total: energy.total,
            previous: energy.previous_total,
            idle,
            services,
            days: fold_days(&days, &hourly.points),
            deploys: self.deploys(team, from, to).await?,
            carbon_notes: energy.carbon_notes,
            drift: self.drift_headline(team).await,
        })
    }

    /// The team's drift from the `/dependencies` page's own query; a failure leaves it out of
    /// the e-mail (logged) rather than holding the e-mail back.
    async fn drift_headline(&self, team: &str) -> Option<DriftHeadline> {
        let drift = self.drift.as_ref()?;
        let team_name = app::api::TeamName::parse(team).ok()?;
        match drift.org(None, Some(team_name)).await {
            Ok(org) if !org.services.is_empty() => Some(DriftHeadline {
                services_scanned: org.services.len(),
                libyears: org.totals.libyears,
                majors_behind: org.totals.majors_behind,
                breaking: org.totals.breaking,
                furthest_behind: org
                    .services
                    .first()
                    .map(|s| (s.service.clone(), s.totals.libyears)),
            }),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%team, %error, "weekly e-mail without the drift headline");
                None
            }
        }
    }

    async fn deploys(
        &self,
        team: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<DeployCounts, ReportError> {
        let row = sqlx::query!(
            r#"SELECT count(*) AS "total!",
                      count(*) FILTER (WHERE d.status = 'succeeded') AS "succeeded!",
                      count(*) FILTER (WHERE d.status = 'failed') AS "failed!"
               FROM deploys d JOIN services s ON s.id = d.service_id
               JOIN teams t ON t.id = s.team_id
               WHERE t.name = $1 AND d.started_at >= $2 AND d.started_at < $3"#,
            team,
            from,
            to
        )
        .fetch_one(self.pool())
        .await?;
        Ok(DeployCounts {
            total: row.total,
            succeeded: row.succeeded,
            failed: row.failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use app::api::energy::Figure;

    use super::*;

    fn measured(kwh: f64) -> BySource {
        BySource {
            measured: Figure {
                kwh,
                grams_co2e: kwh * 577.2,
            },
            ..BySource::default()
        }
    }

    fn service(name: &str, now: f64, before: f64) -> ServiceWeek {
        ServiceWeek {
            service: name.to_owned(),
            figures: measured(now),
            previous: measured(before),
            idle: measured(now / 10.0),
        }
    }

    pub fn report() -> WeeklyReport {
        WeeklyReport {
            team: "payments".to_owned(),
            week_start: "2026-11-23".to_owned(),
            week_end: "2026-11-29".to_owned(),
            time_zone: "UTC".to_owned(),
            from: "2026-11-23T00:00:00Z".to_owned(),
            to: "2026-11-30T00:00:00Z".to_owned(),
            total: measured(1.5),
            previous: measured(1.4),
            idle: measured(0.15),
            services: vec![
                service("checkout", 1.0, 0.5),
                service("cart", 0.5, 0.8),
                service("search", 0.0, 0.1),
            ],
            days: vec![],
            deploys: DeployCounts::default(),
            carbon_notes: vec![],
            drift: None,
        }
    }

    #[test]
    fn top_services_leave_out_those_without_energy() {
        let report = report();
        let top: Vec<&str> = report
            .top_services(5)
            .iter()
            .map(|s| s.service.as_str())
            .collect();
        assert_eq!(top, ["checkout", "cart"]);
    }

    #[test]
    fn risers_and_fallers_are_ordered_by_the_size_of_the_change() {
        let report = report();
        let up: Vec<&str> = report
            .risers(3)
            .iter()
            .map(|s| s.service.as_str())
            .collect();
        let down: Vec<&str> = report
            .fallers(3)
            .iter()
            .map(|s| s.service.as_str())
            .collect();
        assert_eq!(up, ["checkout"]);
        assert_eq!(down, ["cart", "search"]);
    }

    #[test]
    fn idle_share_is_of_workload_plus_idle() {
        let share = report().idle_share();
        assert!((share - 0.15 / 1.65).abs() < 1e-12, "{share}");
        let mut empty = report();
        empty.total = BySource::default();
        empty.idle = BySource::default();
        assert_eq!(empty.idle_share(), 0.0);
        assert!(!empty.has_data());
    }

    #[test]
    fn hours_fold_into_the_day_they_start_in() {
        let t = |raw: &str| OffsetDateTime::parse(raw, &Rfc3339).unwrap();
        let days = vec![
            (
                "2026-11-23".to_owned(),
                "Mon".to_owned(),
                (t("2026-11-22T23:00:00Z"), t("2026-11-23T23:00:00Z")),
            ),
            (
                "2026-11-24".to_owned(),
                "Tue".to_owned(),
                (t("2026-11-23T23:00:00Z"), t("2026-11-24T23:00:00Z")),
            ),
        ];
        let point = |start: &str, kwh| SeriesPoint {
            start: start.to_owned(),
            figures: measured(kwh),
        };
        let folded = fold_days(
            &days,
            &[
                point("2026-11-22T23:00:00Z", 1.0),
                point("2026-11-23T22:00:00Z", 2.0),
                point("2026-11-23T23:00:00Z", 4.0),
                point("2026-11-30T00:00:00Z", 8.0),
            ],
        );
        assert_eq!(folded[0].figures.total().kwh, 3.0);
        assert_eq!(folded[1].figures.total().kwh, 4.0);
    }
}
