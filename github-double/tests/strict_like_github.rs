//! The double refuses what GitHub refuses: no User-Agent, bad or over-long JWTs, tokens it did
//! not issue or that expired, tokens of another installation, anonymous access to private
//! repositories; and it answers bodies, refs, check runs, comments and faults like GitHub.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use canopy_github_double::{CheckConclusion, CheckStatus, GithubDouble, RepoOptions, APP_ID};
use serde_json::{json, Value};
use support::{api, app_jwt, get, installation_token, jwt_with, now_unix, post};

async fn double() -> GithubDouble {
    let double = GithubDouble::start().await.unwrap();
    double
        .add_repo("acme", "shop", RepoOptions::private_installed())
        .unwrap();
    double
        .add_repo("acme", "docs", RepoOptions::default())
        .unwrap();
    double
        .add_repo("globex", "web", RepoOptions::private_installed())
        .unwrap();
    double
        .add_repo("globex", "site", RepoOptions::default())
        .unwrap();
    double
        .put_file("acme", "shop", "main", "canopy.yaml", "service: shop\n")
        .unwrap();
    double
        .put_file("acme", "docs", "main", "canopy.yaml", "service: docs\n")
        .unwrap();
    double
}

#[tokio::test]
async fn requests_without_a_user_agent_are_forbidden() {
    let double = double().await;
    let response = reqwest::Client::new()
        .get(api(&double, "/repos/acme/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("Request forbidden by administrative rules. Please make sure your request has a User-Agent header"));
    assert_eq!(double.requests()[0].status, 403);
}

#[tokio::test]
async fn app_endpoints_take_only_a_valid_app_jwt() {
    let double = double().await;
    let now = now_unix();
    let bearer = |jwt: String| format!("Bearer {jwt}");

    assert_eq!(get(&double, "/app", Some(&bearer(app_jwt()))).await.0, 200);
    // iss as a string is accepted, as GitHub does.
    let string_iss =
        jwt_with(&json!({ "iss": APP_ID.to_string(), "iat": now - 60, "exp": now + 540 }));
    assert_eq!(get(&double, "/app", Some(&bearer(string_iss))).await.0, 200);

    let not_decoded = json!({
        "message": "A JSON web token could not be decoded",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    });
    // Change one character well inside the signature (the last one carries padding bits that
    // decoders may ignore), always to a different one.
    let jwt = app_jwt();
    let at = jwt.len() - 10;
    let changed = if &jwt[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{changed}{}", &jwt[..at], &jwt[at + 1..]);
    assert_eq!(
        get(&double, "/app", Some(&bearer(tampered))).await,
        (401, not_decoded.clone())
    );
    let other_app = jwt_with(&json!({ "iss": 1, "iat": now - 60, "exp": now + 540 }));
    assert_eq!(
        get(&double, "/app", Some(&bearer(other_app))).await,
        (401, not_decoded.clone())
    );
    assert_eq!(get(&double, "/app", None).await, (401, not_decoded.clone()));

    let too_long = jwt_with(&json!({ "iss": APP_ID, "iat": now, "exp": now + 1200 }));
    let (status, body) = get(&double, "/app", Some(&bearer(too_long))).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["message"],
        "'Expiration time' claim ('exp') is too far in the future"
    );
    let expired = jwt_with(&json!({ "iss": APP_ID, "iat": now - 700, "exp": now - 100 }));
    assert_eq!(get(&double, "/app", Some(&bearer(expired))).await.0, 401);
    let no_iat = jwt_with(&json!({ "iss": APP_ID, "exp": now + 300 }));
    assert_eq!(get(&double, "/app", Some(&bearer(no_iat))).await.0, 401);

    // An installation token is no App JWT.
    let token = installation_token(&double, "acme").await;
    let (status, body) = get(&double, "/app", Some(&format!("token {token}"))).await;
    assert_eq!((status, body), (401, not_decoded));
    // And a JWT is no credential for repositories.
    let (status, body) = get(&double, "/repos/acme/shop", Some(&bearer(app_jwt()))).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Bad credentials");
}

#[tokio::test]
async fn repository_endpoints_take_only_issued_unexpired_tokens() {
    let double = double().await;
    let token = installation_token(&double, "acme").await;
    assert!(token.starts_with("ghs_") && token.len() == 40);
    for scheme in ["token", "Bearer"] {
        let (status, body) = get(
            &double,
            "/repos/acme/shop",
            Some(&format!("{scheme} {token}")),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["full_name"], "acme/shop");
        assert_eq!(body["private"], true);
    }
    let bad_credentials = json!({
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    });
    let made_up = format!("token ghs_{}", "a".repeat(36));
    assert_eq!(
        get(&double, "/repos/acme/shop", Some(&made_up)).await,
        (401, bad_credentials.clone())
    );
    // Refused credentials are refused even where no credentials are needed.
    assert_eq!(
        get(&double, "/repos/acme/docs", Some(&made_up)).await.0,
        401
    );

    double.set_token_lifetime(Duration::ZERO);
    let expired = installation_token(&double, "acme").await;
    let (status, body) = get(
        &double,
        "/repos/acme/shop",
        Some(&format!("token {expired}")),
    )
    .await;
    assert_eq!((status, body), (401, bad_credentials));
}

#[tokio::test]
async fn a_token_sees_only_its_installations_repositories() {
    let double = double().await;
    let acme = format!("token {}", installation_token(&double, "acme").await);
    // GitHub hides private repositories the token cannot see, and refuses writes to public ones.
    let (status, body) = get(&double, "/repos/globex/web", Some(&acme)).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Not Found");
    assert_eq!(get(&double, "/repos/globex/site", Some(&acme)).await.0, 200);
    let (status, body) = post(
        &double,
        "/repos/globex/site/deployments",
        Some(&acme),
        &json!({ "ref": "main" }),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["message"], "Resource not accessible by integration");

    // Uninstalling a repository takes it away from existing tokens too.
    double.set_installed("acme", "shop", false).unwrap();
    assert_eq!(get(&double, "/repos/acme/shop", Some(&acme)).await.0, 404);
    let (status, _) = get(
        &double,
        "/repos/acme/shop/installation",
        Some(&format!("Bearer {}", app_jwt())),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn anonymous_callers_read_public_repositories_only() {
    let double = double().await;
    assert_eq!(get(&double, "/repos/acme/shop", None).await.0, 404);
    assert_eq!(
        get(&double, "/repos/acme/shop/contents/canopy.yaml", None)
            .await
            .0,
        404
    );
    let (status, body) = get(&double, "/repos/acme/docs", None).await;
    assert_eq!((status, body["private"].clone()), (200, json!(false)));
    let (status, body) = get(&double, "/repos/acme/docs/contents/canopy.yaml", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["encoding"], "base64");
    let (status, body) = post(
        &double,
        "/repos/acme/docs/deployments",
        None,
        &json!({ "ref": "main" }),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Requires authentication");
    assert_eq!(get(&double, "/repos/acme/missing", None).await.0, 404);
}

#[tokio::test]
async fn contents_follow_refs_and_wrap_base64_like_github() {
    let double = double().await;
    let token = format!("token {}", installation_token(&double, "acme").await);
    let old_head = "1111111111111111111111111111111111111111";
    let new_head = "2222222222222222222222222222222222222222";
    double
        .set_branch_head("acme", "shop", "main", old_head)
        .unwrap();
    let long = "x".repeat(100);
    double
        .put_file("acme", "shop", "main", "deploy/app.yaml", &long)
        .unwrap();
    double
        .set_branch_head("acme", "shop", "main", new_head)
        .unwrap();
    double
        .put_file("acme", "shop", "main", "deploy/app.yaml", "new")
        .unwrap();

    let (status, file) = get(
        &double,
        &format!("/repos/acme/shop/contents/deploy/app.yaml?ref={old_head}"),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    let content = file["content"].as_str().unwrap();
    assert!(content.lines().all(|line| line.len() <= 60));
    assert_eq!(content.lines().next().unwrap().len(), 60);
    assert!(content.ends_with('\n'));
    assert_eq!(file["size"], 100);
    assert_eq!(file["name"], "app.yaml");
    assert_eq!(file["type"], "file");

    let (_, file) = get(
        &double,
        "/repos/acme/shop/contents/deploy/app.yaml",
        Some(&token),
    )
    .await;
    assert_eq!(file["content"], "bmV3\n");
    // A file's sha is its git blob id (`git hash-object` of "new").
    assert_eq!(file["sha"], "3e5126c4e761fd09582fc517918a1601b218dff0");

    let (status, listing) = get(&double, "/repos/acme/shop/contents/deploy", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(listing[0]["path"], "deploy/app.yaml");
    for missing in [
        "/repos/acme/shop/contents/nope.yaml",
        "/repos/acme/shop/contents/canopy.yaml?ref=no-such-branch",
    ] {
        let (status, body) = get(&double, missing, Some(&token)).await;
        assert_eq!((status, body["message"].clone()), (404, json!("Not Found")));
    }
}

#[tokio::test]
async fn deployments_are_validated_like_github() {
    let double = double().await;
    let token = format!("token {}", installation_token(&double, "acme").await);
    let (status, body) = post(
        &double,
        "/repos/acme/shop/deployments",
        Some(&token),
        &json!({ "environment": "prod" }),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["message"],
        "Invalid request.\n\n\"ref\" wasn't supplied."
    );
    let (status, body) = post(
        &double,
        "/repos/acme/shop/deployments",
        Some(&token),
        &json!({ "ref": "main", "task": null }),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["message"],
        "Invalid request.\n\nFor 'properties/task', nil is not a string."
    );

    // Without required_contexts, every check on the commit must have passed.
    double
        .set_check_run(
            "acme",
            "shop",
            "main",
            "build",
            CheckStatus::InProgress,
            None,
        )
        .unwrap();
    let (status, body) = post(
        &double,
        "/repos/acme/shop/deployments",
        Some(&token),
        &json!({ "ref": "main" }),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        body["message"],
        "Conflict: Commit status checks failed for main."
    );
    double
        .set_check_run(
            "acme",
            "shop",
            "main",
            "build",
            CheckStatus::Completed,
            Some(CheckConclusion::Success),
        )
        .unwrap();
    let (status, deployment) = post(
        &double,
        "/repos/acme/shop/deployments",
        Some(&token),
        &json!({ "ref": "main" }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(deployment["environment"], "production");
    let id = deployment["id"].as_u64().unwrap();

    let statuses = format!("/repos/acme/shop/deployments/{id}/statuses");
    let (status, body) = post(
        &double,
        &statuses,
        Some(&token),
        &json!({ "state": "done" }),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("\"done\" is not one of"));
    let (status, _) = post(
        &double,
        "/repos/acme/shop/deployments/999/statuses",
        Some(&token),
        &json!({ "state": "success" }),
    )
    .await;
    assert_eq!(status, 404);
    for state in ["queued", "in_progress", "success"] {
        assert_eq!(
            post(&double, &statuses, Some(&token), &json!({ "state": state }))
                .await
                .0,
            201
        );
    }
    let (_, listed) = get(&double, &statuses, Some(&token)).await;
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|status| status["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["success", "in_progress", "queued"]);
    let (_, listed) = get(
        &double,
        "/repos/acme/shop/deployments?environment=production",
        Some(&token),
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let (_, runs) = get(
        &double,
        "/repos/acme/shop/commits/main/check-runs",
        Some(&token),
    )
    .await;
    assert_eq!(runs["total_count"], 1);
    assert_eq!(runs["check_runs"][0]["conclusion"], "success");
}

#[tokio::test]
async fn comments_are_created_edited_and_listed() {
    let double = double().await;
    let token = format!("token {}", installation_token(&double, "acme").await);
    let (status, comment) = post(
        &double,
        "/repos/acme/shop/issues/7/comments",
        Some(&token),
        &json!({ "body": "Preview building" }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(comment["user"]["login"], "canopy-test[bot]");
    assert_eq!(comment["user"]["type"], "Bot");
    let id = comment["id"].as_u64().unwrap();
    let edited = support::client()
        .patch(api(
            &double,
            &format!("/repos/acme/shop/issues/comments/{id}"),
        ))
        .header("Authorization", &token)
        .json(&json!({ "body": "Preview ready" }))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let (_, listed) = get(&double, "/repos/acme/shop/issues/7/comments", Some(&token)).await;
    assert_eq!(listed[0]["body"], "Preview ready");
    assert_eq!(double.comments("acme", "shop", 7)[0].body, "Preview ready");
    assert!(double.comments("acme", "shop", 8).is_empty());
}

#[tokio::test]
async fn injected_faults_answer_the_next_requests() {
    let double = double().await;
    double.fail_next("/repos/acme/docs", 503, 2);
    for _ in 0..2 {
        let (status, body) = get(&double, "/repos/acme/docs", None).await;
        assert_eq!(status, 503);
        assert_eq!(body["message"], "Service Unavailable");
    }
    assert_eq!(get(&double, "/repos/acme/docs", None).await.0, 200);
    let statuses: Vec<u16> = double
        .requests()
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
}
