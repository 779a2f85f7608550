//! A one-line `\r` progress bar on stderr, shown only once a rewrite has taken more than a moment.

use super::human;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Nothing is drawn before this much time has passed (quick rewrites stay silent).
const DELAY: Duration = Duration::from_millis(400);
/// Least time between two redraws.
const EVERY: Duration = Duration::from_millis(100);

/// Shared state: when the rewrite started, when the bar was last drawn.
#[derive(Clone)]
pub struct Bar(Arc<Mutex<State>>);

struct State {
    start: Instant,
    drawn: Option<Instant>,
}

impl Bar {
    /// A bar that has not drawn anything yet.
    pub fn new() -> Bar {
        Bar(Arc::new(Mutex::new(State {
            start: Instant::now(),
            drawn: None,
        })))
    }

    /// Redraws the bar for `done` of `total` bytes, if it is time to.
    pub fn update(&self, done: u64, total: u64) {
        let Ok(mut s) = self.0.lock() else { return };
        let now = Instant::now();
        let elapsed = now.duration_since(s.start);
        if elapsed < DELAY || s.drawn.is_some_and(|t| now.duration_since(t) < EVERY) {
            return;
        }
        s.drawn = Some(now);
        let frac = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let filled = (frac * 30.0).round() as usize;
        let rate = done as f64 / elapsed.as_secs_f64() / 1048576.0;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kpacking [{}{}] {:3.0}%  {} / {}  {rate:.0} MiB/s",
            "#".repeat(filled.min(30)),
            " ".repeat(30 - filled.min(30)),
            frac * 100.0,
            human(done),
            human(total),
        );
        let _ = err.flush();
    }

    /// Erases the bar if it was drawn.
    pub fn clear(&self) {
        if let Ok(s) = self.0.lock() {
            if s.drawn.is_some() {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            }
        }
    }
}
