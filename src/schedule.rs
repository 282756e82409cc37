//! Schedule: when each feed is due. Cron expressions (the `cron` crate) give each feed its
//! next check time; the store persists it so a restart does not poll everything at once.
//! Everything here is pure: the clock is an argument.

use std::str::FromStr;

use chrono::{DateTime, Utc};

/// Why a cron expression was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Not 5, 6 or 7 whitespace-separated fields.
    #[error(
        "cron expression `{expr}` has {fields} fields; expected 5 (minute hour day-of-month month day-of-week), or 6/7 with seconds first and a year last"
    )]
    FieldCount { expr: String, fields: usize },
    /// The cron crate refused it.
    #[error("cron expression `{expr}` is invalid: {reason}")]
    Invalid { expr: String, reason: String },
    /// It parses but never fires (e.g. February 30th).
    #[error("cron expression `{expr}` never fires")]
    NeverFires { expr: String },
}

/// A parsed cron schedule, keeping the text the user wrote.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    /// Parses the classic 5-field form (`*/15 * * * *`) as well as the cron crate's 6- and
    /// 7-field forms (seconds first, optional year last). In day-of-week, names (`Mon-Fri`) mean
    /// the same in every form.
    pub fn parse(expr: &str) -> Result<CronSchedule, ScheduleError> {
        let expr = expr.trim();
        let fields = expr.split_whitespace().count();
        // The cron crate wants seconds first; the 5-field form users know fires at second 0.
        let full = match fields {
            5 => format!("0 {expr}"),
            6 | 7 => expr.to_string(),
            _ => {
                return Err(ScheduleError::FieldCount {
                    expr: expr.to_string(),
                    fields,
                });
            }
        };
        let schedule = cron::Schedule::from_str(&full).map_err(|e| ScheduleError::Invalid {
            expr: expr.to_string(),
            reason: e.to_string(),
        })?;
        let parsed = CronSchedule {
            expr: expr.to_string(),
            schedule,
        };
        if parsed.next_after(Utc::now()).is_none() {
            return Err(ScheduleError::NeverFires {
                expr: expr.to_string(),
            });
        }
        Ok(parsed)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first firing strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&after).next()
    }

    /// The typical interval between firings, measured over the next few; used where a single
    /// figure is wanted (e.g. an output feed's `<ttl>`).
    pub fn typical_interval(&self, from: DateTime<Utc>) -> Option<chrono::Duration> {
        let times: Vec<_> = self.schedule.after(&from).take(5).collect();
        times.windows(2).map(|w| w[1] - w[0]).min()
    }
}

/// When a feed is next due after a check at `checked_at`. A schedule that never fires again
/// (a cron expression with a past year) parks the feed a year ahead rather than polling it
/// in a loop.
pub fn next_check_at(schedule: &CronSchedule, checked_at: DateTime<Utc>) -> DateTime<Utc> {
    schedule
        .next_after(checked_at)
        .unwrap_or(checked_at + chrono::Duration::days(365))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap()
    }

    #[test]
    fn five_field_form_fires_on_the_minute() {
        let s = CronSchedule::parse("*/15 * * * *").unwrap();
        assert_eq!(s.next_after(at(14, 7, 30)), Some(at(14, 15, 0)));
        assert_eq!(s.next_after(at(14, 15, 0)), Some(at(14, 30, 0)));
        assert_eq!(
            s.typical_interval(at(14, 0, 0)),
            Some(chrono::Duration::minutes(15))
        );
    }

    #[test]
    fn six_field_form_keeps_seconds() {
        let s = CronSchedule::parse("30 0 * * * *").unwrap();
        assert_eq!(s.next_after(at(14, 7, 0)), Some(at(15, 0, 30)));
    }

    #[test]
    fn next_check_is_strictly_later() {
        let s = CronSchedule::parse("0 * * * *").unwrap();
        assert_eq!(next_check_at(&s, at(14, 0, 0)), at(15, 0, 0));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let err = CronSchedule::parse("every tuesday").unwrap_err();
        assert!(err.to_string().contains("2 fields"), "{err}");
        let err = CronSchedule::parse("61 * * * *").unwrap_err();
        assert!(err.to_string().contains("invalid"), "{err}");
    }
}

/// The politeness settings (from `[schedule]` and `[fetch]`).
#[derive(Debug, Clone, Copy)]
pub struct Politeness {
    /// Publisher hints (ttl, Cache-Control, Expires) and Retry-After never push a check
    /// further out than this.
    pub max_interval: chrono::Duration,
    /// Failure backoff stops growing here.
    pub backoff_cap: chrono::Duration,
    /// A feed failing this long is `dead`: polled once a day, not dropped.
    pub dead_after: chrono::Duration,
}

impl Default for Politeness {
    fn default() -> Self {
        Politeness {
            max_interval: chrono::Duration::hours(24),
            backoff_cap: chrono::Duration::hours(24),
            dead_after: chrono::Duration::days(7),
        }
    }
}

/// A feed's health, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    Ok,
    Failing,
    /// Failing for longer than `dead_after`: polled once a day.
    Dead,
    /// The server said 410 Gone: no longer polled.
    Gone,
}

impl FeedState {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedState::Ok => "ok",
            FeedState::Failing => "failing",
            FeedState::Dead => "dead",
            FeedState::Gone => "gone",
        }
    }
}

/// How a check ended, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// A 200 or 304. `hint` is how long the publisher says the feed stays fresh (RSS ttl,
    /// Cache-Control max-age, Expires), if it says.
    Success { hint: Option<chrono::Duration> },
    /// 429 or 503; `retry_after` is the server's Retry-After as a time, if it sent one.
    RateLimited { retry_after: Option<DateTime<Utc>> },
    /// Any other failure.
    Failed,
    /// 410 Gone.
    Gone,
}

/// What the scheduler decides after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextCheck {
    pub at: DateTime<Utc>,
    pub state: FeedState,
    /// When the current run of failures began (`None` after a success).
    pub failing_since: Option<DateTime<Utc>>,
}

/// A stable per-feed offset, derived from its URL, so feeds on the same cron expression do not
/// all fire in the same second: up to a tenth of the schedule's interval, at most 5 minutes.
pub fn jitter(feed_url: &str, interval: chrono::Duration) -> chrono::Duration {
    let spread = (interval.num_seconds() / 10).clamp(0, 300);
    if spread == 0 {
        return chrono::Duration::zero();
    }
    // FNV-1a: stable across runs and platforms, unlike the standard library's hasher.
    let hash = feed_url.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    chrono::Duration::seconds((hash % spread as u64) as i64)
}

/// Decides when a feed is checked next and what state it is in, after a check at `now`.
///
/// - Success: the next cron time plus the feed's jitter, or later if the publisher's hint
///   says so (never later than `max_interval` from now). Failures are forgotten.
/// - Failure: back off exponentially, doubling from the schedule's interval with each
///   consecutive failure (capped at `backoff_cap`), plus the jitter. A feed failing for
///   `dead_after` is `dead` and checked once a day.
/// - Rate limited: as a failure, but never before the server's Retry-After (capped at
///   `max_interval`).
/// - Gone: not checked again.
pub fn plan_next_check(
    schedule: &CronSchedule,
    feed_url: &str,
    now: DateTime<Utc>,
    outcome: CheckOutcome,
    previous_failures: u32,
    failing_since: Option<DateTime<Utc>>,
    rules: &Politeness,
) -> NextCheck {
    let interval = schedule
        .typical_interval(now)
        .unwrap_or(chrono::Duration::hours(1));
    let offset = jitter(feed_url, interval);
    match outcome {
        CheckOutcome::Success { hint } => {
            let scheduled = next_check_at(schedule, now) + offset;
            let hinted = hint.map(|h| now + h.min(rules.max_interval));
            NextCheck {
                at: hinted.map_or(scheduled, |h| h.max(scheduled)),
                state: FeedState::Ok,
                failing_since: None,
            }
        }
        CheckOutcome::Gone => NextCheck {
            at: now + chrono::Duration::days(365 * 100),
            state: FeedState::Gone,
            failing_since: failing_since.or(Some(now)),
        },
        CheckOutcome::Failed | CheckOutcome::RateLimited { .. } => {
            let since = failing_since.unwrap_or(now);
            let failures = previous_failures.saturating_add(1);
            if now - since >= rules.dead_after {
                return NextCheck {
                    at: now + chrono::Duration::days(1) + offset,
                    state: FeedState::Dead,
                    failing_since: Some(since),
                };
            }
            let doublings = (failures - 1).min(20);
            let backoff = (interval * 2_i32.pow(doublings)).min(rules.backoff_cap);
            let mut at = now + backoff + offset;
            if let CheckOutcome::RateLimited {
                retry_after: Some(retry_after),
            } = outcome
            {
                at = at.max(retry_after.min(now + rules.max_interval));
            }
            NextCheck {
                at,
                state: FeedState::Failing,
                failing_since: Some(since),
            }
        }
    }
}

/// Parses a Retry-After value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(now + chrono::Duration::seconds(seconds.min(10 * 365 * 86_400) as i64));
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long the publisher says the document stays fresh: the longest of RSS `<ttl>` (minutes),
/// `<sy:updatePeriod>`/`<sy:updateFrequency>`, `Cache-Control: max-age` and `Expires`.
pub fn freshness_hint(
    ttl_minutes: Option<u32>,
    syndication_period: Option<chrono::Duration>,
    cache_control: Option<&str>,
    expires: Option<&str>,
    now: DateTime<Utc>,
) -> Option<chrono::Duration> {
    let max_age = cache_control.and_then(|cc| {
        cc.split(',').find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| value.trim().trim_matches('"').parse::<i64>().ok())
                .flatten()
                .map(chrono::Duration::seconds)
        })
    });
    let expires = expires
        .and_then(|e| DateTime::parse_from_rfc2822(e.trim()).ok())
        .map(|t| t.with_timezone(&Utc) - now)
        .filter(|d| *d > chrono::Duration::zero());
    [
        ttl_minutes.map(|m| chrono::Duration::minutes(i64::from(m))),
        syndication_period,
        max_age,
        expires,
    ]
    .into_iter()
    .flatten()
    .max()
}

#[cfg(test)]
mod politeness_tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 14, 0, 0).unwrap()
    }

    fn quarter() -> CronSchedule {
        CronSchedule::parse("*/15 * * * *").unwrap()
    }

    #[test]
    fn jitter_is_stable_per_feed_and_bounded() {
        let interval = chrono::Duration::minutes(15);
        let a = jitter("https://a.example/rss", interval);
        assert_eq!(a, jitter("https://a.example/rss", interval));
        let offsets: std::collections::HashSet<i64> = (0..200)
            .map(|i| jitter(&format!("https://feed{i}.example/rss"), interval).num_seconds())
            .collect();
        assert!(offsets.len() > 50, "offsets spread: {}", offsets.len());
        assert!(offsets.iter().all(|s| (0..90).contains(s)));
        assert!(jitter("x", chrono::Duration::days(2)).num_seconds() < 300);
    }

    #[test]
    fn failures_back_off_exponentially_and_a_success_resets() {
        let rules = Politeness::default();
        let url = "https://a.example/rss";
        let offset = jitter(url, chrono::Duration::minutes(15));
        let mut failures = 0;
        let mut since = None;
        let mut delays = Vec::new();
        for _ in 0..10 {
            let next = plan_next_check(
                &quarter(),
                url,
                now(),
                CheckOutcome::Failed,
                failures,
                since,
                &rules,
            );
            assert_eq!(next.state, FeedState::Failing);
            delays.push((next.at - now() - offset).num_minutes());
            failures += 1;
            since = next.failing_since;
        }
        assert_eq!(&delays[..5], &[15, 30, 60, 120, 240]);
        assert_eq!(*delays.last().unwrap(), 24 * 60, "capped at 24 h");
        let ok = plan_next_check(
            &quarter(),
            url,
            now(),
            CheckOutcome::Success { hint: None },
            failures,
            since,
            &rules,
        );
        assert_eq!(ok.state, FeedState::Ok);
        assert_eq!(ok.failing_since, None);
        assert_eq!(
            ok.at,
            Utc.with_ymd_and_hms(2026, 11, 23, 14, 15, 0).unwrap() + offset
        );
    }

    #[test]
    fn a_feed_failing_for_a_week_is_dead_and_checked_daily() {
        let rules = Politeness::default();
        let since = now() - chrono::Duration::days(7);
        let next = plan_next_check(
            &quarter(),
            "u",
            now(),
            CheckOutcome::Failed,
            300,
            Some(since),
            &rules,
        );
        assert_eq!(next.state, FeedState::Dead);
        assert!((next.at - now()) >= chrono::Duration::days(1));
        assert!((next.at - now()) < chrono::Duration::days(1) + chrono::Duration::minutes(2));
    }

    #[test]
    fn retry_after_is_honoured_in_seconds_and_as_a_date_and_capped() {
        let rules = Politeness::default();
        let in_two_hours = parse_retry_after("7200", now()).unwrap();
        let next = plan_next_check(
            &quarter(),
            "u",
            now(),
            CheckOutcome::RateLimited {
                retry_after: Some(in_two_hours),
            },
            0,
            None,
            &rules,
        );
        assert_eq!(next.at, in_two_hours);
        let date = parse_retry_after("Mon, 23 Nov 2026 18:00:00 GMT", now()).unwrap();
        assert_eq!(date, Utc.with_ymd_and_hms(2026, 11, 23, 18, 0, 0).unwrap());
        let far = parse_retry_after("31536000", now()).unwrap();
        let next = plan_next_check(
            &quarter(),
            "u",
            now(),
            CheckOutcome::RateLimited {
                retry_after: Some(far),
            },
            0,
            None,
            &rules,
        );
        assert_eq!(next.at, now() + chrono::Duration::hours(24));
        // Without Retry-After: backoff.
        let next = plan_next_check(
            &quarter(),
            "u",
            now(),
            CheckOutcome::RateLimited { retry_after: None },
            2,
            Some(now()),
            &rules,
        );
        assert!((next.at - now()) >= chrono::Duration::minutes(60));
        assert_eq!(parse_retry_after("soon", now()), None);
    }

    #[test]
    fn publisher_hints_push_later_never_earlier_and_are_clamped() {
        let rules = Politeness::default();
        let hint = freshness_hint(Some(60), None, Some("public, max-age=7200"), None, now());
        assert_eq!(hint, Some(chrono::Duration::hours(2)));
        let next = plan_next_check(
            &quarter(),
            "u",
            now(),
            CheckOutcome::Success { hint },
            0,
            None,
            &rules,
        );
        assert_eq!(next.at, now() + chrono::Duration::hours(2));
        let short = freshness_hint(Some(1), None, None, None, now());
        let next = plan_next_check(
            &quarter(),
            "u",
            now(),
            CheckOutcome::Success { hint: short },
            0,
            None,
            &rules,
        );
        assert!(
            next.at >= Utc.with_ymd_and_hms(2026, 11, 23, 14, 15, 0).unwrap(),
            "never earlier than the schedule"
        );
        let huge = freshness_hint(
            None,
            None,
            None,
            Some("Fri, 01 Jan 2027 00:00:00 GMT"),
            now(),
        );
        let next = plan_next_check(
            &quarter(),
            "u",
            now(),
            CheckOutcome::Success { hint: huge },
            0,
            None,
            &rules,
        );
        assert_eq!(next.at, now() + chrono::Duration::hours(24));
    }

    #[test]
    fn gone_is_final() {
        let next = plan_next_check(
            &quarter(),
            "u",
            now(),
            CheckOutcome::Gone,
            0,
            None,
            &Politeness::default(),
        );
        assert_eq!(next.state, FeedState::Gone);
    }
}
