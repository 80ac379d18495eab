//! The Energy overview: kWh and CO2e for a period, by team and service, top emitters, trend,
//! idle share, and how much is measured, estimated or simulated (every figure labelled).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::energy::{load_energy_overview, BySource, EnergyOverview, EnergyPeriod, EnergyRow},
    components::{
        energy_chart::{format_grams, format_kwh, EnergyChart},
        error_banner::ErrorBanner,
    },
};

#[component]
pub fn EnergyPage() -> impl IntoView {
    let query = use_query_map();
    let period = move || {
        query
            .read()
            .get("period")
            .and_then(|p| EnergyPeriod::parse(&p))
            .unwrap_or_default()
    };
    let overview = Resource::new(period, |p| load_energy_overview(p.as_str().to_owned()));
    view! {
        <Title text="Energy · Canopy" />
        <section class="page">
            <h1>"Energy"</h1>
            <nav class="period-switch" aria-label="Period">
                {EnergyPeriod::ALL
                    .into_iter()
                    .map(|p| {
                        let current = move || (period() == p).then_some("page");
                        view! {
                            <a href=format!("/energy?period={}", p.as_str()) aria-current=current>
                                {p.as_str()}
                            </a>
                            " "
                        }
                    })
                    .collect_view()}
            </nav>
            <Suspense fallback=|| view! { <p class="muted">"Loading energy figures…"</p> }>
                {move || {
                    overview
                        .get()
                        .map(|result| match result {
                            Ok(o) if !o.has_any_data => view! { <EmptyState /> }.into_any(),
                            Ok(o) => view! { <Overview overview=o /> }.into_any(),
                            Err(error) => view! { <ErrorBanner error /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn EmptyState() -> impl IntoView {
    view! {
        <div class="empty-state" data-testid="energy-empty">
            <p>"No energy data yet: no node agent has reported to this Canopy."</p>
            <ol>
                <li>
                    "Create a token per node: " <code>"POST /api/v1/energy/node-tokens"</code>
                    " with " <code>"{\"cluster\": \"prod\", \"node\": \"<node name>\"}"</code>
                    " (admin API token), and store it in the Secret "
                    <code>"canopy-agent-tokens"</code> " (one key per node name)."
                </li>
                <li>
                    "Install the agent DaemonSet: " <code>"kubectl apply -k deploy/agent"</code>
                    " (manifests in " <code>"deploy/agent/"</code> ", see docs/AGENT.md)."
                </li>
                <li>"Figures appear here within a minute, each marked measured, estimated or simulated."</li>
            </ol>
        </div>
    }
}

/// A figure per source that has energy: `0.500 kWh · 289 g CO2e measured`.
#[component]
fn Figures(figures: BySource) -> impl IntoView {
    let parts = figures.parts();
    if parts.is_empty() {
        return view! { <span class="muted">"0 kWh"</span> }.into_any();
    }
    parts
        .into_iter()
        .map(|(source, f)| {
            view! {
                <span class=format!("figure source-{source}")>
                    {format!("{} · {} ", format_kwh(f.kwh), format_grams(f.grams_co2e))}
                    <span class="source-label">{source}</span>
                </span>
                <br />
            }
        })
        .collect_view()
        .into_any()
}

fn trend(current: f64, previous: f64) -> String {
    if previous <= 0.0 {
        return "no data in the previous period".to_owned();
    }
    let change = (current - previous) / previous * 100.0;
    format!("{change:+.1} % vs the previous period")
}

#[component]
fn Overview(overview: EnergyOverview) -> impl IntoView {
    let total = overview.total.total();
    let previous = overview.previous_total.total();
    let idle_kwh = overview.idle.total().kwh;
    let idle_share = if total.kwh > 0.0 {
        idle_kwh / total.kwh * 100.0
    } else {
        0.0
    };
    let source_mix = overview
        .total
        .parts()
        .into_iter()
        .map(|(source, f)| {
            let share = if total.kwh > 0.0 {
                f.kwh / total.kwh * 100.0
            } else {
                0.0
            };
            format!("{share:.0} % {source}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let top: Vec<EnergyRow> = overview.services.iter().take(5).cloned().collect();
    view! {
        <p class="muted">
            {format!("{} ({} to {}).", overview.period.label(), overview.from, overview.to)}
        </p>
        <div class="cards" data-testid="energy-totals">
            <div class="card">
                <h2>"Total"</h2>
                <Figures figures=overview.total />
                <p class="muted small">{format!("All sources together: {} · {} ({source_mix}).", format_kwh(total.kwh), format_grams(total.grams_co2e))}</p>
                <p class="small">{trend(total.kwh, previous.kwh)}</p>
            </div>
            <div class="card">
                <h2>"Idle"</h2>
                <Figures figures=overview.idle />
                <p class="small">{format!("{idle_share:.1} % of node energy was idle (powered, not working).")}</p>
                <h3>"System (outside pods)"</h3>
                <Figures figures=overview.system />
            </div>
        </div>
        <h2>"Top emitters"</h2>
        <RowTable rows=top first="Service" />
        <h2>"By team"</h2>
        <RowTable rows=overview.teams first="Team" />
        <h2>"By service"</h2>
        <RowTable rows=overview.services first="Service" />
        {(!overview.namespaces.is_empty())
            .then(|| {
                view! {
                    <h2>"Pods Canopy did not create, by namespace"</h2>
                    <RowTable rows=overview.namespaces first="Namespace" />
                }
            })}
        <h2>"Per service"</h2>
        {overview
            .top_series
            .into_iter()
            .map(|series| view! { <EnergyChart series /> })
            .collect_view()}
        <h2>"How CO2e is computed"</h2>
        <p class="small">"gCO2e = kWh × PUE × grid intensity (yearly average, location-based), per cluster:"</p>
        <ul class="small">
            {overview.carbon_notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
        </ul>
    }
}

#[component]
fn RowTable(rows: Vec<EnergyRow>, first: &'static str) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted">"Nothing reported for this period."</p> }.into_any();
    }
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th scope="col">{first}</th>
                    <th scope="col">"Energy and CO2e, by source"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|row| {
                        let name = match first {
                            "Team" => row.team.clone(),
                            "Namespace" if row.namespace.is_empty() => "(pods not resolved by the agent)".to_owned(),
                            "Namespace" => row.namespace.clone(),
                            _ => format!("{} / {}", row.team, row.service),
                        };
                        let per_deploy = (row.deploys > 0)
                            .then(|| {
                                let grams = row.figures.total().grams_co2e / row.deploys as f64;
                                format!(
                                    "SCI per deploy: {} ({} deploys; operational only, embodied emissions not included)",
                                    format_grams(grams),
                                    row.deploys,
                                )
                            });
                        view! {
                            <tr>
                                <td>{name}</td>
                                <td>
                                    <Figures figures=row.figures />
                                    {per_deploy.map(|text| view! { <span class="muted small">{text}</span> })}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
