//! The app shell: header, primary navigation and the main content area.

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_location};

const NAV: [(&str, &str); 4] = [
    ("/services", "Services"),
    ("/energy", "Energy"),
    ("/dependencies", "Dependencies"),
    ("/teams", "Teams"),
];

#[component]
pub fn AppShell(children: Children) -> impl IntoView {
    let location = use_location();
    let is_current = move |href: &'static str| {
        let path = location.pathname.get();
        path == href || (href == "/services" && path == "/")
    };
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
                                    <A
                                        href=href
                                        attr:aria-current=move || is_current(href).then_some("page")
                                    >
                                        {label}
                                    </A>
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
