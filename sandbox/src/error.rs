//! The one error type of the simulator library.

use std::path::PathBuf;

/// Everything that can go wrong in the simulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the Kubernetes API failed.
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),

    /// The kubeconfig file could not be read or used.
    #[error("cannot use kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },

    /// A client could not be built from a valid kubeconfig.
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),

    /// A setting (usually from the environment) has a value the simulator cannot use.
    #[error("invalid setting {name}={value:?}: {reason}")]
    InvalidSetting {
        name: &'static str,
        value: String,
        reason: &'static str,
    },

    /// A pod the API server sent has no name or namespace (never happens with a real server).
    #[error("pod without {0} in a watch event")]
    IncompletePod(&'static str),

    /// A detached simulator's thread or runtime could not be created.
    #[error("cannot start the simulator's thread: {0}")]
    Thread(#[source] std::io::Error),

    /// A detached simulator's thread ended before the simulator started.
    #[error("the simulator's thread ended before the simulator started")]
    ThreadEnded,

    /// The simulated kubelet's self-signed certificate could not be made.
    #[error("cannot make the simulated kubelet's certificate: {0}")]
    Certificate(#[from] rcgen::Error),

    /// The simulated kubelet's TLS settings were refused.
    #[error("cannot set up TLS for the simulated kubelet: {0}")]
    Tls(#[from] tokio_rustls::rustls::Error),

    /// The HTTP endpoint for simulated logs could not listen.
    #[error("cannot serve simulated logs on {addr}: {source}")]
    Serve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// True when the API answered 404: the object is gone, which ends a pod's simulation quietly.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(status)) if status.code == 404)
    }
}

/// Result with the simulator's [`Error`] as default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
