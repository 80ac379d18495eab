//! The home page's data: what needs attention (failed and stuck rollouts, teams whose quota
//! refused pods, rising energy), the organisation's recent deploys, and this week's energy
//! against last week's; the signed-in person's teams first. Read through `Backend::home`
//! (implemented in `server/src/home/`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    deploys::DeployStatus, energy::BySource, spec::Environment, AppError, ServiceRef, TeamName,
};

/// How many items of each kind the page lists; the rest are counted ("and 37 more").
pub const ITEMS_PER_KIND: usize = 5;
/// How many deploys the activity feed shows.
pub const FEED_LENGTH: usize = 20;
/// Energy is "rising" when this week's is at least this much above last week's...
pub const RISE_PERCENT: f64 = 25.0;
/// ...and at least this many kWh more (so a few Wh of noise on an idle service do not show).
pub const RISE_MIN_KWH: f64 = 0.1;
/// A rollout still applying or rolling out this long after it started is stuck: the
/// Deployment's progress deadline Canopy renders (`progressDeadlineSeconds`).
pub const STUCK_AFTER_SECS: u64 = 180;

/// A few items of one kind, and how many more there are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capped<T> {
    pub items: Vec<T>,
    /// Items of this kind not listed.
    pub more: usize,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            more: 0,
        }
    }
}

impl<T> Capped<T> {
    /// The first `limit` of `all`, counting the rest (only the listed ones are built, when
    /// `all` is a lazy iterator).
    pub fn of(all: impl IntoIterator<Item = T>, limit: usize) -> Self {
        let mut all = all.into_iter();
        let items: Vec<T> = all.by_ref().take(limit).collect();
        Self {
            items,
            more: all.count(),
        }
    }

    pub fn total(&self) -> usize {
        self.items.len() + self.more
    }
}

/// A moment, with how long ago it was when the page was made (so the server's and the
/// browser's renders agree).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moment {
    /// RFC 3339, UTC.
    pub at: String,
    /// The exact time for people (`app::format::time`), shown on hover and focus.
    pub exact: String,
    pub secs_ago: u64,
}

/// A service environment whose newest deploy failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRollout {
    pub service: ServiceRef,
    pub revision: i64,
    /// Canopy's plain-language reason (shortened).
    pub reason: String,
    pub failed: Moment,
}

/// A rollout still in progress past its progress deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StuckRollout {
    pub service: ServiceRef,
    pub revision: i64,
    pub status: DeployStatus,
    pub started: Moment,
}

/// A team whose quota refused pods: the newest deploys of its services that failed because
/// the namespace's ResourceQuota was used up (Canopy reads usage from the cluster only on the
/// team page; what the deploy engine was refused is what the home page knows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaRefusal {
    pub team: TeamName,
    /// Service environments whose newest deploy failed on the quota.
    pub refused: usize,
    /// The most recent of them.
    pub latest: ServiceRef,
    pub when: Moment,
}

/// A service whose energy this week is markedly above last week's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RisingEnergy {
    pub team: TeamName,
    pub service: String,
    /// Where it used the most energy this week (its figures are all environments together).
    pub environment: Option<Environment>,
    pub this_week: BySource,
    pub last_week: BySource,
}

impl RisingEnergy {
    /// The change in per cent (last week had energy, or it would not be listed).
    pub fn change_percent(&self) -> f64 {
        let (now, before) = (self.this_week.total().kwh, self.last_week.total().kwh);
        if before > 0.0 {
            (now - before) / before * 100.0
        } else {
            0.0
        }
    }
}

/// Everything that needs attention in some teams.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Attention {
    pub failed: Capped<FailedRollout>,
    pub stuck: Capped<StuckRollout>,
    pub quota: Capped<QuotaRefusal>,
    pub rising: Capped<RisingEnergy>,
}

impl Attention {
    pub fn is_empty(&self) -> bool {
        self.failed.total() + self.stuck.total() + self.quota.total() + self.rising.total() == 0
    }
}

/// One deploy in the activity feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub service: ServiceRef,
    pub revision: i64,
    pub requested_by: String,
    pub status: DeployStatus,
    /// The revision this one rolled back to, if it is a rollback.
    pub rollback_of_revision: Option<i64>,
    pub started: Moment,
}

/// Energy and CO2e of two weeks: the last seven whole UTC days and the seven before.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct WeekOverWeek {
    pub this_week: BySource,
    pub last_week: BySource,
}

impl WeekOverWeek {
    /// The change in per cent, or `None` when last week had no energy.
    pub fn change_percent(&self) -> Option<f64> {
        let (now, before) = (self.this_week.total().kwh, self.last_week.total().kwh);
        (before > 0.0).then(|| (now - before) / before * 100.0)
    }
}

/// One of the signed-in person's teams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MyTeam {
    pub team: TeamName,
    pub energy: WeekOverWeek,
}

/// The home page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Home {
    /// The signed-in person's teams (none for a token, or a person in no team: the page shows
    /// the organisation).
    pub my_teams: Vec<MyTeam>,
    /// What needs attention in those teams.
    pub mine: Attention,
    /// What needs attention in every other team (all teams when `my_teams` is empty).
    pub elsewhere: Attention,
    /// The newest deploys across the organisation, newest first.
    pub activity: Vec<Activity>,
    /// The organisation's energy (workloads, idle and system energy of every node).
    pub org_energy: WeekOverWeek,
    /// Whether any node agent ever reported energy.
    pub has_energy: bool,
    /// The weeks compared: first day of this week and of last week, and the last day of this
    /// week (`YYYY-MM-DD`, UTC).
    pub this_week_from: String,
    pub this_week_to: String,
    pub last_week_from: String,
    pub last_week_to: String,
    /// When the organisation-wide figures were computed (they are kept up to a minute).
    pub as_of: Moment,
}

#[server(prefix = "/api/fn", endpoint = "load_home")]
pub async fn load_home() -> Result<Home, AppError> {
    // Any signed-in person or token: the home page shows the organisation, their teams first.
    let who = super::auth::principal()?;
    super::backend::backend()?.home(&who).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::energy::Figure;

    #[test]
    fn capped_lists_keep_the_first_and_count_the_rest() {
        let capped = Capped::of((1..=8).collect::<Vec<_>>(), 5);
        assert_eq!(capped.items, vec![1, 2, 3, 4, 5]);
        assert_eq!(capped.more, 3);
        assert_eq!(capped.total(), 8);
        let short = Capped::of(vec![1, 2], 5);
        assert_eq!((short.items.len(), short.more), (2, 0));
    }

    #[test]
    fn week_over_week_change_needs_a_last_week() {
        let mut weeks = WeekOverWeek::default();
        weeks.this_week.measured = Figure {
            kwh: 1.5,
            grams_co2e: 1.0,
        };
        assert_eq!(weeks.change_percent(), None);
        weeks.last_week.measured = Figure {
            kwh: 1.0,
            grams_co2e: 1.0,
        };
        assert_eq!(weeks.change_percent(), Some(50.0));
    }
}
