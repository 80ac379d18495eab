//! Live grid intensity from Electricity Maps (optional: only with `CANOPY_ELECTRICITY_MAPS_TOKEN`).
//!
//! A background task asks `GET {url}/v3/carbon-intensity/latest?zone=XX` (header `auth-token`)
//! for every zone of the configured clusters once an hour and stores the value for its hour in
//! `energy_grid_intensity`. Reads use a stored live value for the hours that have one and the
//! built-in yearly table (or the configured figure) for the others, and say which
//! ([`GridIntensityUse`]). Failures (401, unreachable, bad payload) are logged and kept in
//! [`GridStatus`], shown in the overview.

use std::{collections::BTreeMap, sync::Mutex, time::Duration as StdDuration};

use app::api::energy::GridIntensityUse;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::PgPool;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::{buckets::buckets, carbon::CarbonSettings, EnergyError};

/// Default API base URL.
pub const DEFAULT_URL: &str = "https://api.electricitymap.org";
/// How intensities from the API are labelled next to figures.
pub const LIVE_LABEL: &str = "live (Electricity Maps)";
/// How often the task fetches.
pub const FETCH_EVERY: StdDuration = StdDuration::from_secs(3600);

/// `CANOPY_ELECTRICITY_MAPS_TOKEN` and `CANOPY_ELECTRICITY_MAPS_URL`.
#[derive(Clone)]
pub struct ElectricityMapsSettings {
    pub token: SecretString,
    pub url: String,
}

impl std::fmt::Debug for ElectricityMapsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElectricityMapsSettings")
            .field("token", &"[redacted]")
            .field("url", &self.url)
            .finish()
    }
}

/// `GET /v3/carbon-intensity/latest` as Electricity Maps answers it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LatestIntensity {
    pub zone: String,
    /// gCO2eq/kWh.
    pub carbon_intensity: f64,
    /// Start of the hour the value is for (`2026-11-29T10:00:00.000Z`).
    #[serde(with = "time::serde::rfc3339")]
    pub datetime: OffsetDateTime,
    #[serde(default)]
    pub emission_factor_type: Option<String>,
    #[serde(default)]
    pub is_estimated: Option<bool>,
    #[serde(default)]
    pub estimation_method: Option<String>,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("Electricity Maps refused the token (HTTP {0}): check CANOPY_ELECTRICITY_MAPS_TOKEN")]
    Unauthorized(u16),
    #[error("Electricity Maps is unreachable at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Electricity Maps answered HTTP {status} for zone {zone}: {body}")]
    Status {
        status: u16,
        zone: String,
        body: String,
    },
    #[error("Electricity Maps sent a payload Canopy cannot read for zone {zone}: {message}")]
    Payload { zone: String, message: String },
    #[error("storing the grid intensity failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// The last outcome per zone, for the overview.
#[derive(Debug, Default)]
pub struct GridStatus {
    zones: Mutex<BTreeMap<String, ZoneStatus>>,
}

#[derive(Debug, Clone, Default)]
struct ZoneStatus {
    last_success_at: Option<OffsetDateTime>,
    last_error: Option<String>,
}

impl GridStatus {
    fn record(&self, zone: &str, result: Result<(), &GridError>, now: OffsetDateTime) {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        let entry = zones.entry(zone.to_owned()).or_default();
        match result {
            Ok(()) => {
                entry.last_success_at = Some(now);
                entry.last_error = None;
            }
            Err(error) => entry.last_error = Some(error.to_string()),
        }
    }

    fn get(&self, zone: &str) -> ZoneStatus {
        self.zones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(zone)
            .cloned()
            .unwrap_or_default()
    }
}

/// The Electricity Maps client and what it needs.
pub struct LiveGrid {
    pool: PgPool,
    client: reqwest::Client,
    settings: ElectricityMapsSettings,
    pub status: GridStatus,
}

impl LiveGrid {
    pub fn new(pool: PgPool, settings: ElectricityMapsSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(20))
            .connect_timeout(StdDuration::from_secs(5))
            .user_agent(concat!("canopy/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            pool,
            client,
            settings,
            status: GridStatus::default(),
        }
    }

    /// Asks the API for the latest intensity of `zone`.
    pub async fn fetch(&self, zone: &str) -> Result<LatestIntensity, GridError> {
        let url = format!(
            "{}/v3/carbon-intensity/latest",
            self.settings.url.trim_end_matches('/')
        );
        let response = self
            .client
            .get(&url)
            .query(&[("zone", zone)])
            .header("auth-token", self.settings.token.expose_secret())
            .send()
            .await
            .map_err(|source| GridError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(GridError::Unauthorized(status.as_u16()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|source| GridError::Unreachable { url, source })?;
        if !status.is_success() {
            return Err(GridError::Status {
                status: status.as_u16(),
                zone: zone.to_owned(),
                body: String::from_utf8_lossy(&body).chars().take(200).collect(),
            });
        }
        let payload = |message: String| GridError::Payload {
            zone: zone.to_owned(),
            message,
        };
        let latest: LatestIntensity =
            serde_json::from_slice(&body).map_err(|e| payload(e.to_string()))?;
        if !latest.carbon_intensity.is_finite()
            || !(0.0..=5000.0).contains(&latest.carbon_intensity)
        {
            return Err(payload(format!(
                "carbonIntensity {} is outside 0-5000 gCO2e/kWh",
                latest.carbon_intensity
            )));
        }
        if !latest.zone.eq_ignore_ascii_case(zone) {
            return Err(payload(format!(
                "asked for zone {zone}, got {}",
                latest.zone
            )));
        }
        Ok(latest)
    }

    /// Stores `latest` for its hour (a later answer for the same hour replaces it: estimates
    /// are refined).
    pub async fn store(&self, zone: &str, latest: &LatestIntensity) -> Result<(), GridError> {
        let (hour, _) = buckets(latest.datetime);
        sqlx::query!(
            r#"INSERT INTO energy_grid_intensity (zone, hour, grams_co2e_per_kwh,
                   emission_factor_type, is_estimated, estimation_method)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (zone, hour) DO UPDATE SET
                   grams_co2e_per_kwh = EXCLUDED.grams_co2e_per_kwh,
                   emission_factor_type = EXCLUDED.emission_factor_type,
                   is_estimated = EXCLUDED.is_estimated,
                   estimation_method = EXCLUDED.estimation_method,
                   fetched_at = now()"#,
            zone,
            hour,
            latest.carbon_intensity,
            latest.emission_factor_type,
            latest.is_estimated,
            latest.estimation_method,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Fetches and stores every zone once; failures are logged and kept in the status.
    pub async fn refresh(&self, zones: &[String]) -> Vec<(String, Result<f64, GridError>)> {
        let mut outcomes = Vec::new();
        for zone in zones {
            let result = async {
                let latest = self.fetch(zone).await?;
                self.store(zone, &latest).await?;
                Ok::<_, GridError>(latest.carbon_intensity)
            }
            .await;
            let now = OffsetDateTime::now_utc();
            match &result {
                Ok(value) => {
                    tracing::info!(zone = %zone, grams_co2e_per_kwh = value, "live grid intensity stored");
                    self.status.record(zone, Ok(()), now);
                }
                Err(error) => {
                    tracing::warn!(zone = %zone, %error, "live grid intensity fetch failed; the yearly table is used for this hour");
                    self.status.record(zone, Err(error), now);
                }
            }
            outcomes.push((zone.clone(), result));
        }
        outcomes
    }

    /// Refreshes once every [`FETCH_EVERY`] across replicas (the first time at start if this
    /// period has not run) until the process ends. A period in which a zone failed runs again
    /// on the next tick.
    pub fn spawn(
        self: std::sync::Arc<Self>,
        jobs: &crate::replicas::jobs::Jobs,
        zones: Vec<String>,
    ) -> tokio::task::JoinHandle<()> {
        jobs.spawn(
            crate::replicas::jobs::Job::GridIntensityFetch,
            FETCH_EVERY,
            move || {
                let (this, zones) = (self.clone(), zones.clone());
                async move {
                    let outcomes = this.refresh(&zones).await;
                    let failed: Vec<&str> = outcomes
                        .iter()
                        .filter(|(_, result)| result.is_err())
                        .map(|(zone, _)| zone.as_str())
                        .collect();
                    if failed.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("no live intensity for {}", failed.join(", ")))
                    }
                }
            },
        )
    }
}

/// Where live values apply: `(cluster names, their zones ('' for none), zone of other clusters)`.
pub fn zone_map(carbon: &CarbonSettings) -> (Vec<String>, Vec<String>, String) {
    let (clusters, zones) = carbon
        .clusters
        .iter()
        .map(|(name, f)| (name.clone(), f.zone.clone().unwrap_or_default()))
        .unzip();
    (
        clusters,
        zones,
        carbon.default.zone.clone().unwrap_or_default(),
    )
}

/// One live correction row: energy of a group in hours with a live value, and that energy
/// multiplied by the hour's live intensity.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveRow {
    pub cluster: String,
    pub source: String,
    pub joules: f64,
    pub joules_g_per_kwh: f64,
}

impl LiveRow {
    /// Grams to add to the table-based figure: live grams minus table grams for these hours.
    pub fn grams_delta(&self, carbon: &CarbonSettings) -> f64 {
        let factors = carbon.for_cluster(&self.cluster);
        factors.pue * self.joules_g_per_kwh / super::carbon::JOULES_PER_KWH
            - factors.grams_co2e(self.joules)
    }
}

/// The SQL that joins hourly rollup rows `h` to the live value of their cluster's zone and
/// hour; binds `$clusters`, `$zones`, `$default_zone` at the given positions.
pub fn live_join_sql(clusters: usize, zones: usize, default_zone: usize) -> String {
    format!(
        "LEFT JOIN unnest(${clusters}::text[], ${zones}::text[]) AS zm (cluster, zone)
             ON zm.cluster = h.cluster
         JOIN energy_grid_intensity gi
             ON gi.zone = coalesce(zm.zone, ${default_zone}) AND gi.hour = h.bucket"
    )
}

/// Which intensity was used over `[from, to)`, per configured zone, with the fetch status.
pub async fn intensity_uses(
    pool: &PgPool,
    carbon: &CarbonSettings,
    live: Option<&LiveGrid>,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<GridIntensityUse>, EnergyError> {
    let period_hours = (to - from).whole_hours();
    let counts: BTreeMap<String, i64> = match live {
        Some(_) => sqlx::query!(
            r#"SELECT zone, count(*) AS "hours!" FROM energy_grid_intensity
               WHERE hour >= $1 AND hour < $2 GROUP BY zone"#,
            from,
            to
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| (r.zone, r.hours))
        .collect(),
        None => BTreeMap::new(),
    };
    let rfc = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let mut uses = Vec::new();
    let named = carbon
        .clusters
        .iter()
        .map(|(name, f)| (format!("cluster {name}"), f));
    for (cluster, factors) in named.chain(std::iter::once((
        "other clusters".to_owned(),
        &carbon.default,
    ))) {
        let zone = factors.zone.clone().unwrap_or_default();
        let status = match live {
            None => "live intensity not configured (CANOPY_ELECTRICITY_MAPS_TOKEN)".to_owned(),
            Some(_) if zone.is_empty() => {
                "no Electricity Maps zone for this cluster (set zone=XX)".to_owned()
            }
            Some(live) => {
                let s = live.status.get(&zone);
                match (s.last_error, s.last_success_at) {
                    (Some(error), _) => format!("last fetch failed: {error}"),
                    (None, Some(at)) => format!("last fetch ok at {}", rfc(at)),
                    (None, None) => "not fetched yet".to_owned(),
                }
            }
        };
        let live_hours = counts.get(&zone).copied().unwrap_or(0).min(period_hours);
        uses.push(GridIntensityUse {
            cluster,
            zone,
            live_hours,
            period_hours,
            live_source: LIVE_LABEL.to_owned(),
            fallback_source: format!(
                "{} gCO2e/kWh: {}",
                factors.grams_co2e_per_kwh, factors.intensity_source
            ),
            status,
        });
    }
    Ok(uses)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_latest_payload_parses() {
        let body = r#"{"zone":"DE","carbonIntensity":302,"datetime":"2026-11-29T10:00:00.000Z","updatedAt":"2026-11-29T10:47:42.139Z","createdAt":"2026-11-26T10:50:39.851Z","emissionFactorType":"lifecycle","isEstimated":true,"estimationMethod":"TIME_SLICER_AVERAGE"}"#;
        let latest: LatestIntensity = serde_json::from_str(body).unwrap();
        assert_eq!(latest.zone, "DE");
        assert_eq!(latest.carbon_intensity, 302.0);
        assert_eq!(
            latest.datetime,
            time::macros::datetime!(2026-11-29 10:00 UTC)
        );
        assert_eq!(latest.is_estimated, Some(true));
    }
}
