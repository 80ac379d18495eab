//! Where messages go: an SMTP server through lettre (`CANOPY_SMTP_URL`: `smtp://` plain or
//! `?tls=required` for STARTTLS, `smtps://` for TLS), or, with none configured, `.eml` files
//! in `<data dir>/outbox/` (the embedded default, listed on `/admin/outbox`).

use std::{path::PathBuf, time::Duration};

use lettre::{
    transport::smtp::authentication::Credentials, AsyncSmtpTransport, AsyncTransport, Message,
    Tokio1Executor,
};
use secrecy::{ExposeSecret, SecretString};

use super::ReportError;

/// How long one SMTP exchange may take; the outbox lease is longer.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// SMTP settings (credentials from the environment or a file, never from the URL in logs).
#[derive(Clone)]
pub struct SmtpSettings {
    pub url: SecretString,
    pub user: Option<String>,
    pub password: Option<SecretString>,
}

/// Delivery failed: `Transient` is tried again later, `Permanent` (a 5xx answer, such as a
/// refused recipient) is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    Transient(String),
    Permanent(String),
}

impl std::fmt::Display for SendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transient(why) | Self::Permanent(why) => f.write_str(why),
        }
    }
}

#[derive(Clone)]
pub enum Delivery {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port`, for the pages.
        server: String,
    },
    Directory(PathBuf),
}

impl Delivery {
    pub fn smtp(settings: &SmtpSettings) -> Result<Self, ReportError> {
        let raw = settings.url.expose_secret();
        let invalid = |why: String| ReportError::Invalid {
            field: "CANOPY_SMTP_URL",
            message: why,
        };
        let url = url::Url::parse(raw).map_err(|e| invalid(format!("not a URL ({e})")))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
            .map_err(|e| {
                invalid(format!(
                    "{e}; use smtp://host:port, smtp://host:587?tls=required or smtps://host"
                ))
            })?
            .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self::Smtp {
            transport: builder.build(),
            server: format!(
                "{}:{}",
                url.host_str().unwrap_or("?"),
                url.port_or_known_default().unwrap_or(25)
            ),
        })
    }

    /// Where messages go, for the pages.
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { server, .. } => format!("the SMTP server {server}"),
            Self::Directory(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    pub fn directory(&self) -> Option<&PathBuf> {
        match self {
            Self::Directory(dir) => Some(dir),
            Self::Smtp { .. } => None,
        }
    }

    /// Sends `message`; `file_stem` names the `.eml` file (the same for every attempt, so a
    /// repeated attempt replaces the file rather than adding one). Returns the server's answer.
    pub async fn send(&self, message: Message, file_stem: &str) -> Result<String, SendFailure> {
        match self {
            Self::Smtp { transport, .. } => match transport.send(message).await {
                Ok(response) => Ok(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
                Err(error) if error.is_permanent() => {
                    Err(SendFailure::Permanent(error.to_string()))
                }
                Err(error) => Err(SendFailure::Transient(error.to_string())),
            },
            Self::Directory(dir) => {
                let write = async {
                    tokio::fs::create_dir_all(dir).await?;
                    let path = dir.join(format!("{file_stem}.eml"));
                    let partial = dir.join(format!(".{file_stem}.eml.partial"));
                    tokio::fs::write(&partial, message.formatted()).await?;
                    tokio::fs::rename(&partial, &path).await?;
                    Ok::<_, std::io::Error>(path)
                };
                match write.await {
                    Ok(path) => Ok(format!("written to {}", path.display())),
                    Err(error) => Err(SendFailure::Transient(format!(
                        "writing to {}: {error}",
                        dir.display()
                    ))),
                }
            }
        }
    }
}
