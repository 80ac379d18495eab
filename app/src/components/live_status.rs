//! The live rollout panel: rendered on the server from the last known state, then kept
//! current in the browser by a server-sent event stream (no manual refresh).

use leptos::prelude::*;

use crate::api::deploys::{DeployStatus, LiveRollout};

/// `finished` is bumped when a rollout followed live ends, so the page can reload its history.
#[component]
pub fn LiveStatus(
    initial: Option<LiveRollout>,
    url: String,
    finished: RwSignal<u32>,
) -> impl IntoView {
    let initially_finished = initial
        .as_ref()
        .map(|live| (live.revision, live.status.in_progress()));
    let (state, set_state) = signal(initial);
    subscribe(url, set_state);
    Effect::new(move |_| {
        if let Some(live) = state.get() {
            let now = (live.revision, live.status.in_progress());
            if !live.status.in_progress() && Some(now) != initially_finished {
                finished.update(|n| *n += 1);
            }
        }
    });
    view! {
        <section class="card live" aria-label="Status" aria-live="polite" data-testid="live-status">
            {move || match state.get() {
                None => view! { <p class="muted">"Not deployed yet."</p> }.into_any(),
                Some(live) => {
                    let class = format!("badge {}", live.status.as_str());
                    let counts = (live.desired > 0 || live.status == DeployStatus::RollingOut)
                        .then(|| format!("{} desired · {} updated · {} ready · {} available", live.desired, live.updated, live.ready, live.available));
                    view! {
                        <div class="live-head">
                            <span class=class data-testid="live-badge">{live.status.label()}</span>
                            <span class="muted">{format!("revision {}", live.revision)}</span>
                        </div>
                        <p data-testid="live-message">{live.message.clone()}</p>
                        {counts.map(|c| view! { <p class="muted small">{c}</p> })}
                        {live.problem.map(|problem| view! {
                            <div class="problem" role="alert">
                                <strong>{problem.title}</strong>
                                <p>{problem.detail}</p>
                                <p class="hint">{problem.hint}</p>
                            </div>
                        })}
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

#[cfg(feature = "hydrate")]
fn subscribe(url: String, set_state: WriteSignal<Option<LiveRollout>>) {
    use wasm_bindgen::{closure::Closure, JsCast};

    Effect::new(move |_| {
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let Some(text) = event.data().as_string() {
                    if let Ok(live) = serde_json::from_str::<LiveRollout>(&text) {
                        set_state.set(Some(live));
                    }
                }
            },
        );
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let source = send_wrapper::SendWrapper::new(source);
        on_cleanup(move || source.close());
    });
}

#[cfg(not(feature = "hydrate"))]
fn subscribe(_url: String, _set_state: WriteSignal<Option<LiveRollout>>) {}
