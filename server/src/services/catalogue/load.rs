//! The catalogue's refresh queries: a few whole-table reads (services, each service's last
//! deploy per environment, energy of the last 7 days, power now, drift), folded into entries.
//! They run every few seconds on one replica's background task, never per request.

use std::collections::HashMap;

use app::api::{
    catalogue::{DeployState, PerSource},
    spec::Environment,
    AppError, ServiceName, TeamName,
};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use super::{pods::PodCounts, Entry, Snapshot};
use crate::error::{from_sqlx, internal};

/// Joules in a kWh.
const JOULES_PER_KWH: f64 = 3.6e6;

/// Reads everything the catalogue shows and builds the snapshot.
pub async fn snapshot(
    pool: &PgPool,
    pods: Option<&PodCounts>,
    now: OffsetDateTime,
) -> Result<Snapshot, AppError> {
    let services = sqlx::query!(
        r#"SELECT s.id, t.name AS team, s.name
           FROM services s JOIN teams t ON t.id = s.team_id"#
    )
    .fetch_all(pool)
    .await
    .map_err(from_sqlx)?;

    // The newest revision per service and standing environment (deploys_history index).
    let states = sqlx::query!(
        r#"SELECT DISTINCT ON (service_id, environment) service_id, environment, status
           FROM deploys
           WHERE environment IN ('dev', 'staging', 'prod')
           ORDER BY service_id, environment, revision DESC"#
    )
    .fetch_all(pool)
    .await
    .map_err(from_sqlx)?;

    let last_deploys = sqlx::query!(
        r#"SELECT service_id, max(started_at) AS "at!" FROM deploys GROUP BY service_id"#
    )
    .fetch_all(pool)
    .await
    .map_err(from_sqlx)?;

    // Energy of the last 7 UTC days, today included: the precomputed per-service days plus
    // the pending increments, which add up to the daily rollup view's figures at every moment
    // (migration 20261201000030) for a tenth of the view's cost at 10,000 services.
    let week_start = now.date().midnight().assume_utc() - Duration::days(6);
    let energy = sqlx::query!(
        r#"SELECT team AS "team!", service AS "service!", source AS "source!",
                  sum(energy_joules)::float8 AS "joules!"
           FROM (SELECT team, service, source, energy_joules FROM energy_service_daily
                 WHERE day >= $1 AND kind = 'workload' AND service <> ''
                 UNION ALL
                 SELECT team, service, source, energy_joules FROM energy_rollup_pending
                 WHERE bucket >= $1 AND kind = 'workload' AND service <> '') t
           GROUP BY 1, 2, 3"#,
        week_start
    )
    .fetch_all(pool)
    .await
    .map_err(from_sqlx)?;

    // Power now as the service page computes it (energy/pods.rs): each container's average
    // power over its samples of the last minutes, summed per service and source.
    let since = now - Duration::seconds(crate::energy::pods::WINDOW_SECS);
    let power = sqlx::query!(
        r#"WITH c AS (
               SELECT team, service, source, pod, container, sum(energy_joules) AS joules,
                      sum(extract(epoch FROM end_at - start_at))::float8 AS secs
               FROM energy_pod_samples
               WHERE start_at >= $1
               GROUP BY 1, 2, 3, 4, 5)
           SELECT team AS "team!", service AS "service!", source AS "source!",
                  coalesce(sum(joules / nullif(secs, 0)), 0)::float8 AS "watts!"
           FROM c GROUP BY 1, 2, 3"#,
        since
    )
    .fetch_all(pool)
    .await
    .map_err(from_sqlx)?;

    let drift = crate::drift::outdated_per_service(pool)
        .await
        .map_err(AppError::from)?;

    let mut state_of: HashMap<i64, [DeployState; 3]> = HashMap::new();
    for row in states {
        let Some(state) = DeployState::from_status(&row.status) else {
            continue;
        };
        let Some(index) = Environment::parse(&row.environment)
            .and_then(|env| Environment::ALL.iter().position(|e| *e == env))
        else {
            continue;
        };
        state_of
            .entry(row.service_id)
            .or_insert([DeployState::NotDeployed; 3])[index] = state;
    }
    let last_of: HashMap<i64, OffsetDateTime> = last_deploys
        .into_iter()
        .map(|row| (row.service_id, row.at))
        .collect();
    let mut energy_of: HashMap<(String, String), PerSource> = HashMap::new();
    for row in energy {
        energy_of
            .entry((row.team, row.service))
            .or_default()
            .add(&row.source, row.joules / JOULES_PER_KWH);
    }
    let mut power_of: HashMap<(String, String), PerSource> = HashMap::new();
    for row in power {
        power_of
            .entry((row.team, row.service))
            .or_default()
            .add(&row.source, row.watts);
    }

    let mut entries = Vec::with_capacity(services.len());
    for row in services {
        let team = TeamName::parse(&row.team).map_err(internal)?;
        let service = ServiceName::parse(&row.name).map_err(internal)?;
        let key = (row.team, row.name);
        entries.push(Entry {
            states: state_of
                .get(&row.id)
                .copied()
                .unwrap_or([DeployState::NotDeployed; 3]),
            pods: pods.map(|counts| counts.of(&key.0, &key.1)),
            power_watts: power_of.remove(&key).unwrap_or_default(),
            energy_week_kwh: energy_of.remove(&key).unwrap_or_default(),
            drift_outdated: drift.get(&row.id).copied(),
            last_deploy: last_of.get(&row.id).copied(),
            team,
            service,
        });
    }
    // Sorting 10,000 entries by every column both ways takes tens of milliseconds: off the
    // workers that answer requests, so a refresh adds no wait to the pages served meanwhile.
    tokio::task::spawn_blocking(move || Snapshot::new(entries, now))
        .await
        .map_err(internal)
}
