//! [`ServiceRef`]: one service of one team in one environment, parsed once at the boundary
//! (REST path extractor, server functions) and passed as one typed value from there on.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::{
    spec::{Environment, ServiceSpec},
    AppError, ServiceName, TeamName,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceRef {
    pub team: TeamName,
    pub service: ServiceName,
    pub environment: Environment,
}

impl ServiceRef {
    /// Parses the three parts as they arrive in a URL or a form. A part that cannot name
    /// anything Canopy stores is reported as not found, saying what is allowed.
    pub fn parse(team: &str, service: &str, environment: &str) -> Result<Self, AppError> {
        let team = TeamName::parse(team).map_err(|error| AppError::NotFound {
            what: format!("Team {team:?} (a team name {error})"),
        })?;
        let service = ServiceName::parse(service).map_err(|error| AppError::NotFound {
            what: format!("Service {service:?} (a service name {error})"),
        })?;
        let environment = parse_environment(environment)?;
        Ok(Self {
            team,
            service,
            environment,
        })
    }

    /// The service a spec describes.
    pub fn of(spec: &ServiceSpec) -> Self {
        Self {
            team: spec.team.clone(),
            service: spec.name.clone(),
            environment: spec.environment,
        }
    }

    /// The Kubernetes namespace Canopy deploys this service into: `<team>-<environment>`.
    pub fn namespace(&self) -> String {
        format!("{}-{}", self.team, self.environment.as_str())
    }
}

/// `dev`, `staging`, `prod` or a preview `pr-<number>`; anything else is not found, with the
/// allowed values.
pub fn parse_environment(raw: &str) -> Result<Environment, AppError> {
    Environment::parse(raw).ok_or_else(|| AppError::NotFound {
        what: format!("Environment {raw:?} (use dev, staging, prod or pr-<number>)"),
    })
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} in {}",
            self.team,
            self.service,
            self.environment.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_parts_once() {
        let service = ServiceRef::parse("payments", "web", "prod").expect("valid");
        assert_eq!(service.team.as_str(), "payments");
        assert_eq!(service.service.as_str(), "web");
        assert_eq!(service.environment, Environment::Prod);
        assert_eq!(service.namespace(), "payments-prod");
        assert_eq!(service.to_string(), "payments/web in prod");
    }

    #[test]
    fn each_bad_part_is_named_with_what_is_allowed() {
        let message = |t: &str, s: &str, e: &str| match ServiceRef::parse(t, s, e) {
            Err(AppError::NotFound { what }) => what,
            other => panic!("expected NotFound, got {other:?}"),
        };
        assert!(message("Pay", "web", "dev").starts_with("Team \"Pay\""));
        assert!(message("pay", "web_1", "dev").contains("lowercase letters"));
        assert!(message("pay", "web", "qa").contains("use dev, staging, prod or pr-<number>"));
    }
}
