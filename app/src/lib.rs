//! Canopy's UI: the app shell, pages and server functions, shared by the server (feature `ssr`)
//! and the browser (feature `hydrate`).

#![recursion_limit = "512"]

pub mod api;
/// Shared view pieces.
pub mod components;
/// How every figure reads (energy, CO2e, power, durations, times), on the pages and in the
/// server's e-mails alike.
pub mod format;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use components::shell::AppShell;
use pages::{
    dependencies::DependenciesPage,
    energy::EnergyPage,
    home::HomePage,
    not_found::NotFound,
    service::{dependencies::ServiceDependenciesPage, ServicePage},
    services::ServicesPage,
    team::TeamPage,
    teams::TeamsPage,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let stylesheet = format!("/{}/canopy.css", options.site_pkg_dir);
    let icon = format!("/{}/favicon.svg", options.site_pkg_dir);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="stylesheet" href=stylesheet />
                <link rel="icon" type="image/svg+xml" href=icon />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: router and pages. Pages render fully on the server before they are sent
/// (`SsrMode::Async`) so they work with JavaScript disabled.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Canopy" />
        <Meta name="description" content="Canopy: deploy, watch and measure your services" />
        <Router>
            <AppShell>
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                    <Route path=path!("/services") view=ServicesPage ssr=SsrMode::Async />
                    <Route path=path!("/services/:team/:service") view=ServicePage ssr=SsrMode::Async />
                    <Route path=path!("/services/:team/:service/dependencies") view=ServiceDependenciesPage ssr=SsrMode::Async />
                    <Route path=path!("/energy") view=EnergyPage ssr=SsrMode::Async />
                    <Route path=path!("/deploy") view=pages::deploy_button::DeployButtonPage ssr=SsrMode::Async />
                    <Route path=path!("/dependencies") view=DependenciesPage ssr=SsrMode::Async />
                    <Route path=path!("/teams") view=TeamsPage ssr=SsrMode::Async />
                    <Route path=path!("/teams/:team") view=TeamPage ssr=SsrMode::Async />
                </Routes>
            </AppShell>
        </Router>
    }
}
