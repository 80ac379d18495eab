//! The page for unknown addresses.

use leptos::prelude::*;

use crate::components::shell::HydratedMarker;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <section class="page">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/services">"Go to your services"</a> "."</p>
        </section>
        <HydratedMarker />
    }
}
