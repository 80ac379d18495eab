//! The weekly e-mail in the portal: a team's e-mail page (preview, "send me a test", the
//! schedule, "send this week's e-mail now", the send history), the preview and its chart, the
//! one-click unsubscribe link (RFC 8058) and the outbox page for organisation admins.
//! Server-rendered, with plain forms that carry the session's anti-forgery token.

use app::api::{
    auth::{Permission, Principal},
    AppError, TeamName,
};
use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
    Form,
};
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;

use super::{
    authn::{check_csrf, Caller},
    routes::RouteTable,
    signin::{pkg_dir, render},
    AppState,
};
use crate::{
    auth::{self, audit::Target},
    reports::{
        outbox::HistoryRow,
        preferences::OptOutVia,
        render::EmailView,
        unsubscribe::TokenRefused,
        week::{Schedule, WEEKDAYS},
        ReportError,
    },
};

pub(super) fn routes() -> RouteTable<AppState> {
    const PAGE: &str = "/teams/{team}/weekly-email";
    RouteTable::new()
        .get(PAGE, email_page)
        .get(&format!("{PAGE}/preview"), preview)
        .get(&format!("{PAGE}/chart.png"), chart)
        .post(&format!("{PAGE}/schedule"), set_schedule)
        .post(&format!("{PAGE}/send"), send_week)
        .post(&format!("{PAGE}/test"), send_test)
        .post(&format!("{PAGE}/subscription"), set_subscription)
        .get("/unsubscribe", unsubscribe_page)
        .post("/unsubscribe", unsubscribe_now)
        .get("/admin/outbox", outbox_page)
}

fn team_of(raw: &str) -> Result<TeamName, AppError> {
    TeamName::parse(raw).map_err(|_| AppError::NotFound {
        what: format!("team {raw}"),
    })
}

/// `/teams/{team}/...` as a [`TeamName`], or a page-style 404 naming it.
struct TeamPage(TeamName);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TeamPage {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        team_of(&raw).map(Self).map_err(super::error::plain)
    }
}

/// Only the team's own members get its e-mail (and may test it or opt out).
fn require_member(who: &Principal, team: &TeamName) -> Result<(), AppError> {
    if who.token_scope.is_none() && who.teams.contains_key(team) {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            message: format!(
                "{} is not a member of {team}: only its members get its e-mail",
                who.username
            ),
        })
    }
}

#[derive(Template)]
#[template(path = "weekly_email.html")]
struct EmailPage {
    pkg_dir: String,
    csrf: String,
    team: String,
    schedule_label: String,
    week_label: String,
    delivery: String,
    member: bool,
    subscribed: bool,
    admin: bool,
    weekdays: Vec<(i8, &'static str)>,
    weekday: i8,
    hour: i8,
    time_zone: String,
    history: Vec<HistoryRow>,
    notice: Option<String>,
    error: Option<String>,
}

struct Outcome {
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
}

impl Outcome {
    fn ok() -> Self {
        Self {
            status: StatusCode::OK,
            notice: None,
            error: None,
        }
    }
}

async fn page_view(
    state: &AppState,
    session: &Session,
    who: &Principal,
    team: &TeamName,
    outcome: Outcome,
) -> Response {
    let reports = &state.reports;
    let view = async {
        who.require(team, Permission::Read)?;
        let schedule = reports.preferences.schedule(team.as_str()).await?;
        let week = reports
            .current_week(team.as_str(), OffsetDateTime::now_utc())
            .await?;
        let member = require_member(who, team).is_ok();
        let admin = who.may(team, Permission::Admin);
        Ok::<_, AppError>(EmailPage {
            pkg_dir: pkg_dir(state),
            csrf: auth::session::csrf_token(session).await?,
            team: team.to_string(),
            schedule_label: format!(
                "{} at {:02}:00 ({})",
                schedule.weekday_name(),
                schedule.hour,
                schedule.zone.name()
            ),
            week_label: format!("the week of Monday {} ({})", week.monday, week.zone.name()),
            delivery: reports.delivery.describe(),
            member,
            subscribed: member
                && !reports
                    .preferences
                    .opted_out(who.user_id, team.as_str())
                    .await?,
            admin,
            weekdays: (1..=7).zip(WEEKDAYS).collect(),
            weekday: schedule.weekday,
            hour: schedule.hour,
            time_zone: schedule.zone.name().to_owned(),
            history: if admin {
                reports.outbox.history(Some(team.as_str()), 100).await?
            } else {
                Vec::new()
            },
            notice: outcome.notice,
            error: outcome.error,
        })
    };
    match view.await {
        Ok(page) => render(outcome.status, page),
        Err(error) => super::error::plain(error),
    }
}

async fn email_page(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    TeamPage(team): TeamPage,
) -> Response {
    page_view(&state, &session, &who, &team, Outcome::ok()).await
}

/// After a form: the page again, with what happened (and the audit log told).
async fn after_form(
    state: &AppState,
    session: &Session,
    who: &Principal,
    team: &TeamName,
    action: &str,
    result: Result<String, AppError>,
) -> Response {
    state
        .identity
        .audit
        .record_result(who, action, Target::Team(team), &result, String::clone)
        .await;
    let outcome = match result {
        Ok(notice) => Outcome {
            status: StatusCode::OK,
            notice: Some(notice),
            error: None,
        },
        Err(error) => Outcome {
            status: super::error::status_of(&error),
            notice: None,
            error: Some(error.to_string()),
        },
    };
    page_view(state, session, who, team, outcome).await
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    weekday: String,
    #[serde(default)]
    hour: String,
    #[serde(default)]
    time_zone: String,
}

async fn set_schedule(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    TeamPage(team): TeamPage,
    Form(form): Form<ScheduleForm>,
) -> Response {
    let result = async {
        who.require(&team, Permission::Admin)?;
        check_csrf(&session, &form.csrf).await?;
        let schedule = Schedule::parse(&form.weekday, &form.hour, &form.time_zone)?;
        state
            .reports
            .preferences
            .set_schedule(team.as_str(), &schedule, &who.actor())
            .await?;
        Ok(format!(
            "Saved: the e-mail goes out every {} at {:02}:00 ({}).",
            schedule.weekday_name(),
            schedule.hour,
            schedule.zone.name()
        ))
    }
    .await;
    after_form(
        &state,
        &session,
        &who,
        &team,
        "set weekly e-mail schedule",
        result,
    )
    .await
}

async fn send_week(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    TeamPage(team): TeamPage,
    Form(form): Form<CsrfForm>,
) -> Response {
    let result = async {
        who.require(&team, Permission::Admin)?;
        check_csrf(&session, &form.csrf).await?;
        let week = state
            .reports
            .current_week(team.as_str(), OffsetDateTime::now_utc())
            .await?;
        let (monday, queued) = state.reports.send_week(team.as_str(), &week).await?;
        Ok::<_, AppError>(match queued {
            0 => format!("Everyone who gets the e-mail already has the week of {monday}; nothing was queued."),
            n => format!("Queued the week of {monday} for {n} member{}.", if n == 1 { "" } else { "s" }),
        })
    }
    .await;
    after_form(&state, &session, &who, &team, "send weekly e-mail", result).await
}

async fn send_test(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    TeamPage(team): TeamPage,
    Form(form): Form<CsrfForm>,
) -> Response {
    let result = async {
        require_member(&who, &team)?;
        check_csrf(&session, &form.csrf).await?;
        let to = state
            .reports
            .send_test(team.as_str(), who.user_id, OffsetDateTime::now_utc())
            .await?;
        Ok::<_, AppError>(format!("A test message is on its way to {to}."))
    }
    .await;
    after_form(
        &state,
        &session,
        &who,
        &team,
        "send weekly e-mail test",
        result,
    )
    .await
}

#[derive(Deserialize)]
struct SubscriptionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subscribed: String,
}

async fn set_subscription(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    TeamPage(team): TeamPage,
    Form(form): Form<SubscriptionForm>,
) -> Response {
    let result = async {
        require_member(&who, &team)?;
        check_csrf(&session, &form.csrf).await?;
        let preferences = &state.reports.preferences;
        match form.subscribed.as_str() {
            "true" => {
                preferences.opt_in(who.user_id, team.as_str()).await?;
                Ok(format!("You will get {team}'s weekly e-mail."))
            }
            "false" => {
                preferences
                    .opt_out(who.user_id, team.as_str(), OptOutVia::Portal)
                    .await?;
                Ok(format!("You will not get {team}'s weekly e-mail any more."))
            }
            _ => Err(AppError::from(ReportError::Invalid {
                field: "subscribed",
                message: "use true or false".to_owned(),
            })),
        }
    }
    .await;
    after_form(
        &state,
        &session,
        &who,
        &team,
        "weekly e-mail subscription",
        result,
    )
    .await
}

/// The team's current week as the e-mail would show it, for anyone who may read the team.
async fn current_report(
    state: &AppState,
    who: &Principal,
    team: &TeamName,
) -> Result<crate::reports::content::WeeklyReport, AppError> {
    who.require(team, Permission::Read)?;
    Ok(state
        .reports
        .preview(team.as_str(), OffsetDateTime::now_utc())
        .await?)
}

/// The e-mail's HTML as the message has it, with the chart from the portal. Its inline styles
/// need a policy of their own (the pages' forbids them); nothing else is allowed.
async fn preview(
    State(state): State<AppState>,
    Caller(who): Caller,
    TeamPage(team): TeamPage,
) -> Response {
    let result = async {
        let report = current_report(&state, &who, &team).await?;
        let view = EmailView::new(
            &report,
            &state.reports.base_url,
            format!("/teams/{team}/weekly-email/chart.png"),
            None,
        );
        Ok::<_, AppError>(view.html()?)
    }
    .await;
    match result {
        Ok(html) => (
            [(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
                ),
            )],
            Html(html),
        )
            .into_response(),
        Err(error) => super::error::plain(error),
    }
}

async fn chart(
    State(state): State<AppState>,
    Caller(who): Caller,
    TeamPage(team): TeamPage,
) -> Response {
    let result = async {
        let report = current_report(&state, &who, &team).await?;
        Ok::<_, AppError>(crate::reports::chart::week_png(&report)?)
    }
    .await;
    match result {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(error) => super::error::plain(error),
    }
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    pkg_dir: String,
    heading: String,
    message: String,
    token: Option<String>,
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    t: String,
}

const LINK_REFUSED: &str = "This unsubscribe link is not valid (it expired or was altered). \
    Sign in to Canopy and change the e-mail settings on the team's weekly e-mail page.";

/// The link opened in a browser: a confirmation button (GET never changes anything).
async fn unsubscribe_page(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Response {
    let page = match state
        .reports
        .signer
        .verify(&query.t, OffsetDateTime::now_utc())
    {
        Ok(unsubscribe) => UnsubscribePage {
            pkg_dir: pkg_dir(&state),
            heading: format!("Unsubscribe from {}'s weekly e-mail?", unsubscribe.team),
            message: "You will stop getting this team's weekly energy e-mail. You can turn it \
                      back on from the team's e-mail page in Canopy."
                .to_owned(),
            token: Some(query.t),
        },
        Err(_) => UnsubscribePage {
            pkg_dir: pkg_dir(&state),
            heading: "This link does not work".to_owned(),
            message: LINK_REFUSED.to_owned(),
            token: None,
        },
    };
    render(StatusCode::OK, page)
}

/// One-click unsubscribe (RFC 8058): a POST with `List-Unsubscribe=One-Click`, no cookies, no
/// confirmation; the signed token is the authority.
async fn unsubscribe_now(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Response {
    match state
        .reports
        .signer
        .verify(&query.t, OffsetDateTime::now_utc())
    {
        Ok(unsubscribe) => {
            match state
                .reports
                .preferences
                .opt_out(unsubscribe.user_id, &unsubscribe.team, OptOutVia::OneClick)
                .await
            {
                Ok(()) => render(
                    StatusCode::OK,
                    UnsubscribePage {
                        pkg_dir: pkg_dir(&state),
                        heading: "Unsubscribed".to_owned(),
                        message: format!(
                            "You will not get {}'s weekly e-mail any more.",
                            unsubscribe.team
                        ),
                        token: None,
                    },
                ),
                Err(error) => super::error::plain(error.into()),
            }
        }
        Err(why) => {
            tracing::info!(?why, "unsubscribe link refused");
            let status = match why {
                TokenRefused::Expired => StatusCode::GONE,
                TokenRefused::Malformed | TokenRefused::BadSignature => StatusCode::FORBIDDEN,
            };
            (status, LINK_REFUSED).into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    pkg_dir: String,
    delivery: String,
    directory: Option<String>,
    files: Vec<(String, u64)>,
    history: Vec<HistoryRow>,
}

async fn outbox_page(State(state): State<AppState>, Caller(who): Caller) -> Response {
    if let Err(refusal) = auth::require_org_admin(&who) {
        return (StatusCode::FORBIDDEN, refusal.to_string()).into_response();
    }
    let reports = &state.reports;
    let mut files = Vec::new();
    if let Some(dir) = reports.delivery.directory() {
        if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
            while let Ok(Some(entry)) = entries.next_entry().await {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".eml") && !name.starts_with('.') {
                    let size = entry.metadata().await.map(|m| m.len()).unwrap_or(0);
                    files.push((name, size));
                }
            }
        }
    }
    files.sort();
    match reports.outbox.history(None, 200).await {
        Ok(history) => render(
            StatusCode::OK,
            OutboxPage {
                pkg_dir: pkg_dir(&state),
                delivery: reports.delivery.describe(),
                directory: reports
                    .delivery
                    .directory()
                    .map(|d| d.display().to_string()),
                files,
                history,
            },
        ),
        Err(error) => super::error::plain(error.into()),
    }
}
