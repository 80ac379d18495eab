//! From stored scans to what pages and the API show: scan states with counts, one row per
//! dependency, the org-wide ranking (libyears, then majors behind) and the trend (sum of
//! libyears per day, each service at its newest scan on or before that day).

use std::collections::{BTreeMap, BTreeSet};

use app::api::drift::{
    DependencyRow, DriftTotals, OrgDrift, ScanState, ScanView, ServiceRanking, TrendPoint,
    ECOSYSTEMS,
};
use canopy_drift::{DependencyReport, DriftSummary, EcosystemSummary, Outcome, UpdateType};
use time::{format_description::well_known::Rfc3339, Date, Duration, OffsetDateTime};

use super::{
    store::{DailyDone, LatestDone, ScanRow},
    DriftError, Result,
};

/// Days the trend covers.
pub const TREND_DAYS: i32 = 90;

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

pub fn totals(summary: &EcosystemSummary) -> DriftTotals {
    DriftTotals {
        dependencies: summary.dependencies,
        outdated: summary.outdated,
        libyears: summary.libyears,
        majors_behind: summary.majors_behind,
        minors_behind: summary.minors_behind,
        patches_behind: summary.patches_behind,
        digests_behind: summary.digests_behind,
        breaking: summary.breaking,
        unknown: summary.unknown,
        skipped: summary.skipped,
    }
}

fn add(into: &mut DriftTotals, more: &DriftTotals) {
    into.dependencies += more.dependencies;
    into.outdated += more.outdated;
    into.libyears += more.libyears;
    into.majors_behind += more.majors_behind;
    into.minors_behind += more.minors_behind;
    into.patches_behind += more.patches_behind;
    into.digests_behind += more.digests_behind;
    into.breaking += more.breaking;
    into.unknown += more.unknown;
    into.skipped += more.skipped;
}

/// A summary's figures, for one ecosystem or all; `None` when the ecosystem is not used.
fn totals_for(summary: &DriftSummary, ecosystem: Option<&str>) -> Option<DriftTotals> {
    match ecosystem {
        None => Some(totals(&summary.totals)),
        Some(wanted) => summary
            .by_ecosystem
            .iter()
            .find(|(eco, _)| eco.as_str() == wanted)
            .map(|(_, s)| totals(s)),
    }
}

pub fn scan_view(row: &ScanRow) -> Result<ScanView> {
    let state = ScanState::parse(&row.state).ok_or_else(|| DriftError::InvalidInput {
        field: "state",
        message: format!("unknown stored scan state {:?}", row.state),
    })?;
    let summary: Option<DriftSummary> = row
        .summary
        .clone()
        .map(serde_json::from_value)
        .transpose()?;
    let manifest_errors: Vec<canopy_drift::ManifestError> = row
        .manifest_errors
        .clone()
        .map(serde_json::from_value)
        .transpose()?
        .unwrap_or_default();
    Ok(ScanView {
        id: row.id,
        state,
        trigger: row.trigger.clone(),
        requested_by: row.requested_by.clone(),
        source_path: row.source_path.clone(),
        queued_at: rfc3339(row.queued_at),
        started_at: row.started_at.map(rfc3339),
        finished_at: row.finished_at.map(rfc3339),
        error: row.error.clone(),
        totals: summary.map(|s| totals(&s.totals)),
        manifest_errors: manifest_errors.iter().map(ToString::to_string).collect(),
    })
}

fn update_type(update: UpdateType) -> &'static str {
    match update {
        UpdateType::Major => "major",
        UpdateType::Minor => "minor",
        UpdateType::Patch => "patch",
        UpdateType::Pin => "pin",
        UpdateType::Digest => "digest",
    }
}

pub fn row(report: &DependencyReport) -> DependencyRow {
    let d = &report.dependency;
    let mut row = DependencyRow {
        name: d.name.clone(),
        ecosystem: d.ecosystem.as_str().to_owned(),
        declared: d.declared.clone(),
        status: String::new(),
        current: None,
        newest_in_range: None,
        newest: None,
        update_type: None,
        breaking: false,
        lockfile_only: false,
        versions_behind: 0,
        libyears: None,
        reason: None,
        file: d.file.to_string_lossy().into_owned(),
        line: d.line,
    };
    match &report.outcome {
        Outcome::UpToDate(up) => {
            row.status = "up_to_date".into();
            row.current = Some(up.current.clone());
            row.newest = Some(up.current.clone());
            row.newest_in_range = Some(up.current.clone());
        }
        Outcome::Outdated(o) => {
            row.status = "outdated".into();
            row.current = Some(o.current.clone());
            row.newest_in_range = o.newest_in_range.clone();
            row.newest = Some(o.newest_stable.clone());
            row.update_type = Some(update_type(o.update_type).to_owned());
            row.breaking = o.breaking;
            row.lockfile_only = o.lockfile_only;
            row.versions_behind = o.versions_behind;
            row.libyears = o.libyears;
        }
        Outcome::Unknown(reason) => {
            row.status = "unknown".into();
            row.reason = Some(reason.clone());
        }
        Outcome::Skipped(reason) => {
            row.status = "skipped".into();
            row.reason = Some(reason.clone());
        }
    }
    row
}

fn status_rank(status: &str) -> u8 {
    match status {
        "outdated" => 0,
        "unknown" => 1,
        "up_to_date" => 2,
        _ => 3,
    }
}

fn update_rank(update: Option<&str>) -> u8 {
    match update {
        Some("major") => 0,
        Some("minor") => 1,
        Some("patch") => 2,
        Some(_) => 3,
        None => 4,
    }
}

/// The rows of a done scan: outdated first (majors, then minors, ...; most libyears first),
/// then unknown, up to date, skipped.
pub fn dependency_rows(scan: &ScanRow) -> Result<Vec<DependencyRow>> {
    let reports: Vec<DependencyReport> = match &scan.reports {
        Some(value) => serde_json::from_value(value.clone())?,
        None => Vec::new(),
    };
    let mut rows: Vec<DependencyRow> = reports.iter().map(row).collect();
    rows.sort_by(|a, b| {
        status_rank(&a.status)
            .cmp(&status_rank(&b.status))
            .then(update_rank(a.update_type.as_deref()).cmp(&update_rank(b.update_type.as_deref())))
            .then(
                b.libyears
                    .unwrap_or(0.0)
                    .total_cmp(&a.libyears.unwrap_or(0.0)),
            )
            .then(a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    Ok(rows)
}

/// The org-wide page: ranking, totals and trend for the filters.
pub fn org(
    latest: Vec<LatestDone>,
    daily: Vec<DailyDone>,
    teams: Vec<String>,
    ecosystem: Option<String>,
    team: Option<String>,
    now: OffsetDateTime,
) -> Result<OrgDrift> {
    let eco = ecosystem.as_deref();
    let mut services = Vec::new();
    let mut all = DriftTotals::default();
    let mut used = BTreeSet::new();
    for done in latest {
        let summary: DriftSummary = serde_json::from_value(done.summary)?;
        used.extend(summary.by_ecosystem.keys().map(|e| e.as_str()));
        if team.as_ref().is_some_and(|t| *t != done.team) {
            continue;
        }
        let Some(figures) = totals_for(&summary, eco) else {
            continue;
        };
        add(&mut all, &figures);
        services.push(ServiceRanking {
            team: done.team,
            service: done.service,
            scanned_at: rfc3339(done.finished_at),
            totals: figures,
        });
    }
    services.sort_by(|a, b| {
        b.totals
            .libyears
            .total_cmp(&a.totals.libyears)
            .then(b.totals.majors_behind.cmp(&a.totals.majors_behind))
            .then(b.totals.outdated.cmp(&a.totals.outdated))
            .then(a.team.cmp(&b.team))
            .then(a.service.cmp(&b.service))
    });
    let trend = trend(daily, eco, team.as_deref(), now.date())?;
    Ok(OrgDrift {
        ecosystem,
        team,
        services,
        totals: all,
        trend,
        teams,
        ecosystems: ECOSYSTEMS
            .iter()
            .filter(|e| used.contains(*e))
            .map(|e| (*e).to_owned())
            .collect(),
    })
}

/// Sum of libyears per day from the first scanned day to `today`; a service counts from its
/// first scan on, at its newest scan on or before each day.
pub fn trend(
    daily: Vec<DailyDone>,
    ecosystem: Option<&str>,
    team: Option<&str>,
    today: Date,
) -> Result<Vec<TrendPoint>> {
    // day -> service -> libyears
    let mut by_day: BTreeMap<Date, BTreeMap<i64, f64>> = BTreeMap::new();
    for done in daily {
        if team.is_some_and(|t| t != done.team) {
            continue;
        }
        let summary: DriftSummary = serde_json::from_value(done.summary)?;
        if let Some(figures) = totals_for(&summary, ecosystem) {
            by_day
                .entry(done.day)
                .or_default()
                .insert(done.service_id, figures.libyears);
        }
    }
    let Some(first) = by_day.keys().next().copied() else {
        return Ok(Vec::new());
    };
    let mut current: BTreeMap<i64, f64> = BTreeMap::new();
    let mut points = Vec::new();
    let mut day = first;
    while day <= today {
        if let Some(scans) = by_day.get(&day) {
            current.extend(scans.iter().map(|(k, v)| (*k, *v)));
        }
        points.push(TrendPoint {
            day: day.to_string(),
            libyears: current.values().sum(),
            services: u32::try_from(current.len()).unwrap_or(u32::MAX),
        });
        day += Duration::days(1);
    }
    Ok(points)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use canopy_drift::Ecosystem;
    use time::macros::date;

    fn summary(eco: Ecosystem, libyears: f64, majors: u32) -> serde_json::Value {
        let figures = EcosystemSummary {
            dependencies: 3,
            outdated: 2,
            libyears,
            majors_behind: majors,
            ..Default::default()
        };
        serde_json::to_value(DriftSummary {
            totals: figures.clone(),
            by_ecosystem: [(eco, figures)].into_iter().collect(),
        })
        .unwrap()
    }

    fn daily(service_id: i64, team: &str, day: Date, libyears: f64) -> DailyDone {
        DailyDone {
            service_id,
            team: team.into(),
            day,
            summary: summary(Ecosystem::Npm, libyears, 0),
        }
    }

    #[test]
    fn trend_carries_each_service_forward_and_filters() {
        let points = trend(
            vec![
                daily(1, "a", date!(2026 - 01 - 01), 2.0),
                daily(2, "b", date!(2026 - 01 - 02), 1.0),
                daily(1, "a", date!(2026 - 01 - 03), 0.5),
            ],
            None,
            None,
            date!(2026 - 01 - 04),
        )
        .unwrap();
        let sums: Vec<(String, f64, u32)> = points
            .into_iter()
            .map(|p| (p.day, p.libyears, p.services))
            .collect();
        assert_eq!(
            sums,
            vec![
                ("2026-01-01".into(), 2.0, 1),
                ("2026-01-02".into(), 3.0, 2),
                ("2026-01-03".into(), 1.5, 2),
                ("2026-01-04".into(), 1.5, 2),
            ]
        );
        let only_b = trend(
            vec![daily(1, "a", date!(2026 - 01 - 01), 2.0)],
            None,
            Some("b"),
            date!(2026 - 01 - 04),
        )
        .unwrap();
        assert!(only_b.is_empty());
        let cargo = trend(
            vec![daily(1, "a", date!(2026 - 01 - 01), 2.0)],
            Some("cargo"),
            None,
            date!(2026 - 01 - 02),
        )
        .unwrap();
        assert!(cargo.is_empty(), "no cargo dependencies: no trend");
    }

    #[test]
    fn ranking_is_by_libyears_then_majors_and_filters_by_ecosystem() {
        let now = OffsetDateTime::now_utc();
        let latest = |team: &str, service: &str, eco, libyears, majors| LatestDone {
            team: team.into(),
            service: service.into(),
            finished_at: now,
            summary: summary(eco, libyears, majors),
        };
        let org_all = org(
            vec![
                latest("a", "low", Ecosystem::Npm, 1.0, 5),
                latest("a", "tie-few", Ecosystem::Cargo, 3.0, 1),
                latest("b", "tie-many", Ecosystem::Npm, 3.0, 2),
            ],
            vec![],
            vec!["a".into(), "b".into()],
            None,
            None,
            now,
        )
        .unwrap();
        let order: Vec<&str> = org_all
            .services
            .iter()
            .map(|s| s.service.as_str())
            .collect();
        assert_eq!(order, ["tie-many", "tie-few", "low"]);
        assert_eq!(org_all.totals.libyears, 7.0);
        assert_eq!(org_all.ecosystems, ["cargo", "npm"]);

        let npm_a = org(
            vec![
                latest("a", "low", Ecosystem::Npm, 1.0, 5),
                latest("a", "tie-few", Ecosystem::Cargo, 3.0, 1),
                latest("b", "tie-many", Ecosystem::Npm, 3.0, 2),
            ],
            vec![],
            vec![],
            Some("npm".into()),
            Some("a".into()),
            now,
        )
        .unwrap();
        let order: Vec<&str> = npm_a.services.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(order, ["low"]);
    }
}
