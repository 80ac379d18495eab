//! Server functions for deploying a service, and the form and view types they exchange.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::ServiceRef;
use super::{
    deploys::{DeployRecord, LiveRollout},
    spec::{RawAutoscaling, RawRoute, RawServiceSpec, ServiceSpec, SpecError},
    AppError,
};

/// Secret values by key, as typed in the form; they go to a Kubernetes Secret only.
pub type SecretValues = BTreeMap<String, String>;

/// What the service page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceOverview {
    pub team: String,
    pub service: String,
    pub environment: String,
    /// The spec of the newest deploy, to pre-fill the form.
    pub current: Option<RawServiceSpec>,
    pub live: Option<LiveRollout>,
    pub history: Vec<DeployRecord>,
    /// The cluster is Canopy's sandbox: pods are simulated.
    pub sandbox: bool,
    /// Why deploys are not possible right now, if they are not.
    pub cluster_problem: Option<String>,
    /// What the signed-in person may do here (the page offers only that; the server checks
    /// again whatever the page offers).
    #[serde(default)]
    pub may_deploy: bool,
    #[serde(default)]
    pub may_delete: bool,
}

/// One object in a deploy preview.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectPreview {
    pub kind: String,
    pub name: String,
    pub created: bool,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployPreview {
    pub objects: Vec<ObjectPreview>,
    pub warnings: Vec<String>,
    /// The form that was previewed, to deploy exactly that.
    pub form: DeployForm,
}

/// The deploy form as submitted (every field a string, as browsers send them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployForm {
    pub team: String,
    pub name: String,
    pub environment: String,
    pub image: String,
    pub port: String,
    pub size: String,
    /// `fixed` or `auto`.
    pub scaling: String,
    pub replicas: String,
    pub min: String,
    pub max: String,
    pub target_cpu_percent: String,
    /// `KEY=value` per line.
    pub env: String,
    /// `KEY=value` per line; values go to a Kubernetes Secret only.
    pub secrets: String,
    pub route_host: String,
    pub route_path: String,
    pub health_check: String,
}

fn spec_error(field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn parse_number<T: std::str::FromStr>(
    field: &str,
    raw: &str,
    errors: &mut Vec<SpecError>,
) -> Option<T> {
    match raw.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(spec_error(
                field,
                format!("{:?} is not a whole number", raw.trim()),
            ));
            None
        }
    }
}

fn parse_pairs(field: &str, raw: &str, errors: &mut Vec<SpecError>) -> BTreeMap<String, String> {
    let mut pairs = BTreeMap::new();
    for (i, line) in raw.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) => {
                pairs.insert(key.trim().to_owned(), value.to_owned());
            }
            None => errors.push(spec_error(
                field,
                format!("line {} is not KEY=value", i + 1),
            )),
        }
    }
    pairs
}

impl DeployForm {
    /// The spec and the secret values, or every problem with the field it is about.
    pub fn parse(&self) -> Result<(ServiceSpec, SecretValues), Vec<SpecError>> {
        let mut errors = Vec::new();
        let port = parse_number::<u32>("port", &self.port, &mut errors).unwrap_or(0);
        let (replicas, autoscaling) = if self.scaling == "auto" {
            let min = parse_number("autoscaling.min", &self.min, &mut errors).unwrap_or(0);
            let max = parse_number("autoscaling.max", &self.max, &mut errors).unwrap_or(0);
            let target = parse_number(
                "autoscaling.target_cpu_percent",
                &self.target_cpu_percent,
                &mut errors,
            )
            .unwrap_or(0);
            (
                None,
                Some(RawAutoscaling {
                    min,
                    max,
                    target_cpu_percent: target,
                }),
            )
        } else {
            (
                Some(parse_number("replicas", &self.replicas, &mut errors).unwrap_or(0)),
                None,
            )
        };
        let env = parse_pairs("env", &self.env, &mut errors);
        let secret_values = parse_pairs("secrets", &self.secrets, &mut errors);
        let raw = RawServiceSpec {
            team: self.team.clone(),
            name: self.name.clone(),
            environment: self.environment.clone(),
            image: self.image.trim().to_owned(),
            port,
            size: self.size.clone(),
            replicas,
            autoscaling,
            env,
            secrets: secret_values.keys().cloned().collect(),
            route: (!self.route_host.trim().is_empty()).then(|| RawRoute {
                host: self.route_host.trim().to_owned(),
                path: (!self.route_path.trim().is_empty())
                    .then(|| self.route_path.trim().to_owned()),
            }),
            health_check: (!self.health_check.trim().is_empty())
                .then(|| self.health_check.trim().to_owned()),
        };
        match raw.validate() {
            Ok(spec) if errors.is_empty() => Ok((spec, secret_values)),
            Ok(_) => Err(errors),
            Err(spec_errors) => {
                // Number fields that did not parse are reported once, as not-a-number.
                let reported: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
                errors.extend(
                    spec_errors
                        .0
                        .into_iter()
                        .filter(|e| !reported.contains(&e.field)),
                );
                Err(errors)
            }
        }
    }

    /// The form pre-filled from an existing spec (secret values are never shown back).
    pub fn from_spec(raw: &RawServiceSpec) -> Self {
        let pairs = |map: &BTreeMap<String, String>| {
            map.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        Self {
            team: raw.team.clone(),
            name: raw.name.clone(),
            environment: raw.environment.clone(),
            image: raw.image.clone(),
            port: raw.port.to_string(),
            size: raw.size.clone(),
            scaling: if raw.autoscaling.is_some() {
                "auto"
            } else {
                "fixed"
            }
            .to_owned(),
            replicas: raw.replicas.unwrap_or(1).to_string(),
            min: raw
                .autoscaling
                .as_ref()
                .map_or("2".to_owned(), |a| a.min.to_string()),
            max: raw
                .autoscaling
                .as_ref()
                .map_or("4".to_owned(), |a| a.max.to_string()),
            target_cpu_percent: raw
                .autoscaling
                .as_ref()
                .map_or("70".to_owned(), |a| a.target_cpu_percent.to_string()),
            env: pairs(&raw.env),
            secrets: String::new(),
            route_host: raw
                .route
                .as_ref()
                .map(|r| r.host.clone())
                .unwrap_or_default(),
            route_path: raw
                .route
                .as_ref()
                .and_then(|r| r.path.clone())
                .unwrap_or_default(),
            health_check: raw.health_check.clone().unwrap_or_default(),
        }
    }
}

#[cfg(feature = "ssr")]
fn invalid(errors: Vec<SpecError>) -> AppError {
    AppError::InvalidSpec { errors }
}

#[server(prefix = "/api/fn", endpoint = "get_service_overview")]
pub async fn get_service_overview(
    team: String,
    service: String,
    environment: String,
) -> Result<ServiceOverview, AppError> {
    let service = ServiceRef::parse(&team, &service, &environment)?;
    super::backend::deploy_backend()?
        .overview(&super::auth::principal()?, service)
        .await
}

#[server(prefix = "/api/fn", endpoint = "preview_deploy")]
pub async fn preview_deploy(form: DeployForm) -> Result<DeployPreview, AppError> {
    let (spec, secrets) = form.parse().map_err(invalid)?;
    let mut preview = super::backend::deploy_backend()?
        .preview(
            &super::auth::principal()?,
            spec,
            secrets.into_keys().collect(),
        )
        .await?;
    // The form goes back so that exactly this spec is deployed, but never the secret values:
    // the browser still has them in its form (the Deploy button reads them from there).
    preview.form = DeployForm {
        secrets: String::new(),
        ..form
    };
    Ok(preview)
}

#[server(prefix = "/api/fn", endpoint = "deploy_service")]
pub async fn deploy_service(form: DeployForm) -> Result<DeployRecord, AppError> {
    let (spec, secrets) = form.parse().map_err(invalid)?;
    super::backend::deploy_backend()?
        .deploy(&super::auth::principal()?, spec, secrets)
        .await
}

#[server(prefix = "/api/fn", endpoint = "rollback_service")]
pub async fn rollback_service(
    team: String,
    service: String,
    environment: String,
    revision: i64,
) -> Result<DeployRecord, AppError> {
    let service = ServiceRef::parse(&team, &service, &environment)?;
    super::backend::deploy_backend()?
        .rollback(&super::auth::principal()?, service, revision)
        .await
}

#[server(prefix = "/api/fn", endpoint = "restart_service")]
pub async fn restart_service(
    team: String,
    service: String,
    environment: String,
) -> Result<DeployRecord, AppError> {
    let service = ServiceRef::parse(&team, &service, &environment)?;
    super::backend::deploy_backend()?
        .restart(&super::auth::principal()?, service)
        .await
}

#[server(prefix = "/api/fn", endpoint = "scale_service")]
pub async fn scale_service(
    team: String,
    service: String,
    environment: String,
    replicas: String,
) -> Result<DeployRecord, AppError> {
    let service = ServiceRef::parse(&team, &service, &environment)?;
    let replicas = replicas.trim().parse::<u16>().map_err(|_| {
        invalid(vec![SpecError {
            field: "replicas".to_owned(),
            message: format!("{:?} is not a whole number", replicas.trim()),
        }])
    })?;
    super::backend::deploy_backend()?
        .scale(&super::auth::principal()?, service, replicas)
        .await
}

#[server(prefix = "/api/fn", endpoint = "delete_service")]
pub async fn delete_service(
    team: String,
    service: String,
    environment: String,
    confirm: String,
) -> Result<Vec<String>, AppError> {
    let service = ServiceRef::parse(&team, &service, &environment)?;
    super::backend::deploy_backend()?
        .delete(&super::auth::principal()?, service, confirm)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> DeployForm {
        DeployForm {
            team: "payments".into(),
            name: "web".into(),
            environment: "dev".into(),
            image: "nginx:1.27".into(),
            port: "8080".into(),
            size: "S".into(),
            scaling: "fixed".into(),
            replicas: "2".into(),
            env: "LOG_LEVEL=info\n\n# comment\nMODE=a=b".into(),
            secrets: "API_KEY=s3cret".into(),
            ..DeployForm::default()
        }
    }

    #[test]
    fn a_good_form_gives_a_spec_and_separate_secret_values() {
        let (spec, secrets) = form().parse().expect("valid");
        assert_eq!(spec.env.get("MODE").map(String::as_str), Some("a=b"));
        assert_eq!(spec.secret_keys, vec!["API_KEY".to_owned()]);
        assert_eq!(secrets.get("API_KEY").map(String::as_str), Some("s3cret"));
        let round = DeployForm::from_spec(&spec.to_raw());
        assert!(
            round.secrets.is_empty(),
            "secret values are never shown back"
        );
        assert_eq!(round.parse().map(|(s, _)| s.env), Ok(spec.env));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut bad = form();
        bad.port = "eighty".into();
        bad.image = "nginx".into();
        bad.env = "NOEQUALS".into();
        let fields: Vec<_> = bad
            .parse()
            .expect_err("invalid")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["port", "env", "image"]);
    }
}
