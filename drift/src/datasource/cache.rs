//! The HTTP cache behind every datasource: a small async trait (the server adds a
//! PostgreSQL implementation), an in-memory cache and an on-disk one. Entries keep the body,
//! the ETag for `If-None-Match` revalidation, the `Link` header for pagination and when they
//! were stored; the HTTP layer decides freshness from its TTL.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A cached registry answer (only successful answers are cached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedResponse {
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub stored_at: OffsetDateTime,
}

/// Where registry answers are kept between requests. Failures are the cache's own business:
/// a cache that cannot answer behaves as a miss.
#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> Option<CachedResponse>;
    async fn put(&self, key: &str, response: CachedResponse);
}

/// A cache in memory, for one process.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, CachedResponse>>,
}

impl MemoryCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many answers it holds.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Option<CachedResponse> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    async fn put(&self, key: &str, response: CachedResponse) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key.to_owned(), response);
        }
    }
}

/// A cache in a directory: one JSON file per key, named by the key's SHA-256, written to a
/// temporary file and renamed so that readers never see half a file.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DiskCache { dir: dir.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        let digest = Sha256::digest(key.as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.json"))
    }
}

#[async_trait]
impl Cache for DiskCache {
    async fn get(&self, key: &str) -> Option<CachedResponse> {
        let bytes = tokio::fs::read(self.path(key)).await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    async fn put(&self, key: &str, response: CachedResponse) {
        let path = self.path(key);
        let Ok(bytes) = serde_json::to_vec(&response) else {
            return;
        };
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        let written = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(&temporary, &bytes).await?;
            tokio::fs::rename(&temporary, &path).await
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, path = %path.display(), "drift cache write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str) -> CachedResponse {
        CachedResponse {
            body: body.into(),
            etag: Some("\"abc\"".into()),
            link: None,
            stored_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn disk_cache_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().join("cache"));
        assert!(cache.get("k").await.is_none());
        cache.put("k", response("one")).await;
        cache.put("k", response("two")).await;
        assert_eq!(cache.get("k").await.unwrap().body, "two");
        let again = DiskCache::new(dir.path().join("cache"));
        assert_eq!(
            again.get("k").await.unwrap().etag.as_deref(),
            Some("\"abc\"")
        );
    }

    #[tokio::test]
    async fn memory_cache_round_trips() {
        let cache = MemoryCache::new();
        cache.put("k", response("one")).await;
        assert_eq!(cache.get("k").await.unwrap().body, "one");
        assert_eq!(cache.len(), 1);
    }
}
