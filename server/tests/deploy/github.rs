//! GitHub-linked delivery against the real control plane (simulated pods) and the GitHub
//! double: a push deploys the commit's image and GitHub gets a deployment with `in_progress`
//! then `success`; GitHub being down delays the statuses, never the deploy; a rollout that
//! fails reaches GitHub as `failure` with its plain reason. Needs `DATABASE_URL` and
//! `CANOPY_TEST_KUBECONFIG`.

use std::time::Duration;

use canopy_github_double::{DeploymentState, GithubDouble, RecordedDeployment, RepoOptions};
use canopy_server::config::ClusterSettings;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    app_support::{github_settings, TestApp},
    support::{kubeconfig_path, simulator_logs, with_team, TestTeam},
};

const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";

/// Each test's own host (tests share the cluster, and Canopy routes a host to one service).
fn host_of(team: &TestTeam) -> String {
    format!("{}.example.test", team.team)
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
            &format!(
                "name: checkout\nimage: ghcr.io/acme/checkout:1.0.0\nport: 8080\nreplicas: 1\nroute:\n  host: {}\n",
                host_of(team)
            ),
        )
        .expect("file");
    let app = TestApp::spawn_with_cluster_and_github(
        ClusterSettings::Kubeconfig(kubeconfig_path()),
        github_settings(&github),
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
        assert_eq!(
            success.environment_url,
            format!("https://{}/", host_of(&team))
        );
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

const SHA_2: &str = "b3f1c2d4e5a60718293a4b5c6d7e8f9012345678";

#[tokio::test]
async fn a_pull_request_gets_a_preview_and_one_comment_and_closing_it_removes_the_preview() {
    use canopy_github_double::PullRequestEvent;
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::Api;

    with_team("gh-pr", |team| async move {
        let (github, app) = linked(&team, "ghcr.io/acme/checkout:{sha}").await;
        let yaml = format!(
            "name: checkout\nimage: ghcr.io/acme/checkout:1.0.0\nport: 8080\nreplicas: 3\nsize: L\nroute:\n  host: {}\n",
            host_of(&team)
        );
        for sha in [SHA, SHA_2] {
            github.put_file("acme", &team.team, sha, "canopy.yaml", &yaml).expect("file");
        }
        let event = |action: &'static str, sha: &'static str| {
            github
                .pull_request_event(&PullRequestEvent {
                    action,
                    owner: "acme",
                    repo: &team.team,
                    number: 7,
                    head_sha: sha,
                    head_ref: "feature/login",
                    from_fork: false,
                })
                .expect("payload")
        };
        let hook = app.url("/webhooks/github");
        let preview_ns = format!("{}-pr-7", team.team);
        let deployments: Api<Deployment> = Api::namespaced(team.client.clone(), &preview_ns);

        let answer = github.send_webhook(&hook, "pull_request", &event("opened", SHA)).await.expect("deliver");
        assert_eq!(answer.status, 202, "{}", answer.body);
        wait_for_preview(&app, 1).await;
        let running = deployments.get("checkout").await.expect("the preview's Deployment");
        let spec = running.spec.expect("spec");
        assert_eq!(spec.replicas, Some(1), "previews run one replica");
        let container = &spec.template.spec.expect("pod spec").containers[0];
        assert_eq!(container.image.as_deref(), Some(format!("ghcr.io/acme/checkout:{SHA}").as_str()));
        let requests = container.resources.as_ref().and_then(|r| r.requests.clone()).expect("requests");
        assert_eq!(requests["cpu"].0, "100m", "previews are size S");
        let comments = github.comments("acme", &team.team, 7);
        assert_eq!(comments.len(), 1);
        let preview_url = format!("https://pr-7-{}/", host_of(&team));
        assert!(comments[0].body.contains(&preview_url), "{}", comments[0].body);

        // A new commit on the pull request: the same preview, a new revision, the same comment.
        let answer = github.send_webhook(&hook, "pull_request", &event("synchronize", SHA_2)).await.expect("deliver");
        assert_eq!(answer.status, 202, "{}", answer.body);
        wait_for_preview(&app, 2).await;
        let comments = github.comments("acme", &team.team, 7);
        assert_eq!(comments.len(), 1, "edited, never duplicated");
        assert!(comments[0].body.contains("b3f1c2d"), "{}", comments[0].body);

        // GitHub shows the preview as a transient environment.
        let previews: Vec<_> = github
            .deployments("acme", &team.team)
            .into_iter()
            .filter(|d| d.environment == "pr-7")
            .collect();
        assert!(!previews.is_empty());
        assert!(previews.iter().all(|d| d.transient_environment && !d.production_environment));

        // Closing it removes the preview's objects and says so in the same comment.
        let answer = github.send_webhook(&hook, "pull_request", &event("closed", SHA_2)).await.expect("deliver");
        assert_eq!(answer.status, 202, "{}", answer.body);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while deployments.get_opt("checkout").await.expect("get").is_some() {
            assert!(tokio::time::Instant::now() < deadline, "the preview was not removed");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let services: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(team.client.clone(), &preview_ns);
        assert!(services.get_opt("checkout").await.expect("get").is_none());
        let comments = github.comments("acme", &team.team, 7);
        assert_eq!(comments.len(), 1);
        assert!(comments[0].body.contains("removed (the pull request was closed)"), "{}", comments[0].body);
        assert!(comments[0].body.contains("No preview is running any more."), "{}", comments[0].body);
        // The standing environment was never touched.
        let dev: Api<Deployment> = Api::namespaced(team.client.clone(), &team.namespace());
        assert!(dev.get_opt("checkout").await.expect("get").is_none());
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(team.client.clone());
        let _ = namespaces.delete(&preview_ns, &Default::default()).await;
        app.stop().await;
    })
    .await;
}

/// Waits until revision `revision` of the `pr-7` preview has succeeded.
async fn wait_for_preview(app: &TestApp, revision: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM deploys WHERE environment = 'pr-7' AND revision = $1",
        )
        .bind(revision)
        .fetch_optional(&app.pool)
        .await
        .expect("deploys");
        if status.as_deref() == Some("succeeded") {
            return;
        }
        let outcome: Option<Option<String>> = sqlx::query_scalar(
            "SELECT outcome FROM github_deliveries ORDER BY received_at DESC LIMIT 1",
        )
        .fetch_optional(&app.pool)
        .await
        .expect("delivery");
        assert!(
            tokio::time::Instant::now() < deadline,
            "preview revision {revision}: {status:?}; last delivery: {outcome:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
