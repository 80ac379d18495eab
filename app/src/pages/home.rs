//! The home page (`/`): what needs attention first (the signed-in person's teams before the
//! rest of the organisation), this week's energy and CO2e against last week's, and the newest
//! deploys across the organisation. Plain links only: it works without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{
        home::{
            load_home, Activity, Attention, Capped, FailedRollout, Home, Moment, MyTeam,
            QuotaRefusal, RisingEnergy, StuckRollout, WeekOverWeek, RISE_MIN_KWH, RISE_PERCENT,
            STUCK_AFTER_SECS,
        },
        ServiceRef, TeamName,
    },
    components::{
        energy_figures::{source_mix, Figures},
        error_banner::LoadError,
    },
    format::{ago, duration, energy, energy_change, or_refused},
};

#[component]
pub fn HomePage() -> impl IntoView {
    let home = Resource::new(|| (), |_| load_home());
    view! {
        <Title text="Home · Canopy" />
        <section class="page home">
            <h1>"Home"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    home.get()
                        .map(|result| match result {
                            Ok(home) => view! { <HomeView home /> }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}

/// `<time>` with the relative time as text and the exact time on hover and focus.
#[component]
fn When(moment: Moment) -> impl IntoView {
    view! {
        <time datetime=moment.at title=moment.exact.clone() tabindex="0">
            {ago(moment.secs_ago)}
        </time>
    }
}

fn service_href(service: &ServiceRef) -> String {
    format!(
        "/services/{}/{}?env={}",
        service.team, service.service, service.environment
    )
}

fn service_label(service: &ServiceRef) -> String {
    format!(
        "{}/{} ({})",
        service.team, service.service, service.environment
    )
}

#[component]
fn HomeView(home: Home) -> impl IntoView {
    let Home {
        my_teams,
        mine,
        elsewhere,
        activity,
        org_energy,
        has_energy,
        this_week_from,
        this_week_to,
        last_week_from,
        last_week_to,
        as_of,
    } = home;
    let team_names: Vec<TeamName> = my_teams.iter().map(|t| t.team.clone()).collect();
    // "and N more" links can filter the catalogue by team only when there is one.
    let one_team = (team_names.len() == 1).then(|| team_names[0].clone());
    let weeks_text = format!(
        "This week: the last seven whole days ({this_week_from} to {this_week_to}, UTC); \
         last week: the seven before ({last_week_from} to {last_week_to})."
    );
    let energy_href = format!("/energy?from={this_week_from}&to={this_week_to}");
    let attention = if team_names.is_empty() {
        view! { <AttentionList attention=elsewhere team=None energy_href=energy_href.clone() grouped=false /> }
            .into_any()
    } else {
        let names = team_names
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        view! {
            <h3 data-testid="home-attention-mine">{format!("My teams ({names})")}</h3>
            <AttentionList attention=mine team=one_team energy_href=energy_href.clone() grouped=true />
            <h3 data-testid="home-attention-elsewhere">"Elsewhere in the organisation"</h3>
            <AttentionList attention=elsewhere team=None energy_href=energy_href.clone() grouped=true />
        }
        .into_any()
    };
    view! {
        <p class="muted small">
            "Rollouts and energy as of " <When moment=as_of />
            " (kept up to a minute); reload for newer."
        </p>
        <section class="card" data-testid="home-attention" aria-labelledby="home-attention-title">
            <h2 id="home-attention-title">"Needs attention"</h2>
            {attention}
            <p class="muted small">{rules()}</p>
        </section>
        <section class="card" data-testid="home-energy" aria-labelledby="home-energy-title">
            <h2 id="home-energy-title">"Energy and CO2e: this week against last week"</h2>
            <p class="muted small">{weeks_text}</p>
            {if has_energy {
                view! {
                    <table class="table" data-testid="home-energy-table">
                        <thead>
                            <tr>
                                <th scope="col">"Whose"</th>
                                <th scope="col">"This week"</th>
                                <th scope="col">"Last week"</th>
                                <th scope="col">"Change"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {my_teams
                                .into_iter()
                                .map(|MyTeam { team, energy }| {
                                    let href = format!("/teams/{team}");
                                    view! {
                                        <WeekRow energy testid="home-energy-team">
                                            <a href=href>{format!("My team {team}")}</a>
                                        </WeekRow>
                                    }
                                })
                                .collect_view()}
                            <WeekRow energy=org_energy testid="home-energy-org">
                                <a href=energy_href.clone()>"The organisation"</a>
                            </WeekRow>
                        </tbody>
                    </table>
                    <p class="muted small">
                        "A team's figure is its services' workload energy; the organisation's adds every node's idle and system energy, as on the Energy page. Measured, estimated and simulated energy are shown apart."
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <p class="empty-state" data-testid="home-energy-empty">
                        "No energy figures yet: no node agent has reported to this Canopy (docs/AGENT.md)."
                    </p>
                }
                    .into_any()
            }}
        </section>
        <section class="card" data-testid="home-activity" aria-labelledby="home-activity-title">
            <h2 id="home-activity-title">"Recent deploys across the organisation"</h2>
            {if activity.is_empty() {
                view! { <p class="muted">"No deploys yet."</p> }.into_any()
            } else {
                view! {
                    <ol class="activity">
                        {activity.into_iter().map(|a| view! { <ActivityItem activity=a /> }).collect_view()}
                    </ol>
                }
                    .into_any()
            }}
        </section>
    }
}

/// `+12.5 %`, or why there is no change.
fn change(now: f64, before: f64) -> String {
    if before <= 0.0 {
        return "no energy last week".to_owned();
    }
    format!("{:+.1} %", (now - before) / before * 100.0)
}

#[component]
fn WeekRow(energy: WeekOverWeek, testid: &'static str, children: Children) -> impl IntoView {
    let (now, before) = (energy.this_week.total(), energy.last_week.total());
    let co2e_change = if before.grams_co2e > 0.0 {
        format!(
            " · CO2e {:+.1} %",
            (now.grams_co2e - before.grams_co2e) / before.grams_co2e * 100.0
        )
    } else {
        String::new()
    };
    view! {
        <tr data-testid=testid>
            <th scope="row">{children()}</th>
            <td><Figures figures=energy.this_week /></td>
            <td><Figures figures=energy.last_week /></td>
            <td data-testid="home-energy-change">
                {format!("{} ({}){co2e_change}", change(now.kwh, before.kwh), or_refused(energy_change(now.kwh - before.kwh)))}
                <br />
                <span class="muted small">{source_mix(&energy.this_week)}</span>
            </td>
        </tr>
    }
}

/// `and 37 more`, linking to where all of them are.
#[component]
fn More(more: usize, href: String) -> impl IntoView {
    (more > 0).then(|| {
        view! {
            <p class="small">
                <a href=href data-testid="home-more">{format!("and {more} more")}</a>
            </p>
        }
    })
}

fn catalogue(state: &str, team: &Option<TeamName>) -> String {
    match team {
        Some(team) => format!("/services?state={state}&team={team}"),
        None => format!("/services?state={state}"),
    }
}

#[component]
fn AttentionList(
    attention: Attention,
    team: Option<TeamName>,
    energy_href: String,
    /// Under a "My teams" / "Elsewhere" heading (h3): the kinds' headings are one level down.
    grouped: bool,
) -> impl IntoView {
    if attention.is_empty() {
        return view! {
            <p class="muted" data-testid="home-all-clear">
                "Nothing needs attention here: no failed or stuck rollouts, no deploy refused by a team's quota, and no service's energy rising."
            </p>
        }
        .into_any();
    }
    let Attention {
        failed,
        stuck,
        quota,
        rising,
    } = attention;
    view! {
        <Kind
            grouped
            title="Failed rollouts"
            list=failed
            more_href=catalogue("failed", &team)
            item=|f: FailedRollout| view! { <FailedItem failed=f /> }.into_any()
        />
        <Kind
            grouped
            title="Stuck rollouts"
            list=stuck
            more_href=catalogue("rolling_out", &team)
            item=|s: StuckRollout| view! { <StuckItem stuck=s /> }.into_any()
        />
        <Kind
            grouped
            title="Teams whose quota refused pods"
            list=quota
            more_href="/teams".to_owned()
            item=|q: QuotaRefusal| view! { <QuotaItem quota=q /> }.into_any()
        />
        <Kind
            grouped
            title="Rising energy"
            list=rising
            more_href=energy_href
            item=|r: RisingEnergy| view! { <RisingItem rising=r /> }.into_any()
        />
    }
    .into_any()
}

/// One kind of attention item: a heading, its items, and "and N more".
#[component]
fn Kind<T: Clone + Send + Sync + 'static>(
    grouped: bool,
    title: &'static str,
    list: Capped<T>,
    more_href: String,
    item: fn(T) -> AnyView,
) -> impl IntoView {
    (list.total() > 0).then(|| {
        view! {
            {
                let heading = format!("{title} ({})", list.total());
                if grouped {
                    view! { <h4>{heading}</h4> }.into_any()
                } else {
                    view! { <h3>{heading}</h3> }.into_any()
                }
            }
            <ul class="attention">{list.items.into_iter().map(item).collect_view()}</ul>
            <More more=list.more href=more_href />
        }
    })
}

#[component]
fn FailedItem(failed: FailedRollout) -> impl IntoView {
    view! {
        <li data-testid="home-failed">
            <span class="badge failed">"Failed"</span> " "
            <a href=service_href(&failed.service)>{service_label(&failed.service)}</a>
            {format!(": its newest deploy (revision {}) failed ", failed.revision)}
            <When moment=failed.failed />
            ". "
            <span class="muted">{failed.reason}</span>
        </li>
    }
}

#[component]
fn StuckItem(stuck: StuckRollout) -> impl IntoView {
    let text = format!(
        ": revision {} has been {} for {}, past the {} Kubernetes allows a rollout to progress. Started ",
        stuck.revision,
        stuck.status.label().to_lowercase(),
        duration(stuck.started.secs_ago),
        duration(STUCK_AFTER_SECS),
    );
    view! {
        <li data-testid="home-stuck">
            <span class="badge rolling_out">"Stuck"</span> " "
            <a href=service_href(&stuck.service)>{service_label(&stuck.service)}</a>
            {text}
            <When moment=stuck.started />
            "."
        </li>
    }
}

#[component]
fn QuotaItem(quota: QuotaRefusal) -> impl IntoView {
    let team_href = format!("/teams/{}", quota.team);
    let text = if quota.refused == 1 {
        " refused the pods of a deploy: the team's namespace has no room left. Latest: ".to_owned()
    } else {
        format!(
            " refused the pods of {} service environments' newest deploys: the team's namespaces have no room left. Latest: ",
            quota.refused
        )
    };
    view! {
        <li data-testid="home-quota">
            <span class="badge failed">"Quota"</span> " "
            <a href=team_href>{format!("Team {}", quota.team)}</a>
            "'s quota" {text}
            <a href=service_href(&quota.latest)>{service_label(&quota.latest)}</a> " "
            <When moment=quota.when />
            ". (Canopy knows the refusals its deploys met; the team page shows the quota.)"
        </li>
    }
}

#[component]
fn RisingItem(rising: RisingEnergy) -> impl IntoView {
    let (now, before) = (rising.this_week.total(), rising.last_week.total());
    let href = match rising.environment {
        Some(env) => format!("/services/{}/{}?env={env}", rising.team, rising.service),
        None => format!("/services/{}/{}", rising.team, rising.service),
    };
    let text = format!(
        " used {:.0} % more energy this week than last: {} against {} ({}).",
        rising.change_percent(),
        or_refused(energy(now.kwh)),
        or_refused(energy(before.kwh)),
        source_mix(&rising.this_week),
    );
    view! {
        <li data-testid="home-rising">
            <span class="badge rolling_out">"Rising"</span> " "
            <a href=href>{format!("{}/{}", rising.team, rising.service)}</a>
            {text}
        </li>
    }
}

#[component]
fn ActivityItem(activity: Activity) -> impl IntoView {
    let status = activity.status;
    let what = match activity.rollback_of_revision {
        Some(to) => format!(
            " rolled back to revision {to} as revision {}",
            activity.revision
        ),
        None => format!(" deployed revision {}", activity.revision),
    };
    view! {
        <li data-testid="home-activity-item" data-status=status.as_str()>
            <strong>{activity.requested_by}</strong>
            {what} " of "
            <a href=service_href(&activity.service)>{service_label(&activity.service)}</a>
            " " <span class=format!("badge {}", status.as_str())>{status.label()}</span> " "
            <When moment=activity.started />
        </li>
    }
}

/// What "stuck" and "rising" mean, for the page's footnote.
fn rules() -> String {
    format!(
        "Stuck: applying or rolling out for longer than {} (the rollout's progress deadline). \
         Rising: a service's energy at least {RISE_PERCENT:.0} % and {} above last week's.",
        duration(STUCK_AFTER_SECS),
        or_refused(energy(RISE_MIN_KWH))
    )
}
