//! The service spec: what a developer gives Canopy to deploy a service.
//!
//! [`RawServiceSpec`] is the wire and file shape (the `canopy.yaml` format, see
//! docs/CANOPY_YAML.md); [`RawServiceSpec::validate`] turns it into a [`ServiceSpec`] whose
//! fields are all valid, or lists every problem with the field it is about.

mod image;

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

pub use image::ImageRef;

use super::{ServiceName, TeamName};

/// One problem with a spec: the field (a path such as `env.LOG_LEVEL` or `autoscaling.max`)
/// and what is allowed.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in a spec, in field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct SpecErrors(pub Vec<SpecError>);

/// Where a service runs: one of the three standing environments, or the preview of a pull
/// request (`pr-<number>`, made and removed by GitHub-linked delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Environment {
    Dev,
    Staging,
    Prod,
    /// A pull request's preview: its number (1-999999).
    Preview(u32),
}

impl Environment {
    /// The standing environments (previews come and go with pull requests).
    pub const ALL: [Environment; 3] = [Environment::Dev, Environment::Staging, Environment::Prod];
    /// The largest pull request number a preview name takes (`pr-999999`).
    pub const MAX_PREVIEW: u32 = 999_999;

    pub fn parse(raw: &str) -> Option<Self> {
        if let Some(number) = raw.strip_prefix("pr-") {
            return number
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=Self::MAX_PREVIEW).contains(n) && !number.starts_with('0'))
                .map(Environment::Preview);
        }
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }

    /// `dev`, `staging`, `prod` or `pr-<number>`.
    pub fn as_str(self) -> std::borrow::Cow<'static, str> {
        match self {
            Environment::Dev => "dev".into(),
            Environment::Staging => "staging".into(),
            Environment::Prod => "prod".into(),
            Environment::Preview(number) => format!("pr-{number}").into(),
        }
    }

    pub fn is_preview(self) -> bool {
        matches!(self, Environment::Preview(_))
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl TryFrom<String> for Environment {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Environment::parse(&raw)
            .ok_or_else(|| format!("{raw:?} is not one of dev, staging, prod or pr-<number>"))
    }
}

/// The REST API's description (docs/openapi.json): the same rule as [`Environment::parse`].
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for Environment {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(ENVIRONMENT_PATTERN))
            .description(Some(
                "dev, staging, prod, or a pull request's preview pr-<number> (1-999999)",
            ))
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for Environment {
    fn name() -> std::borrow::Cow<'static, str> {
        "Environment".into()
    }
}

/// [`Environment::parse`]'s rule as a regular expression (the API description states it).
pub const ENVIRONMENT_PATTERN: &str = "^(dev|staging|prod|pr-[1-9][0-9]{0,5})$";

impl From<Environment> for String {
    fn from(environment: Environment) -> Self {
        environment.as_str().into_owned()
    }
}

/// T-shirt sizes; the CPU/memory each means is in one table on the server (`deploy/size.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Size {
    S,
    M,
    L,
    XL,
}

impl Size {
    pub const ALL: [Size; 4] = [Size::S, Size::M, Size::L, Size::XL];

    pub fn as_str(self) -> &'static str {
        match self {
            Size::S => "S",
            Size::M => "M",
            Size::L => "L",
            Size::XL => "XL",
        }
    }

    /// The next size up, suggested when a container runs out of memory.
    pub fn next(self) -> Option<Size> {
        match self {
            Size::S => Some(Size::M),
            Size::M => Some(Size::L),
            Size::L => Some(Size::XL),
            Size::XL => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Scaling {
    Fixed {
        replicas: u16,
    },
    Auto {
        min: u16,
        max: u16,
        target_cpu_percent: u8,
    },
}

impl Scaling {
    /// Most replicas the spec can run (for PodDisruptionBudget decisions).
    pub fn max_replicas(self) -> u16 {
        match self {
            Scaling::Fixed { replicas } => replicas,
            Scaling::Auto { max, .. } => max,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub host: String,
    pub path: String,
}

/// A validated spec. Secret values are never part of it: only the keys, whose values are
/// written to a Kubernetes Secret at deploy time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub team: TeamName,
    pub name: ServiceName,
    pub environment: Environment,
    pub image: ImageRef,
    pub port: u16,
    pub size: Size,
    pub scaling: Scaling,
    pub env: BTreeMap<String, String>,
    pub secret_keys: Vec<String>,
    pub route: Option<Route>,
    pub health_check_path: Option<String>,
}

impl ServiceSpec {
    /// The namespace Canopy deploys this service into: `<team>-<environment>`.
    pub fn namespace(&self) -> String {
        format!("{}-{}", self.team, self.environment.as_str())
    }

    /// Back to the file shape (for `canopy.yaml` export and form pre-filling).
    pub fn to_raw(&self) -> RawServiceSpec {
        let (replicas, autoscaling) = match self.scaling {
            Scaling::Fixed { replicas } => (Some(replicas), None),
            Scaling::Auto {
                min,
                max,
                target_cpu_percent,
            } => (
                None,
                Some(RawAutoscaling {
                    min,
                    max,
                    target_cpu_percent,
                }),
            ),
        };
        RawServiceSpec {
            team: self.team.to_string(),
            name: self.name.to_string(),
            environment: self.environment.to_string(),
            image: self.image.to_string(),
            port: u32::from(self.port),
            size: self.size.as_str().to_owned(),
            replicas,
            autoscaling,
            env: self.env.clone(),
            secrets: self.secret_keys.clone(),
            route: self.route.clone().map(|r| RawRoute {
                host: r.host,
                path: Some(r.path),
            }),
            health_check: self.health_check_path.clone(),
        }
    }
}

/// The `canopy.yaml` shape. Unknown fields are refused by the file parser.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServiceSpec {
    #[cfg_attr(feature = "ssr", schema(value_type = TeamName))]
    pub team: String,
    #[cfg_attr(feature = "ssr", schema(value_type = ServiceName))]
    pub name: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Environment))]
    pub environment: String,
    /// A container image reference (`registry/repository:tag` or `@sha256:...`).
    pub image: String,
    /// The port the container listens on.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 65535))]
    pub port: u32,
    /// `S`, `M`, `L` or `XL` (any case); default `S`.
    #[serde(default = "default_size")]
    #[cfg_attr(
        feature = "ssr",
        schema(default = "S", pattern = "^([sSmMlL]|[xX][lL])$")
    )]
    pub size: String,
    /// A fixed number of replicas (1-50); give this or `autoscaling`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 50))]
    pub replicas: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<RawAutoscaling>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RawRoute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
}

fn default_size() -> String {
    "S".to_owned()
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscaling {
    pub min: u16,
    pub max: u16,
    pub target_cpu_percent: u8,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

pub const MAX_REPLICAS: u16 = 50;
pub const MAX_ENV_VARS: usize = 100;

impl RawServiceSpec {
    /// Validates every field; all problems are reported together.
    pub fn validate(&self) -> Result<ServiceSpec, SpecErrors> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| {
            errors.push(SpecError {
                field: field.to_owned(),
                message,
            })
        };

        let team = TeamName::parse(self.team.trim())
            .map_err(|e| fail("team", e.to_string()))
            .ok();
        let name = ServiceName::parse(self.name.trim())
            .map_err(|e| fail("name", e.to_string()))
            .ok();
        let environment = Environment::parse(self.environment.trim()).or_else(|| {
            fail(
                "environment",
                format!(
                    "{:?} is not one of dev, staging, prod or pr-<number> (a pull request's preview)",
                    self.environment
                ),
            );
            None
        });
        let image = ImageRef::parse(self.image.trim())
            .map_err(|e| fail("image", e.0))
            .ok();
        let port = u16::try_from(self.port)
            .ok()
            .filter(|p| *p >= 1)
            .or_else(|| {
                fail(
                    "port",
                    format!("{} is not a port; allowed: 1-65535", self.port),
                );
                None
            });
        let size = Size::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(self.size.trim()))
            .or_else(|| {
                fail("size", format!("{:?} is not one of S, M, L, XL", self.size));
                None
            });
        let scaling = match (&self.replicas, &self.autoscaling) {
            (Some(_), Some(_)) => {
                fail(
                    "replicas",
                    "give either replicas or autoscaling, not both".to_owned(),
                );
                None
            }
            (Some(replicas), None) => {
                if (1..=MAX_REPLICAS).contains(replicas) {
                    Some(Scaling::Fixed {
                        replicas: *replicas,
                    })
                } else {
                    fail(
                        "replicas",
                        format!("{replicas} is out of range; allowed: 1-{MAX_REPLICAS}"),
                    );
                    None
                }
            }
            (None, Some(auto)) => {
                let mut ok = true;
                if !(1..=MAX_REPLICAS).contains(&auto.min) {
                    fail(
                        "autoscaling.min",
                        format!("{} is out of range; allowed: 1-{MAX_REPLICAS}", auto.min),
                    );
                    ok = false;
                }
                if auto.max < auto.min || auto.max > MAX_REPLICAS {
                    fail(
                        "autoscaling.max",
                        format!(
                            "{} is out of range; allowed: autoscaling.min ({}) to {MAX_REPLICAS}",
                            auto.max, auto.min
                        ),
                    );
                    ok = false;
                }
                if !(1..=100).contains(&auto.target_cpu_percent) {
                    fail(
                        "autoscaling.target_cpu_percent",
                        format!(
                            "{} is out of range; allowed: 1-100",
                            auto.target_cpu_percent
                        ),
                    );
                    ok = false;
                }
                ok.then_some(Scaling::Auto {
                    min: auto.min,
                    max: auto.max,
                    target_cpu_percent: auto.target_cpu_percent,
                })
            }
            (None, None) => Some(Scaling::Fixed { replicas: 1 }),
        };

        if self.env.len() > MAX_ENV_VARS {
            fail(
                "env",
                format!(
                    "has {} variables; at most {MAX_ENV_VARS} are allowed",
                    self.env.len()
                ),
            );
        }
        for (key, value) in &self.env {
            if let Err(message) = check_env_name(key) {
                fail(&format!("env.{key}"), message.0);
            }
            if value.len() > 32 * 1024 {
                fail(
                    &format!("env.{key}"),
                    "value is longer than 32 KiB".to_owned(),
                );
            }
        }
        for (i, key) in self.secrets.iter().enumerate() {
            if let Err(message) = check_env_name(key) {
                fail(&format!("secrets[{i}]"), message.0);
            } else if self.env.contains_key(key) {
                fail(
                    &format!("secrets[{i}]"),
                    format!("{key} is also a plain env variable; use one or the other"),
                );
            } else if self.secrets[..i].contains(key) {
                fail(&format!("secrets[{i}]"), format!("{key} is listed twice"));
            }
        }
        let route = self.route.as_ref().and_then(|route| {
            let host_ok = check_host(&route.host)
                .map_err(|m| fail("route.host", m.0))
                .is_ok();
            let path = route.path.clone().unwrap_or_else(|| "/".to_owned());
            let path_ok = check_http_path(&path)
                .map_err(|m| fail("route.path", m.0))
                .is_ok();
            (host_ok && path_ok).then(|| Route {
                host: route.host.clone(),
                path,
            })
        });
        let health_check_path = match &self.health_check {
            Some(path) => check_http_path(path)
                .map(|()| Some(path.clone()))
                .map_err(|m| fail("health_check", m.0))
                .unwrap_or(None),
            None => None,
        };

        match (team, name, environment, image, port, size, scaling) {
            (
                Some(team),
                Some(name),
                Some(environment),
                Some(image),
                Some(port),
                Some(size),
                Some(scaling),
            ) if errors.is_empty() => Ok(ServiceSpec {
                team,
                name,
                environment,
                image,
                port,
                size,
                scaling,
                env: self.env.clone(),
                secret_keys: self.secrets.clone(),
                route,
                health_check_path,
            }),
            _ => Err(SpecErrors(errors)),
        }
    }
}

/// Why one value was refused: a message that says what is allowed, shown next to its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Environment variable names: a letter or '_' then letters, digits or '_' (at most 128).
pub fn check_env_name(name: &str) -> Result<(), Refusal> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Refusal(format!(
            "{name:?} is not a valid variable name: use letters, digits and '_', not starting with a digit (at most 128)"
        )))
    }
}

fn check_host(host: &str) -> Result<(), Refusal> {
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if labels_ok {
        Ok(())
    } else {
        Err(Refusal(format!(
            "{host:?} is not a valid host name: lowercase labels of letters, digits and '-' separated by '.', e.g. shop.example.com"
        )))
    }
}

fn check_http_path(path: &str) -> Result<(), Refusal> {
    let valid = path.starts_with('/')
        && path.len() <= 1024
        && path
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '"' | '\\' | '<' | '>'));
    if valid {
        Ok(())
    } else {
        Err(Refusal(format!(
            "{path:?} is not a valid path: it must start with '/' and contain no spaces, '?' or '#'"
        )))
    }
}

#[cfg(test)]
mod tests;
