//! Typed path extractors for the REST API: `/services/{team}/{service}/{environment}[/...]`
//! arrives as one parsed [`ServiceRef`], or a 404 naming the part that cannot exist.

use app::api::ServiceRef;
use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};

use super::error::ApiError;

/// `/{team}/{service}/{environment}` as one value.
pub struct ServicePath(pub ServiceRef);

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
