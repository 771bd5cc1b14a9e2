//! A throwaway PostgreSQL server for tests: `initdb` into a temp dir, started on a free
//! loopback port, one per test binary, each test with a database of its own. A watchdog
//! process stops the server when the test binary exits, however it exits.
//!
//! Every test that calls `server()` carries `#[cfg_attr(smeflow_tests_without_postgres,
//! ignore = ...)]`: on a machine without PostgreSQL, `build.rs` sets that cfg and `cargo test`
//! lists the test as ignored (never as passed). Where PostgreSQL is found (and always under
//! `CI=true`, whose `.ci/run` installs it), a server that does not start fails the test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub struct Server {
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

const INSTALL: &str = "install it with `apt-get install -y postgresql` (Debian/Ubuntu), or set PG_BIN to the directory holding initdb and pg_ctl";

fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user.
fn tool(bin: &Path, name: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(name));
        c
    } else {
        Command::new(bin.join(name))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Result<Server, String> {
    start_with(&[], "", None)
}

/// `start`, with `files` written into the server's folder first (keys readable by the server
/// only, as PostgreSQL demands), `settings` added to its command line (`-c ssl=on ...`), and
/// `hba` in place of the access rules initdb wrote.
fn start_with(
    files: &[(&str, &[u8])],
    settings: &str,
    hba: Option<&str>,
) -> Result<Server, String> {
    let bin = bin_dir().ok_or_else(|| format!("PostgreSQL's initdb was not found; {INSTALL}"))?;
    let dir = tempfile::Builder::new()
        .prefix("smeflow-pg")
        .tempdir()
        .map_err(|e| e.to_string())?;
    for (name, contents) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
    }
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err("cannot hand the temp dir to the postgres user (chown failed)".into());
        }
    }
    let data = dir.path().join("data");
    let out = tool(&bin, "initdb")
        .args(["-A", "trust", "-U", "smeflow", "-N", "-D"])
        .arg(&data)
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if let Some(rules) = hba {
        // Written through the server's own user: the file belongs to it after initdb.
        let path = data.join("pg_hba.conf");
        let out = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--", "sh", "-c", "cat > \"$0\""])
                .arg(&path)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(rules.as_bytes())?;
                    c.wait()
                })
                .map(|s| s.success())
        } else {
            std::fs::write(&path, rules).map(|_| true)
        };
        if !matches!(out, Ok(true)) {
            return Err(format!("cannot write {}", path.display()));
        }
    }
    let port = free_port();
    // Tests need no durability; the intake benchmark compares stores on equal terms (PG_FSYNC=on).
    let fsync = if std::env::var("PG_FSYNC").as_deref() == Ok("on") {
        "on"
    } else {
        "off"
    };
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={fsync} -c max_connections=200 {settings}",
        dir.path().display()
    );
    let out = tool(&bin, "pg_ctl")
        .args(["-w", "-D"])
        .arg(&data)
        .arg("-l")
        .arg(dir.path().join("log"))
        .args(["-o", &opts, "start"])
        .output()
        .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
    if !out.status.success() {
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        return Err(format!(
            "pg_ctl start failed: {}{log}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Stops the server once this test binary has exited (statics are never dropped). It looks
    // in /proc rather than `kill -0`: as the postgres user it may not signal our process.
    let stop = format!(
        "while [ -d /proc/{pid} ]; do sleep 0.5; done; {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1",
        pid = std::process::id(),
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
    );
    let mut watchdog = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", &stop]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &stop]);
        c
    };
    watchdog
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the watchdog: {e}"))?;
    Ok(Server {
        port,
        bin,
        data,
        _dir: dir,
    })
}

/// The shared server; a test fails when it cannot start.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!("PostgreSQL is needed for this test and did not start: {why}"),
    }
}

/// A server of the caller's own, for a test that stops it.
pub fn own_server() -> Server {
    try_own_server()
        .unwrap_or_else(|why| panic!("PostgreSQL is needed for this test and did not start: {why}"))
}

/// A server of the caller's own that speaks TLS only, with this certificate and key (PEM).
pub fn own_tls_server(cert: &[u8], key: &[u8]) -> Server {
    start_with(
        &[("server.crt", cert), ("server.key", key)],
        // Relative paths are read from the data folder, one level below the files.
        "-c ssl=on -c ssl_cert_file=../server.crt -c ssl_key_file=../server.key",
        Some("hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\nlocal all all trust\n"),
    )
    .unwrap_or_else(|why| panic!("PostgreSQL is needed for this test and did not start: {why}"))
}

/// A server of the caller's own, or why there is none (the benchmark runs without one).
pub fn try_own_server() -> Result<Server, String> {
    start()
}

impl Server {
    /// Stops the server now (fast shutdown: connections are cut, as in an outage).
    pub fn stop(&self) {
        let status = tool(&self.bin, "pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://smeflow@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database for one test.
    pub fn fresh_database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let admin = self.url_of("postgres");
        let create = format!("CREATE DATABASE {name}");
        // The sync client runs its own runtime: keep it off any test runtime's thread.
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            c.batch_execute(&create).unwrap();
        })
        .join()
        .unwrap();
        self.url_of(&name)
    }
}
