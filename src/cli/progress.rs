//! Progress on a terminal: a bar while a plan is applied, a spinner while issues are read. Shown
//! only when stderr is a terminal, so logs and CI output stay clean. Long-running work reports
//! through `reconcile::Progress`; this is the CLI's drawing of it.

use crate::reconcile::Progress;
use std::io::IsTerminal;
use std::sync::Mutex;

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
fn spinner(what: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let s = indicatif::ProgressBar::new_spinner();
    s.set_message(what.to_string());
    s.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(s)
}

/// `reconcile::Progress` drawn on the terminal: a spinner per reading step, a bar for writes.
#[derive(Default)]
pub struct Terminal {
    shown: Mutex<Option<indicatif::ProgressBar>>,
    total: std::sync::atomic::AtomicUsize,
    /// Off a terminal, a line every 25 writes (bootstrap's long first run in CI logs).
    plain_lines: bool,
}

impl Terminal {
    /// Also says how far the writes are in plain lines when stderr is not a terminal.
    pub fn with_plain_lines() -> Terminal {
        Terminal {
            plain_lines: true,
            ..Terminal::default()
        }
    }

    fn show(&self, next: Option<indicatif::ProgressBar>) {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = shown.take() {
            old.finish_and_clear();
        }
        *shown = next;
    }
}

impl Progress for Terminal {
    fn step(&self, what: &str) {
        self.show(spinner(what));
    }
    fn writing(&self, total: usize) {
        self.total
            .store(total, std::sync::atomic::Ordering::Relaxed);
        self.show(bar(total));
    }
    fn written(&self, done: usize, what: &str) {
        let shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        match shown.as_ref() {
            Some(b) => {
                b.set_position(done as u64);
                b.set_message(what.to_string());
            }
            None => {
                let total = self.total.load(std::sync::atomic::Ordering::Relaxed);
                if self.plain_lines && done.is_multiple_of(25) && done < total {
                    eprintln!("  {done}/{total} changes applied");
                }
            }
        }
    }
    fn finish(&self) {
        self.show(None);
    }
}
