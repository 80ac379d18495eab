//! Dependency drift across the organisation (`/dependencies`): services ranked by libyears and
//! major updates behind, filtered by ecosystem and team (a plain GET form, so it works without
//! JavaScript), the trend of the sum of libyears per day, and each row linking to the
//! service's dependencies tab.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::drift::{load_org_drift, OrgDrift, TrendPoint},
    components::error_banner::LoadError,
    pages::service::dependencies::format_libyears,
};

#[component]
pub fn DependenciesPage() -> impl IntoView {
    let query = use_query_map();
    let ecosystem = move || query.read().get("ecosystem").filter(|e| !e.is_empty());
    let team = move || query.read().get("team").filter(|t| !t.is_empty());
    let drift = Resource::new(
        move || (ecosystem(), team()),
        |(ecosystem, team)| load_org_drift(ecosystem, team),
    );
    view! {
        <Title text="Dependencies · Canopy" />
        <section class="page">
            <h1>"Dependencies"</h1>
            <p class="muted">
                "Dependency drift of every scanned service: libyears (time between the release in use and the newest release, added up over dependencies) and updates behind, by type."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    drift
                        .get()
                        .map(|result| match result {
                            Ok(drift) => view! { <OrgView drift /> }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn OrgView(drift: OrgDrift) -> impl IntoView {
    let chosen_eco = drift.ecosystem.clone().unwrap_or_default();
    let chosen_team = drift.team.clone().unwrap_or_default();
    let totals = drift.totals.clone();
    view! {
        <form method="get" action="/dependencies" class="inline filters" data-testid="drift-filters">
            <label for="filter-ecosystem">"Ecosystem"</label>
            <select id="filter-ecosystem" name="ecosystem">
                <option value="" selected=chosen_eco.is_empty()>"All"</option>
                {crate::api::drift::ECOSYSTEMS.iter().map(|eco| {
                    view! { <option value=*eco selected=chosen_eco == *eco>{*eco}</option> }
                }).collect_view()}
            </select>
            <label for="filter-team">"Team"</label>
            <select id="filter-team" name="team">
                <option value="" selected=chosen_team.is_empty()>"All"</option>
                {drift.teams.iter().map(|team| {
                    let team = team.clone();
                    view! { <option value=team.clone() selected=chosen_team == team>{team.clone()}</option> }
                }).collect_view()}
            </select>
            <button type="submit" class="secondary">"Filter"</button>
        </form>
        {if drift.services.is_empty() {
            view! {
                <div class="empty-state" data-testid="drift-empty">
                    <p>"No dependency scans match yet."</p>
                    <p>"Open a service, give its source (a local directory or git checkout) on its Dependencies tab and press “Scan now”. Services are then scanned every day."</p>
                </div>
            }.into_any()
        } else {
            view! {
                <div class="figures" data-testid="org-figures">
                    <div class="figure"><span class="figure-value">{format!("{:.2}", totals.libyears)}</span><span class="figure-label">"libyears behind (sum over services)"</span></div>
                    <div class="figure"><span class="figure-value">{totals.majors_behind}</span><span class="figure-label">"major updates"</span></div>
                    <div class="figure"><span class="figure-value">{totals.outdated}</span><span class="figure-label">{format!("outdated of {} dependencies", totals.dependencies)}</span></div>
                    <div class="figure"><span class="figure-value">{drift.services.len()}</span><span class="figure-label">"services scanned"</span></div>
                </div>
                <TrendChart points=drift.trend.clone() />
                <table class="table" data-testid="drift-ranking">
                    <thead>
                        <tr>
                            <th>"#"</th>
                            <th>"Service"</th>
                            <th>"Team"</th>
                            <th>"Libyears"</th>
                            <th>"Major"</th>
                            <th>"Minor"</th>
                            <th>"Patch"</th>
                            <th>"Outdated / dependencies"</th>
                            <th>"Unknown"</th>
                            <th>"Scanned"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {drift.services.iter().enumerate().map(|(i, s)| {
                            let href = format!("/services/{}/{}/dependencies", s.team, s.service);
                            view! {
                                <tr data-testid="ranking-row">
                                    <td>{i + 1}</td>
                                    <td><a href=href>{s.service.clone()}</a></td>
                                    <td>{s.team.clone()}</td>
                                    <td title=format_libyears(s.totals.libyears)>{format!("{:.2}", s.totals.libyears)}</td>
                                    <td>{s.totals.majors_behind}</td>
                                    <td>{s.totals.minors_behind}</td>
                                    <td>{s.totals.patches_behind}</td>
                                    <td>{format!("{} / {}", s.totals.outdated, s.totals.dependencies)}</td>
                                    <td>{s.totals.unknown}</td>
                                    <td class="muted small">{s.scanned_at.clone()}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 136.0;

/// The sum of libyears per day as an SVG line (presentation attributes only: the CSP forbids
/// inline styles), each point's value in its tooltip.
#[component]
fn TrendChart(points: Vec<TrendPoint>) -> impl IntoView {
    if points.is_empty() {
        return ().into_any();
    }
    let max = points
        .iter()
        .map(|p| p.libyears)
        .fold(0.0_f64, f64::max)
        .max(0.01);
    let step = if points.len() > 1 {
        WIDTH / (points.len() - 1) as f64
    } else {
        0.0
    };
    let xy = |i: usize, p: &TrendPoint| {
        let x = if points.len() > 1 {
            i as f64 * step
        } else {
            WIDTH / 2.0
        };
        let y = BOTTOM - (p.libyears / max) * (BOTTOM - TOP);
        (x, y)
    };
    let line: String = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (x, y) = xy(i, p);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let dots = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (x, y) = xy(i, p);
            let label = format!(
                "{}: {} over {} service(s)",
                p.day,
                format_libyears(p.libyears),
                p.services
            );
            view! {
                <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="3" fill="#2e7d32">
                    <title>{label}</title>
                </circle>
            }
        })
        .collect_view();
    let first = points.first().map(|p| p.day.clone()).unwrap_or_default();
    let last = points.last().map(|p| p.day.clone()).unwrap_or_default();
    let now = points.last().map(|p| p.libyears).unwrap_or_default();
    let aria = format!(
        "Sum of libyears per day from {first} to {last}; now {}",
        format_libyears(now)
    );
    view! {
        <figure class="drift-trend" data-testid="drift-trend">
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") width="100%" role="img" aria-label=aria
                xmlns="http://www.w3.org/2000/svg">
                <line x1="0" y1=format!("{BOTTOM}") x2=format!("{WIDTH}") y2=format!("{BOTTOM}") stroke="#999" />
                <text x="2" y="11" font-size="10" fill="#555">{format!("max {}", format_libyears(max))}</text>
                <polyline points=line fill="none" stroke="#2e7d32" stroke-width="2" />
                {dots}
                <text x="0" y="152" font-size="10" fill="#555">{first}</text>
                <text x=format!("{WIDTH}") y="152" font-size="10" fill="#555" text-anchor="end">{last}</text>
            </svg>
            <figcaption>
                <strong>"Trend: sum of libyears per day"</strong>
                {format!(" (each service at its newest scan of or before that day; now {})", format_libyears(now))}
            </figcaption>
        </figure>
    }
    .into_any()
}
