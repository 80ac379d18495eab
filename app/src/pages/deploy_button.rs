//! `/deploy?repo=owner/name[&ref=][&path=]`: a repository's deploy button. The repository's
//! `canopy.yaml` prefills the deploy form (every field editable, problems shown by field and
//! YAML line); the person picks one of the teams where they may deploy, previews and deploys,
//! and is taken to the service's page, where the rollout shows live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::{
    api::{
        deploy_fns::{DeployService, PreviewDeploy},
        github::{load_deploy_button, DeployButton},
    },
    components::error_banner::LoadError,
    pages::service::DeployFormView,
};

#[component]
pub fn DeployButtonPage() -> impl IntoView {
    let query = use_query_map();
    let button = Resource::new(
        move || {
            let q = query.read();
            (
                q.get("repo").unwrap_or_default(),
                q.get("ref"),
                q.get("path"),
            )
        },
        |(repo, git_ref, path)| load_deploy_button(repo, git_ref, path),
    );
    let preview = ServerAction::<PreviewDeploy>::new();
    let deploy = ServerAction::<DeployService>::new();
    // Deployed: follow the rollout on the service's own page.
    Effect::new(move |_| {
        if let Some(Ok(record)) = deploy.value().get() {
            let navigate = use_navigate();
            navigate(
                &format!(
                    "/services/{}/{}?env={}",
                    record.team,
                    record.service,
                    record.environment.as_str()
                ),
                Default::default(),
            );
        }
    });
    view! {
        <Title text="Deploy from GitHub · Canopy" />
        <section class="page">
            <h1>"Deploy from GitHub"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Reading the repository…"</p> }>
                {move || button.get().map(|result| match result {
                    Ok(button) => view! { <ButtonView button preview deploy /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ButtonView(
    button: DeployButton,
    preview: ServerAction<PreviewDeploy>,
    deploy: ServerAction<DeployService>,
) -> impl IntoView {
    let source = view! {
        <p data-testid="source">
            "From " <a href=format!("https://github.com/{}", button.repo) rel="external">{button.repo.clone()}</a>
            {(!button.git_ref.is_empty()).then(|| format!(" at {}", button.git_ref))}
            ", file "
            {if button.file_url.is_empty() {
                view! { <code>{button.path.clone()}</code> }.into_any()
            } else {
                view! { <a href=button.file_url.clone() rel="external"><code>{button.path.clone()}</code></a> }.into_any()
            }}
        </p>
    };
    if let Some(problem) = button.problem.clone() {
        return view! {
            {source}
            <div class="error-banner" role="alert" data-testid="button-problem">{problem}</div>
        }
        .into_any();
    }
    if button.teams.is_empty() {
        return view! {
            {source}
            <p class="notice" role="note" data-testid="cannot-deploy">
                "You may not deploy for any team: deploying needs the deployer role in a team. Ask one of your team's admins to make you a deployer, then open this link again."
            </p>
        }
        .into_any();
    }
    let Some(form) = button.form.clone() else {
        return view! { {source} }.into_any();
    };
    view! {
        {source}
        {(!button.file_problems.is_empty()).then(|| view! {
            <div class="error-banner" role="alert" data-testid="file-problems">
                <p>{format!("{} has problems; fix them below (or in the file):", button.path)}</p>
                <ul>
                    {button.file_problems.iter().map(|p| view! { <li>{p.to_string()}</li> }).collect_view()}
                </ul>
            </div>
        })}
        <DeployFormView form preview deploy teams=button.teams.clone() />
    }
    .into_any()
}
