//! A throwaway PostgreSQL cluster of one test (initdb and pg_ctl, in a temporary folder on a
//! free port), which the test can stop and restart; stopped and deleted when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Cluster {
    dir: PathBuf,
    port: u16,
    pg_ctl: PathBuf,
}

/// A PostgreSQL server program: on `PATH`, else the newest under /usr/lib/postgresql.
fn program(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if let Some(found) = on_path {
        return found;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.components()
            .rev()
            .nth(2)
            .and_then(|v| v.as_os_str().to_str()?.parse::<u32>().ok())
    });
    versions
        .pop()
        .unwrap_or_else(|| panic!("{name} is not installed (apt-get install postgresql)"))
}

/// `command` as the cluster's owner: initdb refuses to run as root, so root runs it as nobody.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "nobody", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Cluster {
    pub fn start(test: &str) -> Self {
        let dir = super::temp_dir(&format!("cluster-{test}"));
        if is_root() {
            let chown = Command::new("chown").arg("nobody").arg(&dir).status();
            assert!(
                chown.is_ok_and(|s| s.success()),
                "chown nobody {}",
                dir.display()
            );
        }
        let status = as_owner(&program("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "-A", "trust"])
            .output()
            .unwrap();
        assert!(status.status.success(), "initdb: {status:?}");
        let cluster = Self {
            port: free_port(),
            pg_ctl: program("pg_ctl"),
            dir,
        };
        cluster.pg_ctl(&["start"]);
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way a fast shutdown does: sessions are ended at once.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"]);
    }

    /// Starts the server again after [`Self::stop`].
    pub fn start_again(&self) {
        self.pg_ctl(&["start"]);
    }

    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast"]);
    }

    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let output = as_owner(&self.pg_ctl)
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-o", &options])
            .args(action)
            .output()
            .unwrap();
        assert!(output.status.success(), "pg_ctl {action:?}: {output:?}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_owner(&self.pg_ctl)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["stop", "-m", "immediate"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
