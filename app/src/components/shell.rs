//! The app shell: header, primary navigation and the main content area.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::auth::current_user;

const NAV: [(&str, &str); 4] = [
    ("/services", "Services"),
    ("/energy", "Energy"),
    ("/dependencies", "Dependencies"),
    ("/teams", "Teams"),
];

/// Sets `<main data-hydrated="true">`: given to the pages through the context.
#[derive(Clone, Copy)]
struct PageHydrated(WriteSignal<bool>);

/// Marks the page as hydrated (`<main data-hydrated="true">`, which tests and styles read). Each
/// page's view ends with it (`routes.rs`), because the shell hydrates first: a page is a lazy
/// route whose module the browser fetches while hydration waits, so an effect of the shell ran
/// before the page's buttons and forms had their handlers (a test could click a button that did
/// nothing yet). Effects run only in the browser, after the view that created them hydrated.
#[component]
pub fn HydratedMarker() -> impl IntoView {
    if let Some(PageHydrated(set_hydrated)) = use_context::<PageHydrated>() {
        Effect::new(move |_| set_hydrated.set(true));
    }
}

#[component]
pub fn AppShell(children: Children) -> impl IntoView {
    let (hydrated, set_hydrated) = signal(false);
    provide_context(PageHydrated(set_hydrated));
    let user = Resource::new(|| (), |_| current_user());
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"▲"</span>
                " Canopy"
            </a>
            <nav aria-label="Primary">
                <ul>
                    {NAV
                        .into_iter()
                        .map(|(href, label)| {
                            view! {
                                <li>
                                    <A href=href>{label}</A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
            <Suspense fallback=|| ()>
                {move || user.get().and_then(Result::ok).map(|me| view! {
                    <div class="account" data-testid="account">
                        <span class="muted" data-testid="signed-in-as">{me.username.clone()}</span>
                        {me.org_admin.then(|| view! { <a href="/admin/users" rel="external">"People"</a> " " <a href="/audit" rel="external">"Audit log"</a> })}
                        // A plain form: works without JavaScript; the server checks its origin.
                        <form method="post" action="/signout" class="inline-form">
                            <button type="submit" class="secondary" data-testid="sign-out">"Sign out"</button>
                        </form>
                    </div>
                })}
            </Suspense>
        </header>
        <main id="main" data-hydrated=move || hydrated.get().to_string()>{children()}</main>
    }
}
