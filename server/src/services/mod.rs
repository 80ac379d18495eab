//! The service registry: teams and the services they registered.

mod repository;

pub use repository::ServiceRepository;
