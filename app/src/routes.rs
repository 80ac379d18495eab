//! The pages as lazy routes: each page's view is a split point, so the browser bundle a first
//! visit downloads holds the shell, the router and the page being opened, and the other pages'
//! code is fetched when they are first navigated to (issue 16, item 7). `scripts/build.sh`
//! splits the wasm at these points (`canopy-wasm-split`); on the server the views render as
//! usual.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

use crate::components::shell::HydratedMarker;

use crate::pages::{
    dependencies::DependenciesPage,
    deploy_button::DeployButtonPage,
    energy::EnergyPage,
    home::HomePage,
    service::{
        dependencies::ServiceDependenciesPage, ServiceDeployPage, ServiceEnergyPage,
        ServiceHistoryPage, ServiceOverviewPage, ServicePodsPage,
    },
    service_new::RegisterServicePage,
    services::ServicesPage,
    team::TeamPage,
    teams::TeamsPage,
};

/// A route whose view is the page component `$page`, loaded lazily, then the marker that says
/// the page has hydrated. Pages load their own data (resources inside the component), so the
/// route's `data` half is empty.
macro_rules! lazy_page {
    ($(#[$doc:meta])* $route:ident => $page:ident) => {
        $(#[$doc])*
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> <HydratedMarker /> }.into_any()
            }
        }
    };
}

lazy_page!(
    /// `/`: what needs attention, recent deploys, this week's energy.
    HomeRoute => HomePage
);
lazy_page!(
    /// `/services`: the catalogue.
    ServicesRoute => ServicesPage
);
lazy_page!(
    /// `/services/new`: the register form.
    RegisterServiceRoute => RegisterServicePage
);
lazy_page!(
    /// `/services/:team/:service`: the service's Overview tab.
    ServiceOverviewRoute => ServiceOverviewPage
);
lazy_page!(
    /// `/services/:team/:service/deploy`.
    ServiceDeployRoute => ServiceDeployPage
);
lazy_page!(
    /// `/services/:team/:service/pods`: pods, events and logs.
    ServicePodsRoute => ServicePodsPage
);
lazy_page!(
    /// `/services/:team/:service/energy`.
    ServiceEnergyRoute => ServiceEnergyPage
);
lazy_page!(
    /// `/services/:team/:service/history`.
    ServiceHistoryRoute => ServiceHistoryPage
);
lazy_page!(
    /// `/services/:team/:service/dependencies`.
    ServiceDependenciesRoute => ServiceDependenciesPage
);
lazy_page!(
    /// `/energy`.
    EnergyRoute => EnergyPage
);
lazy_page!(
    /// `/deploy`: the GitHub deploy button's page.
    DeployButtonRoute => DeployButtonPage
);
lazy_page!(
    /// `/dependencies`: the organisation's dependency drift.
    DependenciesRoute => DependenciesPage
);
lazy_page!(
    /// `/teams`.
    TeamsRoute => TeamsPage
);
lazy_page!(
    /// `/teams/:team`.
    TeamRoute => TeamPage
);
