//! Typed settings for the `canopy` server, read from `CANOPY_*` environment variables in one place.

use std::{net::SocketAddr, path::PathBuf};

use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is not valid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
}

/// Where the database comes from.
#[derive(Debug, Clone)]
pub enum DatabaseSettings {
    /// Use this database; start nothing.
    External { url: SecretString },
    /// Start a private PostgreSQL cluster under `data_dir` and stop it on exit.
    Embedded(EmbeddedSettings),
}

#[derive(Debug, Clone)]
pub struct EmbeddedSettings {
    /// Canopy's data directory; the cluster lives in `<data_dir>/postgres`.
    pub data_dir: PathBuf,
    /// Where `initdb` and `pg_ctl` are; found automatically when unset.
    pub pg_bin_dir: Option<PathBuf>,
    /// The loopback port for the cluster; a free one when unset.
    pub port: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen_addr: SocketAddr,
    pub database: DatabaseSettings,
    /// The built site (the `pkg/` bundle and `manifest.json`).
    pub site_root: PathBuf,
    /// Maximum database connections in the pool.
    pub db_max_connections: u32,
    /// Bearer token for the REST API (`/api/v1`); the API is disabled without one.
    pub api_token: Option<SecretString>,
}

impl Settings {
    /// Reads settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let listen_addr = match lookup("CANOPY_LISTEN_ADDR") {
            Some(value) => value.parse().map_err(|e| ConfigError::Invalid {
                var: "CANOPY_LISTEN_ADDR",
                reason: format!("expected IP:PORT such as 127.0.0.1:3000 ({e})"),
                value,
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        let database = match lookup("DATABASE_URL").filter(|url| !url.is_empty()) {
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(ConfigError::Invalid {
                        var: "DATABASE_URL",
                        value: "<redacted>".to_owned(),
                        reason: "expected a postgres:// or postgresql:// URL".to_owned(),
                    });
                }
                DatabaseSettings::External {
                    url: SecretString::from(url),
                }
            }
            None => DatabaseSettings::Embedded(EmbeddedSettings {
                data_dir: lookup("CANOPY_DATA_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(".canopy")),
                pg_bin_dir: lookup("CANOPY_PG_BIN_DIR").map(PathBuf::from),
                port: match lookup("CANOPY_PG_PORT") {
                    Some(value) => Some(value.parse().map_err(|_| ConfigError::Invalid {
                        var: "CANOPY_PG_PORT",
                        reason: "expected a port number 1-65535".to_owned(),
                        value,
                    })?),
                    None => None,
                },
            }),
        };
        let site_root = lookup("CANOPY_SITE_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(default_site_root);
        let db_max_connections = match lookup("CANOPY_DB_MAX_CONNECTIONS") {
            Some(value) => {
                value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError::Invalid {
                        var: "CANOPY_DB_MAX_CONNECTIONS",
                        reason: "expected a whole number above 0".to_owned(),
                        value,
                    })?
            }
            None => 10,
        };
        let api_token = match lookup("CANOPY_API_TOKEN").filter(|t| !t.is_empty()) {
            Some(token) if token.len() < 16 => {
                return Err(ConfigError::Invalid {
                    var: "CANOPY_API_TOKEN",
                    value: "<redacted>".to_owned(),
                    reason: "must be at least 16 characters".to_owned(),
                })
            }
            Some(token) => Some(SecretString::from(token)),
            None => None,
        };
        Ok(Self {
            listen_addr,
            database,
            site_root,
            db_max_connections,
            api_token,
        })
    }
}

/// Energy settings (docs/ENERGY.md), read apart from [`Settings`] so existing constructors of
/// `Settings` stay valid. The type is the energy capability's own (config depends on energy,
/// never the other way); it is read from the environment here.
pub use crate::energy::EnergySettings;

impl EnergySettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// `CANOPY_ENERGY_RETENTION_DAYS` (default 7), `CANOPY_ENERGY_PUE` (default 1.2),
    /// `CANOPY_ENERGY_GRID_REGION` (default `world`), `CANOPY_ENERGY_GRID_G_PER_KWH` (overrides
    /// the region's figure), `CANOPY_ENERGY_GRID_ZONE` (Electricity Maps zone of clusters not
    /// listed; default: the region when it is a country code), `CANOPY_ENERGY_CLUSTERS`
    /// (`name:region=..,pue=..,grid_g_per_kwh=..,zone=..;...`), `CANOPY_ELECTRICITY_MAPS_TOKEN`
    /// (enables live intensity) and `CANOPY_ELECTRICITY_MAPS_URL` (default
    /// `https://api.electricitymap.org`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use crate::energy::carbon::{CarbonFactors, CarbonSettings, DEFAULT_REGION};
        let invalid = |var: &'static str, value: String, reason: String| ConfigError::Invalid {
            var,
            value,
            reason,
        };
        let retention_days = match lookup("CANOPY_ENERGY_RETENTION_DAYS") {
            Some(value) => value
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=366).contains(d))
                .ok_or_else(|| {
                    invalid(
                        "CANOPY_ENERGY_RETENTION_DAYS",
                        value,
                        "expected whole days, 1 to 366".to_owned(),
                    )
                })?,
            None => 7,
        };
        let number = |var: &'static str| -> Result<Option<f64>, ConfigError> {
            lookup(var)
                .map(|value| {
                    value
                        .parse::<f64>()
                        .map_err(|e| invalid(var, value, e.to_string()))
                })
                .transpose()
        };
        let pue = number("CANOPY_ENERGY_PUE")?;
        let grid = number("CANOPY_ENERGY_GRID_G_PER_KWH")?;
        let region =
            lookup("CANOPY_ENERGY_GRID_REGION").unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let mut default = CarbonFactors::new(&region, pue, grid)
            .map_err(|e| invalid("CANOPY_ENERGY_GRID_REGION", region.clone(), e.to_string()))?;
        if let Some(zone) = lookup("CANOPY_ENERGY_GRID_ZONE").filter(|z| !z.trim().is_empty()) {
            default = default
                .with_zone(Some(zone.trim().to_owned()))
                .map_err(|e| invalid("CANOPY_ENERGY_GRID_ZONE", zone.clone(), e.to_string()))?;
        }
        let mut carbon = CarbonSettings {
            default,
            clusters: Default::default(),
        };
        if let Some(spec) = lookup("CANOPY_ENERGY_CLUSTERS") {
            carbon
                .parse_clusters(&spec, pue)
                .map_err(|e| invalid("CANOPY_ENERGY_CLUSTERS", spec.clone(), e.to_string()))?;
        }
        let electricity_maps =
            match lookup("CANOPY_ELECTRICITY_MAPS_TOKEN").filter(|t| !t.trim().is_empty()) {
                None => None,
                Some(token) => {
                    let url = lookup("CANOPY_ELECTRICITY_MAPS_URL")
                        .filter(|u| !u.trim().is_empty())
                        .unwrap_or_else(|| crate::energy::grid::DEFAULT_URL.to_owned());
                    match reqwest::Url::parse(url.trim()) {
                        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                        _ => {
                            return Err(invalid(
                                "CANOPY_ELECTRICITY_MAPS_URL",
                                url,
                                "expected an http(s) URL such as https://api.electricitymap.org"
                                    .to_owned(),
                            ))
                        }
                    }
                    Some(crate::energy::grid::ElectricityMapsSettings {
                        token: secrecy::SecretString::from(token.trim().to_owned()),
                        url: url.trim().to_owned(),
                    })
                }
            };
        Ok(Self {
            retention_days,
            carbon,
            electricity_maps,
        })
    }
}

/// Where the Kubernetes cluster comes from, read apart from [`Settings`] (like
/// [`EnergySettings`]). The first that applies: `CANOPY_KUBECONFIG`, the first file in
/// `KUBECONFIG`, in-cluster (`KUBERNETES_SERVICE_HOST`), `~/.kube/config`; with none of them,
/// Canopy's sandbox (docs/SANDBOX.md) unless `CANOPY_SANDBOX=off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSettings {
    Kubeconfig(PathBuf),
    InCluster,
    Sandbox(SandboxSettings),
    /// No cluster: deploys are refused with a message saying how to configure one.
    None,
}

/// The local control plane (`scripts/kube-testenv.sh`) plus the in-process node simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    /// `<CANOPY_DATA_DIR>/sandbox`: the control plane's state, logs and kubeconfig.
    pub dir: PathBuf,
    /// `CANOPY_KUBE_TESTENV`, else `scripts/kube-testenv.sh` of this checkout.
    pub testenv_script: PathBuf,
}

impl ClusterSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok(), |path| path.is_file())
    }

    /// Reads the settings through `lookup`; `file_exists` checks for `~/.kube/config`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        file_exists: impl Fn(&std::path::Path) -> bool,
    ) -> Result<Self, ConfigError> {
        let set = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());
        let sandbox = match set("CANOPY_SANDBOX").as_deref().map(str::trim) {
            None | Some("auto") => true,
            Some("off") => false,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: "CANOPY_SANDBOX",
                    value: set("CANOPY_SANDBOX").unwrap_or_default(),
                    reason:
                        "expected auto (start the sandbox when no cluster is configured) or off"
                            .to_owned(),
                })
            }
        };
        if let Some(path) = set("CANOPY_KUBECONFIG") {
            return Ok(Self::Kubeconfig(PathBuf::from(path)));
        }
        if let Some(first) = set("KUBECONFIG")
            .and_then(|list| list.split(':').find(|p| !p.is_empty()).map(PathBuf::from))
        {
            return Ok(Self::Kubeconfig(first));
        }
        if set("KUBERNETES_SERVICE_HOST").is_some() {
            return Ok(Self::InCluster);
        }
        if let Some(home) = set("HOME") {
            let default = PathBuf::from(home).join(".kube").join("config");
            if file_exists(&default) {
                return Ok(Self::Kubeconfig(default));
            }
        }
        if !sandbox {
            return Ok(Self::None);
        }
        let data_dir =
            set("CANOPY_DATA_DIR").map_or_else(|| PathBuf::from(".canopy"), PathBuf::from);
        Ok(Self::Sandbox(SandboxSettings {
            dir: data_dir.join("sandbox"),
            testenv_script: set("CANOPY_KUBE_TESTENV")
                .map_or_else(default_testenv_script, PathBuf::from),
        }))
    }
}

/// `scripts/kube-testenv.sh` in the working directory (run from the repository root), else in
/// the checkout this binary was built from.
fn default_testenv_script() -> PathBuf {
    let relative = PathBuf::from("scripts/kube-testenv.sh");
    if relative.is_file() {
        return std::path::absolute(&relative).unwrap_or(relative);
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/kube-testenv.sh"
    ))
}

/// `site/` next to the executable, where `scripts/build.sh` puts it.
fn default_site_root() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("site")))
        .unwrap_or_else(|| PathBuf::from("site"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|key| map.get(key).cloned())
    }

    #[test]
    fn defaults_work_on_a_laptop() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.listen_addr.to_string(), "127.0.0.1:3000");
        match s.database {
            DatabaseSettings::Embedded(e) => assert_eq!(e.data_dir, PathBuf::from(".canopy")),
            DatabaseSettings::External { .. } => panic!("expected the embedded database"),
        }
    }

    #[test]
    fn database_url_selects_an_external_database() {
        let s = settings(&[("DATABASE_URL", "postgres://u@db/canopy")]).expect("valid");
        assert!(matches!(s.database, DatabaseSettings::External { .. }));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = settings(&[("CANOPY_LISTEN_ADDR", "localhost")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("CANOPY_LISTEN_ADDR=\"localhost\" is not valid"),
            "{err}"
        );
        let err = settings(&[("DATABASE_URL", "mysql://x")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("DATABASE_URL") && !err.contains("mysql"),
            "{err}"
        );
        assert!(settings(&[("CANOPY_PG_PORT", "99999")]).is_err());
        assert!(settings(&[("CANOPY_DB_MAX_CONNECTIONS", "0")]).is_err());
    }

    fn energy(vars: &[(&str, &str)]) -> Result<EnergySettings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EnergySettings::from_lookup(|key| map.get(key).cloned())
    }

    #[test]
    fn the_agent_service_account_is_namespace_slash_name_and_off_by_default() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(agent_identity_settings(env(&[])).unwrap(), None);
        let settings = agent_identity_settings(env(&[(
            "CANOPY_AGENT_SERVICE_ACCOUNT",
            "canopy/canopy-agent",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                settings.namespace.as_str(),
                settings.service_account.as_str(),
                settings.audience.as_str(),
                settings.cluster.as_str()
            ),
            ("canopy", "canopy-agent", "canopy", "default")
        );
        for bad in ["canopy-agent", "canopy/", "/x", "Canopy/agent", "a/b/c"] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(Box::new([("CANOPY_AGENT_SERVICE_ACCOUNT", bad)]));
            let error = agent_identity_settings(env(pairs)).unwrap_err().to_string();
            assert!(
                error.contains("CANOPY_AGENT_SERVICE_ACCOUNT"),
                "{bad}: {error}"
            );
        }
        let error = agent_identity_settings(env(&[
            ("CANOPY_AGENT_SERVICE_ACCOUNT", "canopy/agent"),
            ("CANOPY_AGENT_CLUSTER", "Prod EU"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("CANOPY_AGENT_CLUSTER"));
    }

    #[test]
    fn live_grid_intensity_is_on_only_with_a_token_and_zones_come_from_clusters() {
        use secrecy::ExposeSecret;
        assert!(energy(&[]).expect("defaults").electricity_maps.is_none());
        let s = energy(&[
            ("CANOPY_ELECTRICITY_MAPS_TOKEN", "em-token"),
            ("CANOPY_ENERGY_GRID_REGION", "FR"),
            (
                "CANOPY_ENERGY_CLUSTERS",
                "prod:region=aws-eu-central-1,zone=DE",
            ),
        ])
        .expect("valid");
        let em = s.electricity_maps.expect("configured");
        assert_eq!(em.token.expose_secret(), "em-token");
        assert_eq!(em.url, "https://api.electricitymap.org");
        assert_eq!(s.carbon.zones(), vec!["DE".to_owned(), "FR".to_owned()]);
        let err = energy(&[
            ("CANOPY_ELECTRICITY_MAPS_TOKEN", "em-token"),
            ("CANOPY_ELECTRICITY_MAPS_URL", "ftp://example"),
        ])
        .expect_err("bad URL");
        assert!(
            err.to_string().contains("CANOPY_ELECTRICITY_MAPS_URL"),
            "{err}"
        );
        let err = energy(&[("CANOPY_ENERGY_GRID_ZONE", "D E")]).expect_err("bad zone");
        assert!(err.to_string().contains("CANOPY_ENERGY_GRID_ZONE"), "{err}");
    }
}

/// Sign-in settings (docs/SECURITY.md), read apart from [`Settings`] like [`EnergySettings`].
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// Where the first admin's password is written (`<dir>/initial-admin-password`).
    pub data_dir: PathBuf,
    /// `CANOPY_PUBLIC_URL`: how people reach Canopy. `https://` makes session cookies `Secure`;
    /// its origin is the one state-changing requests must come from, and invite links use it.
    pub public_url: Option<url::Url>,
    /// Sign-in with GitHub (`CANOPY_GITHUB_CLIENT_ID`, `CANOPY_GITHUB_CLIENT_SECRET` or
    /// `CANOPY_GITHUB_CLIENT_SECRET_FILE`, `CANOPY_GITHUB_ORG`, `CANOPY_GITHUB_URL`,
    /// `CANOPY_GITHUB_API_URL`).
    pub github: Option<crate::auth::github::GithubSettings>,
}

fn url_setting(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<url::Url, ConfigError> {
    let value = lookup(var)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned());
    url::Url::parse(&value).map_err(|e| ConfigError::Invalid {
        var,
        reason: format!("expected a URL ({e})"),
        value,
    })
}

fn github_settings(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::auth::github::GithubSettings>, ConfigError> {
    let Some(client_id) = lookup("CANOPY_GITHUB_CLIENT_ID").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let secret =
        match (
            lookup("CANOPY_GITHUB_CLIENT_SECRET").filter(|v| !v.is_empty()),
            lookup("CANOPY_GITHUB_CLIENT_SECRET_FILE").filter(|v| !v.is_empty()),
        ) {
            (Some(secret), _) => secret,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| ConfigError::Invalid {
                    var: "CANOPY_GITHUB_CLIENT_SECRET_FILE",
                    reason: format!("cannot be read ({e})"),
                    value: path,
                })?,
            (None, None) => return Err(ConfigError::Invalid {
                var: "CANOPY_GITHUB_CLIENT_SECRET",
                value: String::new(),
                reason:
                    "is needed with CANOPY_GITHUB_CLIENT_ID (or CANOPY_GITHUB_CLIENT_SECRET_FILE)"
                        .to_owned(),
            }),
        };
    let org = lookup("CANOPY_GITHUB_ORG")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError::Invalid {
            var: "CANOPY_GITHUB_ORG",
            value: String::new(),
            reason: "is needed with CANOPY_GITHUB_CLIENT_ID: only its members may sign in"
                .to_owned(),
        })?;
    Ok(Some(crate::auth::github::GithubSettings {
        client_id,
        client_secret: SecretString::from(secret),
        org,
        web_url: url_setting(lookup, "CANOPY_GITHUB_URL", "https://github.com")?,
        api_url: url_setting(lookup, "CANOPY_GITHUB_API_URL", "https://api.github.com")?,
        refresh_every: match lookup("CANOPY_GITHUB_REFRESH_MINUTES").filter(|v| !v.is_empty()) {
            Some(value) => time::Duration::minutes(
                value
                    .parse::<u16>()
                    .ok()
                    .filter(|m| *m > 0)
                    .map(i64::from)
                    .ok_or_else(|| ConfigError::Invalid {
                        var: "CANOPY_GITHUB_REFRESH_MINUTES",
                        reason: "expected a whole number of minutes above 0".to_owned(),
                        value: value.clone(),
                    })?,
            ),
            None => time::Duration::hours(1),
        },
    }))
}

impl IdentitySettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// `CANOPY_DATA_DIR` (default `.canopy`) and `CANOPY_PUBLIC_URL` (optional).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let public_url = match lookup("CANOPY_PUBLIC_URL").filter(|u| !u.is_empty()) {
            Some(value) => {
                let url = url::Url::parse(&value).map_err(|e| ConfigError::Invalid {
                    var: "CANOPY_PUBLIC_URL",
                    reason: format!("expected a URL such as https://canopy.example.com ({e})"),
                    value: value.clone(),
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(ConfigError::Invalid {
                        var: "CANOPY_PUBLIC_URL",
                        reason: "expected an http:// or https:// URL with a host".to_owned(),
                        value,
                    });
                }
                Some(url)
            }
            None => None,
        };
        Ok(Self {
            data_dir: lookup("CANOPY_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".canopy")),
            public_url,
            github: github_settings(&lookup)?,
        })
    }

    /// Session cookies are `Secure` when Canopy is served over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|url| url.scheme() == "https")
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[test]
    fn https_public_urls_make_cookies_secure_and_bad_ones_are_named() {
        let settings = IdentitySettings::from_lookup(|key| {
            (key == "CANOPY_PUBLIC_URL").then(|| "https://canopy.example.com".to_owned())
        })
        .expect("valid");
        assert!(settings.secure_cookies());
        let plain = IdentitySettings::from_lookup(|_| None).expect("valid");
        assert!(!plain.secure_cookies());
        assert_eq!(plain.data_dir, PathBuf::from(".canopy"));
        let bad = IdentitySettings::from_lookup(|key| {
            (key == "CANOPY_PUBLIC_URL").then(|| "canopy.example.com".to_owned())
        });
        assert!(matches!(
            bad,
            Err(ConfigError::Invalid {
                var: "CANOPY_PUBLIC_URL",
                ..
            })
        ));
    }
}

/// The weekly e-mail's settings: `CANOPY_SMTP_URL` (none: `.eml` files in
/// `<data dir>/outbox/`), `CANOPY_SMTP_USER` with `CANOPY_SMTP_PASSWORD` or
/// `CANOPY_SMTP_PASSWORD_FILE`, `CANOPY_MAIL_FROM` (`Canopy <canopy@localhost>`),
/// `CANOPY_WEEKLY_EMAIL` (`on`, or `off`: only the portal's manual sends).
pub fn mail_settings(
    lookup: impl Fn(&str) -> Option<String>,
    data_dir: &std::path::Path,
) -> Result<crate::reports::MailSettings, ConfigError> {
    let set = |key: &str| lookup(key).filter(|v| !v.is_empty());
    let mut settings = crate::reports::MailSettings::with_data_dir(data_dir);
    if let Some(from) = set("CANOPY_MAIL_FROM") {
        settings.from = from.parse().map_err(|e| ConfigError::Invalid {
            var: "CANOPY_MAIL_FROM",
            reason: format!("expected an address such as Canopy <canopy@example.com> ({e})"),
            value: from.clone(),
        })?;
    }
    if let Some(url) = set("CANOPY_SMTP_URL") {
        let password = match (
            set("CANOPY_SMTP_PASSWORD"),
            set("CANOPY_SMTP_PASSWORD_FILE"),
        ) {
            (Some(password), _) => Some(password),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map(|s| s.trim().to_owned())
                    .map_err(|e| ConfigError::Invalid {
                        var: "CANOPY_SMTP_PASSWORD_FILE",
                        reason: format!("cannot be read ({e})"),
                        value: path,
                    })?,
            ),
            (None, None) => None,
        };
        settings.smtp = Some(crate::reports::transport::SmtpSettings {
            url: SecretString::from(url),
            user: set("CANOPY_SMTP_USER"),
            password: password.map(SecretString::from),
        });
    }
    settings.scheduled = match set("CANOPY_WEEKLY_EMAIL").as_deref() {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => {
            return Err(ConfigError::Invalid {
                var: "CANOPY_WEEKLY_EMAIL",
                value: other.to_owned(),
                reason: "use on or off".to_owned(),
            })
        }
    };
    Ok(settings)
}

#[cfg(test)]
mod mail_tests {
    use super::*;

    #[test]
    fn without_smtp_messages_go_to_the_outbox_folder() {
        let settings = mail_settings(|_| None, std::path::Path::new("/data")).expect("defaults");
        assert!(settings.smtp.is_none());
        assert_eq!(settings.outbox_dir, PathBuf::from("/data/outbox"));
        assert_eq!(settings.domain(), "localhost");
        assert!(settings.scheduled);
    }

    #[test]
    fn bad_mail_settings_name_the_variable() {
        for (var, value) in [
            ("CANOPY_MAIL_FROM", "not an address"),
            ("CANOPY_WEEKLY_EMAIL", "sometimes"),
        ] {
            let result = mail_settings(
                |key| (key == var).then(|| value.to_owned()),
                std::path::Path::new("/data"),
            );
            match result {
                Err(ConfigError::Invalid { var: named, .. }) => assert_eq!(named, var),
                Ok(_) => panic!("{var}={value} was accepted"),
            }
        }
    }
}

/// Dependency drift settings (docs/DRIFT.md), read apart from [`Settings`] like
/// [`EnergySettings`]: registry base URLs, the HTTP cache's TTL, the schedule and limits.
#[derive(Debug, Clone)]
pub struct DriftSettings {
    pub crates_index: url::Url,
    pub npm: url::Url,
    pub pypi: url::Url,
    pub go_proxy: url::Url,
    pub docker: url::Url,
    pub github_api: url::Url,
    /// Registry answers younger than this are used without asking again.
    pub cache_ttl: std::time::Duration,
    /// How often every service with a source is scanned (`None`: never on a schedule).
    pub scan_every: Option<std::time::Duration>,
    /// Scans that run at once on this replica.
    pub max_concurrent_scans: usize,
    /// Retries per registry request (with backoff).
    pub retries: usize,
    /// When set, source paths must lie under one of these directories.
    pub source_roots: Vec<PathBuf>,
}

impl DriftSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// `CANOPY_DRIFT_REGISTRY_URL` (every registry under one base: `<base>/crates`, `/npm`,
    /// `/pypi`, `/go`, `/docker`, `/github`, as a local double serves them), else one URL each:
    /// `CANOPY_DRIFT_CRATES_URL` (default `https://index.crates.io`), `CANOPY_DRIFT_NPM_URL`
    /// (`https://registry.npmjs.org`), `CANOPY_DRIFT_PYPI_URL` (`https://pypi.org`),
    /// `CANOPY_DRIFT_GO_URL` (`https://proxy.golang.org`), `CANOPY_DRIFT_DOCKER_URL`
    /// (`https://registry-1.docker.io`), `CANOPY_DRIFT_GITHUB_URL` (`https://api.github.com`);
    /// `CANOPY_DRIFT_CACHE_TTL_SECS` (3600), `CANOPY_DRIFT_SCAN_INTERVAL_HOURS` (24; 0 turns
    /// the schedule off), `CANOPY_DRIFT_MAX_CONCURRENT_SCANS` (2), `CANOPY_DRIFT_RETRIES` (3),
    /// `CANOPY_DRIFT_SOURCE_ROOTS` (`:`-separated directories source paths must lie under;
    /// unset: any directory).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let base = lookup("CANOPY_DRIFT_REGISTRY_URL").filter(|v| !v.is_empty());
        let registry = |var: &'static str, default: &str, under: &str| {
            let default = match &base {
                Some(base) => format!("{}/{under}", base.trim_end_matches('/')),
                None => default.to_owned(),
            };
            url_setting(&lookup, var, &default)
        };
        let crates_index = registry(
            "CANOPY_DRIFT_CRATES_URL",
            "https://index.crates.io",
            "crates",
        )?;
        let npm = registry("CANOPY_DRIFT_NPM_URL", "https://registry.npmjs.org", "npm")?;
        let pypi = registry("CANOPY_DRIFT_PYPI_URL", "https://pypi.org", "pypi")?;
        let go_proxy = registry("CANOPY_DRIFT_GO_URL", "https://proxy.golang.org", "go")?;
        let docker = registry(
            "CANOPY_DRIFT_DOCKER_URL",
            "https://registry-1.docker.io",
            "docker",
        )?;
        let github_api = registry(
            "CANOPY_DRIFT_GITHUB_URL",
            "https://api.github.com",
            "github",
        )?;
        let whole = |var: &'static str, default: u64, min: u64| -> Result<u64, ConfigError> {
            match lookup(var).filter(|v| !v.is_empty()) {
                Some(value) => value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= min)
                    .ok_or_else(|| ConfigError::Invalid {
                        var,
                        reason: format!("expected a whole number, at least {min}"),
                        value,
                    }),
                None => Ok(default),
            }
        };
        let hours = whole("CANOPY_DRIFT_SCAN_INTERVAL_HOURS", 24, 0)?;
        Ok(Self {
            crates_index,
            npm,
            pypi,
            go_proxy,
            docker,
            github_api,
            cache_ttl: std::time::Duration::from_secs(whole(
                "CANOPY_DRIFT_CACHE_TTL_SECS",
                3600,
                0,
            )?),
            scan_every: (hours > 0).then(|| std::time::Duration::from_secs(hours * 3600)),
            max_concurrent_scans: usize::try_from(whole(
                "CANOPY_DRIFT_MAX_CONCURRENT_SCANS",
                2,
                1,
            )?)
            .unwrap_or(2),
            retries: usize::try_from(whole("CANOPY_DRIFT_RETRIES", 3, 0)?).unwrap_or(3),
            source_roots: lookup("CANOPY_DRIFT_SOURCE_ROOTS")
                .map(|roots| {
                    roots
                        .split(':')
                        .filter(|r| !r.trim().is_empty())
                        .map(|r| PathBuf::from(r.trim()))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Every registry at one base URL (a local double).
    pub fn all_at(base: &str) -> Result<Self, ConfigError> {
        let base = base.to_owned();
        Self::from_lookup(move |key| (key == "CANOPY_DRIFT_REGISTRY_URL").then(|| base.clone()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod drift_tests {
    use super::*;

    #[test]
    fn drift_defaults_are_the_public_registries_daily() {
        let settings = DriftSettings::from_lookup(|_| None).unwrap();
        assert_eq!(settings.npm.as_str(), "https://registry.npmjs.org/");
        assert_eq!(
            settings.scan_every,
            Some(std::time::Duration::from_secs(86_400))
        );
        let local = DriftSettings::all_at("http://127.0.0.1:9/").unwrap();
        assert_eq!(local.pypi.as_str(), "http://127.0.0.1:9/pypi");
    }

    #[test]
    fn bad_drift_settings_name_the_variable() {
        let error = DriftSettings::from_lookup(|key| {
            (key == "CANOPY_DRIFT_MAX_CONCURRENT_SCANS").then(|| "0".to_owned())
        })
        .unwrap_err();
        assert!(error
            .to_string()
            .contains("CANOPY_DRIFT_MAX_CONCURRENT_SCANS"));
        let error = DriftSettings::from_lookup(|key| {
            (key == "CANOPY_DRIFT_NPM_URL").then(|| "not a url".to_owned())
        })
        .unwrap_err();
        assert!(error.to_string().contains("CANOPY_DRIFT_NPM_URL"));
    }
}

/// Node identity of agents in the portal's cluster (docs/INSTALL.md): off unless
/// `CANOPY_AGENT_SERVICE_ACCOUNT=<namespace>/<name>` names the agents' ServiceAccount;
/// `CANOPY_AGENT_TOKEN_AUDIENCE` (default `canopy`) is the audience their projected tokens
/// carry, `CANOPY_AGENT_CLUSTER` (default `default`) the cluster their batches are stored under.
pub fn agent_identity_settings(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::energy::agent_identity::AgentIdentitySettings>, ConfigError> {
    let Some(value) = lookup("CANOPY_AGENT_SERVICE_ACCOUNT").filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    };
    let invalid = |var: &'static str, value: String, reason: &str| ConfigError::Invalid {
        var,
        value,
        reason: reason.to_owned(),
    };
    let (namespace, service_account) = match value.trim().split_once('/') {
        Some((ns, name)) if label(ns) && label(name) => (ns.to_owned(), name.to_owned()),
        _ => {
            return Err(invalid(
                "CANOPY_AGENT_SERVICE_ACCOUNT",
                value,
                "expected <namespace>/<service account name>, such as canopy/canopy-agent",
            ))
        }
    };
    let audience = lookup("CANOPY_AGENT_TOKEN_AUDIENCE")
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "canopy".to_owned());
    let cluster = match lookup("CANOPY_AGENT_CLUSTER").map(|c| c.trim().to_owned()) {
        None => "default".to_owned(),
        Some(c) if label(&c) => c,
        Some(c) => {
            return Err(invalid(
                "CANOPY_AGENT_CLUSTER",
                c,
                "expected 1 to 63 characters of a-z, 0-9, '-' and '.'",
            ))
        }
    };
    Ok(Some(crate::energy::agent_identity::AgentIdentitySettings {
        namespace,
        service_account,
        audience,
        cluster,
    }))
}

/// GitHub-linked delivery (docs/GITHUB.md): `CANOPY_GITHUB_APP_ID`,
/// `CANOPY_GITHUB_APP_PRIVATE_KEY_FILE`, `CANOPY_GITHUB_WEBHOOK_SECRET` or
/// `CANOPY_GITHUB_WEBHOOK_SECRET_FILE`, and `CANOPY_GITHUB_API_URL` (shared with sign-in).
pub fn github_app_settings(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<crate::github::GithubAppSettings, ConfigError> {
    let api_url = url_setting(&lookup, "CANOPY_GITHUB_API_URL", "https://api.github.com")?;
    let read_file = |var: &'static str, path: String| {
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| ConfigError::Invalid {
                var,
                reason: format!("cannot be read ({e})"),
                value: path,
            })
    };
    let app = match lookup("CANOPY_GITHUB_APP_ID").filter(|v| !v.is_empty()) {
        None => None,
        Some(raw) => {
            let app_id = raw
                .parse::<u64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| ConfigError::Invalid {
                    var: "CANOPY_GITHUB_APP_ID",
                    reason: "expected the App's numeric id (GitHub → Settings → Developer settings → GitHub Apps)".to_owned(),
                    value: raw.clone(),
                })?;
            let path = lookup("CANOPY_GITHUB_APP_PRIVATE_KEY_FILE")
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::Invalid {
                    var: "CANOPY_GITHUB_APP_PRIVATE_KEY_FILE",
                    value: String::new(),
                    reason: "is needed with CANOPY_GITHUB_APP_ID: the App's private key (.pem)"
                        .to_owned(),
                })?;
            let pem = read_file("CANOPY_GITHUB_APP_PRIVATE_KEY_FILE", path.clone())?;
            if !pem.contains("PRIVATE KEY-----") {
                return Err(ConfigError::Invalid {
                    var: "CANOPY_GITHUB_APP_PRIVATE_KEY_FILE",
                    value: path,
                    reason: "is not a PEM private key".to_owned(),
                });
            }
            Some(crate::github::AppCredentials {
                app_id,
                private_key: SecretString::from(pem),
            })
        }
    };
    let webhook_secret = match (
        lookup("CANOPY_GITHUB_WEBHOOK_SECRET").filter(|v| !v.is_empty()),
        lookup("CANOPY_GITHUB_WEBHOOK_SECRET_FILE").filter(|v| !v.is_empty()),
    ) {
        (Some(secret), _) => Some(secret),
        (None, Some(path)) => Some(read_file("CANOPY_GITHUB_WEBHOOK_SECRET_FILE", path)?),
        (None, None) => None,
    };
    if let Some(secret) = &webhook_secret {
        if secret.len() < 16 {
            return Err(ConfigError::Invalid {
                var: "CANOPY_GITHUB_WEBHOOK_SECRET",
                value: "<redacted>".to_owned(),
                reason: "must be at least 16 characters".to_owned(),
            });
        }
    }
    let preview_ttl = match lookup("CANOPY_GITHUB_PREVIEW_TTL_HOURS").filter(|v| !v.is_empty()) {
        None => crate::github::DEFAULT_PREVIEW_TTL,
        Some(raw) => raw
            .parse::<u16>()
            .ok()
            .filter(|h| *h > 0)
            .map(|h| std::time::Duration::from_secs(u64::from(h) * 3600))
            .ok_or_else(|| ConfigError::Invalid {
                var: "CANOPY_GITHUB_PREVIEW_TTL_HOURS",
                reason: "expected a whole number of hours above 0".to_owned(),
                value: raw.clone(),
            })?,
    };
    Ok(crate::github::GithubAppSettings {
        api_url,
        app,
        webhook_secret: webhook_secret.map(SecretString::from),
        preview_ttl,
    })
}
