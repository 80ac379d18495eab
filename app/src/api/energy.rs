//! Energy figures for the UI and the JSON API: kWh and gCO2e per source, series, overview; and
//! the server functions that fetch them through `EnergyBackend`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;

mod period;

pub use period::*;

/// Energy and its operational emissions (PUE and grid intensity applied).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Start of the step, RFC 3339 UTC.
    pub start: String,
    pub figures: BySource,
}

/// Energy over time for one selection (a service, a team, a namespace, a node, or everything).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// The teams with the most energy, largest first (at most 20).
    pub teams: Vec<EnergyRow>,
    /// How many teams had energy in the period (`teams` lists the largest).
    #[serde(default)]
    pub teams_count: i64,
    /// The teams not listed in `teams`, added up.
    #[serde(default)]
    pub other_teams: BySource,
    /// The services with the most energy, largest first (at most 20).
    pub services: Vec<EnergyRow>,
    /// How many services had energy in the period (`services` lists the largest).
    #[serde(default)]
    pub services_count: i64,
    /// The services not listed in `services`, added up.
    #[serde(default)]
    pub other_services: BySource,
    /// Pods without Canopy's labels, by namespace (the largest, at most 20).
    pub namespaces: Vec<EnergyRow>,
    /// How many such namespaces had energy in the period.
    #[serde(default)]
    pub namespaces_count: i64,
    /// The namespaces not listed in `namespaces`, added up.
    #[serde(default)]
    pub other_namespaces: BySource,
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

/// A service's energy over a period in at most [`SparkSeries::MAX_BARS`] bars, kWh by source
/// (measured, estimated, simulated) per bar: what a sparkline draws, small enough for a page
/// that lists many services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SparkSeries {
    pub service: String,
    pub from: String,
    pub to: String,
    /// Seconds per bar (a whole number of the series' steps).
    pub bar_secs: i64,
    /// kWh per bar: `[measured, estimated, simulated]`.
    pub bars: Vec<[f64; 3]>,
}

impl SparkSeries {
    pub const MAX_BARS: usize = 31;

    /// The series' steps, added up into at most [`Self::MAX_BARS`] bars of equal length.
    pub fn of(series: &EnergySeries) -> Self {
        let per_bar = series.points.len().div_ceil(Self::MAX_BARS).max(1);
        let bars = series
            .points
            .chunks(per_bar)
            .map(|chunk| {
                let mut sum = BySource::default();
                for point in chunk {
                    sum.add_all(&point.figures);
                }
                [sum.measured.kwh, sum.estimated.kwh, sum.simulated.kwh]
            })
            .collect();
        Self {
            service: series.service.clone(),
            from: series.from.clone(),
            to: series.to.clone(),
            bar_secs: series.step_secs * per_bar as i64,
            bars,
        }
    }
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
    /// kWh by source over the period, for the sparkline.
    pub sparkline: SparkSeries,
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
    /// Largest first; registered services without energy last. The team page lists at most
    /// 20 (`services_count` says how many there are, `other_services` adds up the rest).
    pub services: Vec<TeamServiceEnergy>,
    #[serde(default)]
    pub services_count: i64,
    /// The services not listed in `services`, added up (now and the period before).
    #[serde(default)]
    pub other_services: BySource,
    #[serde(default)]
    pub other_previous: BySource,
    pub carbon_notes: Vec<String>,
}

/// One pod's recent power (containers summed), for "power now" and the per-pod breakdown.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicePodPower {
    pub team: String,
    pub service: String,
    pub window_secs: i64,
    pub pods: Vec<PodPower>,
}

impl ServicePodPower {
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
pub async fn load_service_pods(team: String, service: String) -> Result<ServicePodPower, AppError> {
    // Energy figures are org-wide: any signed-in person or token.
    super::auth::principal()?;
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
    // Energy figures are org-wide: any signed-in person or token.
    super::auth::principal()?;
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
    // Energy figures are org-wide: any signed-in person or token.
    super::auth::principal()?;
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
    // Energy figures are org-wide: any signed-in person or token.
    super::auth::principal()?;
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
mod tests {
    use super::*;

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
