//! Server-sent events with a service's live rollout state, for the hydrated service page.

use std::{convert::Infallible, time::Duration};

use app::api::ServiceRef;
use axum::{
    extract::{Path, State},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::watch;

use super::{authn::Caller, AppState};

pub async fn rollout_events(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((team, service, environment)): Path<(String, String, String)>,
) -> Response {
    let key = match ServiceRef::parse(&team, &service, &environment) {
        Ok(key) => key,
        Err(error) => return super::error::plain(error),
    };
    let permit = match state.streams.acquire(&who) {
        Ok(permit) => permit,
        Err(error) => return super::error::plain(error),
    };
    let receiver = state.commands.service().live().subscribe(&key);
    // The permit lives as long as the stream.
    let stream = events(receiver).map(move |event| {
        let _ = &permit;
        event
    });
    Sse::new(stream.take_until(state.shutdown.cancelled_owned()))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The current state first (if any), then every change.
fn events(
    receiver: watch::Receiver<Option<app::api::deploys::LiveRollout>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((receiver, true), |(mut receiver, first)| async move {
        if !first {
            receiver.changed().await.ok()?;
        }
        loop {
            let current = receiver.borrow_and_update().clone();
            if let Some(live) = current {
                let event = Event::default()
                    .json_data(&live)
                    .unwrap_or_else(|_| Event::default().comment("encoding failed"));
                return Some((Ok(event), (receiver, false)));
            }
            receiver.changed().await.ok()?;
        }
    })
}
