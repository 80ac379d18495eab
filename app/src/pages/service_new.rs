//! Registering a service (`/services/new`): the form, with a live hint once hydrated; without
//! JavaScript it posts natively and the server function redirects back with any error.

use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

use crate::{
    api::{AppError, Field, RegisterService, ServiceName},
    components::{csrf::CsrfField, error_banner::ErrorBanner},
};

#[component]
pub fn RegisterServicePage() -> impl IntoView {
    let register = ServerAction::<RegisterService>::new();
    view! {
        <Title text="Register a service · Canopy" />
        <section class="page">
            <p><a href="/services">"← All services"</a></p>
            <h1>"Register a service"</h1>
            <RegisterForm register />
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
        outcome.get().and_then(|result| result.ok()).map(|service| {
            (
                format!("Registered {} for team {}.", service.name, service.team),
                format!("/services/{}/{}", service.team, service.name),
            )
        })
    };

    view! {
        <ActionForm action=register attr:class="card register-form" attr:aria-label="Register a service">
            <CsrfField />
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
            {move || {
                registered()
                    .map(|(text, href)| {
                        view! {
                            <p class="success" role="status">
                                {text} " " <a href=href>"Open its page"</a>
                            </p>
                        }
                    })
            }}
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
