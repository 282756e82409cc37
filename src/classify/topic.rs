//! Topics as data: a topic file (`config/topics/<id>.toml`) names term groups, rules, subtopics
//! and a threshold; an optional model file beside it holds learned weights (written by
//! `tigris train`). Loading validates both and compiles the terms to token hashes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::text::{self, hash_word};

/// Why a topic could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("cannot read topic file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("model file {path}:{line}: {message}")]
    Model {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot read the topics folder {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no topic files (*.toml) in {0}")]
    NoTopics(PathBuf),
    #[error("topic `{id}` is defined twice: {first} and {second}")]
    Duplicate {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    threshold: f64,
    bias: f64,
    title_factor: Option<f64>,
    max_text_words: Option<usize>,
    model: Option<String>,
    #[serde(default)]
    ignore_words: Vec<String>,
    #[serde(default)]
    groups: BTreeMap<String, RawGroup>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    subtopics: BTreeMap<String, RawSubtopic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    weight: f64,
    terms: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    groups: Vec<String>,
    scope: Scope,
    within: Option<usize>,
    weight: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubtopic {
    terms: Vec<String>,
    min_hits: Option<usize>,
}

/// Where a rule's groups must all appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// All in the title.
    Title,
    /// All within `within` words of each other, title and text read as one.
    Near,
    /// All somewhere in the title or text.
    Anywhere,
}

/// A named list of terms; its weight is the logit added per distinct term found (capped).
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    /// Logit per distinct term in the title, and in the text.
    pub title_weight: f64,
    pub text_weight: f64,
}

/// One term: one or more words, matched whole-word; `cased` terms only in capitals.
#[derive(Debug, Clone)]
pub struct Term {
    pub group: usize,
    pub text: String,
    pub hashes: Vec<u64>,
    pub cased: bool,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub groups: Vec<usize>,
    pub scope: Scope,
    pub within: usize,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct Subtopic {
    pub name: String,
    pub group: usize,
    pub min_hits: usize,
}

/// What the engine knows of one word.
#[derive(Debug, Clone, Default)]
pub struct WordInfo {
    /// A function word: it makes no word features (its weight would only learn an item's
    /// length). Terms and rules still see it.
    pub ignored: bool,
    /// Terms starting with this word.
    pub terms: Vec<u32>,
    /// Learned weights of the word anywhere (`w:`) and in the title (`t:`).
    pub weight: Option<f32>,
    pub title_weight: Option<f32>,
}

/// A compiled topic, ready to score.
#[derive(Debug, Clone)]
pub struct Topic {
    pub id: String,
    pub name: String,
    pub description: String,
    pub threshold: f64,
    pub bias: f64,
    pub max_text_words: usize,
    pub groups: Vec<Group>,
    pub terms: Vec<Term>,
    /// What the engine needs to know of a word, by its hash: one lookup per word.
    pub words: FxHashMap<u64, WordInfo>,
    pub rules: Vec<Rule>,
    pub subtopics: Vec<Subtopic>,
    /// Learned weights of word-pair features (`b:`), by feature key.
    pub pair_weights: FxHashMap<u64, f32>,
    /// Where the learned weights come from, when there are any.
    pub model_path: Option<PathBuf>,
    /// `<id>@<hash of topic and model files>`: changes whenever either file does.
    pub version: String,
    /// What is stored with each classification: the engine's version and the topic's.
    pub classifier_version: String,
}

/// Caps the count of distinct terms of a group that adds to the score.
pub const GROUP_CAP: f64 = 3.0;
const DEFAULT_TITLE_FACTOR: f64 = 2.0;
const DEFAULT_MAX_TEXT_WORDS: usize = 300;
const DEFAULT_WITHIN: usize = 30;

/// Prefix of the groups generated from subtopic term lists.
pub const SUBTOPIC_GROUP_PREFIX: &str = "subtopic:";

impl Topic {
    /// Loads a topic file and, when it names one, its model file.
    pub fn load(path: &Path) -> Result<Topic, TopicError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopicError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut topic = Topic::from_toml(path, &text)?;
        let mut version = Sha256::new();
        version.update(text.as_bytes());
        if let Some(model_path) = topic.model_path.clone() {
            match std::fs::read_to_string(&model_path) {
                Ok(model) => {
                    version.update(model.as_bytes());
                    topic.apply_model(&model_path, &model)?;
                }
                // A topic whose model is not trained yet scores with the file's weights.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::warn!(
                        topic = topic.id,
                        "model file {} not found; scoring with the topic file's weights only",
                        model_path.display()
                    );
                    topic.model_path = None;
                }
                Err(source) => {
                    return Err(TopicError::Read {
                        path: model_path,
                        source,
                    });
                }
            }
        }
        topic.version = format!("{}@{}", topic.id, &hex::encode(version.finalize())[..12]);
        topic.classifier_version = format!("{}/{}", super::ENGINE_VERSION, topic.version);
        Ok(topic)
    }

    /// Compiles topic text read from `path` (the model, if any, is not loaded).
    pub fn from_toml(path: &Path, text: &str) -> Result<Topic, TopicError> {
        let raw: RawTopic = toml::from_str(text).map_err(|e| TopicError::Syntax {
            path: path.to_path_buf(),
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1),
            message: e.message().trim().to_string(),
        })?;
        let invalid = |key: &str, message: String| TopicError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        if raw.id.is_empty()
            || !raw
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid(
                "id",
                format!("`{}` must be lower-case letters, digits and '-'", raw.id),
            ));
        }
        if !(0.0..=1.0).contains(&raw.threshold) {
            return Err(invalid(
                "threshold",
                format!("{} is not between 0 and 1", raw.threshold),
            ));
        }
        let title_factor = raw.title_factor.unwrap_or(DEFAULT_TITLE_FACTOR);

        let mut groups = Vec::new();
        let mut terms = Vec::new();
        let mut add_group = |name: String, weight: f64, list: &[String], key: &str| {
            let group = groups.len();
            groups.push(Group {
                name,
                title_weight: weight * title_factor,
                text_weight: weight,
            });
            for (i, term) in list.iter().enumerate() {
                let (cased, body) = match term.strip_prefix('=') {
                    Some(body) => (true, body),
                    None => (false, term.as_str()),
                };
                let words = text::words(body);
                if words.is_empty() {
                    return Err(invalid(
                        &format!("{key}.terms[{i}]"),
                        format!("`{term}` has no words"),
                    ));
                }
                terms.push(Term {
                    group,
                    text: body.to_string(),
                    hashes: words.iter().map(|w| hash_word(w)).collect(),
                    cased,
                });
            }
            Ok(())
        };
        for (name, group) in &raw.groups {
            add_group(
                name.clone(),
                group.weight,
                &group.terms,
                &format!("groups.{name}"),
            )?;
        }
        let mut subtopic_groups = Vec::new();
        for (name, subtopic) in &raw.subtopics {
            subtopic_groups.push((name.clone(), subtopic.min_hits.unwrap_or(1)));
            add_group(
                format!("{SUBTOPIC_GROUP_PREFIX}{name}"),
                0.0,
                &subtopic.terms,
                &format!("subtopics.{name}"),
            )?;
        }
        let group_index = |name: &str| groups.iter().position(|g| g.name == name);
        let mut rules = Vec::new();
        for (i, rule) in raw.rules.iter().enumerate() {
            let mut members = Vec::new();
            for name in &rule.groups {
                members.push(group_index(name).ok_or_else(|| {
                    invalid(
                        &format!("rules[{i}].groups"),
                        format!("no group named `{name}`"),
                    )
                })?);
            }
            if members.is_empty() {
                return Err(invalid(
                    &format!("rules[{i}].groups"),
                    "needs at least one group".into(),
                ));
            }
            rules.push(Rule {
                name: rule.name.clone(),
                groups: members,
                scope: rule.scope,
                within: rule.within.unwrap_or(DEFAULT_WITHIN),
                weight: rule.weight,
            });
        }
        let subtopics = subtopic_groups
            .into_iter()
            .map(|(name, min_hits)| Subtopic {
                group: group_index(&format!("{SUBTOPIC_GROUP_PREFIX}{name}")).unwrap_or(0),
                name,
                min_hits,
            })
            .collect();

        let mut words: FxHashMap<u64, WordInfo> = FxHashMap::default();
        for (i, term) in terms.iter().enumerate() {
            words
                .entry(term.hashes[0])
                .or_default()
                .terms
                .push(i as u32);
        }
        for word in raw.ignore_words.iter().flat_map(|w| text::words(w)) {
            words.entry(hash_word(&word)).or_default().ignored = true;
        }
        let model_path = raw.model.as_ref().map(|m| {
            path.parent()
                .map(|dir| dir.join(m))
                .unwrap_or_else(|| PathBuf::from(m))
        });
        Ok(Topic {
            version: raw.id.clone(),
            classifier_version: format!("{}/{}", super::ENGINE_VERSION, raw.id),
            id: raw.id,
            name: raw.name,
            description: raw.description,
            threshold: raw.threshold,
            bias: raw.bias,
            max_text_words: raw.max_text_words.unwrap_or(DEFAULT_MAX_TEXT_WORDS),
            groups,
            terms,
            words,
            rules,
            subtopics,
            pair_weights: FxHashMap::default(),
            model_path,
        })
    }

    /// Replaces the topic file's weights by learned ones. Lines are `name<TAB>weight`; `#`
    /// starts a comment. Names: `bias`, `group:<g>:title`, `group:<g>:text`, `rule:<r>`,
    /// `w:<word>`, `t:<word>` (in the title), `b:<word> <word>` (a word pair).
    pub fn apply_model(&mut self, path: &Path, model: &str) -> Result<(), TopicError> {
        let err = |line: usize, message: String| TopicError::Model {
            path: path.to_path_buf(),
            line,
            message,
        };
        for (index, line) in model.lines().enumerate() {
            let number = index + 1;
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, weight) = line
                .split_once('\t')
                .ok_or_else(|| err(number, "expected `name<TAB>weight`".into()))?;
            let weight: f64 = weight
                .trim()
                .parse()
                .map_err(|_| err(number, format!("`{weight}` is not a number")))?;
            if !weight.is_finite() {
                return Err(err(number, format!("`{weight}` is not finite")));
            }
            if let Some(word) = name.strip_prefix("w:") {
                self.words.entry(hash_word(word)).or_default().weight = Some(weight as f32);
            } else if let Some(word) = name.strip_prefix("t:") {
                self.words.entry(hash_word(word)).or_default().title_weight = Some(weight as f32);
            } else if let Some(pair) = name.strip_prefix("b:") {
                let (a, b) = pair
                    .split_once(' ')
                    .ok_or_else(|| err(number, format!("bad word pair `{name}`")))?;
                self.pair_weights.insert(
                    text::combine(KIND_PAIR, hash_word(a), hash_word(b)),
                    weight as f32,
                );
            } else if name == "bias" {
                self.bias = weight;
            } else if let Some(rest) = name.strip_prefix("group:") {
                let (group, place) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| err(number, format!("bad feature `{name}`")))?;
                let g = self
                    .groups
                    .iter_mut()
                    .find(|g| g.name == group)
                    .ok_or_else(|| {
                        err(
                            number,
                            format!("the topic has no group `{group}` (retrain the model)"),
                        )
                    })?;
                match place {
                    "title" => g.title_weight = weight,
                    "text" => g.text_weight = weight,
                    _ => return Err(err(number, format!("bad feature `{name}`"))),
                }
            } else if let Some(rule) = name.strip_prefix("rule:") {
                let r = self
                    .rules
                    .iter_mut()
                    .find(|r| r.name == rule)
                    .ok_or_else(|| {
                        err(
                            number,
                            format!("the topic has no rule `{rule}` (retrain the model)"),
                        )
                    })?;
                r.weight = weight;
            } else {
                return Err(err(number, format!("unknown feature `{name}`")));
            }
        }
        Ok(())
    }
}

/// Feature kinds, mixed into word-feature keys.
pub const KIND_WORD: u64 = 1;
pub const KIND_TITLE_WORD: u64 = 2;
pub const KIND_PAIR: u64 = 3;

/// Loads every `*.toml` in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Topic>, TopicError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TopicError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(TopicError::NoTopics(dir.to_path_buf()));
    }
    let mut topics: Vec<(Topic, PathBuf)> = Vec::new();
    for path in paths {
        let topic = Topic::load(&path)?;
        if let Some((_, first)) = topics.iter().find(|(t, _)| t.id == topic.id) {
            return Err(TopicError::Duplicate {
                id: topic.id,
                first: first.clone(),
                second: path,
            });
        }
        topics.push((topic, path));
    }
    Ok(topics.into_iter().map(|(t, _)| t).collect())
}
