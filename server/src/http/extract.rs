//! Typed extractors for the REST API: `/services/{team}/{service}/{environment}[/...]` arrives
//! as one parsed [`ServiceRef`], or a 404 naming the part that cannot exist; a query string as
//! [`ApiQuery`], refused in the API's JSON error shape.

use app::api::{spec::Environment, ServiceName, ServiceRef, TeamName};
use axum::{
    extract::{FromRequestParts, Path, Query},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `/{team}/{service}/{environment}` as one value.
pub struct ServicePath(pub ServiceRef);

/// [`ServicePath`]'s parts as the API description states them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Only described, never built: ServicePath parses the path.
pub struct ServicePathParams {
    /// The team.
    team: TeamName,
    /// The service.
    service: ServiceName,
    /// `dev`, `staging`, `prod` or a preview `pr-<number>`.
    environment: Environment,
}

/// [`ServicePodPath`]'s parts as the API description states them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Only described, never built: ServicePodPath parses the path.
pub struct ServicePodPathParams {
    /// The team.
    team: TeamName,
    /// The service.
    service: ServiceName,
    /// `dev`, `staging`, `prod` or a preview `pr-<number>`.
    environment: Environment,
    /// One of the service's pods (as `GET .../pods` lists them).
    pod: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ServicePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((team, service, environment)) =
            Path::<(String, String, String)>::from_request_parts(parts, state).await?;
        Ok(Self(ServiceRef::parse(&team, &service, &environment)?))
    }
}

/// `/{team}/{service}/{environment}/pods/{pod}/...`: the service and one pod name.
pub struct ServicePodPath {
    pub service: ServiceRef,
    pub pod: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ServicePodPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((team, service, environment, pod)) =
            Path::<(String, String, String, String)>::from_request_parts(parts, state).await?;
        Ok(Self {
            service: ServiceRef::parse(&team, &service, &environment)?,
            pod,
        })
    }
}

/// A query string for a REST handler: a string that does not fit is a 400 in the API's JSON
/// shape (`{"error": "bad_query", ...}`), as every other refusal of the API.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}
