//! The home page (`/`): what needs attention (failed and stuck rollouts, teams whose quota
//! refused pods, rising energy), the organisation's newest deploys, and this week's energy
//! against last week's, the signed-in person's teams first.
//!
//! A module of its own because it only reads, across capabilities: the deploy records
//! (`deploys`), the energy rollups (through [`EnergyQuery::org_weeks`], so kWh and CO2e are
//! computed as on the Energy page) and the principal's memberships. What scans many rows is
//! computed once per replica at a time and kept briefly ([`cache::Cached`], refreshed in the
//! background once stale): the failed and stuck rollouts for [`DEPLOYS_TTL`], the two weeks of
//! energy per service for [`ENERGY_TTL`]. The feed is one indexed query per visit.

pub mod cache;
pub mod fold;
pub mod store;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use app::api::{
    auth::Principal,
    home::{Activity, Home, MyTeam, WeekOverWeek, FEED_LENGTH, STUCK_AFTER_SECS},
    AppError, TeamName,
};
use sqlx::PgPool;
use time::{macros::format_description, OffsetDateTime};

use crate::{
    energy::query::{
        weeks::{OrgWeeks, Weeks},
        EnergyQuery,
    },
    error::from_sqlx,
};
use cache::Cached;
use store::{FailedRow, InProgressRow};

/// How long the failed and stuck rollouts are kept (a fixed deploy leaves the page within it).
pub const DEPLOYS_TTL: Duration = Duration::from_secs(5);
/// How long the two weeks of energy are kept (they change by the hour at most).
pub const ENERGY_TTL: Duration = Duration::from_secs(60);

/// The rollouts that need attention across the organisation.
struct DeployState {
    failed: Vec<FailedRow>,
    stuck: Vec<InProgressRow>,
}

/// The two weeks of energy, and the rising services among them.
struct EnergyState {
    weeks: Weeks,
    org: OrgWeeks,
    rising: Vec<app::api::home::RisingEnergy>,
    has_any_data: bool,
}

#[derive(Clone)]
pub struct HomeFeed {
    pool: PgPool,
    energy: EnergyQuery,
    deploys: Arc<Cached<DeployState>>,
    weeks: Arc<Cached<EnergyState>>,
}

fn day(at: OffsetDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

impl HomeFeed {
    pub fn new(pool: PgPool, energy: EnergyQuery) -> Self {
        Self {
            pool,
            energy,
            deploys: Arc::new(Cached::new(DEPLOYS_TTL)),
            weeks: Arc::new(Cached::new(ENERGY_TTL)),
        }
    }

    async fn deploy_state(&self) -> Result<(Arc<DeployState>, OffsetDateTime), AppError> {
        let pool = self.pool.clone();
        self.deploys
            .get("home: rollouts needing attention", || async move {
                let now = OffsetDateTime::now_utc();
                let deadline = time::Duration::seconds(STUCK_AFTER_SECS as i64);
                Ok::<_, sqlx::Error>(DeployState {
                    failed: store::failed_latest(&pool).await?,
                    stuck: store::in_progress_since(&pool, now - deadline).await?,
                })
            })
            .await
            .map_err(from_sqlx)
    }

    async fn energy_state(&self) -> Result<(Arc<EnergyState>, OffsetDateTime), AppError> {
        let energy = self.energy.clone();
        self.weeks
            .get("home: energy week over week", || async move {
                let weeks = Weeks::ending_before(OffsetDateTime::now_utc());
                let org = energy.org_weeks(weeks).await?;
                Ok::<_, crate::energy::EnergyError>(EnergyState {
                    rising: fold::rising(&org.services),
                    has_any_data: energy.has_any_data().await?,
                    weeks,
                    org,
                })
            })
            .await
            .map_err(AppError::from)
    }

    /// The home page for `who`: their teams' items and figures apart (a token, or a person in
    /// no team, sees the organisation as a whole).
    pub async fn home(&self, who: &Principal) -> Result<Home, AppError> {
        let (deploys, deploys_at) = self.deploy_state().await?;
        let (energy, energy_at) = self.energy_state().await?;
        let feed = store::newest_deploys(&self.pool, FEED_LENGTH)
            .await
            .map_err(from_sqlx)?;
        let now = OffsetDateTime::now_utc();
        let mine: BTreeSet<&TeamName> = if who.token_scope.is_none() {
            who.teams.keys().collect()
        } else {
            BTreeSet::new()
        };
        let attention = |in_scope: &dyn Fn(&TeamName) -> bool| {
            fold::attention(
                &deploys.failed,
                &deploys.stuck,
                &energy.rising,
                in_scope,
                now,
            )
        };
        let my_teams = mine
            .iter()
            .map(|team| {
                let mut weeks = WeekOverWeek::default();
                for service in energy
                    .org
                    .services
                    .iter()
                    .filter(|s| s.team == team.as_str())
                {
                    weeks.this_week.add_all(&service.weeks.this_week);
                    weeks.last_week.add_all(&service.weeks.last_week);
                }
                MyTeam {
                    team: (*team).clone(),
                    energy: weeks,
                }
            })
            .collect();
        let weeks = energy.weeks;
        let last_day = |to: OffsetDateTime| day(to - time::Duration::days(1));
        Ok(Home {
            my_teams,
            mine: attention(&|t| mine.contains(t)),
            elsewhere: attention(&|t| !mine.contains(t)),
            activity: feed
                .into_iter()
                .map(|row| Activity {
                    service: row.service,
                    revision: row.revision,
                    requested_by: row.requested_by,
                    status: row.status,
                    rollback_of_revision: row.rollback_of_revision,
                    started: fold::moment(row.started_at, now),
                })
                .collect(),
            org_energy: energy.org.org,
            has_energy: energy.has_any_data,
            this_week_from: day(weeks.this_from),
            this_week_to: last_day(weeks.this_to),
            last_week_from: day(weeks.last_from),
            last_week_to: last_day(weeks.this_from),
            as_of: fold::moment(deploys_at.min(energy_at), now),
        })
    }
}
