//! Carbon maths: `gCO2e = kWh × PUE × grid intensity`, per cluster, with a built-in table of
//! yearly average grid intensities that configuration can override.

use std::collections::BTreeMap;

/// Joules in one kilowatt-hour.
pub const JOULES_PER_KWH: f64 = 3_600_000.0;
/// PUE used for a cluster that configures none (the figure used in the seed talk).
pub const DEFAULT_PUE: f64 = 1.2;
/// Region used for a cluster that configures none: the world average.
pub const DEFAULT_REGION: &str = "world";

/// One row of the built-in grid-intensity table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridIntensity {
    /// Lookup key: ISO 3166 alpha-2 country code (`FR`), `world`, or `<cloud>-<region>`.
    pub key: &'static str,
    pub grams_co2e_per_kwh: f64,
    /// Where the figure comes from, and for which year.
    pub source: &'static str,
}

const EMBER_2023: &str =
    "Ember Yearly Electricity Data 2023 (CC BY 4.0), lifecycle gCO2e/kWh, via Our World in Data";
const CCF: &str =
    "Cloud Carbon Footprint emissions factors (CCF methodology, underlying grid data 2019-2021)";

/// Yearly averages, location-based. Countries: Ember 2023. Cloud regions: the factors Cloud
/// Carbon Footprint uses. Override any of them per cluster with `grid_g_per_kwh`.
pub const GRID_TABLE: &[GridIntensity] = &[
    GridIntensity {
        key: "world",
        grams_co2e_per_kwh: 481.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "AT",
        grams_co2e_per_kwh: 111.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "AU",
        grams_co2e_per_kwh: 549.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "BE",
        grams_co2e_per_kwh: 138.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "BR",
        grams_co2e_per_kwh: 98.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "CA",
        grams_co2e_per_kwh: 170.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "CL",
        grams_co2e_per_kwh: 291.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "CN",
        grams_co2e_per_kwh: 582.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "CZ",
        grams_co2e_per_kwh: 450.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "DE",
        grams_co2e_per_kwh: 381.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "DK",
        grams_co2e_per_kwh: 152.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "FI",
        grams_co2e_per_kwh: 79.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "FR",
        grams_co2e_per_kwh: 56.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "GR",
        grams_co2e_per_kwh: 337.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "IE",
        grams_co2e_per_kwh: 291.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "IN",
        grams_co2e_per_kwh: 713.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "NO",
        grams_co2e_per_kwh: 30.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "PL",
        grams_co2e_per_kwh: 662.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "SE",
        grams_co2e_per_kwh: 41.0,
        source: EMBER_2023,
    },
    GridIntensity {
        key: "aws-eu-west-1",
        grams_co2e_per_kwh: 278.6,
        source: CCF,
    },
    GridIntensity {
        key: "aws-eu-central-1",
        grams_co2e_per_kwh: 311.0,
        source: CCF,
    },
    GridIntensity {
        key: "aws-eu-north-1",
        grams_co2e_per_kwh: 8.8,
        source: CCF,
    },
    GridIntensity {
        key: "aws-us-east-1",
        grams_co2e_per_kwh: 379.1,
        source: CCF,
    },
    GridIntensity {
        key: "gcp-us-central1",
        grams_co2e_per_kwh: 456.0,
        source: CCF,
    },
    GridIntensity {
        key: "gcp-europe-west1",
        grams_co2e_per_kwh: 110.0,
        source: CCF,
    },
];

/// Looks a region up in the built-in table (country codes case-insensitively).
pub fn lookup_region(key: &str) -> Option<&'static GridIntensity> {
    GRID_TABLE
        .iter()
        .find(|row| row.key == key || row.key.eq_ignore_ascii_case(key))
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CarbonError {
    #[error("unknown grid region {0:?}: use a key of the built-in table (e.g. FR, DE, aws-eu-west-1) or set grid_g_per_kwh")]
    UnknownRegion(String),
    #[error("{field} must be a number {bound} ({value:?})")]
    OutOfRange {
        field: &'static str,
        bound: &'static str,
        value: String,
    },
    #[error("cannot read cluster setting {0:?}: expected `cluster:key=value,...`")]
    Syntax(String),
}

/// What a cluster's energy is multiplied by.
#[derive(Debug, Clone, PartialEq)]
pub struct CarbonFactors {
    pub pue: f64,
    pub grams_co2e_per_kwh: f64,
    /// `region (source)` or `configured`: shown next to the figures.
    pub intensity_source: String,
    /// Electricity Maps zone for live intensity (`DE`): `zone=` in the cluster settings, else
    /// the region when it is a country code; `None` for cloud regions and `world`.
    pub zone: Option<String>,
}

impl CarbonFactors {
    /// Factors for a region of the built-in table, or an explicit intensity.
    pub fn new(
        region: &str,
        pue: Option<f64>,
        grid_g_per_kwh: Option<f64>,
    ) -> Result<Self, CarbonError> {
        let pue = pue.unwrap_or(DEFAULT_PUE);
        if !(1.0..=3.0).contains(&pue) {
            return Err(CarbonError::OutOfRange {
                field: "pue",
                bound: "between 1.0 and 3.0",
                value: pue.to_string(),
            });
        }
        let (grams_co2e_per_kwh, intensity_source) = match grid_g_per_kwh {
            Some(value) if (0.0..=2000.0).contains(&value) => {
                (value, format!("configured {value} gCO2e/kWh"))
            }
            Some(value) => {
                return Err(CarbonError::OutOfRange {
                    field: "grid_g_per_kwh",
                    bound: "between 0 and 2000",
                    value: value.to_string(),
                })
            }
            None => {
                let row = lookup_region(region)
                    .ok_or_else(|| CarbonError::UnknownRegion(region.to_owned()))?;
                (
                    row.grams_co2e_per_kwh,
                    format!("{} yearly average ({})", row.key, row.source),
                )
            }
        };
        Ok(Self {
            pue,
            grams_co2e_per_kwh,
            intensity_source,
            zone: country_zone(region),
        })
    }

    /// Sets the Electricity Maps zone explicitly.
    pub fn with_zone(mut self, zone: Option<String>) -> Result<Self, CarbonError> {
        if let Some(zone) = &zone {
            let valid = (1..=64).contains(&zone.len())
                && zone
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(CarbonError::OutOfRange {
                    field: "zone",
                    bound: "made of letters, digits, '-' and '_' (an Electricity Maps zone such as DE or US-CAL-CISO)",
                    value: zone.clone(),
                });
            }
        }
        self.zone = zone;
        Ok(self)
    }

    /// Operational emissions of `energy_joules` of IT energy.
    pub fn grams_co2e(&self, energy_joules: f64) -> f64 {
        kwh(energy_joules) * self.pue * self.grams_co2e_per_kwh
    }
}

/// A two-letter country code region is also its Electricity Maps zone.
fn country_zone(region: &str) -> Option<String> {
    (region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| region.to_ascii_uppercase())
}

/// `J / 3.6e6`.
pub fn kwh(energy_joules: f64) -> f64 {
    energy_joules / JOULES_PER_KWH
}

/// Carbon settings for every cluster: named clusters, and the factors for any other.
#[derive(Debug, Clone, PartialEq)]
pub struct CarbonSettings {
    pub default: CarbonFactors,
    pub clusters: BTreeMap<String, CarbonFactors>,
}

impl Default for CarbonSettings {
    fn default() -> Self {
        Self {
            default: CarbonFactors {
                pue: DEFAULT_PUE,
                grams_co2e_per_kwh: 481.0,
                intensity_source: format!("world yearly average ({EMBER_2023})"),
                zone: None,
            },
            clusters: BTreeMap::new(),
        }
    }
}

impl CarbonSettings {
    /// `energy_joules` used in `cluster`: kWh and gCO2e with that cluster's factors.
    pub fn figure(&self, cluster: &str, energy_joules: f64) -> app::api::energy::Figure {
        app::api::energy::Figure {
            kwh: kwh(energy_joules),
            grams_co2e: self.for_cluster(cluster).grams_co2e(energy_joules),
        }
    }

    pub fn for_cluster(&self, cluster: &str) -> &CarbonFactors {
        self.clusters.get(cluster).unwrap_or(&self.default)
    }

    /// The distinct Electricity Maps zones of all clusters (sorted).
    pub fn zones(&self) -> Vec<String> {
        let zones: std::collections::BTreeSet<String> = self
            .clusters
            .values()
            .chain(std::iter::once(&self.default))
            .filter_map(|f| f.zone.clone())
            .collect();
        zones.into_iter().collect()
    }

    /// Parses `cluster:key=value,key=value;cluster2:...` with keys `region`, `pue`,
    /// `grid_g_per_kwh`, `zone` (Electricity Maps zone) (e.g. `prod:region=aws-eu-west-1,pue=1.135;lab:region=FR`).
    pub fn parse_clusters(
        &mut self,
        spec: &str,
        default_pue: Option<f64>,
    ) -> Result<(), CarbonError> {
        for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, rest) = entry
                .split_once(':')
                .ok_or_else(|| CarbonError::Syntax(entry.to_owned()))?;
            let (mut region, mut pue, mut grid) = (DEFAULT_REGION.to_owned(), default_pue, None);
            let mut zone = None;
            for pair in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| CarbonError::Syntax(entry.to_owned()))?;
                match key.trim() {
                    "region" => region = value.trim().to_owned(),
                    "pue" => pue = Some(parse_number("pue", value)?),
                    "grid_g_per_kwh" => grid = Some(parse_number("grid_g_per_kwh", value)?),
                    "zone" => zone = Some(value.trim().to_owned()),
                    _ => return Err(CarbonError::Syntax(entry.to_owned())),
                }
            }
            let mut factors = CarbonFactors::new(&region, pue, grid)?;
            if zone.is_some() {
                factors = factors.with_zone(zone)?;
            }
            self.clusters.insert(name.trim().to_owned(), factors);
        }
        Ok(())
    }
}

fn parse_number(field: &'static str, value: &str) -> Result<f64, CarbonError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| CarbonError::OutOfRange {
            field,
            bound: "that is finite",
            value: value.to_owned(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn one_kwh_at_pue_1_2_in_france_is_67_2_grams() {
        let factors = CarbonFactors::new("FR", None, None).unwrap();
        let grams = factors.grams_co2e(JOULES_PER_KWH);
        assert!((grams - 1.2 * 56.0).abs() < 1e-9, "{grams}");
    }

    #[test]
    fn kwh_is_joules_over_3_6_million() {
        assert_eq!(kwh(7_200_000.0), 2.0);
        assert_eq!(kwh(0.0), 0.0);
    }

    #[test]
    fn cloud_regions_and_countries_are_in_the_table_with_a_source() {
        for key in ["aws-eu-west-1", "gcp-us-central1", "DE", "fr", "world"] {
            let row = lookup_region(key).unwrap();
            assert!(!row.source.is_empty());
        }
        assert_eq!(
            lookup_region("aws-eu-west-1").unwrap().grams_co2e_per_kwh,
            278.6
        );
        assert!(lookup_region("mars").is_none());
    }

    #[test]
    fn configured_intensity_overrides_the_table() {
        let factors = CarbonFactors::new("DE", Some(1.1), Some(100.0)).unwrap();
        assert_eq!(
            factors.grams_co2e(JOULES_PER_KWH * 10.0),
            10.0 * 1.1 * 100.0
        );
        assert!(factors.intensity_source.contains("configured"));
    }

    #[test]
    fn clusters_parse_and_unknown_clusters_get_the_default() {
        let mut settings = CarbonSettings::default();
        settings
            .parse_clusters("prod:region=aws-eu-west-1,pue=1.135; lab:region=FR", None)
            .unwrap();
        assert_eq!(settings.for_cluster("prod").pue, 1.135);
        assert_eq!(settings.for_cluster("prod").grams_co2e_per_kwh, 278.6);
        assert_eq!(settings.for_cluster("lab").pue, DEFAULT_PUE);
        assert_eq!(settings.for_cluster("other").grams_co2e_per_kwh, 481.0);
    }

    #[test]
    fn zones_come_from_country_regions_or_are_set() {
        let mut settings = CarbonSettings::default();
        settings
            .parse_clusters(
                "de:region=DE; aws:region=aws-eu-central-1,zone=DE; lab:region=world",
                None,
            )
            .unwrap();
        assert_eq!(settings.for_cluster("de").zone.as_deref(), Some("DE"));
        assert_eq!(settings.for_cluster("aws").zone.as_deref(), Some("DE"));
        assert_eq!(settings.for_cluster("lab").zone, None);
        assert!(settings.parse_clusters("x:zone=DE;rm -rf", None).is_err());
        assert!(settings.parse_clusters("x:zone=D E", None).is_err());
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let mut settings = CarbonSettings::default();
        let err = settings
            .parse_clusters("prod:region=mars", None)
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown grid region \"mars\""),
            "{err}"
        );
        let err = settings.parse_clusters("prod:pue=0.5", None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("pue must be a number between 1.0 and 3.0"),
            "{err}"
        );
        assert!(settings.parse_clusters("prod", None).is_err());
        assert!(settings.parse_clusters("prod:colour=red", None).is_err());
    }
}
