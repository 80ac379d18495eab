//! A plain-language error box for a failed load.

use leptos::prelude::*;

use crate::api::AppError;

#[component]
pub fn ErrorBanner(error: AppError) -> impl IntoView {
    view! {
        <div class="error-banner" role="alert">
            <strong>"This could not be loaded. "</strong>
            <span>{error.to_string()}</span>
        </div>
    }
}
