//! The period energy figures are asked for: a preset (24 h, 7 d, 30 d, 90 d) or custom UTC days,
//! validated at the boundary with the field named.

use serde::{Deserialize, Serialize};

use crate::api::{AppError, Field};

/// The periods the Energy page offers.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum EnergyPeriod {
    #[default]
    Day,
    Week,
    Month,
    Quarter,
}

impl EnergyPeriod {
    pub const ALL: [EnergyPeriod; 4] = [Self::Day, Self::Week, Self::Month, Self::Quarter];

    /// `24h`, `7d`, `30d`, `90d` (the URL spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
            Self::Quarter => "90d",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Day => "last 24 hours",
            Self::Week => "last 7 days",
            Self::Month => "last 30 days",
            Self::Quarter => "last 90 days",
        }
    }
}

/// A calendar day (UTC), as `<input type="date">` sends it: `YYYY-MM-DD` (a `time::Date`).
/// In JSON it is `time`'s compact form, `[year, day of the year]`.
#[cfg_attr(
    feature = "ssr",
    derive(utoipa::ToSchema),
    schema(value_type = Vec<i32>, example = json!([2026, 334]))
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CivilDate(time::Date);

/// `YYYY-MM-DD`.
const DAY_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// 1970-01-01, the day the rollups count from.
const EPOCH: time::Date = time::macros::date!(1970 - 01 - 01);

impl CivilDate {
    /// `YYYY-MM-DD` with a real month and day (leap years included), years 1970-9999.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.len() != 10 {
            return None;
        }
        time::Date::parse(raw, DAY_FORMAT)
            .ok()
            .filter(|date| (1970..=9999).contains(&date.year()))
            .map(Self)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        (self.0 - EPOCH).whole_days()
    }

    /// The day `days` after 1970-01-01 (the last day `time` knows, past its range).
    pub fn from_days_since_epoch(days: i64) -> Self {
        Self(
            EPOCH
                .checked_add(time::Duration::days(days))
                .unwrap_or(time::Date::MAX),
        )
    }

    /// Today in UTC, by the server's clock.
    #[cfg(feature = "ssr")]
    pub fn today_utc() -> Self {
        Self(time::OffsetDateTime::now_utc().date())
    }
}

impl std::fmt::Display for CivilDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

/// Longest custom period, in days.
pub const MAX_CUSTOM_DAYS: i64 = 400;

/// A custom period: whole UTC days from `from` to `to`, both included.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRange {
    pub from: CivilDate,
    pub to: CivilDate,
}

impl DayRange {
    /// Number of days, both ends included.
    pub fn days(self) -> i64 {
        self.to.days_since_epoch() - self.from.days_since_epoch() + 1
    }
}

/// The period a page shows: one of the presets, or custom days.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeriodSelection {
    Preset(EnergyPeriod),
    Custom(DayRange),
}

impl Default for PeriodSelection {
    fn default() -> Self {
        Self::Preset(EnergyPeriod::default())
    }
}

impl PeriodSelection {
    /// Validates the page's query at the boundary: `from`/`to` (`YYYY-MM-DD`, both included)
    /// when either is given, else `period` (`24h`, `7d`, `30d`, `90d`; unknown or empty means
    /// the default). `today` is the current UTC day. Errors name the field.
    pub fn parse(period: &str, from: &str, to: &str, today: CivilDate) -> Result<Self, AppError> {
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() && to.is_empty() {
            return Ok(Self::Preset(
                EnergyPeriod::parse(period).unwrap_or_default(),
            ));
        }
        let day = |field: Field, raw: &str| -> Result<CivilDate, AppError> {
            if raw.is_empty() {
                return Err(AppError::invalid(
                    field,
                    "is missing: a custom period needs both its first and its last day",
                ));
            }
            CivilDate::parse(raw).ok_or_else(|| {
                AppError::invalid(
                    field,
                    format!("{raw:?} is not a date; use YYYY-MM-DD, for example 2026-11-01"),
                )
            })
        };
        let from = day(Field::From, from)?;
        let to = day(Field::To, to)?;
        if from > today {
            return Err(AppError::invalid(
                Field::From,
                format!("{from} is in the future; the last day with data is today, {today}"),
            ));
        }
        if to > today {
            return Err(AppError::invalid(
                Field::To,
                format!("{to} is in the future; choose today ({today}) or an earlier day"),
            ));
        }
        if from > to {
            return Err(AppError::invalid(
                Field::From,
                format!("{from} is after the last day {to}; the first day must come first"),
            ));
        }
        let range = DayRange { from, to };
        if range.days() > MAX_CUSTOM_DAYS {
            return Err(AppError::invalid(
                Field::From,
                format!(
                    "{} days from {from} to {to}: a period can be at most {MAX_CUSTOM_DAYS} days",
                    range.days()
                ),
            ));
        }
        Ok(Self::Custom(range))
    }

    /// The URL query that selects this period (`period=7d`, or `from=...&to=...`).
    pub fn query(self) -> String {
        match self {
            Self::Preset(p) => format!("period={}", p.as_str()),
            Self::Custom(r) => format!("from={}&to={}", r.from, r.to),
        }
    }

    /// `last 7 days`, or `2026-11-01 to 2026-11-07 (7 days)`.
    pub fn label(self) -> String {
        match self {
            Self::Preset(p) => p.label().to_owned(),
            Self::Custom(r) if r.days() == 1 => format!("{} to {} (1 day, UTC)", r.from, r.to),
            Self::Custom(r) => format!("{} to {} ({} days, UTC)", r.from, r.to, r.days()),
        }
    }

    pub fn preset(self) -> Option<EnergyPeriod> {
        match self {
            Self::Preset(p) => Some(p),
            Self::Custom(_) => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn day(raw: &str) -> CivilDate {
        CivilDate::parse(raw).unwrap()
    }

    #[test]
    fn civil_dates_parse_strictly_and_count_days() {
        assert_eq!(day("1970-01-01").days_since_epoch(), 0);
        assert_eq!(day("2026-11-29").days_since_epoch(), 20_786);
        assert_eq!(CivilDate::from_days_since_epoch(20_786), day("2026-11-29"));
        assert_eq!(day("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "yesterday",
            "",
            "2026-11-31",
        ] {
            assert_eq!(CivilDate::parse(bad), None, "{bad}");
        }
        for days in [0, 59, 365, 11_016, 20_786, 2_932_896] {
            let date = CivilDate::from_days_since_epoch(days);
            assert_eq!(date.days_since_epoch(), days);
            assert_eq!(CivilDate::parse(&date.to_string()), Some(date));
        }
    }

    #[test]
    fn custom_periods_are_validated_with_the_field_named() {
        let today = day("2026-11-29");
        let parse = |p: &str, f: &str, t: &str| PeriodSelection::parse(p, f, t, today);
        assert_eq!(
            parse("7d", "", ""),
            Ok(PeriodSelection::Preset(EnergyPeriod::Week))
        );
        assert_eq!(parse("1y", "", ""), Ok(PeriodSelection::default()));
        let custom = parse("7d", "2026-11-01", "2026-11-29").unwrap();
        assert_eq!(custom.query(), "from=2026-11-01&to=2026-11-29");
        assert_eq!(custom.label(), "2026-11-01 to 2026-11-29 (29 days, UTC)");
        assert!(parse("", "2026-11-29", "2026-11-29").is_ok(), "one day");
        let field_of = |result: Result<PeriodSelection, AppError>| match result {
            Err(AppError::InvalidInput { field, message }) => (field, message),
            other => panic!("expected an invalid input, got {other:?}"),
        };
        let (field, message) = field_of(parse("", "2026-11-10", "2026-11-01"));
        assert_eq!(field, Field::From);
        assert!(message.contains("after the last day"), "{message}");
        let (field, message) = field_of(parse("", "2026-11-01", "2026-12-01"));
        assert_eq!(field, Field::To);
        assert!(message.contains("in the future"), "{message}");
        let (field, message) = field_of(parse("", "2025-01-01", "2026-11-01"));
        assert_eq!(field, Field::From);
        assert!(message.contains("at most 400 days"), "{message}");
        let (field, _) = field_of(parse("", "2026-11-01", ""));
        assert_eq!(field, Field::To);
        let (field, message) = field_of(parse("", "01/11/2026", "2026-11-02"));
        assert_eq!(field, Field::From);
        assert!(message.contains("YYYY-MM-DD"), "{message}");
        assert!(parse("", "2025-10-26", "2026-11-29").is_ok(), "400 days");
    }

    #[test]
    fn periods_round_trip_through_their_url_spelling() {
        for period in EnergyPeriod::ALL {
            assert_eq!(EnergyPeriod::parse(period.as_str()), Some(period));
        }
        assert_eq!(EnergyPeriod::parse("1y"), None);
    }
}
