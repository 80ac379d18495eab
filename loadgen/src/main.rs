//! `canopy-loadgen`: a closed-loop load on a running Canopy. `--clients` concurrent clients in
//! all: `--nodes` simulated nodes sending energy batches (each with its own node token, one
//! interval after another, never overlapping), `--followers` SSE followers of a service's live
//! rollout events (held open for the whole run), and the rest cycling through pages, server
//! functions and REST routes. Every response is checked (status and a content marker); errors
//! are counted per route and kind; latency p50/p99 per route; ingest totals checked against the
//! server's own counters. Prints a report (and writes it as JSON with `--report`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use canopy_protocol::{EnergySource, IngestBatch, IntervalSample, PodEnergy, ZoneEnergy};
use clap::Parser;
use reqwest::{header, Client, Method, StatusCode};
use serde_json::json;
use time::OffsetDateTime;

#[derive(Parser, Debug)]
#[command(about = "Load client for Canopy's reliability suite")]
struct Args {
    /// Canopy's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    base_url: String,
    /// How long the load runs (after setup).
    #[arg(long, default_value_t = 600)]
    duration_secs: u64,
    /// Concurrent clients in all (nodes + followers + request clients).
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Simulated nodes sending energy batches.
    #[arg(long, default_value_t = 50)]
    nodes: usize,
    /// SSE followers of a service's live rollout events.
    #[arg(long, default_value_t = 20)]
    followers: usize,
    /// The bootstrap API token (CANOPY_API_TOKEN of the server).
    #[arg(long, env = "CANOPY_API_TOKEN")]
    api_token: String,
    /// The admin's password (for the pages, server functions and SSE: a signed-in session).
    #[arg(long, env = "CANOPY_ADMIN_PASSWORD")]
    admin_password: String,
    /// Cluster name of the simulated nodes (their node tokens are created for it).
    #[arg(long, default_value = "load")]
    cluster: String,
    /// Write the report as JSON here too.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

/// What one route's requests gave.
#[derive(Default)]
struct RouteStats {
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Stats {
    routes: Mutex<BTreeMap<&'static str, RouteStats>>,
}

impl Stats {
    fn record(&self, route: &'static str, elapsed: Duration, error: Option<String>) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let entry = routes.entry(route).or_default();
        match error {
            None => entry
                .latencies_us
                .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)),
            Some(kind) => *entry.errors.entry(kind).or_insert(0) += 1,
        }
    }
}

/// One request route of the request clients: method, path, body, the status and the text
/// its answer must have.
struct Route {
    name: &'static str,
    method: Method,
    path: String,
    /// Form body (server functions) or JSON body (REST), if any.
    body: Option<Body>,
    session: bool,
    status: StatusCode,
    marker: &'static str,
}

enum Body {
    Form(&'static str),
}

fn routes() -> Vec<Route> {
    let page = |name, path: &str, marker| Route {
        name,
        method: Method::GET,
        path: path.to_owned(),
        body: None,
        session: true,
        status: StatusCode::OK,
        marker,
    };
    let server_fn = |name, endpoint: &str, form, marker| Route {
        name,
        method: Method::POST,
        path: format!("/api/fn/{endpoint}"),
        body: Some(Body::Form(form)),
        session: true,
        status: StatusCode::OK,
        marker,
    };
    let rest = |name, path: &str, marker| Route {
        name,
        method: Method::GET,
        path: path.to_owned(),
        body: None,
        session: false,
        status: StatusCode::OK,
        marker,
    };
    vec![
        page("page /", "/", "data-testid=\"home-attention\""),
        page("page /services", "/services", "</html>"),
        page("page /energy", "/energy", "</html>"),
        page("page /teams", "/teams", "</html>"),
        page("page /dependencies", "/dependencies", "</html>"),
        server_fn("fn current_user", "current_user", "", "admin"),
        server_fn("fn list_services", "list_services", "", "["),
        server_fn("fn list_teams", "list_teams", "", "["),
        server_fn(
            "fn load_energy_overview",
            "load_energy_overview",
            "period=24h&from=&to=",
            "{",
        ),
        rest(
            "GET /api/v1/energy/overview",
            "/api/v1/energy/overview?period=24h",
            "\"",
        ),
        rest(
            "GET /api/v1/energy/series",
            "/api/v1/energy/series?cluster=load&node=load-node-0",
            "\"series\"",
        ),
        rest("GET /api/v1/dependencies", "/api/v1/dependencies", "\""),
        rest("GET /api/v1/tokens", "/api/v1/tokens", "["),
        rest("GET /healthz", "/healthz", "ok"),
        rest("GET /readyz", "/readyz", "\"ready\""),
    ]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = args.base_url.trim_end_matches('/').to_owned();
    let request_clients = args
        .clients
        .checked_sub(args.nodes + args.followers)
        .filter(|n| *n > 0)
        .context("--clients must be more than --nodes + --followers")?;

    // A signed-in session for pages, server functions and SSE (unsafe requests name their
    // origin, as a browser does).
    let mut headers = header::HeaderMap::new();
    headers.insert(header::ORIGIN, header::HeaderValue::from_str(&base)?);
    let session = Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(60))
        .build()?;
    let answer = session
        .post(format!("{base}/signin"))
        .form(&[
            ("username", "admin"),
            ("password", args.admin_password.as_str()),
            ("next", "/services"),
        ])
        .send()
        .await?;
    let status = answer.status();
    let text = answer.text().await?;
    if !status.is_success() || text.contains("name=\"password\"") {
        bail!("signing in as admin failed: {status}");
    }
    let bearer = Client::builder()
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(60))
        .build()?;

    // One node token per simulated node.
    let mut tokens = Vec::new();
    for i in 0..args.nodes {
        let node = format!("{}-node-{i}", args.cluster);
        let answer = bearer
            .post(format!("{base}/api/v1/energy/node-tokens"))
            .bearer_auth(&args.api_token)
            .json(&json!({"cluster": args.cluster, "node": node, "created_by": "loadgen"}))
            .send()
            .await?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await?;
        let token = body["token"]
            .as_str()
            .with_context(|| format!("creating the node token of {node}: {status} {body}"))?;
        tokens.push((node, token.to_owned()));
    }
    let stats_before = ingest_stats(&bearer, &base, &args.api_token).await?;

    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stored = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();

    for (i, (node, token)) in tokens.into_iter().enumerate() {
        let (client, base, stats, stop, stored) = (
            bearer.clone(),
            base.clone(),
            Arc::clone(&stats),
            Arc::clone(&stop),
            Arc::clone(&stored),
        );
        tasks.push(tokio::spawn(async move {
            node_loop(i, node, token, client, base, stats, stop, stored).await
        }));
    }
    let followers_open = Arc::new(AtomicU64::new(0));
    let keepalives = Arc::new(AtomicU64::new(0));
    for _ in 0..args.followers {
        let (client, base, stats, stop, open, keepalives) = (
            session.clone(),
            base.clone(),
            Arc::clone(&stats),
            Arc::clone(&stop),
            Arc::clone(&followers_open),
            Arc::clone(&keepalives),
        );
        tasks.push(tokio::spawn(async move {
            follower(client, base, stats, stop, open, keepalives).await
        }));
    }
    let routes = Arc::new(routes());
    for i in 0..request_clients {
        let (session, bearer, base, stats, stop, routes, token) = (
            session.clone(),
            bearer.clone(),
            base.clone(),
            Arc::clone(&stats),
            Arc::clone(&stop),
            Arc::clone(&routes),
            args.api_token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut k = i;
            while !stop.load(Ordering::Relaxed) {
                let route = &routes[k % routes.len()];
                k += 1;
                let client = if route.session { &session } else { &bearer };
                let mut request =
                    client.request(route.method.clone(), format!("{base}{}", route.path));
                if !route.session {
                    request = request.bearer_auth(&token);
                }
                if let Some(Body::Form(form)) = &route.body {
                    request = request
                        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(*form);
                }
                let t0 = Instant::now();
                let error = check(request.send().await, route.status, route.marker).await;
                stats.record(route.name, t0.elapsed(), error);
            }
        }));
    }

    // Progress once a minute.
    let budget = Duration::from_secs(args.duration_secs);
    while started.elapsed() < budget {
        tokio::time::sleep(Duration::from_secs(60).min(budget.saturating_sub(started.elapsed())))
            .await;
        let (ok, errors) = totals(&stats);
        eprintln!(
            "{:>4}s: {ok} ok, {errors} errors, {} batches stored, {} followers open",
            started.elapsed().as_secs(),
            stored.load(Ordering::Relaxed),
            followers_open.load(Ordering::Relaxed)
        );
    }
    let followers_at_end = followers_open.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(70), task).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats_after = ingest_stats(&bearer, &base, &args.api_token).await?;
    let server_stored = stats_after.0 - stats_before.0;
    let client_stored = stored.load(Ordering::Relaxed);

    // The report.
    let mut report = json!({
        "duration_secs": elapsed.round(),
        "clients": args.clients,
        "request_clients": request_clients,
        "nodes": args.nodes,
        "followers": args.followers,
        "followers_open_at_end": followers_at_end,
        "sse_keepalives_received": keepalives.load(Ordering::Relaxed),
        "ingest_batches_acknowledged": client_stored,
        "ingest_batches_stored_by_server": server_stored,
        "ingest_pod_samples_stored_by_server": stats_after.1 - stats_before.1,
        "routes": {},
    });
    println!(
        "{:<32} {:>9} {:>8} {:>9} {:>9} {:>9}  errors",
        "route", "ok", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    let routes = stats.routes.lock().unwrap_or_else(|e| e.into_inner());
    let mut all_errors = 0;
    for (name, route) in routes.iter() {
        let mut l = route.latencies_us.clone();
        l.sort_unstable();
        let pct = |p: f64| -> f64 {
            if l.is_empty() {
                return 0.0;
            }
            let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
            l[i] as f64 / 1000.0
        };
        let errors: u64 = route.errors.values().sum();
        all_errors += errors;
        println!(
            "{name:<32} {:>9} {:>8.1} {:>9.1} {:>9.1} {:>9.1}  {errors} {:?}",
            l.len(),
            l.len() as f64 / elapsed,
            pct(0.5),
            pct(0.99),
            l.last().map_or(0.0, |m| *m as f64 / 1000.0),
            route.errors
        );
        report["routes"][*name] = json!({
            "ok": l.len(), "per_sec": l.len() as f64 / elapsed,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "max_ms": l.last().map_or(0.0, |m| *m as f64 / 1000.0),
            "errors": route.errors,
        });
    }
    report["errors"] = json!(all_errors);
    println!(
        "errors: {all_errors}; ingest: {client_stored} batches acknowledged (201), {server_stored} \
         stored by the server's counters; SSE: {followers_at_end}/{} followers open at the end, {} \
         keep-alives",
        args.followers,
        keepalives.load(Ordering::Relaxed)
    );
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if all_errors > 0 || client_stored != server_stored || followers_at_end != args.followers as u64
    {
        std::process::exit(1);
    }
    Ok(())
}

fn totals(stats: &Stats) -> (usize, u64) {
    let routes = stats.routes.lock().unwrap_or_else(|e| e.into_inner());
    (
        routes.values().map(|r| r.latencies_us.len()).sum(),
        routes.values().flat_map(|r| r.errors.values()).sum(),
    )
}

/// The error kind of an answer, or `None` when it has the status and the marker.
async fn check(
    answer: reqwest::Result<reqwest::Response>,
    expected: StatusCode,
    marker: &str,
) -> Option<String> {
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) if e.is_timeout() => return Some("timeout".to_owned()),
        Err(e) if e.is_connect() => return Some("connect".to_owned()),
        Err(_) => return Some("transport".to_owned()),
    };
    let status = answer.status();
    let text = match answer.text().await {
        Ok(text) => text,
        Err(_) => return Some("body".to_owned()),
    };
    if status != expected {
        return Some(format!("status {}", status.as_u16()));
    }
    if !text.contains(marker) {
        return Some("marker missing".to_owned());
    }
    None
}

/// (stored batches, stored pod samples) from the server's ingest counters.
async fn ingest_stats(client: &Client, base: &str, token: &str) -> anyhow::Result<(u64, u64)> {
    let body: serde_json::Value = client
        .get(format!("{base}/api/v1/energy/ingest-stats"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok((
        body["stored_batches"].as_u64().context("stored_batches")?,
        body["stored_pod_samples"]
            .as_u64()
            .context("stored_pod_samples")?,
    ))
}

/// One simulated node: batches of one 1-second interval each, consecutive, starting two days
/// ago (inside the raw retention window, never in the future during a run of under two days),
/// with three pods; every batch conserved, as an agent's are.
#[allow(clippy::too_many_arguments)]
async fn node_loop(
    index: usize,
    node: String,
    token: String,
    client: Client,
    base: String,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    stored: Arc<AtomicU64>,
) {
    let origin = OffsetDateTime::now_utc() - time::Duration::days(2);
    let origin = origin.replace_nanosecond(0).unwrap_or(origin);
    let mut k: i64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let start = origin + time::Duration::seconds(k);
        let end = start + time::Duration::seconds(1);
        k += 1;
        let pods: Vec<PodEnergy> = (0..3)
            .map(|p| PodEnergy {
                pod_uid: format!("00000000-0000-4000-8000-{index:06}{p:06}"),
                namespace: Some("load".to_owned()),
                pod: Some(format!("web-{p}")),
                container: Some("web".to_owned()),
                container_id: None,
                labels: BTreeMap::from([
                    ("canopy.dev/team".to_owned(), "load".to_owned()),
                    ("canopy.dev/service".to_owned(), format!("web-{p}")),
                ]),
                energy_joules: 10.0,
            })
            .collect();
        let sample = IntervalSample {
            start,
            end,
            source: EnergySource::Simulated,
            host_energy_joules: 100.0,
            idle_energy_joules: 50.0,
            system_energy_joules: 20.0,
            zones: vec![ZoneEnergy {
                zone: "cpu".to_owned(),
                energy_joules: 100.0,
            }],
            pods,
        };
        let batch = IngestBatch::new(node.clone(), vec![sample]);
        let t0 = Instant::now();
        let answer = client
            .post(format!("{base}/api/v1/ingest"))
            .bearer_auth(&token)
            .json(&batch)
            .send()
            .await;
        let error = check(answer, StatusCode::CREATED, "\"batch_id\"").await;
        if error.is_none() {
            stored.fetch_add(1, Ordering::Relaxed);
        }
        stats.record("POST /api/v1/ingest", t0.elapsed(), error);
    }
}

/// One SSE follower: opens the live rollout stream of a service and reads it until the run
/// ends. A stream that fails or ends early is an error, and is opened again.
async fn follower(
    client: Client,
    base: String,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    open: Arc<AtomicU64>,
    keepalives: Arc<AtomicU64>,
) {
    const ROUTE: &str = "SSE /ui/live (open)";
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let answer = client
            .get(format!("{base}/ui/live/load/web-0/dev"))
            .header(header::ACCEPT, "text/event-stream")
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await;
        let mut answer = match answer {
            Ok(a)
                if a.status() == StatusCode::OK
                    && a.headers()
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("text/event-stream")) =>
            {
                a
            }
            Ok(a) => {
                stats.record(ROUTE, t0.elapsed(), Some(format!("status {}", a.status())));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => {
                stats.record(ROUTE, t0.elapsed(), Some("transport".to_owned()));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        stats.record(ROUTE, t0.elapsed(), None);
        open.fetch_add(1, Ordering::Relaxed);
        let ended_early = loop {
            tokio::select! {
                chunk = answer.chunk() => match chunk {
                    Ok(Some(bytes)) => {
                        if bytes.starts_with(b":") {
                            keepalives.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(None) | Err(_) => break true,
                },
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    if stop.load(Ordering::Relaxed) {
                        break false;
                    }
                }
            }
        };
        open.fetch_sub(1, Ordering::Relaxed);
        if ended_early && !stop.load(Ordering::Relaxed) {
            stats.record(
                "SSE /ui/live (held)",
                t0.elapsed(),
                Some("ended early".to_owned()),
            );
        }
    }
}
