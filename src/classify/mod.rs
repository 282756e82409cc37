//! Classify: scores each entry for each topic tigris follows. Pure: text in, scores out.
//!
//! A topic is data (`config/topics/<id>.toml`, see [`topic`]): weighted term groups, rules
//! over them (e.g. "an Iraq term and a US term within 30 words"), subtopics, a threshold, and
//! optionally learned weights for word and word-pair features ([`train`] fits them by logistic
//! regression on a labeled set). An item's score is the logistic function of the sum of the
//! weights of the features it has, so every score is explained by the features that made it:
//! the evidence lists them with their weights.

pub mod text;
pub mod topic;
pub mod train;

use std::cell::RefCell;

use rustc_hash::FxHashSet;

use crate::model::{Classification, ClassifiedEntry, Evidence, KeyedEntry, StoredClassification};
use text::Token;
use topic::{
    GROUP_CAP, KIND_PAIR, KIND_TITLE_WORD, KIND_WORD, SUBTOPIC_GROUP_PREFIX, Scope, WordInfo,
};
pub use topic::{Topic, TopicError};

/// The topic the merged feed shows unless asked for another (when it is configured).
pub const DEFAULT_TOPIC: &str = "us-iraq";

/// The engine's version, stored with every classification beside the topic's own version.
pub const ENGINE_VERSION: &str = "topic-engine-1";

/// At most this many evidence entries are kept per item.
const MAX_EVIDENCE: usize = 12;
/// Title tokens an analysis reads; the fingerprint reads fewer of the same tokens
/// (`Classifier::fingerprint_after_classifying`).
const TITLE_TOKENS: usize = 64;
const _: () = assert!(TITLE_TOKENS >= crate::cluster::TITLE_WORDS);

/// Scores entries for a set of topics. Cheap to share: scoring takes `&self`.
#[derive(Debug, Clone)]
pub struct Classifier {
    topics: Vec<Topic>,
}

/// Per-thread scratch buffers, so scoring allocates little per item.
#[derive(Default)]
struct Scratch {
    /// The last item analyzed: its title's tokens, then its text's.
    tokens: Vec<Token>,
    /// How many of `tokens` are the title's.
    in_title: usize,
    seen: FxHashSet<u64>,
    /// (position, term) of every term occurrence.
    hits: Vec<(u32, u32)>,
    /// (term, 1 = seen in title | 2 = seen in text).
    places: Vec<(u32, u8)>,
    /// (position, slot) of a rule's hits, and per-slot counts, for `near`.
    window: Vec<(u32, usize)>,
    counts: Vec<u32>,
    analysis: Analysis,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// What the engine found in one item for one topic.
#[derive(Debug, Default, Clone)]
pub struct Analysis {
    /// Distinct terms found, per group, in the title and in the text.
    pub group_title: Vec<u32>,
    pub group_text: Vec<u32>,
    /// Which rules hold.
    pub rules: Vec<bool>,
    /// (term index, first position, in title) of each distinct term found.
    pub terms: Vec<(u32, u32, bool)>,
    /// Word features present, each once. Scoring keeps only those the model has a weight
    /// for; training keeps all.
    pub words: Vec<WordFeature>,
}

/// A word, title-word or word-pair feature of an item.
#[derive(Debug, Clone, Copy)]
pub struct WordFeature {
    pub key: u64,
    pub kind: u64,
    /// The model's weight for it, 0 when it has none.
    pub weight: f32,
    pub in_title: bool,
    /// The word (and, for a pair, the next word) where it was first seen.
    pub token: Token,
    pub next: Option<Token>,
}

/// Which word features `analyze` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Words {
    /// Those with a learned weight (scoring).
    Weighted,
    /// All (training).
    All,
}

impl Classifier {
    pub fn new(topics: Vec<Topic>) -> Classifier {
        Classifier { topics }
    }

    /// Loads every topic file (`*.toml`) of `dir` with its model.
    pub fn load(dir: &std::path::Path) -> Result<Classifier, TopicError> {
        Ok(Classifier::new(topic::load_dir(dir)?))
    }

    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    pub fn topic(&self, id: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.id == id)
    }

    /// The version string stored with a topic's classifications.
    pub fn version_of(topic: &Topic) -> String {
        topic.classifier_version.clone()
    }

    /// Scores each entry for every topic, and takes its story fingerprint (`cluster`) while
    /// the text is at hand: the store needs both to file the entry.
    pub fn classify_entries(&self, entries: Vec<KeyedEntry>) -> Vec<ClassifiedEntry> {
        entries
            .into_iter()
            .map(|keyed| {
                let (title, text) = (&keyed.entry.title, &keyed.entry.text);
                let classifications = self.classify_for_store(title, text);
                let print = self.fingerprint_after_classifying(title, text);
                ClassifiedEntry::new(keyed, classifications, print)
            })
            .collect()
    }

    /// The item's fingerprint (`cluster::fingerprint`), from the tokens the last topic's
    /// analysis of it left in this thread's scratch when they reach as far as the
    /// fingerprint reads: tokenizing the item again was a quarter of a fingerprint's time.
    /// Called right after `classify_for_store` of the same title and text.
    fn fingerprint_after_classifying(&self, title: &str, text: &str) -> crate::cluster::StoryPrint {
        use crate::cluster;
        match self.topics.last() {
            Some(topic) if topic.max_text_words >= cluster::TEXT_WORDS => SCRATCH.with(|scratch| {
                let scratch = scratch.borrow();
                let (in_title, in_text) = scratch.tokens.split_at(scratch.in_title);
                cluster::fingerprint_of_tokens((title, in_title), (text, in_text))
            }),
            _ => cluster::fingerprint(title, text),
        }
    }

    /// [`Classifier::classify`] as the store writes it (see [`classify_topic_for_store`]).
    pub fn classify_for_store(&self, title: &str, text: &str) -> Vec<StoredClassification> {
        self.topics
            .iter()
            .map(|topic| classify_topic_for_store(topic, title, text))
            .collect()
    }

    /// Scores one title and text for every topic.
    pub fn classify(&self, title: &str, text: &str) -> Vec<Classification> {
        self.topics
            .iter()
            .map(|topic| classify_topic(topic, title, text))
            .collect()
    }
}

/// Scores one item for one topic.
pub fn classify_topic(topic: &Topic, title: &str, text: &str) -> Classification {
    let (score, relevant, evidence, subtopics) = judge(topic, title, text, |candidates| {
        evidence_of(topic, candidates, title, text)
    });
    Classification {
        topic: topic.id.clone(),
        score,
        relevant,
        subtopics,
        evidence,
        classifier: topic.classifier_version.clone(),
    }
}

/// [`classify_topic`] as the store writes it: the evidence and the subtopics made into their
/// JSON columns at once. The `Evidence` values in between cost ~50 allocations an item, on
/// the parse threads and again where the stored poll is freed, for columns the store only
/// binds.
pub fn classify_topic_for_store(topic: &Topic, title: &str, text: &str) -> StoredClassification {
    let (score, relevant, evidence_json, subtopics) = judge(topic, title, text, |candidates| {
        evidence_json_of(topic, candidates, title, text)
    });
    StoredClassification {
        topic: topic.id.clone(),
        score,
        relevant,
        subtopics_json: serde_json::to_string(&subtopics).unwrap_or_else(|_| "[]".into()),
        evidence_json,
        classifier: topic.classifier_version.clone(),
    }
}

/// The score (rounded as stored), whether it is relevant, the evidence as `evidence` makes it
/// from the strongest features, and the subtopics (only for a relevant item).
fn judge<E>(
    topic: &Topic,
    title: &str,
    text: &str,
    evidence: impl FnOnce(&[(f64, Candidate<'_>)]) -> E,
) -> (f64, bool, E, Vec<String>) {
    with_analysis(topic, title, text, Words::Weighted, |a| {
        let (logit, candidates) = score(topic, a);
        let score = sigmoid(logit);
        let relevant = score >= topic.threshold;
        let subtopics = if relevant {
            subtopics_of(topic, a)
        } else {
            Vec::new()
        };
        let evidence = evidence(&candidates);
        (
            (score * 10_000.0).round() / 10_000.0,
            relevant,
            evidence,
            subtopics,
        )
    })
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Finds the topic's terms, rules and word features in an item.
pub fn analyze(topic: &Topic, title: &str, text: &str, keep: Words) -> Analysis {
    with_analysis(topic, title, text, keep, Analysis::clone)
}

/// Analyzes an item into this thread's reusable buffers and hands the result to `f`.
fn with_analysis<R>(
    topic: &Topic,
    title: &str,
    text: &str,
    keep: Words,
    f: impl FnOnce(&Analysis) -> R,
) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let Scratch {
            tokens,
            in_title,
            seen,
            hits,
            places,
            window,
            counts,
            analysis: a,
        } = &mut *scratch;
        tokens.clear();
        text::tokenize(title, TITLE_TOKENS, tokens);
        let n_title = tokens.len();
        *in_title = n_title;
        text::tokenize(text, topic.max_text_words, tokens);

        a.group_title.clear();
        a.group_title.resize(topic.groups.len(), 0);
        a.group_text.clear();
        a.group_text.resize(topic.groups.len(), 0);
        a.rules.clear();
        a.rules.resize(topic.rules.len(), false);
        a.terms.clear();
        a.words.clear();

        // Each token's entry in the topic's vocabulary, looked up once for both passes below
        // instead of once in each (a hash probe a token).
        let infos: Vec<Option<&WordInfo>> =
            tokens.iter().map(|t| topic.words.get(&t.hash)).collect();

        // Terms: whole-word matches, not across the title/text boundary.
        hits.clear();
        for i in 0..tokens.len() {
            let Some(candidates) = infos[i].map(|w| &w.terms) else {
                continue;
            };
            let limit = if i < n_title { n_title } else { tokens.len() };
            for &t in candidates {
                let term = &topic.terms[t as usize];
                let end = i + term.hashes.len();
                if end > limit {
                    continue;
                }
                let matched = tokens[i..end]
                    .iter()
                    .zip(&term.hashes)
                    .all(|(tok, h)| tok.hash == *h && (!term.cased || tok.upper));
                if matched {
                    hits.push((i as u32, t));
                }
            }
        }
        // Each distinct term counts once in the title and once in the text.
        places.clear();
        for &(pos, t) in hits.iter() {
            let in_title = (pos as usize) < n_title;
            let bit = if in_title { 1 } else { 2 };
            match places.iter_mut().find(|(term, _)| *term == t) {
                Some((_, bits)) if *bits & bit != 0 => continue,
                Some((_, bits)) => *bits |= bit,
                None => {
                    places.push((t, bit));
                    a.terms.push((t, pos, in_title));
                }
            }
            let group = topic.terms[t as usize].group;
            if in_title {
                a.group_title[group] += 1;
            } else {
                a.group_text[group] += 1;
            }
        }

        for (r, rule) in topic.rules.iter().enumerate() {
            a.rules[r] = match rule.scope {
                Scope::Title => rule.groups.iter().all(|&g| a.group_title[g] > 0),
                Scope::Anywhere => rule
                    .groups
                    .iter()
                    .all(|&g| a.group_title[g] + a.group_text[g] > 0),
                Scope::Near => near(topic, hits, &rule.groups, rule.within, window, counts),
            };
        }

        // Word features, each counted once.
        seen.clear();
        for i in 0..tokens.len() {
            let token = tokens[i];
            let info = infos[i];
            let next_info = infos.get(i + 1).copied().flatten();
            if info.is_some_and(|w| w.ignored) {
                continue;
            }
            let in_title = i < n_title;
            let next = tokens
                .get(i + 1)
                .filter(|_| {
                    ((i + 1) < n_title) == in_title && !next_info.is_some_and(|w| w.ignored)
                })
                .copied();
            let mut push = |key: u64, kind: u64, weight: Option<f32>, next: Option<Token>| {
                if (weight.is_some() || keep == Words::All) && seen.insert(key) {
                    a.words.push(WordFeature {
                        key,
                        kind,
                        weight: weight.unwrap_or(0.0),
                        in_title,
                        token,
                        next,
                    });
                }
            };
            let weight = info.and_then(|w| w.weight);
            if weight.is_some() || keep == Words::All {
                push(
                    text::combine(KIND_WORD, token.hash, 0),
                    KIND_WORD,
                    weight,
                    None,
                );
            }
            if in_title {
                let weight = info.and_then(|w| w.title_weight);
                if weight.is_some() || keep == Words::All {
                    push(
                        text::combine(KIND_TITLE_WORD, token.hash, 0),
                        KIND_TITLE_WORD,
                        weight,
                        None,
                    );
                }
            }
            if let Some(n) = next {
                let key = text::combine(KIND_PAIR, token.hash, n.hash);
                push(
                    key,
                    KIND_PAIR,
                    topic.pair_weights.get(&key).copied(),
                    Some(n),
                );
            }
        }
        f(a)
    })
}

/// True when a term of each of `groups` occurs within `within` words of the others.
fn near(
    topic: &Topic,
    hits: &[(u32, u32)],
    groups: &[usize],
    within: usize,
    relevant: &mut Vec<(u32, usize)>,
    counts: &mut Vec<u32>,
) -> bool {
    // Hits are in position order; slide a window over those of the rule's groups.
    relevant.clear();
    relevant.extend(hits.iter().filter_map(|&(pos, t)| {
        let g = topic.terms[t as usize].group;
        groups.iter().position(|&x| x == g).map(|slot| (pos, slot))
    }));
    counts.clear();
    counts.resize(groups.len(), 0);
    let mut covered = 0;
    let mut left = 0;
    for right in 0..relevant.len() {
        let (pos, slot) = relevant[right];
        if counts[slot] == 0 {
            covered += 1;
        }
        counts[slot] += 1;
        while relevant[left].0 + (within as u32) < pos {
            let (_, s) = relevant[left];
            counts[s] -= 1;
            if counts[s] == 0 {
                covered -= 1;
            }
            left += 1;
        }
        if covered == groups.len() {
            return true;
        }
    }
    false
}

/// A candidate piece of evidence, before any string is made for it.
enum Candidate<'a> {
    Term(u32, bool),
    Rule(usize),
    Word(&'a WordFeature),
}

/// The score's logit and the candidates for its evidence: the strongest features, at most
/// `MAX_EVIDENCE`, strongest first.
fn score<'a>(topic: &Topic, a: &'a Analysis) -> (f64, Vec<(f64, Candidate<'a>)>) {
    let mut logit = topic.bias;
    let mut candidates: Vec<(f64, Candidate<'_>)> = Vec::new();
    for (g, group) in topic.groups.iter().enumerate() {
        logit += group.title_weight * f64::from(a.group_title[g]).min(GROUP_CAP);
        logit += group.text_weight * f64::from(a.group_text[g]).min(GROUP_CAP);
    }
    for &(t, _, in_title) in &a.terms {
        let group = &topic.groups[topic.terms[t as usize].group];
        if group.name.starts_with(SUBTOPIC_GROUP_PREFIX) {
            continue;
        }
        let weight = if in_title {
            group.title_weight
        } else {
            group.text_weight
        };
        candidates.push((weight, Candidate::Term(t, in_title)));
    }
    for (r, rule) in topic.rules.iter().enumerate() {
        if a.rules[r] {
            logit += rule.weight;
            candidates.push((rule.weight, Candidate::Rule(r)));
        }
    }
    for word in &a.words {
        logit += f64::from(word.weight);
        candidates.push((f64::from(word.weight), Candidate::Word(word)));
    }
    let keep = candidates.len().min(MAX_EVIDENCE);
    if keep < candidates.len() {
        candidates.select_nth_unstable_by(keep, |x, y| y.0.abs().total_cmp(&x.0.abs()));
        candidates.truncate(keep);
    }
    candidates.sort_by(|x, y| y.0.abs().total_cmp(&x.0.abs()));
    (logit, candidates)
}

/// One piece of evidence, borrowed from the topic and the item: what `Evidence` serializes
/// to, field for field.
#[derive(serde::Serialize)]
struct EvidenceRef<'a> {
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    place: Option<&'static str>,
    weight: f64,
}

/// Calls `f` with each candidate as a piece of evidence (a word feature's name is made in
/// one reused buffer).
fn each_evidence(
    topic: &Topic,
    candidates: &[(f64, Candidate<'_>)],
    title: &str,
    text: &str,
    mut f: impl FnMut(EvidenceRef<'_>),
) {
    let mut word_name = String::new();
    for (weight, candidate) in candidates {
        let weight = round4(*weight);
        f(match candidate {
            Candidate::Term(t, in_title) => {
                let term = &topic.terms[*t as usize];
                EvidenceRef {
                    kind: "term",
                    name: &term.text,
                    group: Some(&topic.groups[term.group].name),
                    place: Some(if *in_title { "title" } else { "text" }),
                    weight,
                }
            }
            Candidate::Rule(r) => EvidenceRef {
                kind: "rule",
                name: &topic.rules[*r].name,
                group: None,
                place: None,
                weight,
            },
            Candidate::Word(word) => {
                word_name.clear();
                write_feature_name(&mut word_name, word, title, text);
                EvidenceRef {
                    kind: "word",
                    name: &word_name,
                    group: None,
                    place: None,
                    weight,
                }
            }
        });
    }
}

fn evidence_of(
    topic: &Topic,
    candidates: &[(f64, Candidate<'_>)],
    title: &str,
    text: &str,
) -> Vec<Evidence> {
    let mut evidence = Vec::with_capacity(candidates.len());
    each_evidence(topic, candidates, title, text, |e| {
        evidence.push(Evidence {
            kind: e.kind.to_string(),
            name: e.name.to_string(),
            group: e.group.map(str::to_string),
            place: e.place.map(str::to_string),
            weight: e.weight,
        });
    });
    evidence
}

/// The evidence as `serde_json` writes a `Vec<Evidence>` (the `classifications.evidence`
/// column), without making the `Evidence` values.
fn evidence_json_of(
    topic: &Topic,
    candidates: &[(f64, Candidate<'_>)],
    title: &str,
    text: &str,
) -> String {
    let mut json = Vec::with_capacity(64 * candidates.len() + 2);
    json.push(b'[');
    each_evidence(topic, candidates, title, text, |e| {
        if json.len() > 1 {
            json.push(b',');
        }
        // Writing to a Vec fails only if serializing fails, which these fields cannot.
        let _ = serde_json::to_writer(&mut json, &e);
    });
    json.push(b']');
    String::from_utf8(json).unwrap_or_else(|_| "[]".into())
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The model-file name of a word feature (`w:baghdad`, `t:erbil`, `b:us troops`).
pub fn feature_name(word: &WordFeature, title: &str, text: &str) -> String {
    let mut name = String::new();
    write_feature_name(&mut name, word, title, text);
    name
}

/// [`feature_name`], appended to `out`.
fn write_feature_name(out: &mut String, word: &WordFeature, title: &str, text: &str) {
    let source = if word.in_title { title } else { text };
    let (prefix, next) = match (word.kind, &word.next) {
        (KIND_TITLE_WORD, _) => ("t:", None),
        (KIND_WORD, _) | (_, None) => ("w:", None),
        (_, Some(next)) => ("b:", Some(next)),
    };
    out.push_str(prefix);
    text::push_lower_text(out, source, &word.token);
    if let Some(next) = next {
        out.push(' ');
        text::push_lower_text(out, source, next);
    }
}

fn subtopics_of(topic: &Topic, a: &Analysis) -> Vec<String> {
    let mut found: Vec<(u32, &str)> = topic
        .subtopics
        .iter()
        .filter_map(|s| {
            let hits = a.group_title[s.group] + a.group_text[s.group];
            (hits as usize >= s.min_hits).then_some((hits, s.name.as_str()))
        })
        .collect();
    found.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(y.1)));
    found
        .into_iter()
        .map(|(_, name)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shipped() -> Topic {
        Topic::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/topics/us-iraq.toml"
        )))
        .unwrap()
    }

    #[test]
    fn both_sides_near_each_other_make_an_item_relevant_with_evidence() {
        let c = classify_topic(
            &shipped(),
            "US troops to leave Ain al-Asad by September",
            "Washington and Baghdad agreed on a timetable for the coalition's transition.",
        );
        assert!(c.relevant, "{c:?}");
        assert!(
            c.subtopics.contains(&"withdrawal-talks".to_string()),
            "{c:?}"
        );
        assert!(
            c.evidence
                .iter()
                .any(|e| e.name.eq_ignore_ascii_case("ain al-asad")
                    && e.place.as_deref() == Some("title")),
            "{c:?}"
        );
        assert!(c.classifier.starts_with("topic-engine-1/us-iraq@"));
    }

    #[test]
    fn iraq_alone_or_iran_alone_is_not_relevant() {
        let t = shipped();
        let c = classify_topic(
            &t,
            "Baghdad opens new bridge over the Tigris",
            "The Iraqi capital's mayor cut the ribbon.",
        );
        assert!(!c.relevant, "{c:?}");
        assert!(c.subtopics.is_empty());
        let c = classify_topic(
            &t,
            "Iran and US resume nuclear talks in Oman",
            "Washington and Tehran exchanged messages.",
        );
        assert!(!c.relevant, "{c:?}");
    }

    #[test]
    fn the_pronoun_us_is_not_the_country() {
        let t = shipped();
        let a = analyze(&t, "Join us in Baghdad for the book fair", "", Words::All);
        let b = analyze(&t, "US envoy in Baghdad for talks", "", Words::All);
        let us_group = t.groups.iter().position(|g| g.name == "us").unwrap();
        assert_eq!(a.group_title[us_group], 0);
        assert_eq!(b.group_title[us_group], 1);
    }

    #[test]
    fn scoring_is_deterministic() {
        let t = shipped();
        let a = classify_topic(
            &t,
            "Rocket attack on Erbil base",
            "US forces were targeted by Kataib Hezbollah.",
        );
        let b = classify_topic(
            &t,
            "Rocket attack on Erbil base",
            "US forces were targeted by Kataib Hezbollah.",
        );
        assert_eq!(a.score, b.score);
        assert_eq!(a.evidence, b.evidence);
    }

    /// The fingerprint `classify_entries` makes from the classifier's tokens is the one
    /// `cluster::fingerprint` makes alone: with the shipped topic, with a topic that reads
    /// fewer text words than the fingerprint (which then reads its own), with none, and with
    /// two (the last one's tokens are used).
    #[test]
    fn the_fingerprint_from_the_classifiers_tokens_is_the_fingerprint() {
        let seeds = [
            include_str!("../../tests/data/seeds/000_66a024b0265385c0.txt"),
            include_str!("../../tests/data/seeds/001_8a5f63cd2e2e5dd1.txt"),
            include_str!("../../tests/data/seeds/004_a0345ad12af6fa6c.txt"),
        ];
        let long_title = "Iraq ".repeat(80);
        let mut items: Vec<(&str, &str)> = seeds
            .iter()
            .map(|seed| seed.split_once('\n').unwrap_or((seed, "")))
            .collect();
        items.extend([
            ("", ""),
            ("US troops", ""),
            ("", "Only a text, Baghdad."),
            (
                long_title.as_str(),
                "Ba\u{11f}dat ÉRBIL \u{5d1}\u{5d2}\u{5d3} 2026 U.S.",
            ),
        ]);
        let entries = || -> Vec<KeyedEntry> {
            items
                .iter()
                .map(|(title, text)| KeyedEntry {
                    entry: crate::model::Entry {
                        title: title.to_string(),
                        text: text.to_string(),
                        ..Default::default()
                    },
                    entry_key: String::new(),
                    canonical_url: None,
                    content_hash: String::new(),
                })
                .collect()
        };
        let mut short = shipped();
        short.max_text_words = crate::cluster::TEXT_WORDS - 1;
        for topics in [
            vec![shipped()],
            vec![short.clone()],
            vec![],
            vec![short, shipped()],
        ] {
            let classifier = Classifier::new(topics);
            for classified in classifier.classify_entries(entries()) {
                let e = &classified.keyed.entry;
                assert_eq!(
                    classified.print,
                    crate::cluster::fingerprint(&e.title, &e.text),
                    "{:?}",
                    e.title
                );
            }
        }
    }

    /// The store's columns are what serializing the `Classification` gives, for relevant and
    /// unrelated items, terms, rules and learned word features alike.
    #[test]
    fn the_stored_columns_are_the_classification_serialized() {
        let t = shipped();
        let mut items: Vec<(&str, &str)> = [
            include_str!("../../tests/data/seeds/000_66a024b0265385c0.txt"),
            include_str!("../../tests/data/seeds/003_d1788cc086be3389.txt"),
        ]
        .iter()
        .map(|seed| seed.split_once('\n').unwrap_or((seed, "")))
        .collect();
        items.push((
            "Baghdad opens new bridge over the Tigris",
            "The Iraqi capital's mayor cut the ribbon; officials said the budget held.",
        ));
        items.push((
            "Farmers fear inflation",
            "The election and the vote on rates.",
        ));
        items.push(("", ""));
        let mut kinds = std::collections::BTreeSet::new();
        for (title, text) in items {
            let full = classify_topic(&t, title, text);
            let stored = classify_topic_for_store(&t, title, text);
            assert_eq!(
                stored.evidence_json,
                serde_json::to_string(&full.evidence).unwrap(),
                "{title}"
            );
            assert_eq!(
                stored.subtopics_json,
                serde_json::to_string(&full.subtopics).unwrap(),
                "{title}"
            );
            assert_eq!(
                (
                    stored.score,
                    stored.relevant,
                    &stored.topic,
                    &stored.classifier
                ),
                (full.score, full.relevant, &full.topic, &full.classifier)
            );
            kinds.extend(full.evidence.iter().map(|e| e.kind.clone()));
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["rule", "term", "word"],
            "the items cover every kind of evidence"
        );
    }

    #[test]
    fn seed_articles_are_relevant() {
        let t = shipped();
        for seed in [
            include_str!("../../tests/data/seeds/000_66a024b0265385c0.txt"),
            include_str!("../../tests/data/seeds/001_8a5f63cd2e2e5dd1.txt"),
            include_str!("../../tests/data/seeds/002_44ea737527027833.txt"),
            include_str!("../../tests/data/seeds/003_d1788cc086be3389.txt"),
            include_str!("../../tests/data/seeds/004_a0345ad12af6fa6c.txt"),
        ] {
            let (title, text) = seed.split_once('\n').unwrap_or((seed, ""));
            let c = classify_topic(&t, title, text);
            assert!(c.relevant, "{title}: {c:?}");
        }
    }
}
