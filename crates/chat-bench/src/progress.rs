//! Progress lines on stderr, so a long run shows it is alive without
//! mixing into the report on stdout.

use std::fmt;
use std::time::{Duration, Instant};

/// How often a repeated progress line is printed at most.
const INTERVAL: Duration = Duration::from_secs(1);

/// Prints `chat-bench SCENARIO: ...` lines to stderr, or nothing when off.
#[derive(Debug)]
pub struct Progress {
    scenario: &'static str,
    enabled: bool,
    last: Option<Instant>,
}

impl Progress {
    /// Progress for `scenario`; silent unless `enabled`.
    pub fn new(scenario: &'static str, enabled: bool) -> Self {
        Self {
            scenario,
            enabled,
            last: None,
        }
    }

    /// Prints a line now: a phase starts or ends.
    pub fn say(&mut self, line: fmt::Arguments<'_>) {
        if self.enabled {
            eprintln!("chat-bench {}: {line}", self.scenario);
            self.last = Some(Instant::now());
        }
    }

    /// Prints a line unless one was printed less than a second ago: a counter
    /// that moves on.
    pub fn tick(&mut self, line: fmt::Arguments<'_>) {
        if self.last.is_none_or(|last| last.elapsed() >= INTERVAL) {
            self.say(line);
        }
    }
}
