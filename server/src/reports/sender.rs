//! Sends what the outbox holds: claim (with a lease) → render the frozen report → SMTP →
//! mark. Several senders (replicas) share the outbox safely; [`Step`] hooks let tests stop a
//! sender at each step as a crash would.
//!
//! The one window where a message can go out twice: the SMTP server accepted it (`250`) and
//! the sender stopped before marking the row `sent`; the lease then runs out and another sender
//! sends it again. The window is one `UPDATE` long; the repeated message carries the same
//! `Message-ID`, which mail clients use to collapse duplicates.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use lettre::message::Mailbox;
use time::OffsetDateTime;

use super::{
    chart,
    content::WeeklyReport,
    outbox::{Claimed, Outbox},
    render::{self, Addressing, EmailView, CHART_CID},
    transport::{Delivery, SendFailure},
    unsubscribe::{UnsubscribeSigner, VALID_FOR},
    ReportError,
};

/// A team's frozen week and its chart, shared by the round's messages for that week.
struct FrozenWeek {
    report: WeeklyReport,
    chart: Vec<u8>,
}

/// Where a sender is in sending one message (for tests that stop it there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The row is claimed; nothing sent yet.
    Claimed,
    /// The message is rendered and about to be handed to the SMTP server.
    Sending,
    /// The SMTP server accepted it; the row is not marked yet (the duplicate window).
    Accepted,
}

/// Awaited at each [`Step`]; a test's hook may never return (the sender is then stopped).
pub type StepHook = Arc<dyn Fn(Step, &Claimed) -> BoxFuture<'static, ()> + Send + Sync>;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

#[derive(Clone)]
pub struct Sender {
    pub outbox: Outbox,
    pub delivery: Arc<Delivery>,
    pub signer: UnsubscribeSigner,
    pub from: Mailbox,
    /// The portal's public URL, no trailing slash.
    pub base_url: String,
    /// This sender's name in `claimed_by`.
    pub worker: String,
    pub lease: Duration,
    pub batch: i64,
    pub hook: Option<StepHook>,
}

impl Sender {
    async fn step(&self, step: Step, claimed: &Claimed) {
        if let Some(hook) = &self.hook {
            hook(step, claimed).await;
        }
    }

    /// Sends every due message (in batches) until none is left.
    pub async fn send_due(&self) -> Result<Round, ReportError> {
        let mut round = Round::default();
        // A team's week is frozen: fetch and draw it once per round, not once per recipient.
        let mut weeks: HashMap<(String, time::Date), Arc<FrozenWeek>> = HashMap::new();
        loop {
            let claimed = self
                .outbox
                .claim(&self.worker, self.batch, self.lease)
                .await?;
            if claimed.is_empty() {
                return Ok(round);
            }
            for row in claimed {
                self.step(Step::Claimed, &row).await;
                match self.send_one(&row, &mut weeks).await {
                    Ok(reply) => {
                        self.outbox.mark_sent(row.id, &reply).await?;
                        round.sent += 1;
                    }
                    Err(SendFailure::Permanent(why)) => {
                        tracing::warn!(recipient = %row.recipient, team = %row.team, %why, "e-mail refused");
                        self.outbox.mark_failed(row.id, &why).await?;
                        round.failed += 1;
                    }
                    Err(SendFailure::Transient(why)) => {
                        tracing::warn!(recipient = %row.recipient, team = %row.team, %why, "e-mail not sent; will retry");
                        match self.outbox.mark_retry(&row, &why).await? {
                            "failed" => round.failed += 1,
                            _ => round.retrying += 1,
                        }
                    }
                }
            }
        }
    }

    async fn frozen_week(&self, row: &Claimed) -> Result<FrozenWeek, ReportError> {
        let report = self.outbox.report(&row.team, row.week_start).await?;
        let chart = chart::week_png(&report)?;
        Ok(FrozenWeek { report, chart })
    }

    async fn send_one(
        &self,
        row: &Claimed,
        weeks: &mut HashMap<(String, time::Date), Arc<FrozenWeek>>,
    ) -> Result<String, SendFailure> {
        let internal = |e: ReportError| SendFailure::Transient(e.to_string());
        let key = (row.team.clone(), row.week_start);
        let week = match weeks.get(&key) {
            Some(week) => week.clone(),
            None => {
                let week = Arc::new(self.frozen_week(row).await.map_err(internal)?);
                weeks.insert(key, week.clone());
                week
            }
        };
        let report = &week.report;
        let unsubscribe_url = row.user_id.map(|user| {
            let token = self
                .signer
                .token(user, &row.team, OffsetDateTime::now_utc() + VALID_FOR);
            format!("{}/unsubscribe?t={token}", self.base_url)
        });
        let view = EmailView::new(
            report,
            &self.base_url,
            format!("cid:{CHART_CID}"),
            unsubscribe_url,
        );
        let to: Mailbox = row.recipient.parse().map_err(|e| {
            SendFailure::Permanent(format!("{} is not an e-mail address: {e}", row.recipient))
        })?;
        let prefix = if row.kind == "test" { "[test] " } else { "" };
        let message = render::message(
            &view,
            week.chart.clone(),
            Addressing {
                from: &self.from,
                to,
                message_id: &row.message_id,
            },
            prefix,
        )
        .map_err(internal)?;
        self.step(Step::Sending, row).await;
        let stem = row
            .message_id
            .trim_matches(['<', '>'])
            .replace(['@', '/'], "_");
        let reply = self.delivery.send(message, &stem).await?;
        self.step(Step::Accepted, row).await;
        Ok(reply)
    }

    /// Sends due messages every `every`, and at once when `wake` is notified, until the task
    /// is dropped.
    pub fn spawn(
        self,
        every: Duration,
        wake: Arc<tokio::sync::Notify>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = wake.notified() => {}
                }
                match self.send_due().await {
                    Ok(round) => {
                        if round != Round::default() {
                            tracing::info!(?round, "weekly e-mail round");
                        }
                        crate::metrics::global().task_succeeded("weekly_email_send");
                    }
                    Err(error) => tracing::error!(%error, "weekly e-mail round failed"),
                }
            }
        })
    }
}
