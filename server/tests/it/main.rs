//! Integration tests: the real server on port 0, a real Postgres database per test.

mod assets_and_headers;
mod embedded_postgres;
mod health;
mod services;
mod support;
