//! The Energy overview: kWh and CO2e for a period, by team and service, top emitters, trend,
//! idle share, and how much is measured, estimated or simulated (every figure labelled).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::energy::{load_energy_overview, BySource, EnergyOverview, EnergyRow, PeriodSelection},
    components::{
        energy_chart::EnergyChart,
        energy_figures::{
            is_period_error, source_mix, trend, EnergyEmptyState, Figures, PeriodPicker, RawPeriod,
        },
        error_banner::LoadError,
    },
    format::{co2e, energy_and_co2e, or_refused},
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
    let top = TopEmitters::from_services(
        &overview.services,
        usize::try_from(overview.services_count).unwrap_or(usize::MAX),
        total.grams_co2e,
    );
    view! {
        <p class="muted">
            {format!("{} ({} to {}).", overview.selection.label(), overview.from, overview.to)}
        </p>
        <div class="cards" data-testid="energy-totals">
            <div class="card">
                <h2>"Total"</h2>
                <Figures figures=overview.total />
                <p class="muted small">{format!("All sources together: {} ({source_mix}).", or_refused(energy_and_co2e(total.kwh, total.grams_co2e)))}</p>
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
        {top.map(|top| view! { <TopEmittersList top /> })}
        <h2>"By team"</h2>
        <RowTable
            rows=overview.teams
            first="Team"
            selection=overview.selection
            rest=Rest { count: overview.teams_count, figures: overview.other_teams }
        />
        <h2>"By service"</h2>
        <RowTable
            rows=overview.services
            first="Service"
            selection=overview.selection
            rest=Rest { count: overview.services_count, figures: overview.other_services }
        />
        {(!overview.namespaces.is_empty())
            .then(|| {
                view! {
                    <h2>"Pods Canopy did not create, by namespace"</h2>
                    <RowTable
                        rows=overview.namespaces
                        first="Namespace"
                        selection=overview.selection
                        rest=Rest { count: overview.namespaces_count, figures: overview.other_namespaces }
                    />
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

/// The few services that emit the most, each with its share of the period's CO2e: a short
/// highlight above the "By service" table (the largest services by source, and the rest).
#[derive(Debug, Clone, PartialEq)]
struct TopEmitters {
    /// `(row, share of the total CO2e in %)`, largest first.
    rows: Vec<(EnergyRow, f64)>,
    /// How many services there are in all.
    of: usize,
}

impl TopEmitters {
    const COUNT: usize = 5;

    /// None when there are fewer than two services with CO2e: a one-line highlight of one
    /// service would only repeat the table under it.
    fn from_services(services: &[EnergyRow], of: usize, total_grams: f64) -> Option<Self> {
        let mut emitting: Vec<&EnergyRow> = services
            .iter()
            .filter(|row| row.figures.total().grams_co2e > 0.0)
            .collect();
        if emitting.len() < 2 || total_grams <= 0.0 {
            return None;
        }
        emitting.sort_by(|a, b| {
            b.figures
                .total()
                .grams_co2e
                .total_cmp(&a.figures.total().grams_co2e)
        });
        let rows = emitting
            .into_iter()
            .take(Self::COUNT)
            .map(|row| {
                let share = row.figures.total().grams_co2e / total_grams * 100.0;
                (row.clone(), share)
            })
            .collect();
        Some(Self { rows, of })
    }
}

#[component]
fn TopEmittersList(top: TopEmitters) -> impl IntoView {
    let shown = top.rows.len();
    view! {
        <h2>"Top emitters"</h2>
        <p class="muted small">
            {if shown == top.of {
                "The services that emitted the most CO2e, and their share of the total. ".to_owned()
            } else {
                format!("The {shown} of {} services that emitted the most CO2e, and their share of the total. ", top.of)
            }}
            "The largest services, by source, are under \u{201c}By service\u{201d}."
        </p>
        <ol class="top-emitters" data-testid="top-emitters">
            {top
                .rows
                .into_iter()
                .map(|(row, share)| {
                    let href = format!("/services/{}/{}", row.team, row.service);
                    view! {
                        <li>
                            <a href=href>{format!("{} / {}", row.team, row.service)}</a>
                            {format!(": {}, {share:.1} % of the total", or_refused(co2e(row.figures.total().grams_co2e)))}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}

/// The rows a table leaves out: how many rows there are in all, and the figures of the rest.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rest {
    count: i64,
    figures: BySource,
}

/// The last row of a table that lists only the largest: the others added up, and where to see
/// them (the catalogue sorted by energy, for services).
#[component]
fn RestRow(rest: Rest, shown: usize, first: &'static str) -> impl IntoView {
    let others = rest.count - i64::try_from(shown).unwrap_or(i64::MAX);
    (others > 0).then(|| {
        let what = match first {
            "Team" => "teams",
            "Namespace" => "namespaces",
            _ => "services",
        };
        let label = format!("{others} other {what} together");
        let name = if first == "Service" {
            view! {
                <a href="/services?sort=energy&dir=desc">{label}</a>
                <span class="muted small">" (every service, by energy: the catalogue)"</span>
            }
            .into_any()
        } else {
            view! { {label} }.into_any()
        };
        view! {
            <tr data-testid="energy-rest">
                <td>{name}</td>
                <td><Figures figures=rest.figures /></td>
            </tr>
        }
    })
}

#[component]
fn RowTable(
    rows: Vec<EnergyRow>,
    first: &'static str,
    selection: PeriodSelection,
    rest: Rest,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted">"Nothing reported for this period."</p> }.into_any();
    }
    let shown = rows.len();
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
                                    or_refused(co2e(grams)),
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
                <RestRow rest shown first />
            </tbody>
        </table>
    }
    .into_any()
}
