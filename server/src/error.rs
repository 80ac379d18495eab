//! The one place where server-side failures become what users see ([`AppError`]).
//!
//! Expected outcomes (bad input, conflicts) are built where they happen. Everything else goes
//! through [`internal`] or [`from_sqlx`]: logged with its whole chain and a reference, and shown
//! to users as that reference. A database that cannot be reached is reported as such.

use app::api::{AppError, Field};

use crate::{auth::AuthError, deploy::DeployError, energy::EnergyError};

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::BadCredentials | AuthError::InviteNotValid => AppError::Forbidden {
                message: error.to_string(),
            },
            AuthError::RateLimited { .. } => AppError::TooManyRequests {
                message: error.to_string(),
            },
            AuthError::Invalid { field, message } => AppError::InvalidSpec {
                errors: vec![app::api::spec::SpecError {
                    field: field.to_owned(),
                    message,
                }],
            },
            AuthError::UsernameTaken(_) => AppError::Conflict {
                field: Field::Name,
                message: error.to_string(),
            },
            AuthError::NotFound(what) => AppError::NotFound { what },
            AuthError::Database(error) => from_sqlx(error),
            // The session store is Canopy's PostgreSQL: failing to reach it is the database
            // being unavailable, or the pool being busy.
            AuthError::Session(tower_sessions::session::Error::Store(error)) => {
                from_session_store(&error)
            }
            other => internal(other),
        }
    }
}

impl From<crate::reports::ReportError> for AppError {
    fn from(error: crate::reports::ReportError) -> Self {
        use crate::reports::ReportError;
        match error {
            ReportError::Invalid { field, message } => AppError::InvalidSpec {
                errors: vec![app::api::spec::SpecError {
                    field: field.to_owned(),
                    message,
                }],
            },
            ReportError::Forbidden(message) => AppError::Forbidden { message },
            ReportError::NotFound(what) => AppError::NotFound { what },
            ReportError::Energy(error) => error.into(),
            ReportError::Database(error) => from_sqlx(error),
            other => internal(other),
        }
    }
}

/// A Kubernetes API server that does not answer at all (connection refused, reset, timed out,
/// TLS), as opposed to one that answered with a refusal.
fn unreachable(error: &kube::Error) -> bool {
    matches!(error, kube::Error::HyperError(_) | kube::Error::Service(_))
}

impl From<DeployError> for AppError {
    fn from(error: DeployError) -> Self {
        use crate::deploy::apply::ApplyError;
        let cluster_down = |error: &dyn std::fmt::Display| AppError::NoCluster {
            reason: format!(
                "the Kubernetes API server does not answer ({error}); try again when it is back"
            ),
        };
        match error {
            DeployError::Kube(ref kube) if unreachable(kube) => cluster_down(kube),
            DeployError::Apply(
                ApplyError::Discovery(ref kube)
                | ApplyError::Object {
                    source: ref kube, ..
                },
            ) if unreachable(kube) => cluster_down(kube),
            DeployError::Apply(ref refused @ ApplyError::NotOurs { .. }) => AppError::Conflict {
                field: Field::Name,
                message: refused.to_string(),
            },
            DeployError::Apply(ref taken @ ApplyError::HostTaken { .. }) => AppError::Conflict {
                field: Field::Route,
                message: taken.to_string(),
            },
            DeployError::NoCluster { reason } => AppError::NoCluster { reason },
            DeployError::NotFound { what } => AppError::NotFound { what },
            DeployError::InvalidInput { field, message } => {
                AppError::InvalidInput { field, message }
            }
            DeployError::InvalidSpec { errors } => AppError::InvalidSpec { errors },
            DeployError::Conflict { field, message } => AppError::Conflict { field, message },
            DeployError::Database(error) => from_sqlx(error),
            other => internal(other),
        }
    }
}

impl From<EnergyError> for AppError {
    fn from(error: EnergyError) -> Self {
        match error {
            EnergyError::InvalidInput { field, message } => AppError::InvalidInput {
                field: match field {
                    "from" => Field::From,
                    "to" => Field::To,
                    _ => Field::Name,
                },
                message: format!("{field}: {message}"),
            },
            EnergyError::NotFound(what) => AppError::NotFound {
                what: what.to_owned(),
            },
            EnergyError::Database(error) => from_sqlx(error),
            other => internal(other),
        }
    }
}

impl From<crate::drift::DriftError> for AppError {
    fn from(error: crate::drift::DriftError) -> Self {
        use crate::drift::DriftError;
        match error {
            DriftError::InvalidInput { field, message } => AppError::InvalidInput {
                field: match field {
                    "source_path" => Field::SourcePath,
                    "ecosystem" => Field::Ecosystem,
                    "team" => Field::Team,
                    _ => Field::Name,
                },
                message,
            },
            DriftError::NotFound(what) => AppError::NotFound { what },
            DriftError::Forbidden(message) => AppError::Forbidden { message },
            DriftError::NoSource(message) => AppError::Conflict {
                field: Field::SourcePath,
                message,
            },
            DriftError::Database(error) => from_sqlx(error),
            other => internal(other),
        }
    }
}

/// GitHub-linked delivery's errors (one mapping, as for the other capabilities).
pub fn from_github(error: crate::github::GithubError) -> AppError {
    use crate::github::GithubError;
    match error {
        GithubError::InvalidInput { field, message } => AppError::InvalidInput {
            field: match field {
                "repo" => Field::Repo,
                "ref" | "branch" => Field::Ref,
                "path" => Field::Path,
                "image_template" => Field::ImageTemplate,
                "required_check" => Field::RequiredCheck,
                "team" => Field::Team,
                _ => Field::Name,
            },
            message,
        },
        GithubError::NotInstalled(_) | GithubError::NotConfigured => AppError::Conflict {
            field: Field::Repo,
            message: error.to_string(),
        },
        GithubError::NotFound(what) => AppError::NotFound { what },
        GithubError::Forbidden(message) => AppError::Forbidden { message },
        GithubError::Unavailable { .. } | GithubError::Refused { .. } => AppError::Upstream {
            message: error.to_string(),
        },
        GithubError::Database(error) => from_sqlx(error),
        other => internal(other),
    }
}

/// Maps a database failure: every pooled connection in use for the whole acquire wait is
/// `Busy` (Canopy is overloaded, the database is fine), connectivity problems are
/// `Unavailable`, the rest `Internal`.
pub fn from_sqlx(error: sqlx::Error) -> AppError {
    if matches!(error, sqlx::Error::PoolTimedOut) {
        tracing::warn!(error = %error, "database pool busy");
        return AppError::Busy;
    }
    if is_unavailable(&error) {
        tracing::warn!(error = %error, "database unavailable");
        return AppError::Unavailable;
    }
    internal(error)
}

/// The session store (tower-sessions-sqlx-store) hands its sqlx errors on as text only
/// (`session_store::Error::Backend(error.to_string())`): a pool timeout is recognised by
/// sqlx's own words for it; anything else from the store is the database being unreachable.
fn from_session_store(error: &tower_sessions::session_store::Error) -> AppError {
    match error {
        tower_sessions::session_store::Error::Backend(message)
            if *message == sqlx::Error::PoolTimedOut.to_string() =>
        {
            tracing::warn!(%error, "session store: database pool busy");
            AppError::Busy
        }
        _ => {
            tracing::warn!(%error, "session store unavailable");
            AppError::Unavailable
        }
    }
}

/// Logs an unexpected error with a reference users can quote.
pub fn internal(error: impl std::error::Error) -> AppError {
    let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(%reference, error = %chain, "internal error");
    AppError::Internal { reference }
}

fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01-57P03: shutdown / cannot connect now;
            // 3D000: the database does not exist (dropped or not created).
            code.starts_with("08") || code.starts_with("57P") || code == "3D000"
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_pool_is_not_an_unreachable_database() {
        assert_eq!(from_sqlx(sqlx::Error::PoolTimedOut), AppError::Busy);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(from_sqlx(sqlx::Error::Io(refused)), AppError::Unavailable);
        assert_eq!(from_sqlx(sqlx::Error::PoolClosed), AppError::Unavailable);
    }

    #[test]
    fn the_session_store_tells_busy_from_unreachable() {
        use tower_sessions::session_store::Error;
        let busy = Error::Backend(sqlx::Error::PoolTimedOut.to_string());
        assert_eq!(from_session_store(&busy), AppError::Busy);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let down = Error::Backend(sqlx::Error::Io(refused).to_string());
        assert_eq!(from_session_store(&down), AppError::Unavailable);
    }

    #[test]
    fn other_failures_get_a_reference_not_details() {
        match from_sqlx(sqlx::Error::RowNotFound) {
            AppError::Internal { reference } => assert_eq!(reference.len(), 12),
            other => panic!("expected Internal, got {other:?}"),
        }
    }
}
