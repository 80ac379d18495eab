//! A service's page, one URL per section (tabs that are plain links, so they work without
//! JavaScript): Overview (live status, current revision, GitHub), Deploy (the form with its
//! preview, restart, scale, delete), Pods & logs, Energy, Dependencies (`dependencies.rs`) and
//! History (with rollback). Each tab loads only what it shows; the tab links keep the chosen
//! environment (`?env=`) and energy period.

use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    hooks::{use_params_map, use_query_map},
    params::ParamsMap,
};

use crate::api::energy::{load_service_energy_for, load_service_pods};
use crate::components::{csrf::CsrfField, title::page_title};
use crate::{
    api::{
        deploy_fns::{
            get_service_overview, DeleteService, DeployForm, DeployPreview, DeployService,
            PreviewDeploy, RestartService, RollbackService, ScaleService, ServiceOverview,
        },
        deploys::{DeployRecord, DeployStatus},
        energy::EnergyPeriod,
        github::load_github_card,
        spec::{Environment, Size},
        AppError,
    },
    components::{
        energy_chart::{EnergyChart, PodPowerTable},
        energy_figures::{is_period_error, PeriodPicker, RawPeriod, RequestSciNote},
        error_banner::{ErrorBanner, LoadError},
        live_status::LiveStatus,
    },
};

pub mod dependencies;
mod operations;
mod pods;

use operations::{Operations, OperationsView};
use pods::PodsSection;

/// The service page's sections, each its own URL under `/services/:team/:service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Deploy,
    Pods,
    Energy,
    Dependencies,
    History,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Deploy,
        Tab::Pods,
        Tab::Energy,
        Tab::Dependencies,
        Tab::History,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Deploy => "Deploy",
            Tab::Pods => "Pods & logs",
            Tab::Energy => "Energy",
            Tab::Dependencies => "Dependencies",
            Tab::History => "History",
        }
    }

    /// A short name: the path's last segment (the overview has none) and the tab link's test id.
    pub fn slug(self) -> &'static str {
        match self {
            Tab::Overview => "overview",
            Tab::Deploy => "deploy",
            Tab::Pods => "pods",
            Tab::Energy => "energy",
            Tab::Dependencies => "dependencies",
            Tab::History => "history",
        }
    }

    /// The tab's path, without a query.
    pub fn path(self, team: &str, service: &str) -> String {
        match self {
            Tab::Overview => format!("/services/{team}/{service}"),
            tab => format!("/services/{team}/{service}/{}", tab.slug()),
        }
    }

    /// The tab's URL keeping what the page's query chose that every tab shares (the
    /// environment and the energy period), with `env` in place of the environment if given.
    pub fn href(self, team: &str, service: &str, query: &ParamsMap, env: Option<&str>) -> String {
        let mut kept = Vec::new();
        match env {
            Some(env) => kept.push(format!("env={env}")),
            None => {
                if let Some(env) = query.get("env").and_then(|e| Environment::parse(&e)) {
                    kept.push(format!("env={}", env.as_str()));
                }
            }
        }
        if let Some(period) = query.get("period").and_then(|p| EnergyPeriod::parse(&p)) {
            kept.push(format!("period={}", period.as_str()));
        }
        // Custom days are kept as they were typed when they can only be a date (no escaping
        // needed); anything else is the energy tab's to refuse, not the links' to carry.
        for name in ["from", "to"] {
            if let Some(day) = query.get(name).filter(|d| {
                !d.is_empty() && d.len() <= 10 && d.chars().all(|c| c.is_ascii_digit() || c == '-')
            }) {
                kept.push(format!("{name}={day}"));
            }
        }
        let path = self.path(team, service);
        if kept.is_empty() {
            path
        } else {
            format!("{path}?{}", kept.join("&"))
        }
    }
}

/// The page's team, service and environment (`?env=`, dev when absent or unknown).
#[derive(Clone, Copy)]
struct PageTarget {
    team: Signal<String>,
    service: Signal<String>,
    environment: Signal<String>,
}

fn page_target() -> PageTarget {
    let params = use_params_map();
    let query = use_query_map();
    PageTarget {
        team: Signal::derive(move || params.read().get("team").unwrap_or_default()),
        service: Signal::derive(move || params.read().get("service").unwrap_or_default()),
        environment: Signal::derive(move || {
            let env = query.read().get("env").unwrap_or_default();
            Environment::parse(&env)
                .unwrap_or(Environment::Dev)
                .to_string()
        }),
    }
}

/// The page's head, shared by every tab: where it is, the service's name, the tab links and
/// (for the tabs that depend on it) the environment links.
#[component]
pub(crate) fn ServiceHeader(tab: Tab) -> impl IntoView {
    let PageTarget {
        team,
        service,
        environment,
    } = page_target();
    let query = use_query_map();
    let title = page_title(move || format!("{} · {} · Canopy", service.get(), tab.label()));
    view! {
        <Title text=title />
        <p class="muted small"><a href="/services">"Services"</a> " / " {team}</p>
        <h1>{service}</h1>
        <nav class="tabs service-tabs" aria-label="Service sections">
            {Tab::ALL
                .into_iter()
                .map(|t| {
                    let href = move || t.href(&team.get(), &service.get(), &query.read(), None);
                    view! {
                        <a href=href aria-current=(t == tab).then_some("page")
                            data-testid=format!("tab-{}", t.slug())>
                            {t.label()}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
        {(tab != Tab::Dependencies).then(|| view! {
            <nav class="tabs" aria-label="Environment">
                {Environment::ALL
                    .into_iter()
                    .map(|env| {
                        let href = move || tab.href(&team.get(), &service.get(), &query.read(), Some(env.as_str().as_ref()));
                        view! {
                            <a href=href aria-current=move || (environment.get() == env.as_str()).then_some("page")>
                                {env.as_str()}
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
        })}
    }
}

/// `/services/:team/:service`: live status, the current revision's figures, GitHub.
#[component]
pub fn ServiceOverviewPage() -> impl IntoView {
    view! { <OverviewBackedTab tab=Tab::Overview body=overview_body /> }
}

/// `/services/:team/:service/deploy`: the deploy form with its preview, restart, scale and
/// delete, and the live status of what they start.
#[component]
pub fn ServiceDeployPage() -> impl IntoView {
    view! { <OverviewBackedTab tab=Tab::Deploy body=deploy_body /> }
}

/// `/services/:team/:service/pods`: pods, events and the log viewer.
#[component]
pub fn ServicePodsPage() -> impl IntoView {
    view! { <OverviewBackedTab tab=Tab::Pods body=pods_body /> }
}

/// `/services/:team/:service/history`: every deploy, with rollback.
#[component]
pub fn ServiceHistoryPage() -> impl IntoView {
    view! { <OverviewBackedTab tab=Tab::History body=history_body /> }
}

/// What an overview-backed tab shows under the notices and the live status: given the
/// overview, the actions and the Deploy tab's link. A plain function per tab (not a match on
/// the tab) so each tab's lazy route only carries its own view's code.
type TabBodyFn = fn(ServiceOverview, Actions, String) -> AnyView;

fn overview_body(overview: ServiceOverview, _actions: Actions, deploy_href: String) -> AnyView {
    view! { <OverviewTab overview deploy_href /> }.into_any()
}

fn deploy_body(overview: ServiceOverview, actions: Actions, _deploy_href: String) -> AnyView {
    view! { <DeployTab overview actions /> }.into_any()
}

fn pods_body(overview: ServiceOverview, _actions: Actions, deploy_href: String) -> AnyView {
    if overview.history.is_empty() {
        return view! { <NotDeployedYet deploy_href may_deploy=overview.may_deploy /> }.into_any();
    }
    view! {
        <PodsSection team=overview.team.clone() service=overview.service.clone()
            environment=overview.environment.clone() may_read_logs=overview.may_deploy />
    }
    .into_any()
}

fn history_body(overview: ServiceOverview, actions: Actions, deploy_href: String) -> AnyView {
    let latest_revision = overview.history.first().map(|d| d.revision);
    view! {
        <History history=overview.history.clone() latest_revision rollback=actions.rollback
            may_deploy=overview.may_deploy team=overview.team.clone()
            service=overview.service.clone() environment=overview.environment.clone()
            deploy_href />
    }
    .into_any()
}

/// The tabs built on the service's deploy overview (state, history, permissions).
#[component]
fn OverviewBackedTab(tab: Tab, body: TabBodyFn) -> impl IntoView {
    let PageTarget {
        team,
        service,
        environment,
    } = page_target();
    let preview = ServerAction::<PreviewDeploy>::new();
    let deploy = ServerAction::<DeployService>::new();
    let rollback = ServerAction::<RollbackService>::new();
    let operations = Operations {
        restart: ServerAction::<RestartService>::new(),
        scale: ServerAction::<ScaleService>::new(),
        delete: ServerAction::<DeleteService>::new(),
    };
    // Bumped by the live panel when a rollout it follows ends: reload the history then.
    let finished = RwSignal::new(0_u32);
    let overview = Resource::new(
        move || {
            (
                team.get(),
                service.get(),
                environment.get(),
                deploy.version().get()
                    + rollback.version().get()
                    + operations.version()
                    + finished.get() as usize,
            )
        },
        |(team, service, env, _)| get_service_overview(team, service, env),
    );
    let actions = Actions {
        preview,
        deploy,
        rollback,
        operations,
        finished,
    };
    view! {
        <section class="page">
            <ServiceHeader tab />
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    overview
                        .get()
                        .map(|result| match result {
                            Ok(overview) => view! { <TabBody overview actions body /> }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}

/// The actions of the overview-backed tabs (each reloads the overview when it is done).
#[derive(Clone, Copy)]
struct Actions {
    preview: ServerAction<PreviewDeploy>,
    deploy: ServerAction<DeployService>,
    rollback: ServerAction<RollbackService>,
    operations: Operations,
    finished: RwSignal<u32>,
}

#[component]
fn TabBody(overview: ServiceOverview, actions: Actions, body: TabBodyFn) -> impl IntoView {
    let live_url = format!(
        "/ui/live/{}/{}/{}",
        overview.team, overview.service, overview.environment
    );
    let deploy_href = Tab::Deploy.href(
        &overview.team,
        &overview.service,
        &ParamsMap::new(),
        Some(&overview.environment),
    );
    let notices = view! {
        {overview.sandbox.then(|| view! {
            <div class="notice" role="note">
                <strong>"Sandbox. "</strong>
                "This is Canopy's local sandbox cluster: its Kubernetes control plane is real, but its pods are simulated, so no container actually runs."
            </div>
        })}
        {overview.cluster_problem.clone().map(|problem| view! {
            <div class="error-banner" role="alert">{problem}</div>
        })}
        <LiveStatus initial=overview.live.clone() url=live_url finished=actions.finished />
    };
    let body = body(overview, actions, deploy_href);
    view! { {notices} {body} }
}

/// The empty state of a tab about running pods when nothing was deployed yet.
#[component]
fn NotDeployedYet(deploy_href: String, may_deploy: bool) -> impl IntoView {
    view! {
        <div class="empty-state">
            <p>
                "No deploys yet in this environment. "
                {may_deploy.then(|| view! { <a href=deploy_href>"Deploy it from the Deploy tab."</a> })}
            </p>
        </div>
    }
}

/// The overview: the current revision's figures, GitHub, the audit log.
#[component]
fn OverviewTab(overview: ServiceOverview, deploy_href: String) -> impl IntoView {
    let latest = overview.history.first().cloned();
    let running = overview
        .history
        .iter()
        .find(|d| d.status == DeployStatus::Succeeded)
        .map(|d| d.revision);
    let replicas = overview
        .live
        .as_ref()
        .map(|l| format!("{} ready of {} desired", l.ready, l.desired));
    let has_deploys = latest.is_some();
    view! {
        {match latest {
            None => view! { <NotDeployedYet deploy_href may_deploy=overview.may_deploy /> }.into_any(),
            Some(latest) => view! {
                <section class="card" aria-labelledby="current-heading" data-testid="current-revision">
                    <h2 id="current-heading">"Current revision"</h2>
                    <dl class="key-figures">
                        <div><dt>"Revision"</dt><dd>{latest.revision}</dd></div>
                        <div>
                            <dt>"Status"</dt>
                            <dd class=format!("status {}", latest.status.as_str())>{latest.status.label()}</dd>
                        </div>
                        <div><dt>"Image"</dt><dd><code>{latest.image.clone()}</code></dd></div>
                        <div><dt>"Pods"</dt><dd>{replicas.unwrap_or_else(|| "none".to_owned())}</dd></div>
                        <div>
                            <dt>"Deployed"</dt>
                            <dd><time datetime=latest.started_at.clone()>{latest.started_at.clone()}</time>
                                {format!(" by {}", latest.requested_by)}</dd>
                        </div>
                        <div>
                            <dt>"Last good revision"</dt>
                            <dd>{running.map_or_else(|| "none yet".to_owned(), |r| r.to_string())}</dd>
                        </div>
                        <div><dt>"Deploys"</dt><dd>{overview.history.len()}</dd></div>
                    </dl>
                </section>
            }.into_any(),
        }}
        <GithubSection team=overview.team.clone() service=overview.service.clone()
            environment=overview.environment.clone() deployed=has_deploys />
        <p class="small">
            <a
                href=format!("/audit?team={}&service={}", overview.team, overview.service)
                rel="external"
                data-testid="audit-link"
            >
                "Audit log of this service"
            </a>
        </p>
    }
}

/// The deploy tab: the form (or why it is not offered), then restart, scale and delete.
#[component]
fn DeployTab(overview: ServiceOverview, actions: Actions) -> impl IntoView {
    let replicas_now = overview
        .live
        .as_ref()
        .map_or(1, |l| l.desired.max(1))
        .to_string();
    let has_deploys = !overview.history.is_empty();
    let form = overview
        .current
        .as_ref()
        .map(DeployForm::from_spec)
        .unwrap_or_else(|| DeployForm {
            team: overview.team.clone(),
            name: overview.service.clone(),
            environment: overview.environment.clone(),
            port: "8080".to_owned(),
            size: "S".to_owned(),
            scaling: "fixed".to_owned(),
            replicas: "1".to_owned(),
            min: "2".to_owned(),
            max: "4".to_owned(),
            target_cpu_percent: "70".to_owned(),
            ..DeployForm::default()
        });
    let Actions {
        preview,
        deploy,
        operations,
        ..
    } = actions;
    view! {
        {if overview.may_deploy {
            view! { <DeployFormView form preview deploy /> }.into_any()
        } else {
            view! {
                <p class="notice" role="note" data-testid="read-only">
                    {format!("You can see this service. Deploying, restarting, scaling and reading its logs need the deployer role in team {}: ask one of its admins.", overview.team)}
                </p>
            }.into_any()
        }}
        {(has_deploys && overview.may_deploy).then(|| view! {
            <OperationsView operations team=overview.team.clone() service=overview.service.clone()
                environment=overview.environment.clone() replicas=replicas_now may_delete=overview.may_delete />
        })}
    }
}

/// `/services/:team/:service/energy`: the service's energy and CO2e over a period, and its
/// pods' power now (the environment does not narrow them: energy is per service).
#[component]
pub fn ServiceEnergyPage() -> impl IntoView {
    let PageTarget {
        team,
        service,
        environment,
    } = page_target();
    let query = use_query_map();
    // The chart's period (`period`, or custom `from`/`to` days) comes from the URL, so the
    // switch is plain links and a GET form that work without JavaScript too.
    let raw_period = Signal::derive(move || RawPeriod::from_query(&query.read()));
    let energy = Resource::new(
        move || (team.get(), service.get(), raw_period.get()),
        |(team, service, raw)| load_service_energy_for(team, service, raw.period, raw.from, raw.to),
    );
    let period_error =
        Signal::derive(move || energy.get().and_then(|r| r.err()).filter(is_period_error));
    let energy_path = Signal::derive(move || Tab::Energy.path(&team.get(), &service.get()));
    let keep_env = Signal::derive(move || vec![("env".to_owned(), environment.get())]);
    let pods = Resource::new(
        move || (team.get(), service.get()),
        |(team, service)| load_service_pods(team, service),
    );
    view! {
        <section class="page">
            <ServiceHeader tab=Tab::Energy />
            <section class="card" aria-labelledby="energy-heading" data-testid="service-energy">
                <h2 id="energy-heading">"Energy and CO2e"</h2>
                <Suspense fallback=|| ()>
                    <PeriodPicker base=energy_path raw=raw_period error=period_error keep=keep_env />
                </Suspense>
                <Suspense fallback=|| view! { <p class="muted">"Loading energy…"</p> }>
                    {move || {
                        energy
                            .get()
                            .map(|result| match result {
                                Ok(series) => {
                                    let sci = series.request_sci.clone();
                                    view! {
                                        <EnergyChart series />
                                        {sci.map(|sci| view! { <RequestSciNote sci /> })}
                                    }
                                        .into_any()
                                }
                                Err(error) if is_period_error(&error) => ().into_any(),
                                Err(error) => view! { <LoadError error /> }.into_any(),
                            })
                    }}
                    {move || {
                        pods.get()
                            .map(|result| match result {
                                Ok(pods) => view! { <PodPowerTable pods /> }.into_any(),
                                Err(error) => view! { <LoadError error /> }.into_any(),
                            })
                    }}
                </Suspense>
            </section>
        </section>
    }
}

/// The deploy form. With `teams`, the team (one of those), the service's name and the
/// environment are fields too (the deploy button's page); otherwise they are the page's.
#[component]
pub(crate) fn DeployFormView(
    form: DeployForm,
    preview: ServerAction<PreviewDeploy>,
    deploy: ServerAction<DeployService>,
    #[prop(optional)] teams: Option<Vec<String>>,
) -> impl IntoView {
    let preview_result = preview.value();
    let deploy_result = deploy.value();
    let field_errors = move || match preview_result.get().or_else(|| {
        deploy_result.get().map(|r| {
            r.map(|_| DeployPreview {
                objects: vec![],
                warnings: vec![],
                form: DeployForm::default(),
            })
        })
    }) {
        Some(Err(AppError::InvalidSpec { errors })) => errors,
        _ => Vec::new(),
    };
    let error_for = move |field: &'static str| {
        move || {
            field_errors()
                .into_iter()
                .filter(|e| {
                    e.field == field
                        || e.field.starts_with(&format!("{field}."))
                        || e.field.starts_with(&format!("{field}["))
                })
                .map(|e| view! { <p class="field-error" role="alert">{e.to_string()}</p> })
                .collect_view()
        }
    };
    let other_error = move || match preview_result.get() {
        Some(Err(AppError::InvalidSpec { .. })) | None | Some(Ok(_)) => None,
        Some(Err(error)) => Some(error),
    };
    let deploy_error = move || match deploy_result.get() {
        Some(Err(error)) => Some(error),
        _ => None,
    };
    let size_options = Size::ALL.map(|s| {
        let selected = s.as_str() == form.size;
        view! { <option value=s.as_str() selected=selected>{s.as_str()}</option> }
    });
    let auto = form.scaling == "auto";
    view! {
        <ActionForm action=preview attr:class="card deploy-form" attr:aria-label="Deploy">
            <CsrfField />
            <h2>"Deploy"</h2>
            {match teams {
                None => view! {
                    <input type="hidden" name="form[team]" value=form.team.clone() />
                    <input type="hidden" name="form[name]" value=form.name.clone() />
                    <input type="hidden" name="form[environment]" value=form.environment.clone() />
                }.into_any(),
                Some(teams) => {
                    let chosen = form.team.clone();
                    let environment = form.environment.clone();
                    view! {
                        <div class="grid">
                            <div class="field">
                                <label for="team">"Team"</label>
                                <select id="team" name="form[team]">
                                    {teams.into_iter().map(|team| {
                                        let selected = team == chosen;
                                        view! { <option value=team.clone() selected=selected>{team.clone()}</option> }
                                    }).collect_view()}
                                </select>
                                {error_for("team")}
                            </div>
                            <div class="field">
                                <label for="name">"Service name"</label>
                                <input id="name" name="form[name]" value=form.name.clone() required />
                                {error_for("name")}
                            </div>
                            <div class="field">
                                <label for="environment">"Environment"</label>
                                <select id="environment" name="form[environment]">
                                    {Environment::ALL.into_iter().map(|env| {
                                        let selected = env.as_str() == environment;
                                        view! { <option value=env.as_str() selected=selected>{env.as_str()}</option> }
                                    }).collect_view()}
                                </select>
                                {error_for("environment")}
                            </div>
                        </div>
                    }.into_any()
                }
            }}
            <div class="grid">
                <div class="field">
                    <label for="image">"Container image"</label>
                    <input id="image" name="form[image]" value=form.image.clone() placeholder="ghcr.io/acme/shop:1.4.2" required />
                    {error_for("image")}
                </div>
                <div class="field">
                    <label for="port">"Container port"</label>
                    <input id="port" name="form[port]" inputmode="numeric" value=form.port.clone() />
                    {error_for("port")}
                </div>
                <div class="field">
                    <label for="size">"Size"</label>
                    <select id="size" name="form[size]">{size_options}</select>
                    <p class="muted small">"S: 0.1 CPU / 128 MiB · M: 0.25 / 256 MiB · L: 0.5 / 512 MiB · XL: 1 / 1 GiB (requests)"</p>
                    {error_for("size")}
                </div>
                <div class="field">
                    <label for="scaling">"Scaling"</label>
                    <select id="scaling" name="form[scaling]">
                        <option value="fixed" selected=!auto>"Fixed number of replicas"</option>
                        <option value="auto" selected=auto>"Autoscale on CPU"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="replicas">"Replicas (fixed)"</label>
                    <input id="replicas" name="form[replicas]" inputmode="numeric" value=form.replicas.clone() />
                    {error_for("replicas")}
                </div>
                <div class="field">
                    <label for="min">"Autoscaling: min / max / target CPU %"</label>
                    <div class="inline">
                        <input id="min" name="form[min]" inputmode="numeric" value=form.min.clone() aria-label="Minimum replicas" />
                        <input name="form[max]" inputmode="numeric" value=form.max.clone() aria-label="Maximum replicas" />
                        <input name="form[target_cpu_percent]" inputmode="numeric" value=form.target_cpu_percent.clone() aria-label="Target CPU percent" />
                    </div>
                    {error_for("autoscaling")}
                </div>
                <div class="field">
                    <label for="health">"Health check path (optional)"</label>
                    <input id="health" name="form[health_check]" value=form.health_check.clone() placeholder="/healthz" />
                    {error_for("health_check")}
                </div>
                <div class="field">
                    <label for="route_host">"Public route (optional): host and path"</label>
                    <div class="inline">
                        <input id="route_host" name="form[route_host]" value=form.route_host.clone() placeholder="shop.example.com" />
                        <input name="form[route_path]" value=form.route_path.clone() placeholder="/" aria-label="Route path" />
                    </div>
                    {error_for("route")}
                </div>
                <div class="field wide">
                    <label for="env">"Environment variables (KEY=value, one per line)"</label>
                    <textarea id="env" name="form[env]" rows="3">{form.env.clone()}</textarea>
                    {error_for("env")}
                </div>
                <div class="field wide">
                    <label for="secrets">"Secrets (KEY=value, one per line; stored only in a Kubernetes Secret, never shown again)"</label>
                    <textarea id="secrets" name="form[secrets]" rows="2" autocomplete="off">{form.secrets.clone()}</textarea>
                    {error_for("secrets")}
                </div>
            </div>
            <button type="submit" disabled=move || preview.pending().get()>"Preview changes"</button>
            {move || other_error().map(|error| view! { <ErrorBanner error /> })}
        </ActionForm>
        {move || preview_result.get().and_then(Result::ok).map(|p| view! { <PreviewView preview=p deploy preview_action=preview /> })}
        {move || deploy_error().map(|error| view! { <ErrorBanner error /> })}
    }
}

#[component]
fn PreviewView(
    preview: DeployPreview,
    deploy: ServerAction<DeployService>,
    preview_action: ServerAction<PreviewDeploy>,
) -> impl IntoView {
    let form = preview.form.clone();
    let nothing = preview
        .objects
        .iter()
        .all(|o| !o.created && o.added.is_empty() && o.changed.is_empty() && o.removed.is_empty());
    view! {
        <section class="card preview" aria-label="Preview" data-testid="preview">
            <h2>"What this deploy changes"</h2>
            {preview.warnings.iter().map(|w| view! { <p class="warning">{w.clone()}</p> }).collect_view()}
            {nothing.then(|| view! { <p>"Nothing changes: the cluster already runs this spec."</p> })}
            <ul class="changes">
                {preview.objects.into_iter().map(|object| {
                    let summary = if object.created {
                        "will be created".to_owned()
                    } else if object.added.is_empty() && object.changed.is_empty() && object.removed.is_empty() {
                        "unchanged".to_owned()
                    } else {
                        format!("{} added, {} changed, {} removed", object.added.len(), object.changed.len(), object.removed.len())
                    };
                    let details: Vec<String> = object.added.iter().map(|p| format!("+ {p}"))
                        .chain(object.changed.iter().map(|p| format!("~ {p}")))
                        .chain(object.removed.iter().map(|p| format!("- {p}")))
                        .take(40)
                        .collect();
                    view! {
                        <li>
                            <strong>{format!("{} {}", object.kind, object.name)}</strong> " " <span class="muted">{summary}</span>
                            {(!details.is_empty()).then(|| view! { <pre class="diff">{details.join("\n")}</pre> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
            <button type="button" data-testid="confirm-deploy"
                disabled=move || deploy.pending().get()
                on:click=move |_| {
                    // The preview never carries secret values back: read them from the form.
                    let form = DeployForm {
                        secrets: secrets_typed(),
                        ..form.clone()
                    };
                    deploy.dispatch(DeployService { form });
                    // This preview is now being deployed; a new change needs a new preview.
                    preview_action.clear();
                }>
                {move || if deploy.pending().get() { "Deploying…" } else { "Deploy" }}
            </button>
        </section>
    }
}

/// What the secrets field of the deploy form holds now (empty outside the browser).
fn secrets_typed() -> String {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| document.get_element_by_id("secrets"))
            .and_then(|element| element.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
            .map(|field| field.value())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

/// The service's GitHub card: its status badge, the snippets for a README, and the link to its
/// GitHub page (repository link, webhook deliveries, deployments on GitHub).
#[component]
fn GithubSection(
    team: String,
    service: String,
    environment: String,
    /// The status badge exists once the service is (its URL answers 404 before).
    deployed: bool,
) -> impl IntoView {
    let badge = format!("/badge/{team}/{service}/{environment}.svg");
    let card = Resource::new(
        move || (team.clone(), service.clone(), environment.clone()),
        |(team, service, environment)| load_github_card(team, service, environment),
    );
    view! {
        <Suspense fallback=|| ()>
            {move || card.get().and_then(Result::ok).map(|card| view! {
                <section class="card" aria-label="GitHub" data-testid="github-card">
                    <h2>"GitHub"</h2>
                    <p>
                        {deployed.then(|| view! { <img src=badge.clone() alt="Status badge of this service" /> })}
                        " "
                        {match card.linked.clone() {
                            Some(linked) => format!("Linked to {linked}: a push deploys it."),
                            None => "Not linked to a repository.".to_owned(),
                        }}
                        " "
                        <a href=card.settings_url.clone() rel="external" data-testid="github-settings-link">
                            "Repository, deliveries and deploy button"
                        </a>
                    </p>
                    <label for="status-markdown">"Status badge for a README (Markdown)"</label>
                    <textarea id="status-markdown" readonly rows="2">{card.status_markdown.clone()}</textarea>
                    {card.deploy_markdown.clone().map(|markdown| view! {
                        <label for="deploy-markdown">"Deploy button for a README (Markdown)"</label>
                        <textarea id="deploy-markdown" readonly rows="2">{markdown}</textarea>
                    })}
                </section>
            })}
        </Suspense>
    }
}

#[component]
fn History(
    history: Vec<DeployRecord>,
    latest_revision: Option<i64>,
    rollback: ServerAction<RollbackService>,
    may_deploy: bool,
    team: String,
    service: String,
    environment: String,
    /// The deploy tab, for the empty state.
    deploy_href: String,
) -> impl IntoView {
    if history.is_empty() {
        return view! { <NotDeployedYet deploy_href may_deploy /> }.into_any();
    }
    let rollback_error = move || rollback.value().get().and_then(Result::err);
    view! {
        <section class="card history" aria-labelledby="history-heading" data-testid="history-card">
        <h2 id="history-heading">"History"</h2>
        {move || rollback_error().map(|error| view! { <ErrorBanner error /> })}
        <table class="table history-table" data-testid="history">
            <thead>
                <tr>
                    <th scope="col">"Revision"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Image"</th>
                    <th scope="col">"By"</th>
                    <th scope="col">"Started"</th>
                    <th scope="col">"Took"</th>
                    <th scope="col">"Notes"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {history.into_iter().map(|record| {
                    let can_roll_back = may_deploy && record.status == DeployStatus::Succeeded && Some(record.revision) != latest_revision;
                    let (team, service, environment) = (team.clone(), service.clone(), environment.clone());
                    let revision = record.revision;
                    let notes = record.failure_reason.clone().or(record.reason.clone()).unwrap_or_default();
                    let notes = if record.warnings.is_empty() { notes } else { format!("{notes} {}", record.warnings.join(" ")) };
                    view! {
                        <tr data-revision=revision>
                            <td>{revision}</td>
                            <td class=format!("status {}", record.status.as_str())>{record.status.label()}</td>
                            <td class="image"><code>{record.image.clone()}</code></td>
                            <td>{record.requested_by.clone()}</td>
                            <td><time datetime=record.started_at.clone()>{record.started_at.clone()}</time></td>
                            <td>{record.duration_ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0)).unwrap_or_default()}</td>
                            <td>{notes}</td>
                            <td>
                                {can_roll_back.then(|| view! {
                                    <button type="button" class="secondary"
                                        on:click=move |_| { rollback.dispatch(RollbackService { team: team.clone(), service: service.clone(), environment: environment.clone(), revision }); }>
                                        {format!("Roll back to {revision}")}
                                    </button>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </section>
    }
    .into_any()
}
