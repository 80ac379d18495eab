//! The weekly team e-mail as its readers and its operators see it: the figures equal the team
//! page's, one message per member through a real SMTP server (MIME structure, headers, the PNG),
//! one-click unsubscribe, refused recipients, SMTP down, and exactly-once delivery with three
//! senders and senders stopped at each step (the one duplicate window measured).

use std::{path::PathBuf, sync::Arc, time::Duration};

use app::api::auth::Role;
use canopy_server::{
    config::IdentitySettings,
    energy::{carbon::CarbonSettings, query::EnergyQuery},
    reports::{
        sender::{Sender, Step},
        MailSettings, Reports,
    },
};
use futures::FutureExt;
use mail_parser::{MessageParser, MimeHeaders};
use reqwest::StatusCode;
use time::{Date, Duration as TimeDuration, OffsetDateTime, Time};

use crate::support::{smtp::SmtpSink, TestApp};

/// Monday of the last full week (UTC), as the e-mail of a team in UTC reports it.
fn last_full_week() -> Date {
    let today = OffsetDateTime::now_utc().date();
    today - TimeDuration::days(i64::from(today.weekday().number_days_from_monday()) + 7)
}

fn at(day: Date, hour: u8) -> OffsetDateTime {
    day.with_time(Time::from_hms(hour, 0, 0).unwrap())
        .assume_utc()
}

/// The rollups of two weeks of the payments team on node-a (grid 481 g/kWh, PUE 1.2):
/// - the week: checkout 0.5 kWh measured (Monday); cart 0.1 kWh measured (Monday) and 0.1 kWh
///   estimated (Wednesday); node-a idle 0.2 kWh measured on Monday.
/// - the week before: checkout 0.25 kWh measured.
///
/// Written to the rollups as ingest writes a late batch (the hourly increment, and the daily row
/// for a day before the daily watermark): the week before last is older than the raw retention
/// window (7 days), which ingest rightly refuses.
async fn seed_weeks(app: &TestApp, monday: Date) {
    let wednesday = monday + TimeDuration::days(2);
    let before = monday - TimeDuration::days(7);
    let rows: [(OffsetDateTime, &str, &str, &str, &str, f64); 5] = [
        (
            at(monday, 10),
            "checkout",
            "workload",
            "measured",
            "payments-prod",
            1_800_000.0,
        ),
        (
            at(monday, 10),
            "cart",
            "workload",
            "measured",
            "payments-prod",
            360_000.0,
        ),
        (at(monday, 10), "", "idle", "measured", "", 720_000.0),
        (
            at(wednesday, 10),
            "cart",
            "workload",
            "estimated",
            "payments-prod",
            360_000.0,
        ),
        (
            at(before, 10),
            "checkout",
            "workload",
            "measured",
            "payments-prod",
            900_000.0,
        ),
    ];
    for (bucket, service, kind, source, namespace, joules) in rows {
        let team = if service.is_empty() { "" } else { "payments" };
        sqlx::query(
            "INSERT INTO energy_rollup_pending
                 (bucket, cluster, node, namespace, team, service, kind, source, energy_joules,
                  sample_secs)
             VALUES ($1, 'default', 'node-a', $2, $3, $4, $5, $6, $7, 60)",
        )
        .bind(bucket)
        .bind(namespace)
        .bind(team)
        .bind(service)
        .bind(kind)
        .bind(source)
        .bind(joules)
        .execute(&app.pool)
        .await
        .expect("rollup row");
        sqlx::query(
            "INSERT INTO energy_rollup_daily_rolled
                 (bucket, cluster, node, namespace, team, service, kind, source, energy_joules,
                  sample_secs)
             SELECT date_trunc('day', $1::timestamptz, 'UTC'), 'default', 'node-a', $2, $3, $4,
                    $5, $6, $7, 60
             WHERE $1::timestamptz < (SELECT rolled_through FROM energy_daily_watermark)",
        )
        .bind(bucket)
        .bind(namespace)
        .bind(team)
        .bind(service)
        .bind(kind)
        .bind(source)
        .bind(joules)
        .execute(&app.pool)
        .await
        .expect("daily rollup row");
    }
}

async fn give_emails(app: &TestApp) {
    sqlx::query(
        "UPDATE users SET email = username || '@example.test'
         WHERE username <> 'tester' AND username NOT LIKE 'noemail%'",
    )
    .execute(&app.pool)
    .await
    .expect("emails");
}

fn mail_settings(dir: &std::path::Path, smtp: Option<String>, every: Duration) -> MailSettings {
    let mut mail = MailSettings::with_data_dir(dir);
    mail.scheduled = false;
    mail.every = every;
    mail.lease = Duration::from_secs(5);
    mail.smtp = smtp.map(|url| canopy_server::reports::transport::SmtpSettings {
        url: url.into(),
        user: None,
        password: None,
    });
    mail
}

async fn spawn(mail: MailSettings) -> TestApp {
    TestApp::spawn_with_mail(
        PathBuf::from("/nonexistent-canopy-site"),
        IdentitySettings::from_lookup(|_| None).expect("identity"),
        mail,
    )
    .await
}

/// Canopy's e-mail capability over the test's database, as another replica would build it.
async fn replica(pool: sqlx::PgPool, mail: MailSettings) -> Reports {
    let query = EnergyQuery::new(pool.clone(), Arc::new(CarbonSettings::default()), 7);
    Reports::new(pool, query, mail, "http://canopy.test".to_owned())
        .await
        .expect("reports")
}

async fn form_post(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let page = client
        .get(app.url("/teams/payments/weekly-email"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let mut fields: Vec<(&str, &str)> = fields.to_vec();
    fields.push(("csrf", &csrf));
    let response = client
        .post(app.url(path))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// The HTML of the row of `service` on the team page.
fn page_row<'a>(html: &'a str, service: &str) -> &'a str {
    let marker = format!(">{service}</a>");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{service} on the page: {html}"));
    let end = html[start..]
        .find("</tr>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

#[tokio::test]
async fn a_team_admin_sends_the_week_and_each_member_gets_one_eml_with_the_team_pages_figures() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(mail_settings(dir.path(), None, Duration::from_millis(200))).await;
    let monday = last_full_week();
    seed_weeks(&app, monday).await;
    let admin = app.person("pat", &[("payments", Role::Admin)]).await;
    let _ = app.person("alice", &[("payments", Role::Deployer)]).await;
    let _ = app
        .person("noemail-carol", &[("payments", Role::Viewer)])
        .await;
    let _ = app.person("erin", &[("search", Role::Admin)]).await;
    give_emails(&app).await;

    // By hand: checkout 0.5 kWh × 1.2 × 481 = 288.6 g; cart 0.1 kWh = 57.7 g per source; the
    // team 0.6 kWh measured = 346.3 g and 0.1 kWh estimated; 0.7 vs 0.25 kWh = +180.0 %.
    let checkout = "500 Wh · 289 g CO2e";
    let cart = "100 Wh · 57.7 g CO2e";
    let team_measured = "600 Wh · 346 g CO2e";

    // The preview is the e-mail's own rendering.
    let preview = admin
        .get(app.url("/teams/payments/weekly-email/preview"))
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), StatusCode::OK);
    let csp = preview.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("style-src 'unsafe-inline'") && !csp.contains("script-src"),
        "{csp}"
    );
    let preview = preview.text().await.unwrap();
    for figure in [
        checkout,
        cart,
        team_measured,
        "+180.0 % vs the previous period",
    ] {
        assert!(
            preview.contains(figure),
            "{figure} in the preview: {preview}"
        );
    }
    assert!(
        preview.contains("/teams/payments/weekly-email/chart.png"),
        "{preview}"
    );
    let chart = admin
        .get(app.url("/teams/payments/weekly-email/chart.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(chart.headers()["content-type"], "image/png");
    let info = png::Decoder::new(std::io::Cursor::new(chart.bytes().await.unwrap()))
        .read_info()
        .expect("the chart is a PNG");
    assert_eq!((info.info().width, info.info().height), (560, 220));

    // The admin sends the week: one message per member with an address, in the outbox folder.
    let (status, page) = form_post(&admin, &app, "/teams/payments/weekly-email/send", &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(&format!("Queued the week of {monday} for 2 members.")),
        "{page}"
    );
    let outbox = dir.path().join("outbox");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let files = loop {
        let files: Vec<PathBuf> = std::fs::read_dir(&outbox)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        let eml: Vec<PathBuf> = files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        if eml.len() >= 2 || tokio::time::Instant::now() > deadline {
            break eml;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(files.len(), 2, "{files:?}");

    // The team page over the same days shows the same figures.
    let sunday = monday + TimeDuration::days(6);
    let (status, team_page) = app
        .get_html(&format!("/teams/payments?from={monday}&to={sunday}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page_row(&team_page, "checkout").contains(checkout),
        "{team_page}"
    );
    assert!(page_row(&team_page, "cart").contains(cart), "{team_page}");
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let message = MessageParser::default().parse(&raw).expect("a message");
        let to = message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap()
            .to_owned();
        assert!(
            ["pat@example.test", "alice@example.test"].contains(&to.as_str()),
            "{to}"
        );
        let text = message.body_text(0).expect("text part");
        assert!(
            text.contains(&format!("checkout: {checkout} measured")),
            "{text}"
        );
        assert!(
            text.contains(&format!("cart: {cart} measured; {cart} estimated")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{team_measured} measured")),
            "{text}"
        );
        assert!(
            text.contains("Sources: 86 % measured, 14 % estimated."),
            "{text}"
        );
        assert!(text.contains("PUE 1.2 × 481 gCO2e/kWh"), "{text}");
        assert!(
            text.contains(&format!("/teams/payments?from={monday}&to={sunday}")),
            "{text}"
        );
    }

    // Sending again queues nobody twice; the outbox page lists the files.
    let (_, again) = form_post(&admin, &app, "/teams/payments/weekly-email/send", &[]).await;
    assert!(again.contains("nothing was queued"), "{again}");
    let (status, outbox_page) = app.get_html("/admin/outbox").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        outbox_page.contains(&format!("weekly.payments.{monday}")),
        "{outbox_page}"
    );
}

#[tokio::test]
async fn a_real_smtp_server_gets_one_multipart_message_per_member_and_one_click_unsubscribes() {
    let sink = SmtpSink::start(30.0);
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(mail_settings(
        dir.path(),
        Some(sink.url()),
        Duration::from_millis(200),
    ))
    .await;
    seed_weeks(&app, last_full_week()).await;
    let admin = app.person("pat", &[("payments", Role::Admin)]).await;
    let _ = app.person("alice", &[("payments", Role::Deployer)]).await;
    let bob = app.person("bob", &[("payments", Role::Viewer)]).await;
    let _ = app
        .person("refuse-dave", &[("payments", Role::Viewer)])
        .await;
    give_emails(&app).await;

    // Bob opts out on the page.
    let (status, page) = form_post(
        &bob,
        &app,
        "/teams/payments/weekly-email/subscription",
        &[("subscribed", "false")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("You do not get this e-mail."), "{page}");

    let (status, page) = form_post(&admin, &app, "/teams/payments/weekly-email/send", &[]).await;
    assert!(page.contains("for 3 members"), "{status} {page}");
    let messages = sink.wait_for(2, Duration::from_secs(20)).await;
    let recipients: Vec<&str> = messages.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(recipients.len(), 2, "{recipients:?}");
    assert!(recipients.contains(&"pat@example.test") && recipients.contains(&"alice@example.test"));

    // The refused recipient is failed with the server's answer, visible in the history.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (state, error): (String, Option<String>) = sqlx::query_as(
            "SELECT state, last_error FROM report_outbox WHERE recipient = 'refuse-dave@example.test'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if state == "failed" {
            assert!(
                error.unwrap_or_default().contains("550"),
                "the SMTP answer is kept"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let history = admin
        .get(app.url("/teams/payments/weekly-email"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(history.contains("mailbox unavailable"), "{history}");
    assert!(history.contains("250 2.0.0 accepted"), "{history}");

    // The message: multipart/related (alternative text + HTML, then the PNG), headers.
    let (_, raw) = messages
        .iter()
        .find(|(r, _)| r == "alice@example.test")
        .unwrap();
    let message = MessageParser::default().parse(raw).expect("a message");
    let alice_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'alice'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        message.message_id(),
        Some(format!("weekly.payments.{}.{alice_id}@localhost", last_full_week()).as_str())
    );
    let content_type = message.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("related"))
    );
    assert_eq!(message.text_body.len(), 1);
    assert_eq!(message.html_body.len(), 1);
    let html = message.body_html(0).unwrap();
    assert!(html.contains("src=\"cid:week-chart\""), "{html}");
    let image = message
        .attachments()
        .find(|part| part.content_id() == Some("week-chart"))
        .expect("the chart part");
    assert_eq!(image.content_type().unwrap().subtype(), Some("png"));
    png::Decoder::new(std::io::Cursor::new(image.contents()))
        .read_info()
        .expect("the chart decodes as a PNG");
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        header("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    let unsubscribe = header("List-Unsubscribe");
    let url = unsubscribe
        .trim_start_matches('<')
        .trim_end_matches('>')
        .replace("http://canopy.test", &app.base)
        .replace(&format!("http://{}", app.addr), &app.base);
    assert!(url.contains("/unsubscribe?t="), "{unsubscribe}");

    // One click, as a mail provider sends it: POST, no cookies, no Origin.
    let mail_client = reqwest::Client::new();
    let forged = url.replace(".payments.", ".search.");
    let response = mail_client
        .post(&forged)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let signer = canopy_server::reports::unsubscribe::UnsubscribeSigner::load(&app.pool)
        .await
        .unwrap();
    let expired = signer.token(
        alice_id,
        "payments",
        OffsetDateTime::now_utc() - TimeDuration::minutes(1),
    );
    let response = mail_client
        .post(app.url(&format!("/unsubscribe?t={expired}")))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let opted_out = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT via FROM report_opt_outs o JOIN users u ON u.id = o.user_id
             WHERE u.username = 'alice' AND o.team = 'payments'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
    };
    assert_eq!(
        opted_out(app.pool.clone()).await,
        None,
        "refused links change nothing"
    );
    let response = mail_client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        opted_out(app.pool.clone()).await.as_deref(),
        Some("one_click")
    );
}

#[tokio::test]
async fn with_the_smtp_server_down_messages_wait_with_the_reason_and_go_out_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn(mail_settings(
        dir.path(),
        Some(url.clone()),
        Duration::from_secs(3_600),
    ))
    .await;
    let _ = app.person("alice", &[("payments", Role::Deployer)]).await;
    give_emails(&app).await;
    let reports = replica(
        app.pool.clone(),
        mail_settings(dir.path(), Some(url), Duration::from_secs(3_600)),
    )
    .await;
    let week = reports
        .current_week("payments", OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(reports.send_week("payments", &week).await.unwrap().1, 1);
    let sender = reports.sender("down".to_owned());
    let round = sender.send_due().await.unwrap();
    assert_eq!((round.sent, round.retrying), (0, 1));
    let (state, error, wait_secs): (String, Option<String>, f64) = sqlx::query_as(
        "SELECT state, last_error, extract(epoch FROM next_attempt_at - now())::float8
         FROM report_outbox",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(state, "pending");
    assert!(
        error.as_deref().unwrap_or_default().contains("onnection"),
        "{error:?}"
    );
    assert!(
        wait_secs > 20.0,
        "retried after a backoff, not at once ({wait_secs} s)"
    );

    // The server comes back; when the retry is due, the message goes out once.
    let sink = SmtpSink::start_on(port, 30.0);
    sqlx::query("UPDATE report_outbox SET next_attempt_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(sender.send_due().await.unwrap().sent, 1);
    assert_eq!(sink.messages().len(), 1);
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM report_outbox WHERE state = 'sent'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 2);
}

#[tokio::test]
async fn a_team_without_energy_gets_an_email_that_says_so_rather_than_zeros() {
    let app = spawn(crate::support::test_mail_settings()).await;
    let admin = app.person("pat", &[("search", Role::Admin)]).await;
    let preview = admin
        .get(app.url("/teams/search/weekly-email/preview"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        preview.contains("No energy was reported for this team"),
        "{preview}"
    );
    assert!(preview.contains("not a measured zero"), "{preview}");
    assert!(!preview.contains("0 Wh · 0 g CO2e measured"), "{preview}");
}

/// What a test sender does at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Go,
    /// Tell the test, and go on.
    Tell,
    /// Tell the test, and never go further (until the process is killed).
    Stop,
}

fn stop_if(condition: bool) -> Act {
    if condition {
        Act::Stop
    } else {
        Act::Go
    }
}

/// A "process": its own runtime and database pool, stopped the way a crash stops it (all its
/// tasks dropped, its connections closed).
struct Process {
    runtime: tokio::runtime::Runtime,
}

impl Process {
    fn start() -> Self {
        Self {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// Runs a sender named `name` whose hook asks `act` at each step what to do there.
    fn send(
        &self,
        db_url: String,
        mail: MailSettings,
        name: &str,
        act: impl Fn(Step, &str) -> Act + Send + Sync + 'static,
    ) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let (tell, told) = tokio::sync::mpsc::unbounded_channel();
        let name = name.to_owned();
        self.runtime.spawn(async move {
            let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
            let mut sender: Sender = replica(pool, mail).await.sender(name);
            sender.batch = 1;
            let act = Arc::new(act);
            let tell_hook = tell.clone();
            sender.hook = Some(Arc::new(move |step, claimed| {
                let what = act(step, &claimed.recipient);
                let tell = tell_hook.clone();
                let recipient = claimed.recipient.clone();
                async move {
                    if what != Act::Go {
                        let _ = tell.send(format!("{step:?} {recipient}"));
                    }
                    if what == Act::Stop {
                        futures::future::pending::<()>().await;
                    }
                }
                .boxed()
            }));
            let round = sender.send_due().await;
            let _ = tell.send(format!("done {round:?}"));
        });
        told
    }

    fn kill(self) {
        self.runtime.shutdown_background();
    }
}

#[tokio::test]
async fn three_senders_and_crashes_at_each_step_deliver_once_except_the_measured_window() {
    let sink = SmtpSink::start(1.5);
    let dir = tempfile::tempdir().unwrap();
    let mail = mail_settings(dir.path(), Some(sink.url()), Duration::from_secs(3_600));
    let app = spawn(mail.clone()).await;
    for name in ["m1", "m2", "m3", "m4", "m5", "slow-m6"] {
        let _ = app.person(name, &[("payments", Role::Viewer)]).await;
    }
    give_emails(&app).await;
    let reports = replica(app.pool.clone(), mail.clone()).await;
    let week = reports
        .current_week("payments", OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(reports.send_week("payments", &week).await.unwrap().1, 6);
    let db_url = {
        let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
        url.set_path(&app.db_name);
        url.to_string()
    };
    let wait = |mut told: tokio::sync::mpsc::UnboundedReceiver<String>| async move {
        tokio::time::timeout(Duration::from_secs(20), told.recv())
            .await
            .expect("the sender reached its step")
            .unwrap_or_default()
    };

    // 1. Stopped right after claiming m1: nothing was sent.
    let a = Process::start();
    let told = wait(a.send(db_url.clone(), mail.clone(), "a", |step, _| {
        stop_if(step == Step::Claimed)
    }))
    .await;
    assert_eq!(told, "Claimed m1@example.test");
    a.kill();
    // 2. Stopped after the server accepted m2, before marking it sent: the duplicate window.
    let c = Process::start();
    let told = wait(c.send(db_url.clone(), mail.clone(), "c", |step, _| {
        stop_if(step == Step::Accepted)
    }))
    .await;
    assert_eq!(told, "Accepted m2@example.test");
    c.kill();
    // 3. Sends m3..m5, then is stopped while the server has not answered for slow-m6.
    let b = Process::start();
    let told = wait(
        b.send(db_url.clone(), mail.clone(), "b", |step, recipient| {
            if step == Step::Sending && recipient.starts_with("slow") {
                Act::Tell
            } else {
                Act::Go
            }
        }),
    )
    .await;
    assert_eq!(told, "Sending slow-m6@example.test");
    // The server answers slow messages after 1.5 s: stop b in the middle of the exchange.
    tokio::time::sleep(Duration::from_millis(400)).await;
    b.kill();
    assert_eq!(
        sink.messages().len(),
        4,
        "m2 (accepted before c stopped), m3, m4, m5"
    );
    // 4. Three senders at once take over the rows whose leases ran out.
    tokio::time::sleep(mail.lease + Duration::from_millis(500)).await;
    let senders: Vec<Process> = (0..3).map(|_| Process::start()).collect();
    let mut done = Vec::new();
    for (i, process) in senders.iter().enumerate() {
        done.push(
            process.send(db_url.clone(), mail.clone(), &format!("d{i}"), |_, _| {
                Act::Go
            }),
        );
    }
    for told in done {
        let said = wait(told).await;
        assert!(said.starts_with("done Ok"), "{said}");
    }
    for process in senders {
        process.kill();
    }

    let messages = sink.messages();
    let count = |who: &str| messages.iter().filter(|(r, _)| r == who).count();
    let states: Vec<String> = sqlx::query_scalar("SELECT DISTINCT state FROM report_outbox")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(states, ["sent"]);
    let duplicates: usize = ["m1", "m2", "m3", "m4", "m5", "slow-m6"]
        .iter()
        .map(|m| count(&format!("{m}@example.test")).saturating_sub(1))
        .sum();
    println!(
        "exactly-once: {} messages for 6 recipients; {duplicates} duplicate(s), all from the \
         stop between the server's 250 and marking the row sent",
        messages.len()
    );
    for member in ["m1", "m3", "m4", "m5", "slow-m6"] {
        assert_eq!(count(&format!("{member}@example.test")), 1, "{member}");
    }
    assert_eq!(count("m2@example.test"), 2, "the one documented window");
}

#[tokio::test]
async fn the_schedule_queues_each_teams_week_once_at_its_send_time() {
    let dir = tempfile::tempdir().unwrap();
    let mail = mail_settings(dir.path(), None, Duration::from_secs(3_600));
    let app = spawn(mail.clone()).await;
    let admin = app.person("pat", &[("payments", Role::Admin)]).await;
    let _ = app.person("alice", &[("payments", Role::Viewer)]).await;
    give_emails(&app).await;
    // The team admin sets Wednesday 09:00 in New York on the page.
    let (status, page) = form_post(
        &admin,
        &app,
        "/teams/payments/weekly-email/schedule",
        &[
            ("weekday", "3"),
            ("hour", "9"),
            ("time_zone", "America/New_York"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Saved: the e-mail goes out every Wednesday at 09:00 (America/New_York)."),
        "{page}"
    );
    // A bad one names its field and changes nothing.
    let (status, page) = form_post(
        &admin,
        &app,
        "/teams/payments/weekly-email/schedule",
        &[
            ("weekday", "3"),
            ("hour", "9"),
            ("time_zone", "Mars/Olympus"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("time_zone"), "{page}");

    let reports = replica(app.pool.clone(), mail).await;
    let at = |raw: &str| {
        OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).unwrap()
    };
    // Wednesday 2026-12-02 08:59 in New York (13:59 UTC): this week's send time has not come,
    // so the week due is the one sent last Wednesday (Monday 2026-11-16), for both members.
    assert_eq!(
        reports
            .enqueue_due(at("2026-12-02T13:59:00Z"))
            .await
            .unwrap(),
        2
    );
    let weeks: Vec<Date> = sqlx::query_scalar("SELECT week_start FROM weekly_reports")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(weeks.len(), 1);
    assert_eq!(weeks[0].to_string(), "2026-11-16");
    // 09:00: the week of Monday 2026-11-23, once.
    assert_eq!(
        reports
            .enqueue_due(at("2026-12-02T14:00:00Z"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        reports
            .enqueue_due(at("2026-12-02T15:00:00Z"))
            .await
            .unwrap(),
        0
    );
    let weeks: Vec<Date> =
        sqlx::query_scalar("SELECT week_start FROM weekly_reports ORDER BY week_start")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(weeks.last().unwrap().to_string(), "2026-11-23");
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM report_outbox WHERE week_start = '2026-11-23' AND kind = 'weekly'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows, 2);
}
