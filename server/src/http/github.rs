//! GitHub-linked delivery over HTTP: the signed webhook endpoint, README badges, a service's
//! GitHub page (link, badges and snippets, deliveries with "process again", the deployments
//! GitHub was told about) with plain forms, and the link in the REST API.

use app::api::{
    auth::{Permission, Principal},
    deploys::DeployStatus,
    github::GithubCard,
    AppError, ServiceRef,
};
use askama::Template;
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Form, Json,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{
    authn::{check_csrf, Caller},
    error::{ApiError, ErrorBody},
    extract::{ServicePath, ServicePathParams},
    routes::RouteTable,
    signin::{pkg_dir, render},
    AppState,
};
use crate::{
    auth::{self, audit::Target},
    github::{
        badges,
        deliveries::DeliveryView,
        links::{Link, LinkInput},
        statuses::DeploymentView,
        webhooks::{DeliveryHeaders, Received, Refused},
    },
};

/// GitHub caps webhook payloads at 25 MB; Canopy acts on push and pull_request events, whose
/// payloads stay far below this (a push lists at most 20 commits).
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

pub(super) fn routes() -> RouteTable<AppState> {
    const PAGE: &str = "/services/{team}/{service}/github";
    RouteTable::new()
        .post("/webhooks/github", webhook)
        .map_router(|router| router.layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)))
        .get("/badge/deploy.svg", deploy_badge)
        .get("/badge/{team}/{service}/{file}", status_badge)
        .get(PAGE, github_page)
        .post(&format!("{PAGE}/link"), link)
        .post(&format!("{PAGE}/unlink"), unlink)
        .post(
            &format!("{PAGE}/deliveries/{{delivery}}/again"),
            process_again,
        )
}

/// The GitHub link routes' part of the REST API's description (`http/openapi.rs`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(api_get_link, api_put_link, api_delete_link, api_deliveries))]
pub(super) struct Doc;

/// `/api/v1/services/{team}/{service}/{environment}/github`.
pub(super) fn api_routes() -> RouteTable<AppState> {
    const LINK: &str = "/services/{team}/{service}/{environment}/github";
    RouteTable::new()
        .get(LINK, api_get_link)
        .put(LINK, api_put_link)
        .delete(LINK, api_delete_link)
        .get(&format!("{LINK}/deliveries"), api_deliveries)
}

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let received = state
        .github
        .receive(
            DeliveryHeaders {
                signature: header("x-hub-signature-256"),
                event: header("x-github-event"),
                delivery: header("x-github-delivery"),
            },
            &body,
        )
        .await;
    let (status, answer) = match received {
        Ok(Received::Queued) => (StatusCode::ACCEPTED, "queued".to_owned()),
        Ok(Received::Replay) => (
            StatusCode::OK,
            "already received: this delivery changes nothing".to_owned(),
        ),
        Ok(Received::Pong) => (StatusCode::OK, "pong".to_owned()),
        Ok(Received::Ignored(why)) => (StatusCode::OK, format!("ignored: {why}")),
        Err(refused) => (
            match refused {
                Refused::NotConfigured => StatusCode::NOT_FOUND,
                Refused::MissingSignature | Refused::BadSignature => StatusCode::UNAUTHORIZED,
                Refused::BadRequest(_) => StatusCode::BAD_REQUEST,
                Refused::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            },
            refused.to_string(),
        ),
    };
    (status, Json(serde_json::json!({ "result": answer }))).into_response()
}

fn svg(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            // GitHub's image proxy caches badges; a short life keeps them current.
            (header::CACHE_CONTROL, "max-age=60, s-maxage=60"),
        ],
        body,
    )
        .into_response()
}

async fn deploy_badge() -> Response {
    svg(StatusCode::OK, badges::deploy_button())
}

async fn status_badge(
    State(state): State<AppState>,
    Path((team, service, file)): Path<(String, String, String)>,
) -> Response {
    let environment = file.strip_suffix(".svg").unwrap_or_default();
    let Ok(of) = ServiceRef::parse(&team, &service, environment) else {
        return svg(StatusCode::NOT_FOUND, badges::unknown(environment));
    };
    let last = sqlx::query!(
        r#"SELECT d.status, d.revision, d.started_at
           FROM deploys d JOIN services s ON s.id = d.service_id JOIN teams t ON t.id = s.team_id
           WHERE t.name = $1 AND s.name = $2 AND d.environment = $3
           ORDER BY d.revision DESC LIMIT 1"#,
        of.team.as_str(),
        of.service.as_str(),
        &*of.environment.as_str()
    )
    .fetch_optional(&state.pool)
    .await;
    let exists = || async {
        sqlx::query_scalar!(
            r#"SELECT 1 AS "one!" FROM services s JOIN teams t ON t.id = s.team_id
               WHERE t.name = $1 AND s.name = $2"#,
            of.team.as_str(),
            of.service.as_str()
        )
        .fetch_optional(&state.pool)
        .await
    };
    match last {
        Ok(Some(row)) => {
            let age = time::OffsetDateTime::now_utc() - row.started_at;
            let last = DeployStatus::parse(&row.status).map(|status| {
                (
                    status,
                    row.revision,
                    jiff::SignedDuration::from_secs(age.whole_seconds()),
                )
            });
            svg(
                StatusCode::OK,
                badges::status(&badges::StatusBadge {
                    environment: &of.environment.as_str(),
                    last,
                }),
            )
        }
        Ok(None) => match exists().await {
            Ok(Some(_)) => svg(
                StatusCode::OK,
                badges::status(&badges::StatusBadge {
                    environment: &of.environment.as_str(),
                    last: None,
                }),
            ),
            Ok(None) => svg(StatusCode::NOT_FOUND, badges::unknown(environment)),
            Err(error) => unavailable_badge(error),
        },
        Err(error) => unavailable_badge(error),
    }
}

fn unavailable_badge(error: sqlx::Error) -> Response {
    tracing::warn!(%error, "status badge");
    svg(
        StatusCode::SERVICE_UNAVAILABLE,
        badges::unknown("unavailable"),
    )
}

#[derive(Deserialize)]
struct EnvQuery {
    #[serde(default)]
    env: Option<String>,
}

/// The page's service from `/services/{team}/{service}/github...?env=` (default `dev`), or a
/// 404 naming what does not exist.
struct PageService(ServiceRef);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PageService {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Path(params) =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        let Query(env) = Query::<EnvQuery>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let part = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
        ServiceRef::parse(
            part("team"),
            part("service"),
            env.env.as_deref().unwrap_or("dev"),
        )
        .map(Self)
        .map_err(super::error::plain)
    }
}

#[derive(Default, Deserialize)]
struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    repo: String,
    #[serde(default)]
    branch: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    image_template: String,
    #[serde(default)]
    required_check: String,
}

impl LinkForm {
    fn input(&self) -> LinkInput {
        LinkInput {
            repo: self.repo.clone(),
            branch: self.branch.clone(),
            path: self.path.clone(),
            image_template: self.image_template.clone(),
            required_check: self.required_check.clone(),
        }
    }
}

struct LinkShown {
    repo: String,
    branch: String,
    path: String,
    image_template: String,
    required_check: Option<String>,
    linked_by: String,
    linked_at: String,
}

#[derive(Template)]
#[template(path = "github.html")]
struct GithubPage {
    pkg_dir: String,
    csrf: String,
    team: String,
    service: String,
    environment: String,
    link: Option<LinkShown>,
    form: LinkForm,
    card: GithubCard,
    deliveries: Vec<DeliveryView>,
    deployments: Vec<DeploymentView>,
    may_deploy: bool,
    notice: Option<String>,
    error: Option<String>,
}

fn shown(link: &Link) -> LinkShown {
    LinkShown {
        repo: link.repo.to_string(),
        branch: link.branch.to_string(),
        path: link.path.to_string(),
        image_template: link.image_template.as_str().to_owned(),
        required_check: link.required_check.clone(),
        linked_by: link.linked_by_name.clone(),
        linked_at: link
            .linked_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    }
}

async fn page_view(
    state: &AppState,
    session: &Session,
    who: &Principal,
    of: &ServiceRef,
    typed: Option<LinkForm>,
    outcome: Result<Option<String>, AppError>,
) -> Response {
    let github = &state.github;
    let view = async {
        who.require(&of.team, Permission::Read)?;
        let link = github.link_of(of).await?;
        let form = typed.unwrap_or_else(|| match &link {
            Some(l) => LinkForm {
                repo: l.repo.to_string(),
                branch: l.branch.to_string(),
                path: l.path.to_string(),
                image_template: l.image_template.as_str().to_owned(),
                required_check: l.required_check.clone().unwrap_or_default(),
                ..LinkForm::default()
            },
            None => LinkForm {
                branch: "main".to_owned(),
                path: "canopy.yaml".to_owned(),
                ..LinkForm::default()
            },
        });
        Ok::<_, AppError>(GithubPage {
            pkg_dir: pkg_dir(state),
            csrf: auth::session::csrf_token(session).await?,
            team: of.team.to_string(),
            service: of.service.to_string(),
            environment: of.environment.to_string(),
            link: link.as_ref().map(shown),
            form,
            card: github.card_for(of, link.as_ref()),
            deliveries: github.deliveries(of, 50).await?,
            deployments: github.deployments(of, 20).await?,
            may_deploy: who.may(&of.team, Permission::Deploy),
            notice: None,
            error: None,
        })
    };
    match view.await {
        Ok(mut page) => {
            let status = match outcome {
                Ok(notice) => {
                    page.notice = notice;
                    StatusCode::OK
                }
                Err(error) => {
                    page.error = Some(error.to_string());
                    super::error::status_of(&error)
                }
            };
            render(status, page)
        }
        Err(error) => super::error::plain(error),
    }
}

async fn github_page(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    PageService(of): PageService,
) -> Response {
    page_view(&state, &session, &who, &of, None, Ok(None)).await
}

/// Runs a form's action (CSRF checked, the audit log told) and shows the page again.
async fn after_form(
    state: &AppState,
    session: &Session,
    who: &Principal,
    of: &ServiceRef,
    action: &str,
    typed: Option<LinkForm>,
    result: Result<String, AppError>,
) -> Response {
    state
        .identity
        .audit
        .record_result(who, action, Target::Service(of), &result, String::clone)
        .await;
    let keep = if result.is_err() { typed } else { None };
    page_view(state, session, who, of, keep, result.map(Some)).await
}

async fn link(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    PageService(of): PageService,
    Form(form): Form<LinkForm>,
) -> Response {
    let result = async {
        check_csrf(&session, &form.csrf).await?;
        let link = state.github.link(&who, &of, &form.input()).await?;
        Ok::<_, AppError>(format!(
            "Linked to {} ({}): a push to {} now deploys {}.",
            link.repo,
            link.path,
            link.branch,
            link.image_template.as_str()
        ))
    }
    .await;
    after_form(
        &state,
        &session,
        &who,
        &of,
        "link GitHub repository",
        Some(form),
        result,
    )
    .await
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn unlink(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    PageService(of): PageService,
    Form(form): Form<CsrfForm>,
) -> Response {
    let result = async {
        check_csrf(&session, &form.csrf).await?;
        state.github.unlink(&who, &of).await?;
        Ok::<_, AppError>("Unlinked: pushes no longer deploy this service.".to_owned())
    }
    .await;
    after_form(
        &state,
        &session,
        &who,
        &of,
        "unlink GitHub repository",
        None,
        result,
    )
    .await
}

async fn process_again(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    PageService(of): PageService,
    Path((_, _, delivery)): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let result = async {
        check_csrf(&session, &form.csrf).await?;
        state.github.process_again(&who, &of, &delivery).await?;
        Ok::<_, AppError>(format!(
            "Delivery {delivery} is queued to be processed again."
        ))
    }
    .await;
    after_form(
        &state,
        &session,
        &who,
        &of,
        "process GitHub delivery again",
        None,
        result,
    )
    .await
}

/// A link as the REST API shows it.
#[derive(Serialize, utoipa::ToSchema)]
struct LinkJson {
    repo: String,
    branch: String,
    path: String,
    image_template: String,
    required_check: Option<String>,
    installation_id: u64,
    linked_by: String,
}

impl From<&Link> for LinkJson {
    fn from(link: &Link) -> Self {
        Self {
            repo: link.repo.to_string(),
            branch: link.branch.to_string(),
            path: link.path.to_string(),
            image_template: link.image_template.as_str().to_owned(),
            required_check: link.required_check.clone(),
            installation_id: link.installation_id,
            linked_by: link.linked_by_name.clone(),
        }
    }
}

/// The service's link to a GitHub repository.
#[utoipa::path(
    get,
    path = "/api/v1/services/{team}/{service}/{environment}/github",
    tag = "github",
    params(ServicePathParams),
    responses(
        (status = 200, description = "The link", body = LinkJson),
        (status = 403, description = "The caller is not a member of the team", body = ErrorBody),
        (status = 404, description = "The service has no link there", body = ErrorBody),
    )
)]
async fn api_get_link(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(of): ServicePath,
) -> Result<Json<LinkJson>, ApiError> {
    who.require(&of.team, Permission::Read)?;
    let link = state.github.link_of(&of).await.map_err(AppError::from)?;
    link.as_ref()
        .map(|l| Json(LinkJson::from(l)))
        .ok_or_else(|| {
            ApiError::App(AppError::NotFound {
                what: format!(
                    "a GitHub link for {} in {}",
                    of.service,
                    &*of.environment.as_str()
                ),
            })
        })
}

/// Links the service to a repository and branch: pushes to it deploy the image the template
/// names (after the required check, when one is given).
#[utoipa::path(
    put,
    path = "/api/v1/services/{team}/{service}/{environment}/github",
    tag = "github",
    params(ServicePathParams),
    request_body = LinkInput,
    responses(
        (status = 200, description = "The link now", body = LinkJson),
        (status = 403, description = "The caller may not deploy in this team", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "The repository is linked elsewhere", body = ErrorBody),
        (status = 422, description = "A refused field (repo, branch, path, image template, check) or body", body = ErrorBody),
        (status = 502, description = "GitHub failed or could not be reached", body = ErrorBody),
    )
)]
async fn api_put_link(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(of): ServicePath,
    input: Result<Json<LinkInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<LinkJson>, ApiError> {
    let Json(input) = input?;
    let outcome = state
        .github
        .link(&who, &of, &input)
        .await
        .map_err(AppError::from);
    state
        .identity
        .audit
        .record_result(
            &who,
            "link GitHub repository",
            Target::Service(&of),
            &outcome,
            |link| format!("linked {}@{}", link.repo, link.branch),
        )
        .await;
    Ok(Json(LinkJson::from(&outcome?)))
}

/// Removes the service's link.
#[utoipa::path(
    delete,
    path = "/api/v1/services/{team}/{service}/{environment}/github",
    tag = "github",
    params(ServicePathParams),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 403, description = "The caller may not deploy in this team", body = ErrorBody),
        (status = 404, description = "The service has no link there", body = ErrorBody),
    )
)]
async fn api_delete_link(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(of): ServicePath,
) -> Result<StatusCode, ApiError> {
    let outcome = state.github.unlink(&who, &of).await.map_err(AppError::from);
    state
        .identity
        .audit
        .record_result(
            &who,
            "unlink GitHub repository",
            Target::Service(&of),
            &outcome,
            |()| "unlinked".to_owned(),
        )
        .await;
    outcome?;
    Ok(StatusCode::NO_CONTENT)
}

/// The webhook deliveries Canopy received for the service's link, and what it did with each.
#[utoipa::path(
    get,
    path = "/api/v1/services/{team}/{service}/{environment}/github/deliveries",
    tag = "github",
    params(ServicePathParams),
    responses(
        (status = 200, description = "The newest 100, newest first", body = Vec<DeliveryView>),
        (status = 403, description = "The caller is not a member of the team", body = ErrorBody),
    )
)]
async fn api_deliveries(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(of): ServicePath,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    who.require(&of.team, Permission::Read)?;
    Ok(Json(
        state
            .github
            .deliveries(&of, 100)
            .await
            .map_err(AppError::from)?,
    ))
}
