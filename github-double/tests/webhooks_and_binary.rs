//! Webhooks arrive signed and shaped like GitHub's; the control API and the binary serve the
//! same double over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use canopy_github_double::{GithubDouble, PullRequestEvent, RepoOptions, WEBHOOK_SECRET};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on loopback that keeps what it gets and answers 202.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = Router::new().route(
        "/hooks/github",
        post(move |headers: HeaderMap, body: Bytes| async move {
            kept.lock().unwrap().push((headers, body));
            (axum::http::StatusCode::ACCEPTED, "queued")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/github", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn webhooks_are_signed_like_githubs() {
    let double = GithubDouble::start().await.unwrap();
    double
        .add_repo("acme", "shop", RepoOptions::private_installed())
        .unwrap();
    let after = "3333333333333333333333333333333333333333";
    double
        .set_branch_head("acme", "shop", "main", after)
        .unwrap();
    let (target, received) = receiver().await;

    let push = double.push_event("acme", "shop", "main", after).unwrap();
    assert_eq!(push["ref"], "refs/heads/main");
    assert_eq!(push["after"], after);
    assert_ne!(push["before"], after);
    assert_eq!(push["repository"]["full_name"], "acme/shop");
    assert_eq!(push["repository"]["private"], true);
    assert_eq!(
        push["installation"]["id"],
        double.installation_id("acme").unwrap()
    );
    assert_eq!(push["head_commit"]["id"], after);

    let answer = double.send_webhook(&target, "push", &push).await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (202, "queued"));

    let (headers, body) = received.lock().unwrap().remove(0);
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("x-github-event"), "push");
    assert_eq!(header("x-github-delivery"), answer.delivery);
    assert!(uuid::Uuid::parse_str(&answer.delivery).is_ok());
    assert_eq!(header("user-agent"), "GitHub-Hookshot/abc1234");
    assert_eq!(header("content-type"), "application/json");
    assert!(headers.contains_key("x-github-hook-id"));
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let signature = header("x-hub-signature-256");
    let hex_signature = signature.strip_prefix("sha256=").unwrap();
    mac.verify_slice(&hex::decode(hex_signature).unwrap())
        .unwrap();
    assert_eq!(double.sign(&body), signature);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), push);

    let fork = double
        .pull_request_event(&PullRequestEvent {
            action: "opened",
            owner: "acme",
            repo: "shop",
            number: 12,
            head_sha: "4444444444444444444444444444444444444444",
            head_ref: "feature",
            from_fork: true,
        })
        .unwrap();
    assert_eq!(
        fork["pull_request"]["head"]["repo"]["full_name"],
        "octo-fork/shop"
    );
    assert_eq!(fork["pull_request"]["head"]["repo"]["fork"], true);
    assert_eq!(
        fork["pull_request"]["base"]["repo"]["full_name"],
        "acme/shop"
    );
    assert_eq!(fork["pull_request"]["base"]["ref"], "main");
    assert_eq!(fork["number"], 12);
}

#[tokio::test]
async fn the_control_api_sets_up_and_reports() {
    let double = GithubDouble::start().await.unwrap();
    let control = reqwest::Client::new();
    let url = |path: &str| format!("{}{}", double.url(), path);
    let created = control
        .post(url("_double/repos"))
        .json(&json!({ "owner": "acme", "name": "shop", "private": true, "default_branch": "main", "installed": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let file = control
        .put(url("_double/repos/acme/shop/files"))
        .json(&json!({ "ref": "main", "path": "canopy.yaml", "content": "service: shop\n" }))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    let fault = control
        .post(url("_double/faults"))
        .json(&json!({ "path_prefix": "/repos/", "status": 502, "count": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(fault.status(), 204);

    let token = support::installation_token(&double, "acme").await;
    let auth = format!("token {token}");
    assert_eq!(
        support::get(&double, "/repos/acme/shop", Some(&auth))
            .await
            .0,
        502
    );
    assert_eq!(
        support::get(
            &double,
            "/repos/acme/shop/contents/canopy.yaml",
            Some(&auth)
        )
        .await
        .0,
        200
    );

    let requests: Value = control
        .get(url("_double/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = &requests.as_array().unwrap()[2];
    assert_eq!(last["method"], "GET");
    assert_eq!(last["path"], "/repos/acme/shop/contents/canopy.yaml");
    assert_eq!(last["auth"], "installation_token");
    assert_eq!(last["status"], 200);
    let unknown = control
        .put(url("_double/repos/acme/nope/installed"))
        .json(&json!({ "installed": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn the_binary_serves_a_seeded_double() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/seed-example.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_canopy-github-double"))
        .args(["--listen", "127.0.0.1:0", "--seed", seed])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_prefix("github-double listening on ")
        .and_then(|rest| rest.strip_suffix(" (app id 424242)\n"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let repo: Value = support::client()
        .get(format!("{url}repos/acme/docs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(repo["full_name"], "acme/docs");
    let hidden = support::client()
        .get(format!("{url}repos/acme/shop"))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 404);
    child.kill().unwrap();
    child.wait().unwrap();
}
