//! Training and measuring a topic's learned weights, offline. A labeled set (JSON lines:
//! `id`, `title`, `summary`, `relevant`, `kind`, `subtopics`, `split`) trains a logistic
//! regression over the topic's features (its groups and rules, plus words, title words and
//! word pairs); the weights are written as a model file beside the topic, which is committed.
//! Items with `split = "heldout"` are never trained on; they measure the result.
//!
//! Logistic regression by batch gradient descent is written here by hand: it is forty lines,
//! fully deterministic (same data, same weights, bit for bit), and avoids a linear-algebra
//! dependency for a model of a few thousand sparse features.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::topic::{GROUP_CAP, Topic};
use super::{Analysis, Words, analyze, classify_topic, feature_name};
use crate::parse::html_to_text;

/// Why training or measuring failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("cannot read labeled set {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("labeled set {0} has no training items (split = \"train\") with both labels")]
    Empty(PathBuf),
}

/// One labeled item.
#[derive(Debug, Clone, Deserialize)]
pub struct LabeledItem {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub relevant: bool,
    pub kind: String,
    #[serde(default)]
    pub subtopics: Vec<String>,
    pub split: String,
}

impl LabeledItem {
    /// The summary as plain text (summaries may hold HTML, as feeds' do).
    pub fn text(&self) -> String {
        html_to_text(&self.summary)
    }
}

/// Reads a labeled set; a bad line is an error naming it.
pub fn read_labeled(path: &Path) -> Result<Vec<LabeledItem>, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|source| TrainError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| TrainError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Confusion counts and the figures derived from them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub true_positives: usize,
    pub false_positives: usize,
    pub true_negatives: usize,
    pub false_negatives: usize,
}

impl Metrics {
    pub fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.true_positives += 1,
            (true, false) => self.false_positives += 1,
            (false, false) => self.true_negatives += 1,
            (false, true) => self.false_negatives += 1,
        }
    }

    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "precision {:.3}, recall {:.3}, F1 {:.3} (TP {}, FP {}, TN {}, FN {})",
            self.precision(),
            self.recall(),
            self.f1(),
            self.true_positives,
            self.false_positives,
            self.true_negatives,
            self.false_negatives
        )
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The topic's verdicts on `items` against their labels.
pub fn evaluate<'a>(topic: &Topic, items: impl IntoIterator<Item = &'a LabeledItem>) -> Metrics {
    let mut metrics = Metrics::default();
    for item in items {
        let c = classify_topic(topic, &item.title, &item.text());
        metrics.add(c.relevant, item.relevant);
    }
    metrics
}

/// The filter a user would otherwise write: the word `keyword` anywhere, any case.
pub fn evaluate_keyword<'a>(
    keyword: &str,
    items: impl IntoIterator<Item = &'a LabeledItem>,
) -> Metrics {
    let keyword = keyword.to_lowercase();
    let mut metrics = Metrics::default();
    for item in items {
        let haystack = format!("{} {}", item.title, item.summary).to_lowercase();
        metrics.add(haystack.contains(&keyword), item.relevant);
    }
    metrics
}

/// Training settings; the defaults are the ones the shipped model was trained with.
#[derive(Debug, Clone, Copy)]
pub struct TrainSettings {
    pub iterations: usize,
    pub learning_rate: f64,
    /// L2 penalty on word features, and on group/rule features.
    pub l2_words: f64,
    pub l2_structure: f64,
    /// A word feature must occur in at least this many training items.
    pub min_count: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            iterations: 600,
            learning_rate: 0.5,
            l2_words: 0.004,
            l2_structure: 0.0005,
            min_count: 2,
        }
    }
}

/// Named features of one item, as the model file names them.
fn named_features(topic: &Topic, a: &Analysis, title: &str, text: &str) -> Vec<(String, f64)> {
    let mut features = Vec::new();
    for (g, group) in topic.groups.iter().enumerate() {
        if a.group_title[g] > 0 {
            features.push((
                format!("group:{}:title", group.name),
                f64::from(a.group_title[g]).min(GROUP_CAP),
            ));
        }
        if a.group_text[g] > 0 {
            features.push((
                format!("group:{}:text", group.name),
                f64::from(a.group_text[g]).min(GROUP_CAP),
            ));
        }
    }
    for (r, rule) in topic.rules.iter().enumerate() {
        if a.rules[r] {
            features.push((format!("rule:{}", rule.name), 1.0));
        }
    }
    for word in &a.words {
        features.push((feature_name(word, title, text), 1.0));
    }
    features
}

/// Learned weights, by feature name, and the intercept.
#[derive(Debug, Clone)]
pub struct Model {
    pub bias: f64,
    pub weights: BTreeMap<String, f64>,
    pub trained_on: usize,
}

/// Fits the topic's weights on the items with `split = "train"`. `topic` should be loaded
/// without a model (its word weights are ignored; its groups and rules define the features).
pub fn train(
    topic: &Topic,
    items: &[LabeledItem],
    settings: TrainSettings,
    source: &Path,
) -> Result<Model, TrainError> {
    let training: Vec<&LabeledItem> = items.iter().filter(|i| i.split == "train").collect();
    if !training.iter().any(|i| i.relevant) || !training.iter().any(|i| !i.relevant) {
        return Err(TrainError::Empty(source.to_path_buf()));
    }
    let examples: Vec<(Vec<(String, f64)>, f64)> = training
        .iter()
        .map(|item| {
            let text = item.text();
            let a = analyze(topic, &item.title, &text, Words::All);
            (
                named_features(topic, &a, &item.title, &text),
                if item.relevant { 1.0 } else { 0.0 },
            )
        })
        .collect();

    // Vocabulary: structural features always; words seen often enough.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (features, _) in &examples {
        for (name, _) in features {
            *counts.entry(name.as_str()).or_default() += 1;
        }
    }
    let is_structural = |name: &str| name.starts_with("group:") || name.starts_with("rule:");
    let vocabulary: Vec<&str> = counts
        .iter()
        .filter(|(name, n)| is_structural(name) || **n >= settings.min_count)
        .map(|(name, _)| *name)
        .collect();
    let index: BTreeMap<&str, usize> = vocabulary
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, i))
        .collect();
    let rows: Vec<(Vec<(usize, f64)>, f64)> = examples
        .iter()
        .map(|(features, label)| {
            (
                features
                    .iter()
                    .filter_map(|(name, v)| index.get(name.as_str()).map(|&i| (i, *v)))
                    .collect(),
                *label,
            )
        })
        .collect();
    let penalty: Vec<f64> = vocabulary
        .iter()
        .map(|n| {
            if is_structural(n) {
                settings.l2_structure
            } else {
                settings.l2_words
            }
        })
        .collect();

    let n = rows.len() as f64;
    let mut weights = vec![0.0f64; vocabulary.len()];
    let mut bias = 0.0f64;
    let mut gradient = vec![0.0f64; vocabulary.len()];
    for _ in 0..settings.iterations {
        gradient.iter_mut().for_each(|g| *g = 0.0);
        let mut bias_gradient = 0.0;
        for (features, label) in &rows {
            let logit = bias + features.iter().map(|&(i, v)| weights[i] * v).sum::<f64>();
            let error = super::sigmoid(logit) - label;
            bias_gradient += error;
            for &(i, v) in features {
                gradient[i] += error * v;
            }
        }
        bias -= settings.learning_rate * bias_gradient / n;
        for i in 0..weights.len() {
            weights[i] -= settings.learning_rate * (gradient[i] / n + penalty[i] * weights[i]);
        }
    }
    let weights = vocabulary
        .iter()
        .zip(weights)
        .filter(|(name, w)| is_structural(name) || w.abs() >= 0.001)
        .map(|(name, w)| (name.to_string(), w))
        .collect();
    Ok(Model {
        bias,
        weights,
        trained_on: rows.len(),
    })
}

impl Model {
    /// The model file's text.
    pub fn to_tsv(&self, topic: &Topic, source: &str) -> String {
        let mut out = format!(
            "# tigris topic model for `{}`: logistic-regression weights, one `feature<TAB>weight` a line.\n\
             # Written by `tigris train` from {source} ({} training items); do not edit by hand.\n\
             bias\t{:.6}\n",
            topic.id, self.trained_on, self.bias
        );
        for (name, weight) in &self.weights {
            out.push_str(&format!("{name}\t{weight:.6}\n"));
        }
        out
    }
}
