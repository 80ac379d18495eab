//! A private PostgreSQL cluster that Canopy starts itself when no `DATABASE_URL` is given.
//!
//! It uses the machine's PostgreSQL server binaries (`initdb`, `pg_ctl`), listens on loopback
//! only, authenticates with a generated password kept in the data directory, and is stopped
//! when Canopy exits (or, as a fallback, when this guard is dropped). PostgreSQL refuses to run
//! as root, so when Canopy runs as root the cluster runs as the `postgres` system user.

use std::{
    io,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::Stdio,
};

use secrecy::{ExposeSecret, SecretString};
use tokio::process::Command;

use crate::config::EmbeddedSettings;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("PostgreSQL server binaries (initdb, pg_ctl) were not found; install PostgreSQL (Debian: apt-get install postgresql) or set CANOPY_PG_BIN_DIR")]
    BinariesNotFound,
    #[error("Canopy runs as root and PostgreSQL refuses to; a `postgres` system user is needed to run the embedded database (or set DATABASE_URL)")]
    NoPostgresUser,
    #[error("could not prepare the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error("`{command}` failed ({status}); see {log}")]
    CommandFailed {
        command: String,
        status: String,
        log: PathBuf,
    },
    #[error("could not run `{command}`: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("could not find a free loopback port: {0}")]
    Port(io::Error),
}

/// A running embedded cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    pgdata: PathBuf,
    run_as: Option<(u32, u32)>,
    port: u16,
    password: SecretString,
    stopped: bool,
}

const SUPERUSER: &str = "canopy";
pub const DATABASE: &str = "canopy";

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, then starts it and waits until it accepts connections.
    pub async fn start(settings: &EmbeddedSettings) -> Result<Self, EmbeddedError> {
        let bin_dir = match &settings.pg_bin_dir {
            Some(dir) => dir.clone(),
            None => find_bin_dir().ok_or(EmbeddedError::BinariesNotFound)?,
        };
        if !bin_dir.join("pg_ctl").is_file() {
            return Err(EmbeddedError::BinariesNotFound);
        }
        let run_as = if is_root() {
            Some(lookup_user("postgres").ok_or(EmbeddedError::NoPostgresUser)?)
        } else {
            None
        };
        let data_dir = absolute(&settings.data_dir);
        let pgdata = data_dir.join("postgres");
        let data_err = |source| EmbeddedError::DataDir {
            path: data_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&data_dir).map_err(data_err)?;
        let password =
            load_or_create_password(&data_dir.join("postgres.password")).map_err(data_err)?;

        let mut cluster = Self {
            bin_dir,
            pgdata,
            run_as,
            port: 0,
            password,
            stopped: true,
        };
        if !cluster.pgdata.join("PG_VERSION").is_file() {
            cluster.initdb(&data_dir).await?;
        }
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&data_dir, Some(uid), Some(gid)).map_err(data_err)?;
        }
        // A cluster left running by a Canopy that was killed: stop it and start afresh.
        if cluster.pg_ctl(&["status", "-D"], true).await.is_ok() {
            tracing::warn!(pgdata = %cluster.pgdata.display(), "stopping an embedded PostgreSQL left running by an earlier Canopy");
            cluster.pg_ctl(&["stop", "-m", "fast", "-D"], false).await?;
        }
        cluster.port = match settings.port {
            Some(port) => port,
            None => free_port().map_err(EmbeddedError::Port)?,
        };
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            cluster.port
        );
        let log = cluster.log_path();
        let log = log.to_string_lossy().into_owned();
        tracing::info!(pgdata = %cluster.pgdata.display(), port = cluster.port, "starting embedded PostgreSQL");
        cluster
            .pg_ctl(
                &["start", "-w", "-t", "60", "-l", &log, "-o", &options, "-D"],
                false,
            )
            .await?;
        cluster.stopped = false;
        Ok(cluster)
    }

    /// The URL of the `postgres` maintenance database (to create Canopy's database).
    pub fn maintenance_url(&self) -> SecretString {
        self.url("postgres")
    }

    /// The URL of Canopy's database.
    pub fn database_url(&self) -> SecretString {
        self.url(DATABASE)
    }

    fn url(&self, database: &str) -> SecretString {
        SecretString::from(format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password.expose_secret(),
            self.port
        ))
    }

    /// Stops the cluster (fast shutdown: running transactions are rolled back).
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        tracing::info!("stopping embedded PostgreSQL");
        let result = self.pg_ctl(&["stop", "-m", "fast", "-D"], false).await;
        self.stopped = true;
        result
    }

    fn log_path(&self) -> PathBuf {
        self.pgdata.with_file_name("postgres.log")
    }

    async fn initdb(&self, data_dir: &Path) -> Result<(), EmbeddedError> {
        tracing::info!(pgdata = %self.pgdata.display(), "initialising the embedded PostgreSQL cluster (first start)");
        let data_err = |source| EmbeddedError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        };
        let pwfile = data_dir.join("postgres.pwfile");
        std::fs::write(&pwfile, self.password.expose_secret()).map_err(data_err)?;
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600))
            .map_err(data_err)?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(data_dir, Some(uid), Some(gid)).map_err(data_err)?;
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).map_err(data_err)?;
        }
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        let pwfile_arg = format!("--pwfile={}", pwfile.display());
        let result = self
            .run(
                "initdb",
                &[
                    "-D",
                    &pgdata,
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    &pwfile_arg,
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
            )
            .await;
        let _ = std::fs::remove_file(&pwfile);
        result
    }

    async fn pg_ctl(&self, args: &[&str], quiet: bool) -> Result<(), EmbeddedError> {
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        let mut all: Vec<&str> = args.to_vec();
        all.push(&pgdata);
        if quiet {
            self.command("pg_ctl", &all)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .map_err(|source| EmbeddedError::Spawn {
                    command: "pg_ctl".to_owned(),
                    source,
                })
                .and_then(|status| {
                    if status.success() {
                        Ok(())
                    } else {
                        Err(EmbeddedError::CommandFailed {
                            command: "pg_ctl status".to_owned(),
                            status: status.to_string(),
                            log: self.log_path(),
                        })
                    }
                })
        } else {
            self.run("pg_ctl", &all).await
        }
    }

    async fn run(&self, program: &str, args: &[&str]) -> Result<(), EmbeddedError> {
        let command = format!("{program} {}", args.first().copied().unwrap_or_default());
        let output = self
            .command(program, args)
            .output()
            .await
            .map_err(|source| EmbeddedError::Spawn {
                command: command.clone(),
                source,
            })?;
        if output.status.success() {
            Ok(())
        } else {
            tracing::error!(
                %command,
                stderr = %String::from_utf8_lossy(&output.stderr),
                "embedded PostgreSQL command failed"
            );
            Err(EmbeddedError::CommandFailed {
                command,
                status: output.status.to_string(),
                log: self.log_path(),
            })
        }
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut std_command = std::process::Command::new(self.bin_dir.join(program));
        std_command.args(args).stdin(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            std_command.uid(uid).gid(gid).current_dir("/");
        }
        let mut command = Command::from(std_command);
        command.kill_on_drop(false);
        command
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        // Fallback for paths that did not call `stop` (e.g. a failed startup after the start).
        let mut command = std::process::Command::new(self.bin_dir.join("pg_ctl"));
        command
            .args(["stop", "-m", "fast", "-D"])
            .arg(&self.pgdata)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid).current_dir("/");
        }
        let _ = command.status();
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    })
}

fn is_root() -> bool {
    // The owner of /proc/self is the effective user of this process.
    std::fs::metadata("/proc/self")
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
        .unwrap_or(false)
}

/// uid and gid of a system user, from /etc/passwd.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

fn free_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn load_or_create_password(path: &Path) -> io::Result<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => {
            Ok(SecretString::from(existing.trim().to_owned()))
        }
        _ => {
            use rand::{distributions::Alphanumeric, Rng};
            let password: String = rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(32)
                .map(char::from)
                .collect();
            std::fs::write(path, &password)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            Ok(SecretString::from(password))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_users_in_passwd_format() {
        // root is in /etc/passwd on every Linux machine.
        assert_eq!(lookup_user("root"), Some((0, 0)));
        assert_eq!(lookup_user("no-such-user-canopy"), None);
    }

    #[test]
    fn password_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        let first = load_or_create_password(&path).expect("create");
        let second = load_or_create_password(&path).expect("load");
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert_eq!(first.expose_secret().len(), 32);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
