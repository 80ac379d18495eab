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
mod routes;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, Lazy, SsrMode,
};

use components::shell::AppShell;
use pages::not_found::NotFound;
use routes::{
    DependenciesRoute, DeployButtonRoute, EnergyRoute, HomeRoute, RegisterServiceRoute,
    ServiceDependenciesRoute, ServiceDeployRoute, ServiceEnergyRoute, ServiceHistoryRoute,
    ServiceOverviewRoute, ServicePodsRoute, ServicesRoute, TeamRoute, TeamsRoute,
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
                    <Route path=path!("/") view={Lazy::<HomeRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/services") view={Lazy::<ServicesRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/services/new") view={Lazy::<RegisterServiceRoute>::new()} ssr=SsrMode::Async />
                    // The service page's tabs, each its own URL (pages/service.rs).
                    <Route path=path!("/services/:team/:service") view={Lazy::<ServiceOverviewRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/services/:team/:service/deploy") view={Lazy::<ServiceDeployRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/services/:team/:service/pods") view={Lazy::<ServicePodsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/services/:team/:service/energy") view={Lazy::<ServiceEnergyRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/services/:team/:service/dependencies") view={Lazy::<ServiceDependenciesRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/services/:team/:service/history") view={Lazy::<ServiceHistoryRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/energy") view={Lazy::<EnergyRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/deploy") view={Lazy::<DeployButtonRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/dependencies") view={Lazy::<DependenciesRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/teams") view={Lazy::<TeamsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/teams/:team") view={Lazy::<TeamRoute>::new()} ssr=SsrMode::Async />
                </Routes>
            </AppShell>
        </Router>
    }
}
