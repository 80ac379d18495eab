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
        <main id="main">{children()}</main>
    }
}
