//! Energy and CO2e per service and team (not built yet: says so plainly).

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn EnergyPage() -> impl IntoView {
    view! {
        <Title text="Energy · Canopy" />
        <section class="page">
            <h1>"Energy"</h1>
            <div class="empty-state">
                <p>"No energy data yet."</p>
                <p>
                    "Energy and CO2e figures appear here once the Canopy node agent runs on your "
                    "cluster's nodes and reports to this server. Every figure will be marked "
                    "measured, estimated or simulated."
                </p>
            </div>
        </section>
    }
}
