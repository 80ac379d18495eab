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
    components::error_banner::LoadError,
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
                <tbody>{rows.into_iter().map(|row| view! { <Row row /> }).collect_view()}</tbody>
            </table>
        </div>
    }
}

#[component]
fn Row(row: CatalogueRow) -> impl IntoView {
    let service_href = format!("/services/{}/{}", row.team, row.service);
    let team_href = format!("/teams/{}", row.team);
    let pods = match row.pods {
        Some(p) => view! { <td>{format!("{}/{}", p.ready, p.desired)}</td> }.into_any(),
        None => {
            view! { <td class="muted" title="Canopy has no cluster to read pods from">"—"</td> }
                .into_any()
        }
    };
    let drift = match row.drift_outdated {
        Some(outdated) => view! { <td>{outdated}</td> }.into_any(),
        None => view! { <td class="muted" title="never scanned">"—"</td> }.into_any(),
    };
    let last = match row.last_deploy {
        Some(last) => view! {
            <td>
                <time datetime=last.at title=last.exact.clone() tabindex="0" aria-label=format!("{}, {}", ago(last.secs_ago), last.exact)>
                    {ago(last.secs_ago)}
                </time>
            </td>
        }
        .into_any(),
        None => view! { <td class="muted">"never"</td> }.into_any(),
    };
    view! {
        <tr data-testid="catalogue-row">
            <td><a href=service_href>{row.service.to_string()}</a></td>
            <td><a href=team_href>{row.team.to_string()}</a></td>
            {row
                .states
                .into_iter()
                .map(|state| {
                    view! {
                        <td>
                            <span class=format!("badge state-{}", state.as_str())>{state.label()}</span>
                        </td>
                    }
                })
                .collect_view()}
            {pods}
            <td><BySource figures=row.power_watts none="—".to_owned() write=power /></td>
            <td><BySource figures=row.energy_week_kwh none=or_refused(energy(0.0)) write=energy /></td>
            {drift}
            {last}
        </tr>
    }
}

/// Each source's figure with its label (`2.96 W measured`), or `none`.
#[component]
fn BySource(
    figures: PerSource,
    none: String,
    write: fn(f64) -> Result<String, crate::format::FigureError>,
) -> impl IntoView {
    if figures.0.is_empty() {
        return view! { <span class="muted">{none}</span> }.into_any();
    }
    figures
        .0
        .into_iter()
        .map(|(source, value)| {
            let class = format!("figure source-{source}");
            view! {
                <span class=class>
                    {format!("{} ", or_refused(write(value)))}
                    <span class="source-label">{source}</span>
                </span>
                <br />
            }
        })
        .collect_view()
        .into_any()
}
