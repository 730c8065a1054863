//! Progress bars on stderr (only when stderr is a terminal and --quiet is not given).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

pub struct CliProgress {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl CliProgress {
    pub fn new(enabled: bool) -> Self {
        CliProgress {
            enabled,
            bar: Mutex::new(None),
        }
    }
}

impl mreg::ops::Progress for CliProgress {
    fn start(&self, what: &str, total: u64) {
        if !self.enabled || total == 0 {
            return;
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("static template is valid")
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        *self.bar.lock().expect("not poisoned") = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.lock().expect("not poisoned").as_ref() {
            b.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("not poisoned").take() {
            b.finish_and_clear();
        }
    }
}
