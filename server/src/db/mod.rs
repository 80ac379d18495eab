//! Database access: the connection pool, migrations, readiness and the embedded cluster.

pub mod embedded;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    ConnectOptions, Connection, PgConnection, PgPool,
};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("could not connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("could not apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

pub fn connect_options(url: &SecretString) -> Result<PgConnectOptions, DbError> {
    url.expose_secret()
        .parse::<PgConnectOptions>()
        .map(|options| options.log_statements(tracing::log::LevelFilter::Debug))
        .map_err(DbError::Url)
}

/// A pool that connects lazily, so Canopy serves (and reports not-ready) while the database is down.
pub fn pool(options: PgConnectOptions, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options)
}

pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether the database answers a trivial query within two seconds.
pub async fn is_ready(pool: &PgPool) -> bool {
    let check = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), check).await,
        Ok(Ok(1))
    )
}

/// Creates `database` through the maintenance database when it does not exist yet.
pub async fn ensure_database(
    maintenance_url: &SecretString,
    database: &str,
) -> Result<(), DbError> {
    let options = connect_options(maintenance_url)?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(DbError::Connect)?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // Identifiers cannot be bound; `database` is a constant of ours, quoted anyway.
        sqlx::query(&format!(
            "CREATE DATABASE \"{}\"",
            database.replace('"', "\"\"")
        ))
        .execute(&mut conn)
        .await?;
    }
    conn.close().await.map_err(DbError::Connect)?;
    Ok(())
}
