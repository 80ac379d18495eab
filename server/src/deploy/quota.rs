//! Per-team quotas: what each of a team's namespaces (`<team>-<env>`) may use in total. Stored
//! in Postgres (`team_quotas`); teams without one get the built-in default
//! ([`TeamQuota::default`]). Rendered as the namespace's ResourceQuota on every deploy, and
//! re-applied to the team's existing namespaces when it changes.

use app::api::{
    spec::{SpecError, SpecErrors},
    TeamName,
};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::size::{resources, Amount, Cpu, Memory, TeamQuota};
use super::DeployError;

/// The most a quota may grant (far beyond any real cluster; keeps the numbers in range).
const MAX_CPU: Cpu = Cpu::cores(10_000);
const MAX_MEMORY: Memory = Memory(1 << 50);
const MAX_PODS: u32 = 10_000;

/// A quota change as it arrives (REST API): Kubernetes quantities as text; fields left out
/// keep their current value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaChange {
    /// CPU requests in all, a Kubernetes quantity (`4`, `2500m`).
    #[schema(example = "4")]
    pub requests_cpu: Option<String>,
    /// Memory requests in all, a Kubernetes quantity (`8Gi`, `512Mi`).
    #[schema(example = "8Gi")]
    pub requests_memory: Option<String>,
    /// CPU limits in all (not below the requests).
    #[schema(example = "8")]
    pub limits_cpu: Option<String>,
    /// Memory limits in all (not below the requests).
    #[schema(example = "16Gi")]
    pub limits_memory: Option<String>,
    /// Pods at most, 1-10000.
    #[schema(minimum = 1, maximum = 10000)]
    pub pods: Option<u32>,
}

/// Where a team's quota comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuotaSource {
    /// Canopy's built-in default: the team has none of its own.
    Default,
    /// Set for this team.
    Team,
}

/// A quota as shown (REST API and pages): quantities written the Kubernetes way.
pub use app::api::quota::TeamQuotaView as QuotaView;

impl From<TeamQuota> for QuotaView {
    fn from(quota: TeamQuota) -> Self {
        Self {
            requests_cpu: quota.requests_cpu.to_string(),
            requests_memory: quota.requests_memory.to_string(),
            limits_cpu: quota.limits_cpu.to_string(),
            limits_memory: quota.limits_memory.to_string(),
            pods: quota.pods,
        }
    }
}

impl QuotaChange {
    /// `current` with this change applied, or every problem with it (field named, what is
    /// allowed). A quota must hold at least one pod of the smallest size, limits must not be
    /// below requests, and no amount may exceed the maximum.
    pub fn apply_to(&self, current: TeamQuota) -> Result<TeamQuota, SpecErrors> {
        let mut errors = Vec::new();
        let mut quota = current;
        let smallest = resources(app::api::spec::Size::S);
        let min_cpu_request = Cpu(u64::from(smallest.cpu_request_millis));
        let min_memory_request = Memory::mebibytes(128);
        let min_cpu_limit = Cpu(500);
        let min_memory_limit = Memory::mebibytes(256);

        amount(
            &mut errors,
            "requests_cpu",
            self.requests_cpu.as_deref(),
            &mut quota.requests_cpu,
            (min_cpu_request, MAX_CPU),
        );
        amount(
            &mut errors,
            "limits_cpu",
            self.limits_cpu.as_deref(),
            &mut quota.limits_cpu,
            (min_cpu_limit, MAX_CPU),
        );
        amount(
            &mut errors,
            "requests_memory",
            self.requests_memory.as_deref(),
            &mut quota.requests_memory,
            (min_memory_request, MAX_MEMORY),
        );
        amount(
            &mut errors,
            "limits_memory",
            self.limits_memory.as_deref(),
            &mut quota.limits_memory,
            (min_memory_limit, MAX_MEMORY),
        );
        if let Some(pods) = self.pods {
            if (1..=MAX_PODS).contains(&pods) {
                quota.pods = pods;
            } else {
                push(
                    &mut errors,
                    "pods",
                    format!("{pods} is out of range; allowed: 1-{MAX_PODS}"),
                );
            }
        }
        if errors.is_empty() {
            if quota.limits_cpu < quota.requests_cpu {
                push(
                    &mut errors,
                    "limits_cpu",
                    format!(
                        "{} is below requests_cpu ({}); limits must be at least the requests",
                        quota.limits_cpu, quota.requests_cpu
                    ),
                );
            }
            if quota.limits_memory < quota.requests_memory {
                push(
                    &mut errors,
                    "limits_memory",
                    format!(
                        "{} is below requests_memory ({}); limits must be at least the requests",
                        quota.limits_memory, quota.requests_memory
                    ),
                );
            }
        }
        if errors.is_empty() {
            Ok(quota)
        } else {
            Err(SpecErrors(errors))
        }
    }
}

/// Parses one amount of a change into `target`, or notes why it is refused.
fn amount<A: Amount>(
    errors: &mut Vec<SpecError>,
    field: &str,
    raw: Option<&str>,
    target: &mut A,
    (min, max): (A, A),
) {
    let Some(raw) = raw else { return };
    match A::parse(raw) {
        Ok(value) if value < min => push(
            errors,
            field,
            format!("{value} is below {min}, what one size-S pod needs; allowed: {min} to {max}"),
        ),
        Ok(value) if value > max => push(
            errors,
            field,
            format!("{value} is above the maximum of {max}"),
        ),
        Ok(value) => *target = value,
        Err(refused) => push(errors, field, refused.to_string()),
    }
}

fn push(errors: &mut Vec<SpecError>, field: &str, message: String) {
    errors.push(SpecError {
        field: field.to_owned(),
        message,
    });
}

/// The stored per-team quotas.
#[derive(Clone)]
pub struct TeamQuotas {
    pool: PgPool,
    default: TeamQuota,
}

struct Row {
    requests_cpu_millis: i64,
    requests_memory_bytes: i64,
    limits_cpu_millis: i64,
    limits_memory_bytes: i64,
    pods: i32,
}

impl Row {
    fn into_quota(self) -> Result<TeamQuota, DeployError> {
        let unsigned =
            |value: i64, what| u64::try_from(value).map_err(|_| DeployError::CorruptQuota(what));
        Ok(TeamQuota {
            requests_cpu: Cpu(unsigned(self.requests_cpu_millis, "requests_cpu")?),
            requests_memory: Memory(unsigned(self.requests_memory_bytes, "requests_memory")?),
            limits_cpu: Cpu(unsigned(self.limits_cpu_millis, "limits_cpu")?),
            limits_memory: Memory(unsigned(self.limits_memory_bytes, "limits_memory")?),
            pods: u32::try_from(self.pods).map_err(|_| DeployError::CorruptQuota("pods"))?,
        })
    }
}

fn signed(value: u64) -> i64 {
    // Amounts are validated far below i64::MAX (see MAX_CPU and MAX_MEMORY).
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl TeamQuotas {
    pub fn new(pool: PgPool, default: TeamQuota) -> Self {
        Self { pool, default }
    }

    /// The team's quota and where it comes from.
    pub async fn get(&self, team: &TeamName) -> Result<(TeamQuota, QuotaSource), DeployError> {
        let row = sqlx::query_as!(
            Row,
            r#"SELECT q.requests_cpu_millis, q.requests_memory_bytes, q.limits_cpu_millis,
                      q.limits_memory_bytes, q.pods
               FROM team_quotas q JOIN teams t ON t.id = q.team_id
               WHERE t.name = $1"#,
            team.as_str()
        )
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok((row.into_quota()?, QuotaSource::Team)),
            None => Ok((self.default, QuotaSource::Default)),
        }
    }

    /// Stores `quota` for the team (registering the team if it is new).
    pub async fn set(
        &self,
        team: &TeamName,
        quota: TeamQuota,
        updated_by: &str,
    ) -> Result<(), DeployError> {
        sqlx::query!(
            r#"WITH team AS (
                   INSERT INTO teams (name) VALUES ($1)
                   ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id
               )
               INSERT INTO team_quotas (team_id, requests_cpu_millis, requests_memory_bytes,
                                        limits_cpu_millis, limits_memory_bytes, pods, updated_by)
               SELECT id, $2, $3, $4, $5, $6, $7 FROM team
               ON CONFLICT (team_id) DO UPDATE SET
                   requests_cpu_millis = EXCLUDED.requests_cpu_millis,
                   requests_memory_bytes = EXCLUDED.requests_memory_bytes,
                   limits_cpu_millis = EXCLUDED.limits_cpu_millis,
                   limits_memory_bytes = EXCLUDED.limits_memory_bytes,
                   pods = EXCLUDED.pods,
                   updated_by = EXCLUDED.updated_by,
                   updated_at = now()"#,
            team.as_str(),
            signed(quota.requests_cpu.0),
            signed(quota.requests_memory.0),
            signed(quota.limits_cpu.0),
            signed(quota.limits_memory.0),
            i32::try_from(quota.pods).unwrap_or(i32::MAX),
            updated_by
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes the team's own quota (it gets the default again). Returns whether it had one.
    pub async fn reset(&self, team: &TeamName) -> Result<bool, DeployError> {
        let deleted = sqlx::query!(
            r#"DELETE FROM team_quotas q USING teams t
               WHERE t.id = q.team_id AND t.name = $1"#,
            team.as_str()
        )
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(f: impl FnOnce(&mut QuotaChange)) -> QuotaChange {
        let mut change = QuotaChange::default();
        f(&mut change);
        change
    }

    #[test]
    fn fields_left_out_keep_their_value() {
        let quota = change(|c| c.requests_cpu = Some("2".to_owned()))
            .apply_to(TeamQuota::default())
            .unwrap();
        assert_eq!(quota.requests_cpu, Cpu::cores(2));
        assert_eq!(
            TeamQuota {
                requests_cpu: TeamQuota::default().requests_cpu,
                ..quota
            },
            TeamQuota::default()
        );
    }

    #[test]
    fn every_bad_field_is_named_with_what_is_allowed() {
        let errors = change(|c| {
            c.requests_cpu = Some("lots".to_owned());
            c.requests_memory = Some("64Mi".to_owned());
            c.limits_cpu = Some("20000".to_owned());
            c.limits_memory = Some("1.5Gi".to_owned());
            c.pods = Some(0);
        })
        .apply_to(TeamQuota::default())
        .unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "requests_cpu",
                "limits_cpu",
                "requests_memory",
                "limits_memory",
                "pods"
            ]
        );
        assert!(errors.0[0].message.contains("use cores"), "{errors}");
        assert!(errors.0[1].message.contains("maximum of 10000"), "{errors}");
        assert!(errors.0[2].message.contains("below 128Mi"), "{errors}");
        assert!(errors.0[4].message.contains("allowed: 1-10000"), "{errors}");
    }

    #[test]
    fn limits_below_requests_are_refused() {
        let errors = change(|c| {
            c.requests_cpu = Some("4".to_owned());
            c.limits_cpu = Some("2".to_owned());
            c.requests_memory = Some("8Gi".to_owned());
            c.limits_memory = Some("4Gi".to_owned());
        })
        .apply_to(TeamQuota::default())
        .unwrap_err();
        assert_eq!(errors.0.len(), 2, "{errors}");
        assert_eq!(errors.0[0].field, "limits_cpu");
        assert!(
            errors.0[0].message.contains("below requests_cpu (4)"),
            "{errors}"
        );
        assert_eq!(errors.0[1].field, "limits_memory");
    }
}
