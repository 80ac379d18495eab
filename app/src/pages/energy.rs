//! The Energy overview: kWh and CO2e for a period, by team and service, top emitters, trend,
//! idle share, and how much is measured, estimated or simulated (every figure labelled).

use std::fmt::Write;

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
        html::{attr, text, write_figures},
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
fn write_rest_row(out: &mut String, rest: &Rest, shown: usize, first: &str) {
    let others = rest.count - i64::try_from(shown).unwrap_or(i64::MAX);
    if others <= 0 {
        return;
    }
    let what = match first {
        "Team" => "teams",
        "Namespace" => "namespaces",
        _ => "services",
    };
    let label = format!("{others} other {what} together");
    out.push_str(r#"<tr data-testid="energy-rest"><td>"#);
    if first == "Service" {
        let _ = write!(
            out,
            r#"<a href="{}">{}</a><span class="muted small"> (every service, by energy: the catalogue)</span>"#,
            attr("/services?sort=energy&dir=desc"),
            text(&label)
        );
    } else {
        out.push_str(&text(&label));
    }
    out.push_str("</td><td>");
    write_figures(out, &rest.figures);
    out.push_str("</td></tr>");
}

/// The table's rows and the rest, written as HTML directly (`components::html`): links, text
/// and labelled figures with nothing reactive, 60 rows on the Energy overview.
fn rows_html(rows: &[EnergyRow], first: &str, selection: &PeriodSelection, rest: &Rest) -> String {
    let mut out = String::with_capacity(rows.len() * 400);
    for row in rows {
        out.push_str("<tr><td>");
        match first {
            "Team" => {
                let href = format!("/teams/{}?{}", row.team, selection.query());
                let _ = write!(out, r#"<a href="{}">{}</a>"#, attr(&href), text(&row.team));
            }
            "Namespace" if row.namespace.is_empty() => {
                out.push_str("(pods not resolved by the agent)");
            }
            "Namespace" => out.push_str(&text(&row.namespace)),
            _ => {
                let href = format!("/services/{}/{}", row.team, row.service);
                let name = format!("{} / {}", row.team, row.service);
                let _ = write!(out, r#"<a href="{}">{}</a>"#, attr(&href), text(&name));
            }
        }
        out.push_str("</td><td>");
        write_figures(&mut out, &row.figures);
        if first != "Team" && row.deploys > 0 {
            let grams = row.figures.total().grams_co2e / row.deploys as f64;
            let note = format!(
                "SCI per deploy: {} ({} deploy{}; operational only, embodied emissions not included)",
                or_refused(co2e(grams)),
                row.deploys,
                if row.deploys == 1 { "" } else { "s" },
            );
            let _ = write!(out, r#"<span class="muted small">{}</span>"#, text(&note));
        }
        out.push_str("</td></tr>");
    }
    write_rest_row(&mut out, rest, rows.len(), first);
    out
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
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th scope="col">{first}</th>
                    <th scope="col">"Energy and CO2e, by source"</th>
                </tr>
            </thead>
            <tbody inner_html=rows_html(&rows, first, &selection, &rest)></tbody>
        </table>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::energy::{EnergyPeriod, Figure};

    fn row(team: &str, service: &str, kwh: f64, deploys: i64) -> EnergyRow {
        EnergyRow {
            team: team.to_owned(),
            service: service.to_owned(),
            namespace: format!("{team}-prod"),
            figures: BySource {
                measured: Figure {
                    kwh,
                    grams_co2e: kwh * 400.0,
                },
                ..BySource::default()
            },
            deploys,
        }
    }

    #[test]
    fn service_rows_link_each_service_and_the_rest_to_the_catalogue() {
        let rest = Rest {
            count: 12,
            figures: row("", "", 2.0, 0).figures,
        };
        let html = rows_html(
            &[row("pay", "checkout", 1.0, 2)],
            "Service",
            &PeriodSelection::Preset(EnergyPeriod::ALL[0]),
            &rest,
        );
        assert!(html.starts_with(r#"<tr><td><a href="/services/pay/checkout">pay / checkout</a></td><td><span class="figure source-measured">1.00 kWh · 400 g CO2e <span class="source-label">measured</span></span><br><span class="muted small">SCI per deploy: 200 g CO2e (2 deploys; operational only, embodied emissions not included)</span></td></tr>"#), "{html}");
        assert!(html.contains(r#"<tr data-testid="energy-rest"><td><a href="/services?sort=energy&amp;dir=desc">11 other services together</a>"#), "{html}");
    }

    #[test]
    fn team_rows_keep_the_period_and_show_no_rest_when_all_are_shown() {
        let rest = Rest {
            count: 1,
            figures: BySource::default(),
        };
        let selection = PeriodSelection::Preset(EnergyPeriod::ALL[0]);
        let html = rows_html(&[row("pay", "", 1.0, 0)], "Team", &selection, &rest);
        assert!(
            html.starts_with(&format!(
                r#"<tr><td><a href="/teams/pay?{}">pay</a></td>"#,
                selection.query().replace('&', "&amp;")
            )),
            "{html}"
        );
        assert!(!html.contains("energy-rest"), "{html}");
    }
}
