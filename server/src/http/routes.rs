//! [`RouteTable`]: an axum router that also keeps the list of what it serves (method and path
//! pattern), so tests can enumerate every route (the authorization matrix in
//! `server/tests/it/authorization.rs` fails for a route it has no entry for).

use axum::{
    handler::Handler,
    http::Method,
    routing::{delete, get, post, put},
    Router,
};

/// One route: its method and path pattern (`/api/v1/services/{team}/{service}/{environment}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteEntry {
    pub method: Method,
    pub path: String,
}

pub struct RouteTable<S> {
    router: Router<S>,
    entries: Vec<RouteEntry>,
}

impl<S: Clone + Send + Sync + 'static> Default for RouteTable<S> {
    fn default() -> Self {
        Self {
            router: Router::new(),
            entries: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub fn new() -> Self {
        Self::default()
    }

    fn record(mut self, method: Method, path: &str) -> Self {
        self.entries.push(RouteEntry {
            method,
            path: path.to_owned(),
        });
        self
    }

    pub fn get<H: Handler<T, S>, T: 'static>(mut self, path: &str, handler: H) -> Self {
        self.router = self.router.route(path, get(handler));
        self.record(Method::GET, path)
    }

    pub fn post<H: Handler<T, S>, T: 'static>(mut self, path: &str, handler: H) -> Self {
        self.router = self.router.route(path, post(handler));
        self.record(Method::POST, path)
    }

    pub fn put<H: Handler<T, S>, T: 'static>(mut self, path: &str, handler: H) -> Self {
        self.router = self.router.route(path, put(handler));
        self.record(Method::PUT, path)
    }

    pub fn delete<H: Handler<T, S>, T: 'static>(mut self, path: &str, handler: H) -> Self {
        self.router = self.router.route(path, delete(handler));
        self.record(Method::DELETE, path)
    }

    /// Adds `other` under `prefix`.
    pub fn nest(mut self, prefix: &str, other: RouteTable<S>) -> Self {
        self.router = self.router.nest(prefix, other.router);
        self.entries
            .extend(other.entries.into_iter().map(|entry| RouteEntry {
                method: entry.method,
                path: format!("{prefix}{}", entry.path),
            }));
        self
    }

    pub fn merge(mut self, other: RouteTable<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.entries.extend(other.entries);
        self
    }

    /// Applies `f` to the router (layers, body limits) keeping the list.
    pub fn map_router(mut self, f: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = f(self.router);
        self
    }

    pub fn into_parts(self) -> (Router<S>, Vec<RouteEntry>) {
        (self.router, self.entries)
    }
}
