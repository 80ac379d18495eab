//! SCI-style figures (Green Software Foundation): `SCI = (E × I + M) per R`.
//!
//! - E × I is Canopy's operational CO2e (`kWh × PUE × grid intensity`, [`super::carbon`]).
//! - M, the embodied emissions share, is unknown to Canopy (it knows neither the hardware's
//!   manufacturing emissions nor its lifespan) and is left out: the figures are the operational
//!   part of SCI, and the page and the API say so.
//! - R = one deploy: a service's CO2e over a period divided by its deploys in that period.
//! - R = one request: the CO2e of the hours covered by request counts supplied through the API
//!   (`POST /api/v1/energy/request-counts`, whole UTC hours) divided by those requests.

use std::collections::HashMap;

use app::api::energy::{BySource, Figure, RequestSci};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use super::{buckets::buckets, query::EnergyQuery, EnergyError};

/// Longest interval one request count may cover.
pub const MAX_REQUEST_INTERVAL: Duration = Duration::days(31);

/// What `SCI` leaves out, shown next to every SCI figure.
pub const EMBODIED_NOTE: &str = "operational only: E × I per R; embodied emissions (M) are not known to Canopy and not included";

/// Deploys started in `[from, to)` per (team, service), any environment.
pub async fn deploy_counts(
    pool: &PgPool,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<HashMap<(String, String), i64>, EnergyError> {
    let rows = sqlx::query!(
        r#"SELECT t.name AS team, s.name AS service, count(*) AS "deploys!"
           FROM deploys d JOIN services s ON s.id = d.service_id JOIN teams t ON t.id = s.team_id
           WHERE d.started_at >= $1 AND d.started_at < $2
           GROUP BY t.name, s.name"#,
        from,
        to
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.team, r.service), r.deploys))
        .collect())
}

/// Deploys started in `[from, to)` of the given services only (the rows a page shows), by
/// (team, service).
pub async fn deploy_counts_of(
    pool: &PgPool,
    from: OffsetDateTime,
    to: OffsetDateTime,
    services: &[(String, String)],
) -> Result<HashMap<(String, String), i64>, EnergyError> {
    if services.is_empty() {
        return Ok(HashMap::new());
    }
    let (teams, names): (Vec<String>, Vec<String>) = services.iter().cloned().unzip();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT t.name, s.name, count(d.id)
         FROM UNNEST($3::text[], $4::text[]) AS w (team, service)
         JOIN teams t ON t.name = w.team
         JOIN services s ON s.team_id = t.id AND s.name = w.service
         JOIN deploys d ON d.service_id = s.id AND d.started_at >= $1 AND d.started_at < $2
         GROUP BY t.name, s.name",
    )
    .bind(from)
    .bind(to)
    .bind(teams)
    .bind(names)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(team, service, count)| ((team, service), count))
        .collect())
}

/// Operational grams CO2e per deploy, when there was at least one deploy.
pub fn grams_per_deploy(grams_co2e: f64, deploys: i64) -> Option<f64> {
    (deploys > 0).then(|| grams_co2e / deploys as f64)
}

/// `figures` divided by `units` (per source), when there is at least one unit.
pub fn per_unit(figures: &BySource, units: f64) -> Option<BySource> {
    (units > 0.0).then(|| {
        let scale = |f: Figure| Figure {
            kwh: f.kwh / units,
            grams_co2e: f.grams_co2e / units,
        };
        BySource {
            measured: scale(figures.measured),
            estimated: scale(figures.estimated),
            simulated: scale(figures.simulated),
        }
    })
}

/// A request count as the API receives it (validated by [`RequestCount::parse`]).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCountBody {
    pub team: String,
    pub service: String,
    /// RFC 3339, a whole UTC hour.
    pub from: String,
    /// RFC 3339, a whole UTC hour after `from`.
    pub to: String,
    pub requests: i64,
}

/// A validated request count: whole UTC hours, `to` after `from`, at most 31 days, not ending
/// after the current hour, a non-negative count.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestCount {
    pub team: String,
    pub service: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub requests: i64,
}

fn invalid(field: &'static str, message: impl Into<String>) -> EnergyError {
    EnergyError::InvalidInput {
        field,
        message: message.into(),
    }
}

impl RequestCount {
    pub fn parse(body: RequestCountBody, now: OffsetDateTime) -> Result<Self, EnergyError> {
        use time::format_description::well_known::Rfc3339;
        let time = |field: &'static str, raw: &str| {
            let t = OffsetDateTime::parse(raw, &Rfc3339).map_err(|e| {
                invalid(
                    field,
                    format!("expected RFC 3339 such as 2026-11-29T10:00:00Z ({e})"),
                )
            })?;
            if buckets(t).0 != t {
                return Err(invalid(
                    field,
                    "must be a whole UTC hour (minutes and seconds 0), like the hourly rollup",
                ));
            }
            Ok(t)
        };
        let from = time("from", &body.from)?;
        let to = time("to", &body.to)?;
        if to <= from {
            return Err(invalid("to", "must be after `from`"));
        }
        if to - from > MAX_REQUEST_INTERVAL {
            return Err(invalid("to", "an interval may cover at most 31 days"));
        }
        if to > buckets(now).0 + Duration::hours(1) {
            return Err(invalid(
                "to",
                "must not be after the end of the current hour (requests are counted, not forecast)",
            ));
        }
        if body.requests < 0 {
            return Err(invalid("requests", "must be a whole number, 0 or more"));
        }
        if body.team.is_empty() {
            return Err(invalid("team", "is required"));
        }
        if body.service.is_empty() {
            return Err(invalid("service", "is required"));
        }
        Ok(Self {
            team: body.team,
            service: body.service,
            from,
            to,
            requests: body.requests,
        })
    }
}

/// What storing a request count did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recorded {
    /// A new interval.
    Created,
    /// The same interval was already stored: its count is now the one just sent.
    Replaced,
}

/// Stores a request count. Re-sending the same interval replaces its count; an interval that
/// overlaps a different one of the same service is refused (a request counted twice would
/// halve its SCI). The service row is locked so concurrent writers of one service queue.
pub async fn record_requests(pool: &PgPool, count: &RequestCount) -> Result<Recorded, EnergyError> {
    let mut tx = pool.begin().await?;
    let service_id = sqlx::query_scalar!(
        r#"SELECT s.id FROM services s JOIN teams t ON t.id = s.team_id
           WHERE t.name = $1 AND s.name = $2 FOR UPDATE OF s"#,
        count.team,
        count.service
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        invalid(
            "service",
            format!(
                "there is no service {:?} in team {:?} (register it first)",
                count.service, count.team
            ),
        )
    })?;
    let overlapping = sqlx::query!(
        r#"SELECT start_at, end_at FROM energy_request_counts
           WHERE service_id = $1 AND start_at < $3 AND end_at > $2
             AND NOT (start_at = $2 AND end_at = $3)
           ORDER BY start_at LIMIT 1"#,
        service_id,
        count.from,
        count.to
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(other) = overlapping {
        use time::format_description::well_known::Rfc3339;
        return Err(invalid(
            "from",
            format!(
                "overlaps the interval {} to {} already recorded for this service (re-send exactly that interval to replace its count)",
                other.start_at.format(&Rfc3339).unwrap_or_default(),
                other.end_at.format(&Rfc3339).unwrap_or_default()
            ),
        ));
    }
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO energy_request_counts AS r (service_id, start_at, end_at, requests)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (service_id, start_at)
           DO UPDATE SET requests = EXCLUDED.requests, received_at = now()
           RETURNING (xmax = 0) AS "inserted!""#,
        service_id,
        count.from,
        count.to,
        count.requests
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(if inserted {
        Recorded::Created
    } else {
        Recorded::Replaced
    })
}

/// SCI per request of a service over `[from, to)`: request-count intervals wholly inside the
/// period, and the service's energy in exactly the hours they cover.
pub async fn request_sci(
    query: &EnergyQuery,
    team: &str,
    service: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<RequestSci, EnergyError> {
    let totals = sqlx::query!(
        r#"SELECT coalesce(sum(rc.requests), 0)::bigint AS "requests!",
                  coalesce(sum(extract(epoch FROM rc.end_at - rc.start_at)), 0)::bigint
                      AS "covered_secs!"
           FROM energy_request_counts rc
           JOIN services s ON s.id = rc.service_id JOIN teams t ON t.id = s.team_id
           WHERE t.name = $1 AND s.name = $2 AND rc.start_at >= $3 AND rc.end_at <= $4"#,
        team,
        service,
        from,
        to
    )
    .fetch_one(query.pool())
    .await?;
    let rows = sqlx::query!(
        r#"SELECT h.cluster AS "cluster!", h.source AS "source!", sum(h.energy_joules) AS "joules!"
           FROM energy_request_counts rc
           JOIN services s ON s.id = rc.service_id JOIN teams t ON t.id = s.team_id
           JOIN energy_rollup_hourly h
             ON h.team = t.name AND h.service = s.name AND h.kind = 'workload'
            AND h.bucket >= rc.start_at AND h.bucket < rc.end_at
           WHERE t.name = $1 AND s.name = $2 AND rc.start_at >= $3 AND rc.end_at <= $4
             -- the same again on h, so the filter reaches the rollup's index through the view
             AND h.team = $1 AND h.service = $2 AND h.bucket >= $3 AND h.bucket < $4
           GROUP BY 1, 2"#,
        team,
        service,
        from,
        to
    )
    .fetch_all(query.pool())
    .await?;
    let carbon = query.carbon();
    let mut covered = BySource::default();
    for row in rows {
        covered.add(
            &row.source,
            Figure {
                kwh: super::carbon::kwh(row.joules),
                grams_co2e: carbon.for_cluster(&row.cluster).grams_co2e(row.joules),
            },
        );
    }
    if query.live().is_some() {
        // Hours with a live grid intensity use it (docs/ENERGY.md, "Carbon").
        let (clusters, zones, default_zone) = super::grid::zone_map(carbon);
        let sql = format!(
            "SELECT h.cluster, h.source, sum(h.energy_joules) AS joules,
                    sum(h.energy_joules * gi.grams_co2e_per_kwh) AS joules_g_per_kwh
             FROM energy_request_counts rc
             JOIN services s ON s.id = rc.service_id JOIN teams t ON t.id = s.team_id
             JOIN energy_rollup_hourly h
               ON h.team = t.name AND h.service = s.name AND h.kind = 'workload'
              AND h.bucket >= rc.start_at AND h.bucket < rc.end_at
             {join}
             WHERE t.name = $1 AND s.name = $2 AND rc.start_at >= $3 AND rc.end_at <= $4
               AND h.team = $1 AND h.service = $2 AND h.bucket >= $3 AND h.bucket < $4
             GROUP BY 1, 2",
            join = super::grid::live_join_sql(5, 6, 7)
        );
        let live: Vec<super::grid::LiveRow> = sqlx::query_as(&sql)
            .bind(team)
            .bind(service)
            .bind(from)
            .bind(to)
            .bind(clusters)
            .bind(zones)
            .bind(default_zone)
            .fetch_all(query.pool())
            .await?;
        for row in live {
            let grams_co2e = row.grams_delta(carbon);
            covered.add(
                &row.source,
                Figure {
                    kwh: 0.0,
                    grams_co2e,
                },
            );
        }
    }
    let requests = totals.requests as f64;
    Ok(RequestSci {
        requests: totals.requests,
        covered_secs: totals.covered_secs,
        per_request: per_unit(&covered, requests),
        per_thousand_requests: per_unit(&covered, requests / 1000.0),
        covered,
        note: EMBODIED_NOTE.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn per_deploy_divides_by_the_number_of_deploys() {
        assert_eq!(grams_per_deploy(300.0, 3), Some(100.0));
        assert_eq!(grams_per_deploy(300.0, 0), None);
    }

    #[test]
    fn per_request_divides_every_source_and_refuses_zero_requests() {
        let mut figures = BySource::default();
        figures.add(
            "measured",
            Figure {
                kwh: 0.5,
                grams_co2e: 288.6,
            },
        );
        let per = per_unit(&figures, 1000.0).unwrap();
        assert_eq!(per.measured.grams_co2e, 0.2886);
        assert_eq!(per.estimated.grams_co2e, 0.0);
        assert!(per_unit(&figures, 0.0).is_none());
    }

    fn body(from: &str, to: &str, requests: i64) -> RequestCountBody {
        RequestCountBody {
            team: "payments".to_owned(),
            service: "checkout".to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            requests,
        }
    }

    #[test]
    fn request_counts_are_validated_field_by_field() {
        let now = datetime!(2026-11-29 16:40 UTC);
        let field = |b: RequestCountBody| match RequestCount::parse(b, now) {
            Err(EnergyError::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert!(
            RequestCount::parse(body("2026-11-29T10:00:00Z", "2026-11-29T12:00:00Z", 5), now)
                .is_ok()
        );
        assert_eq!(
            field(body("2026-11-29T10:30:00Z", "2026-11-29T12:00:00Z", 5)),
            "from"
        );
        assert_eq!(field(body("yesterday", "2026-11-29T12:00:00Z", 5)), "from");
        assert_eq!(
            field(body("2026-11-29T12:00:00Z", "2026-11-29T10:00:00Z", 5)),
            "to"
        );
        assert_eq!(
            field(body("2026-11-29T16:00:00Z", "2026-11-29T18:00:00Z", 5)),
            "to"
        );
        assert_eq!(
            field(body("2026-09-01T00:00:00Z", "2026-11-29T00:00:00Z", 5)),
            "to"
        );
        assert_eq!(
            field(body("2026-11-29T10:00:00Z", "2026-11-29T12:00:00Z", -1)),
            "requests"
        );
    }
}
