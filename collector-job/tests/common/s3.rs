//! A real S3-compatible server on loopback for the media tests: `s3s-fs` (a crates.io
//! package, installed by scripts/test), one process per test with its own data directory,
//! stopped when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const ACCESS_KEY: &str = "media-test-access";
pub const SECRET_KEY: &str = "media-test-secret-do-not-log";
pub const BUCKET: &str = "archive";

/// The server binary: `S3S_FS` when set, else `s3s-fs` on the PATH.
fn binary() -> String {
    std::env::var("S3S_FS").unwrap_or_else(|_| "s3s-fs".to_owned())
}

pub struct S3Server {
    child: Child,
    pub endpoint: String,
    /// The server's data directory (a bucket is a directory in it).
    pub root: PathBuf,
}

impl S3Server {
    /// Starts a server with bucket [`BUCKET`] and waits until it accepts connections.
    pub fn start() -> Self {
        let root = scratch_dir("s3");
        std::fs::create_dir_all(root.join(BUCKET)).expect("the bucket directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): scripts/test installs it (cargo install s3s-fs \
                     --version 0.14.1 --features binary --locked)",
                    binary()
                )
            });
        let address = format!("127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "s3s-fs did not listen on {address}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            endpoint: format!("http://{address}"),
            root,
        }
    }

    /// The client settings with this server's credentials.
    pub fn credentials(&self) -> object_store::aws::AmazonS3Builder {
        object_store::aws::AmazonS3Builder::new()
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
    }

    /// The environment a collector process needs to reach it.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ]
    }
}

/// A fresh directory of its own (tests of one binary run in parallel, in one process).
pub fn scratch_dir(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "collector-media-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
