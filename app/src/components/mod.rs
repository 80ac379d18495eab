//! Components shared by several pages.

pub mod csrf;
pub mod energy_chart;
pub mod energy_figures;
pub mod error_banner;
pub mod html;
pub mod live_status;
pub mod shell;
pub mod title;
