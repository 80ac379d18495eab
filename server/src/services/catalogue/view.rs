//! Filtering, sorting and paging the snapshot in memory. Every column's order (both
//! directions, ties by service then team name) is computed once per snapshot, so a request
//! walks one precomputed order, keeps what matches and copies out one page: no sort per
//! request.

use std::cmp::Ordering;

use app::api::{
    catalogue::{
        CataloguePage, CatalogueQuery, CatalogueRow, DeployState, LastDeploy, Page, SortColumn,
        SortDir, PAGE_SIZE,
    },
    spec::Environment,
    TeamName,
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::Entry;

/// Every service with its computed fields, as of `taken_at`.
#[derive(Debug)]
pub struct Snapshot {
    entries: Vec<Entry>,
    /// Indexes into `entries`, ascending, per column (in `SortColumn::ALL` order).
    ascending: Vec<Vec<u32>>,
    /// The same, descending (ties still by name ascending).
    descending: Vec<Vec<u32>>,
    teams: Vec<TeamName>,
    taken_at: OffsetDateTime,
}

/// How a deploy state sorts: the healthy first.
fn state_rank(state: DeployState) -> u8 {
    match state {
        DeployState::Running => 0,
        DeployState::RollingOut => 1,
        DeployState::Failed => 2,
        DeployState::NotDeployed => 3,
    }
}

fn env_index(env: Environment) -> usize {
    Environment::ALL.iter().position(|e| *e == env).unwrap_or(0)
}

/// The column's own comparison (ascending); `None` values first.
fn compare(column: SortColumn, a: &Entry, b: &Entry) -> Ordering {
    match column {
        SortColumn::Service => a.service.as_str().cmp(b.service.as_str()),
        SortColumn::Team => a.team.as_str().cmp(b.team.as_str()),
        SortColumn::Dev | SortColumn::Staging | SortColumn::Prod => {
            let index = column.environment().map(env_index).unwrap_or(0);
            state_rank(a.states[index]).cmp(&state_rank(b.states[index]))
        }
        SortColumn::Pods => {
            let key = |e: &Entry| e.pods.map(|p| (p.ready, p.desired));
            key(a).cmp(&key(b))
        }
        SortColumn::Power => a.power_watts.total().total_cmp(&b.power_watts.total()),
        SortColumn::Energy => a
            .energy_week_kwh
            .total()
            .total_cmp(&b.energy_week_kwh.total()),
        SortColumn::Drift => a.drift_outdated.cmp(&b.drift_outdated),
        SortColumn::LastDeploy => a.last_deploy.cmp(&b.last_deploy),
    }
}

fn by_name(a: &Entry, b: &Entry) -> Ordering {
    a.service
        .as_str()
        .cmp(b.service.as_str())
        .then_with(|| a.team.as_str().cmp(b.team.as_str()))
}

impl Snapshot {
    pub fn new(entries: Vec<Entry>, taken_at: OffsetDateTime) -> Self {
        let mut teams: Vec<TeamName> = entries.iter().map(|e| e.team.clone()).collect();
        teams.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        teams.dedup();
        let indexes: Vec<u32> = (0..entries.len())
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        let order = |column: SortColumn, dir: SortDir| {
            let mut order = indexes.clone();
            order.sort_by(|&a, &b| {
                let (a, b) = (&entries[a as usize], &entries[b as usize]);
                let own = compare(column, a, b);
                let own = if dir == SortDir::Desc {
                    own.reverse()
                } else {
                    own
                };
                own.then_with(|| by_name(a, b))
            });
            order
        };
        let ascending = SortColumn::ALL
            .iter()
            .map(|&c| order(c, SortDir::Asc))
            .collect();
        let descending = SortColumn::ALL
            .iter()
            .map(|&c| order(c, SortDir::Desc))
            .collect();
        Self {
            entries,
            ascending,
            descending,
            teams,
            taken_at,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn matches(query: &CatalogueQuery, entry: &Entry) -> bool {
        if let Some(team) = &query.team {
            if entry.team != *team {
                return false;
            }
        }
        if let Some(search) = &query.search {
            if !entry.service.as_str().contains(search.as_str()) {
                return false;
            }
        }
        match (query.state, query.env) {
            (None, None) => true,
            (None, Some(env)) => entry.states[env_index(env)] != DeployState::NotDeployed,
            (Some(state), Some(env)) => entry.states[env_index(env)] == state,
            (Some(DeployState::NotDeployed), None) => {
                entry.states.iter().all(|s| *s == DeployState::NotDeployed)
            }
            (Some(state), None) => entry.states.contains(&state),
        }
    }

    /// The page `query` asks for (the last page when it asks past it), rows as of `now`.
    pub fn page(&self, mut query: CatalogueQuery, now: OffsetDateTime) -> CataloguePage {
        let column = SortColumn::ALL
            .iter()
            .position(|c| *c == query.sort)
            .unwrap_or(0);
        let order = match query.dir {
            SortDir::Asc => &self.ascending[column],
            SortDir::Desc => &self.descending[column],
        };
        let size = PAGE_SIZE;
        let wanted = query.page.get() as usize;
        let mut total = 0usize;
        // Rows of the page asked for, and of the last full-or-partial page seen so far (a
        // page past the end shows the last one).
        let mut rows: Vec<&Entry> = Vec::with_capacity(size);
        let mut tail: Vec<&Entry> = Vec::with_capacity(size);
        for &index in order {
            let entry = &self.entries[index as usize];
            if !Self::matches(&query, entry) {
                continue;
            }
            let page = total / size + 1;
            if page == wanted {
                rows.push(entry);
            }
            if total.is_multiple_of(size) {
                tail.clear();
            }
            tail.push(entry);
            total += 1;
        }
        let pages = total.div_ceil(size).max(1);
        if wanted > pages {
            rows = if total == 0 { Vec::new() } else { tail };
            query.page = Page::new(u32::try_from(pages).unwrap_or(1)).unwrap_or(Page::FIRST);
        }
        CataloguePage {
            rows: rows.into_iter().map(|e| row(e, now)).collect(),
            total,
            pages: u32::try_from(pages).unwrap_or(u32::MAX),
            teams: self.teams.clone(),
            all_services: self.entries.len(),
            snapshot_age_secs: u64::try_from((now - self.taken_at).whole_seconds()).unwrap_or(0),
            query,
        }
    }
}

fn row(entry: &Entry, now: OffsetDateTime) -> CatalogueRow {
    CatalogueRow {
        team: entry.team.clone(),
        service: entry.service.clone(),
        states: entry.states,
        pods: entry.pods,
        power_watts: entry.power_watts.clone(),
        energy_week_kwh: entry.energy_week_kwh.clone(),
        drift_outdated: entry.drift_outdated,
        last_deploy: entry.last_deploy.map(|at| LastDeploy {
            at: at.format(&Rfc3339).unwrap_or_default(),
            exact: app::format::time(at),
            secs_ago: u64::try_from((now - at).whole_seconds()).unwrap_or(0),
        }),
    }
}

#[cfg(test)]
mod tests {
    use app::api::{
        catalogue::{PerSource, PodsReady, RawCatalogueQuery},
        ServiceName,
    };
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-11-30 22:00 UTC);

    fn entry(team: &str, service: &str) -> Entry {
        Entry {
            team: TeamName::parse(team).expect("team"),
            service: ServiceName::parse(service).expect("service"),
            states: [DeployState::NotDeployed; 3],
            pods: None,
            power_watts: PerSource::default(),
            energy_week_kwh: PerSource::default(),
            drift_outdated: None,
            last_deploy: None,
        }
    }

    fn query(pairs: &[(&str, &str)]) -> CatalogueQuery {
        CatalogueQuery::parse(&RawCatalogueQuery::from_pairs(pairs.iter().copied()))
            .expect("valid query")
    }

    fn names(page: &CataloguePage) -> Vec<String> {
        page.rows
            .iter()
            .map(|r| format!("{}/{}", r.team, r.service))
            .collect()
    }

    fn sample() -> Snapshot {
        let mut web = entry("payments", "web");
        web.states = [
            DeployState::Running,
            DeployState::Failed,
            DeployState::NotDeployed,
        ];
        web.energy_week_kwh.add("measured", 2.0);
        web.power_watts.add("measured", 5.0);
        web.pods = Some(PodsReady {
            ready: 2,
            desired: 3,
        });
        web.drift_outdated = Some(4);
        web.last_deploy = Some(datetime!(2026-11-30 21:57 UTC));
        let mut api = entry("search", "api");
        api.states = [
            DeployState::RollingOut,
            DeployState::NotDeployed,
            DeployState::Running,
        ];
        api.energy_week_kwh.add("simulated", 1.0);
        api.energy_week_kwh.add("estimated", 3.5);
        api.drift_outdated = Some(0);
        api.last_deploy = Some(datetime!(2026-11-29 10:00 UTC));
        let checkout = entry("payments", "checkout-api");
        let web_of_search = entry("search", "web");
        Snapshot::new(vec![web, api, checkout, web_of_search], NOW)
    }

    #[test]
    fn by_default_every_service_by_name_then_team() {
        let page = sample().page(CatalogueQuery::default(), NOW);
        assert_eq!(
            names(&page),
            [
                "search/api",
                "payments/checkout-api",
                "payments/web",
                "search/web"
            ]
        );
        assert_eq!((page.total, page.pages, page.all_services), (4, 1, 4));
        let teams: Vec<&str> = page.teams.iter().map(|t| t.as_str()).collect();
        assert_eq!(teams, ["payments", "search"]);
    }

    #[test]
    fn search_is_a_case_insensitive_substring_of_the_name() {
        let snapshot = sample();
        let page = snapshot.page(query(&[("q", "WE")]), NOW);
        assert_eq!(names(&page), ["payments/web", "search/web"]);
        let page = snapshot.page(query(&[("q", "out-a")]), NOW);
        assert_eq!(names(&page), ["payments/checkout-api"]);
        let page = snapshot.page(query(&[("q", "nothing")]), NOW);
        assert_eq!((page.total, page.pages, page.rows.len()), (0, 1, 0));
    }

    #[test]
    fn filters_by_team_state_and_environment() {
        let snapshot = sample();
        let page = snapshot.page(query(&[("team", "search")]), NOW);
        assert_eq!(names(&page), ["search/api", "search/web"]);
        let page = snapshot.page(query(&[("state", "failed")]), NOW);
        assert_eq!(names(&page), ["payments/web"]);
        let page = snapshot.page(query(&[("state", "running"), ("env", "prod")]), NOW);
        assert_eq!(names(&page), ["search/api"]);
        let page = snapshot.page(query(&[("env", "dev")]), NOW);
        assert_eq!(names(&page), ["search/api", "payments/web"]);
        let page = snapshot.page(query(&[("state", "not_deployed")]), NOW);
        assert_eq!(names(&page), ["payments/checkout-api", "search/web"]);
        let page = snapshot.page(
            query(&[
                ("state", "not_deployed"),
                ("env", "staging"),
                ("team", "search"),
            ]),
            NOW,
        );
        assert_eq!(names(&page), ["search/api", "search/web"]);
    }

    #[test]
    fn sorts_by_every_column_both_ways_with_ties_by_name() {
        let snapshot = sample();
        let page = snapshot.page(query(&[("sort", "energy")]), NOW);
        assert_eq!(
            names(&page),
            [
                "search/api",
                "payments/web",
                "payments/checkout-api",
                "search/web"
            ],
            "largest first, ties (no energy) by name"
        );
        let page = snapshot.page(query(&[("sort", "energy"), ("dir", "asc")]), NOW);
        assert_eq!(
            names(&page),
            [
                "payments/checkout-api",
                "search/web",
                "payments/web",
                "search/api"
            ]
        );
        let page = snapshot.page(query(&[("sort", "last_deploy")]), NOW);
        assert_eq!(names(&page)[..2], ["payments/web", "search/api"]);
        let page = snapshot.page(query(&[("sort", "team"), ("dir", "desc")]), NOW);
        assert_eq!(
            names(&page),
            [
                "search/api",
                "search/web",
                "payments/checkout-api",
                "payments/web"
            ]
        );
        let page = snapshot.page(query(&[("sort", "dev")]), NOW);
        assert_eq!(names(&page)[..2], ["payments/web", "search/api"]);
        let page = snapshot.page(query(&[("sort", "drift")]), NOW);
        assert_eq!(names(&page)[..2], ["payments/web", "search/api"]);
        for column in SortColumn::ALL {
            for dir in [SortDir::Asc, SortDir::Desc] {
                let page = snapshot.page(
                    CatalogueQuery {
                        sort: column,
                        dir,
                        ..CatalogueQuery::default()
                    },
                    NOW,
                );
                assert_eq!(page.rows.len(), 4, "{column:?} {dir:?}");
            }
        }
    }

    #[test]
    fn rows_carry_the_figures_and_the_relative_time() {
        let page = sample().page(query(&[("q", "web"), ("team", "payments")]), NOW);
        let row = &page.rows[0];
        assert_eq!(
            row.pods,
            Some(PodsReady {
                ready: 2,
                desired: 3
            })
        );
        assert_eq!(row.drift_outdated, Some(4));
        assert_eq!(row.energy_week_kwh.0, vec![("measured".to_owned(), 2.0)]);
        let last = row.last_deploy.as_ref().expect("deployed");
        assert_eq!(last.secs_ago, 180);
        assert_eq!(last.at, "2026-11-30T21:57:00Z");
        assert_eq!(last.exact, "30 Nov 2026, 21:57 UTC");
    }

    fn many(count: usize) -> Snapshot {
        let entries = (0..count)
            .map(|i| entry(&format!("team-{}", i % 7), &format!("svc-{i:05}")))
            .collect();
        Snapshot::new(entries, NOW)
    }

    #[test]
    fn pages_of_fifty_with_totals() {
        let snapshot = many(123);
        let first = snapshot.page(CatalogueQuery::default(), NOW);
        assert_eq!((first.total, first.pages, first.rows.len()), (123, 3, 50));
        assert_eq!(first.rows[0].service.as_str(), "svc-00000");
        let second = snapshot.page(query(&[("page", "2")]), NOW);
        assert_eq!(second.rows.len(), 50);
        assert_eq!(second.rows[0].service.as_str(), "svc-00050");
        let third = snapshot.page(query(&[("page", "3")]), NOW);
        assert_eq!(third.rows.len(), 23);
        assert_eq!(third.rows[22].service.as_str(), "svc-00122");
        assert_eq!(third.query.page.get(), 3);
    }

    #[test]
    fn a_page_past_the_end_shows_the_last_page() {
        let snapshot = many(123);
        let past = snapshot.page(query(&[("page", "9")]), NOW);
        assert_eq!(past.query.page.get(), 3);
        assert_eq!(past.rows.len(), 23);
        assert_eq!(past.rows[0].service.as_str(), "svc-00100");
        let exact = many(100).page(query(&[("page", "3")]), NOW);
        assert_eq!((exact.query.page.get(), exact.rows.len()), (2, 50));
        let empty = many(0).page(query(&[("page", "2")]), NOW);
        assert_eq!(
            (empty.query.page.get(), empty.pages, empty.rows.len()),
            (1, 1, 0)
        );
    }
}
