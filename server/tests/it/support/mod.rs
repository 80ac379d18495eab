//! Test harness: starts the real Canopy server on port 0 against its own Postgres database,
//! cloned from a template database that is migrated once per test run.
//!
//! Needs `DATABASE_URL` pointing at a PostgreSQL server (any database on it; `make test` starts
//! one with scripts/test-postgres.sh). Set `TEST_LOG=1` to see the server's logs.
#![allow(dead_code)]

use canopy_server::github::GithubAppSettings;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use app::api::{auth::Role, TeamName};
use canopy_server::{
    auth::{Accounts, Username},
    config::{DatabaseSettings, DriftSettings, Settings},
    db,
    reports::MailSettings,
    startup::Application,
};
use secrecy::SecretString;
use sqlx::{postgres::PgConnectOptions, Connection, Executor, PgConnection, PgPool};
use tokio::sync::oneshot;

pub mod openapi;
pub mod registry;
pub mod smtp;

pub const TEST_API_TOKEN: &str = "test-token-0123456789abcdef";
/// The organisation admin every harness signs in as (created before Canopy starts, so no
/// first-start admin is made).
pub const TEST_ADMIN: &str = "tester";
pub const TEST_PASSWORD: &str = "correct horse battery staple";
const TEMPLATE_LOCK: i64 = 0x0000_6361_6e6f_7079;

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub db_name: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
    admin: PgConnectOptions,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

fn admin_options() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL").expect(
        "DATABASE_URL must point at a PostgreSQL server for integration tests; \
         `make test` starts one (scripts/test-postgres.sh start DIR prints it)",
    );
    url.parse().expect("DATABASE_URL is a valid PostgreSQL URL")
}

/// The name of the template database for the current set of migrations.
fn template_name() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for migration in db::MIGRATOR.iter() {
        for byte in migration.checksum.iter() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("canopy_template_{hash:016x}")
}

/// Creates a fresh database for one test, cloned from the migrated template.
pub async fn fresh_database() -> (String, PgConnectOptions) {
    let admin = admin_options();
    let mut conn = PgConnection::connect_with(&admin.clone().database("postgres"))
        .await
        .expect("connect to the test PostgreSQL server");
    let template = template_name();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut conn)
        .await
        .expect("lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&template)
            .fetch_one(&mut conn)
            .await
            .expect("query pg_database");
    if !exists {
        conn.execute(format!("CREATE DATABASE {template}").as_str())
            .await
            .expect("create template");
        let mut tpl = PgConnection::connect_with(&admin.clone().database(&template))
            .await
            .expect("connect template");
        db::MIGRATOR.run(&mut tpl).await.expect("migrate template");
        tpl.close().await.expect("close template");
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut conn)
        .await
        .expect("unlock");
    let name = format!("canopy_test_{}", uuid::Uuid::new_v4().simple());
    conn.execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str())
        .await
        .expect("clone template");
    conn.close().await.expect("close");
    (name.clone(), admin.database(&name))
}

fn url_of(options: &PgConnectOptions, db_name: &str) -> SecretString {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut parsed = url::Url::parse(&url).expect("DATABASE_URL parses as a URL");
    parsed.set_path(db_name);
    let _ = options;
    SecretString::from(parsed.to_string())
}

/// E-mail for tests that do not test it: `.eml` files in a fresh folder, no schedule, and the
/// sender's first round only (at start, with nothing queued).
pub fn test_mail_settings() -> MailSettings {
    let dir = std::env::temp_dir().join(format!("canopy-test-mail-{}", uuid::Uuid::new_v4()));
    let mut mail = MailSettings::with_data_dir(&dir);
    mail.scheduled = false;
    mail.every = Duration::from_secs(3_600);
    mail
}

/// Dependency drift for tests that do not test it: every registry at a closed local port, no
/// schedule, no retries (nothing reaches the network).
pub fn test_drift_settings() -> DriftSettings {
    let mut drift = DriftSettings::all_at("http://127.0.0.1:9/").expect("drift settings");
    drift.scan_every = None;
    drift.retries = 0;
    drift
}

pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        canopy_server::telemetry::init();
    }
}

impl TestApp {
    /// Starts Canopy with its own database and no built site bundle.
    pub async fn spawn() -> Self {
        Self::spawn_with_site(PathBuf::from("/nonexistent-canopy-site")).await
    }

    pub async fn spawn_with_site(site_root: PathBuf) -> Self {
        let identity = canopy_server::config::IdentitySettings::from_lookup(|_| None)
            .expect("default identity settings");
        Self::spawn_with(site_root, identity).await
    }

    /// Starts Canopy with these sign-in settings (e.g. GitHub sign-in against a local double).
    pub async fn spawn_with(
        site_root: PathBuf,
        identity: canopy_server::config::IdentitySettings,
    ) -> Self {
        Self::spawn_with_mail(site_root, identity, test_mail_settings()).await
    }

    /// Starts Canopy with these e-mail settings (e.g. a local SMTP server).
    pub async fn spawn_with_mail(
        site_root: PathBuf,
        identity: canopy_server::config::IdentitySettings,
        mail: MailSettings,
    ) -> Self {
        Self::start(
            site_root,
            identity,
            mail,
            test_drift_settings(),
            no_github(),
            canopy_server::config::ClusterSettings::None,
        )
        .await
    }

    /// Starts Canopy with these GitHub App settings (GitHub at a local double).
    pub async fn spawn_with_github(github: GithubAppSettings) -> Self {
        Self::spawn_with_cluster_and_github(canopy_server::config::ClusterSettings::None, github)
            .await
    }

    /// Starts Canopy with registries and GitHub at local doubles.
    pub async fn spawn_with_drift_and_github(
        drift: DriftSettings,
        github: GithubAppSettings,
    ) -> Self {
        let identity = canopy_server::config::IdentitySettings::from_lookup(|_| None)
            .expect("default identity settings");
        Self::start(
            PathBuf::from("/nonexistent-canopy-site"),
            identity,
            test_mail_settings(),
            drift,
            github,
            canopy_server::config::ClusterSettings::None,
        )
        .await
    }

    /// Starts Canopy deploying to `cluster`, with GitHub at a local double.
    pub async fn spawn_with_cluster_and_github(
        cluster: canopy_server::config::ClusterSettings,
        github: GithubAppSettings,
    ) -> Self {
        let identity = canopy_server::config::IdentitySettings::from_lookup(|_| None)
            .expect("default identity settings");
        Self::start(
            PathBuf::from("/nonexistent-canopy-site"),
            identity,
            test_mail_settings(),
            test_drift_settings(),
            github,
            cluster,
        )
        .await
    }

    /// Starts Canopy with these dependency drift settings (registries at a local double).
    pub async fn spawn_with_drift(drift: DriftSettings) -> Self {
        let identity = canopy_server::config::IdentitySettings::from_lookup(|_| None)
            .expect("default identity settings");
        Self::start(
            PathBuf::from("/nonexistent-canopy-site"),
            identity,
            test_mail_settings(),
            drift,
            no_github(),
            canopy_server::config::ClusterSettings::None,
        )
        .await
    }

    async fn start(
        site_root: PathBuf,
        identity: canopy_server::config::IdentitySettings,
        mail: MailSettings,
        drift: DriftSettings,
        github: GithubAppSettings,
        cluster: canopy_server::config::ClusterSettings,
    ) -> Self {
        Self::start_with_agents(site_root, identity, mail, drift, github, cluster, None, 5).await
    }

    /// Starts Canopy with a request pool of `db_max_connections` (to exhaust it on purpose).
    pub async fn spawn_with_pool_size(db_max_connections: u32) -> Self {
        let identity = canopy_server::config::IdentitySettings::from_lookup(|_| None)
            .expect("default identity settings");
        Self::start_with_agents(
            PathBuf::from("/nonexistent-canopy-site"),
            identity,
            test_mail_settings(),
            test_drift_settings(),
            no_github(),
            canopy_server::config::ClusterSettings::None,
            None,
            db_max_connections,
        )
        .await
    }

    /// Starts Canopy on `cluster` taking agents' ServiceAccount tokens as `agents` says.
    pub async fn spawn_with_agent_identity(
        cluster: canopy_server::config::ClusterSettings,
        agents: canopy_server::energy::agent_identity::AgentIdentitySettings,
    ) -> Self {
        let identity = canopy_server::config::IdentitySettings::from_lookup(|_| None)
            .expect("default identity settings");
        Self::start_with_agents(
            PathBuf::from("/nonexistent-canopy-site"),
            identity,
            test_mail_settings(),
            test_drift_settings(),
            no_github(),
            cluster,
            Some(agents),
            5,
        )
        .await
    }

    // The one constructor every `spawn_*` above goes through, each naming what it sets.
    #[allow(clippy::too_many_arguments)]
    async fn start_with_agents(
        site_root: PathBuf,
        identity: canopy_server::config::IdentitySettings,
        mail: MailSettings,
        drift: DriftSettings,
        github: GithubAppSettings,
        cluster: canopy_server::config::ClusterSettings,
        agent_identity: Option<canopy_server::energy::agent_identity::AgentIdentitySettings>,
        db_max_connections: u32,
    ) -> Self {
        init_logs();
        let (db_name, options) = fresh_database().await;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options.clone())
            .await
            .expect("test pool");
        Accounts::new(pool.clone())
            .create_user(
                &Username::parse(TEST_ADMIN).expect("valid"),
                &SecretString::from(TEST_PASSWORD.to_owned()),
                true,
            )
            .await
            .expect("test admin");
        let settings = Settings {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseSettings::External {
                url: url_of(&options, &db_name),
            },
            site_root,
            db_max_connections,
            api_token: Some(SecretString::from(TEST_API_TOKEN.to_owned())),
        };
        let application = Application::build_with_parts(
            settings,
            cluster,
            canopy_server::startup::Parts {
                identity,
                mail,
                drift,
                github,
                // Far above what any test here sends: the limit has its own tests
                // (`replicas.rs`, and over HTTP across three processes in the deploy suite).
                rate_limit: canopy_server::http::rate_limit::RateLimitSettings {
                    per_second: 100_000.0,
                    burst: 1_000_000,
                },
                agent_identity,
            },
        )
        .await
        .expect("build app");
        let addr = application.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = application
                .run_until(async move {
                    let _ = rx.await;
                })
                .await;
        });
        let base = format!("http://{addr}");
        let client = signed_in_client(&base, TEST_ADMIN, TEST_PASSWORD).await;
        Self {
            addr,
            base,
            db_name,
            pool,
            client,
            admin: admin_options(),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The anti-forgery token a page's forms carry (as a browser without JavaScript sends it).
    pub async fn form_token(&self, page: &str) -> String {
        let (_, html) = self.get_html(page).await;
        html.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned()
    }

    /// A person with `roles` (not an organisation admin), signed in.
    pub async fn person(&self, username: &str, roles: &[(&str, Role)]) -> reqwest::Client {
        let accounts = Accounts::new(self.pool.clone());
        let password = SecretString::from(TEST_PASSWORD.to_owned());
        let id = accounts
            .create_user(&Username::parse(username).expect("valid"), &password, false)
            .await
            .expect("user");
        for (team, role) in roles {
            accounts
                .set_role(id, &TeamName::parse(team).expect("team"), Some(*role))
                .await
                .expect("role");
        }
        signed_in_client(&self.base, username, TEST_PASSWORD).await
    }

    /// A browser-like client with no session.
    pub fn anonymous(&self) -> reqwest::Client {
        browser_client(&self.base)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The page at `path` as a browser would ask for it, without Leptos's empty hydration
    /// markers (`<!>`, comments between a text node and what follows it, which type-erased views
    /// add; a browser shows nothing of them): assertions read the markup people see.
    pub async fn get_html(&self, path: &str) -> (reqwest::StatusCode, String) {
        let response = self
            .client
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("GET");
        let status = response.status();
        let html = response.text().await.expect("body");
        (status, html.replace("<!>", ""))
    }

    /// Submits the registration form the way a browser without JavaScript does.
    pub async fn submit_registration_without_js(
        &self,
        team: &str,
        name: &str,
    ) -> reqwest::Response {
        let token = self.form_token("/services/new").await;
        self.client
            .post(self.url("/api/fn/register_service"))
            .header("accept", "text/html,application/xhtml+xml")
            .header("referer", self.url("/services/new"))
            .form(&[("team", team), ("name", name), ("csrf", &token)])
            .send()
            .await
            .expect("POST form")
    }

    pub async fn service_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM services")
            .fetch_one(&self.pool)
            .await
            .expect("count services")
    }

    /// Makes the database unreachable for the running server (drops its database).
    pub async fn take_database_down(&self) {
        self.pool.close().await;
        let mut conn = PgConnection::connect_with(&self.admin.clone().database("postgres"))
            .await
            .expect("admin connection");
        conn.execute(format!("DROP DATABASE {} WITH (FORCE)", self.db_name).as_str())
            .await
            .expect("drop database");
    }

    /// Shuts Canopy down and fails the test unless it stops (within the drain deadline).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let limit = canopy_server::startup::DRAIN_DEADLINE + Duration::from_secs(5);
            tokio::time::timeout(limit, server)
                .await
                .unwrap_or_else(|_| panic!("Canopy did not shut down within {limit:?}"))
                .expect("the server task");
        }
    }
}

/// A client that keeps cookies and says it comes from Canopy's own pages (as a browser does).
pub fn browser_client(base: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ORIGIN,
        reqwest::header::HeaderValue::from_str(base).expect("origin"),
    );
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers(headers)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Signs in through the sign-in form; panics unless Canopy accepts it.
pub async fn signed_in_client(base: &str, username: &str, password: &str) -> reqwest::Client {
    let client = browser_client(base);
    let response = client
        .post(format!("{base}/signin"))
        .form(&[
            ("username", username),
            ("password", password),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(
        response.status(),
        reqwest::StatusCode::SEE_OTHER,
        "sign-in as {username} was refused"
    );
    client
}

/// No GitHub App, and a GitHub API address where nothing listens (nothing reaches GitHub).
pub fn no_github() -> GithubAppSettings {
    GithubAppSettings::without_app(url::Url::parse("http://127.0.0.1:9/").expect("url"))
}

/// Canopy's GitHub App settings for the GitHub double: its App id and key, its webhook secret.
pub fn github_settings(github: &canopy_github_double::GithubDouble) -> GithubAppSettings {
    GithubAppSettings {
        api_url: url::Url::parse(&github.url()).expect("double url"),
        app: Some(canopy_server::github::AppCredentials {
            app_id: github.app_id(),
            private_key: SecretString::from(github.private_key_pem().to_owned()),
        }),
        webhook_secret: Some(SecretString::from(github.webhook_secret().to_owned())),
        preview_ttl: canopy_server::github::DEFAULT_PREVIEW_TTL,
    }
}
