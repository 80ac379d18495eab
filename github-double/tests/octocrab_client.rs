//! The double as octocrab (Canopy's GitHub client) sees it: App JWT, installation lookup,
//! installation tokens (cached, refreshed), file contents, deployments and statuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use canopy_github_double::{
    AuthKind, DeploymentState, GithubDouble, RepoOptions, APP_ID, APP_PRIVATE_KEY_PEM,
};
use octocrab::models::AppId;
use octocrab::Octocrab;
use serde_json::{json, Value};

fn app_client(double: &GithubDouble) -> Octocrab {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(APP_PRIVATE_KEY_PEM.as_bytes()).unwrap();
    Octocrab::builder()
        .base_uri(double.url())
        .unwrap()
        .app(AppId(APP_ID), key)
        .build()
        .unwrap()
}

async fn double_with_private_repo() -> GithubDouble {
    let double = GithubDouble::start().await.unwrap();
    double
        .add_repo("acme", "shop", RepoOptions::private_installed())
        .unwrap();
    double
        .put_file(
            "acme",
            "shop",
            "main",
            "canopy.yaml",
            "service: shop\nport: 8080\n",
        )
        .unwrap();
    double
}

#[tokio::test]
async fn octocrab_reads_a_file_and_deploys_as_the_installation() {
    let double = double_with_private_repo().await;
    let app = app_client(&double);

    let me: Value = app.get("/app", None::<&()>).await.unwrap();
    assert_eq!(me["id"], APP_ID);
    assert_eq!(me["slug"], "canopy-test");

    let installation = app
        .apps()
        .get_repository_installation("acme", "shop")
        .await
        .unwrap();
    assert_eq!(Some(installation.id.0), double.installation_id("acme"));
    assert_eq!(installation.account.login, "acme");

    let github = app.installation(installation.id).unwrap();
    let mut contents = github
        .repos("acme", "shop")
        .get_content()
        .path("canopy.yaml")
        .r#ref("main")
        .send()
        .await
        .unwrap();
    let file = contents.take_items().remove(0);
    assert_eq!(
        file.decoded_content().unwrap(),
        "service: shop\nport: 8080\n"
    );
    assert_eq!(file.path, "canopy.yaml");

    let deployment: Value = github
        .post(
            "/repos/acme/shop/deployments",
            Some(&json!({
                "ref": "main",
                "environment": "staging",
                "auto_merge": false,
                "required_contexts": [],
                "description": "Canopy deploy",
            })),
        )
        .await
        .unwrap();
    let head = double.deployments("acme", "shop")[0].sha.clone();
    assert_eq!(deployment["sha"], head.as_str());
    assert_eq!(deployment["task"], "deploy");
    assert_eq!(deployment["creator"]["login"], "canopy-test[bot]");
    let id = deployment["id"].as_u64().unwrap();

    let status: Value = github
        .post(
            format!("/repos/acme/shop/deployments/{id}/statuses"),
            Some(&json!({
                "state": "success",
                "environment_url": "https://shop.staging.example",
                "log_url": "https://canopy.example/deploys/1",
            })),
        )
        .await
        .unwrap();
    assert_eq!(status["state"], "success");
    assert_eq!(status["environment"], "staging");

    let recorded = double.deployments("acme", "shop");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].environment, "staging");
    assert_eq!(recorded[0].statuses[0].state, DeploymentState::Success);
    assert_eq!(
        recorded[0].statuses[0].environment_url,
        "https://shop.staging.example"
    );

    // One token served all three installation requests.
    assert_eq!(double.tokens_issued(installation.id.0), 1);
    let kinds: Vec<(String, AuthKind, u16)> = double
        .requests()
        .into_iter()
        .map(|request| (request.path, request.auth, request.status))
        .collect();
    let installation_id = installation.id.0;
    assert_eq!(
        kinds,
        vec![
            ("/app".to_owned(), AuthKind::Jwt, 200),
            (
                "/repos/acme/shop/installation".to_owned(),
                AuthKind::Jwt,
                200
            ),
            (
                format!("/app/installations/{installation_id}/access_tokens"),
                AuthKind::Jwt,
                201
            ),
            (
                "/repos/acme/shop/contents/canopy.yaml".to_owned(),
                AuthKind::InstallationToken,
                200
            ),
            (
                "/repos/acme/shop/deployments".to_owned(),
                AuthKind::InstallationToken,
                201
            ),
            (
                format!("/repos/acme/shop/deployments/{id}/statuses"),
                AuthKind::InstallationToken,
                201
            ),
        ]
    );
    double.stop().await;
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_by_octocrab() {
    let double = double_with_private_repo().await;
    // octocrab refreshes a token that expires within 30 seconds.
    double.set_token_lifetime(Duration::from_secs(20));
    let installation_id = double.installation_id("acme").unwrap();
    let github = app_client(&double)
        .installation(installation_id.into())
        .unwrap();
    for _ in 0..2 {
        let repo = github.repos("acme", "shop").get().await.unwrap();
        assert_eq!(repo.full_name.as_deref(), Some("acme/shop"));
    }
    assert_eq!(double.tokens_issued(installation_id), 2);
}

#[tokio::test]
async fn octocrab_sees_githubs_validation_errors() {
    let double = double_with_private_repo().await;
    let installation_id = double.installation_id("acme").unwrap();
    let github = app_client(&double)
        .installation(installation_id.into())
        .unwrap();
    let deployment: Value = github
        .post(
            "/repos/acme/shop/deployments",
            Some(&json!({ "ref": "main", "required_contexts": [] })),
        )
        .await
        .unwrap();
    let id = deployment["id"].as_u64().unwrap();
    let error = github
        .post::<_, Value>(
            format!("/repos/acme/shop/deployments/{id}/statuses"),
            Some(&json!({ "state": "success", "description": "x".repeat(141) })),
        )
        .await
        .unwrap_err();
    let octocrab::Error::GitHub { source, .. } = error else {
        panic!("expected a GitHub error, got {error:?}");
    };
    assert_eq!(source.status_code, 422);
    assert_eq!(source.message, "Validation Failed");
    assert_eq!(
        source.errors.unwrap()[0]["message"],
        "description is too long (maximum is 140 characters)"
    );
    // 140 characters are fine.
    let _: Value = github
        .post(
            format!("/repos/acme/shop/deployments/{id}/statuses"),
            Some(&json!({ "state": "in_progress", "description": "x".repeat(140) })),
        )
        .await
        .unwrap();
}
