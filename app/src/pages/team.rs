//! A team's page: its services side by side for a period (energy and CO2e by source, share of
//! the team, trend, idle share, source mix, a sparkline each), with the Energy page's period
//! picker. 404 for a team Canopy knows nothing about.

use std::fmt::Write;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    api::{
        energy::{load_team_energy, TeamEnergy, TeamServiceEnergy},
        quota::{get_team_quota, TeamQuotaInfo},
        AppError,
    },
    components::{
        energy_figures::{
            is_period_error, percent, source_mix, trend, write_sparkline, EnergyEmptyState,
            Figures, PeriodPicker, RawPeriod,
        },
        error_banner::{answer_with, LoadError},
        html::{attr, text, write_figures},
        title::page_title,
    },
    format::{energy_and_co2e, or_refused},
};

#[component]
pub fn TeamPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let team = move || params.read().get("team").unwrap_or_default();
    let raw = Signal::derive(move || RawPeriod::from_query(&query.read()));
    let energy = Resource::new(
        move || (team(), raw.get()),
        |(team, raw)| load_team_energy(team, raw.period, raw.from, raw.to),
    );
    let period_error =
        Signal::derive(move || energy.get().and_then(|r| r.err()).filter(is_period_error));
    let base = Signal::derive(move || format!("/teams/{}", team()));
    let quota = Resource::new(team, get_team_quota);
    let title = page_title(move || format!("{} · Teams · Canopy", team()));
    view! {
        <Title text=title />
        <section class="page">
            <p class="muted small"><a href="/teams">"Teams"</a> " / " {team}</p>
            <h1>{team}</h1>
            <p class="small">
                // Server-rendered pages: `rel="external"` keeps the client router from taking the click.
                <a
                    href=move || format!("/audit?team={}", team())
                    rel="external"
                    data-testid="team-audit-link"
                >
                    "Audit log of this team"
                </a>
                " · "
                <a
                    href=move || format!("/teams/{}/weekly-email", team())
                    rel="external"
                    data-testid="team-weekly-email-link"
                >
                    "Weekly e-mail: preview, test, schedule"
                </a>
            </p>
            <Suspense fallback=|| ()>
                <PeriodPicker base raw error=period_error />
            </Suspense>
            <Suspense fallback=|| view! { <p class="muted">"Loading the team's energy…"</p> }>
                {move || {
                    energy
                        .get()
                        .map(|result| match result {
                            Ok(energy) => view! { <TeamServices energy /> }.into_any(),
                            Err(error) if is_period_error(&error) => ().into_any(),
                            Err(AppError::NotFound { what }) => {
                                answer_with(&AppError::NotFound { what: what.clone() });
                                view! {
                                    <div class="empty-state" data-testid="team-not-found">
                                        <p>{format!("{what} is unknown to Canopy: no service is registered under that team and no energy was ever reported for it.")}</p>
                                        <p>
                                            "See " <a href="/teams">"the teams"</a>
                                            ", or register a service for it on " <a href="/services">"Services"</a> "."
                                        </p>
                                    </div>
                                }
                                    .into_any()
                            }
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        })
                }}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || {
                    // Only for a team Canopy knows (the energy answer says so).
                    let known = matches!(energy.get(), Some(Ok(_)));
                    quota
                        .get()
                        .and_then(Result::ok)
                        .filter(|_| known)
                        .map(|info| view! { <QuotaCard info /> })
                }}
            </Suspense>
        </section>
    }
}

/// What each of the team's namespaces may use (the ResourceQuota Canopy applies).
#[component]
fn QuotaCard(info: TeamQuotaInfo) -> impl IntoView {
    let TeamQuotaInfo { quota, own } = info;
    view! {
        <section class="card" aria-label="Quota" data-testid="team-quota">
            <h2>"Quota per environment"</h2>
            <p class="muted small">
                {if own {
                    "Set for this team by a platform admin."
                } else {
                    "Canopy's default: this team has no quota of its own."
                }}
                " Each of the team's namespaces (dev, staging, prod) may use at most:"
            </p>
            <table class="table">
                <thead>
                    <tr><th scope="col"><span class="visually-hidden">"Quota"</span></th><th scope="col">"CPU"</th><th scope="col">"Memory"</th></tr>
                </thead>
                <tbody>
                    <tr><th scope="row">"Requested"</th><td>{quota.requests_cpu}</td><td>{quota.requests_memory}</td></tr>
                    <tr><th scope="row">"Limits"</th><td>{quota.limits_cpu}</td><td>{quota.limits_memory}</td></tr>
                </tbody>
            </table>
            <p>{format!("and {} pods.", quota.pods)}</p>
        </section>
    }
}

#[component]
fn TeamServices(energy: TeamEnergy) -> impl IntoView {
    if !energy.has_any_data {
        return view! {
            <p class="muted">{format!("{} ({} to {}).", energy.selection.label(), energy.from, energy.to)}</p>
            <EnergyEmptyState headline="No energy data yet: no node agent has reported to this Canopy, so this team's services have no figures." />
        }
        .into_any();
    }
    let total = energy.total.total();
    let previous = energy.previous_total.total();
    let nothing_in_period = total.kwh <= 0.0;
    let rows = rows_html(&energy, total.kwh);
    view! {
        <p class="muted">{format!("{} ({} to {}).", energy.selection.label(), energy.from, energy.to)}</p>
        <div class="card" data-testid="team-total">
            <h2>"All the team's services"</h2>
            <Figures figures=energy.total />
            <p class="muted small">
                {format!(
                    "All sources together: {} ({}).",
                    or_refused(energy_and_co2e(total.kwh, total.grams_co2e)),
                    source_mix(&energy.total),
                )}
            </p>
            <p class="small">{trend(total.kwh, previous.kwh)}</p>
        </div>
        {nothing_in_period
            .then(|| {
                view! {
                    <div class="empty-state" data-testid="team-empty">
                        <p>"No energy was reported for this team's pods in this period."</p>
                        <p class="small">
                            "Pods count for a service when they carry the labels "
                            <code>"canopy.dev/team"</code> " and " <code>"canopy.dev/service"</code>
                            " (Canopy's deploys set them) and run on a node with the agent ("
                            <code>"kubectl apply -k deploy/agent"</code>
                            "; docs/AGENT.md). Try a longer period, or see "
                            <a href="/energy">"Energy"</a> " for what the agents report."
                        </p>
                    </div>
                }
            })}
        <h2>"Services side by side"</h2>
        {if energy.services.is_empty() {
            view! { <p class="muted">"This team has no services yet."</p> }.into_any()
        } else {
            view! {
                <table class="table team-services" data-testid="team-services">
                    <thead>
                        <tr>
                            <th scope="col">"Service"</th>
                            <th scope="col">"Energy and CO2e, by source"</th>
                            <th scope="col">"Share of the team"</th>
                            <th scope="col">"Trend"</th>
                            <th scope="col">"Idle share"</th>
                            <th scope="col">"Source mix"</th>
                            <th scope="col">"Over the period"</th>
                        </tr>
                    </thead>
                    <tbody inner_html=rows></tbody>
                </table>
                <p class="muted small">
                    "Idle share: of the service's energy plus its share of the idle energy of the nodes it ran on (split by workload energy per node), how much was idle. "
                    "Trend: against the period of the same length just before."
                </p>
            }
                .into_any()
        }}
        <h2>"How CO2e is computed"</h2>
        <p class="small">"gCO2e = kWh × PUE × grid intensity (yearly average, location-based), per cluster:"</p>
        <ul class="small">
            {energy.carbon_notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
        </ul>
    }
    .into_any()
}

/// The table's rows, written as HTML directly (`components::html`): links, text, labelled
/// figures and a sparkline, with nothing reactive; then the services not listed, added up.
fn rows_html(energy: &TeamEnergy, team_kwh: f64) -> String {
    let mut out = String::with_capacity(energy.services.len() * 1_500);
    for service in &energy.services {
        write_service_row(&mut out, &energy.team, service, team_kwh);
    }
    let others = energy.services_count - i64::try_from(energy.services.len()).unwrap_or(i64::MAX);
    if others > 0 {
        let own = energy.other_services.total();
        let href = format!("/services?team={}&sort=energy&dir=desc", energy.team);
        let _ = write!(
            out,
            r#"<tr data-testid="team-rest"><th scope="row"><a href="{}">{}</a></th><td>"#,
            attr(&href),
            text(&format!("{others} other services together"))
        );
        write_figures(&mut out, &energy.other_services);
        let _ = write!(
            out,
            "</td><td>{}</td><td>{}</td><td></td><td>{}</td><td></td></tr>",
            text(&percent(own.kwh, team_kwh)),
            text(&trend(own.kwh, energy.other_previous.total().kwh)),
            text(&source_mix(&energy.other_services))
        );
    }
    out
}

fn write_service_row(out: &mut String, team: &str, service: &TeamServiceEnergy, team_kwh: f64) {
    let own = service.figures.total();
    let idle = service.idle.total();
    let idle_share = percent(idle.kwh, own.kwh + idle.kwh);
    let idle_text = if idle.kwh > 0.0 {
        format!(
            "{idle_share} ({} {})",
            or_refused(energy_and_co2e(idle.kwh, idle.grams_co2e)),
            source_mix(&service.idle)
        )
    } else {
        idle_share
    };
    let href = format!("/services/{team}/{}", service.service);
    let _ = write!(
        out,
        r#"<tr data-service="{}"><th scope="row"><a href="{}">{}</a>"#,
        attr(&service.service),
        attr(&href),
        text(&service.service)
    );
    if !service.registered {
        out.push_str(r#"<span class="muted small"> (not registered)</span>"#);
    }
    out.push_str("</th><td>");
    write_figures(out, &service.figures);
    let _ = write!(
        out,
        r#"</td><td data-testid="team-share">{}</td><td>{}</td><td data-testid="idle-share">{}</td><td>{}</td><td>"#,
        text(&percent(own.kwh, team_kwh)),
        text(&trend(own.kwh, service.previous.total().kwh)),
        text(&idle_text),
        text(&source_mix(&service.figures))
    );
    write_sparkline(out, &service.sparkline);
    out.push_str("</td></tr>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::energy::{BySource, EnergyPeriod, Figure, PeriodSelection, SparkSeries};

    fn measured(kwh: f64) -> BySource {
        BySource {
            measured: Figure {
                kwh,
                grams_co2e: kwh * 400.0,
            },
            ..BySource::default()
        }
    }

    fn service(name: &str, kwh: f64, registered: bool) -> TeamServiceEnergy {
        TeamServiceEnergy {
            service: name.to_owned(),
            figures: measured(kwh),
            previous: measured(kwh / 2.0),
            idle: BySource::default(),
            sparkline: SparkSeries {
                service: name.to_owned(),
                bars: vec![[kwh, 0.0, 0.0]],
                ..SparkSeries::default()
            },
            registered,
        }
    }

    fn team(services: Vec<TeamServiceEnergy>, count: i64) -> TeamEnergy {
        TeamEnergy {
            team: "pay".to_owned(),
            selection: PeriodSelection::Preset(EnergyPeriod::ALL[0]),
            from: String::new(),
            to: String::new(),
            has_any_data: true,
            total: measured(4.0),
            previous_total: measured(2.0),
            services,
            services_count: count,
            other_services: measured(1.0),
            other_previous: measured(1.0),
            carbon_notes: Vec::new(),
        }
    }

    #[test]
    fn a_service_row_links_the_service_with_its_share_trend_and_sparkline() {
        let html = rows_html(&team(vec![service("checkout", 3.0, true)], 1), 4.0);
        assert!(html.starts_with(r#"<tr data-service="checkout"><th scope="row"><a href="/services/pay/checkout">checkout</a></th><td><span class="figure source-measured">3.00 kWh · 1.20 kg CO2e <span class="source-label">measured</span></span><br></td><td data-testid="team-share">75.0 %</td><td>+100.0 % vs the previous period</td><td data-testid="idle-share">0.0 %</td><td>100 % measured</td><td><svg class="sparkline""#), "{html}");
        assert!(html.ends_with("</svg></td></tr>"), "{html}");
        assert!(
            !html.contains("team-rest"),
            "every service is listed: {html}"
        );
    }

    #[test]
    fn unregistered_services_say_so_names_are_escaped_and_the_rest_is_added_up() {
        let html = rows_html(&team(vec![service("a<b", 3.0, false)], 4), 4.0);
        assert!(html.contains(r#"<a href="/services/pay/a&lt;b">a&lt;b</a><span class="muted small"> (not registered)</span></th>"#), "{html}");
        assert!(html.contains(r#"<tr data-testid="team-rest"><th scope="row"><a href="/services?team=pay&amp;sort=energy&amp;dir=desc">3 other services together</a></th><td><span class="figure source-measured">1.00 kWh · 400 g CO2e"#), "{html}");
        assert!(html.ends_with("</td><td>25.0 %</td><td>+0.0 % vs the previous period</td><td></td><td>100 % measured</td><td></td></tr>"), "{html}");
    }
}
