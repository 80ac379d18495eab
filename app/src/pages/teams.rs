//! The Teams page: every team (linked to its page) and how many services it has.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{api::list_teams, components::error_banner::LoadError};

#[component]
pub fn TeamsPage() -> impl IntoView {
    let teams = Resource::new(|| (), |_| list_teams());
    view! {
        <Title text="Teams · Canopy" />
        <section class="page">
            <h1>"Teams"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading teams…"</p> }>
                {move || {
                    teams
                        .get()
                        .map(|result| match result {
                            Ok(list) if list.is_empty() => {
                                view! {
                                    <div class="empty-state">
                                        <p>"No teams yet: a team appears when it registers its first service."</p>
                                    </div>
                                }
                                    .into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <table class="table">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Team"</th>
                                                <th scope="col">"Services"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list
                                                .into_iter()
                                                .map(|team| {
                                                    view! {
                                                        <tr>
                                                            <td>
                                                                <a href=format!("/teams/{}", team.name)>{team.name.to_string()}</a>
                                                            </td>
                                                            <td>{team.service_count}</td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}
