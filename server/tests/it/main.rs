//! Integration tests: the real server on port 0, a real Postgres database per test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod api;
mod assets_and_headers;
mod authorization;
mod catalogue;
mod drift;
mod embedded_postgres;
mod github;
mod github_signin;
mod health;
mod home;
mod openapi;
mod overload;
mod quota_api;
mod replicas;
mod services;
mod shutdown;
mod sign_in;
mod streams;
mod support;
