//! A page title that follows the page's signals in the browser.
//!
//! The server reads `<Title>`'s text after the page has rendered, outside the request's reactive
//! arena: a closure reading signals there can reach another request's arena and panic ("a
//! reactive value that has already been disposed"). Under 32 concurrent requests that dropped
//! about one connection in a thousand on the service and team pages (docs/PERFORMANCE.md). So
//! on the server the title is the text as the component started, which is the request's.

use leptos::{prelude::untrack, text_prop::TextProp};

/// `text` as the page's `<Title>`: computed once on the server, reactive in the browser.
pub fn page_title(text: impl Fn() -> String + Send + Sync + 'static) -> TextProp {
    if cfg!(feature = "ssr") {
        TextProp::from(untrack(text))
    } else {
        TextProp::from(text)
    }
}
