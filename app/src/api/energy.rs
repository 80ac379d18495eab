//! Energy figures for the UI and the JSON API: kWh and gCO2e per source, series, overview; and
//! the server functions that fetch them through `EnergyBackend`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{AppError, Field};

/// The periods the Energy page offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum EnergyPeriod {
    #[default]
    Day,
    Week,
    Month,
    Quarter,
}

impl EnergyPeriod {
    pub const ALL: [EnergyPeriod; 4] = [Self::Day, Self::Week, Self::Month, Self::Quarter];

    /// `24h`, `7d`, `30d`, `90d` (the URL spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
            Self::Quarter => "90d",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Day => "last 24 hours",
            Self::Week => "last 7 days",
            Self::Month => "last 30 days",
            Self::Quarter => "last 90 days",
        }
    }
}

/// A calendar day (UTC), as `<input type="date">` sends it: `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CivilDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl CivilDate {
    /// `YYYY-MM-DD` with a real month and day (leap years included), years 1970-9999.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.trim().splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month: u8 = m.parse().ok()?;
        let day: u8 = d.parse().ok()?;
        let date = Self { year, month, day };
        ((1970..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month))
        .then_some(date)
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days_since_epoch(self) -> i64 {
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The day `days` after 1970-01-01 (`civil_from_days`).
    pub fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Self { year, month, day }
    }

    /// Today in UTC, by the server's clock.
    #[cfg(feature = "ssr")]
    pub fn today_utc() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self::from_days_since_epoch(secs.div_euclid(86_400))
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl std::fmt::Display for CivilDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Longest custom period, in days.
pub const MAX_CUSTOM_DAYS: i64 = 400;

/// A custom period: whole UTC days from `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRange {
    pub from: CivilDate,
    pub to: CivilDate,
}

impl DayRange {
    /// Number of days, both ends included.
    pub fn days(self) -> i64 {
        self.to.days_since_epoch() - self.from.days_since_epoch() + 1
    }
}

/// The period a page shows: one of the presets, or custom days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeriodSelection {
    Preset(EnergyPeriod),
    Custom(DayRange),
}

impl Default for PeriodSelection {
    fn default() -> Self {
        Self::Preset(EnergyPeriod::default())
    }
}

impl PeriodSelection {
    /// Validates the page's query at the boundary: `from`/`to` (`YYYY-MM-DD`, both included)
    /// when either is given, else `period` (`24h`, `7d`, `30d`, `90d`; unknown or empty means
    /// the default). `today` is the current UTC day. Errors name the field.
    pub fn parse(period: &str, from: &str, to: &str, today: CivilDate) -> Result<Self, AppError> {
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() && to.is_empty() {
            return Ok(Self::Preset(
                EnergyPeriod::parse(period).unwrap_or_default(),
            ));
        }
        let day = |field: Field, raw: &str| -> Result<CivilDate, AppError> {
            if raw.is_empty() {
                return Err(AppError::invalid(
                    field,
                    "is missing: a custom period needs both its first and its last day",
                ));
            }
            CivilDate::parse(raw).ok_or_else(|| {
                AppError::invalid(
                    field,
                    format!("{raw:?} is not a date; use YYYY-MM-DD, for example 2026-11-01"),
                )
            })
        };
        let from = day(Field::From, from)?;
        let to = day(Field::To, to)?;
        if from > today {
            return Err(AppError::invalid(
                Field::From,
                format!("{from} is in the future; the last day with data is today, {today}"),
            ));
        }
        if to > today {
            return Err(AppError::invalid(
                Field::To,
                format!("{to} is in the future; choose today ({today}) or an earlier day"),
            ));
        }
        if from > to {
            return Err(AppError::invalid(
                Field::From,
                format!("{from} is after the last day {to}; the first day must come first"),
            ));
        }
        let range = DayRange { from, to };
        if range.days() > MAX_CUSTOM_DAYS {
            return Err(AppError::invalid(
                Field::From,
                format!(
                    "{} days from {from} to {to}: a period can be at most {MAX_CUSTOM_DAYS} days",
                    range.days()
                ),
            ));
        }
        Ok(Self::Custom(range))
    }

    /// The URL query that selects this period (`period=7d`, or `from=...&to=...`).
    pub fn query(self) -> String {
        match self {
            Self::Preset(p) => format!("period={}", p.as_str()),
            Self::Custom(r) => format!("from={}&to={}", r.from, r.to),
        }
    }

    /// `last 7 days`, or `2026-11-01 to 2026-11-07 (7 days)`.
    pub fn label(self) -> String {
        match self {
            Self::Preset(p) => p.label().to_owned(),
            Self::Custom(r) if r.days() == 1 => format!("{} to {} (1 day, UTC)", r.from, r.to),
            Self::Custom(r) => format!("{} to {} ({} days, UTC)", r.from, r.to, r.days()),
        }
    }

    pub fn preset(self) -> Option<EnergyPeriod> {
        match self {
            Self::Preset(p) => Some(p),
            Self::Custom(_) => None,
        }
    }
}

/// Energy and its operational emissions (PUE and grid intensity applied).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Figure {
    pub kwh: f64,
    pub grams_co2e: f64,
}

impl Figure {
    pub fn add(&mut self, other: Figure) {
        self.kwh += other.kwh;
        self.grams_co2e += other.grams_co2e;
    }
}

/// A figure per source. Measured, estimated and simulated energy are kept apart; a total is
/// always shown with its composition.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct BySource {
    pub measured: Figure,
    pub estimated: Figure,
    pub simulated: Figure,
}

impl BySource {
    /// Adds `figure` to the source named `measured`, `estimated` or `simulated`.
    pub fn add(&mut self, source: &str, figure: Figure) {
        match source {
            "measured" => self.measured.add(figure),
            "estimated" => self.estimated.add(figure),
            _ => self.simulated.add(figure),
        }
    }

    pub fn add_all(&mut self, other: &BySource) {
        self.measured.add(other.measured);
        self.estimated.add(other.estimated);
        self.simulated.add(other.simulated);
    }

    /// All sources together (show it only next to [`BySource::parts`]).
    pub fn total(&self) -> Figure {
        let mut total = self.measured;
        total.add(self.estimated);
        total.add(self.simulated);
        total
    }

    /// `(source, figure)` for the sources that have any energy.
    pub fn parts(&self) -> Vec<(&'static str, Figure)> {
        [
            ("measured", self.measured),
            ("estimated", self.estimated),
            ("simulated", self.simulated),
        ]
        .into_iter()
        .filter(|(_, f)| f.kwh > 0.0)
        .collect()
    }
}

/// One row of a breakdown (a team, a service, or a namespace of pods Canopy did not create).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyRow {
    pub team: String,
    pub service: String,
    pub namespace: String,
    pub figures: BySource,
    /// Deploys of this service in the period (services only), for the per-deploy figure.
    #[serde(default)]
    pub deploys: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Start of the step, RFC 3339 UTC.
    pub start: String,
    pub figures: BySource,
}

/// Energy over time for one selection (a service, a team, a namespace, a node, or everything).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySeries {
    pub team: String,
    pub service: String,
    pub from: String,
    pub to: String,
    pub step_secs: i64,
    /// `hourly` or `daily`: which rollup the figures were read from.
    pub resolution: String,
    pub points: Vec<SeriesPoint>,
    pub total: BySource,
    /// SCI per request for a service series, when request counts were supplied (else `None`).
    #[serde(default)]
    pub request_sci: Option<RequestSci>,
}

/// SCI per request (Green Software Foundation, `SCI = (E × I + M) per R`, R = one request):
/// the CO2e of the hours covered by request counts supplied through the API, divided by those
/// requests. Operational only: embodied emissions (M) are not included (`note` says so).
/// Measured, estimated and simulated stay apart, as everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RequestSci {
    /// Requests in the intervals counted (those wholly inside the period).
    pub requests: i64,
    /// Seconds of the period those intervals cover.
    pub covered_secs: i64,
    /// The service's energy and CO2e in the covered hours.
    pub covered: BySource,
    /// `covered / requests` (`None` when no request was counted).
    pub per_request: Option<BySource>,
    /// `covered / (requests / 1000)`.
    pub per_thousand_requests: Option<BySource>,
    /// What the figure includes and leaves out.
    pub note: String,
}

/// Everything the Energy page shows for one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyOverview {
    pub period: EnergyPeriod,
    /// What was asked for (a preset, or custom days); `period` is the default for custom ones.
    #[serde(default)]
    pub selection: PeriodSelection,
    pub from: String,
    pub to: String,
    /// Whether any agent has ever reported (else the page explains how to install one).
    pub has_any_data: bool,
    /// Host energy: workloads + idle + system.
    pub total: BySource,
    /// The same for the period just before, for the trend.
    pub previous_total: BySource,
    pub idle: BySource,
    pub system: BySource,
    pub teams: Vec<EnergyRow>,
    pub services: Vec<EnergyRow>,
    /// Pods without Canopy's labels, by namespace.
    pub namespaces: Vec<EnergyRow>,
    /// Series for the top services, for the charts.
    pub top_series: Vec<EnergySeries>,
    /// How CO2e was computed (PUE and grid intensity per cluster, with sources).
    pub carbon_notes: Vec<String>,
    /// Which grid intensity the period's CO2e used, per cluster: live hours and the fallback.
    #[serde(default)]
    pub grid_intensity: Vec<GridIntensityUse>,
}

/// Which grid intensity CO2e figures used over a period for one cluster (or "other clusters"):
/// hours with a live Electricity Maps value use it, the other hours the yearly table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GridIntensityUse {
    /// `cluster prod`, or `other clusters`.
    pub cluster: String,
    /// Electricity Maps zone (`DE`), empty when the cluster has none.
    pub zone: String,
    /// Hours of the period with a stored live value.
    pub live_hours: i64,
    pub period_hours: i64,
    /// `live (Electricity Maps)`.
    pub live_source: String,
    /// The intensity used for the other hours and its source (`381 gCO2e/kWh: DE yearly average (Ember ...)`).
    pub fallback_source: String,
    /// The live feed's state: not configured, last fetch ok at ..., or last fetch failed: why.
    pub status: String,
}

/// One service of a team, for the team page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamServiceEnergy {
    pub service: String,
    /// Its pods' energy in the period.
    pub figures: BySource,
    /// The same for the period just before, of equal length (the trend).
    pub previous: BySource,
    /// Its share of the idle energy of the nodes it ran on, in proportion to its workload
    /// energy on each node (not included in `figures`).
    pub idle: BySource,
    /// Total kWh (all sources) per step of the period, for the sparkline.
    pub series: EnergySeries,
    /// Whether the service is registered in Canopy (else it only appears in energy data).
    pub registered: bool,
}

/// A team's energy for a period: its services side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamEnergy {
    pub team: String,
    pub selection: PeriodSelection,
    pub from: String,
    pub to: String,
    /// Whether any agent has ever reported to this Canopy (else the page explains how to start).
    pub has_any_data: bool,
    /// All the team's services together.
    pub total: BySource,
    pub previous_total: BySource,
    /// Largest first; registered services without energy last.
    pub services: Vec<TeamServiceEnergy>,
    pub carbon_notes: Vec<String>,
}

/// One pod's recent power (containers summed), for "power now" and the per-pod breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodPower {
    pub namespace: String,
    pub pod: String,
    pub node: String,
    /// `measured`, `estimated` or `simulated`.
    pub source: String,
    pub power_watts: f64,
    pub energy_joules: f64,
}

/// A service's pods over the last few minutes, from the raw samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicePods {
    pub team: String,
    pub service: String,
    pub window_secs: i64,
    pub pods: Vec<PodPower>,
}

impl ServicePods {
    /// Power now per source: `(source, watts)` for the sources present.
    pub fn power_by_source(&self) -> Vec<(String, f64)> {
        let mut sums: Vec<(String, f64)> = Vec::new();
        for pod in &self.pods {
            match sums.iter_mut().find(|(s, _)| *s == pod.source) {
                Some((_, watts)) => *watts += pod.power_watts,
                None => sums.push((pod.source.clone(), pod.power_watts)),
            }
        }
        sums
    }
}

#[server(prefix = "/api/fn", endpoint = "load_service_pods")]
pub async fn load_service_pods(team: String, service: String) -> Result<ServicePods, AppError> {
    super::backend::energy_backend()?
        .service_pods(team, service)
        .await
}

/// The period of a request, validated against today's UTC date (on the server).
#[cfg(feature = "ssr")]
fn selection(period: &str, from: &str, to: &str) -> Result<PeriodSelection, AppError> {
    PeriodSelection::parse(period, from, to, CivilDate::today_utc())
}

/// The overview for `period` (`24h`, `7d`, ...) or, when `from`/`to` are given, for those days.
#[server(prefix = "/api/fn", endpoint = "load_energy_overview")]
pub async fn load_energy_overview(
    period: String,
    #[server(default)] from: String,
    #[server(default)] to: String,
) -> Result<EnergyOverview, AppError> {
    let selection = selection(&period, &from, &to)?;
    super::backend::energy_backend()?
        .overview_for(selection)
        .await
}

/// A service's series for a preset or custom period (the chart's own period switch).
#[server(prefix = "/api/fn", endpoint = "load_service_energy_for")]
pub async fn load_service_energy_for(
    team: String,
    service: String,
    period: String,
    #[server(default)] from: String,
    #[server(default)] to: String,
) -> Result<EnergySeries, AppError> {
    let selection = selection(&period, &from, &to)?;
    super::backend::energy_backend()?
        .service_series_for(team, service, selection)
        .await
}

/// The team page: the team's services side by side for a period.
#[server(prefix = "/api/fn", endpoint = "load_team_energy")]
pub async fn load_team_energy(
    team: String,
    period: String,
    #[server(default)] from: String,
    #[server(default)] to: String,
) -> Result<TeamEnergy, AppError> {
    // The team is part of the address: a name that cannot exist is "not found".
    let team = super::TeamName::parse(team.trim()).map_err(|_| AppError::NotFound {
        what: format!("Team {team:?}"),
    })?;
    let selection = selection(&period, &from, &to)?;
    super::backend::energy_backend()?
        .team(team.to_string(), selection)
        .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn day(raw: &str) -> CivilDate {
        CivilDate::parse(raw).unwrap()
    }

    #[test]
    fn civil_dates_parse_strictly_and_count_days() {
        assert_eq!(day("1970-01-01").days_since_epoch(), 0);
        assert_eq!(day("2026-11-29").days_since_epoch(), 20_786);
        assert_eq!(CivilDate::from_days_since_epoch(20_786), day("2026-11-29"));
        assert_eq!(day("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "yesterday",
            "",
            "2026-11-31",
        ] {
            assert_eq!(CivilDate::parse(bad), None, "{bad}");
        }
        for days in [0, 59, 365, 11_016, 20_786, 2_932_896] {
            let date = CivilDate::from_days_since_epoch(days);
            assert_eq!(date.days_since_epoch(), days);
            assert_eq!(CivilDate::parse(&date.to_string()), Some(date));
        }
    }

    #[test]
    fn custom_periods_are_validated_with_the_field_named() {
        let today = day("2026-11-29");
        let parse = |p: &str, f: &str, t: &str| PeriodSelection::parse(p, f, t, today);
        assert_eq!(
            parse("7d", "", ""),
            Ok(PeriodSelection::Preset(EnergyPeriod::Week))
        );
        assert_eq!(parse("1y", "", ""), Ok(PeriodSelection::default()));
        let custom = parse("7d", "2026-11-01", "2026-11-29").unwrap();
        assert_eq!(custom.query(), "from=2026-11-01&to=2026-11-29");
        assert_eq!(custom.label(), "2026-11-01 to 2026-11-29 (29 days, UTC)");
        assert!(parse("", "2026-11-29", "2026-11-29").is_ok(), "one day");
        let field_of = |result: Result<PeriodSelection, AppError>| match result {
            Err(AppError::InvalidInput { field, message }) => (field, message),
            other => panic!("expected an invalid input, got {other:?}"),
        };
        let (field, message) = field_of(parse("", "2026-11-10", "2026-11-01"));
        assert_eq!(field, Field::From);
        assert!(message.contains("after the last day"), "{message}");
        let (field, message) = field_of(parse("", "2026-11-01", "2026-12-01"));
        assert_eq!(field, Field::To);
        assert!(message.contains("in the future"), "{message}");
        let (field, message) = field_of(parse("", "2025-01-01", "2026-11-01"));
        assert_eq!(field, Field::From);
        assert!(message.contains("at most 400 days"), "{message}");
        let (field, _) = field_of(parse("", "2026-11-01", ""));
        assert_eq!(field, Field::To);
        let (field, message) = field_of(parse("", "01/11/2026", "2026-11-02"));
        assert_eq!(field, Field::From);
        assert!(message.contains("YYYY-MM-DD"), "{message}");
        assert!(parse("", "2025-10-26", "2026-11-29").is_ok(), "400 days");
    }

    #[test]
    fn periods_round_trip_through_their_url_spelling() {
        for period in EnergyPeriod::ALL {
            assert_eq!(EnergyPeriod::parse(period.as_str()), Some(period));
        }
        assert_eq!(EnergyPeriod::parse("1y"), None);
    }

    #[test]
    fn sources_stay_apart_and_parts_list_only_present_ones() {
        let mut figures = BySource::default();
        figures.add(
            "measured",
            Figure {
                kwh: 1.0,
                grams_co2e: 10.0,
            },
        );
        figures.add(
            "simulated",
            Figure {
                kwh: 2.0,
                grams_co2e: 20.0,
            },
        );
        assert_eq!(figures.measured.kwh, 1.0);
        assert_eq!(figures.estimated.kwh, 0.0);
        assert_eq!(figures.total().grams_co2e, 30.0);
        let names: Vec<_> = figures.parts().into_iter().map(|(s, _)| s).collect();
        assert_eq!(names, ["measured", "simulated"]);
    }
}
