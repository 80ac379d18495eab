//! The services catalogue (`/services`): one row per service with its deploy states, pods,
//! energy and drift; the query (search, filters, sort, page) parsed at the boundary, and the
//! server function that answers it from the replica's in-memory snapshot.

use std::fmt;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{spec::Environment, AppError, Field, ServiceName, TeamName};

/// Rows per page.
pub const PAGE_SIZE: usize = 50;
/// The longest search text accepted.
pub const MAX_SEARCH_CHARS: usize = 100;
/// The largest page number accepted (far beyond any real catalogue).
pub const MAX_PAGE: u32 = 1_000_000;

/// The last deploy's state of a service in one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployState {
    Running,
    RollingOut,
    Failed,
    NotDeployed,
}

impl DeployState {
    pub const ALL: [DeployState; 4] = [
        DeployState::Running,
        DeployState::RollingOut,
        DeployState::Failed,
        DeployState::NotDeployed,
    ];

    /// The query-string value: `running`, `rolling_out`, `failed`, `not_deployed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployState::Running => "running",
            DeployState::RollingOut => "rolling_out",
            DeployState::Failed => "failed",
            DeployState::NotDeployed => "not_deployed",
        }
    }

    /// What the badge says.
    pub fn label(self) -> &'static str {
        match self {
            DeployState::Running => "running",
            DeployState::RollingOut => "rolling out",
            DeployState::Failed => "failed",
            DeployState::NotDeployed => "not deployed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// From a deploy's recorded status (`applying`, `rolling_out`, `succeeded`, `failed`).
    pub fn from_status(status: &str) -> Option<Self> {
        match status {
            "succeeded" => Some(DeployState::Running),
            "applying" | "rolling_out" => Some(DeployState::RollingOut),
            "failed" => Some(DeployState::Failed),
            _ => None,
        }
    }
}

/// A column the catalogue sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SortColumn {
    #[default]
    Service,
    Team,
    Dev,
    Staging,
    Prod,
    Pods,
    Power,
    Energy,
    Drift,
    LastDeploy,
}

impl SortColumn {
    pub const ALL: [SortColumn; 10] = [
        SortColumn::Service,
        SortColumn::Team,
        SortColumn::Dev,
        SortColumn::Staging,
        SortColumn::Prod,
        SortColumn::Pods,
        SortColumn::Power,
        SortColumn::Energy,
        SortColumn::Drift,
        SortColumn::LastDeploy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortColumn::Service => "service",
            SortColumn::Team => "team",
            SortColumn::Dev => "dev",
            SortColumn::Staging => "staging",
            SortColumn::Prod => "prod",
            SortColumn::Pods => "pods",
            SortColumn::Power => "power",
            SortColumn::Energy => "energy",
            SortColumn::Drift => "drift",
            SortColumn::LastDeploy => "last_deploy",
        }
    }

    /// The column's header.
    pub fn label(self) -> &'static str {
        match self {
            SortColumn::Service => "Service",
            SortColumn::Team => "Team",
            SortColumn::Dev => "dev",
            SortColumn::Staging => "staging",
            SortColumn::Prod => "prod",
            SortColumn::Pods => "Pods ready",
            SortColumn::Power => "Power now",
            SortColumn::Energy => "Energy this week",
            SortColumn::Drift => "Outdated dependencies",
            SortColumn::LastDeploy => "Last deploy",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// The environment an environment column shows.
    pub fn environment(self) -> Option<Environment> {
        match self {
            SortColumn::Dev => Some(Environment::Dev),
            SortColumn::Staging => Some(Environment::Staging),
            SortColumn::Prod => Some(Environment::Prod),
            _ => None,
        }
    }

    /// The direction a first click sorts in: names A→Z, figures and times largest first.
    pub fn first_direction(self) -> SortDir {
        match self {
            SortColumn::Service
            | SortColumn::Team
            | SortColumn::Dev
            | SortColumn::Staging
            | SortColumn::Prod => SortDir::Asc,
            _ => SortDir::Desc,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SortDir {
    #[default]
    Asc,
    Desc,
}

impl SortDir {
    pub fn as_str(self) -> &'static str {
        match self {
            SortDir::Asc => "asc",
            SortDir::Desc => "desc",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "asc" => Some(SortDir::Asc),
            "desc" => Some(SortDir::Desc),
            _ => None,
        }
    }

    pub fn flip(self) -> Self {
        match self {
            SortDir::Asc => SortDir::Desc,
            SortDir::Desc => SortDir::Asc,
        }
    }

    /// `aria-sort` of a sorted column header.
    pub fn aria(self) -> &'static str {
        match self {
            SortDir::Asc => "ascending",
            SortDir::Desc => "descending",
        }
    }
}

/// A 1-based page number, at most [`MAX_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Page(u32);

impl Page {
    pub const FIRST: Page = Page(1);

    pub fn new(number: u32) -> Option<Self> {
        (1..=MAX_PAGE).contains(&number).then_some(Page(number))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Page {
    fn default() -> Self {
        Page::FIRST
    }
}

impl fmt::Display for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The query string as it arrives (every value a string; empty means "not given", as a GET
/// form sends an empty field).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RawCatalogueQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub team: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub env: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub dir: String,
    #[serde(default)]
    pub page: String,
}

impl RawCatalogueQuery {
    /// From `(name, value)` pairs (`q`, `team`, `state`, `env`, `sort`, `dir`, `page`); other
    /// names are not the catalogue's and are left out.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut raw = Self::default();
        for (key, value) in pairs {
            let slot = match key {
                "q" => &mut raw.q,
                "team" => &mut raw.team,
                "state" => &mut raw.state,
                "env" => &mut raw.env,
                "sort" => &mut raw.sort,
                "dir" => &mut raw.dir,
                "page" => &mut raw.page,
                _ => continue,
            };
            *slot = value.to_owned();
        }
        raw
    }

    pub fn from_query(query: &leptos_router::params::ParamsMap) -> Self {
        let get = |key: &str| query.get(key).unwrap_or_default();
        Self {
            q: get("q"),
            team: get("team"),
            state: get("state"),
            env: get("env"),
            sort: get("sort"),
            dir: get("dir"),
            page: get("page"),
        }
    }
}

/// A catalogue query, parsed: search text (lowercase), filters, sort and page.
///
/// Filters: `team` keeps that team's services; `env` alone keeps services deployed (in any
/// state) to that environment; `state` alone keeps services whose last deploy is in that state
/// in any of dev, staging and prod (`not_deployed`: in none of them); `state` with `env`
/// looks at that environment only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CatalogueQuery {
    pub search: Option<String>,
    pub team: Option<TeamName>,
    pub state: Option<DeployState>,
    pub env: Option<Environment>,
    pub sort: SortColumn,
    pub dir: SortDir,
    pub page: Page,
}

impl CatalogueQuery {
    /// Parses every parameter; the first bad one is refused, naming it and what it allows.
    pub fn parse(raw: &RawCatalogueQuery) -> Result<Self, AppError> {
        let q = raw.q.trim();
        if q.chars().count() > MAX_SEARCH_CHARS {
            return Err(AppError::invalid(
                Field::Search,
                format!(
                    "is {} characters long; at most {MAX_SEARCH_CHARS} are allowed",
                    q.chars().count()
                ),
            ));
        }
        let search = (!q.is_empty()).then(|| q.to_lowercase());
        let team = match raw.team.trim() {
            "" => None,
            team => {
                Some(TeamName::parse(team).map_err(|e| AppError::invalid(Field::TeamFilter, e))?)
            }
        };
        let state = match raw.state.trim() {
            "" => None,
            state => Some(DeployState::parse(state).ok_or_else(|| {
                AppError::invalid(
                    Field::State,
                    format!(
                        "“{state}” is not a state; use one of {}",
                        allowed(DeployState::ALL.map(DeployState::as_str))
                    ),
                )
            })?),
        };
        let env = match raw.env.trim() {
            "" => None,
            env => Some(
                Environment::parse(env)
                    .filter(|e| !e.is_preview())
                    .ok_or_else(|| {
                        AppError::invalid(
                            Field::Environment,
                            format!(
                                "“{env}” is not an environment of the catalogue; use one of {}",
                                allowed(Environment::ALL.map(|e| e.as_str()))
                            ),
                        )
                    })?,
            ),
        };
        let sort = match raw.sort.trim() {
            "" => SortColumn::default(),
            sort => SortColumn::parse(sort).ok_or_else(|| {
                AppError::invalid(
                    Field::Sort,
                    format!(
                        "“{sort}” is not a column; use one of {}",
                        allowed(SortColumn::ALL.map(SortColumn::as_str))
                    ),
                )
            })?,
        };
        let dir = match raw.dir.trim() {
            "" => sort.first_direction(),
            dir => SortDir::parse(dir).ok_or_else(|| {
                AppError::invalid(
                    Field::Dir,
                    format!("“{dir}” is not a direction; use asc or desc"),
                )
            })?,
        };
        let page = match raw.page.trim() {
            "" => Page::FIRST,
            page => page.parse::<u32>().ok().and_then(Page::new).ok_or_else(|| {
                AppError::invalid(
                    Field::Page,
                    format!("“{page}” is not a page number; use a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
        };
        Ok(Self {
            search,
            team,
            state,
            env,
            sort,
            dir,
            page,
        })
    }

    /// The query string of this query (defaults left out), starting with `?` unless empty.
    pub fn to_query_string(&self) -> String {
        let mut parts: Vec<(&str, String)> = Vec::new();
        if let Some(q) = &self.search {
            parts.push(("q", q.clone()));
        }
        if let Some(team) = &self.team {
            parts.push(("team", team.to_string()));
        }
        if let Some(state) = self.state {
            parts.push(("state", state.as_str().to_owned()));
        }
        if let Some(env) = self.env {
            parts.push(("env", env.as_str().into_owned()));
        }
        if self.sort != SortColumn::default() || self.dir != self.sort.first_direction() {
            parts.push(("sort", self.sort.as_str().to_owned()));
            parts.push(("dir", self.dir.as_str().to_owned()));
        }
        if self.page != Page::FIRST {
            parts.push(("page", self.page.to_string()));
        }
        if parts.is_empty() {
            return String::new();
        }
        let encoded: Vec<String> = parts
            .into_iter()
            .map(|(key, value)| format!("{key}={}", encode(&value)))
            .collect();
        format!("?{}", encoded.join("&"))
    }

    /// The same query on another page.
    pub fn with_page(&self, page: Page) -> Self {
        Self {
            page,
            ..self.clone()
        }
    }

    /// The link of a column header: sorted by it (the other way when it already is), page 1.
    pub fn sorted_by(&self, column: SortColumn) -> Self {
        let dir = if self.sort == column {
            self.dir.flip()
        } else {
            column.first_direction()
        };
        Self {
            sort: column,
            dir,
            page: Page::FIRST,
            ..self.clone()
        }
    }
}

fn allowed<const N: usize, S: AsRef<str>>(values: [S; N]) -> String {
    values
        .iter()
        .map(|v| v.as_ref())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Percent-encodes a query-string value (names and states are plain; search text may not be).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Pods ready of a service (over its environments, or the one filtered on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodsReady {
    pub ready: u32,
    pub desired: u32,
}

/// A quantity per source (`measured`, `estimated`, `simulated`), for the sources that have any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PerSource(pub Vec<(String, f64)>);

impl PerSource {
    pub fn add(&mut self, source: &str, value: f64) {
        match self.0.iter_mut().find(|(s, _)| s == source) {
            Some((_, sum)) => *sum += value,
            None => {
                self.0.push((source.to_owned(), value));
                self.0.sort_by(|a, b| a.0.cmp(&b.0));
            }
        }
    }

    pub fn total(&self) -> f64 {
        self.0.iter().map(|(_, v)| v).sum()
    }
}

/// One row of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueRow {
    pub team: TeamName,
    pub service: ServiceName,
    /// The last deploy's state in dev, staging and prod, in that order.
    pub states: [DeployState; 3],
    /// `None`: Canopy has no cluster to read pods from.
    pub pods: Option<PodsReady>,
    /// Power now (watts) per source.
    pub power_watts: PerSource,
    /// Energy over the last 7 days (kWh) per source.
    pub energy_week_kwh: PerSource,
    /// Outdated dependencies at the newest done scan; `None`: never scanned.
    pub drift_outdated: Option<i32>,
    /// The last deploy (any environment): RFC 3339 and seconds before the answer.
    pub last_deploy: Option<LastDeploy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastDeploy {
    /// RFC 3339, UTC.
    pub at: String,
    /// The exact time for people (`30 Nov 2026, 21:15 UTC`).
    pub exact: String,
    pub secs_ago: u64,
}

/// One page of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CataloguePage {
    pub query: CatalogueQuery,
    pub rows: Vec<CatalogueRow>,
    /// Services matching the search and filters.
    pub total: usize,
    /// Pages of matching services (at least 1).
    pub pages: u32,
    /// Every team (for the filter's choices).
    pub teams: Vec<TeamName>,
    /// Services in the catalogue in all.
    pub all_services: usize,
    /// Seconds since the snapshot was taken.
    pub snapshot_age_secs: u64,
}

/// The catalogue for the page's query string. A page past the last one shows the last page
/// (`query.page` in the answer says which).
#[server(prefix = "/api/fn", endpoint = "load_catalogue")]
pub async fn load_catalogue(
    #[server(default)] raw: RawCatalogueQuery,
) -> Result<CataloguePage, AppError> {
    // The catalogue is org-wide: any signed-in person or token.
    super::auth::principal()?;
    let query = CatalogueQuery::parse(&raw)?;
    super::backend::backend()?.catalogue(query).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawCatalogueQuery {
        RawCatalogueQuery::from_pairs(pairs.iter().copied())
    }

    fn refusal(pairs: &[(&str, &str)]) -> (Option<Field>, String) {
        let error = CatalogueQuery::parse(&raw(pairs)).expect_err("refused");
        (error.field(), error.to_string())
    }

    #[test]
    fn empty_query_is_the_first_page_by_name() {
        let query = CatalogueQuery::parse(&RawCatalogueQuery::default()).expect("parses");
        assert_eq!(query, CatalogueQuery::default());
        assert_eq!(query.sort, SortColumn::Service);
        assert_eq!(query.dir, SortDir::Asc);
        assert_eq!(query.page, Page::FIRST);
        assert_eq!(query.to_query_string(), "");
    }

    #[test]
    fn every_parameter_parses_and_round_trips() {
        let query = CatalogueQuery::parse(&raw(&[
            ("q", "  Check Out "),
            ("team", "payments"),
            ("state", "rolling_out"),
            ("env", "prod"),
            ("sort", "energy"),
            ("dir", "asc"),
            ("page", "3"),
        ]))
        .expect("parses");
        assert_eq!(query.search.as_deref(), Some("check out"));
        assert_eq!(query.team.as_ref().map(|t| t.as_str()), Some("payments"));
        assert_eq!(query.state, Some(DeployState::RollingOut));
        assert_eq!(query.env, Some(Environment::Prod));
        assert_eq!(query.sort, SortColumn::Energy);
        assert_eq!(query.dir, SortDir::Asc);
        assert_eq!(query.page.get(), 3);
        let text = query.to_query_string();
        assert_eq!(
            text,
            "?q=check+out&team=payments&state=rolling_out&env=prod&sort=energy&dir=asc&page=3"
        );
    }

    #[test]
    fn a_column_without_direction_sorts_its_natural_way() {
        let energy = CatalogueQuery::parse(&raw(&[("sort", "energy")])).expect("parses");
        assert_eq!(energy.dir, SortDir::Desc);
        let team = CatalogueQuery::parse(&raw(&[("sort", "team")])).expect("parses");
        assert_eq!(team.dir, SortDir::Asc);
    }

    #[test]
    fn header_links_flip_the_direction_and_go_back_to_page_one() {
        let query = CatalogueQuery::parse(&raw(&[("page", "4")])).expect("parses");
        let by_name = query.sorted_by(SortColumn::Service);
        assert_eq!(
            (by_name.sort, by_name.dir, by_name.page),
            (SortColumn::Service, SortDir::Desc, Page::FIRST)
        );
        assert_eq!(by_name.to_query_string(), "?sort=service&dir=desc");
        let by_power = query.sorted_by(SortColumn::Power);
        assert_eq!(by_power.dir, SortDir::Desc);
        assert_eq!(by_power.sorted_by(SortColumn::Power).dir, SortDir::Asc);
    }

    #[test]
    fn bad_values_are_refused_naming_the_parameter_and_what_is_allowed() {
        let (field, text) = refusal(&[("state", "broken")]);
        assert_eq!(field, Some(Field::State));
        assert_eq!(
            text,
            "State (state): “broken” is not a state; use one of running, rolling_out, failed, not_deployed"
        );
        let (field, text) = refusal(&[("env", "pr-4")]);
        assert_eq!(field, Some(Field::Environment));
        assert!(text.contains("use one of dev, staging, prod"), "{text}");
        let (field, text) = refusal(&[("sort", "color")]);
        assert_eq!(field, Some(Field::Sort));
        assert!(text.contains("use one of service, team, dev"), "{text}");
        assert!(text.contains("last_deploy"), "{text}");
        let (field, text) = refusal(&[("dir", "up")]);
        assert_eq!(field, Some(Field::Dir));
        assert!(text.contains("use asc or desc"), "{text}");
        for page in ["0", "-1", "two", "1000001"] {
            let (field, text) = refusal(&[("page", page)]);
            assert_eq!(field, Some(Field::Page), "{page}");
            assert!(text.contains("from 1 to 1000000"), "{text}");
        }
        let (field, text) = refusal(&[("team", "Payments")]);
        assert_eq!(field, Some(Field::TeamFilter));
        assert!(text.starts_with("Team (team): "), "{text}");
        let (field, _) = refusal(&[("q", &"x".repeat(101))]);
        assert_eq!(field, Some(Field::Search));
    }

    #[test]
    fn other_parameters_are_not_the_catalogue_s() {
        let raw = RawCatalogueQuery::from_pairs([("team", "payments"), ("utm_source", "mail")]);
        assert_eq!(raw.team, "payments");
        assert_eq!(
            raw,
            RawCatalogueQuery {
                team: "payments".to_owned(),
                ..RawCatalogueQuery::default()
            }
        );
    }

    #[test]
    fn search_text_is_encoded_in_links() {
        let query = CatalogueQuery::parse(&raw(&[("q", "a&b=c/é")])).expect("parses");
        assert_eq!(query.to_query_string(), "?q=a%26b%3Dc%2F%C3%A9");
    }

    #[test]
    fn deploy_states_read_from_recorded_statuses() {
        assert_eq!(
            DeployState::from_status("succeeded"),
            Some(DeployState::Running)
        );
        assert_eq!(
            DeployState::from_status("applying"),
            Some(DeployState::RollingOut)
        );
        assert_eq!(
            DeployState::from_status("rolling_out"),
            Some(DeployState::RollingOut)
        );
        assert_eq!(
            DeployState::from_status("failed"),
            Some(DeployState::Failed)
        );
        assert_eq!(DeployState::from_status("deleted"), None);
    }

    #[test]
    fn per_source_sums_and_orders_sources() {
        let mut figures = PerSource::default();
        figures.add("simulated", 1.0);
        figures.add("measured", 2.0);
        figures.add("simulated", 0.5);
        assert_eq!(
            figures.0,
            vec![("measured".to_owned(), 2.0), ("simulated".to_owned(), 1.5)]
        );
        assert_eq!(figures.total(), 3.5);
    }
}
