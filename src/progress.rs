//! Progress on a terminal: a bar for applying a plan, a spinner while reading. Shown only when
//! stderr is a terminal, so logs and CI output stay clean; long-running work (the sync, bootstrap)
//! asks for them here rather than from the command line layer that started it.

use std::io::IsTerminal;

/// A bar over `total` changes, or nothing when stderr is not a terminal or there is little to do.
pub fn bar(total: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || total < 2 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("  {bar:30} {pos}/{len} {wide_msg}")
            .expect("valid template"),
    );
    Some(bar)
}

/// A spinner with a message while something is read.
pub fn spinner(enabled: bool, what: &str) -> Option<indicatif::ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let s = indicatif::ProgressBar::new_spinner();
    s.set_message(what.to_string());
    s.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(s)
}
