//! With no DATABASE_URL, Canopy starts its own PostgreSQL and stops it on shutdown.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use canopy_server::{
    config::{DatabaseSettings, EmbeddedSettings, Settings},
    startup::Application,
};

#[tokio::test]
async fn starts_its_own_postgres_and_stops_it_on_shutdown() {
    crate::support::init_logs();
    // World-traversable, since as root the cluster runs as the `postgres` user.
    let data_dir = PathBuf::from(format!(
        "/tmp/canopy-embedded-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let settings = Settings {
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        database: DatabaseSettings::Embedded(EmbeddedSettings {
            data_dir: data_dir.clone(),
            pg_bin_dir: None,
            port: None,
        }),
        site_root: PathBuf::from("/nonexistent-canopy-site"),
        db_max_connections: 2,
        api_token: None,
    };
    let application = Application::build(settings)
        .await
        .expect("start with embedded Postgres");
    let base = format!("http://{}", application.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = rx.await;
    }));

    let client = reqwest::Client::new();
    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(ready.status(), 200);
    let pid_file = data_dir.join("postgres").join("postmaster.pid");
    assert!(
        pid_file.exists(),
        "the cluster runs from the data directory"
    );

    // First start: an admin account whose password is only in the log and a private file.
    let password_file = data_dir.join("initial-admin-password");
    let password = std::fs::read_to_string(&password_file).expect("initial admin password");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&password_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "only its owner may read the password file"
        );
    }
    let client = crate::support::signed_in_client(&base, "admin", password.trim()).await;

    // Registering works end to end on the embedded database.
    let form = client
        .post(format!("{base}/api/fn/register_service"))
        .form(&[("team", "platform"), ("name", "canopy")])
        .send()
        .await
        .expect("POST");
    assert!(form.status().is_success(), "{}", form.status());

    tx.send(()).expect("signal shutdown");
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("shutdown finishes")
        .expect("join")
        .expect("clean shutdown");
    assert!(!pid_file.exists(), "PostgreSQL was stopped on shutdown");
    let _ = std::fs::remove_dir_all(&data_dir);
}
