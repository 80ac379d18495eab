//! The home page's judgements, without a database: which energy is rising, which failures are
//! the quota's, and the attention items of a set of teams. Unit-tested on rows made by hand.

use std::collections::BTreeMap;

use app::api::{
    home::{
        Attention, Capped, FailedRollout, Moment, QuotaRefusal, RisingEnergy, StuckRollout,
        ITEMS_PER_KIND, RISE_MIN_KWH, RISE_PERCENT,
    },
    spec::Environment,
    TeamName,
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::store::{FailedRow, InProgressRow};
use crate::energy::query::weeks::ServiceWeeks;

/// The longest failure reason the page shows (the service page has all of it).
const REASON_CHARS: usize = 200;

pub fn moment(at: OffsetDateTime, now: OffsetDateTime) -> Moment {
    Moment {
        at: at.format(&Rfc3339).unwrap_or_default(),
        exact: app::format::time(at),
        secs_ago: u64::try_from((now - at).whole_seconds()).unwrap_or(0),
    }
}

/// Whether a failure was the namespace's quota refusing pods (the words of
/// `deploy/diagnose/controllers.rs`, or Kubernetes' own).
pub fn is_quota_refusal(reason: &str) -> bool {
    reason.starts_with("The team's quota is used up") || reason.contains("exceeded quota")
}

/// Whether a service's energy rose markedly: at least [`RISE_PERCENT`] above last week's and
/// at least [`RISE_MIN_KWH`] more; a service with no energy last week is new, not rising.
pub fn is_rising(this_week_kwh: f64, last_week_kwh: f64) -> bool {
    last_week_kwh > 0.0
        && this_week_kwh - last_week_kwh >= RISE_MIN_KWH
        && this_week_kwh >= last_week_kwh * (1.0 + RISE_PERCENT / 100.0)
}

/// The services whose energy is rising, the largest increase first.
pub fn rising(services: &[ServiceWeeks]) -> Vec<RisingEnergy> {
    let mut rising: Vec<RisingEnergy> = services
        .iter()
        .filter(|s| is_rising(s.weeks.this_week.total().kwh, s.weeks.last_week.total().kwh))
        .filter_map(|s| {
            Some(RisingEnergy {
                team: TeamName::parse(&s.team).ok()?,
                environment: s
                    .top_namespace
                    .as_deref()
                    .and_then(|namespace| namespace.strip_prefix(&format!("{}-", s.team)))
                    .and_then(Environment::parse),
                service: s.service.clone(),
                this_week: s.weeks.this_week,
                last_week: s.weeks.last_week,
            })
        })
        .collect();
    let increase = |r: &RisingEnergy| r.this_week.total().kwh - r.last_week.total().kwh;
    rising.sort_by(|a, b| increase(b).total_cmp(&increase(a)));
    rising
}

fn shorten(reason: &str) -> String {
    if reason.chars().count() <= REASON_CHARS {
        return reason.to_owned();
    }
    let cut: String = reason.chars().take(REASON_CHARS).collect();
    format!("{}…", cut.trim_end())
}

/// What needs attention in the teams `in_scope` accepts, at most [`ITEMS_PER_KIND`] of each
/// kind listed. `failed` is newest first, `stuck` longest first, `rising` largest first.
pub fn attention(
    failed: &[FailedRow],
    stuck: &[InProgressRow],
    rising: &[RisingEnergy],
    in_scope: impl Fn(&TeamName) -> bool,
    now: OffsetDateTime,
) -> Attention {
    let failed_here: Vec<&FailedRow> = failed
        .iter()
        .filter(|f| in_scope(&f.service.team))
        .collect();
    let mut quota: BTreeMap<&TeamName, (usize, &FailedRow)> = BTreeMap::new();
    for row in failed_here.iter().filter(|f| is_quota_refusal(&f.reason)) {
        // Newest first: the first one seen is the latest.
        quota.entry(&row.service.team).or_insert((0, row)).0 += 1;
    }
    let mut quota: Vec<QuotaRefusal> = quota
        .into_iter()
        .map(|(team, (refused, latest))| QuotaRefusal {
            team: team.clone(),
            refused,
            latest: latest.service.clone(),
            when: moment(latest.at, now),
        })
        .collect();
    quota.sort_by_key(|q| q.when.secs_ago);
    Attention {
        failed: Capped::of(
            failed_here.into_iter().map(|f| FailedRollout {
                service: f.service.clone(),
                revision: f.revision,
                reason: shorten(&f.reason),
                failed: moment(f.at, now),
            }),
            ITEMS_PER_KIND,
        ),
        stuck: Capped::of(
            stuck
                .iter()
                .filter(|s| in_scope(&s.service.team))
                .map(|s| StuckRollout {
                    service: s.service.clone(),
                    revision: s.revision,
                    status: s.status,
                    started: moment(s.started_at, now),
                }),
            ITEMS_PER_KIND,
        ),
        quota: Capped::of(quota, ITEMS_PER_KIND),
        rising: Capped::of(
            rising.iter().filter(|r| in_scope(&r.team)).cloned(),
            ITEMS_PER_KIND,
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use app::api::{deploys::DeployStatus, energy::Figure, home::WeekOverWeek, ServiceRef};
    use time::{macros::datetime, Duration};

    const NOW: OffsetDateTime = datetime!(2026-11-30 22:00 UTC);

    fn service(team: &str, name: &str) -> ServiceRef {
        ServiceRef::parse(team, name, "prod").unwrap()
    }

    fn failed(team: &str, name: &str, reason: &str, mins_ago: i64) -> FailedRow {
        FailedRow {
            service: service(team, name),
            revision: 2,
            reason: reason.to_owned(),
            at: NOW - Duration::minutes(mins_ago),
        }
    }

    fn weeks(team: &str, name: &str, this_kwh: f64, last_kwh: f64) -> ServiceWeeks {
        let mut weeks = WeekOverWeek::default();
        weeks.this_week.measured = Figure {
            kwh: this_kwh,
            grams_co2e: this_kwh * 400.0,
        };
        weeks.last_week.measured = Figure {
            kwh: last_kwh,
            grams_co2e: last_kwh * 400.0,
        };
        ServiceWeeks {
            team: team.to_owned(),
            service: name.to_owned(),
            weeks,
            top_namespace: Some(format!("{team}-staging")),
        }
    }

    #[test]
    fn rising_needs_the_percentage_and_the_amount() {
        assert!(is_rising(1.25, 1.0), "+25 % and +250 Wh");
        assert!(!is_rising(1.24, 1.0), "+24 %");
        assert!(!is_rising(0.05, 0.01), "+400 % but only 40 Wh more: noise");
        assert!(!is_rising(5.0, 0.0), "new this week, not rising");
        let found = rising(&[
            weeks("pay", "small-rise", 1.3, 1.0),
            weeks("pay", "flat", 1.0, 1.0),
            weeks("pay", "big-rise", 10.0, 5.0),
        ]);
        let names: Vec<&str> = found.iter().map(|r| r.service.as_str()).collect();
        assert_eq!(names, ["big-rise", "small-rise"], "largest increase first");
        assert_eq!(found[0].change_percent(), 100.0);
        assert_eq!(found[0].environment, Some(Environment::Staging));
    }

    #[test]
    fn quota_refusals_are_counted_per_team_with_the_latest() {
        let rows = [
            failed(
                "pay",
                "a",
                "The team's quota is used up: Kubernetes refuses…",
                1,
            ),
            failed(
                "pay",
                "b",
                "pods \"b\" is forbidden: exceeded quota: canopy",
                5,
            ),
            failed("pay", "c", "The container keeps crashing", 2),
            failed("search", "d", "The team's quota is used up: …", 3),
        ];
        let found = attention(&rows, &[], &[], |_| true, NOW);
        assert_eq!(found.failed.total(), 4);
        let quota: Vec<(String, usize, String)> = found
            .quota
            .items
            .iter()
            .map(|q| (q.team.to_string(), q.refused, q.latest.service.to_string()))
            .collect();
        assert_eq!(
            quota,
            [
                ("pay".to_owned(), 2, "a".to_owned()),
                ("search".to_owned(), 1, "d".to_owned())
            ]
        );
    }

    #[test]
    fn the_scope_picks_the_teams_and_lists_are_capped() {
        let rows: Vec<FailedRow> = (0..8)
            .map(|i| {
                failed(
                    if i % 2 == 0 { "pay" } else { "search" },
                    &format!("s{i}"),
                    "x",
                    i,
                )
            })
            .collect();
        let stuck = [InProgressRow {
            service: service("search", "slow"),
            revision: 3,
            status: DeployStatus::RollingOut,
            started_at: NOW - Duration::minutes(10),
        }];
        let pay = TeamName::parse("pay").unwrap();
        let mine = attention(&rows, &stuck, &[], |t| *t == pay, NOW);
        assert_eq!(mine.failed.total(), 4);
        assert!(mine.stuck.items.is_empty());
        let all = attention(&rows, &stuck, &[], |_| true, NOW);
        assert_eq!(
            (all.failed.items.len(), all.failed.more),
            (ITEMS_PER_KIND, 3)
        );
        assert_eq!(all.stuck.items[0].started.secs_ago, 600);
    }

    #[test]
    fn long_reasons_are_shortened() {
        let long = "x".repeat(500);
        assert_eq!(shorten(&long).chars().count(), REASON_CHARS + 1);
        assert_eq!(shorten("short"), "short");
    }
}
