//! The Services page: every registered service, and the form to register one.

use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

use crate::{
    api::{list_services, AppError, Field, RegisterService, ServiceName, ServiceSummary},
    components::{
        csrf::CsrfField,
        error_banner::{ErrorBanner, LoadError},
    },
};

#[component]
pub fn ServicesPage() -> impl IntoView {
    let register = ServerAction::<RegisterService>::new();
    let services = Resource::new(move || register.version().get(), |_| list_services());

    view! {
        <Title text="Services · Canopy" />
        <section class="page">
            <h1>"Services"</h1>
            <RegisterForm register />
            <h2>"Registered services"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading services…"</p> }>
                {move || {
                    services
                        .get()
                        .map(|result| match result {
                            Ok(list) => view! { <ServiceTable services=list /> }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn RegisterForm(register: ServerAction<RegisterService>) -> impl IntoView {
    // Live feedback while typing: only works once the page has hydrated.
    let (typed_name, set_typed_name) = signal(String::new());
    let live_hint = move || {
        let typed = typed_name.get();
        if typed.is_empty() {
            return None;
        }
        Some(match ServiceName::parse(&typed) {
            Ok(_) => ("hint ok", format!("“{typed}” is a valid name.")),
            Err(error) => ("hint invalid", format!("Service name {error}.")),
        })
    };

    let outcome = register.value();
    let error_for = move |field: Field| {
        outcome.get().and_then(|result| match result {
            Err(error) if error.field() == Some(field) => Some(error.to_string()),
            _ => None,
        })
    };
    let general_error = move || {
        outcome.get().and_then(|result| match result {
            Err(error) if error.field().is_none() => Some(error),
            _ => None,
        })
    };
    let registered = move || {
        outcome
            .get()
            .and_then(|result| result.ok())
            .map(|service| format!("Registered {} for team {}.", service.name, service.team))
    };

    view! {
        <ActionForm action=register attr:class="card register-form" attr:aria-label="Register a service">
            <CsrfField />
            <h2>"Register a service"</h2>
            <div class="field">
                <label for="team">"Team"</label>
                <input id="team" name="team" required autocomplete="off" placeholder="payments" />
                <FieldError message=Signal::derive(move || error_for(Field::Team)) id="team-error" />
            </div>
            <div class="field">
                <label for="name">"Service name"</label>
                <input
                    id="name"
                    name="name"
                    required
                    autocomplete="off"
                    placeholder="checkout-api"
                    aria-describedby="name-hint"
                    on:input=move |ev| set_typed_name.set(event_target_value(&ev))
                />
                <p id="name-hint" class="muted small">
                    "Lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit."
                </p>
                {move || {
                    live_hint()
                        .map(|(class, text)| {
                            view! {
                                <p class=class data-testid="name-live-hint" aria-live="polite">
                                    {text}
                                </p>
                            }
                        })
                }}
                <FieldError message=Signal::derive(move || error_for(Field::Name)) id="name-error" />
            </div>
            <button type="submit" disabled=move || register.pending().get()>
                {move || if register.pending().get() { "Registering…" } else { "Register service" }}
            </button>
            {move || general_error().map(|error: AppError| view! { <ErrorBanner error /> })}
            {move || registered().map(|text| view! { <p class="success" role="status">{text}</p> })}
        </ActionForm>
    }
}

#[component]
fn FieldError(message: Signal<Option<String>>, id: &'static str) -> impl IntoView {
    move || {
        message
            .get()
            .map(|text| view! { <p class="field-error" id=id role="alert">{text}</p> })
    }
}

#[component]
fn ServiceTable(services: Vec<ServiceSummary>) -> impl IntoView {
    if services.is_empty() {
        return view! {
            <div class="empty-state">
                <p>"No services yet. Register your first one with the form above."</p>
            </div>
        }
        .into_any();
    }
    view! {
        <table class="table" data-testid="services-table">
            <thead>
                <tr>
                    <th scope="col">"Service"</th>
                    <th scope="col">"Team"</th>
                    <th scope="col">"Registered"</th>
                </tr>
            </thead>
            <tbody>
                {services
                    .into_iter()
                    .map(|service| {
                        view! {
                            <tr>
                                <td><a href=format!("/services/{}/{}", service.team, service.name)>{service.name.to_string()}</a></td>
                                <td>{service.team.to_string()}</td>
                                <td><time datetime=service.created_at.clone()>{service.created_at.clone()}</time></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
