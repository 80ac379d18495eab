//! Power now and the per-pod breakdown of a service, from the raw samples of the last minutes.

use app::api::energy::{PodPower, ServicePodPower};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use super::EnergyError;

/// How far back "now" looks: a few agent intervals.
pub const WINDOW_SECS: i64 = 300;

/// Each container's average power over the samples it has in the window (energy / covered
/// seconds), summed per pod; sources stay apart.
pub async fn service_pods(
    pool: &PgPool,
    team: &str,
    service: &str,
    now: OffsetDateTime,
) -> Result<ServicePodPower, EnergyError> {
    let since = now - Duration::seconds(WINDOW_SECS);
    let rows = sqlx::query!(
        r#"WITH c AS (
               SELECT namespace, pod, node, source, container, sum(energy_joules) AS joules,
                      sum(extract(epoch FROM end_at - start_at))::float8 AS secs
               FROM energy_pod_samples
               WHERE team = $1 AND service = $2 AND start_at >= $3
               GROUP BY 1, 2, 3, 4, 5)
           SELECT namespace AS "namespace!", pod AS "pod!", node AS "node!", source AS "source!",
                  sum(joules / nullif(secs, 0))::float8 AS "power_watts!",
                  sum(joules)::float8 AS "energy_joules!"
           FROM c GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC NULLS LAST"#,
        team,
        service,
        since
    )
    .fetch_all(pool)
    .await?;
    Ok(ServicePodPower {
        team: team.to_owned(),
        service: service.to_owned(),
        window_secs: WINDOW_SECS,
        pods: rows
            .into_iter()
            .map(|r| PodPower {
                namespace: r.namespace,
                pod: r.pod,
                node: r.node,
                source: r.source,
                power_watts: r.power_watts,
                energy_joules: r.energy_joules,
            })
            .collect(),
    })
}
