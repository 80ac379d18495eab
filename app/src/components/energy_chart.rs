//! A service's energy over time as an SVG bar chart rendered on the server (works without
//! JavaScript): one stacked bar per step, measured / estimated / simulated in separate colours,
//! each bar's values in its tooltip (`<title>`), and a legend naming the sources. Once
//! hydrated, hovering or focusing a bar shows its values under the chart. Its text
//! alternative: the image's label summarises the series (total by source, the highest step),
//! and a table of every step's figures sits under it in a `<details>`. The bars and the table's
//! rows are written as markup (`components::html`), not views: one handler on the chart reads
//! the bar an event bubbled from.

use std::fmt::Write;

use leptos::prelude::*;

use super::html::{attr, text};
use crate::{
    api::energy::{EnergySeries, Figure, ServicePodPower},
    format::{energy, energy_and_co2e, or_refused, power},
};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const PLOT_TOP: f64 = 16.0;
const PLOT_BOTTOM: f64 = 156.0;

/// Colours as SVG presentation attributes (the CSP forbids inline styles, not attributes).
pub const SOURCE_COLOURS: [(&str, &str); 3] = [
    ("measured", "#2e7d32"),
    ("estimated", "#f9a825"),
    ("simulated", "#7e57c2"),
];

/// A step's start as people read it: the day (`2026-11-30`) for whole-day steps, which start at
/// midnight UTC, else the RFC 3339 time the server gave.
fn step_label<'a>(series: &EnergySeries, start: &'a str) -> &'a str {
    if series.step_secs > 0 && series.step_secs % 86_400 == 0 {
        start.strip_suffix("T00:00:00Z").unwrap_or(start)
    } else {
        start
    }
}

fn describe(start: &str, parts: &[(&str, Figure)]) -> String {
    let mut text = start.to_owned();
    if parts.is_empty() {
        text.push_str(": no energy reported");
    }
    for (source, figure) in parts {
        text.push_str(&format!(
            "\n{source}: {}",
            or_refused(energy_and_co2e(figure.kwh, figure.grams_co2e))
        ));
    }
    text
}

#[component]
pub fn EnergyChart(series: EnergySeries, #[prop(optional)] title: Option<String>) -> impl IntoView {
    if series.total.parts().is_empty() {
        let label = title.unwrap_or_else(|| format!("{} / {}", series.team, series.service));
        return view! {
            <div class="empty-state" data-testid="energy-chart-empty">
                <p>{format!("No energy reported for {label} from {} to {}.", series.from, series.to)}</p>
                <p class="small">
                    "Its pods need the labels " <code>"canopy.dev/team"</code> " and "
                    <code>"canopy.dev/service"</code> " (Canopy's deploys set them) and a node running the agent: "
                    <code>"kubectl apply -k deploy/agent"</code> " (docs/AGENT.md; docs/ENERGY.md, \u{201c}Getting data in\u{201d}). "
                    "In Canopy's sandbox, simulated figures appear within a minute of a deploy."
                </p>
            </div>
        }
        .into_any();
    }
    let hovered = RwSignal::new(None::<String>);
    let label = title.unwrap_or_else(|| format!("{} / {}", series.team, series.service));
    let aria = summary(&series, &label);
    let table = data_table(&series);
    let body = svg_body(&series);
    // One handler for every bar (events bubble to the chart): the bar under the pointer or with
    // the focus shows its values under the chart.
    let show = move |event: &leptos::ev::Event| {
        if let Some(values) = bar_values(event) {
            hovered.set(Some(values));
        }
    };
    let total = series.total;
    view! {
        <figure class="energy-chart" data-testid="energy-chart">
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                width="100%"
                role="img"
                aria-label=aria
                xmlns="http://www.w3.org/2000/svg"
                on:mouseover=move |event| show(&event)
                on:focusin=move |event| show(&event)
                inner_html=body
            ></svg>
            <p class="chart-readout" aria-live="polite" data-testid="chart-readout">
                {move || hovered.get().unwrap_or_else(|| "Hover over or focus a bar for its values.".to_owned())}
            </p>
            {table}
            <figcaption>
                <strong>{label}</strong>
                {SOURCE_COLOURS
                    .iter()
                    .map(|(source, colour)| {
                        let figure = match *source {
                            "measured" => total.measured,
                            "estimated" => total.estimated,
                            _ => total.simulated,
                        };
                        view! {
                            <span class="legend-item">
                                <svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill=*colour /></svg>
                                {format!(" {source}: {} ", or_refused(energy_and_co2e(figure.kwh, figure.grams_co2e)))}
                            </span>
                        }
                    })
                    .collect_view()}
            </figcaption>
        </figure>
    }
    .into_any()
}

/// The chart's lines, labels and bars, written as SVG markup directly (`components::html`):
/// up to 90 bars of up to three segments each, three charts on the Energy overview, with
/// nothing reactive in them. Each bar's values are in its `<title>` (the tooltip; what
/// [`bar_values`] reads), stacked from the bottom: measured, estimated, simulated.
fn svg_body(series: &EnergySeries) -> String {
    let count = series.points.len().max(1) as f64;
    let max_kwh = series
        .points
        .iter()
        .map(|p| p.figures.total().kwh)
        .fold(0.0_f64, f64::max);
    let scale = if max_kwh > 0.0 {
        (PLOT_BOTTOM - PLOT_TOP) / max_kwh
    } else {
        0.0
    };
    let slot = WIDTH / count;
    let bar_width = (slot * 0.8).max(1.0);
    let mut out = String::with_capacity(series.points.len() * 300 + 400);
    // Writing into a String cannot fail: the results are ignored.
    let _ = write!(
        out,
        r##"<line x1="0" y1="{PLOT_BOTTOM}" x2="{WIDTH}" y2="{PLOT_BOTTOM}" stroke="#999"></line><text x="2" y="11" font-size="10" fill="#555">{}</text>"##,
        text(&format!("max {}", or_refused(energy(max_kwh))))
    );
    for (i, point) in series.points.iter().enumerate() {
        let figures = point.figures;
        // A full-height transparent target so hovering anywhere in the slot shows the values.
        let _ = write!(
            out,
            r#"<g class="energy-bar" tabindex="0"><title>{}</title><rect x="{:.1}" y="0" width="{slot:.1}" height="{PLOT_BOTTOM}" fill="transparent"></rect>"#,
            text(&describe(
                step_label(series, &point.start),
                &figures.parts()
            )),
            i as f64 * slot,
        );
        let x = i as f64 * slot + (slot - bar_width) / 2.0;
        let mut y = PLOT_BOTTOM;
        for (kwh, (_, colour)) in [
            figures.measured.kwh,
            figures.estimated.kwh,
            figures.simulated.kwh,
        ]
        .into_iter()
        .zip(SOURCE_COLOURS)
        {
            if kwh <= 0.0 {
                continue;
            }
            let h = (kwh * scale).max(0.5);
            y -= h;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar_width:.1}" height="{h:.1}" fill="{colour}"></rect>"#
            );
        }
        out.push_str("</g>");
    }
    let first = series
        .points
        .first()
        .map_or("", |p| step_label(series, &p.start));
    let last = series
        .points
        .last()
        .map_or("", |p| step_label(series, &p.start));
    let _ = write!(
        out,
        r##"<text x="0" y="172" font-size="10" fill="#555">{}</text><text x="{WIDTH}" y="172" font-size="10" fill="#555" text-anchor="end">{}</text>"##,
        text(first),
        text(last)
    );
    out
}

/// The values of the bar an event happened in (its `<title>` on one line), if any.
#[cfg(feature = "hydrate")]
fn bar_values(event: &leptos::ev::Event) -> Option<String> {
    use wasm_bindgen::JsCast;
    let target = event.target()?.dyn_into::<web_sys::Element>().ok()?;
    let title = target
        .closest("g.energy-bar")
        .ok()??
        .query_selector("title")
        .ok()??;
    Some(title.text_content()?.replace('\n', " · "))
}

/// On the server no event happens.
#[cfg(not(feature = "hydrate"))]
fn bar_values(_: &leptos::ev::Event) -> Option<String> {
    None
}

/// The chart's label for screen readers: what it shows, the total by source and the highest
/// step, e.g. `Energy of shop / web from … to …, per 1 h: measured 500 mWh · 289 mg CO2e in
/// total; highest step 2026-11-30T10:00:00Z with 500 mWh.`
fn summary(series: &EnergySeries, label: &str) -> String {
    let totals = series
        .total
        .parts()
        .into_iter()
        .map(|(source, figure)| {
            format!(
                "{source} {}",
                or_refused(energy_and_co2e(figure.kwh, figure.grams_co2e))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let peak = series
        .points
        .iter()
        .max_by(|a, b| a.figures.total().kwh.total_cmp(&b.figures.total().kwh))
        .map(|p| {
            format!(
                "; highest step {} with {}",
                step_label(series, &p.start),
                or_refused(energy(p.figures.total().kwh))
            )
        })
        .unwrap_or_default();
    format!(
        "Energy of {label} from {} to {}, per {}: {totals} in total{peak}. The table below the chart lists every step.",
        series.from,
        series.to,
        crate::format::duration(series.step_secs.max(0) as u64),
    )
}

/// Every step's figures by source, as a table (the chart's text alternative).
fn data_table(series: &EnergySeries) -> impl IntoView {
    view! {
        <details class="chart-data" data-testid="chart-data">
            <summary>"The chart's figures as a table"</summary>
            <table class="table">
                <caption class="visually-hidden">"Energy and CO2e per step, by source"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Step starting"</th>
                        <th scope="col">"Measured"</th>
                        <th scope="col">"Estimated"</th>
                        <th scope="col">"Simulated"</th>
                    </tr>
                </thead>
                <tbody inner_html=step_rows_html(series)></tbody>
            </table>
        </details>
    }
}

/// The table's rows, written as HTML directly (`components::html`): a chart has up to 90 steps
/// and a page up to three charts, with nothing reactive in the table.
fn step_rows_html(series: &EnergySeries) -> String {
    let figure = |f: Figure| {
        if f.kwh > 0.0 {
            or_refused(energy_and_co2e(f.kwh, f.grams_co2e))
        } else {
            "–".to_owned()
        }
    };
    let mut out = String::with_capacity(series.points.len() * 160);
    for p in &series.points {
        // Writing into a String cannot fail: the results are ignored.
        let _ = write!(
            out,
            r#"<tr><th scope="row"><time datetime="{}">{}</time></th><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            attr(step_label(series, &p.start)),
            text(step_label(series, &p.start)),
            text(&figure(p.figures.measured)),
            text(&figure(p.figures.estimated)),
            text(&figure(p.figures.simulated)),
        );
    }
    out
}

#[allow(unused_imports)]
pub use pod_power::PodPowerTable;

/// Power now (per source) and the per-pod breakdown of a service, for the service page.
mod pod_power {
    use super::*;

    #[component]
    pub fn PodPowerTable(pods: ServicePodPower) -> impl IntoView {
        if pods.pods.is_empty() {
            return view! {
                <p class="muted">
                    {format!("No energy reported for this service's pods in the last {} minutes: power now needs the agent on their nodes (kubectl apply -k deploy/agent; docs/AGENT.md).", pods.window_secs / 60)}
                </p>
            }
            .into_any();
        }
        let now = pods
            .power_by_source()
            .into_iter()
            .map(|(source, watts)| format!("{} {source}", or_refused(power(watts))))
            .collect::<Vec<_>>()
            .join(", ");
        view! {
            <p data-testid="power-now">{format!("Power now (average of the last {} minutes): {now}", pods.window_secs / 60)}</p>
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Pod"</th>
                        <th scope="col">"Node"</th>
                        <th scope="col">"Power"</th>
                        <th scope="col">"Source"</th>
                    </tr>
                </thead>
                <tbody>
                    {pods
                        .pods
                        .into_iter()
                        .map(|p| {
                            view! {
                                <tr>
                                    <td>{format!("{}/{}", p.namespace, p.pod)}</td>
                                    <td>{p.node}</td>
                                    <td>{or_refused(power(p.power_watts))}</td>
                                    <td>{p.source}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::energy::{BySource, SeriesPoint};

    /// kWh measured and simulated (400 g CO2e per kWh).
    fn figures(measured: f64, simulated: f64) -> BySource {
        BySource {
            measured: Figure {
                kwh: measured,
                grams_co2e: measured * 400.0,
            },
            simulated: Figure {
                kwh: simulated,
                grams_co2e: simulated * 400.0,
            },
            ..BySource::default()
        }
    }

    /// Two hourly steps from 2026-11-30T08:00:00Z, with these figures.
    fn two_hours(first: BySource, second: BySource) -> EnergySeries {
        let point = |start: &str, figures| SeriesPoint {
            start: start.to_owned(),
            figures,
        };
        let mut total = first;
        total.add_all(&second);
        EnergySeries {
            team: "pay".to_owned(),
            service: "web".to_owned(),
            from: "2026-11-30T08:00:00Z".to_owned(),
            to: "2026-11-30T10:00:00Z".to_owned(),
            step_secs: 3600,
            resolution: "hourly".to_owned(),
            points: vec![
                point("2026-11-30T08:00:00Z", first),
                point("2026-11-30T09:00:00Z", second),
            ],
            total,
            request_sci: None,
        }
    }

    #[test]
    fn bars_stack_their_sources_from_the_bottom_with_their_values_in_the_tooltip() {
        let series = two_hours(figures(0.5, 0.5), figures(0.0, 0.0));
        let svg = svg_body(&series);
        // The highest bar (1 kWh) spans the plot (16 to 156): half measured at the bottom, half
        // simulated on top; each bar takes a 320-wide slot with a 256-wide bar in its middle.
        assert!(svg.starts_with(r##"<line x1="0" y1="156" x2="640" y2="156" stroke="#999"></line><text x="2" y="11" font-size="10" fill="#555">max 1.00 kWh</text>"##), "{svg}");
        assert!(svg.contains(concat!(
            r#"<g class="energy-bar" tabindex="0"><title>2026-11-30T08:00:00Z"#,
            "\nmeasured: 500 Wh · 200 g CO2e\nsimulated: 500 Wh · 200 g CO2e</title>",
            r#"<rect x="0.0" y="0" width="320.0" height="156" fill="transparent"></rect>"#,
            r##"<rect x="32.0" y="86.0" width="256.0" height="70.0" fill="#2e7d32"></rect>"##,
            r##"<rect x="32.0" y="16.0" width="256.0" height="70.0" fill="#7e57c2"></rect></g>"##,
        )), "{svg}");
        assert!(svg.contains(concat!(
            r#"<g class="energy-bar" tabindex="0"><title>2026-11-30T09:00:00Z: no energy reported</title>"#,
            r#"<rect x="320.0" y="0" width="320.0" height="156" fill="transparent"></rect></g>"#,
        )), "{svg}");
        assert!(svg.ends_with(r##"<text x="0" y="172" font-size="10" fill="#555">2026-11-30T08:00:00Z</text><text x="640" y="172" font-size="10" fill="#555" text-anchor="end">2026-11-30T09:00:00Z</text>"##), "{svg}");
    }

    #[test]
    fn whole_day_steps_read_as_days() {
        let mut series = two_hours(figures(0.5, 0.0), figures(0.0, 0.0));
        assert_eq!(
            step_label(&series, "2026-11-30T00:00:00Z"),
            "2026-11-30T00:00:00Z"
        );
        series.step_secs = 86_400;
        series.points[0].start = "2026-11-29T00:00:00Z".to_owned();
        series.points[1].start = "2026-11-30T00:00:00Z".to_owned();
        assert_eq!(step_label(&series, "2026-11-30T00:00:00Z"), "2026-11-30");
        assert!(step_rows_html(&series).starts_with(
            r#"<tr><th scope="row"><time datetime="2026-11-29">2026-11-29</time></th>"#
        ));
        let svg = svg_body(&series);
        assert!(svg.contains("<title>2026-11-29\nmeasured: 500 Wh"), "{svg}");
        assert!(
            svg.ends_with(r##"text-anchor="end">2026-11-30</text>"##),
            "{svg}"
        );
        assert!(summary(&series, "pay / web").contains("; highest step 2026-11-29 with 500 Wh."));
    }

    #[test]
    fn the_step_table_has_a_row_per_step_with_a_dash_for_a_source_without_energy() {
        let series = two_hours(figures(0.5, 0.0), figures(0.0, 0.0));
        assert_eq!(
            step_rows_html(&series),
            concat!(
                r#"<tr><th scope="row"><time datetime="2026-11-30T08:00:00Z">2026-11-30T08:00:00Z</time></th><td>500 Wh · 200 g CO2e</td><td>–</td><td>–</td></tr>"#,
                r#"<tr><th scope="row"><time datetime="2026-11-30T09:00:00Z">2026-11-30T09:00:00Z</time></th><td>–</td><td>–</td><td>–</td></tr>"#,
            )
        );
    }
}
