//! `smeflow demo`'s transcript, pinned: the story a newcomer reads (bootstrap plan, apply and
//! no-op, feedback tagged by the service, sync, board, report, an SME request's life, the
//! program report) is compared line by line with the reviewed snapshot. Only what changes from
//! run to run is redacted: the loopback ports, dates, the apply time and the dashboard token.

use crate::common;

use std::process::{Command, Stdio};

/// The `host:port` printed after `prefix` (the demo names both of its addresses first).
fn address_after(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
        + prefix.len();
    text[start..]
        .split(['/', ' '])
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_demo_tells_the_same_story_every_run() {
    // stdin is not a terminal, so the demo ends instead of waiting for Ctrl-C.
    let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .arg("demo")
        .current_dir(common::workdir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMEFLOW_CONFIG", common::config())
        .stdin(Stdio::null())
        .output()
        .expect("run smeflow demo");
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}\n{}", common::stderr(&out));
    let gitlab = address_after(&text, "GitLab simulator listening on http://");
    let serve = address_after(&text, "smeflow serve listening on http://");
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&gitlab.replace('.', r"\."), "[gitlab]");
    settings.add_filter(&serve.replace('.', r"\."), "[serve]");
    settings.add_filter(r"\b\d{4}-\d{2}-\d{2}\b", "[date]");
    settings.add_filter(r"\b\d{4}-Q[1-4]\b", "[quarter]");
    settings.add_filter(r"Review \d{4}-\d{2}\b", "Review [month]");
    settings.add_filter(r" in \d+\.\ds\.", " in [seconds]s.");
    settings.add_filter(r"demo-dashboard-\d+", "demo-dashboard-[token]");
    settings.bind(|| insta::assert_snapshot!("demo_transcript", text));
}
