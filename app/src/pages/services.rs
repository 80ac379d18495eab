//! The services catalogue (`/services`): one row per service with each environment's last
//! deploy state, pods ready, power now, energy this week, dependency drift and the last
//! deploy; search, filters, sorting and pages are query-string links and a GET form, so the
//! page works without JavaScript and every view is a shareable URL.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{
        catalogue::{
            load_catalogue, CataloguePage, CatalogueQuery, CatalogueRow, DeployState, Page,
            PerSource, RawCatalogueQuery, SortColumn, PAGE_SIZE,
        },
        spec::Environment,
    },
    components::{
        error_banner::LoadError,
        html::{attr, text, write_figure},
    },
    format::{ago, energy, or_refused, power},
};

#[component]
pub fn ServicesPage() -> impl IntoView {
    let query = use_query_map();
    let catalogue = Resource::new(
        move || RawCatalogueQuery::from_query(&query.read()),
        load_catalogue,
    );
    view! {
        <Title text="Services · Canopy" />
        <section class="page">
            <div class="page-heading">
                <h1>"Services"</h1>
                <a class="button" href="/services/new" data-testid="register-link">
                    "Register a service"
                </a>
            </div>
            <Suspense fallback=|| view! { <p class="muted">"Loading services…"</p> }>
                {move || {
                    catalogue
                        .get()
                        .map(|result| match result {
                            Ok(page) => view! { <Catalogue page /> }.into_any(),
                            Err(error) => {
                                view! {
                                    <LoadError error />
                                    <p>
                                        <a href="/services">"Show every service"</a>
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Suspense>
        </section>
    }
}

/// `/services` with `query`'s parameters.
fn href(query: &CatalogueQuery) -> String {
    format!("/services{}", query.to_query_string())
}

#[component]
fn Filters(page: CataloguePage) -> impl IntoView {
    let query = page.query.clone();
    let search = query.search.clone().unwrap_or_default();
    let team = query
        .team
        .as_ref()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let state = query.state.map(DeployState::as_str).unwrap_or_default();
    let env = query
        .env
        .map(|e| e.as_str().into_owned())
        .unwrap_or_default();
    let sorted = query.sort != SortColumn::default() || query.dir != query.sort.first_direction();
    view! {
        <form method="get" action="/services" class="inline filters" role="search" data-testid="catalogue-filters">
            <label for="catalogue-q">"Name"</label>
            <input id="catalogue-q" name="q" type="search" value=search placeholder="part of a name" />
            <label for="catalogue-team">"Team"</label>
            <select id="catalogue-team" name="team">
                <option value="" selected=team.is_empty()>"All teams"</option>
                {page
                    .teams
                    .iter()
                    .map(|name| {
                        let name = name.to_string();
                        view! { <option value=name.clone() selected=team == name>{name.clone()}</option> }
                    })
                    .collect_view()}
            </select>
            <label for="catalogue-state">"State"</label>
            <select id="catalogue-state" name="state">
                <option value="" selected=state.is_empty()>"Any state"</option>
                {DeployState::ALL
                    .into_iter()
                    .map(|s| view! { <option value=s.as_str() selected=state == s.as_str()>{s.label()}</option> })
                    .collect_view()}
            </select>
            <label for="catalogue-env">"Environment"</label>
            <select id="catalogue-env" name="env">
                <option value="" selected=env.is_empty()>"Any environment"</option>
                {Environment::ALL
                    .into_iter()
                    .map(|e| {
                        let value = e.as_str().into_owned();
                        view! { <option value=value.clone() selected=env == value>{value.clone()}</option> }
                    })
                    .collect_view()}
            </select>
            {sorted
                .then(|| {
                    view! {
                        <input type="hidden" name="sort" value=query.sort.as_str() />
                        <input type="hidden" name="dir" value=query.dir.as_str() />
                    }
                })}
            <button type="submit" class="secondary">"Search"</button>
        </form>
    }
}

#[component]
fn Catalogue(page: CataloguePage) -> impl IntoView {
    let query = page.query.clone();
    let filtered = query.search.is_some()
        || query.team.is_some()
        || query.state.is_some()
        || query.env.is_some();
    let number = page.query.page.get() as usize;
    let first = (number - 1) * PAGE_SIZE + 1;
    let last = first + page.rows.len().saturating_sub(1);
    let status = if page.total == 0 {
        "No services match.".to_owned()
    } else {
        format!(
            "Showing {first}–{last} of {} {} · Page {} of {}",
            page.total,
            if filtered {
                "matching services"
            } else {
                "services"
            },
            number,
            page.pages
        )
    };
    let body = if page.all_services == 0 {
        view! {
            <div class="empty-state">
                <p>"No services yet. " <a href="/services/new">"Register your first one"</a> "."</p>
            </div>
        }
        .into_any()
    } else if page.rows.is_empty() {
        view! {
            <div class="empty-state" data-testid="catalogue-empty">
                <p>"No services match these filters. " <a href="/services">"Show every service"</a></p>
            </div>
        }
        .into_any()
    } else {
        view! { <CatalogueTable query=query.clone() rows=page.rows.clone() /> }.into_any()
    };
    view! {
        <Filters page=page.clone() />
        <p class="muted" data-testid="page-status" aria-live="polite">{status}</p>
        {body}
        <Pagination query pages=page.pages />
    }
}

#[component]
fn Pagination(query: CatalogueQuery, pages: u32) -> impl IntoView {
    let number = query.page.get();
    if pages <= 1 {
        return ().into_any();
    }
    let previous = (number > 1)
        .then(|| Page::new(number - 1))
        .flatten()
        .map(|p| href(&query.with_page(p)));
    let next = (number < pages)
        .then(|| Page::new(number + 1))
        .flatten()
        .map(|p| href(&query.with_page(p)));
    view! {
        <nav class="pagination" aria-label="Pages of services" data-testid="pagination">
            {match previous {
                Some(link) => view! { <a href=link rel="prev">"← Previous"</a> }.into_any(),
                None => view! { <span class="muted">"← Previous"</span> }.into_any(),
            }}
            <span>{format!("Page {number} of {pages}")}</span>
            {match next {
                Some(link) => view! { <a href=link rel="next">"Next →"</a> }.into_any(),
                None => view! { <span class="muted">"Next →"</span> }.into_any(),
            }}
        </nav>
    }
    .into_any()
}

#[component]
fn CatalogueTable(query: CatalogueQuery, rows: Vec<CatalogueRow>) -> impl IntoView {
    let header = move |column: SortColumn| {
        let sorted = (query.sort == column).then(|| query.dir.aria());
        let link = href(&query.sorted_by(column));
        let label = column.label();
        view! {
            <th scope="col" aria-sort=sorted>
                <a href=link data-sort=column.as_str()>{label}</a>
            </th>
        }
    };
    view! {
        <div class="table-scroll">
            <table class="table catalogue" data-testid="catalogue">
                <thead>
                    <tr>{SortColumn::ALL.into_iter().map(header).collect_view()}</tr>
                </thead>
                <tbody inner_html=rows_html(&rows)></tbody>
            </table>
        </div>
    }
}

/// The table's rows, written as HTML directly (`components::html`): plain links and text with
/// nothing reactive; as 50 rows of views they were most of the catalogue's server time at
/// 10,000 services (docs/PERFORMANCE.md).
fn rows_html(rows: &[CatalogueRow]) -> String {
    let mut out = String::with_capacity(rows.len() * 1024);
    for row in rows {
        write_row(&mut out, row);
    }
    out
}

fn write_row(out: &mut String, row: &CatalogueRow) {
    use std::fmt::Write;

    let (team, service) = (row.team.as_str(), row.service.as_str());
    let (team_attr, service_attr) = (attr(team), attr(service));
    // Writing into a String cannot fail: the results are ignored.
    let _ = write!(
        out,
        r#"<tr data-testid="catalogue-row"><td><a href="/services/{team_attr}/{service_attr}">{}</a></td><td><a href="/teams/{team_attr}">{}</a></td>"#,
        text(service),
        text(team)
    );
    for state in row.states {
        let _ = write!(
            out,
            r#"<td><span class="badge state-{}">{}</span></td>"#,
            state.as_str(),
            state.label()
        );
    }
    match row.pods {
        Some(p) => {
            let _ = write!(out, "<td>{}/{}</td>", p.ready, p.desired);
        }
        None => out.push_str(
            r#"<td class="muted" title="Canopy has no cluster to read pods from">—</td>"#,
        ),
    }
    out.push_str("<td>");
    write_by_source(out, &row.power_watts, "—", power);
    out.push_str("</td><td>");
    write_by_source(out, &row.energy_week_kwh, &or_refused(energy(0.0)), energy);
    out.push_str("</td>");
    match row.drift_outdated {
        Some(outdated) => {
            let _ = write!(out, "<td>{outdated}</td>");
        }
        None => out.push_str(r#"<td class="muted" title="never scanned">—</td>"#),
    }
    match &row.last_deploy {
        Some(last) => {
            let ago = ago(last.secs_ago);
            let exact = attr(&last.exact);
            let _ = write!(
                out,
                r#"<td><time datetime="{}" title="{exact}" tabindex="0" aria-label="{}, {exact}">{}</time></td>"#,
                attr(&last.at),
                attr(&ago),
                text(&ago)
            );
        }
        None => out.push_str(r#"<td class="muted">never</td>"#),
    }
    out.push_str("</tr>");
}

/// Each source's figure with its label (`2.96 W measured`), or `none`.
fn write_by_source(
    out: &mut String,
    figures: &PerSource,
    none: &str,
    write: fn(f64) -> Result<String, crate::format::FigureError>,
) {
    if figures.0.is_empty() {
        out.push_str(r#"<span class="muted">"#);
        out.push_str(&text(none));
        out.push_str("</span>");
        return;
    }
    for (source, value) in &figures.0 {
        write_figure(out, source, &or_refused(write(*value)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        catalogue::{LastDeploy, PodsReady},
        ServiceName, TeamName,
    };

    fn row() -> CatalogueRow {
        CatalogueRow {
            team: TeamName::parse("payments").expect("team"),
            service: ServiceName::parse("checkout").expect("service"),
            states: [
                DeployState::Running,
                DeployState::RollingOut,
                DeployState::NotDeployed,
            ],
            pods: Some(PodsReady {
                ready: 2,
                desired: 3,
            }),
            power_watts: PerSource(vec![("measured".to_owned(), 2.5)]),
            energy_week_kwh: PerSource(vec![("<script>".to_owned(), 0.0015)]),
            drift_outdated: None,
            last_deploy: Some(LastDeploy {
                at: "2026-12-01T02:05:29Z".to_owned(),
                exact: "1 Dec 2026, 02:05 UTC".to_owned(),
                secs_ago: 180,
            }),
        }
    }

    #[test]
    fn a_row_reads_as_the_catalogue_shows_it() {
        let html = rows_html(&[row()]);
        assert!(html.starts_with(r#"<tr data-testid="catalogue-row"><td><a href="/services/payments/checkout">checkout</a></td><td><a href="/teams/payments">payments</a></td>"#), "{html}");
        assert!(html.contains(r#"<span class="badge state-rolling_out">rolling out</span>"#));
        assert!(html.contains("<td>2/3</td>"));
        assert!(html.contains(r#"<span class="figure source-measured">2.50 W <span class="source-label">measured</span></span>"#), "{html}");
        assert!(html.contains(r#"<td class="muted" title="never scanned">—</td>"#));
        assert!(html.contains(r#"<time datetime="2026-12-01T02:05:29Z" title="1 Dec 2026, 02:05 UTC" tabindex="0" aria-label="3 min ago, 1 Dec 2026, 02:05 UTC">3 min ago</time>"#), "{html}");
        assert!(html.ends_with("</tr>"));
    }

    #[test]
    fn values_from_the_data_are_escaped() {
        let html = rows_html(&[row()]);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("source-&lt;script&gt;"), "{html}");
        assert!(
            html.contains(r#"<span class="source-label">&lt;script&gt;</span>"#),
            "{html}"
        );
    }
}
