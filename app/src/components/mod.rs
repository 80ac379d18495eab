//! Components shared by several pages.

pub mod energy_chart;
pub mod error_banner;
pub mod shell;
