//! Integration tests of canopy-drift: parsers on fixture repositories, datasources against a
//! local registry double serving recorded answers, properties, and a scan end to end.
//! Nothing here reaches the network, except the `live` tests, which are ignored unless asked for.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod datasources;
mod end_to_end;
mod live;
mod parsers;
mod properties;
mod support;
