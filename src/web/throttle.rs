//! Failed logins slow down the next attempts, per account name and per client
//! address separately: five failures are free, then each further attempt must wait
//! twice as long as the last (1 s, 2 s, 4 s … up to 15 minutes) after the latest
//! failure. Fifteen quiet minutes forget a key; a successful login clears both.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failures allowed before attempts must wait.
const FREE: u32 = 5;
/// The longest wait, and how long a key is remembered after its last failure.
const MOST: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Recent failures by key (`user:NAME`, `addr:IP`).
#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<String, Failures>,
}

impl Throttle {
    /// How long the attempt must still wait (the longest of its keys), if at all.
    pub fn wait(&mut self, keys: &[String], now: Instant) -> Option<Duration> {
        self.failures
            .retain(|_, f| now.duration_since(f.last) < MOST);
        keys.iter()
            .filter_map(|key| self.failures.get(key))
            .filter(|f| f.count >= FREE)
            .map(|f| {
                let wait = Duration::from_secs(1u64 << (f.count - FREE).min(10)).min(MOST);
                wait.saturating_sub(now.duration_since(f.last))
            })
            .filter(|wait| !wait.is_zero())
            .max()
    }

    /// Records a failure for each key.
    pub fn fail(&mut self, keys: &[String], now: Instant) {
        for key in keys {
            let entry = self.failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
            });
            entry.count += 1;
            entry.last = now;
        }
    }

    /// Forgets the keys' failures.
    pub fn clear(&mut self, keys: &[String]) {
        for key in keys {
            self.failures.remove(key);
        }
    }
}

/// The keys of an attempt.
pub fn keys(user: &str, address: &str) -> Vec<String> {
    vec![format!("user:{user}"), format!("addr:{address}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_are_free_then_waits_double() {
        let mut t = Throttle::default();
        let k = keys("ana", "10.0.0.1");
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(t.wait(&k, start), None);
            t.fail(&k, start);
        }
        assert_eq!(t.wait(&k, start), Some(Duration::from_secs(1)));
        t.fail(&k, start);
        assert_eq!(t.wait(&k, start), Some(Duration::from_secs(2)));
        assert_eq!(t.wait(&k, start + Duration::from_secs(3)), None);
        // Another address trying the same account waits too.
        let other = keys("ana", "10.0.0.2");
        assert!(t.wait(&other, start).is_some());
        t.clear(&k);
        assert_eq!(t.wait(&k, start), None);
    }
}
