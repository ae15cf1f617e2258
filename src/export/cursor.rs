//! Where the stream of one database stands: what is sent, what the live stream
//! sent besides, and the backlog between. Pure arithmetic on times: no I/O, no
//! clock (the history stores it with its next batch).

use crate::history::store::ExportCursor;

/// Where the stream of one database stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(pub ExportCursor);

impl Cursor {
    /// Where new readings continue from.
    pub fn head(&self) -> i64 {
        if self.0.live_from.is_some() {
            self.0.live
        } else {
            self.0.done
        }
    }

    /// New readings were acknowledged up to `t`.
    pub fn sent_live(&mut self, t: i64) {
        if self.0.live_from.is_some() {
            self.0.live = self.0.live.max(t);
        } else {
            self.0.done = self.0.done.max(t);
        }
    }

    /// The live stream is more than `lag` behind `newest` and has sent nothing
    /// since the backlog began (or there is no backlog yet): it continues from
    /// `newest - keep`, and what it skips is backlog.
    pub fn skip_ahead(&mut self, newest: i64, lag: i64, keep: i64) -> bool {
        let head = self.head();
        let idle = match self.0.live_from {
            None => true,
            Some(from) => self.0.live < from,
        };
        if !idle || newest - head <= lag {
            return false;
        }
        let from = (newest - keep).max(head + 1);
        self.0.live_from = Some(from);
        self.0.live = from - 1;
        true
    }

    /// The backlog: readings with `done < t < end`, if any is left.
    pub fn backlog(&self) -> Option<(i64, i64)> {
        self.0.live_from.map(|from| (self.0.done, from))
    }

    /// Backlog readings were acknowledged up to `t`. `short`: the request found
    /// fewer readings than it asked for; `newest`: the history's newest reading.
    /// The two streams join only when none can be left before the live
    /// stream's start: the read came up short *and* the history has reached
    /// that start (it records in time order, so nothing older can come). After
    /// a restart the history may still be recording again what was not stored
    /// before the kill, and a short read then only means "not yet". Returns
    /// whether they joined.
    pub fn sent_backlog(&mut self, t: i64, short: bool, newest: Option<i64>) -> bool {
        self.0.done = self.0.done.max(t);
        let reached = match (self.0.live_from, newest) {
            (Some(from), Some(newest)) => newest >= from,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if short && reached {
            self.join();
            return true;
        }
        false
    }

    fn join(&mut self) {
        if self.0.live_from.take().is_some() {
            self.0.done = self.0.done.max(self.0.live);
        }
    }

    /// Drops what is older than `limit`; returns the span dropped (ms, `[from, to)`).
    pub fn drop_before(&mut self, limit: i64) -> Option<(i64, i64)> {
        let done = self.0.done;
        if done >= limit {
            return None;
        }
        match self.0.live_from {
            Some(from) if from <= limit => {
                self.join();
                self.0.done = self.0.done.max(limit);
                Some((done + 1, from))
            }
            _ => {
                self.0.done = limit;
                Some((done + 1, limit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(done: i64) -> Cursor {
        Cursor(ExportCursor {
            done,
            live: done,
            ..ExportCursor::default()
        })
    }

    #[test]
    fn a_stream_that_keeps_up_has_no_backlog() {
        let mut c = cursor(1000);
        assert!(!c.skip_ahead(60_000, 120_000, 10_000));
        c.sent_live(5000);
        assert_eq!(c.head(), 5000);
        assert_eq!(c.backlog(), None);
    }

    #[test]
    fn after_an_outage_new_readings_go_first_and_the_backlog_follows() {
        let mut c = cursor(1000);
        // An hour later, nothing sent since: skip to the last 10 s.
        assert!(c.skip_ahead(3_601_000, 120_000, 10_000));
        assert_eq!(c.head(), 3_590_999);
        assert_eq!(c.backlog(), Some((1000, 3_591_000)));
        // Still failing: the live start moves with the newest reading.
        assert!(c.skip_ahead(7_201_000, 120_000, 10_000));
        assert_eq!(c.backlog(), Some((1000, 7_191_000)));
        c.sent_live(7_205_000);
        // Once live readings went out, the start stays.
        assert!(!c.skip_ahead(9_000_000, 120_000, 10_000));
        assert!(!c.sent_backlog(2_000_000, false, Some(9_000_000)));
        assert_eq!(c.backlog(), Some((2_000_000, 7_191_000)));
        assert!(c.sent_backlog(7_190_999, true, Some(9_000_000)));
        assert_eq!(c.backlog(), None);
        assert_eq!(c.head(), 7_205_000);
    }

    /// Before a kill the live stream sent readings the history held only in
    /// memory; after it the history records them again from the replay, and the
    /// backlog must wait for them rather than take a short read for its end.
    #[test]
    fn after_a_restart_the_backlog_waits_for_the_history_to_reach_its_end() {
        let mut c = cursor(1000);
        c.skip_ahead(3_601_000, 120_000, 10_000);
        c.sent_live(3_600_000);
        // The store ends at 3_000_000; the recorder has not got further yet.
        assert!(!c.sent_backlog(3_000_000, true, Some(3_000_000)));
        assert_eq!(c.backlog(), Some((3_000_000, 3_591_000)));
        assert!(!c.sent_backlog(3_000_000, true, None));
        // The history records again up to the live stream's start and beyond.
        assert!(c.sent_backlog(3_590_999, true, Some(3_595_000)));
        assert_eq!(c.backlog(), None);
        assert_eq!(c.head(), 3_600_000);
    }

    #[test]
    fn a_backlog_past_the_limit_is_dropped() {
        let mut c = cursor(1000);
        c.skip_ahead(3_601_000, 120_000, 10_000);
        c.sent_live(3_600_000);
        assert_eq!(c.drop_before(500), None);
        assert_eq!(c.drop_before(2000), Some((1001, 2000)));
        assert_eq!(c.backlog(), Some((2000, 3_591_000)));
        // The whole backlog is past the limit: the streams join.
        assert_eq!(c.drop_before(3_595_000), Some((2001, 3_591_000)));
        assert_eq!(c.backlog(), None);
        assert_eq!(c.head(), 3_600_000);
    }
}
