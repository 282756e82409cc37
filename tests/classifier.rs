//! The topic classifier, measured: precision and recall on the held-out split of the labeled
//! set, the committed model reproduced by retraining, topics as data, and the CLI commands
//! `classify`, `reclassify` and `train`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tigris::classify::train::{self, LabeledItem, TrainSettings};
use tigris::classify::{Classifier, Topic, classify_topic};

const LABELED: &str = "tests/data/classify/labeled.jsonl";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn labeled() -> Vec<LabeledItem> {
    train::read_labeled(&repo(LABELED)).unwrap()
}

fn shipped() -> Topic {
    Topic::load(&repo("config/topics/us-iraq.toml")).unwrap()
}

#[test]
fn held_out_precision_and_recall_are_at_least_0_95_and_beat_a_keyword_filter() {
    let items = labeled();
    let heldout: Vec<&LabeledItem> = items.iter().filter(|i| i.split == "heldout").collect();
    assert!(
        heldout.len() >= 100,
        "held-out split too small: {}",
        heldout.len()
    );
    let topic = shipped();
    let metrics = train::evaluate(&topic, heldout.iter().copied());
    let baseline = train::evaluate_keyword("iraq", heldout.iter().copied());
    println!(
        "us-iraq classifier, held-out {} items: {metrics}",
        heldout.len()
    );
    println!("keyword filter `iraq`, same items:  {baseline}");
    assert!(metrics.precision() >= 0.95, "{metrics}");
    assert!(metrics.recall() >= 0.95, "{metrics}");
    assert!(
        metrics.f1() > baseline.f1() + 0.2,
        "{metrics} vs {baseline}"
    );

    // Subtopics: a relevant item's labeled kind should be among the subtopics it is given.
    let (mut named, mut relevant) = (0, 0);
    for item in heldout.iter().filter(|i| i.relevant) {
        let c = classify_topic(&topic, &item.title, &item.text());
        if c.relevant {
            relevant += 1;
            named += usize::from(c.subtopics.contains(&item.kind));
        }
    }
    let rate = named as f64 / relevant as f64;
    println!(
        "subtopics: the labeled kind is named for {named} of {relevant} relevant held-out items ({rate:.3})"
    );
    assert!(rate >= 0.75, "{named}/{relevant}");
}

#[test]
fn retraining_reproduces_the_committed_model_without_the_held_out_items() {
    let path = repo("config/topics/us-iraq.toml");
    let topic = Topic::from_toml(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
    let items = labeled();
    let model = train::train(&topic, &items, TrainSettings::default(), &repo(LABELED)).unwrap();
    let committed = std::fs::read_to_string(repo("config/topics/us-iraq.model.tsv")).unwrap();
    assert!(
        model.to_tsv(&topic, LABELED) == committed,
        "config/topics/us-iraq.model.tsv is not what `tigris train` writes from the topic file and the labeled set: retrain and commit it"
    );
    // The held-out items play no part: training without them gives the same weights.
    let training_only: Vec<LabeledItem> =
        items.into_iter().filter(|i| i.split == "train").collect();
    let again = train::train(
        &topic,
        &training_only,
        TrainSettings::default(),
        &repo(LABELED),
    )
    .unwrap();
    assert_eq!(again.to_tsv(&topic, LABELED), committed);
}

#[test]
fn every_seed_article_is_relevant() {
    let topic = shipped();
    for seed in SEEDS {
        let (title, text) = seed.split_once('\n').unwrap();
        let c = classify_topic(&topic, title, text);
        assert!(c.relevant, "{title}: {c:?}");
        assert!(!c.evidence.is_empty());
    }
}

/// A topics folder with the shipped topic and a second one written by a user.
fn topics_with_a_second_topic(dir: &Path) -> PathBuf {
    let topics = dir.join("topics");
    std::fs::create_dir_all(&topics).unwrap();
    for file in ["us-iraq.toml", "us-iraq.model.tsv"] {
        std::fs::copy(repo(&format!("config/topics/{file}")), topics.join(file)).unwrap();
    }
    std::fs::write(
        topics.join("dust-storms.toml"),
        r#"
id = "dust-storms"
name = "Dust storms in the Middle East"
threshold = 0.5
bias = -3.0

[groups.storm]
weight = 1.5
terms = ["dust storm", "sandstorm", "sand storm", "visibility"]

[groups.region]
weight = 0.5
terms = ["Iraq", "Baghdad", "Kuwait", "Syria", "Basra"]

[[rules]]
name = "storm-in-region"
groups = ["storm", "region"]
scope = "near"
within = 20
weight = 2.0

[subtopics.health]
terms = ["hospital", "respiratory", "breathing"]
"#,
    )
    .unwrap();
    topics
}

#[test]
fn a_second_topic_is_a_file_not_code() {
    let dir = tempfile::tempdir().unwrap();
    let topics = topics_with_a_second_topic(dir.path());
    let classifier = Classifier::load(&topics).unwrap();
    let ids: Vec<&str> = classifier.topics().iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec!["dust-storms", "us-iraq"]);
    let scored = classifier.classify(
        "Sandstorm grounds flights in Baghdad",
        "Hundreds were treated in hospital for breathing problems as visibility fell.",
    );
    let dust = scored.iter().find(|c| c.topic == "dust-storms").unwrap();
    let iraq = scored.iter().find(|c| c.topic == "us-iraq").unwrap();
    assert!(dust.relevant, "{dust:?}");
    assert_eq!(dust.subtopics, vec!["health".to_string()]);
    assert!(!iraq.relevant, "{iraq:?}");
    // Without a model file the topic scores with its own weights and says so in its version.
    assert!(
        dust.classifier.contains("dust-storms@"),
        "{}",
        dust.classifier
    );
}

#[tokio::test]
async fn classify_reads_json_lines_reports_bad_lines_and_carries_on() {
    let tigris = Tigris::new();
    tigris.write_config(&[], "");
    let input = tigris.dir.path().join("items.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"id": "a1", "title": "Drone attack targets US forces at Ain al-Asad", "summary": "<p>Kataib Hezbollah claimed the <b>attack</b> on the base in western Iraq.</p>"}"#,
            "\n",
            "{not json\n",
            r#"{"id": 7, "title": "Oil prices rise", "summary": "OPEC producers including Saudi Arabia, Iraq and the UAE kept output steady."}"#,
            "\n",
            r#"{"id": "no-title"}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = tigris
        .run(&["classify", "--topic", "us-iraq", input.to_str().unwrap()])
        .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "bad lines make the exit code non-zero"
    );
    let err = stderr(&out);
    assert!(err.contains("items.jsonl:2:"), "{err}");
    assert!(
        err.contains("items.jsonl:4:") && err.contains("title"),
        "{err}"
    );
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "a1");
    assert_eq!(lines[0]["topic"], "us-iraq");
    assert_eq!(lines[0]["relevant"], true);
    assert!(
        lines[0]["subtopics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "attacks-on-us-forces")
    );
    assert!(
        lines[0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["where"] == "title")
    );
    assert_eq!(lines[1]["id"], 7);
    assert_eq!(lines[1]["relevant"], false);
    let score = lines[1]["score"].as_f64().unwrap();
    assert!((0.0..0.5).contains(&score), "{score}");

    // One plain text on standard input.
    let mut child = tigris
        .command(&["classify", "--text"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(SEEDS[2].as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    let line: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(line["relevant"], true, "{line}");

    let out = tigris
        .run(&["classify", "--topic", "weather", input.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--topic weather"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_topics_are_rescored_by_reclassify_and_stored_with_evidence() {
    let server = FeedServer::start().await;
    let items: Vec<Item> = (0..6)
        .map(|i| {
            Item::new(
                &format!("g{i}"),
                &format!("https://r.example/{i}"),
                &format!("Story {i}: US troops and Baghdad"),
                &seed_text(i),
            )
        })
        .collect();
    let url = server.set_feed("r", rss2("R", &items), "application/rss+xml");
    let tigris = Tigris::new();
    let topics = topics_with_a_second_topic(tigris.dir.path());
    tigris.write_config(
        &[(&url, "R")],
        &format!("[classify]\ntopics_dir = \"{}\"\n", topics.display()),
    );
    let out = tigris.run(&["check-config"]).await;
    assert!(
        stdout(&out).contains("topics dust-storms, us-iraq"),
        "{}",
        stdout(&out)
    );
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(tigris.count("SELECT count(*) FROM classifications"), 12);
    let (evidence, subtopics): (String, String) = tigris
        .db()
        .query_row(
            "SELECT evidence, subtopics FROM classifications WHERE topic = 'us-iraq' AND relevant = 1 LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let evidence: serde_json::Value = serde_json::from_str(&evidence).unwrap();
    assert!(
        evidence[0]["kind"].is_string() && evidence[0]["weight"].is_number(),
        "{evidence}"
    );
    let _: Vec<String> = serde_json::from_str(&subtopics).unwrap();

    let out = tigris.run(&["reclassify"]).await;
    assert!(
        stdout(&out).contains("rescored 0 items"),
        "{}",
        stdout(&out)
    );

    // A user edits a topic: its items are rescored, the other topic's are left alone.
    let dust = topics.join("dust-storms.toml");
    let text = std::fs::read_to_string(&dust)
        .unwrap()
        .replace("threshold = 0.5", "threshold = 0.6");
    std::fs::write(&dust, text).unwrap();
    let before: String = tigris
        .db()
        .query_row(
            "SELECT classifier FROM classifications WHERE topic = 'dust-storms' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let out = tigris.run(&["reclassify"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("rescored 6 items"),
        "{}",
        stdout(&out)
    );
    let after: String = tigris
        .db()
        .query_row(
            "SELECT classifier FROM classifications WHERE topic = 'dust-storms' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_ne!(before, after);
    assert_eq!(
        tigris.count(&format!("SELECT count(*) FROM classifications WHERE topic = 'dust-storms' AND classifier = '{after}'")),
        6
    );

    // A broken topic file stops tigris with a message naming it, and exit code 2.
    std::fs::write(&dust, "id = \"dust-storms\"\nname = \"x\"\nthreshold = 0.5\nbias = 0\n[[rules]]\nname = \"r\"\ngroups = [\"nope\"]\nscope = \"near\"\nweight = 1\n").unwrap();
    let out = tigris.run(&["poll"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("dust-storms.toml") && stderr(&out).contains("nope"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn train_writes_a_model_that_scores_the_held_out_split() {
    let tigris = Tigris::new();
    tigris.write_config(&[], "");
    let out_path = tigris.dir.path().join("model.tsv");
    let out = tigris
        .run(&[
            "train",
            "--topic",
            "us-iraq",
            "--data",
            repo(LABELED).to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("held-out (148 items): precision"), "{text}");
    assert!(text.contains("keyword filter `iraq`"), "{text}");
    let model = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        model
            .lines()
            .any(|l| l.starts_with("rule:iraq-and-us-near\t"))
    );
    assert!(model.lines().any(|l| l.starts_with("b:")));
}
