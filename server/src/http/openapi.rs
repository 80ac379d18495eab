//! The REST API's contract: one OpenAPI 3.1 document built from the handlers'
//! `#[utoipa::path]` annotations and the payload types' `ToSchema` derives, served at
//! `GET /api/v1/openapi.json` and committed as `docs/openapi.json`. The integration test
//! `server/tests/it/openapi.rs` fails when a `/api/v1` route of the `RouteTable` is missing from
//! it (or it lists one that does not exist), when the committed file is stale, and when real
//! responses do not validate against it. Regenerate the file with
//! `CANOPY_UPDATE_OPENAPI=1 cargo nextest run -p canopy-server --test it openapi`.

use std::sync::LazyLock;

use axum::{
    http::{header, HeaderValue, Method},
    response::{IntoResponse, Response},
};
use utoipa::{
    openapi::{
        security::{Http, HttpAuthScheme, SecurityScheme},
        ContentBuilder, OpenApi as Document, Ref, ResponseBuilder,
    },
    Modify, OpenApi,
};

use super::{api, drift_api, energy_api, github, identity_api, quota_api, routes::RouteTable};
use super::{error::ErrorBody, AppState};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The document's frame: info, security schemes, tags, the error shape and this route; each
/// capability's module adds its paths (`Doc` next to its handlers).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Canopy REST API",
        description = "Deploy services, read their state, pods and logs, manage quotas, people, \
            API tokens and GitHub links, and read energy and dependency drift. Authenticate with \
            `Authorization: Bearer <API token>` (docs/API.md says how to get a scoped team \
            token). Every refusal is a JSON `ApiError` with the status that says its kind.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(openapi_json),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "deploys", description = "Deploy, preview, roll back, restart, scale and delete services"),
        (name = "services", description = "A deployed service: status and history, pods, events and logs"),
        (name = "quotas", description = "Per-team quotas on CPU, memory and pods"),
        (name = "identity", description = "Invites, team members, API tokens and the audit log"),
        (name = "drift", description = "Dependency drift: sources, scans, the org-wide picture"),
        (name = "github", description = "A service's link to a GitHub repository (push-to-deploy) and its deliveries"),
        (name = "energy", description = "Energy and CO2e figures, node tokens, request counts and SCI"),
        (name = "ingest", description = "The node agents' energy batches (node tokens)"),
        (name = "meta", description = "This document"),
    )
)]
struct Frame;

/// The bearer token every route but the public ones takes (`Authorization: Bearer ...`): an
/// API token (`cat_...`, a person's or a team's), the bootstrap `CANOPY_API_TOKEN`, or for
/// `POST /api/v1/ingest` a node token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some(
            "An API token (`cat_...`: a person's, or a team's with scope read, deploy or admin; \
             POST /api/v1/tokens) or the bootstrap CANOPY_API_TOKEN. Browsers' session cookies \
             work too, for same-origin requests."
                .to_owned(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        let mut node = Http::new(HttpAuthScheme::Bearer);
        node.description = Some(
            "A node token (POST /api/v1/energy/node-tokens), held by one node's agent.".to_owned(),
        );
        components.add_security_scheme("node_token", SecurityScheme::Http(node));
    }
}

/// The whole document: the frame with every capability's paths.
pub fn document() -> Document {
    let mut document = Frame::openapi();
    for part in [
        api::Doc::openapi(),
        quota_api::Doc::openapi(),
        identity_api::Doc::openapi(),
        drift_api::Doc::openapi(),
        github::Doc::openapi(),
        energy_api::Doc::openapi(),
    ] {
        document.merge(part);
    }
    CommonRefusals.modify(&mut document);
    document
}

/// Refusals every operation can answer, described once here instead of on each handler: 500
/// (unexpected; the `reference` is in the server log) everywhere, and for the routes that take
/// the bearer token 401 (no valid token or session) and 503 (the database, where tokens and
/// sessions are looked up, is unreachable or every connection to it busy), and 429 where the request rate limit counts
/// (`http/rate_limit.rs`). A handler's own description of a status wins.
struct CommonRefusals;

impl Modify for CommonRefusals {
    fn modify(&self, openapi: &mut Document) {
        let refusal = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ApiError")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                // `None`: the document's default, the bearer token.
                let takes_bearer = operation.security.is_none();
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| refusal(description).into());
                };
                add(
                    "500",
                    "Something unexpected: quote `reference`; the server log has the details",
                );
                if takes_bearer {
                    add(
                        "401",
                        "No valid bearer token (unknown, revoked or expired) or session",
                    );
                    add(
                        "503",
                        "The database is unreachable (`unavailable`) or Canopy is overloaded, every database connection in use (`busy`); the Retry-After header says when to try again",
                    );
                }
                if super::rate_limit::counted(&method, path) {
                    add(
                        "429",
                        "Over the request rate limit, shared by every replica (CANOPY_RATE_LIMIT_PER_SECOND, bursts up to CANOPY_RATE_LIMIT_BURST); the Retry-After header says when to try again",
                    );
                }
            }
        }
    }
}

/// The document as committed in `docs/openapi.json`: pretty JSON, keys in a stable order, one
/// final newline.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}

/// `GET /api/v1/openapi.json` (public, like the health checks).
pub fn routes() -> RouteTable<AppState> {
    RouteTable::new().get(OPENAPI_PATH, openapi_json)
}

/// This document: the REST API's contract in OpenAPI 3.1.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn openapi_json() -> Response {
    static DOCUMENT: LazyLock<String> = LazyLock::new(document_json);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}
