//! The service registry: teams and the services they registered.

pub mod catalogue;
mod repository;

pub use catalogue::Catalogue;
pub use repository::ServiceRepository;
