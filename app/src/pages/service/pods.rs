//! The service page's pods: the table (status in plain language), the events, and a log viewer
//! for one pod (chosen with the `pod`, `container` and `previous` query parameters, so it works
//! without JavaScript), with a live follow (server-sent events) once the page is hydrated.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    api::pods::{get_pod_log, get_service_pods, EventInfo, LogView, PodInfo, PodLog},
    components::error_banner::LoadError,
};

/// Lines kept in the viewer while following (the oldest go first).
const MAX_FOLLOWED_LINES: usize = 2000;

/// Which service the section is about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    team: String,
    service: String,
    environment: String,
}

impl Target {
    /// This page with the log viewer on `pod` (and `container`, `previous`).
    fn page_href(&self, pod: &str, container: Option<&str>, previous: bool) -> String {
        let mut href = format!(
            "/services/{}/{}/pods?env={}&pod={pod}",
            self.team, self.service, self.environment
        );
        if let Some(container) = container {
            href.push_str(&format!("&container={container}"));
        }
        if previous {
            href.push_str("&previous=true");
        }
        href.push_str("#logs");
        href
    }

    fn logs_base(&self, pod: &str) -> String {
        format!(
            "/ui/logs/{}/{}/{}/{pod}",
            self.team, self.service, self.environment
        )
    }
}

#[component]
pub(super) fn PodsSection(
    team: String,
    service: String,
    environment: String,
    /// Logs are for the team's deployers; others see pods and events only.
    may_read_logs: bool,
) -> impl IntoView {
    let target = Target {
        team,
        service,
        environment,
    };
    let query = use_query_map();
    let selected_pod = move || query.read().get("pod").unwrap_or_default();
    let selected_container = move || query.read().get("container").filter(|c| !c.is_empty());
    let previous = move || query.read().get("previous").as_deref() == Some("true");

    let pods = {
        let target = target.clone();
        Resource::new(
            move || target.clone(),
            |t| get_service_pods(t.team, t.service, t.environment),
        )
    };
    let log = {
        let target = target.clone();
        Resource::new(
            move || {
                (
                    target.clone(),
                    selected_pod(),
                    selected_container(),
                    previous(),
                )
            },
            move |(t, pod, container, previous)| async move {
                if !may_read_logs {
                    // Not asked for at all: the server would refuse it.
                    return Ok(LogView {
                        pod,
                        previous,
                        log: None,
                        unavailable: None,
                    });
                }
                get_pod_log(
                    t.team,
                    t.service,
                    t.environment,
                    pod,
                    container,
                    previous,
                    None,
                )
                .await
            },
        )
    };
    let for_table = target.clone();
    // Pods change during a rollout; the section is rebuilt when one ends, and can be refreshed
    // by hand in between (with JavaScript; without, reloading the page does the same).
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        {move || hydrated.get().then(|| view! {
            <div class="pods-toolbar">
                <button type="button" class="secondary" data-testid="refresh-pods"
                    on:click=move |_| { pods.refetch(); log.refetch(); }>
                    "Refresh pods, events and log"
                </button>
            </div>
        })}
        <Suspense fallback=|| view! { <p class="muted">"Loading pods…"</p> }>
            {move || {
                let target = for_table.clone();
                pods.get().map(move |result| match result {
                    Ok(found) if !found.cluster => ().into_any(),
                    Ok(found) => view! {
                        <PodsTable pods=found.pods target=target.clone() />
                        <EventsList events=found.events />
                    }
                    .into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                })
            }}
        </Suspense>
        {(!may_read_logs).then(|| view! {
            <p class="muted" data-testid="logs-hidden">"Logs are shown to the team's deployers."</p>
        })}
        <section class="card logs" id="logs" aria-label="Logs" data-testid="logs" hidden=!may_read_logs>
            <Suspense fallback=|| view! { <p class="muted">"Loading the log…"</p> }>
                {move || {
                    let target = target.clone();
                    log.get().map(move |result| match result {
                        Ok(LogView { log: Some(log), .. }) => view! { <LogViewer log target /> }.into_any(),
                        Ok(LogView { pod, previous, unavailable, .. }) => {
                            let back = (previous && !pod.is_empty())
                                .then(|| target.page_href(&pod, None, false));
                            view! {
                                <h2>{if pod.is_empty() { "Logs".to_owned() } else { format!("Logs: {pod}") }}</h2>
                                <p class="muted" data-testid="log-unavailable">{unavailable.unwrap_or_default()}</p>
                                {back.map(|href| view! { <a href=href data-testid="previous-toggle">"Current container"</a> })}
                            }
                            .into_any()
                        }
                        Err(error) => view! { <h2>"Logs"</h2> <LoadError error /> }.into_any(),
                })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn PodsTable(pods: Vec<PodInfo>, target: Target) -> impl IntoView {
    if pods.is_empty() {
        return view! {
            <section class="card" aria-label="Pods" data-testid="pods">
                <h2>"Pods"</h2>
                <p class="muted">"No pods are running in this environment."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="card" aria-label="Pods" data-testid="pods">
            <h2>"Pods"</h2>
            <table class="table pods">
                <thead>
                    <tr>
                        <th scope="col">"Pod"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Ready"</th>
                        <th scope="col">"Restarts"</th>
                        <th scope="col">"Age"</th>
                        <th scope="col">"Node"</th>
                        <th scope="col">"Revision"</th>
                        <th scope="col"><span class="visually-hidden">"Logs"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {pods
                        .into_iter()
                        .map(|pod| {
                            let class = if pod.healthy() { "pod-status ok" } else { "pod-status bad" };
                            let logs_href = target.page_href(&pod.name, None, false);
                            let ready = pod.ready_text();
                            view! {
                                <tr data-pod=pod.name.clone()>
                                    <td><code>{pod.name.clone()}</code></td>
                                    <td>
                                        <span class=class>{pod.status.clone()}</span>
                                        {pod.problem.map(|problem| view! {
                                            <details class="problem">
                                                <summary>{problem.title}</summary>
                                                <p class="problem-detail">{problem.detail}</p>
                                                <p class="hint">{problem.hint}</p>
                                            </details>
                                        })}
                                    </td>
                                    <td>{ready}</td>
                                    <td>{pod.restarts}</td>
                                    <td><time datetime=pod.created_at.clone().unwrap_or_default()>{pod.age.clone()}</time></td>
                                    <td>{pod.node.clone().unwrap_or_else(|| "none yet".to_owned())}</td>
                                    <td>{pod.revision.map(|r| r.to_string()).unwrap_or_default()}</td>
                                    <td><a href=logs_href>"Logs"</a></td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

#[component]
fn EventsList(events: Vec<EventInfo>) -> impl IntoView {
    view! {
        <section class="card" aria-label="Events" data-testid="events">
            <h2>"Events"</h2>
            {if events.is_empty() {
                view! { <p class="muted">"No recent events."</p> }.into_any()
            } else {
                view! {
                    // Scrollable: focusable so the keyboard can scroll it (axe: scrollable-region-focusable).
                    <ul class="events" tabindex="0" aria-label="Recent events, newest first">
                        {events
                            .into_iter()
                            .map(|event| {
                                let class = if event.is_warning() { "event warning" } else { "event" };
                                let count = (event.count > 1).then(|| format!(" (×{})", event.count));
                                view! {
                                    <li class=class data-reason=event.reason.clone()>
                                        <span class="event-kind">{event.kind.clone()}</span>
                                        " "
                                        <strong>{event.reason.clone()}</strong>
                                        " "
                                        <span class="muted">{event.object.clone()}</span>
                                        " "
                                        <time class="muted" datetime=event.last_seen.clone().unwrap_or_default()>
                                            {format!("{} ago", event.ago)}
                                        </time>
                                        {count}
                                        <p class="event-message">{event.message.clone()}</p>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any()
            }}
        </section>
    }
}

#[component]
fn LogViewer(log: PodLog, target: Target) -> impl IntoView {
    let lines = RwSignal::new(log.lines.clone());
    let following = RwSignal::new(false);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let follow_url = format!(
        "{}/follow?container={}",
        target.logs_base(&log.pod),
        log.container
    );
    follow(follow_url, following, lines);

    let previous = log.previous;
    let download = format!(
        "{}/download?container={}{}",
        target.logs_base(&log.pod),
        log.container,
        if previous { "&previous=true" } else { "" }
    );
    let toggle_previous = target.page_href(&log.pod, Some(&log.container), !previous);
    let containers = (log.containers.len() > 1).then(|| {
        log.containers
            .iter()
            .map(|c| {
                let href = target.page_href(&log.pod, Some(c), false);
                let current = (*c == log.container).then_some("page");
                view! { <a href=href aria-current=current>{c.clone()}</a> " " }
            })
            .collect_view()
    });
    let title = format!(
        "Logs: {} / {}{}",
        log.pod,
        log.container,
        if previous { " (previous instance)" } else { "" }
    );
    view! {
        <h2>{title}</h2>
        {containers.map(|links| view! { <p class="small">"Containers: " {links}</p> })}
        <div class="log-controls">
            <button type="button" class="secondary" data-testid="follow"
                aria-pressed=move || if following.get() { "true" } else { "false" }
                disabled=move || !hydrated.get() || previous
                on:click=move |_| following.update(|on| *on = !*on)>
                {move || if following.get() { "Stop following" } else { "Follow live" }}
            </button>
            <a href=toggle_previous data-testid="previous-toggle">
                {if previous { "Current container" } else { "Previous container" }}
            </a>
            {(!previous && !log.has_previous).then(|| view! {
                <span class="muted small">"(no restart yet, so no previous container)"</span>
            })}
            <a href=download download="" data-testid="download">"Download"</a>
        </div>
        <div class="log-scroll">
            <pre class="log" data-testid="log-lines">
                {move || {
                    let lines = lines.get();
                    if lines.is_empty() { "(the log is empty)".to_owned() } else { lines.join("\n") }
                }}
            </pre>
        </div>
        {move || following.get().then(|| view! {
            <p class="muted small" role="status">"Following: new lines appear as the container writes them."</p>
        })}
    }
}

/// While `following`, streams the log from `url` (server-sent events, one JSON string per line)
/// into `lines`: each (re)connection starts over with the last lines.
#[cfg(feature = "hydrate")]
fn follow(url: String, following: RwSignal<bool>, lines: RwSignal<Vec<String>>) {
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};

    Effect::new(move |_| {
        if !following.get() {
            return;
        }
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
            lines.set(Vec::new());
        });
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let Some(line) = event
                    .data()
                    .as_string()
                    .and_then(|text| serde_json::from_str::<String>(&text).ok())
                {
                    lines.update(|lines| {
                        lines.push(line);
                        let excess = lines.len().saturating_sub(MAX_FOLLOWED_LINES);
                        lines.drain(..excess);
                    });
                }
            },
        );
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_open.forget();
        on_message.forget();
        let source = send_wrapper::SendWrapper::new(source);
        on_cleanup(move || source.close());
    });
}

#[cfg(not(feature = "hydrate"))]
fn follow(_url: String, _following: RwSignal<bool>, _lines: RwSignal<Vec<String>>) {
    let _ = MAX_FOLLOWED_LINES;
}
