//! A cold poll's work outside the store, one stage at a time, on the benchmark farm's own
//! documents: what each stage costs alone, with no other thread competing for the cores and
//! their caches. With the store's floor (`bench/store_floor.py`: SQLite alone writing the same
//! rows), it says what the least CPU a cold poll could take is, and so the least wall time on
//! the cores it has.
//!
//! - HTTP: every feed fetched from the farm's web server with reqwest as tigris builds it
//!   (rustls, gzip, brotli, deflate), `FLOORS_JOBS` at a time on a multi-thread runtime, each
//!   body read into memory and nothing else done with it. The CPU is the whole process's.
//! - feed-rs: every document parsed by feed-rs alone, with the base URL and the empty ids
//!   `parse::parse_feed` gives it, and feed-rs' own date parsing (tigris' lenient one, which
//!   feed-rs calls for each date, is part of the parse stage's figure).
//! - parse: tigris' parse stage (decoding, repairs, feed-rs, each entry's HTML read as text).
//! - dedup keys: normalized links and the entries' keys (`dedup::key_entries`).
//! - classify: the topic classification and the story fingerprint (`classify_entries`).
//!
//! Each of the last four runs on this thread alone, its CPU measured for the thread; each
//! figure is the median of `FLOORS_RUNS` runs (3). Run by `bench/run.sh` (FLOOR=1), or:
//!
//!     FLOORS_FARM=target/bench/farm-1000 cargo bench --bench floors
//!
//! `FLOORS_FARM` is a farm made by `bench/farm.py` (its `urls.txt` and `www/`), served where
//! its URLs say. `FLOORS_RESULTS` names a file to append a JSON row a stage to, for
//! `bench/report.py`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use tigris::classify::Classifier;
use tigris::dedup;
use tigris::parse;

/// CPU time used so far by this thread (`RUSAGE_THREAD`) or the whole process (`RUSAGE_SELF`).
fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: getrusage writes the struct it is given and nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(who, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

struct Stage {
    name: &'static str,
    cpu_s: f64,
}

/// Runs `work` `runs` times, each from a fresh `setup` (not measured), and returns the median
/// CPU of this thread in `work`.
fn on_this_thread<S, T>(
    runs: usize,
    mut setup: impl FnMut() -> S,
    mut work: impl FnMut(S) -> T,
) -> f64 {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let input = setup();
        let before = cpu(libc::RUSAGE_THREAD);
        let output = work(input);
        times.push((cpu(libc::RUSAGE_THREAD) - before).as_secs_f64());
        // Freed outside the measurement, as its next stage would.
        drop(output);
    }
    median(times)
}

/// Fetches every URL, `jobs` at a time, and returns the process's CPU for it and the bytes read.
fn fetch_all(urls: &[String], jobs: usize) -> Result<(f64, usize), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let client = reqwest::Client::builder()
        .gzip(true)
        .brotli(true)
        .deflate(true)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let before = cpu(libc::RUSAGE_SELF);
    let bytes = runtime.block_on(async {
        let mut fetches = futures_util::stream::iter(urls)
            .map(|url| {
                let client = client.clone();
                async move {
                    let response = client
                        .get(url)
                        .send()
                        .await
                        .map_err(|e| format!("{url}: {e}"))?;
                    if !response.status().is_success() {
                        return Err(format!("{url}: HTTP {}", response.status()));
                    }
                    let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
                    Ok::<usize, String>(body.len())
                }
            })
            .buffer_unordered(jobs);
        let mut total = 0;
        while let Some(fetched) = fetches.next().await {
            total += fetched?;
        }
        Ok::<usize, String>(total)
    })?;
    Ok(((cpu(libc::RUSAGE_SELF) - before).as_secs_f64(), bytes))
}

fn env_number(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

fn run() -> Result<(), String> {
    let farm = PathBuf::from(std::env::var("FLOORS_FARM").map_err(|_| {
        "FLOORS_FARM is not set: give it a farm folder made by bench/farm.py".to_string()
    })?);
    let runs = env_number("FLOORS_RUNS", 3)?.max(1);
    let jobs = env_number("FLOORS_JOBS", 16)?.max(1);
    let list = farm.join("urls.txt");
    let urls: Vec<String> = std::fs::read_to_string(&list)
        .map_err(|e| format!("{}: {e}", list.display()))?
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_string)
        .collect();
    let documents = urls
        .iter()
        .map(|url| {
            let name = url.rsplit('/').next().unwrap_or_default();
            let path = farm.join("www").join(name);
            let body = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let base = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
            Ok((base, body))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let classifier = Classifier::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/topics"))
        .map_err(|e| format!("the shipped topics: {e}"))?;
    // Built at its first use, once a process: not a poll's cost.
    dedup::canonical_url("https://floors.example/warm-up");

    let parse_one = |(base, body): &(url::Url, Vec<u8>)| {
        parse::parse_feed(body, Some(base), base.as_str(), None)
    };
    // Every document parses (checked once here), so the measured runs need not look.
    let mut items = 0;
    for document in &documents {
        items += parse_one(document)
            .map_err(|e| e.to_string())?
            .entries
            .len();
    }
    if items == 0 {
        return Err(format!(
            "no items in the {} documents of {}",
            documents.len(),
            farm.display()
        ));
    }
    let parse_all = || -> Vec<Vec<tigris::model::Entry>> {
        documents
            .iter()
            .map(|document| {
                parse_one(document)
                    .map(|parsed| parsed.entries)
                    .unwrap_or_default()
            })
            .collect()
    };

    let mut http = Vec::with_capacity(runs);
    let mut fetched = 0;
    for _ in 0..runs {
        let (cpu_s, bytes) = fetch_all(&urls, jobs)?;
        http.push(cpu_s);
        fetched = bytes;
    }
    let stages = [
        Stage {
            name: "HTTP",
            cpu_s: median(http),
        },
        Stage {
            name: "feed-rs",
            cpu_s: on_this_thread(
                runs,
                || (),
                |()| {
                    documents
                        .iter()
                        .map(|(base, body)| {
                            feed_rs::parser::Builder::new()
                                .base_uri(Some(base.as_str()))
                                .id_generator(|_, _, _| String::new())
                                .build()
                                .parse(&body[..])
                                .map_or(0, |feed| feed.entries.len())
                        })
                        .sum::<usize>()
                },
            ),
        },
        Stage {
            name: "parse",
            cpu_s: on_this_thread(runs, || (), |()| parse_all()),
        },
        Stage {
            name: "dedup keys",
            cpu_s: on_this_thread(runs, parse_all, |parsed| {
                parsed
                    .into_iter()
                    .map(dedup::key_entries)
                    .collect::<Vec<_>>()
            }),
        },
        Stage {
            name: "classify",
            cpu_s: on_this_thread(
                runs,
                || {
                    parse_all()
                        .into_iter()
                        .map(dedup::key_entries)
                        .collect::<Vec<_>>()
                },
                |keyed| {
                    keyed
                        .into_iter()
                        .map(|entries| classifier.classify_entries(entries))
                        .collect::<Vec<_>>()
                },
            ),
        },
    ];

    println!(
        "{} documents ({:.1} MB fetched), {items} items; CPU medians of {runs} run(s)",
        documents.len(),
        fetched as f64 / 1e6
    );
    println!("{:<12} {:>8} {:>14}", "stage", "CPU (s)", "per item (us)");
    for stage in &stages {
        println!(
            "{:<12} {:>8.3} {:>14.1}",
            stage.name,
            stage.cpu_s,
            stage.cpu_s * 1e6 / items as f64
        );
    }
    if let Ok(path) = std::env::var("FLOORS_RESULTS") {
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{path}: {e}"))?;
        for stage in &stages {
            let row = serde_json::json!({
                "name": format!("stage/{}", stage.name),
                "stage": stage.name,
                "cpu_s": stage.cpu_s,
                "items": items,
                "documents": documents.len(),
                "runs": runs,
                "jobs": jobs,
            });
            writeln!(out, "{row}").map_err(|e| format!("{path}: {e}"))?;
        }
    }
    Ok(())
}

fn main() {
    if let Err(message) = run() {
        eprintln!("floors: {message}");
        std::process::exit(1);
    }
}
