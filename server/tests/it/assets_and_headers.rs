//! Security headers, compression and cache headers for hashed assets.

use crate::support::TestApp;

fn site_with_bundle() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let hash = "0123456789abcdef0123";
    let pkg = dir.path().join("pkg").join(hash);
    std::fs::create_dir_all(&pkg).expect("mkdir");
    std::fs::write(
        pkg.join("canopy.js"),
        "export default function(){}\n".repeat(200),
    )
    .expect("write");
    std::fs::write(pkg.join("canopy.css"), "body{}").expect("write");
    std::fs::write(
        dir.path().join("manifest.json"),
        format!("{{\"pkg_dir\":\"pkg/{hash}\"}}"),
    )
    .expect("write");
    (dir, hash.to_owned())
}

#[tokio::test]
async fn pages_carry_a_csp_whose_nonce_matches_the_hydration_script() {
    let (site, hash) = site_with_bundle();
    let app = TestApp::spawn_with_site(site.path().to_path_buf()).await;
    let response = app
        .client
        .get(app.url("/services"))
        .send()
        .await
        .expect("GET");
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("CSP header")
        .to_owned();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let html = response.text().await.expect("body");

    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("nonce in CSP");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "script nonce differs: {csp}"
    );
    assert!(csp.contains("'wasm-unsafe-eval'"));
    assert!(!csp.contains("'unsafe-inline'") && !csp.contains("'unsafe-eval'"));
    assert!(
        html.contains(&format!("/pkg/{hash}/canopy.js")),
        "bundle not referenced: {html}"
    );
    assert!(html.contains(&format!("/pkg/{hash}/canopy.css")));

    // Each page gets a fresh nonce.
    let second = app
        .client
        .get(app.url("/services"))
        .send()
        .await
        .expect("GET");
    assert_ne!(
        second.headers()["content-security-policy"].to_str().ok(),
        Some(csp.as_str())
    );
    app.stop().await;
}

#[tokio::test]
async fn hashed_assets_are_cached_for_a_year_and_compressed() {
    let (site, hash) = site_with_bundle();
    let app = TestApp::spawn_with_site(site.path().to_path_buf()).await;
    let response = app
        .client
        .get(app.url(&format!("/pkg/{hash}/canopy.js")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(response.headers()["content-encoding"], "gzip");

    let page = app
        .client
        .get(app.url("/services"))
        .send()
        .await
        .expect("GET");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    app.stop().await;
}

#[tokio::test]
async fn unknown_pages_are_404_with_a_way_back() {
    let app = TestApp::spawn().await;
    let (status, html) = app.get_html("/no/such/page").await;
    assert_eq!(status, 404);
    assert!(html.contains("Page not found"));
    app.stop().await;
}
