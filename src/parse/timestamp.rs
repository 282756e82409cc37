//! The timestamps of a feed, read as feed-rs reads them, faster.
//!
//! feed-rs reads every date with `parse_timestamp_lenient` (private to it): it trims the text,
//! applies 2 regular-expression fixes (each making a new string) and tries RFC 3339, then 6
//! more fixes and RFC 2822, then 2 more and RFC 1123. On the benchmark farm that was 5 % of the
//! parse threads' samples, for dates that are nearly all well formed. [`timestamp`] is given
//! to feed-rs in its place (`Builder::timestamp_parser`): a well-formed RFC 3339 or RFC 2822
//! date is read by chrono at once, and anything else goes through the same fixes as feed-rs
//! (copied below from feed-rs 3.0.0, MIT licence), in the same order.
//!
//! Why the answer is the same: each fix is a regular expression that only matches text
//! chrono's strict parsers refuse, or that rewrites it to text chrono reads as the same
//! instant (a weekday chrono checked against the date, `UTC` or `-0000` for `+0000`, a
//! one-digit hour padded). So where the strict parse succeeds, feed-rs's fixes leave the
//! text as it is, or mean the same, and its first parse that succeeds is the same one. The
//! tests compare both readings on generated dates and on every document of the corpus.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use regex::Regex;

/// The publication or update time of a feed or entry, as feed-rs's own parser reads it.
pub(super) fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    let trimmed = text.trim();
    DateTime::parse_from_rfc3339(trimmed)
        .or_else(|_| DateTime::parse_from_rfc2822(trimmed))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| lenient(text))
}

/// feed-rs's `parse_timestamp_lenient`: RFC 3339, RFC 2822, then RFC 1123, each after its
/// fixes.
fn lenient(original: &str) -> Option<DateTime<Utc>> {
    let fixes = fixes();
    let cleaned = |fixes: &[(Regex, &'static str)]| {
        let mut cleaned = original.trim().to_string();
        for (regex, replacement) in fixes {
            cleaned = regex.replace(&cleaned, *replacement).to_string();
        }
        cleaned
    };
    DateTime::parse_from_rfc3339(cleaned(&fixes.rfc3339).trim())
        .or_else(|_| DateTime::parse_from_rfc2822(&cleaned(&fixes.rfc2822)))
        .or_else(|_| DateTime::parse_from_str(&cleaned(&fixes.rfc1123), "%d %b %Y %H:%M:%S %z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
}

struct Fixes {
    rfc3339: Vec<(Regex, &'static str)>,
    rfc2822: Vec<(Regex, &'static str)>,
    rfc1123: Vec<(Regex, &'static str)>,
}

/// feed-rs 3.0.0's fixes (`parser::util::fixes`), with its comments.
fn fixes() -> &'static Fixes {
    static FIXES: OnceLock<Fixes> = OnceLock::new();
    FIXES.get_or_init(|| {
        let fix = |pattern: &str, replacement: &'static str| {
            (
                Regex::new(pattern).expect("feed-rs's patterns compile"),
                replacement,
            )
        };
        Fixes {
            rfc3339: vec![
                // inserts missing colon in timezone
                fix(r"(\+|-)(\d{2})(\d{2})", "${1}${2}:${3}"),
                // appends time (midnight) and timezone (utc) if missing
                fix(r"-\d{2}$", "${0}T00:00:00+00:00"),
            ],
            rfc2822: vec![
                // "UTC" or "-0000" for the offset
                fix("(UTC|-0000$)", "+0000"),
                // a wrong or long weekday name: dropped
                fix("(Sun|Mon|Tue|Wed|Thu|Fri|Sat)[a-z]*, ", ""),
                // long month names made short
                fix(
                    "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*",
                    "$1",
                ),
                // month and day reversed (MDY instead of DMY)
                fix(
                    "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\\d{1,2}) (\\d{4})",
                    "$2 $1 $3",
                ),
                // an hour of 24 on the same day: the start of the day
                fix(" 24:", " 00:"),
                // one-digit hours padded
                fix(" ([0-9]):", " 0${1}:"),
            ],
            rfc1123: vec![
                // replaces the trailing " Z" with UTC offset
                fix(" Z$", " +0000"),
                // drop the week day name
                fix("^[[:alpha:]]{3}, ", ""),
            ],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// feed-rs's own reading of `date`, through a parser built with its defaults.
    fn feed_rs_reading(date: &str) -> Option<DateTime<Utc>> {
        let escaped = date
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let document = format!(
            "<rss version=\"2.0\"><channel><title>T</title><item><title>I</title>\
             <pubDate>{escaped}</pubDate></item></channel></rss>"
        );
        let feed = feed_rs::parser::parse(document.as_bytes()).expect("the document parses");
        feed.entries[0].published
    }

    #[test]
    fn dates_read_as_feed_rs_reads_them() {
        for (date, expected) in [
            ("2026-12-04T10:00:00Z", Some("2026-12-04T10:00:00+00:00")),
            (
                " 2026-12-04T10:00:00.25-05:00 ",
                Some("2026-12-04T15:00:00.250+00:00"),
            ),
            (
                "Fri, 04 Dec 2026 10:00:00 GMT",
                Some("2026-12-04T10:00:00+00:00"),
            ),
            (
                "Fri, 04 Dec 2026 10:00:00 +0300",
                Some("2026-12-04T07:00:00+00:00"),
            ),
            // Left to feed-rs's fixes: a wrong weekday, a long month, `UTC`, a one-digit hour,
            // an offset without its colon, a date alone.
            (
                "Mon, 04 Dec 2026 10:00:00 GMT",
                Some("2026-12-04T10:00:00+00:00"),
            ),
            (
                "Friday, 4 December 2026 9:05:00 UTC",
                Some("2026-12-04T09:05:00+00:00"),
            ),
            (
                "2026-12-04T10:00:00+0100",
                Some("2026-12-04T09:00:00+00:00"),
            ),
            ("2026-12-04", Some("2026-12-04T00:00:00+00:00")),
            ("not a date", None),
            ("", None),
        ] {
            let ours = timestamp(date);
            assert_eq!(
                ours.map(|t| t.to_rfc3339()),
                expected.map(String::from),
                "{date:?}"
            );
            assert_eq!(ours, feed_rs_reading(date), "{date:?}");
        }
    }

    /// Dates made of the pieces feed-rs's fixes look for, well formed or not.
    fn date_like() -> impl Strategy<Value = String> {
        let weekday = prop::sample::select(vec![
            "", "Fri, ", "Mon, ", "Friday, ", "Thurs, ", "fri, ", "Fri,",
        ]);
        let day = prop::sample::select(vec!["4", "04", "31", "24", "0"]);
        let month = prop::sample::select(vec!["Dec", "December", "dec", "Feb", "Febr"]);
        let year = prop::sample::select(vec!["2026", "26", "1999", "10000"]);
        let time = prop::sample::select(vec![
            "10:00:00", "9:05:00", "24:00:00", "10:00", "23:59:60", "10:24:00",
        ]);
        let zone = prop::sample::select(vec![
            "GMT", "UTC", "+0000", "-0000", "+0530", "Z", "EST", "+05:30", "",
        ]);
        let iso = prop::sample::select(vec![
            "2026-12-04T10:00:00Z",
            "2026-12-04T10:00:00+0100",
            "2026-12-04T10:00:00.123-05:00",
            "2026-12-04 10:00:00Z",
            "2026-12-04",
            "2026-12-04T10:00:00",
            "2026-02-30T10:00:00Z",
        ]);
        let mdy = prop::bool::ANY;
        prop_oneof![
            (weekday, day, month, year, time, zone, mdy).prop_map(
                |(weekday, day, month, year, time, zone, mdy)| if mdy {
                    format!("{weekday}{month} {day} {year} {time} {zone}")
                } else {
                    format!("{weekday}{day} {month} {year} {time} {zone}")
                }
            ),
            (iso, prop::sample::select(vec!["", " ", "\n\t"]))
                .prop_map(|(iso, pad)| format!("{pad}{iso}{pad}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn a_date_reads_as_feed_rs_reads_it(date in date_like()) {
            prop_assert_eq!(timestamp(&date), feed_rs_reading(&date), "{:?}", date);
        }
    }
}
