//! The REST request budget: sliding windows over every request (600 per 5 minutes)
//! and per resource (60 a minute), as Avaya documents its limits, and inside them the
//! sweep's own windows at a fifth of each, so gap filling always has most of it.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::rest::{Limits, Priority};

/// The sweep's share of every request window: at most one request in this many.
const SWEEP_SHARE: usize = 5;

/// Sliding-window request budget: overall and per resource, and within both the
/// sweep's own windows at a fifth of the limits.
#[derive(Debug, Default)]
pub struct Budget {
    /// The limits in force.
    pub limits: Limits,
    all: VecDeque<Instant>,
    per_resource: HashMap<String, VecDeque<Instant>>,
    sweep_all: VecDeque<Instant>,
    sweep_per_resource: HashMap<String, VecDeque<Instant>>,
}

impl Budget {
    /// An empty budget for `limits`.
    pub fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            ..Budget::default()
        }
    }

    /// How long to wait before a request to `resource` fits; records it when zero.
    pub fn take(&mut self, resource: &str, priority: Priority) -> Duration {
        let now = Instant::now();
        let all = (self.limits.per_5_minutes.max(1), Duration::from_secs(300));
        let one = (
            self.limits.per_minute_per_resource.max(1),
            Duration::from_secs(60),
        );
        let mut wait = window_wait(&mut self.all, all, now);
        let queue = self.per_resource.entry(resource.to_string()).or_default();
        wait = wait.max(window_wait(queue, one, now));
        if priority == Priority::Sweep {
            let share = |(limit, span): (usize, Duration)| ((limit / SWEEP_SHARE).max(1), span);
            wait = wait.max(window_wait(&mut self.sweep_all, share(all), now));
            let mine = self
                .sweep_per_resource
                .entry(resource.to_string())
                .or_default();
            wait = wait.max(window_wait(mine, share(one), now));
        }
        if wait.is_zero() {
            self.all.push_back(now);
            queue.push_back(now);
            if priority == Priority::Sweep {
                self.sweep_all.push_back(now);
                if let Some(mine) = self.sweep_per_resource.get_mut(resource) {
                    mine.push_back(now);
                }
            }
        }
        wait
    }
}

fn window_wait(
    times: &mut VecDeque<Instant>,
    (limit, span): (usize, Duration),
    now: Instant,
) -> Duration {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= span)
    {
        times.pop_front();
    }
    if times.len() < limit {
        return Duration::ZERO;
    }
    times
        .front()
        .map_or(Duration::ZERO, |t| span - now.duration_since(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_waits_when_a_window_is_full() {
        let mut budget = Budget::default();
        for _ in 0..60 {
            assert!(budget
                .take("/users/me/messages", Priority::Backfill)
                .is_zero());
        }
        let wait = budget.take("/users/me/messages", Priority::Backfill);
        assert!(
            wait > Duration::from_secs(59) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(budget
            .take("/users/me/spaces", Priority::Backfill)
            .is_zero());
    }

    #[test]
    fn the_sweep_gets_a_fifth_of_each_window() {
        let mut budget = Budget::default();
        for _ in 0..12 {
            assert!(budget.take("/m", Priority::Sweep).is_zero());
        }
        assert!(!budget.take("/m", Priority::Sweep).is_zero());
        // The rest of the window is the backfill's.
        for _ in 0..48 {
            assert!(budget.take("/m", Priority::Backfill).is_zero());
        }
        assert!(!budget.take("/m", Priority::Backfill).is_zero());
    }
}
