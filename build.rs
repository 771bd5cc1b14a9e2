//! Marks the tests that need a PostgreSQL server or headless Chromium as ignored, with the
//! reason, on a machine that has neither — so `cargo test` reports them as ignored instead of
//! letting them pass without running. Under `CI=true` nothing is ignored: CI installs both
//! (`.ci/run`), and a missing one there must fail, not hide.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(smeflow_tests_without_postgres)");
    println!("cargo::rustc-check-cfg=cfg(smeflow_tests_without_browser)");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PG_BIN");
    println!("cargo::rerun-if-changed=/usr/lib/postgresql");
    println!("cargo::rerun-if-changed=/usr/bin/chromium");
    println!("cargo::rerun-if-changed=/usr/bin/chromedriver");
    if std::env::var("CI").as_deref() == Ok("true") {
        return;
    }
    if !has_postgres() {
        println!("cargo::rustc-cfg=smeflow_tests_without_postgres");
    }
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];
    if !chromium.iter().any(|p| Path::new(p).exists())
        || !driver.iter().any(|p| Path::new(p).exists())
    {
        println!("cargo::rustc-cfg=smeflow_tests_without_browser");
    }
}

/// The same search as the tests' own (`tests/suite/pg/mod.rs`): PG_BIN, or Debian's layout.
fn has_postgres() -> bool {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Path::new(&dir).join("initdb").exists();
    }
    std::fs::read_dir("/usr/lib/postgresql")
        .map(|versions| {
            versions
                .filter_map(|e| e.ok())
                .any(|e| e.path().join("bin/initdb").exists())
        })
        .unwrap_or(false)
}
