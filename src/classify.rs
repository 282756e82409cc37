//! Classify: scores each entry for each topic tigris follows. Pure: text in, scores out.
//!
//! The shipped topic is `us-iraq` (US–Iraq relations). This first classifier is a keyword
//! scorer: it looks for an Iraq side and a US side (title evidence counts double) and calls an
//! entry relevant when both appear. Its reasons list the terms it matched, so every score can
//! be explained.

use crate::model::{Classification, ClassifiedEntry, KeyedEntry};

/// Name and version stored with every classification, so rows scored by an older classifier
/// can be found and rescored.
pub const CLASSIFIER_NAME: &str = "keywords-v0";

/// The topic shipped with tigris.
pub const DEFAULT_TOPIC: &str = "us-iraq";

/// Lower-case terms matched on word boundaries.
const IRAQ_TERMS: &[&str] = &[
    "iraq",
    "iraqi",
    "iraqis",
    "baghdad",
    "erbil",
    "kurdistan region",
    "ain al-asad",
    "al-asad",
    "al-harir",
    "mosul",
    "basra",
    "anbar",
    "kataib hezbollah",
    "popular mobilization",
    "sudani",
];
const US_TERMS: &[&str] = &[
    "united states",
    "u.s.",
    "us troops",
    "us forces",
    "us military",
    "american",
    "americans",
    "washington",
    "pentagon",
    "white house",
    "state department",
    "centcom",
    "coalition",
    "operation inherent resolve",
    "biden",
    "trump",
    "hegseth",
    "rubio",
    "blinken",
    "austin",
];

/// Score at or above which an entry is relevant.
const THRESHOLD: f64 = 0.5;

/// Scores entries; holds nothing but its term lists today, so it is cheap to share.
#[derive(Debug, Clone, Default)]
pub struct Classifier;

impl Classifier {
    pub fn new() -> Classifier {
        Classifier
    }

    pub fn classify_entries(&self, entries: Vec<KeyedEntry>) -> Vec<ClassifiedEntry> {
        entries
            .into_iter()
            .map(|keyed| {
                let classifications = vec![self.classify(&keyed.entry.title, &keyed.entry.text)];
                ClassifiedEntry {
                    keyed,
                    classifications,
                }
            })
            .collect()
    }

    /// Scores one title and text for the `us-iraq` topic.
    pub fn classify(&self, title: &str, text: &str) -> Classification {
        let title = normalize(title);
        let text = normalize(text);
        let mut reasons = Vec::new();
        let iraq = side_weight(IRAQ_TERMS, &title, &text, &mut reasons);
        let us = side_weight(US_TERMS, &title, &text, &mut reasons);
        // Each side saturates; both are needed for a high score.
        let score = (iraq.min(3.0) / 3.0) * 0.5 + (us.min(3.0) / 3.0) * 0.5;
        let score = if iraq > 0.0 && us > 0.0 {
            score.max(THRESHOLD)
        } else {
            score.min(THRESHOLD - 0.01)
        };
        if iraq == 0.0 {
            reasons.push("no Iraq term".to_string());
        }
        if us == 0.0 {
            reasons.push("no US term".to_string());
        }
        Classification {
            topic: DEFAULT_TOPIC.to_string(),
            score: (score * 1000.0).round() / 1000.0,
            relevant: score >= THRESHOLD,
            reasons,
            classifier: CLASSIFIER_NAME.to_string(),
        }
    }
}

/// Lower-case words separated by single spaces, with a space at each end so that
/// `" term "` matches on word boundaries. Punctuation other than `-` separates words, so
/// "U.S." reads as "u s" and "Iraq." as "iraq".
fn normalize(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                ' '
            }
        })
        .flat_map(char::to_lowercase)
        .collect();
    let mut out = String::with_capacity(mapped.len() + 2);
    out.push(' ');
    for word in mapped.split_whitespace() {
        out.push_str(word);
        out.push(' ');
    }
    out
}

fn side_weight(terms: &[&str], title: &str, text: &str, reasons: &mut Vec<String>) -> f64 {
    let mut weight = 0.0;
    for term in terms {
        let needle = normalize(term);
        if title.contains(&needle) {
            weight += 2.0;
            reasons.push(format!("title mentions \"{term}\""));
        } else if text.contains(&needle) {
            weight += 1.0;
            reasons.push(format!("text mentions \"{term}\""));
        }
    }
    weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_make_an_entry_relevant() {
        let c = Classifier::new().classify(
            "US troops to leave Ain al-Asad",
            "Washington and Baghdad agreed on a timetable.",
        );
        assert!(c.relevant, "{c:?}");
        assert!(c.score >= THRESHOLD);
        assert!(c.reasons.iter().any(|r| r.contains("ain al-asad")));
    }

    #[test]
    fn one_side_alone_is_not_relevant() {
        let c = Classifier::new().classify(
            "Baghdad traffic plan",
            "The Iraqi capital opens a new bridge.",
        );
        assert!(!c.relevant, "{c:?}");
        assert!(c.reasons.iter().any(|r| r == "no US term"));
        let c =
            Classifier::new().classify("Pentagon budget", "The Pentagon asked Congress for funds.");
        assert!(!c.relevant, "{c:?}");
    }

    #[test]
    fn seed_articles_are_relevant() {
        for seed in [
            include_str!("../tests/data/seeds/000_66a024b0265385c0.txt"),
            include_str!("../tests/data/seeds/002_44ea737527027833.txt"),
        ] {
            let (title, text) = seed.split_once('\n').unwrap_or((seed, ""));
            assert!(Classifier::new().classify(title, text).relevant, "{title}");
        }
    }
}
