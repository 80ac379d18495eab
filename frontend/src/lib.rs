//! The wasm entry point: hydrates the server-rendered page in the browser.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The pages are lazy routes (app/src/routes.rs): hydration first loads the opened page's
    // split module, then hydrates.
    leptos::mount::hydrate_lazy(app::App);
}
