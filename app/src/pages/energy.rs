//! The Energy overview: kWh and CO2e for a period, by team and service, top emitters, trend,
//! idle share, and how much is measured, estimated or simulated (every figure labelled).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::energy::{load_energy_overview, EnergyOverview, EnergyRow, PeriodSelection},
    components::{
        energy_chart::{format_grams, format_kwh, EnergyChart},
        energy_figures::{
            is_period_error, source_mix, trend, EnergyEmptyState, Figures, PeriodPicker, RawPeriod,
        },
        error_banner::LoadError,
    },
};

#[component]
pub fn EnergyPage() -> impl IntoView {
    let query = use_query_map();
    let raw = Signal::derive(move || RawPeriod::from_query(&query.read()));
    let overview = Resource::new(
        move || raw.get(),
        |raw| load_energy_overview(raw.period, raw.from, raw.to),
    );
    let period_error =
        Signal::derive(move || overview.get().and_then(|r| r.err()).filter(is_period_error));
    view! {
        <Title text="Energy · Canopy" />
        <section class="page">
            <h1>"Energy"</h1>
            <Suspense fallback=|| ()>
                <PeriodPicker base=Signal::derive(|| "/energy".to_owned()) raw error=period_error />
            </Suspense>
            <Suspense fallback=|| view! { <p class="muted">"Loading energy figures…"</p> }>
                {move || {
                    overview
                        .get()
                        .map(|result| match result {
                            Ok(o) if !o.has_any_data => {
                                view! {
                                    <EnergyEmptyState headline="No energy data yet: no node agent has reported to this Canopy." />
                                }
                                    .into_any()
                            }
                            Ok(o) => view! { <Overview overview=o /> }.into_any(),
                            Err(error) if is_period_error(&error) => ().into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
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
    let source_mix = source_mix(&overview.total);
    let top: Vec<EnergyRow> = overview.services.iter().take(5).cloned().collect();
    view! {
        <p class="muted">
            {format!("{} ({} to {}).", overview.selection.label(), overview.from, overview.to)}
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
        <RowTable rows=top first="Service" selection=overview.selection />
        <h2>"By team"</h2>
        <RowTable rows=overview.teams first="Team" selection=overview.selection />
        <h2>"By service"</h2>
        <RowTable rows=overview.services first="Service" selection=overview.selection />
        {(!overview.namespaces.is_empty())
            .then(|| {
                view! {
                    <h2>"Pods Canopy did not create, by namespace"</h2>
                    <RowTable rows=overview.namespaces first="Namespace" selection=overview.selection />
                }
            })}
        <h2>"Per service"</h2>
        {overview
            .top_series
            .into_iter()
            .map(|series| view! { <EnergyChart series /> })
            .collect_view()}
        <h2>"How CO2e is computed"</h2>
        <p class="small">"gCO2e = kWh × PUE × grid intensity (location-based), per cluster:"</p>
        <ul class="small">
            {overview.carbon_notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
        </ul>
        <p class="small">"Grid intensity used in this period:"</p>
        <ul class="small" data-testid="grid-intensity">
            {overview
                .grid_intensity
                .into_iter()
                .map(|g| {
                    let zone = if g.zone.is_empty() { String::new() } else { format!(" (zone {})", g.zone) };
                    let hours = if g.live_hours > 0 {
                        format!("{} of {} hours from {}, the others use ", g.live_hours, g.period_hours, g.live_source)
                    } else {
                        format!("all {} hours use ", g.period_hours)
                    };
                    view! {
                        <li>{format!("{}{zone}: {hours}{}. Live feed: {}.", g.cluster, g.fallback_source, g.status)}</li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

#[component]
fn RowTable(
    rows: Vec<EnergyRow>,
    first: &'static str,
    selection: PeriodSelection,
) -> impl IntoView {
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
                            "Team" => {
                                let href = format!("/teams/{}?{}", row.team, selection.query());
                                return view! {
                                    <tr>
                                        <td><a href=href>{row.team.clone()}</a></td>
                                        <td><Figures figures=row.figures /></td>
                                    </tr>
                                }
                                    .into_any();
                            }
                            "Namespace" if row.namespace.is_empty() => "(pods not resolved by the agent)".to_owned(),
                            "Namespace" => row.namespace.clone(),
                            _ => format!("{} / {}", row.team, row.service),
                        };
                        let per_deploy = (row.deploys > 0)
                            .then(|| {
                                let grams = row.figures.total().grams_co2e / row.deploys as f64;
                                format!(
                                    "SCI per deploy: {} ({} deploy{}; operational only, embodied emissions not included)",
                                    format_grams(grams),
                                    row.deploys,
                                    if row.deploys == 1 { "" } else { "s" },
                                )
                            });
                        let name = if first == "Namespace" {
                            view! { {name} }.into_any()
                        } else {
                            let href = format!("/services/{}/{}", row.team, row.service);
                            view! { <a href=href>{name}</a> }.into_any()
                        };
                        view! {
                            <tr>
                                <td>{name}</td>
                                <td>
                                    <Figures figures=row.figures />
                                    {per_deploy.map(|text| view! { <span class="muted small">{text}</span> })}
                                </td>
                            </tr>
                        }
                            .into_any()
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
