//! `canopy-fuzz TARGET --duration-secs N`: feeds one of Canopy's parsers random mutations of
//! a committed corpus of real inputs for a wall-clock budget, catching panics (each one a bug:
//! the input is saved under the artifacts directory and the run fails). Stable Rust, no
//! instrumentation: see docs/RELIABILITY.md for what that does and does not find.

mod mutate;
mod targets;

use std::collections::{BTreeMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sha2::{Digest, Sha256};

#[derive(Parser, Debug)]
#[command(about = "Time-budgeted mutation fuzzing of Canopy's parsers")]
struct Args {
    /// canopy-yaml, ingest, procfs or sysfs.
    target: String,
    /// Wall-clock budget.
    #[arg(long, default_value_t = 600)]
    duration_secs: u64,
    /// Seed inputs (every file in the directory); default fuzz/corpus/TARGET.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Where inputs that panic are written; default fuzz/artifacts/TARGET.
    #[arg(long)]
    artifacts: Option<PathBuf>,
    /// Random seed (printed, so a run can be repeated); random by default.
    #[arg(long)]
    seed: Option<u64>,
    /// Write up to this many inputs with outcomes the seeds did not have into the corpus
    /// directory (to grow the committed corpus; 0 = none).
    #[arg(long, default_value_t = 0)]
    save_new: usize,
    /// Only run the corpus once (a regression check), no mutations.
    #[arg(long)]
    replay: bool,
}

/// At most this many inputs are kept in memory for mutation.
const MAX_POOL: usize = 4_096;
/// At most this many distinct outcomes are remembered.
const MAX_OUTCOMES: usize = 100_000;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !targets::TARGETS.contains(&args.target.as_str()) {
        anyhow::bail!(
            "unknown target {} (known: {})",
            args.target,
            targets::TARGETS.join(", ")
        );
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus_dir = args
        .corpus
        .clone()
        .unwrap_or_else(|| here.join("corpus").join(&args.target));
    let artifacts = args
        .artifacts
        .clone()
        .unwrap_or_else(|| here.join("artifacts").join(&args.target));
    let seeds = read_corpus(&corpus_dir)?;
    if seeds.is_empty() {
        anyhow::bail!("no seed inputs in {}", corpus_dir.display());
    }
    let seed = args.seed.unwrap_or_else(|| rand::thread_rng().gen());
    let mut rng = StdRng::seed_from_u64(seed);
    let scratch = targets::Scratch::new()?;
    let dict = targets::dictionary(&args.target);

    // The panic hook records where a panic happened instead of printing each one.
    let last_panic: Arc<Mutex<Option<String>>> = Arc::default();
    {
        let last_panic = Arc::clone(&last_panic);
        panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            if let Ok(mut slot) = last_panic.lock() {
                *slot = Some(format!("{location}: {message}"));
            }
        }));
    }

    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut pool: Vec<Vec<u8>> = seeds.clone();
    let mut seen_inputs: HashSet<[u8; 32]> = seeds.iter().map(|s| digest(s)).collect();
    let mut panics: BTreeMap<String, (u64, PathBuf)> = BTreeMap::new();
    let mut saved = 0usize;
    let mut execs: u64 = 0;
    let started = Instant::now();
    let budget = Duration::from_secs(args.duration_secs);
    let mut next_report = Duration::from_secs(60);

    // The seeds first, then mutations until the budget is spent.
    let mut queue: Vec<Vec<u8>> = seeds.clone();
    queue.reverse();
    loop {
        let (input, from_seed) = match queue.pop() {
            Some(input) => (input, true),
            None if args.replay || started.elapsed() >= budget => break,
            None => {
                let base = &pool[rng.gen_range(0..pool.len())];
                (mutate::mutate(&mut rng, base, &pool, dict), false)
            }
        };
        execs += 1;
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            targets::run(&args.target, &input, &scratch)
        }));
        match result {
            Ok(Ok(outcome)) => {
                // Past MAX_OUTCOMES distinct outcomes (messages quoting the input make many),
                // new ones are no longer remembered: memory stays bounded.
                let full = outcomes.len() >= MAX_OUTCOMES;
                let new = match outcomes.get_mut(&outcome) {
                    Some(count) => {
                        *count += 1;
                        false
                    }
                    None if !full => {
                        outcomes.insert(outcome, 1);
                        true
                    }
                    None => false,
                };
                if new && !from_seed {
                    // An outcome not seen before: keep the input to mutate further.
                    if seen_inputs.insert(digest(&input)) {
                        if pool.len() >= MAX_POOL {
                            let i = rng.gen_range(seeds.len()..pool.len());
                            pool.swap_remove(i);
                        }
                        pool.push(input.clone());
                        if saved < args.save_new {
                            save(&corpus_dir, &input)?;
                            saved += 1;
                        }
                    }
                }
            }
            Ok(Err(harness)) => return Err(harness.context("the fuzz harness itself failed")),
            Err(_) => {
                let what = last_panic
                    .lock()
                    .ok()
                    .and_then(|mut slot| slot.take())
                    .unwrap_or_else(|| "panic".to_owned());
                let key = what.split(": ").next().unwrap_or_default().to_owned();
                let entry = panics.entry(key).or_insert_with(|| (0, PathBuf::new()));
                entry.0 += 1;
                if entry.0 == 1 {
                    entry.1 = save(&artifacts, &input)?;
                    eprintln!(
                        "PANIC [{}] {what}\n  input: {}",
                        args.target,
                        entry.1.display()
                    );
                }
            }
        }
        if started.elapsed() >= next_report {
            eprintln!(
                "[{}] {:>4}s execs={execs} ({:.0}/s) outcomes={} pool={} panics={}",
                args.target,
                started.elapsed().as_secs(),
                execs as f64 / started.elapsed().as_secs_f64(),
                outcomes.len(),
                pool.len(),
                panics.len()
            );
            next_report += Duration::from_secs(60);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "target={} seed={seed} secs={elapsed:.0} execs={execs} execs_per_sec={:.0} seeds={} \
         outcomes={} pool={} saved_new={saved} panic_sites={} panicking_inputs={}",
        args.target,
        execs as f64 / elapsed.max(1e-9),
        seeds.len(),
        outcomes.len(),
        pool.len(),
        panics.len(),
        panics.values().map(|(n, _)| n).sum::<u64>()
    );
    for (site, (n, path)) in &panics {
        println!("  panic at {site}: {n} inputs, first {}", path.display());
    }
    if !panics.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

fn digest(input: &[u8]) -> [u8; 32] {
    Sha256::digest(input).into()
}

/// Every regular file of `dir`, sorted by name (a stable order, so a seed repeats a run).
fn read_corpus(dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading corpus {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect()
}

/// Writes `input` into `dir` named by its hash (so the corpus stays deduplicated).
fn save(dir: &Path, input: &[u8]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(hex::encode(&digest(input)[..8]));
    std::fs::write(&path, input).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
