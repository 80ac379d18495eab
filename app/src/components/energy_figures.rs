//! Pieces the energy pages share: the period picker (preset links and a custom-days GET form,
//! both working without JavaScript), figures labelled by source, trend and source-mix text,
//! a sparkline, and the empty state that says how to get data in.

use std::fmt::Write;

use leptos::prelude::*;

use crate::api::{
    energy::{BySource, EnergyPeriod, PeriodSelection, RequestSci, SparkSeries},
    AppError, Field,
};

use super::{
    energy_chart::SOURCE_COLOURS,
    html::{attr, text},
};
use crate::format::{co2e, energy, energy_and_co2e, or_refused};

/// The agent's DaemonSet manifest, shown in the empty state so it can be copied from the page.
const DAEMONSET_MANIFEST: &str = include_str!("../../../deploy/agent/daemonset.yaml");

/// The page's period as the URL asks for it (`period`, `from`, `to`), not yet validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawPeriod {
    pub period: String,
    pub from: String,
    pub to: String,
}

impl RawPeriod {
    /// Reads `period`, `from` and `to` from the URL query.
    pub fn from_query(query: &leptos_router::params::ParamsMap) -> Self {
        Self {
            period: query.get("period").unwrap_or_default(),
            from: query.get("from").unwrap_or_default(),
            to: query.get("to").unwrap_or_default(),
        }
    }

    pub fn is_custom(&self) -> bool {
        !self.from.trim().is_empty() || !self.to.trim().is_empty()
    }

    /// The preset this asks for (the default when it is custom or unknown).
    pub fn preset(&self) -> EnergyPeriod {
        EnergyPeriod::parse(&self.period).unwrap_or_default()
    }
}

/// Preset links (`?period=7d`) and a form for custom days (`?from=...&to=...`), both plain GET
/// navigation so they work without JavaScript. `base` is the page's path; `keep` are other
/// query parameters of the page that the period's links and form carry along (e.g. `env`).
#[component]
pub fn PeriodPicker(
    base: Signal<String>,
    raw: Signal<RawPeriod>,
    /// A validation error of `from`/`to` to show next to the form.
    #[prop(into)]
    error: Signal<Option<AppError>>,
    #[prop(optional)] keep: Option<Signal<Vec<(String, String)>>>,
) -> impl IntoView {
    let kept = move || keep.map(|k| k.get()).unwrap_or_default();
    let kept_query = move || {
        kept()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}&"))
            .collect::<String>()
    };
    let field_error = move |field: Field| {
        error
            .get()
            .filter(|e| e.field() == Some(field))
            .map(|e| e.to_string())
    };
    let invalid = move |field: Field| field_error(field).map(|_| "true");
    // One labelled date input of the custom period (`from` or `to`), marked when refused. Only
    // the `value` attribute, never the property: an input that is not edited follows it after a
    // preset link, and what someone typed before hydration is not overwritten when it runs.
    let day_input = move |label: &'static str, name: &'static str, field: Field, value| {
        view! {
            <label>
                {label}
                <input
                    type="date"
                    name=name
                    required
                    value=value
                    aria-invalid=move || invalid(field)
                />
            </label>
        }
    };
    view! {
        <div class="period-picker">
            <nav class="period-switch" aria-label="Period">
                {EnergyPeriod::ALL
                    .into_iter()
                    .map(|p| {
                        let current = move || {
                            let raw = raw.get();
                            (!raw.is_custom() && raw.preset() == p).then_some("page")
                        };
                        let href = move || {
                            format!(
                                "{}?{}{}",
                                base.get(),
                                kept_query(),
                                PeriodSelection::Preset(p).query()
                            )
                        };
                        view! {
                            <a href=href aria-current=current>
                                {p.as_str()}
                            </a>
                            " "
                        }
                    })
                    .collect_view()}
            </nav>
            <form method="get" action=move || base.get() class="period-custom" data-testid="period-form">
                {move || {
                    kept()
                        .into_iter()
                        .map(|(name, value)| view! { <input type="hidden" name=name value=value /> })
                        .collect_view()
                }}
                {day_input("From ", "from", Field::From, Signal::derive(move || raw.get().from))}
                " "
                {day_input("to ", "to", Field::To, Signal::derive(move || raw.get().to))}
                " "
                <button type="submit">"Show"</button>
                <span class="muted small">" (UTC days, both included, at most 400)"</span>
                {move || {
                    field_error(Field::From)
                        .or_else(|| field_error(Field::To))
                        .map(|message| {
                            view! {
                                <p class="form-error" role="alert" data-testid="period-error">
                                    {message}
                                </p>
                            }
                        })
                }}
            </form>
        </div>
    }
}

/// Whether an error is about the custom period's fields (shown by [`PeriodPicker`]).
pub fn is_period_error(error: &AppError) -> bool {
    matches!(error.field(), Some(Field::From | Field::To))
}

/// A figure per source that has energy: `500 Wh · 289 g CO2e measured` (`0 Wh` when none has).
#[component]
pub fn Figures(figures: BySource) -> impl IntoView {
    let parts = figures.parts();
    if parts.is_empty() {
        return view! { <span class="muted">{or_refused(energy(0.0))}</span> }.into_any();
    }
    parts
        .into_iter()
        .map(|(source, f)| {
            view! {
                <span class=format!("figure source-{source}")>
                    {format!("{} ", or_refused(energy_and_co2e(f.kwh, f.grams_co2e)))}
                    <span class="source-label">{source}</span>
                </span>
                <br />
            }
        })
        .collect_view()
        .into_any()
}

/// SCI per request for a service (when request counts were sent through the API): grams of
/// CO2e per 1,000 requests, per source, with what the figure leaves out.
#[component]
pub fn RequestSciNote(sci: RequestSci) -> impl IntoView {
    let Some(per_thousand) = sci.per_thousand_requests else {
        return view! {
            <p class="muted small" data-testid="request-sci">
                "SCI per request: no request counts for this period (send them to "
                <code>"POST /api/v1/energy/request-counts"</code>
                ", see docs/ENERGY.md)."
            </p>
        }
        .into_any();
    };
    let hours = sci.covered_secs / 3600;
    view! {
        <p class="small" data-testid="request-sci">
            {format!("SCI per 1,000 requests ({} requests in {hours} h): ", sci.requests)}
            {per_thousand
                .parts()
                .into_iter()
                .map(|(source, f)| {
                    view! {
                        <span class=format!("figure source-{source}")>
                            {format!("{} ", or_refused(co2e(f.grams_co2e)))}
                            <span class="source-label">{source}</span>
                            " "
                        </span>
                    }
                })
                .collect_view()}
            <span class="muted">{format!("({})", sci.note)}</span>
        </p>
    }
    .into_any()
}

/// `+12.5 % vs the previous period`, or why there is no trend.
pub fn trend(current: f64, previous: f64) -> String {
    if previous <= 0.0 {
        return "no data in the previous period".to_owned();
    }
    let change = (current - previous) / previous * 100.0;
    format!("{change:+.1} % vs the previous period")
}

/// `70 % measured, 30 % simulated`, or `no energy`.
pub fn source_mix(figures: &BySource) -> String {
    let total = figures.total().kwh;
    let parts = figures.parts();
    if parts.is_empty() || total <= 0.0 {
        return "no energy".to_owned();
    }
    parts
        .into_iter()
        .map(|(source, f)| format!("{:.0} % {source}", f.kwh / total * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a / b` as a percentage with one decimal, or `-` when `b` is zero.
pub fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1} %", part / whole * 100.0)
    } else {
        "-".to_owned()
    }
}

/// A small bar chart of a service's energy (all sources stacked, in their colours): one path
/// per source and one tooltip for the whole, written as HTML into a table row of
/// [`crate::components::html`] (the team page lists twenty of them).
pub fn write_sparkline(out: &mut String, series: &SparkSeries) {
    const W: f64 = 120.0;
    const H: f64 = 28.0;
    let count = series.bars.len().max(1) as f64;
    let max = series
        .bars
        .iter()
        .map(|bar| bar.iter().sum::<f64>())
        .fold(0.0_f64, f64::max);
    let slot = W / count;
    let width = (slot * 0.85).max(0.5);
    let largest = or_refused(energy(max));
    let tip = format!(
        "{}: {} bars of {} from {} to {}; the largest {largest}",
        series.service,
        series.bars.len(),
        crate::format::duration(u64::try_from(series.bar_secs).unwrap_or(0)),
        series.from,
        series.to
    );
    let label = format!(
        "Energy of {} per step from {} to {}",
        series.service, series.from, series.to
    );
    // Writing into a String cannot fail: the results are ignored.
    let _ = write!(
        out,
        r##"<svg class="sparkline" viewBox="0 0 {W} {H}" width="120" height="28" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title><line x1="0" y1="{H}" x2="{W}" y2="{H}" stroke="#bbb"></line>"##,
        attr(&label),
        text(&tip)
    );
    // Stacked from the bottom: measured, then estimated, then simulated.
    let mut tops = vec![H; series.bars.len()];
    for (source, (_, colour)) in SOURCE_COLOURS.iter().enumerate() {
        if max <= 0.0 {
            break;
        }
        let mut d = String::new();
        for (i, bar) in series.bars.iter().enumerate() {
            let kwh = bar[source];
            if kwh <= 0.0 {
                continue;
            }
            let h = (kwh / max * H).max(0.5);
            tops[i] -= h;
            let _ = write!(
                d,
                "M{:.1} {:.1}h{width:.1}v{h:.1}h-{width:.1}z",
                i as f64 * slot,
                tops[i]
            );
        }
        if !d.is_empty() {
            let _ = write!(out, r#"<path d="{d}" fill="{}"></path>"#, attr(colour));
        }
    }
    out.push_str("</svg>");
}

/// What to do when there is no energy data: install the agent (with its manifest), or run the
/// sandbox, whose simulated figures appear on their own.
#[component]
pub fn EnergyEmptyState(
    /// What is empty, e.g. "No energy data yet: no node agent has reported to this Canopy."
    #[prop(into)]
    headline: String,
) -> impl IntoView {
    view! {
        <div class="empty-state" data-testid="energy-empty">
            <p>{headline}</p>
            <ol>
                <li>
                    "Create a token per node: " <code>"POST /api/v1/energy/node-tokens"</code>
                    " with " <code>"{\"cluster\": \"prod\", \"node\": \"<node name>\"}"</code>
                    " (admin API token), and store it in the Secret "
                    <code>"canopy-agent-tokens"</code> " (one key per node name)."
                </li>
                <li>
                    "Install the agent DaemonSet: " <code>"kubectl apply -k deploy/agent"</code>
                    " (" <a href="#agent-manifest">"the DaemonSet manifest"</a> ", "
                    <code>"deploy/agent/daemonset.yaml"</code> " in Canopy's repository; "
                    "docs/AGENT.md and docs/ENERGY.md, \u{201c}Getting data in\u{201d})."
                </li>
                <li>"Figures appear within a minute, each marked measured, estimated or simulated."</li>
            </ol>
            <p class="small">
                "Trying Canopy without a cluster? In its sandbox (" <code>"make run"</code>
                " with no kubeconfig) every service you deploy gets simulated figures, labelled "
                <span class="source-label">"simulated"</span> ", within a minute."
            </p>
            <details id="agent-manifest">
                <summary>"deploy/agent/daemonset.yaml"</summary>
                <pre class="manifest"><code>{DAEMONSET_MANIFEST}</code></pre>
            </details>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::energy::Figure;

    #[test]
    fn mix_and_shares_read_as_people_write_them() {
        let mut figures = BySource::default();
        figures.add(
            "measured",
            Figure {
                kwh: 0.7,
                grams_co2e: 1.0,
            },
        );
        figures.add(
            "simulated",
            Figure {
                kwh: 0.3,
                grams_co2e: 1.0,
            },
        );
        assert_eq!(source_mix(&figures), "70 % measured, 30 % simulated");
        assert_eq!(source_mix(&BySource::default()), "no energy");
        assert_eq!(percent(1.0, 4.0), "25.0 %");
        assert_eq!(percent(1.0, 0.0), "-");
        assert_eq!(trend(1.5, 1.0), "+50.0 % vs the previous period");
        assert_eq!(trend(1.0, 0.0), "no data in the previous period");
    }

    #[test]
    fn a_sparkline_stacks_the_sources_of_each_bar_from_the_bottom() {
        let series = SparkSeries {
            service: "web<1>".to_owned(),
            from: "2026-11-01".to_owned(),
            to: "2026-11-02".to_owned(),
            bar_secs: 3600,
            // The largest bar (0.002 kWh) fills the height; the empty bar has no path.
            bars: vec![[0.001, 0.001, 0.0], [0.0, 0.0, 0.0], [0.0005, 0.0, 0.0]],
        };
        let mut out = String::new();
        write_sparkline(&mut out, &series);
        assert!(out.starts_with(r#"<svg class="sparkline" viewBox="0 0 120 28" width="120" height="28" role="img" aria-label="Energy of web&lt;1&gt; per step from 2026-11-01 to 2026-11-02" xmlns="http://www.w3.org/2000/svg"><title>web&lt;1&gt;: 3 bars of 1 h from 2026-11-01 to 2026-11-02; the largest 2.00 Wh</title>"#), "{out}");
        // Measured: the first bar's lower half and a quarter of the third; estimated on top of
        // the first; nothing simulated.
        assert!(out.contains(r##"<path d="M0.0 14.0h34.0v14.0h-34.0zM80.0 21.0h34.0v7.0h-34.0z" fill="#2e7d32"></path><path d="M0.0 0.0h34.0v14.0h-34.0z" fill="#f9a825"></path></svg>"##), "{out}");
        assert!(!out.contains("#7e57c2"), "{out}");

        let mut empty = String::new();
        write_sparkline(
            &mut empty,
            &SparkSeries {
                bars: vec![[0.0; 3]; 4],
                ..series
            },
        );
        assert!(!empty.contains("<path"), "{empty}");
        assert!(empty.ends_with("</line></svg>"), "{empty}");
    }

    #[test]
    fn the_manifest_shown_is_the_daemonset() {
        assert!(DAEMONSET_MANIFEST.contains("kind: DaemonSet"));
    }
}
