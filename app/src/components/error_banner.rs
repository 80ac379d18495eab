//! A plain-language error box, and [`LoadError`]: the one way a page shows that its data could
//! not be loaded (the box, and on the server the page's HTTP status from the same table as the
//! API's, so a page that could not be shown is never a 200).

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

/// A failed load of a page's data (a resource's `Err`): the error box, and the page answers
/// with the error's status and headers (503 with `Retry-After` when Canopy is busy or its
/// database unreachable, 404, ...). Results of actions (a form's refusal) use [`ErrorBanner`]:
/// the page itself loaded.
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    answer_with(&error);
    view! { <ErrorBanner error /> }
}

/// On the server, sets the page's status and headers for `error` (through the server's one
/// table, `api::backend::ErrorHeadHandle`); in the browser, nothing.
pub fn answer_with(error: &AppError) {
    #[cfg(feature = "ssr")]
    {
        let response = use_context::<leptos_axum::ResponseOptions>();
        let head = use_context::<crate::api::backend::ErrorHeadHandle>();
        if let (Some(response), Some(head)) = (response, head) {
            let (status, headers) = (head.0)(error);
            response.set_status(status);
            for (name, value) in &headers {
                response.insert_header(name.clone(), value.clone());
            }
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = error;
}
