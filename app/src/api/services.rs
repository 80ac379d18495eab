//! Server functions for the service registry, and the data they exchange.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{AppError, Field, ServiceName, TeamName};

/// A registered service as the UI lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub team: TeamName,
    pub name: ServiceName,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// A team and how many services it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamSummary {
    pub name: TeamName,
    pub service_count: i64,
}

/// Parses the registration form at the boundary; errors name the field.
pub fn parse_registration(team: &str, name: &str) -> Result<(TeamName, ServiceName), AppError> {
    let team = TeamName::parse(team.trim()).map_err(|e| AppError::invalid(Field::Team, e))?;
    let name = ServiceName::parse(name.trim()).map_err(|e| AppError::invalid(Field::Name, e))?;
    Ok((team, name))
}

#[server(prefix = "/api/fn", endpoint = "list_services")]
pub async fn list_services() -> Result<Vec<ServiceSummary>, AppError> {
    // The catalogue is org-wide: any signed-in person or token.
    super::auth::principal()?;
    super::backend::backend()?.list_services().await
}

#[server(prefix = "/api/fn", endpoint = "register_service")]
pub async fn register_service(team: String, name: String) -> Result<ServiceSummary, AppError> {
    let (team, name) = parse_registration(&team, &name)?;
    super::backend::backend()?
        .register_service(&super::auth::principal()?, team, name)
        .await
}

#[server(prefix = "/api/fn", endpoint = "list_teams")]
pub async fn list_teams() -> Result<Vec<TeamSummary>, AppError> {
    super::auth::principal()?;
    super::backend::backend()?.list_teams().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_errors_name_the_field() {
        assert_eq!(
            parse_registration("payments", "Bad_Name")
                .err()
                .and_then(|e| e.field()),
            Some(Field::Name)
        );
        assert_eq!(
            parse_registration("", "web").err().and_then(|e| e.field()),
            Some(Field::Team)
        );
        let ok =
            parse_registration(" payments ", "web").map(|(t, n)| (t.to_string(), n.to_string()));
        assert_eq!(ok, Ok(("payments".to_owned(), "web".to_owned())));
    }

    #[test]
    fn error_text_is_specific() {
        let err = parse_registration("payments", "Web")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("Service name: may contain only lowercase letters (a-z), digits (0-9) and '-'; found 'W'")
        );
    }
}
