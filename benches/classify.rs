//! Classification speed: items per second on one core, each a title plus about 1 KB of text,
//! scored for the shipped topic (`us-iraq`) with its learned model. Run with
//! `cargo bench --bench classify`; criterion prints the time per item and the throughput.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tigris::classify::{Classifier, classify_topic};

fn items() -> Vec<(String, String)> {
    let seeds = [
        include_str!("../tests/data/seeds/000_66a024b0265385c0.txt"),
        include_str!("../tests/data/seeds/001_8a5f63cd2e2e5dd1.txt"),
        include_str!("../tests/data/seeds/002_44ea737527027833.txt"),
        include_str!("../tests/data/seeds/003_d1788cc086be3389.txt"),
        include_str!("../tests/data/seeds/004_a0345ad12af6fa6c.txt"),
    ];
    let labeled = include_str!("../tests/data/classify/labeled.jsonl");
    let mut out = Vec::new();
    for (i, line) in labeled.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("labeled line");
        // About 1 KB of text: the item's summary followed by seed text.
        let mut text = v["summary"].as_str().unwrap_or_default().to_string();
        let seed = seeds[i % seeds.len()];
        let start = (i * 97) % (seed.len() / 2);
        let start = (start..seed.len())
            .find(|&s| seed.is_char_boundary(s))
            .unwrap_or(0);
        for c in seed[start..].chars() {
            if text.len() >= 1024 {
                break;
            }
            text.push(c);
        }
        out.push((v["title"].as_str().unwrap_or_default().to_string(), text));
    }
    out
}

fn bench(c: &mut Criterion) {
    let classifier = Classifier::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/topics"
    )))
    .expect("shipped topics load");
    let topic = classifier.topic("us-iraq").expect("us-iraq topic").clone();
    let items = items();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(items.len() as u64));
    group.bench_function("us-iraq, title + 1 KB text", |b| {
        b.iter(|| {
            let mut relevant = 0;
            for (title, text) in &items {
                relevant += usize::from(classify_topic(&topic, title, text).relevant);
            }
            relevant
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
