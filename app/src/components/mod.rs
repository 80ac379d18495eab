//! Components shared by several pages.

pub mod error_banner;
pub mod shell;
