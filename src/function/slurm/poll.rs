//! How often the status of a run's jobs is asked for ([`PollInterval`]): at least
//! [`MIN_POLL_INTERVAL`] apart, and further apart when the controller answers slowly.
//!
//! Arithmetic on durations it is given: it never reads the clock nor sleeps (the
//! poller in `orcapod-actors` does).

use std::time::Duration;

/// The shortest time between two status queries.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The longest time between two status queries.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// The time between two status queries of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollInterval {
    current: Duration,
}

impl Default for PollInterval {
    fn default() -> Self {
        PollInterval {
            current: MIN_POLL_INTERVAL,
        }
    }
}

impl PollInterval {
    /// The time to wait before the next query.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// After a query that took `took`: a query that took more than a tenth of the
    /// interval (an overloaded controller) doubles the interval, up to
    /// [`MAX_POLL_INTERVAL`]; a quick one halves it, down to [`MIN_POLL_INTERVAL`].
    pub fn after_query(&mut self, took: Duration) {
        self.current = if took * 10 > self.current {
            (self.current * 2).min(MAX_POLL_INTERVAL)
        } else {
            (self.current / 2).max(MIN_POLL_INTERVAL)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_answers_back_off_and_quick_ones_come_back() {
        let mut interval = PollInterval::default();
        assert_eq!(interval.current(), Duration::from_secs(1));
        interval.after_query(Duration::from_millis(20));
        assert_eq!(interval.current(), Duration::from_secs(1));
        interval.after_query(Duration::from_millis(500));
        assert_eq!(interval.current(), Duration::from_secs(2));
        for _ in 0..10 {
            interval.after_query(Duration::from_secs(5));
        }
        assert_eq!(interval.current(), MAX_POLL_INTERVAL);
        interval.after_query(Duration::from_millis(10));
        assert_eq!(interval.current(), Duration::from_secs(15));
    }
}
