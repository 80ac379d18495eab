//! Three real `canopy` processes on one PostgreSQL database and the test control plane behave
//! as one Canopy: a deploy sent to A streams its live status through B; A is killed (SIGKILL)
//! mid-rollout and B or C takes the deploy over and completes its record; each background job
//! ran once per period across the three (counted from each process's `/metrics`); a session
//! made on A is valid on C.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::{
    app_support::{fresh_database, TEST_API_TOKEN},
    resume::pool_for,
    support::{kubeconfig_path, simulator_logs, with_team, WAIT},
};

/// The follower lease the three run with (a takeover comes within it plus a third of it).
const LEASE_SECS: u64 = 4;

struct Replica {
    name: &'static str,
    base: String,
    child: Child,
    log: PathBuf,
    _data: tempfile::TempDir,
}

impl Replica {
    async fn start(name: &'static str, database_url: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data = tempfile::tempdir().expect("data dir");
        let log = data.path().join("canopy.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_canopy"))
            .env("DATABASE_URL", database_url)
            .env("CANOPY_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("CANOPY_API_TOKEN", TEST_API_TOKEN)
            .env("CANOPY_KUBECONFIG", kubeconfig_path())
            .env("CANOPY_DATA_DIR", data.path())
            .env("CANOPY_SITE_ROOT", "/nonexistent-canopy-site")
            .env("CANOPY_FOLLOWER_LEASE_SECS", LEASE_SECS.to_string())
            .env("HOSTNAME", name)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("start canopy");
        Self {
            name,
            base: format!("http://127.0.0.1:{port}"),
            child,
            log,
            _data: data,
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}):\n{}", self.name, self.logs());
            }
            if let Ok(response) = client.get(format!("{}/readyz", self.base)).send().await {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready:\n{}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs of each background task this process started, from its `/metrics`.
    async fn task_runs(&self, client: &reqwest::Client, task: &str) -> u64 {
        let text = client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        let prefix = format!("canopy_background_task_runs_total{{task=\"{task}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map_or(0, |n| n.trim().parse().expect("a count"))
    }
}

/// Periods of `job` recorded by replicas whose name is LIKE `replica`.
async fn job_rows(pool: &PgPool, job: &str, replica: &str) -> u64 {
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM background_job_runs WHERE job = $1 AND replica LIKE $2",
    )
    .bind(job)
    .bind(replica)
    .fetch_one(pool)
    .await
    .expect("count runs");
    u64::try_from(rows).expect("a count")
}

/// Reads server-sent events from `response`, passing each event's JSON to `seen` until it
/// returns true.
async fn read_events(mut response: reqwest::Response, mut seen: impl FnMut(Value) -> bool) {
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await.expect("the stream") {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
                if seen(serde_json::from_str(data.trim()).expect("JSON event")) {
                    return;
                }
            }
        }
    }
    panic!("the stream ended");
}

#[tokio::test]
async fn three_replicas_behave_as_one_canopy() {
    simulator_logs();
    with_team("replicas", |team| async move {
        let (db_name, options) = fresh_database().await;
        let mut url = url::Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL"))
            .expect("DATABASE_URL");
        url.set_path(&db_name);
        let pool = pool_for(options).await;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut a = Replica::start("replica-a", url.as_str()).await;
        let mut b = Replica::start("replica-b", url.as_str()).await;
        let mut c = Replica::start("replica-c", url.as_str()).await;
        for replica in [&mut a, &mut b, &mut c] {
            replica.wait_ready(&client).await;
        }

        // A session made on A is valid on C (sessions live in PostgreSQL).
        let invite: Value = client
            .post(format!("{}/api/v1/invites", a.base))
            .bearer_auth(TEST_API_TOKEN)
            .json(&json!({ "org_admin": true }))
            .send()
            .await
            .expect("invite")
            .json()
            .await
            .expect("invite JSON");
        let token = invite["token"].as_str().expect("invite token");
        let person = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let accepted = person
            .post(format!("{}/invite/{token}", a.base))
            .header("origin", &a.base)
            .form(&[
                ("username", "rhea"),
                ("password", "a password long enough for Canopy"),
                ("email", "rhea@example.test"),
            ])
            .send()
            .await
            .expect("accept the invite");
        assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
        let signed_in = person
            .post(format!("{}/signin", a.base))
            .header("origin", &a.base)
            .form(&[
                ("username", "rhea"),
                ("password", "a password long enough for Canopy"),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("sign in on A");
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        // The cookie is for 127.0.0.1, whatever the port: C gets it too.
        let on_c = person
            .get(format!("{}/", c.base))
            .send()
            .await
            .expect("a page on C");
        assert_eq!(on_c.status(), StatusCode::OK, "signed in on C too");
        let page = on_c.text().await.expect("page");
        assert!(
            page.contains(r#"data-testid="signed-in-as" class="muted">rhea<"#),
            "C's page names who is signed in: {page}"
        );

        // B follows the service's live status before anything is deployed.
        let stream = client
            .get(format!("{}/ui/live/{}/web/dev", b.base, team.team))
            .bearer_auth(TEST_API_TOKEN)
            .timeout(WAIT * 2)
            .send()
            .await
            .expect("live stream on B");
        assert_eq!(stream.status(), StatusCode::OK);
        let (first_seen_tx, first_seen_rx) = tokio::sync::oneshot::channel();
        let watcher = tokio::spawn(async move {
            let mut first = Some(first_seen_tx);
            let mut states = Vec::new();
            read_events(stream, |event| {
                if let Some(first) = first.take() {
                    let _ = first.send(Instant::now());
                }
                let done = event["revision"] == 1 && event["status"] == "succeeded";
                states.push(event);
                done
            })
            .await;
            states
        });
        // Wait until B's listener is up (it starts with the process; a moment is plenty).
        tokio::time::sleep(Duration::from_millis(500)).await;

        let deployed = client
            .post(format!("{}/api/v1/deploys", a.base))
            .bearer_auth(TEST_API_TOKEN)
            .json(&json!({ "spec": {
                "team": team.team, "name": "web", "environment": "dev",
                "image": "ghcr.io/acme/web:1.0.0", "port": 8080, "replicas": 3
            }}))
            .send()
            .await
            .expect("deploy through A");
        let answered = Instant::now();
        assert_eq!(deployed.status(), StatusCode::ACCEPTED);
        let record: Value = deployed.json().await.expect("deploy JSON");
        let id = record["id"].as_i64().expect("deploy id");
        assert_eq!(record["status"], "rolling_out", "{record}");

        // Mid-rollout, A dies without a word.
        a.child.start_kill().expect("SIGKILL A");
        let _ = a.child.wait().await;
        let follower: Option<String> =
            sqlx::query_scalar("SELECT follower FROM deploys WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("follower");
        assert!(
            follower
                .as_deref()
                .is_some_and(|f| f.starts_with("replica-a-")),
            "A followed its deploy: {follower:?}"
        );

        // B showed A's live status within a second of the deploy's answer.
        let first_seen = tokio::time::timeout(Duration::from_secs(5), first_seen_rx)
            .await
            .expect("B streamed a state")
            .expect("the watcher runs");
        assert!(
            first_seen.saturating_duration_since(answered) < Duration::from_secs(1),
            "B's first state came {:?} after the deploy's answer",
            first_seen.saturating_duration_since(answered)
        );

        // B or C takes the deploy over once A's lease runs out, and completes the record;
        // B's page sees the end.
        let states = tokio::time::timeout(WAIT, watcher)
            .await
            .expect("B streamed the rollout's end")
            .expect("the watcher");
        assert!(
            states.iter().any(|s| s["revision"] == 1
                && matches!(s["status"].as_str(), Some("applying" | "rolling_out"))),
            "B saw the rollout in progress: {states:#?}"
        );
        let (status, follower): (String, Option<String>) =
            sqlx::query_as("SELECT status, follower FROM deploys WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("record");
        assert_eq!(status, "succeeded");
        let follower = follower.expect("a follower");
        assert!(
            follower.starts_with("replica-b-") || follower.starts_with("replica-c-"),
            "completed by {follower}\nB:\n{}\nC:\n{}",
            b.logs(),
            c.logs()
        );
        let (_, history): (StatusCode, Value) = {
            let response = client
                .get(format!("{}/api/v1/services/{}/web/dev", c.base, team.team))
                .bearer_auth(TEST_API_TOKEN)
                .send()
                .await
                .expect("status on C");
            (response.status(), response.json().await.expect("JSON"))
        };
        assert_eq!(
            history["history"][0]["status"], "succeeded",
            "C shows the outcome: {history}"
        );

        // Each background job ran once per period across the three: every run a replica
        // started (its own count, from its /metrics) recorded its period, so no period ran
        // twice (a second run of a period could not record it). The hourly jobs ran at start
        // (once, or once per hour if the test crossed one); the compaction every 2 s.
        for job in [
            "energy_partitions",
            "energy_daily_rollup",
            "energy_rollup_compaction",
        ] {
            assert!(job_rows(&pool, job, "%").await >= 1, "{job} ran");
            for replica in [&b, &c] {
                let pattern = format!("{}-%", replica.name);
                let before = job_rows(&pool, job, &pattern).await;
                let started = replica.task_runs(&client, job).await;
                let after = job_rows(&pool, job, &pattern).await;
                // A run in flight while counting is started but not recorded yet.
                assert!(
                    before <= started && started <= after + 1,
                    "{job} on {}: {started} runs started, {before}..{after} periods recorded",
                    replica.name
                );
            }
        }
        let compactions = job_rows(&pool, "energy_rollup_compaction", "%").await;
        assert!(compactions >= 3, "compaction periods: {compactions}");
    })
    .await;
}
