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
