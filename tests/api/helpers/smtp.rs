//! A real SMTP server for the mail tests: `tests/smtp/server.py` (aiosmtpd) run with the Python
//! of `TEST_SMTP_PYTHON` (`tests/smtp/setup.sh` makes that venv and prints its path; `.ci/run`
//! sets the variable). It writes each message it accepts into a directory the test reads. Tests
//! that need it are `#[ignore = "needs TEST_SMTP_PYTHON …"]`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mail_parser::MimeHeaders;

use super::db::env;
use super::wait::eventually;

/// Panics (saying what is missing) unless this run has `TEST_SMTP_PYTHON`.
pub fn require_smtp_server() -> String {
    env("TEST_SMTP_PYTHON").expect(
        "this test needs TEST_SMTP_PYTHON: the Python with aiosmtpd that `bash tests/smtp/setup.sh` \
         prints (it runs a real SMTP server)",
    )
}

/// A message as a mail reader sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub envelope_to: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
    /// Each attachment: file name, MIME type (`application/pdf`) and bytes.
    pub attachments: Vec<Attached>,
}

/// A file attached to a message.
#[derive(Debug, Clone)]
pub struct Attached {
    pub name: String,
    pub mime: String,
    pub bytes: Vec<u8>,
}

/// Parses a stored message (an `.eml` file, or what the SMTP server received).
pub fn parse_message(raw: &[u8]) -> Received {
    let envelope_to = std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.strip_prefix("X-Envelope-To: "))
        .and_then(|s| s.split("\r\n").next())
        .unwrap_or_default()
        .to_string();
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a parseable message");
    let to = m
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_string();
    Received {
        envelope_to,
        to,
        subject: m.subject().unwrap_or_default().to_string(),
        message_id: m.message_id().unwrap_or_default().to_string(),
        text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        attachments: m
            .attachments()
            .map(|part| Attached {
                name: part.attachment_name().unwrap_or_default().to_string(),
                mime: part
                    .content_type()
                    .map(|t| format!("{}/{}", t.ctype(), t.subtype().unwrap_or_default()))
                    .unwrap_or_default(),
                bytes: part.contents().to_vec(),
            })
            .collect(),
    }
}

/// Every `.eml` file in `dir`, parsed (none if the directory does not exist yet).
pub fn messages_in(dir: &Path) -> Vec<Received> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| parse_message(&std::fs::read(p).expect("read .eml")))
        .collect()
}

/// The SMTP server process; killed when dropped. Stop and start it again on the same port to
/// simulate an outage.
pub struct SmtpServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    python: String,
    reject_to: Option<String>,
    child: Option<Child>,
}

impl SmtpServer {
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// A server on `port` that is not running yet.
    pub fn stopped(port: u16) -> SmtpServer {
        SmtpServer {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            python: require_smtp_server(),
            reject_to: None,
            child: None,
        }
    }

    /// Started, answering on its port.
    pub async fn start(port: u16) -> SmtpServer {
        let mut server = SmtpServer::stopped(port);
        server.run().await;
        server
    }

    /// Answers 550 to RCPT TO `address`.
    pub async fn start_rejecting(port: u16, address: &str) -> SmtpServer {
        let mut server = SmtpServer::stopped(port);
        server.reject_to = Some(address.to_string());
        server.run().await;
        server
    }

    /// (Re)starts the process and returns once it accepts connections.
    pub async fn run(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py");
        let mut cmd = Command::new(&self.python);
        cmd.arg(script)
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(address) = &self.reject_to {
            cmd.args(["--reject-to", address]);
        }
        self.child = Some(cmd.spawn().expect("start tests/smtp/server.py"));
        let port = self.port;
        eventually(
            Duration::from_secs(20),
            "the SMTP server to accept connections",
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What it has received so far.
    pub fn received(&self) -> Vec<Received> {
        messages_in(self.dir.path())
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
