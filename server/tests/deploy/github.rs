//! GitHub-linked delivery against the real control plane (simulated pods) and the GitHub
//! double: a push deploys the commit's image and GitHub gets a deployment with `in_progress`
//! then `success`; GitHub being down delays the statuses, never the deploy; a rollout that
//! fails reaches GitHub as `failure` with its plain reason. Needs `DATABASE_URL` and
//! `CANOPY_TEST_KUBECONFIG`.

use std::time::Duration;

use canopy_github_double::{DeploymentState, GithubDouble, RecordedDeployment, RepoOptions};
use canopy_server::{
    config::ClusterSettings,
    github::{AppCredentials, GithubAppSettings},
};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use crate::{
    app_support::TestApp,
    support::{kubeconfig_path, simulator_logs, with_team, TestTeam},
};

const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";

fn settings_for(github: &GithubDouble) -> GithubAppSettings {
    GithubAppSettings {
        api_url: url::Url::parse(&github.url()).expect("double url"),
        app: Some(AppCredentials {
            app_id: github.app_id(),
            private_key: SecretString::from(github.private_key_pem().to_owned()),
        }),
        webhook_secret: Some(SecretString::from(github.webhook_secret().to_owned())),
    }
}

/// Canopy deploying to the control plane, `team`'s service `checkout` registered and linked to
/// `acme/<team>` (whose `canopy.yaml` is on main), pushes deploying `template`.
async fn linked(team: &TestTeam, template: &str) -> (GithubDouble, TestApp) {
    simulator_logs();
    let github = GithubDouble::start().await.expect("double");
    github
        .add_repo("acme", &team.team, RepoOptions::private_installed())
        .expect("repo");
    github
        .put_file(
            "acme",
            &team.team,
            "main",
            "canopy.yaml",
            "name: checkout\nimage: ghcr.io/acme/checkout:1.0.0\nport: 8080\nreplicas: 1\nroute:\n  host: checkout.example.com\n",
        )
        .expect("file");
    let app = TestApp::spawn_with_cluster_and_github(
        ClusterSettings::Kubeconfig(kubeconfig_path()),
        settings_for(&github),
    )
    .await;
    let response = app
        .client
        .post(app.url("/api/fn/register_service"))
        .form(&[("team", team.team.as_str()), ("name", "checkout")])
        .send()
        .await
        .expect("register");
    assert!(response.status().is_success(), "{}", response.status());
    let response = app
        .client
        .put(app.url(&format!("/api/v1/services/{}/checkout/dev/github", team.team)))
        .json(&json!({ "repo": format!("acme/{}", team.team), "branch": "main", "image_template": template }))
        .send()
        .await
        .expect("link");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap_or_default()
    );
    (github, app)
}

async fn push(github: &GithubDouble, app: &TestApp, team: &TestTeam) {
    github
        .set_branch_head("acme", &team.team, "main", SHA)
        .expect("head");
    let payload = github
        .push_event("acme", &team.team, "main", SHA)
        .expect("payload");
    let answer = github
        .send_webhook(&app.url("/webhooks/github"), "push", &payload)
        .await
        .expect("deliver");
    assert_eq!(answer.status, 202, "{}", answer.body);
}

/// Waits until GitHub has a deployment whose newest status is `state`.
async fn github_deployment(
    github: &GithubDouble,
    team: &TestTeam,
    state: DeploymentState,
    within: Duration,
) -> RecordedDeployment {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let deployments = github.deployments("acme", &team.team);
        if let Some(found) = deployments
            .iter()
            .find(|d| d.statuses.first().is_some_and(|s| s.state == state))
        {
            return found.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no GitHub deployment reached {state:?} within {within:?}: {deployments:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn deploy_row(app: &TestApp) -> (String, Option<String>, String, Option<String>) {
    sqlx::query_as(
        "SELECT image, git_sha, status, failure_reason FROM deploys ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .expect("a deploy")
}

#[tokio::test]
async fn a_push_deploys_the_commit_and_github_shows_in_progress_then_success() {
    with_team("gh-push", |team| async move {
        let (github, app) = linked(&team, "ghcr.io/acme/checkout:{sha}").await;
        push(&github, &app, &team).await;

        let deployment = github_deployment(
            &github,
            &team,
            DeploymentState::Success,
            Duration::from_secs(90),
        )
        .await;
        let (image, git_sha, status, _) = deploy_row(&app).await;
        assert_eq!(image, format!("ghcr.io/acme/checkout:{SHA}"));
        assert_eq!(git_sha.as_deref(), Some(SHA));
        assert_eq!(status, "succeeded");
        assert_eq!(deployment.git_ref, SHA);
        assert_eq!(deployment.environment, "dev");
        let states: Vec<DeploymentState> =
            deployment.statuses.iter().rev().map(|s| s.state).collect();
        assert_eq!(
            states,
            [DeploymentState::InProgress, DeploymentState::Success]
        );
        let success = &deployment.statuses[0];
        assert_eq!(success.environment_url, "https://checkout.example.com/");
        assert_eq!(
            success.log_url,
            app.url(&format!("/services/{}/checkout?env=dev", team.team))
        );
        // The history names who the push acted for.
        let by: String =
            sqlx::query_scalar("SELECT requested_by FROM deploys ORDER BY id DESC LIMIT 1")
                .fetch_one(&app.pool)
                .await
                .expect("requested_by");
        assert!(by.contains("GitHub push 3f78685"), "{by}");
        // Exactly one deployment for one push (the worker never posts twice).
        assert_eq!(github.deployments("acme", &team.team).len(), 1);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn github_down_delays_the_statuses_never_the_deploy() {
    with_team("gh-down", |team| async move {
        let (github, app) = linked(&team, "ghcr.io/acme/checkout:{short_sha}").await;
        // Down for the first three tries (4 s, 8 s, 16 s apart): longer than the rollout.
        github.fail_next(&format!("/repos/acme/{}/deployments", team.team), 503, 3);
        push(&github, &app, &team).await;

        // The deploy goes ahead while GitHub refuses.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let (image, _, status, _) = deploy_row_or_none(&app).await.unwrap_or_default();
            if status == "succeeded" {
                assert_eq!(image, "ghcr.io/acme/checkout:3f78685");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the deploy did not succeed: {status}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // What GitHub answered is visible on the service's GitHub page meanwhile ...
        let (status, html) = app
            .get_html(&format!("/services/{}/checkout/github?env=dev", team.team))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("GitHub answered 503"), "{html}");
        // ... and GitHub gets everything, once, when it is back.
        let deployment = github_deployment(
            &github,
            &team,
            DeploymentState::Success,
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(
            github.deployments("acme", &team.team).len(),
            1,
            "{deployment:#?}"
        );
        let refused = github
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/deployments") && r.status == 503)
            .count();
        assert_eq!(refused, 3);
        app.stop().await;
    })
    .await;
}

async fn deploy_row_or_none(
    app: &TestApp,
) -> Option<(String, Option<String>, String, Option<String>)> {
    sqlx::query_as(
        "SELECT image, git_sha, status, failure_reason FROM deploys ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&app.pool)
    .await
    .expect("deploys")
}

#[tokio::test]
async fn a_failed_rollout_reaches_github_as_failure_with_its_reason() {
    with_team("gh-fail", |team| async move {
        // The simulated kubelet cannot pull from a `.invalid` registry: the rollout makes no
        // progress until the Deployment's progress deadline (180 s) says it failed.
        let (github, app) = linked(&team, "registry.invalid/acme/checkout:{sha}").await;
        push(&github, &app, &team).await;
        let deployment = github_deployment(
            &github,
            &team,
            DeploymentState::Failure,
            Duration::from_secs(300),
        )
        .await;
        let (_, _, status, reason) = deploy_row(&app).await;
        assert_eq!(status, "failed");
        let reason = reason.expect("a failure reason");
        let description = &deployment.statuses[0].description;
        assert!(!description.is_empty());
        assert!(
            reason.starts_with(description.trim_end_matches('…')),
            "GitHub says {description:?}, Canopy {reason:?}"
        );
        let states: Vec<DeploymentState> =
            deployment.statuses.iter().rev().map(|s| s.state).collect();
        assert_eq!(
            states,
            [DeploymentState::InProgress, DeploymentState::Failure]
        );
        app.stop().await;
    })
    .await;
}
