//! The app shell: header, primary navigation and the main content area.

use leptos::prelude::*;
use leptos_router::components::A;

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
        </header>
        <main id="main" data-hydrated=move || hydrated.get().to_string()>{children()}</main>
    }
}
