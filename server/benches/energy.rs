//! Energy benchmarks (prints figures; asserts nothing about time):
//! 1. ingest throughput through `POST /api/v1/ingest` (the real server, concurrent nodes)
//!    against `COPY` of the same pod rows into the raw table, in the same run;
//! 2. the 90-day chart query for one service with 10,000 services of history loaded (p50/p99).
//!
//! `DATABASE_URL=postgres://... cargo bench -p canopy-server --bench energy`
//! Optional: `BENCH_BATCHES` (per node, default 200), `BENCH_NODES` (default 8),
//! `BENCH_PODS` (default 100), `BENCH_SERVICES` (default 10000), `BENCH_RUNS` (ingest and COPY
//! rounds, default 1; with more, the median of each figure is printed too),
//! `BENCH_SKIP_QUERIES=1` (ingest only).
//!
//! Seeding for `scripts/bench-energy-overview.sh`: with `BENCH_SEED_ONLY=1`, migrates the
//! database `DATABASE_URL` names (not a fresh one), loads `BENCH_SERVICES` services × 2 nodes ×
//! 90 days of daily and 7 days of hourly rollups, and exits.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Instant};

use canopy_protocol::{EnergySource, IngestBatch, IntervalSample, PodEnergy};
use canopy_server::{
    config::{DatabaseSettings, Settings},
    db,
    energy::{
        carbon::CarbonSettings,
        query::{EnergyQuery, Selection},
    },
    startup::Application,
};
use secrecy::SecretString;
use sqlx::{postgres::PgPoolOptions, Connection, Executor, PgConnection, PgPool};
use time::{Duration, OffsetDateTime};

const API_TOKEN: &str = "bench-token-0123456789abcdef";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn fresh_database(admin_url: &str) -> String {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .expect("connect DATABASE_URL");
    let name = format!("canopy_energy_bench_{}", std::process::id());
    conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await
        .unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_path(&name);
    url.to_string()
}

fn batch(
    node: &str,
    start: OffsetDateTime,
    samples: usize,
    pods: usize,
    service_offset: usize,
) -> IngestBatch {
    let samples = (0..samples)
        .map(|s| {
            let pods: Vec<PodEnergy> = (0..pods)
                .map(|p| PodEnergy {
                    pod_uid: format!("{node}-uid-{p}"),
                    namespace: Some(format!("team-{}-prod", p % 10)),
                    pod: Some(format!("svc-{}-{p}", service_offset + p)),
                    container: Some("main".to_owned()),
                    container_id: None,
                    labels: BTreeMap::from([
                        ("canopy.dev/team".to_owned(), format!("team-{}", p % 10)),
                        (
                            "canopy.dev/service".to_owned(),
                            format!("svc-{}", service_offset + p),
                        ),
                    ]),
                    energy_joules: 1.5 + p as f64 * 0.01,
                })
                .collect();
            let pods_joules: f64 = pods.iter().map(|p| p.energy_joules).sum();
            IntervalSample {
                start: start + Duration::seconds(10 * s as i64),
                end: start + Duration::seconds(10 * s as i64 + 10),
                source: EnergySource::Measured,
                host_energy_joules: pods_joules + 300.0,
                idle_energy_joules: 250.0,
                system_energy_joules: 50.0,
                zones: vec![],
                pods,
            }
        })
        .collect();
    IngestBatch::new(node, samples)
}

async fn create_token(client: &reqwest::Client, base: &str, node: &str) -> String {
    let body: serde_json::Value = client
        .post(format!("{base}/api/v1/energy/node-tokens"))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "cluster": "bench", "node": node }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Ingest through HTTP with `nodes` concurrent agents; returns pod-samples per second.
async fn ingest_run(
    base: &str,
    nodes: usize,
    batches: usize,
    samples: usize,
    pods: usize,
    label: &str,
) -> f64 {
    let client = reqwest::Client::new();
    let start = OffsetDateTime::now_utc() - Duration::hours(2);
    let mut bodies = Vec::new();
    for n in 0..nodes {
        let node = format!("{label}-node-{n}");
        let token = create_token(&client, base, &node).await;
        let list: Vec<String> = (0..batches)
            .map(|b| {
                let at = start + Duration::seconds((b * samples * 10) as i64 % 3000);
                serde_json::to_string(&batch(&node, at, samples, pods, n * pods)).unwrap()
            })
            .collect();
        bodies.push((token, list));
    }
    let began = Instant::now();
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|(token, list)| {
            let client = client.clone();
            let url = format!("{base}/api/v1/ingest");
            tokio::spawn(async move {
                for body in list {
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let secs = began.elapsed().as_secs_f64();
    let pod_samples = (nodes * batches * samples * pods) as f64;
    let rate = pod_samples / secs;
    println!(
        "ingest {label:>8}: {nodes} nodes × {batches} batches × {samples} intervals × {pods} pods = {pod_samples:.0} pod-samples in {secs:.2} s: {rate:.0} pod-samples/s ({:.0} batches/s)",
        (nodes * batches) as f64 / secs
    );
    rate
}

/// COPY of the same number of pod rows straight into the raw table (no validation, no rollups).
async fn copy_run(pool: &PgPool, rows: usize) -> f64 {
    let start = OffsetDateTime::now_utc() - Duration::hours(2);
    let mut csv = String::with_capacity(rows * 160);
    let batch_id = uuid::Uuid::new_v4();
    let at = start
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let end = (start + Duration::seconds(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for i in 0..rows {
        let p = i % 100;
        csv.push_str(&format!(
            "{batch_id},bench,copy-node,measured,{at},{end},team-{t}-prod,svc-{p}-{i},uid-{p},main,team-{t},svc-{p},{e}\n",
            t = p % 10,
            e = 1.5 + p as f64 * 0.01
        ));
    }
    let mut conn = pool.acquire().await.unwrap();
    let began = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY energy_pod_samples (batch_id, cluster, node, source, start_at, end_at, namespace, pod, pod_uid, container, team, service, energy_joules) FROM STDIN (FORMAT csv)",
        )
        .await
        .unwrap();
    copy.send(csv.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    let secs = began.elapsed().as_secs_f64();
    let rate = rows as f64 / secs;
    println!("COPY          : {rows} pod rows in {secs:.2} s: {rate:.0} rows/s (raw table only)");
    rate
}

/// Loads `services` services × 2 nodes × 90 days (daily) and × 7 days (hourly) of rollups.
async fn load_history(pool: &PgPool, services: usize) {
    let began = Instant::now();
    for (table, buckets, step) in [
        ("energy_rollup_daily_rolled", 90, "1 day"),
        ("energy_rollup_hourly_compacted", 168, "1 hour"),
    ] {
        pool.execute(
            format!(
                "INSERT INTO {table} (bucket, cluster, node, namespace, team, service, kind, source, energy_joules, sample_secs)
                 SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - (b * interval '{step}'),
                        'hist', 'node-' || n, 'team-' || (s % 50) || '-prod', 'team-' || (s % 50), 'svc-' || s,
                        'workload', 'measured', 1000 + s + b, 3600
                 FROM generate_series(0, {last}) s, generate_series(1, {buckets}) b, generate_series(0, 1) n",
                last = services - 1
            )
            .as_str(),
        )
        .await
        .unwrap();
    }
    pool.execute("ANALYZE energy_rollup_daily_rolled; ANALYZE energy_rollup_hourly_compacted")
        .await
        .unwrap();
    println!("history       : {services} services × 2 nodes: 90 days daily + 7 days hourly loaded in {:.1} s", began.elapsed().as_secs_f64());
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn chart_query_run(pool: PgPool, services: usize) {
    let query = EnergyQuery::new(pool, Arc::new(CarbonSettings::default()), 7);
    let today = OffsetDateTime::now_utc().date().midnight().assume_utc();
    for (label, from, to, step) in [
        (
            "90 d daily",
            today - Duration::days(89),
            today + Duration::days(1),
            86_400,
        ),
        ("7 d hourly", today - Duration::days(7), today, 3_600),
    ] {
        let mut times = Vec::new();
        for i in 0..1000 {
            let service = format!("svc-{}", (i * 7919) % services);
            let team = format!("team-{}", ((i * 7919) % services) % 50);
            let began = Instant::now();
            let series = query
                .series(&Selection::Service { team, service }, from, to, step)
                .await
                .unwrap();
            times.push(began.elapsed().as_secs_f64() * 1000.0);
            assert!(series.total.measured.kwh > 0.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "chart query {label}: 1000 random services of {services}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1]
        );
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(values, 0.5)
}

/// `BENCH_SEED_ONLY=1`: migrate `DATABASE_URL` itself and load the history, nothing else.
async fn seed_only(url: &str) {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await
        .expect("connect DATABASE_URL");
    db::MIGRATOR.run(&pool).await.unwrap();
    load_history(&pool, env_or("BENCH_SERVICES", 500)).await;
    pool.close().await;
}

#[tokio::main]
async fn main() {
    let admin_url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL must point at a PostgreSQL server");
    if std::env::var_os("BENCH_SEED_ONLY").is_some() {
        seed_only(&admin_url).await;
        return;
    }
    let url = fresh_database(&admin_url).await;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .unwrap();
    db::MIGRATOR.run(&pool).await.unwrap();

    let settings = Settings {
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        database: DatabaseSettings::External {
            url: SecretString::from(url.clone()),
        },
        site_root: PathBuf::from("/nonexistent-canopy-site"),
        db_max_connections: 16,
        api_token: Some(SecretString::from(API_TOKEN.to_owned())),
    };
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(async move { app.run_until(std::future::pending()).await.unwrap() });

    let nodes = env_or("BENCH_NODES", 8);
    let batches = env_or("BENCH_BATCHES", 200);
    let pods = env_or("BENCH_PODS", 100);
    let runs = env_or("BENCH_RUNS", 1).max(1);
    ingest_run(&base, nodes, 5, 1, pods, "warmup").await;
    let (mut agents, mut backlogs, mut copies) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let agent = ingest_run(&base, nodes, batches, 1, pods, &format!("agent{run}")).await;
        let backlog = ingest_run(
            &base,
            nodes,
            batches / 10,
            30,
            pods,
            &format!("backlog{run}"),
        )
        .await;
        let copy = copy_run(&pool, nodes * batches * pods).await;
        println!(
            "ingest vs COPY: agent-shaped {:.0} % of COPY, backlog-shaped {:.0} % of COPY",
            agent / copy * 100.0,
            backlog / copy * 100.0
        );
        agents.push(agent);
        backlogs.push(backlog);
        copies.push(copy);
    }
    if runs > 1 {
        let (agent, backlog, copy) = (
            median(&mut agents),
            median(&mut backlogs),
            median(&mut copies),
        );
        println!(
            "median of {runs} runs: agent-shaped {agent:.0} pod-samples/s, backlog-shaped {backlog:.0} pod-samples/s, COPY {copy:.0} rows/s (agent {:.0} %, backlog {:.0} % of COPY)",
            agent / copy * 100.0,
            backlog / copy * 100.0
        );
    }

    if std::env::var_os("BENCH_SKIP_QUERIES").is_none() {
        let services = env_or("BENCH_SERVICES", 10_000);
        load_history(&pool, services).await;
        chart_query_run(pool.clone(), services).await;
    }

    pool.close().await;
    let mut conn = PgConnection::connect(&admin_url).await.unwrap();
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    let _ = conn
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await;
}
