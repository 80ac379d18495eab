//! The weekly team e-mail: each team's energy and CO2e of its last full week (Monday to
//! Sunday in the team's time zone), from the same queries as the team page, sent once to each
//! member through a PostgreSQL outbox, over SMTP or, by default, as `.eml` files.
//!
//! `week` (weeks, schedules, time zones) · `content` (the figures) · `chart` (PNG) · `render`
//! (askama templates, the MIME message) · `outbox` (rows, claims, states) · `sender` (claim →
//! send → mark) · `transport` (SMTP or files) · `preferences` (schedules, opt-outs) ·
//! `unsubscribe` (signed one-click links).

pub mod chart;
pub mod content;
pub mod outbox;
pub mod preferences;
pub mod render;
pub mod sender;
pub mod transport;
pub mod unsubscribe;
pub mod week;

use std::{path::PathBuf, sync::Arc, time::Duration};

use lettre::message::Mailbox;
use sqlx::PgPool;
use time::OffsetDateTime;

use content::{ReportBuilder, WeeklyReport};
use outbox::Outbox;
use preferences::Preferences;
use sender::Sender;
use transport::{Delivery, SmtpSettings};
use unsubscribe::UnsubscribeSigner;
use week::ReportWeek;

use crate::energy::{query::EnergyQuery, EnergyError};

/// How the weekly e-mail fails. Mapped to what users see in `server/src/error.rs`.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} was not found")]
    NotFound(String),
    #[error(transparent)]
    Energy(#[from] EnergyError),
    #[error("the e-mail records: {0}")]
    Database(#[from] sqlx::Error),
    #[error("rendering the e-mail: {0}")]
    Template(#[from] askama::Error),
    #[error("{0}")]
    Internal(String),
}

/// `CANOPY_SMTP_*`, `CANOPY_MAIL_FROM`, `CANOPY_WEEKLY_EMAIL` (see config.rs).
#[derive(Clone)]
pub struct MailSettings {
    /// `None`: messages are written to `outbox_dir` as `.eml` files.
    pub smtp: Option<SmtpSettings>,
    pub from: Mailbox,
    pub outbox_dir: PathBuf,
    /// Whether the schedule sends by itself (`CANOPY_WEEKLY_EMAIL=off` leaves only the manual
    /// sends from the portal); the sender runs either way.
    pub scheduled: bool,
    /// How often the schedule and the outbox are looked at.
    pub every: Duration,
    /// How long a claimed message is this sender's before another may take it.
    pub lease: Duration,
}

impl MailSettings {
    pub fn with_data_dir(data_dir: &std::path::Path) -> Self {
        Self {
            smtp: None,
            from: Mailbox::new(
                Some("Canopy".to_owned()),
                lettre::Address::new("canopy", "localhost")
                    .unwrap_or_else(|_| unreachable!("a valid literal address")),
            ),
            outbox_dir: data_dir.join("outbox"),
            scheduled: true,
            every: Duration::from_secs(60),
            lease: Duration::from_secs(120),
        }
    }

    /// The domain of the From address (Message-IDs end with it).
    pub fn domain(&self) -> String {
        self.from.email.domain().to_owned()
    }
}

/// The capability as the HTTP layer and the background tasks use it.
#[derive(Clone)]
pub struct Reports {
    pub builder: ReportBuilder,
    pub outbox: Outbox,
    pub preferences: Preferences,
    pub signer: UnsubscribeSigner,
    pub delivery: Arc<Delivery>,
    pub settings: Arc<MailSettings>,
    /// The portal's public URL, no trailing slash (links in e-mails).
    pub base_url: String,
    /// Wakes this replica's sender when the portal queued messages (others find them within
    /// `settings.every`).
    pub wake: Arc<tokio::sync::Notify>,
}

impl Reports {
    pub async fn new(
        pool: PgPool,
        query: EnergyQuery,
        settings: MailSettings,
        base_url: String,
    ) -> Result<Self, ReportError> {
        let delivery = match &settings.smtp {
            Some(smtp) => Delivery::smtp(smtp)?,
            None => Delivery::Directory(settings.outbox_dir.clone()),
        };
        Ok(Self {
            builder: ReportBuilder { query, drift: None },
            outbox: Outbox::new(pool.clone()),
            preferences: Preferences::new(pool.clone()),
            signer: UnsubscribeSigner::load(&pool).await?,
            delivery: Arc::new(delivery),
            settings: Arc::new(settings),
            base_url: base_url.trim_end_matches('/').to_owned(),
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Adds the dependency drift headline (the `/dependencies` page's figures) to the e-mails.
    pub fn with_drift(mut self, drift: crate::drift::Drift) -> Self {
        self.builder.drift = Some(drift);
        self
    }

    /// The week an e-mail sent for `team` now reports on (its last full week).
    pub async fn current_week(
        &self,
        team: &str,
        now: OffsetDateTime,
    ) -> Result<ReportWeek, ReportError> {
        let schedule = self.preferences.schedule(team).await?;
        ReportWeek::last_full_before(timestamp(now)?, schedule.zone)
    }

    /// The team's last full week as the e-mail would show it now (not frozen, not sent).
    pub async fn preview(
        &self,
        team: &str,
        now: OffsetDateTime,
    ) -> Result<WeeklyReport, ReportError> {
        let week = self.current_week(team, now).await?;
        self.builder.build(team, &week).await
    }

    /// Freezes the team's week (if not yet) and queues one message per subscribed member who
    /// has none for that week. Returns the week's Monday and how many were queued.
    pub async fn send_week(
        &self,
        team: &str,
        week: &ReportWeek,
    ) -> Result<(time::Date, u64), ReportError> {
        let monday = date(week.monday)?;
        if self.outbox.frozen(team, monday).await?.is_none() {
            let report = self.builder.build(team, week).await?;
            self.outbox.freeze(&report, monday).await?;
        }
        let queued = self
            .outbox
            .enqueue_week(team, monday, &self.settings.domain())
            .await?;
        if queued > 0 {
            self.wake.notify_one();
        }
        Ok((monday, queued))
    }

    /// Queues a test message of the team's current week to `user_id`'s own address.
    pub async fn send_test(
        &self,
        team: &str,
        user_id: i64,
        now: OffsetDateTime,
    ) -> Result<String, ReportError> {
        let recipient =
            self.preferences
                .email_of(user_id)
                .await?
                .ok_or_else(|| ReportError::Invalid {
                    field: "email",
                    message: "your account has no e-mail address; ask an admin to add one"
                        .to_owned(),
                })?;
        let week = self.current_week(team, now).await?;
        let monday = date(week.monday)?;
        if self.outbox.frozen(team, monday).await?.is_none() {
            let report = self.builder.build(team, &week).await?;
            self.outbox.freeze(&report, monday).await?;
        }
        self.outbox
            .enqueue_test(team, monday, user_id, &recipient, &self.settings.domain())
            .await?;
        self.wake.notify_one();
        Ok(recipient)
    }

    /// Queues the due week of every team whose send time has passed, once per team and week.
    pub async fn enqueue_due(&self, now: OffsetDateTime) -> Result<u64, ReportError> {
        let mut queued = 0;
        for team in self.preferences.teams_with_members().await? {
            let schedule = self.preferences.schedule(&team).await?;
            let week = schedule.due_week(timestamp(now)?)?;
            // Only the first time a week comes due: later members join next week's e-mail.
            if self
                .outbox
                .frozen(&team, date(week.monday)?)
                .await?
                .is_none()
            {
                queued += self.send_week(&team, &week).await?.1;
            }
        }
        Ok(queued)
    }

    /// A sender over this outbox, named `worker`.
    pub fn sender(&self, worker: String) -> Sender {
        Sender {
            outbox: self.outbox.clone(),
            delivery: self.delivery.clone(),
            signer: self.signer.clone(),
            from: self.settings.from.clone(),
            base_url: self.base_url.clone(),
            worker,
            lease: self.settings.lease,
            batch: 20,
            hook: None,
        }
    }

    /// The sender, and the schedule (when enabled) once every `settings.every` across replicas.
    pub fn spawn(&self, jobs: &crate::replicas::jobs::Jobs) -> Vec<tokio::task::JoinHandle<()>> {
        let worker = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let mut tasks = vec![self
            .sender(worker)
            .spawn(self.settings.every, self.wake.clone())];
        if self.settings.scheduled {
            let reports = self.clone();
            tasks.push(jobs.spawn(
                crate::replicas::jobs::Job::WeeklyEmailSchedule,
                self.settings.every,
                move || {
                    let reports = reports.clone();
                    async move {
                        let queued = reports.enqueue_due(OffsetDateTime::now_utc()).await?;
                        if queued > 0 {
                            tracing::info!(queued, "weekly e-mails queued");
                            reports.wake.notify_one();
                        }
                        Ok::<_, ReportError>(())
                    }
                },
            ));
        }
        tasks
    }
}

fn timestamp(now: OffsetDateTime) -> Result<jiff::Timestamp, ReportError> {
    jiff::Timestamp::from_second(now.unix_timestamp())
        .map_err(|e| ReportError::Internal(format!("{now}: {e}")))
}

/// jiff's civil date as `time`'s (the database's).
pub fn date(day: jiff::civil::Date) -> Result<time::Date, ReportError> {
    let month = time::Month::try_from(day.month() as u8)
        .map_err(|e| ReportError::Internal(format!("{day}: {e}")))?;
    time::Date::from_calendar_date(i32::from(day.year()), month, day.day() as u8)
        .map_err(|e| ReportError::Internal(format!("{day}: {e}")))
}
