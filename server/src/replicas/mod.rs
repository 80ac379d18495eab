//! Canopy as several replicas on one PostgreSQL (docs/SCALING.md): who this process is
//! ([`ReplicaId`]), background jobs that run once per period across replicas ([`jobs`]), and
//! the live rollout state shared between replicas ([`live_bus`]). Rollout followers' leases
//! live with the deploys (`deploy/lease.rs`); sessions are in PostgreSQL already
//! (`auth/session.rs`).

pub mod jobs;
pub mod live_bus;

use std::{fmt, time::Duration};

use crate::config::ConfigError;

/// Connections of the coordination pool: one per background job (each holds its advisory lock
/// in a transaction while it runs; the work itself uses the main pool, so a job never waits
/// for a connection it holds) and one for LISTEN. Apart from the main pool
/// (`CANOPY_DB_MAX_CONNECTIONS`), so a small main pool cannot deadlock the jobs.
pub const COORDINATION_CONNECTIONS: u32 = 8;

/// This process among the replicas: the host name (a pod's name in Kubernetes) and a random
/// part, new at every start, so a restarted pod never mistakes its predecessor's leases for
/// its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplicaId(String);

impl ReplicaId {
    pub fn new(host: Option<&str>) -> Self {
        let host = host
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .unwrap_or("canopy");
        let random = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("{host}-{}", &random[..8]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How replicas share work: read from the environment apart from [`crate::config::Settings`].
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    pub replica: ReplicaId,
    /// How long a rollout follower's lease holds without renewal (`CANOPY_FOLLOWER_LEASE_SECS`,
    /// default 15 s, 3-600). A replica that dies leaves its deploys to another within this
    /// time plus one takeover check (a third of it).
    pub follower_lease: Duration,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        Self {
            replica: ReplicaId::new(None),
            follower_lease: Duration::from_secs(15),
        }
    }
}

impl ReplicaSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let follower_lease = match lookup("CANOPY_FOLLOWER_LEASE_SECS") {
            Some(value) => match value.trim().parse::<u64>() {
                Ok(secs) if (3..=600).contains(&secs) => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "CANOPY_FOLLOWER_LEASE_SECS",
                        reason: "expected a whole number of seconds from 3 to 600".to_owned(),
                        value,
                    })
                }
            },
            None => Duration::from_secs(15),
        };
        Ok(Self {
            replica: ReplicaId::new(lookup("HOSTNAME").as_deref()),
            follower_lease,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_start_is_a_new_replica_named_after_its_host() {
        let a = ReplicaId::new(Some("canopy-7d9f"));
        let b = ReplicaId::new(Some("canopy-7d9f"));
        assert!(a.as_str().starts_with("canopy-7d9f-"), "{a}");
        assert_ne!(a, b);
        assert!(ReplicaId::new(Some("  ")).as_str().starts_with("canopy-"));
    }

    #[test]
    fn the_follower_lease_is_bounded_and_named_when_wrong() {
        let read = |value: &str| {
            let value = value.to_owned();
            ReplicaSettings::from_lookup(move |key| {
                (key == "CANOPY_FOLLOWER_LEASE_SECS").then(|| value.clone())
            })
        };
        assert_eq!(read("30").unwrap().follower_lease, Duration::from_secs(30));
        for bad in ["2", "601", "ten", ""] {
            let error = read(bad).unwrap_err().to_string();
            assert!(error.contains("CANOPY_FOLLOWER_LEASE_SECS"), "{error}");
        }
        let default = ReplicaSettings::from_lookup(|_| None).unwrap();
        assert_eq!(default.follower_lease, Duration::from_secs(15));
    }
}
