//! A real SMTP server for the e-mail tests: `scripts/smtp-sink.py` (Debian's python3-aiosmtpd)
//! on a free loopback port, writing what it accepts to a temporary folder.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl SmtpSink {
    /// `slow_secs`: how long a message to a `slow…` recipient waits for its answer.
    pub fn start(slow_secs: f64) -> Self {
        Self::start_on(free_port(), slow_secs)
    }

    pub fn start_on(port: u16, slow_secs: f64) -> Self {
        let dir = tempfile::tempdir().expect("sink dir");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(dir.path())
            .arg(port.to_string())
            .env("SMTP_SINK_SLOW_SECS", slow_secs.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the SMTP sink starts (apt-get install python3-aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the sink says it listens");
        assert!(line.starts_with("listening"), "smtp sink: {line:?}");
        Self { port, dir, child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// `(recipient, raw message)` of every accepted message, in the order accepted.
    pub fn messages(&self) -> Vec<(String, Vec<u8>)> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("sink dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let recipient = name
                    .trim_end_matches(".eml")
                    .split_once('-')
                    .map(|(_, r)| r.to_owned())
                    .unwrap_or_default();
                let raw = std::fs::read(self.dir.path().join(&name)).expect("message");
                (recipient, raw)
            })
            .collect()
    }

    /// Waits until at least `count` messages arrived (or `within` passed).
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<(String, Vec<u8>)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= count || tokio::time::Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
