//! SCI-style figures (Green Software Foundation): `SCI = (E × I + M) per R`. Canopy computes the
//! operational part per deploy: a service's CO2e over a period divided by its deploys in that
//! period (R = one deploy). Embodied emissions (M) are not known to Canopy and are left out,
//! which the page says. Per-request figures need a request count, which nothing supplies yet.

use std::collections::HashMap;

use sqlx::PgPool;
use time::OffsetDateTime;

use super::EnergyError;

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

/// Operational grams CO2e per deploy, when there was at least one deploy.
pub fn grams_per_deploy(grams_co2e: f64, deploys: i64) -> Option<f64> {
    (deploys > 0).then(|| grams_co2e / deploys as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_deploy_divides_by_the_number_of_deploys() {
        assert_eq!(grams_per_deploy(300.0, 3), Some(100.0));
        assert_eq!(grams_per_deploy(300.0, 0), None);
    }
}
