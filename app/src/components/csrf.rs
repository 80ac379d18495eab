//! `<CsrfField/>`: the session's anti-forgery token as a hidden input, for forms that post
//! natively (without JavaScript). With JavaScript the form posts by fetch, which the server
//! checks by its Origin instead.

use leptos::prelude::*;

#[component]
pub fn CsrfField() -> impl IntoView {
    #[cfg(feature = "ssr")]
    let token = use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .extensions
                .get::<crate::api::auth::CsrfToken>()
                .map(|token| token.0.clone())
        })
        .unwrap_or_default();
    #[cfg(not(feature = "ssr"))]
    let token = String::new();
    view! { <input type="hidden" name="csrf" value=token /> }
}
