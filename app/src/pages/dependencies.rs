//! Dependency drift per service and across the organisation (not built yet: says so plainly).

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn DependenciesPage() -> impl IntoView {
    view! {
        <Title text="Dependencies · Canopy" />
        <section class="page">
            <h1>"Dependencies"</h1>
            <div class="empty-state">
                <p>"No dependency reports yet."</p>
                <p>
                    "Once a service is linked to its GitHub repository, Canopy shows which of its "
                    "dependencies are outdated and by how much."
                </p>
            </div>
        </section>
    }
}
