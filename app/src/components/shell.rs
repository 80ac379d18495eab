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

#[component]
pub fn AppShell(children: Children) -> impl IntoView {
    // Effects run only in the browser, once the page has hydrated: tests and styles can tell.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
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
