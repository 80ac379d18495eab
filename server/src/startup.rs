//! Building and running the application: database, router, listener and graceful shutdown.

use std::{
    future::{Future, IntoFuture},
    net::SocketAddr,
    sync::Arc,
};

use leptos::config::LeptosOptions;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::{
    backend::{CanopyBackend, CanopyDeployBackend},
    config::{ClusterSettings, DatabaseSettings, Settings},
    db::{self, embedded::EmbeddedPostgres},
    deploy::{
        apply::Applier,
        follow::KubeFollower,
        quota::TeamQuotas,
        quota_admin::QuotaAdmin,
        records::DeployRecords,
        render::RenderSettings,
        service::{DeployService, RolloutFollower},
    },
    http::{router, AppState, SiteBundle},
    sandbox::{self, ClusterContext, Sandbox},
    services::ServiceRepository,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("could not start the embedded PostgreSQL: {0}")]
    Embedded(#[from] db::embedded::EmbeddedError),
    #[error(transparent)]
    Database(#[from] db::DbError),
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("the weekly e-mail could not start: {0}")]
    Reports(#[from] crate::reports::ReportError),
    #[error("dependency drift could not start: {0}")]
    Drift(#[from] crate::drift::DriftError),
    #[error("GitHub-linked delivery could not start: {0}")]
    Github(#[from] crate::github::GithubError),
}

/// Each capability's settings, read from the environment by [`Application::build_with_mail`]
/// or given by tests.
pub struct Parts {
    pub identity: crate::config::IdentitySettings,
    pub mail: crate::reports::MailSettings,
    pub drift: crate::config::DriftSettings,
    pub github: crate::github::GithubAppSettings,
    pub rate_limit: crate::http::rate_limit::RateLimitSettings,
    /// Agents' ServiceAccount tokens as node identity (`None`: node tokens only).
    pub agent_identity: Option<crate::energy::agent_identity::AgentIdentitySettings>,
}

/// How long open requests may take to finish once shutdown begins.
pub const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// A built application, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    /// Cancelled when shutdown begins (live streams end on it).
    shutdown: tokio_util::sync::CancellationToken,
    router: axum::Router,
    pool: PgPool,
    /// The background jobs' locks and LISTEN (`replicas/`).
    coordination: PgPool,
    embedded: Option<EmbeddedPostgres>,
    /// The sandbox cluster started for this run, stopped after the HTTP server drains.
    sandbox: Option<Sandbox>,
}

impl Application {
    /// Builds the application without a Kubernetes cluster (deploys are refused); the `canopy`
    /// binary uses [`Application::build_with_cluster`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_cluster(settings, ClusterSettings::None).await
    }

    /// Builds the application with the cluster `cluster` names: a kubeconfig, in-cluster, or the
    /// sandbox, which is started here (and stopped by [`Application::run_until`]). A cluster
    /// that cannot be used is logged and leaves Canopy without one.
    pub async fn build_with_cluster(
        settings: Settings,
        cluster_settings: ClusterSettings,
    ) -> Result<Self, StartupError> {
        let identity_settings = crate::config::IdentitySettings::from_env()?;
        Self::build_with_identity(settings, cluster_settings, identity_settings).await
    }

    /// As [`Application::build_with_cluster`], with sign-in settings given rather than read
    /// from the environment (tests that sign in through a local GitHub double).
    pub async fn build_with_identity(
        settings: Settings,
        cluster_settings: ClusterSettings,
        mut identity_settings: crate::config::IdentitySettings,
    ) -> Result<Self, StartupError> {
        if let DatabaseSettings::Embedded(embedded) = &settings.database {
            // One data directory: the embedded cluster's, which CANOPY_DATA_DIR also names.
            identity_settings.data_dir = embedded.data_dir.clone();
        }
        let mail = crate::config::mail_settings(
            |key| std::env::var(key).ok(),
            &identity_settings.data_dir,
        )?;
        Self::build_with_mail(settings, cluster_settings, identity_settings, mail).await
    }

    /// As [`Application::build_with_identity`], with the e-mail settings given (tests that send
    /// to a local SMTP server).
    pub async fn build_with_mail(
        settings: Settings,
        cluster_settings: ClusterSettings,
        identity_settings: crate::config::IdentitySettings,
        mail: crate::reports::MailSettings,
    ) -> Result<Self, StartupError> {
        let parts = Parts {
            identity: identity_settings,
            mail,
            drift: crate::config::DriftSettings::from_env()?,
            github: crate::config::github_app_settings(|key| std::env::var(key).ok())?,
            rate_limit: crate::http::rate_limit::RateLimitSettings::from_env()?,
            agent_identity: crate::config::agent_identity_settings(|key| std::env::var(key).ok())?,
        };
        Self::build_with_parts(settings, cluster_settings, parts).await
    }

    /// As [`Application::build_with_mail`], with every capability's settings given (tests that
    /// point registries, SMTP or GitHub at local doubles).
    pub async fn build_with_parts(
        settings: Settings,
        cluster_settings: ClusterSettings,
        parts: Parts,
    ) -> Result<Self, StartupError> {
        let Parts {
            identity: mut identity_settings,
            mail,
            drift: drift_settings,
            github: github_settings,
            rate_limit: rate_limit_settings,
            agent_identity,
        } = parts;
        let energy_settings = crate::config::EnergySettings::from_env()?;
        let replica_settings = crate::replicas::ReplicaSettings::from_env()?;
        let catalogue_refresh = crate::services::catalogue::refresh_period(
            std::env::var(crate::services::catalogue::REFRESH_ENV)
                .ok()
                .as_deref(),
        )?;
        tracing::info!(replica = %replica_settings.replica, "this replica's name");
        if let DatabaseSettings::Embedded(embedded) = &settings.database {
            identity_settings.data_dir = embedded.data_dir.clone();
        }
        let (url, embedded) = match &settings.database {
            DatabaseSettings::External { url } => (url.clone(), None),
            DatabaseSettings::Embedded(embedded_settings) => {
                let cluster = EmbeddedPostgres::start(embedded_settings).await?;
                db::ensure_database(&cluster.maintenance_url(), db::embedded::DATABASE).await?;
                (cluster.database_url(), Some(cluster))
            }
        };
        let pool = connect_and_migrate(&url, settings.db_max_connections).await?;
        // Advisory locks of the background jobs and LISTEN, apart from the requests' pool.
        let coordination = db::pool(
            db::connect_options(&url)?,
            crate::replicas::COORDINATION_CONNECTIONS,
        );

        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .map_err(|source| StartupError::Listen {
                addr: settings.listen_addr,
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartupError::Listen {
                addr: settings.listen_addr,
                source,
            })?;

        let bundle = SiteBundle::load(&settings.site_root);
        let leptos_options = LeptosOptions::builder()
            .output_name("canopy")
            .site_root(bundle.site_root.to_string_lossy().into_owned())
            .site_pkg_dir(bundle.pkg_dir.clone())
            .site_addr(local_addr)
            .build();
        let identity = crate::auth::Identity::new(
            pool.clone(),
            identity_settings.public_url.as_ref(),
            identity_settings.github.clone(),
        );
        match identity
            .accounts
            .ensure_initial_admin(&identity_settings.data_dir)
            .await
        {
            Ok(Some(password)) => {
                use secrecy::ExposeSecret;
                let file = identity_settings.data_dir.join("initial-admin-password");
                // Printed once, on the first start only (as Argo CD does); also in the file.
                tracing::warn!(
                    user = "admin",
                    password = password.expose_secret(),
                    file = %file.display(),
                    "first start: created the admin account; sign in with this password, then invite people"
                );
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "could not create the first admin account"),
        }
        let (cluster, mut sandbox) = sandbox::connect(&cluster_settings).await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        // The services catalogue: pods ready from a watch of Canopy's Deployments (when there
        // is a cluster); the first snapshot is read now, before serving.
        // It reads through the coordination pool: a slow refresh never holds a request's
        // connection.
        let catalogue = crate::services::Catalogue::new(
            coordination.clone(),
            cluster.as_ref().map(|c: &ClusterContext| {
                crate::services::catalogue::DeploymentWatch::start(
                    c.client.clone(),
                    shutdown.clone(),
                )
            }),
        );
        if let Err(error) = catalogue.refresh().await {
            tracing::warn!(%error, "could not read the services catalogue at startup; retrying in the background");
        }
        catalogue.spawn(catalogue_refresh, shutdown.clone());
        let lease = crate::deploy::lease::FollowerLease::new(
            pool.clone(),
            replica_settings.replica.clone(),
            replica_settings.follower_lease,
        );
        let deploys = deploy_service_with(
            pool.clone(),
            cluster.as_ref().map(|c: &ClusterContext| c.client.clone()),
            lease,
        );
        // Live states reach the pages of every replica through PostgreSQL.
        let outbox = crate::replicas::live_bus::start(
            pool.clone(),
            coordination.clone(),
            replica_settings.replica.clone(),
            deploys.live().clone(),
        );
        let deploys = deploys.with_shared_live(outbox);
        let cluster_client = cluster.as_ref().map(|c: &ClusterContext| c.client.clone());
        let commands = crate::deploy::commands::DeployCommands::new(
            deploys.clone(),
            crate::deploy::observe::ServiceObserver::new(
                DeployRecords::new(pool.clone()),
                cluster_client.clone(),
            ),
            quota_admin(pool.clone(), cluster_client),
            identity.audit.clone(),
        )
        .with_catalogue(catalogue.clone());
        let deploy_backend = Arc::new(CanopyDeployBackend {
            commands: commands.clone(),
            sandbox: cluster.as_ref().is_some_and(|c| c.sandbox),
        });
        // Deploys nobody follows (a stopped replica's, once its lease ran out) are taken over
        // now and whenever another replica dies.
        deploys.spawn_takeover();
        let jobs = crate::replicas::jobs::Jobs::new(
            coordination.clone(),
            replica_settings.replica.clone(),
        );
        let energy = crate::energy::EnergyState::new(pool.clone(), energy_settings)
            .with_agent_identity(agent_identity.map(|settings| {
                let client = cluster.as_ref().map(|c: &ClusterContext| c.client.clone());
                crate::energy::agent_identity::AgentIdentity::new(settings, client)
            }));
        crate::energy::partitions::spawn_maintenance(
            &jobs,
            pool.clone(),
            energy.ingestor.partitions.clone(),
            energy.retention_days,
        );
        energy.spawn_live_grid(&jobs);
        if let (Some(sandbox), Some(cluster)) = (sandbox.as_mut(), cluster.as_ref()) {
            sandbox
                .start_energy_feed(cluster.client.clone(), energy.clone())
                .await;
        }
        // Links in e-mails need an absolute URL: the public one, else where Canopy listens.
        let base_url = identity_settings
            .public_url
            .as_ref()
            .map(|url| url.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{local_addr}"));
        let drift = crate::drift::Drift::new(pool.clone(), drift_settings)?;
        drift.spawn();
        let reports = crate::reports::Reports::new(
            pool.clone(),
            energy.query.clone(),
            mail,
            base_url.clone(),
        )
        .await?
        .with_drift(drift.clone());
        reports.spawn(&jobs);
        let github =
            crate::github::Github::new(pool.clone(), github_settings, commands.clone(), base_url)?
                .with_drift(drift.clone());
        github.spawn(shutdown.clone());
        let rate_limit =
            crate::http::rate_limit::RateLimiter::new(pool.clone(), rate_limit_settings);
        jobs.spawn(
            crate::replicas::jobs::Job::RateLimitPrune,
            std::time::Duration::from_secs(600),
            {
                let rate_limit = rate_limit.clone();
                move || {
                    let rate_limit = rate_limit.clone();
                    async move { rate_limit.prune().await.map(|_| ()) }
                }
            },
        );
        let state = AppState {
            rate_limit,
            shutdown: shutdown.clone(),
            streams: crate::http::streams::StreamLimits::default(),
            reports,
            leptos_options,
            pool: pool.clone(),
            backend: Arc::new(CanopyBackend::new(
                ServiceRepository::new(pool.clone()),
                identity.audit.clone(),
                catalogue.clone(),
                crate::home::HomeFeed::new(pool.clone(), energy.query.clone()),
            )),
            deploy_backend,
            commands,
            api_token: settings.api_token.clone(),
            identity,
            secure_cookies: identity_settings.secure_cookies(),
            energy_backend: Arc::new(crate::energy::backend::CanopyEnergyBackend {
                query: energy.query.clone(),
            }),
            energy,
            drift_backend: Arc::new(crate::drift::backend::CanopyDriftBackend {
                drift: drift.clone(),
            }),
            drift,
            cluster,
            github_backend: Arc::new(crate::github::backend::CanopyGithubBackend {
                github: github.clone(),
            }),
            github,
        };
        Ok(Self {
            shutdown,
            router: router(state, &bundle),
            listener,
            pool,
            coordination,
            embedded,
            sandbox,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains requests, closes the pool and stops the
    /// embedded database and the sandbox cluster.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        tracing::info!(addr = %self.local_addr().map(|a| a.to_string()).unwrap_or_default(), "Canopy is listening");
        let token = self.shutdown.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: ending live streams, draining open requests");
            token.cancel();
        };
        let serve = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal)
        .into_future();
        // Draining has a deadline, counted from the signal: a client that holds a request open
        // does not keep the database (or the embedded cluster) from stopping.
        let deadline = async {
            self.shutdown.cancelled().await;
            tokio::time::sleep(DRAIN_DEADLINE).await;
        };
        let served = tokio::select! {
            served = serve => served.map_err(StartupError::Serve),
            () = deadline => {
                tracing::warn!(secs = DRAIN_DEADLINE.as_secs(), "requests still open after the drain deadline; stopping anyway");
                Ok(())
            }
        };
        tracing::info!("HTTP server stopped; closing the database pool");
        self.pool.close().await;
        self.coordination.close().await;
        if let Some(sandbox) = self.sandbox {
            if let Err(error) = sandbox.stop().await {
                tracing::warn!(%error, "could not stop the sandbox cluster");
            }
        }
        if let Some(cluster) = self.embedded {
            cluster.stop().await?;
        }
        served
    }
}

/// The deploy service for `client`'s cluster, or one that reports there is no cluster, as a
/// replica of its own (tests; the binary uses [`deploy_service_with`]).
pub fn deploy_service(pool: PgPool, client: Option<kube::Client>) -> DeployService {
    let replica = crate::replicas::ReplicaSettings::default();
    let lease = crate::deploy::lease::FollowerLease::new(
        pool.clone(),
        replica.replica,
        replica.follower_lease,
    );
    deploy_service_with(pool, client, lease)
}

/// The deploy service for `client`'s cluster, following its deploys under `lease`.
pub fn deploy_service_with(
    pool: PgPool,
    client: Option<kube::Client>,
    lease: crate::deploy::lease::FollowerLease,
) -> DeployService {
    let settings = RenderSettings::default();
    let quotas = TeamQuotas::new(pool.clone(), settings.quota);
    let records = DeployRecords::new(pool);
    let applier = client.clone().map(Applier::new);
    let follower: Arc<dyn RolloutFollower> = match client {
        Some(client) => Arc::new(KubeFollower::new(client)),
        None => Arc::new(NoCluster),
    };
    DeployService::new(records, quotas, applier, follower, settings, lease)
}

/// Teams' quotas, applied to `client`'s cluster (stored only, without one).
pub fn quota_admin(pool: PgPool, client: Option<kube::Client>) -> QuotaAdmin {
    QuotaAdmin::new(
        TeamQuotas::new(pool, RenderSettings::default().quota),
        client.map(Applier::new),
    )
}

/// The follower when no cluster is configured (nothing is ever applied then).
struct NoCluster;

#[async_trait::async_trait]
impl RolloutFollower for NoCluster {
    async fn follow(
        &self,
        _spec: &app::api::spec::ServiceSpec,
        _revision: i64,
        _publish: &(dyn Fn(app::api::deploys::LiveRollout) + Send + Sync),
    ) -> Result<(), app::api::deploys::Problem> {
        Err(app::api::deploys::Problem {
            title: "No cluster".to_owned(),
            detail: "Canopy is not connected to a Kubernetes cluster.".to_owned(),
            hint: "Set CANOPY_KUBECONFIG or KUBECONFIG and restart Canopy.".to_owned(),
        })
    }
}

async fn connect_and_migrate(
    url: &SecretString,
    max_connections: u32,
) -> Result<PgPool, StartupError> {
    let pool = db::pool(db::connect_options(url)?, max_connections);
    db::migrate(&pool).await?;
    Ok(pool)
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "could not listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
