//! The rollups' time buckets: the UTC hour and the UTC day a moment falls in (a leaf module:
//! ingest, rollups, partitions, queries and grid intensities all cut time the same way).

use time::{Duration, OffsetDateTime};

/// Start of the UTC hour and day containing `at`. A sample counts in the bucket where it starts.
pub fn buckets(at: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let day = utc.date().midnight().assume_utc();
    let hour = day + Duration::hours(i64::from(utc.hour()));
    (hour, day)
}
