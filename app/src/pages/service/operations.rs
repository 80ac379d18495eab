//! The service page's operations: restart, scale and delete (with name confirmation).

use leptos::{form::ActionForm, prelude::*};

use crate::{
    api::deploy_fns::{DeleteService, RestartService, ScaleService},
    components::{csrf::CsrfField, error_banner::ErrorBanner},
};

/// Restart, scale and delete: each recorded (restart and scale as new revisions).
#[derive(Clone, Copy)]
pub(super) struct Operations {
    pub(super) restart: ServerAction<RestartService>,
    pub(super) scale: ServerAction<ScaleService>,
    pub(super) delete: ServerAction<DeleteService>,
}

impl Operations {
    pub(super) fn version(self) -> usize {
        self.restart.version().get() + self.scale.version().get() + self.delete.version().get()
    }
}

#[component]
pub(super) fn OperationsView(
    operations: Operations,
    team: String,
    service: String,
    environment: String,
    replicas: String,
    /// Deleting needs the team's admin role; others do not see the form.
    may_delete: bool,
) -> impl IntoView {
    let Operations {
        restart,
        scale,
        delete,
    } = operations;
    let target = ServiceTarget {
        team,
        service,
        environment,
    };
    let (for_restart, for_scale, for_delete) = (target.clone(), target.clone(), target);
    let error = move || {
        restart
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| scale.value().get().and_then(Result::err))
            .or_else(|| delete.value().get().and_then(Result::err))
    };
    let deleted = move || delete.value().get().and_then(Result::ok);
    view! {
        <section class="card" aria-label="Operations">
            <h2>"Operations"</h2>
            <div class="inline">
                <ActionForm action=restart>
                    <CsrfField />
                    {for_restart.inputs()}
                    <button type="submit" class="secondary">"Restart all pods"</button>
                </ActionForm>
                <ActionForm action=scale attr:class="inline">
                    <CsrfField />
                    {for_scale.inputs()}
                    <input name="replicas" value=replicas inputmode="numeric" aria-label="Replicas" />
                    <button type="submit" class="secondary">"Scale"</button>
                </ActionForm>
            </div>
            {may_delete.then(|| view! {
                <ActionForm action=delete attr:class="danger-zone">
                    <CsrfField />
                    {for_delete.inputs()}
                    <div class="field">
                        <label for="confirm-delete">"Delete from this environment (type the service name to confirm)"</label>
                        <input id="confirm-delete" name="confirm" autocomplete="off" />
                    </div>
                    <button type="submit" class="danger">"Delete"</button>
                </ActionForm>
            })}
            {move || error().map(|error| view! { <ErrorBanner error /> })}
            {move || deleted().map(|objects| view! {
                <p class="success" role="status">{format!("Deleted {} object(s): {}", objects.len(), objects.join(", "))}</p>
            })}
        </section>
    }
}

/// The hidden inputs naming the service an operation is for.
#[derive(Clone)]
struct ServiceTarget {
    team: String,
    service: String,
    environment: String,
}

impl ServiceTarget {
    fn inputs(self) -> impl IntoView {
        view! {
            <input type="hidden" name="team" value=self.team />
            <input type="hidden" name="service" value=self.service />
            <input type="hidden" name="environment" value=self.environment />
        }
    }
}
