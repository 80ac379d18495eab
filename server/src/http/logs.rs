//! Container logs for the service page (under `/ui/`, like the live rollout stream, so no API
//! token): a live follow pushed as server-sent events, and a download as a text attachment.
//! The same checks as everywhere: the pod must be one of the service's.

use std::{convert::Infallible, time::Duration};

use app::api::{auth::Principal, pods::parse_tail, AppError, ServiceRef};
use axum::{
    body::{Body, Bytes},
    extract::{Path, Query, State},
    http::{header, HeaderValue},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use futures::{Stream, StreamExt};
use serde::Deserialize;

use super::{authn::Caller, error, AppState};
use crate::deploy::logs::LogSource;

/// The query of the follow and download routes.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub tail: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
}

/// `true`/`1`/`on` or `false`/`0`/`off` (absent: false); anything else names the parameter.
pub fn parse_flag(name: &str, raw: Option<&str>) -> Result<bool, AppError> {
    match raw.map(str::trim) {
        None | Some("") | Some("false") | Some("0") | Some("off") => Ok(false),
        Some("true") | Some("1") | Some("on") => Ok(true),
        Some(other) => Err(AppError::InvalidSpec {
            errors: vec![app::api::spec::SpecError {
                field: name.to_owned(),
                message: format!("{other:?} is not true or false"),
            }],
        }),
    }
}

async fn source(
    state: &AppState,
    who: &Principal,
    (team, service, environment, pod): &(String, String, String, String),
    container: Option<&str>,
) -> Result<LogSource, AppError> {
    let service = ServiceRef::parse(team, service, environment)?;
    state
        .commands
        .log_source(who, &service, pod, container.filter(|c| !c.is_empty()))
        .await
}

/// `GET /ui/logs/{team}/{service}/{env}/{pod}/follow?container=&tail=`: the last lines, then
/// each new one, one event per line (JSON string). Ends when the container instance does.
pub async fn follow_events(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(path): Path<(String, String, String, String)>,
    Query(query): Query<LogQuery>,
) -> Response {
    let stream = async {
        let permit = state.streams.acquire(&who)?;
        let tail = parse_tail(query.tail.as_deref())?;
        let source = source(&state, &who, &path, query.container.as_deref()).await?;
        Ok::<_, AppError>((permit, source.follow(state.commands.client()?, tail).await?))
    };
    match stream.await {
        Ok((permit, lines)) => Sse::new(
            line_events(lines)
                .map(move |event| {
                    let _ = &permit;
                    event
                })
                .take_until(state.shutdown.cancelled_owned()),
        )
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response(),
        Err(error) => error::plain(error),
    }
}

fn line_events(
    lines: impl Stream<Item = Result<String, std::io::Error>> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    lines
        .take_while(|line| {
            if let Err(error) = line {
                tracing::debug!(%error, "log follow ended");
            }
            std::future::ready(line.is_ok())
        })
        .filter_map(|line| async move {
            let line = line.ok()?;
            Some(Ok(Event::default().json_data(&line).unwrap_or_else(|_| {
                Event::default().comment("encoding failed")
            })))
        })
}

/// `GET /ui/logs/{team}/{service}/{env}/{pod}/download?container=&previous=`: the whole log
/// as a `.log` attachment.
pub async fn download(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(path): Path<(String, String, String, String)>,
    Query(query): Query<LogQuery>,
) -> Response {
    let text = async {
        let previous = parse_flag("previous", query.previous.as_deref())?;
        let source = source(&state, &who, &path, query.container.as_deref()).await?;
        let text = source.whole(state.commands.client()?, previous).await?;
        Ok::<_, AppError>((source, previous, text))
    };
    match text.await {
        Ok((source, previous, text)) => attachment(&source, previous, text),
        Err(error) => error::plain(error),
    }
}

/// A log as a `text/plain` attachment named `<pod>-<container>[-previous].log`.
pub fn attachment(source: &LogSource, previous: bool, text: String) -> Response {
    // Pod and container names are DNS labels, safe in a quoted file name.
    let name = format!(
        "{}-{}{}.log",
        source.pod,
        source.container,
        if previous { "-previous" } else { "" }
    );
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response()
}

/// A follow as streamed plain text (REST API): each line as it comes, never buffered by the
/// compression layer (it leaves responses that already name an encoding alone).
pub fn text_stream(
    lines: impl Stream<Item = Result<String, std::io::Error>> + Send + 'static,
) -> Response {
    let body = lines
        .take_while(|line| std::future::ready(line.is_ok()))
        .filter_map(|line| async move {
            line.ok()
                .map(|l| Ok::<_, Infallible>(Bytes::from(l + "\n")))
        });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CONTENT_ENCODING,
                HeaderValue::from_static("identity"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn flags_are_true_or_false_and_name_the_parameter() {
        assert_eq!(parse_flag("previous", None), Ok(false));
        assert_eq!(parse_flag("previous", Some("true")), Ok(true));
        assert_eq!(parse_flag("previous", Some("0")), Ok(false));
        match parse_flag("follow", Some("yes please")) {
            Err(AppError::InvalidSpec { errors }) => {
                assert_eq!(errors[0].field, "follow");
                assert!(errors[0].message.contains("not true or false"));
            }
            other => panic!("{other:?}"),
        }
    }
}
