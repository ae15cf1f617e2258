//! The rate limit (`mqtt.min_interval`): at most one reading per interval, and
//! always the newest. Holds readings, not messages; reads no clock (times are
//! passed in) and decides nothing about what a reading publishes.

use crate::hub::Reading;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The rate limit: at most one reading per `min_interval`, always the newest.
#[derive(Debug, Default)]
pub struct RateLimit {
    min_interval: Duration,
    last: Option<Instant>,
    pending: Option<Arc<Reading>>,
}

impl RateLimit {
    pub fn new(min_interval: Duration) -> Self {
        RateLimit {
            min_interval,
            ..RateLimit::default()
        }
    }

    /// A new reading: returned when it may go out now, else kept (replacing an
    /// older one) until [`RateLimit::due`].
    pub fn offer(&mut self, r: Arc<Reading>, now: Instant) -> Option<Arc<Reading>> {
        match self.last {
            Some(last) if now.duration_since(last) < self.min_interval => {
                self.pending = Some(r);
                None
            }
            _ => {
                self.last = Some(now);
                self.pending = None;
                Some(r)
            }
        }
    }

    /// When the kept reading may go out.
    pub fn due(&self) -> Option<Instant> {
        self.pending.as_ref()?;
        Some(self.last? + self.min_interval)
    }

    /// The kept reading, when it is due.
    pub fn take(&mut self, now: Instant) -> Option<Arc<Reading>> {
        if self.due().is_some_and(|d| d <= now) {
            self.last = Some(now);
            return self.pending.take();
        }
        None
    }

    /// Something was published outside the limiter (a full republish).
    pub fn mark(&mut self, now: Instant) {
        self.last = Some(now);
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::fixtures::reading;

    #[test]
    fn rate_limit_keeps_the_newest_reading() {
        let mut rl = RateLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let r = |v| Arc::new(reading(v, 0.0, 230.0));
        assert!(rl.offer(r(1.0), t0).is_some());
        assert!(rl.offer(r(2.0), t0 + Duration::from_secs(1)).is_none());
        assert!(rl.offer(r(3.0), t0 + Duration::from_secs(2)).is_none());
        assert_eq!(rl.due(), Some(t0 + Duration::from_secs(10)));
        assert!(rl.take(t0 + Duration::from_secs(5)).is_none());
        let got = rl.take(t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(got.values[0].value, 3000.0);
        assert_eq!(rl.due(), None);
    }
}
