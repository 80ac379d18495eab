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
//! Seeding for `scripts/seed-scale.sh` and the page benchmarks: with `BENCH_SEED_ONLY=1`,
//! migrates the database `DATABASE_URL` names (not a fresh one), loads `BENCH_SERVICES`
//! services in `BENCH_TEAMS` teams (default 50) × 2 nodes × 90 days of daily and 7 days of
//! hourly rollups (and the precomputed totals the pages read), registers the teams and
//! services with deploys in dev, staging and prod over the last weeks (succeeded, failed,
//! rolling out), and exits.
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

/// Loads `services` services of `teams` teams × 2 nodes × 90 days (daily, up to yesterday)
/// and × 168 hours (hourly, up to the current hour) of rollups, with idle energy per node, and
/// the precomputed totals as migration `20261201000030` fills them.
async fn load_history(pool: &PgPool, services: usize, teams: usize) {
    let began = Instant::now();
    for (table, anchor, buckets, step) in [
        ("energy_rollup_daily_rolled", "day", "1, 90", "1 day"),
        ("energy_rollup_hourly_compacted", "hour", "0, 167", "1 hour"),
    ] {
        pool.execute(
            format!(
                "INSERT INTO {table} (bucket, cluster, node, namespace, team, service, kind, source, energy_joules, sample_secs)
                 SELECT date_trunc('{anchor}', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - (b * interval '{step}'),
                        'hist', 'node-' || n, 'team-' || (s % {teams}) || '-prod', 'team-' || (s % {teams}), 'svc-' || s,
                        'workload', 'measured', 1000 + s + b, 3600
                 FROM generate_series(0, {last}) s, generate_series({buckets}) b, generate_series(0, 1) n
                 UNION ALL
                 SELECT date_trunc('{anchor}', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - (b * interval '{step}'),
                        'hist', 'node-' || n, '', '', '', 'idle', 'measured', 500000 + b, 3600
                 FROM generate_series({buckets}) b, generate_series(0, 1) n",
                last = services - 1
            )
            .as_str(),
        )
        .await
        .unwrap();
    }
    pool.execute(
        "TRUNCATE energy_service_daily, energy_service_hourly, energy_node_hourly;
         INSERT INTO energy_service_daily (day, cluster, kind, source, namespace, team, service, energy_joules)
         SELECT bucket, cluster, kind, source, namespace, team, service, sum(energy_joules)
         FROM energy_rollup_daily GROUP BY 1, 2, 3, 4, 5, 6, 7;
         INSERT INTO energy_service_hourly (hour, cluster, kind, source, namespace, team, service, energy_joules)
         SELECT bucket, cluster, kind, source, namespace, team, service, sum(energy_joules)
         FROM energy_rollup_hourly_compacted GROUP BY 1, 2, 3, 4, 5, 6, 7;
         INSERT INTO energy_node_hourly (hour, cluster, node, kind, source, energy_joules)
         SELECT bucket, cluster, node, kind, source, sum(energy_joules)
         FROM energy_rollup_hourly_compacted GROUP BY 1, 2, 3, 4, 5;
         ANALYZE energy_rollup_daily_rolled; ANALYZE energy_rollup_hourly_compacted;
         ANALYZE energy_service_daily; ANALYZE energy_service_hourly; ANALYZE energy_node_hourly",
    )
    .await
    .unwrap();
    println!("history       : {services} services in {teams} teams × 2 nodes: 90 days daily + 7 days hourly loaded in {:.1} s", began.elapsed().as_secs_f64());
}

/// Registers the teams and services of [`load_history`] (`team-<s % teams>` / `svc-<s>`) and
/// gives each service deploys in dev, staging and prod over the last four weeks: one to four
/// revisions per environment, about 4 % of them failed, and one rollout in 150 still rolling
/// out (held by a replica's lease, so no replica takes it over).
async fn load_registry(pool: &PgPool, services: usize, teams: usize) {
    use app::api::spec::RawServiceSpec;
    let began = Instant::now();
    let spec = RawServiceSpec {
        team: "team-0".into(),
        name: "svc-0".into(),
        environment: "prod".into(),
        image: "ghcr.io/acme/svc-0:1.0.0".into(),
        port: 8080,
        size: "S".into(),
        replicas: Some(2),
        health_check: Some("/healthz".into()),
        ..RawServiceSpec::default()
    }
    .validate()
    .expect("the seed's spec is valid");
    let spec = serde_json::to_value(&spec).unwrap();
    sqlx::query(&format!(
        "INSERT INTO teams (name) SELECT 'team-' || t FROM generate_series(0, {last_team}) t",
        last_team = teams - 1
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO services (team_id, name, created_at)
         SELECT t.id, 'svc-' || s, now() - interval '60 days'
         FROM generate_series(0, {last}) s JOIN teams t ON t.name = 'team-' || (s % {teams})",
        last = services - 1
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO deploys (service_id, environment, revision, spec, image, requested_by,
             status, failure_reason, started_at, finished_at, follower, follower_lease_until)
         SELECT s.id, e.env, r.r,
                jsonb_set(jsonb_set(jsonb_set(jsonb_set($1::jsonb,
                    '{team}', to_jsonb(t.name)), '{name}', to_jsonb(s.name)),
                    '{environment}', to_jsonb(e.env)),
                    '{image}', to_jsonb('ghcr.io/acme/' || s.name || ':1.' || r.r || '.0')),
                'ghcr.io/acme/' || s.name || ':1.' || r.r || '.0', 'seed',
                st.status,
                CASE WHEN st.status = 'failed'
                     THEN 'Container app keeps crashing (CrashLoopBackOff): exit code 1' END,
                r.started,
                CASE WHEN st.status <> 'rolling_out'
                     THEN r.started + make_interval(secs => 20 + (s.id * 7 + r.r * 13) % 280) END,
                CASE WHEN st.status = 'rolling_out' THEN 'seed-replica' END,
                CASE WHEN st.status = 'rolling_out' THEN now() + interval '10 years' END
         FROM services s JOIN teams t ON t.id = s.team_id
         CROSS JOIN (VALUES ('dev', 0), ('staging', 1), ('prod', 2)) AS e (env, n)
         CROSS JOIN LATERAL (
             SELECT g AS r, (1 + (s.id + e.n) % 4) AS last,
                    now() - make_interval(secs => ((1 + (s.id + e.n) % 4) - g) * 86400 * 6
                                              + (s.id * 97 + e.n * 3600) % 86400 + 600) AS started
             FROM generate_series(1, 1 + (s.id + e.n) % 4) g) r
         CROSS JOIN LATERAL (
             SELECT CASE WHEN r.r = r.last AND (s.id + e.n) % 150 = 0 THEN 'rolling_out'
                         WHEN (s.id * 31 + r.r * 17 + e.n) % 25 = 0 THEN 'failed'
                         ELSE 'succeeded' END AS status) st",
    )
    .bind(spec)
    .execute(pool)
    .await
    .unwrap();
    pool.execute("ANALYZE teams; ANALYZE services; ANALYZE deploys")
        .await
        .unwrap();
    let deploys: i64 = sqlx::query_scalar("SELECT count(*) FROM deploys")
        .fetch_one(pool)
        .await
        .unwrap();
    println!(
        "registry      : {teams} teams, {services} services, {deploys} deploys in dev/staging/prod loaded in {:.1} s",
        began.elapsed().as_secs_f64()
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn chart_query_run(pool: PgPool, services: usize, teams: usize) {
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
            let team = format!("team-{}", ((i * 7919) % services) % teams);
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
    let (services, teams) = (env_or("BENCH_SERVICES", 500), env_or("BENCH_TEAMS", 50));
    load_history(&pool, services, teams).await;
    load_registry(&pool, services, teams).await;
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
        let teams = env_or("BENCH_TEAMS", 50);
        load_history(&pool, services, teams).await;
        chart_query_run(pool.clone(), services, teams).await;
    }

    pool.close().await;
    let mut conn = PgConnection::connect(&admin_url).await.unwrap();
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    let _ = conn
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await;
}
