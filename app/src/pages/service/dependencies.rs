//! A service's dependencies tab (`/services/:team/:service/dependencies`): where its code is
//! read from, "scan now" with the scan's progress, the figures of the last done scan, and one
//! row per dependency (current, newest in range, newest, update type, libyears, file and line),
//! filtered by update type with plain links (`?update=major`), so it works without JavaScript.

use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Meta;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    api::drift::{
        load_service_drift, DependencyRow, DriftTotals, ScanDependenciesNow, ScanView,
        ServiceDrift, SetDriftSource, Source,
    },
    components::{
        csrf::CsrfField,
        error_banner::{ErrorBanner, LoadError},
    },
};

/// The update-type filters offered, with their labels.
const FILTERS: [(&str, &str); 7] = [
    ("", "All"),
    ("outdated", "Outdated"),
    ("major", "Major"),
    ("minor", "Minor"),
    ("patch", "Patch"),
    ("digest", "Digest"),
    ("unknown", "Unknown"),
];

fn keep(row: &DependencyRow, filter: &str) -> bool {
    match filter {
        "" => true,
        "outdated" => row.status == "outdated",
        "unknown" => row.status == "unknown",
        update => row.update_type.as_deref() == Some(update),
    }
}

/// `1.23 libyears`.
pub fn format_libyears(libyears: f64) -> String {
    format!("{libyears:.2} libyears")
}

#[component]
pub fn ServiceDependenciesPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let team = move || params.read().get("team").unwrap_or_default();
    let service = move || params.read().get("service").unwrap_or_default();
    let filter = Signal::derive(move || query.read().get("update").unwrap_or_default());

    let set_source = ServerAction::<SetDriftSource>::new();
    let scan_now = ServerAction::<ScanDependenciesNow>::new();
    // Bumped while a scan is queued or running, to look again.
    let poll = RwSignal::new(0_u32);
    let drift = Resource::new(
        move || {
            (
                team(),
                service(),
                set_source.version().get() + scan_now.version().get() + poll.get() as usize,
            )
        },
        |(team, service, _)| load_service_drift(team, service),
    );
    let pending = move || {
        drift
            .get()
            .and_then(Result::ok)
            .and_then(|d| d.latest)
            .is_some_and(|scan| scan.state.pending())
    };
    // With JavaScript: look again every second while the scan is not finished.
    Effect::new(move |_| {
        if pending() {
            set_timeout(
                move || poll.update(|n| *n += 1),
                std::time::Duration::from_secs(1),
            );
        }
    });
    let action_error = move || {
        set_source
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| scan_now.value().get().and_then(Result::err))
    };

    view! {
        <section class="page">
            <super::ServiceHeader tab=super::Tab::Dependencies />
            {move || action_error().map(|error| view! { <ErrorBanner error /> })}
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    drift
                        .get()
                        .map(|result| match result {
                            Ok(drift) => view! {
                                <DriftView drift filter set_source scan_now />
                            }
                            .into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn DriftView(
    drift: ServiceDrift,
    filter: Signal<String>,
    set_source: ServerAction<SetDriftSource>,
    scan_now: ServerAction<ScanDependenciesNow>,
) -> impl IntoView {
    let pending = drift.latest.as_ref().is_some_and(|s| s.state.pending());
    let (team, service) = (drift.team.clone(), drift.service.clone());
    let (scan_team, scan_service) = (drift.team.clone(), drift.service.clone());
    let current_path = match &drift.source {
        Some(Source::Path { path }) => path.clone(),
        Some(Source::Github { .. }) | None => String::new(),
    };
    let rows = drift.dependencies.clone();
    let base = format!("/services/{}/{}/dependencies", drift.team, drift.service);
    // The filters keep the environment the other tabs show (`?env=`).
    let env = use_query_map()
        .read_untracked()
        .get("env")
        .and_then(|e| crate::api::spec::Environment::parse(&e));
    let base_query = env.map_or_else(String::new, |env| format!("env={}&", env.as_str()));
    view! {
        // Without JavaScript: the page reloads itself while the scan is not finished.
        {pending.then(|| view! { <Meta http_equiv="refresh" content="3" /> })}
        <section class="card" aria-label="Source" data-testid="drift-source">
            <h2>"Source"</h2>
            {match &drift.source {
                Some(source) => view! {
                    <p>"Read from " <code data-testid="source-path">{source.describe()}</code></p>
                }.into_any(),
                None => view! {
                    <p class="muted">"No source yet: give the absolute path of a local directory or git checkout on Canopy's host."</p>
                }.into_any(),
            }}
            <ActionForm action=set_source attr:class="inline">
                <CsrfField />
                <input type="hidden" name="team" value=team />
                <input type="hidden" name="service" value=service />
                <label for="source-path">"Local path (source_path)"</label>
                <input id="source-path" name="source_path" value=current_path placeholder="/srv/checkouts/my-service" />
                <button type="submit" class="secondary">"Save source"</button>
            </ActionForm>
            <p class="muted small">
                "A service linked to a GitHub repository (its GitHub page) is read from there, at the head of the linked branch, and scanned again after each push; a local path saved here takes its place."
            </p>
        </section>
        <section class="card" aria-label="Scan" data-testid="drift-scan">
            <h2>"Scan"</h2>
            {match drift.latest.clone() {
                Some(scan) => view! { <ScanStatus scan /> }.into_any(),
                None => view! { <p class="muted" data-testid="scan-state">"Never scanned."</p> }.into_any(),
            }}
            <ActionForm action=scan_now>
                <CsrfField />
                <input type="hidden" name="team" value=scan_team />
                <input type="hidden" name="service" value=scan_service />
                <button type="submit" data-testid="scan-now" disabled=pending>"Scan now"</button>
            </ActionForm>
        </section>
        {match drift.last_done.clone() {
            None => view! {
                <div class="empty-state"><p>"No finished scan yet."</p></div>
            }.into_any(),
            Some(done) => view! {
                <section class="card" aria-label="Dependencies" data-testid="drift-dependencies">
                    <h2>"Dependencies"</h2>
                    <p class="muted small" data-testid="last-scan">
                        {format!("Last scan finished {} ({})", done.finished_at.clone().unwrap_or_default(), done.trigger)}
                    </p>
                    {done.totals.clone().map(|totals| view! { <Figures totals /> })}
                    {(!done.manifest_errors.is_empty()).then(|| view! {
                        <details class="manifest-errors">
                            <summary>{format!("{} manifest(s) could not be read; the rest was scanned", done.manifest_errors.len())}</summary>
                            <ul>{done.manifest_errors.iter().map(|e| view! { <li><code>{e.clone()}</code></li> }).collect_view()}</ul>
                        </details>
                    })}
                    <nav class="tabs" aria-label="Filter by update type">
                        {FILTERS.iter().map(|(value, label)| {
                            let href = if value.is_empty() {
                                match env { Some(env) => format!("{base}?env={}", env.as_str()), None => base.clone() }
                            } else {
                                format!("{base}?{base_query}update={value}")
                            };
                            let value = *value;
                            view! {
                                <a href=href aria-current=move || (filter.get() == value).then_some("page")>{*label}</a>
                            }
                        }).collect_view()}
                    </nav>
                    <DependencyTable rows=rows.clone() filter />
                </section>
            }.into_any(),
        }}
        <History history=drift.history.clone() />
    }
}

#[component]
fn ScanStatus(scan: ScanView) -> impl IntoView {
    let state = scan.state.as_str();
    let detail = match (&scan.error, &scan.totals) {
        (Some(error), _) => format!("failed: {error}"),
        (None, Some(t)) => format!(
            "{} dependencies, {} outdated ({} major, {} minor, {} patch), {} unknown, {}",
            t.dependencies,
            t.outdated,
            t.majors_behind,
            t.minors_behind,
            t.patches_behind,
            t.unknown,
            format_libyears(t.libyears)
        ),
        (None, None) if scan.state.pending() => format!("since {}", scan.queued_at),
        (None, None) => String::new(),
    };
    view! {
        <p data-testid="scan-state">
            <span class=format!("badge drift-{state}")>{state}</span>
            " "
            <span class="muted">{detail}</span>
        </p>
    }
}

#[component]
fn Figures(totals: DriftTotals) -> impl IntoView {
    let figure = |value: String, label: &'static str| {
        view! {
            <div class="figure">
                <span class="figure-value">{value}</span>
                <span class="figure-label">{label}</span>
            </div>
        }
    };
    view! {
        <div class="figures" data-testid="drift-figures">
            {figure(format!("{:.2}", totals.libyears), "libyears behind (sum)")}
            {figure(totals.outdated.to_string(), "outdated dependencies")}
            {figure(totals.majors_behind.to_string(), "major updates")}
            {figure(totals.minors_behind.to_string(), "minor updates")}
            {figure(totals.patches_behind.to_string(), "patch updates")}
            {figure(totals.dependencies.to_string(), "dependencies scanned")}
            {figure(totals.unknown.to_string(), "unknown (registry could not tell)")}
        </div>
    }
}

#[component]
fn DependencyTable(rows: Vec<DependencyRow>, filter: Signal<String>) -> impl IntoView {
    let shown = move || {
        let filter = filter.get();
        rows.iter()
            .filter(|row| keep(row, &filter))
            .cloned()
            .collect::<Vec<_>>()
    };
    view! {
        <table class="table drift" data-testid="dependency-table">
            <thead>
                <tr>
                    <th>"Dependency"</th>
                    <th>"Ecosystem"</th>
                    <th>"Declared"</th>
                    <th>"Current"</th>
                    <th>"Newest in range"</th>
                    <th>"Newest"</th>
                    <th>"Update"</th>
                    <th>"Libyears"</th>
                    <th>"File:line"</th>
                </tr>
            </thead>
            <tbody>
                {move || {
                    let rows = shown();
                    if rows.is_empty() {
                        return view! { <tr><td colspan="9" class="muted">"No dependency matches this filter."</td></tr> }.into_any();
                    }
                    rows.into_iter().map(|row| {
                        let update = match (row.status.as_str(), row.update_type.clone()) {
                            ("outdated", Some(update)) => {
                                let mut text = update;
                                if row.breaking { text.push_str(" (breaking)"); }
                                if row.lockfile_only { text.push_str(" (lockfile only)"); }
                                text
                            }
                            ("up_to_date", _) => "up to date".to_owned(),
                            (status, _) => format!("{status}: {}", row.reason.clone().unwrap_or_default()),
                        };
                        view! {
                            <tr data-testid="dependency-row" data-status=row.status.clone()
                                data-update=row.update_type.clone().unwrap_or_default()>
                                <td><strong>{row.name.clone()}</strong></td>
                                <td>{row.ecosystem.clone()}</td>
                                <td><code>{row.declared.clone()}</code></td>
                                <td><code>{row.current.clone().unwrap_or_else(|| "—".into())}</code></td>
                                <td><code>{row.newest_in_range.clone().unwrap_or_else(|| "—".into())}</code></td>
                                <td><code>{row.newest.clone().unwrap_or_else(|| "—".into())}</code></td>
                                <td class=format!("update-{}", row.update_type.clone().unwrap_or_else(|| row.status.clone()))>{update}</td>
                                <td>{row.libyears.map(|y| format!("{y:.2}")).unwrap_or_else(|| "—".into())}</td>
                                <td><code>{format!("{}:{}", row.file, row.line)}</code></td>
                            </tr>
                        }
                    }).collect_view().into_any()
                }}
            </tbody>
        </table>
    }
}

#[component]
fn History(history: Vec<ScanView>) -> impl IntoView {
    (!history.is_empty()).then(|| {
        view! {
            <section class="card" aria-label="Scan history">
                <h2>"Scan history"</h2>
                <table class="table" data-testid="scan-history">
                    <thead>
                        <tr><th>"Queued"</th><th>"By"</th><th>"State"</th><th>"Outdated / dependencies"</th><th>"Libyears"</th></tr>
                    </thead>
                    <tbody>
                        {history.into_iter().map(|scan| view! {
                            <tr>
                                <td>{scan.queued_at.clone()}</td>
                                <td>{format!("{} ({})", scan.requested_by, scan.trigger)}</td>
                                <td>{scan.state.as_str()}{scan.error.clone().map(|e| format!(": {e}"))}</td>
                                <td>{scan.totals.as_ref().map(|t| format!("{} / {}", t.outdated, t.dependencies)).unwrap_or_else(|| "—".into())}</td>
                                <td>{scan.totals.as_ref().map(|t| format!("{:.2}", t.libyears)).unwrap_or_else(|| "—".into())}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        }
    })
}
