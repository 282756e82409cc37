//! Tokens for the topic engine: words of a title or text, each with a hash of its lower-case
//! form, so term matching and model lookups compare integers, never strings.
//!
//! Tokenizing rules (the same for texts, topic terms and model feature names):
//! - a token is a run of letters and digits; anything else separates tokens, so "al-Asad" is
//!   `al asad` and "Iraq's" is `iraq s`;
//! - dots between single letters join them: "U.S." is the one token `us` (written in capitals);
//! - single-character tokens are dropped (`s`, `a`), digits included.
//!
//! Written by hand rather than with a general tokenizer crate: the engine's speed target
//! (100,000 items a second on one core) leaves no room for per-token allocation, and the rules
//! above (capitals kept as a flag, dotted abbreviations joined) are specific to matching news
//! terms such as "US" versus the pronoun "us".

/// One token: where it is in its source, the hash of its lower-case form, and whether it was
/// written in capitals.
#[derive(Debug, Clone, Copy)]
pub struct Token {
    pub hash: u64,
    /// Every letter is a capital ("US", "U.S.", "NATO").
    pub upper: bool,
    /// Byte span in the source string (for the lower-case text when a name is needed).
    pub start: u32,
    pub end: u32,
}

/// Hash of a lower-case token text, as the model stores it: FNV-1a over its UTF-8 bytes,
/// which [`tokenize`] computes byte by byte while it reads, with no buffer.
pub fn hash_word(lower: &str) -> u64 {
    lower.bytes().fold(FNV_OFFSET, fnv)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

#[inline]
fn fnv(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// Combines feature parts into one key; `kind` keeps word, title-word and word-pair features
/// of the same tokens apart.
pub fn combine(kind: u64, a: u64, b: u64) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let x = (kind.wrapping_mul(K) ^ a).rotate_left(23).wrapping_mul(K);
    (x ^ b).rotate_left(17).wrapping_mul(K)
}

/// Appends the tokens of `source` to `out` (at most `max` of them).
pub fn tokenize(source: &str, max: usize, out: &mut Vec<Token>) {
    let bytes = source.as_bytes();
    let mut i = 0;
    let mut added = 0;
    while i < bytes.len() && added < max {
        let (c, len) = char_at(source, i);
        if !c.is_alphanumeric() {
            i += len;
            continue;
        }
        let mut hash = FNV_OFFSET;
        let mut chars_in_token = 0;
        let start = i;
        let mut end = i;
        let mut upper = true;
        let mut letters = 0;
        let mut segment_len = 0;
        while i < bytes.len() {
            // ASCII letters and digits, the bulk of English news text, without decoding.
            let b = bytes[i];
            if b.is_ascii_alphanumeric() {
                if b.is_ascii_alphabetic() {
                    letters += 1;
                    upper &= b.is_ascii_uppercase();
                }
                hash = fnv(hash, b.to_ascii_lowercase());
                chars_in_token += 1;
                segment_len += 1;
                i += 1;
                end = i;
                continue;
            }
            let (c, len) = char_at(source, i);
            if c.is_alphanumeric() {
                if c.is_alphabetic() {
                    letters += 1;
                    upper &= c.is_uppercase();
                }
                if c.is_ascii() {
                    hash = fnv(hash, c.to_ascii_lowercase() as u8);
                } else {
                    for lower in c.to_lowercase() {
                        let mut utf8 = [0u8; 4];
                        for &b in lower.encode_utf8(&mut utf8).as_bytes() {
                            hash = fnv(hash, b);
                        }
                    }
                }
                chars_in_token += 1;
                segment_len += 1;
                i += len;
                end = i;
            } else if c == '.'
                && segment_len == 1
                && bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic())
                && bytes.get(i + 2).is_none_or(|b| !b.is_ascii_alphanumeric())
            {
                // "U.S.", "U.N.": a single letter, a dot, a single letter.
                segment_len = 0;
                i += 1;
            } else {
                break;
            }
        }
        // Single characters make no token ("s" of "Iraq's", "a").
        if chars_in_token < 2 {
            continue;
        }
        out.push(Token {
            hash,
            upper: upper && letters > 0,
            start: start as u32,
            end: end as u32,
        });
        added += 1;
    }
}

/// The character at byte `i` and its length; ASCII without decoding.
#[inline]
fn char_at(s: &str, i: usize) -> (char, usize) {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        (b as char, 1)
    } else {
        let c = s[i..].chars().next().unwrap_or('\u{fffd}');
        (c, c.len_utf8())
    }
}

/// The lower-case words of `s` by the same rules, for building names and term lists.
pub fn words(s: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    tokenize(s, usize::MAX, &mut tokens);
    tokens.iter().map(|t| lower_text(s, t)).collect()
}

/// The lower-case text of a token, dots of abbreviations removed.
pub fn lower_text(source: &str, token: &Token) -> String {
    let mut lower = String::new();
    push_lower_text(&mut lower, source, token);
    lower
}

/// [`lower_text`], appended to `out`.
pub fn push_lower_text(out: &mut String, source: &str, token: &Token) {
    out.extend(
        source[token.start as usize..token.end as usize]
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        tokenize(s, usize::MAX, &mut out);
        out.iter().map(|t| (lower_text(s, t), t.upper)).collect()
    }

    #[test]
    fn abbreviations_hyphens_and_possessives() {
        assert_eq!(
            toks("U.S.-led troops left Ain al-Asad; Iraq's PM"),
            vec![
                ("us".into(), true),
                ("led".into(), false),
                ("troops".into(), false),
                ("left".into(), false),
                ("ain".into(), false),
                ("al".into(), false),
                ("asad".into(), false),
                ("iraq".into(), false),
                ("pm".into(), true),
            ]
        );
    }

    #[test]
    fn the_pronoun_is_not_in_capitals() {
        assert_eq!(
            toks("Join us"),
            vec![("join".into(), false), ("us".into(), false)]
        );
        assert_eq!(toks("US forces")[0], ("us".into(), true));
    }

    #[test]
    fn hashes_match_lower_case_words() {
        let mut out = Vec::new();
        tokenize("BAGHDAD Bağdat", usize::MAX, &mut out);
        assert_eq!(out[0].hash, hash_word("baghdad"));
        assert_eq!(out[1].hash, hash_word("bağdat"));
    }

    #[test]
    fn max_bounds_the_token_count() {
        let mut out = Vec::new();
        tokenize("one two three four", 2, &mut out);
        assert_eq!(out.len(), 2);
    }
}
