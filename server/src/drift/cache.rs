//! The PostgreSQL implementation of `canopy_drift::Cache`: registry answers (body, ETag,
//! Link, when fetched) shared by every replica. The library decides freshness from its TTL;
//! a cache that fails behaves as a miss (logged).

use async_trait::async_trait;
use canopy_drift::{Cache, CachedResponse};
use sqlx::PgPool;

pub struct PgCache {
    pool: PgPool,
}

impl PgCache {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl Cache for PgCache {
    async fn get(&self, key: &str) -> Option<CachedResponse> {
        let row = sqlx::query!(
            "SELECT body, etag, link, fetched_at FROM drift_http_cache WHERE key = $1",
            key
        )
        .fetch_optional(&self.pool)
        .await;
        match row {
            Ok(row) => row.map(|row| CachedResponse {
                body: row.body,
                etag: row.etag,
                link: row.link,
                stored_at: row.fetched_at,
            }),
            Err(error) => {
                tracing::warn!(%error, key, "drift cache read failed");
                None
            }
        }
    }

    async fn put(&self, key: &str, response: CachedResponse) {
        let written = sqlx::query!(
            r#"INSERT INTO drift_http_cache (key, body, etag, link, fetched_at)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (key) DO UPDATE
               SET body = EXCLUDED.body, etag = EXCLUDED.etag, link = EXCLUDED.link,
                   fetched_at = EXCLUDED.fetched_at"#,
            key,
            response.body,
            response.etag,
            response.link,
            response.stored_at
        )
        .execute(&self.pool)
        .await;
        if let Err(error) = written {
            tracing::warn!(%error, key, "drift cache write failed");
        }
    }
}
