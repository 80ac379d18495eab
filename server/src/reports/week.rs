//! Report weeks: Monday to Sunday in a team's time zone, the send time of a team's schedule,
//! and how a week maps onto the hourly energy rollups.

use jiff::{civil, tz::TimeZone, Timestamp, ToSpan, Zoned};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ReportError;

/// A team's time zone (IANA name, `UTC` by default), validated against the bundled database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamZone {
    name: String,
    zone: TimeZone,
}

impl TeamZone {
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            zone: TimeZone::UTC,
        }
    }

    /// An IANA time zone name such as `Europe/Paris`.
    pub fn parse(raw: &str) -> Result<Self, ReportError> {
        let name = raw.trim();
        let zone = TimeZone::get(name).map_err(|_| ReportError::Invalid {
            field: "time_zone",
            message: format!(
                "{name:?} is not a time zone name; use an IANA name such as Europe/Paris or UTC"
            ),
        })?;
        Ok(Self {
            name: name.to_owned(),
            zone,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
}

impl TryFrom<String> for TeamZone {
    type Error = ReportError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TeamZone> for String {
    fn from(zone: TeamZone) -> Self {
        zone.name
    }
}

/// One week, Monday 00:00 to the next Monday 00:00 in the team's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportWeek {
    pub monday: civil::Date,
    pub zone: TeamZone,
}

/// Seconds since the epoch to `OffsetDateTime`, floored to the UTC hour: the rollups are
/// hourly, so a week in a zone with a half-hour offset starts at the hour before its midnight.
fn hour_floor(ts: Timestamp) -> Result<OffsetDateTime, ReportError> {
    let secs = ts.as_second();
    OffsetDateTime::from_unix_timestamp(secs - secs.rem_euclid(3_600))
        .map_err(|e| ReportError::Internal(format!("timestamp out of range: {e}")))
}

fn midnight(date: civil::Date, zone: &TimeZone) -> Result<Zoned, ReportError> {
    date.to_zoned(zone.clone())
        .map_err(|e| ReportError::Internal(format!("midnight of {date}: {e}")))
}

fn add_days(date: civil::Date, days: i64) -> Result<civil::Date, ReportError> {
    date.checked_add(days.days())
        .map_err(|e| ReportError::Internal(format!("{date} + {days} days: {e}")))
}

impl ReportWeek {
    /// The week starting on `monday` (which must be a Monday).
    pub fn starting(monday: civil::Date, zone: TeamZone) -> Result<Self, ReportError> {
        if monday.weekday() != civil::Weekday::Monday {
            return Err(ReportError::Invalid {
                field: "week",
                message: format!(
                    "{monday} is a {:?}; weeks start on Monday",
                    monday.weekday()
                ),
            });
        }
        Ok(Self { monday, zone })
    }

    /// The last whole week before `now` (the week an e-mail sent now reports on).
    pub fn last_full_before(now: Timestamp, zone: TeamZone) -> Result<Self, ReportError> {
        let monday_this = monday_of(now.to_zoned(zone.zone().clone()).date())?;
        Self::starting(add_days(monday_this, -7)?, zone)
    }

    /// The week before this one.
    pub fn previous(&self) -> Result<Self, ReportError> {
        Self::starting(add_days(self.monday, -7)?, self.zone.clone())
    }

    pub fn sunday(&self) -> Result<civil::Date, ReportError> {
        add_days(self.monday, 6)
    }

    /// `[from, to)` as read from the rollups (whole UTC hours).
    pub fn bounds(&self) -> Result<(OffsetDateTime, OffsetDateTime), ReportError> {
        let (from, _) = self.day_bounds(0)?;
        let (_, to) = self.day_bounds(6)?;
        Ok((from, to))
    }

    /// `[from, to)` of day `index` (0 = Monday); 23 or 25 hours long on a DST change.
    pub fn day_bounds(&self, index: i64) -> Result<(OffsetDateTime, OffsetDateTime), ReportError> {
        let day = add_days(self.monday, index)?;
        let start = midnight(day, self.zone.zone())?.timestamp();
        let end = midnight(add_days(day, 1)?, self.zone.zone())?.timestamp();
        Ok((hour_floor(start)?, hour_floor(end)?))
    }

    /// The seven days, Monday first.
    pub fn days(&self) -> Result<Vec<civil::Date>, ReportError> {
        (0..7).map(|i| add_days(self.monday, i)).collect()
    }
}

/// The Monday on or before `date`.
pub fn monday_of(date: civil::Date) -> Result<civil::Date, ReportError> {
    let offset = i64::from(date.weekday().to_monday_one_offset()) - 1;
    add_days(date, -offset)
}

/// When a team's e-mail goes out: an ISO weekday (1 = Monday) and an hour, in its time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub weekday: i8,
    pub hour: i8,
    pub zone: TeamZone,
}

impl Default for Schedule {
    /// Monday 08:00 UTC.
    fn default() -> Self {
        Self {
            weekday: 1,
            hour: 8,
            zone: TeamZone::utc(),
        }
    }
}

pub const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl Schedule {
    /// Validates the three fields, naming the one that is wrong.
    pub fn parse(weekday: &str, hour: &str, zone: &str) -> Result<Self, ReportError> {
        let weekday = weekday
            .trim()
            .parse::<i8>()
            .ok()
            .filter(|d| (1..=7).contains(d))
            .ok_or_else(|| ReportError::Invalid {
                field: "weekday",
                message: "use 1 (Monday) to 7 (Sunday)".to_owned(),
            })?;
        let hour = hour
            .trim()
            .parse::<i8>()
            .ok()
            .filter(|h| (0..=23).contains(h))
            .ok_or_else(|| ReportError::Invalid {
                field: "hour",
                message: "use a whole hour from 0 to 23".to_owned(),
            })?;
        Ok(Self {
            weekday,
            hour,
            zone: TeamZone::parse(zone)?,
        })
    }

    pub fn weekday_name(&self) -> &'static str {
        WEEKDAYS
            .get(usize::try_from(self.weekday - 1).unwrap_or(0))
            .copied()
            .unwrap_or("Monday")
    }

    /// The week whose e-mail is due at `now`: the week before the latest send time at or before
    /// `now`. (Canopy started after a send time still sends that week, once.)
    pub fn due_week(&self, now: Timestamp) -> Result<ReportWeek, ReportError> {
        let zone = self.zone.zone().clone();
        let monday_this = monday_of(now.to_zoned(zone.clone()).date())?;
        let send_day = add_days(monday_this, i64::from(self.weekday) - 1)?;
        let send_at = send_day
            .at(self.hour, 0, 0, 0)
            .to_zoned(zone)
            .map_err(|e| ReportError::Internal(format!("send time: {e}")))?
            .timestamp();
        let sending_week = if now >= send_at {
            monday_this
        } else {
            add_days(monday_this, -7)?
        };
        ReportWeek::starting(add_days(sending_week, -7)?, self.zone.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    fn date(raw: &str) -> civil::Date {
        raw.parse().unwrap()
    }

    #[test]
    fn the_last_full_week_is_monday_to_sunday_before_today_in_the_zone() {
        // Monday 2026-11-30 at 00:30 in Paris is still Sunday 29th in UTC.
        let paris = TeamZone::parse("Europe/Paris").unwrap();
        let week = ReportWeek::last_full_before(at("2026-11-29T23:30:00Z"), paris).unwrap();
        assert_eq!(week.monday, date("2026-11-23"));
        let (from, to) = week.bounds().unwrap();
        assert_eq!(from.to_string(), "2026-11-22 23:00:00.0 +00:00:00");
        assert_eq!(to.to_string(), "2026-11-29 23:00:00.0 +00:00:00");
        let utc = ReportWeek::last_full_before(at("2026-11-29T23:30:00Z"), TeamZone::utc());
        assert_eq!(utc.unwrap().monday, date("2026-11-16"));
    }

    #[test]
    fn a_week_with_a_dst_change_has_a_25_hour_day() {
        // Europe/Paris leaves summer time on Sunday 2026-10-25.
        let week =
            ReportWeek::starting(date("2026-10-19"), TeamZone::parse("Europe/Paris").unwrap())
                .unwrap();
        let (from, to) = week.day_bounds(6).unwrap();
        assert_eq!((to - from).whole_hours(), 25);
        let (from, to) = week.bounds().unwrap();
        assert_eq!((to - from).whole_hours(), 7 * 24 + 1);
    }

    #[test]
    fn half_hour_zones_start_at_the_utc_hour_before_midnight() {
        let week =
            ReportWeek::starting(date("2026-11-23"), TeamZone::parse("Asia/Kolkata").unwrap())
                .unwrap();
        let (from, _) = week.bounds().unwrap();
        // Midnight in Kolkata is 18:30 UTC the day before; the rollups start at 18:00.
        assert_eq!(from.to_string(), "2026-11-22 18:00:00.0 +00:00:00");
    }

    #[test]
    fn weeks_start_on_mondays_only() {
        let error = ReportWeek::starting(date("2026-11-24"), TeamZone::utc()).unwrap_err();
        assert!(
            error.to_string().contains("weeks start on Monday"),
            "{error}"
        );
    }

    #[test]
    fn the_due_week_changes_at_the_send_time() {
        let schedule = Schedule::parse("2", "9", "America/New_York").unwrap();
        // Tuesday 2026-12-01 08:59 in New York: this week's send time has not come yet.
        let before = schedule.due_week(at("2026-12-01T13:59:00Z")).unwrap();
        assert_eq!(before.monday, date("2026-11-16"));
        let after = schedule.due_week(at("2026-12-01T14:00:00Z")).unwrap();
        assert_eq!(after.monday, date("2026-11-23"));
    }

    #[test]
    fn bad_schedules_name_the_field() {
        for (weekday, hour, zone, field) in [
            ("0", "8", "UTC", "weekday"),
            ("8", "8", "UTC", "weekday"),
            ("1", "24", "UTC", "hour"),
            ("1", "x", "UTC", "hour"),
            ("1", "8", "Mars/Olympus", "time_zone"),
        ] {
            match Schedule::parse(weekday, hour, zone) {
                Err(ReportError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{weekday} {hour} {zone}: {other:?}"),
            }
        }
    }
}
