//! `GET /api/v1/events`: server-sent events for the dashboard. One `reading`
//! event per telegram, a `status` event when the link, counters, MQTT or update
//! state change, keep-alive comments in between. Every stream ends when the
//! server shuts down, so graceful shutdown never waits on an open dashboard.
//!
//! One fan-out task serialises each event once and broadcasts the text; each
//! client only copies it out. A client that falls behind skips ahead (`Lagged`)
//! and never slows the meter reader or the other clients.

use super::Web;
use super::api::{ReadingView, status_of};
use crate::hub::Event as HubEvent;
use crate::hub::sample_of;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Events a client may fall behind before it skips ahead.
pub const QUEUE: usize = 32;
/// Comment lines that keep proxies and browsers from timing out an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often the fan-out looks for status changes nobody announces (MQTT state).
const STATUS_POLL: Duration = Duration::from_secs(2);

/// One serialised event.
#[derive(Clone, Debug)]
pub struct Frame {
    pub event: &'static str,
    pub data: Arc<str>,
}

fn frame(event: &'static str, value: &impl serde::Serialize) -> Option<Frame> {
    serde_json::to_string(value).ok().map(|s| Frame {
        event,
        data: s.into(),
    })
}

fn reading_frame(r: &crate::hub::Reading) -> Option<Frame> {
    let sample = sample_of(r);
    frame("reading", &ReadingView::new(r, Some(&sample)))
}

/// The part of the status whose change is worth an event (not the uptime).
fn fingerprint(web: &Web) -> String {
    let s = status_of(web);
    format!(
        "{:?}|{}|{}|{:?}",
        s.link.map(|l| (l.state, l.detail)),
        s.mqtt_state,
        s.counters.failed,
        s.update.map(|u| (u.available, u.activity))
    )
}

impl Web {
    /// Starts the fan-out task once, on the first subscriber.
    fn ensure_fanout(&self) {
        if self.inner.fanout_started.swap(true, Ordering::AcqRel) {
            return;
        }
        // Subscribe before returning, so that no telegram published after the
        // first client connected is missed.
        let events = self.hub().subscribe_events();
        let web = self.clone();
        self.spawn(async move { fanout(web, events).await });
    }
}

async fn fanout(web: Web, mut events: tokio::sync::broadcast::Receiver<HubEvent>) {
    let mut update = web.updater().map(|u| u.subscribe());
    let mut poll = tokio::time::interval(STATUS_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = fingerprint(&web);
    let token = web.shutdown_token().clone();
    let send = |f: Option<Frame>| {
        if let Some(f) = f {
            // Err only means nobody is listening right now.
            let _ = web.inner.frames.send(f);
        }
    };
    loop {
        let status_changed = tokio::select! {
            _ = token.cancelled() => return,
            e = events.recv() => match e {
                Ok(HubEvent::Reading(r)) => {
                    send(reading_frame(&r));
                    false
                }
                // Counted; the poll below announces the new counters at most every 2 s.
                Ok(HubEvent::Rejected(_) | HubEvent::Identify) => false,
                Ok(HubEvent::Link(_)) => true,
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return,
            },
            changed = async {
                match update.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if !changed {
                    update = None;
                }
                true
            },
            _ = poll.tick() => false,
        };
        let now = fingerprint(&web);
        if status_changed || now != last {
            last = now;
            send(frame("status", &status_of(&web)));
        }
    }
}

/// Counts a client while its stream lives.
struct Client(Web);

impl Drop for Client {
    fn drop(&mut self) {
        self.0.inner.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

fn to_event(f: &Frame) -> Event {
    Event::default().event(f.event).data(&*f.data)
}

/// `GET /api/v1/events`.
pub async fn events(State(web): State<Web>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    web.ensure_fanout();
    let rx = web.inner.frames.subscribe();
    web.inner.sse_clients.fetch_add(1, Ordering::Relaxed);
    // What a new page needs at once: the status and the newest reading.
    let mut first = Vec::with_capacity(2);
    first.extend(frame("status", &status_of(&web)));
    if let Some(r) = web.hub().latest() {
        first.extend(reading_frame(&r));
    }
    let token = web.shutdown_token().clone();
    let state = (rx, first.into_iter(), Client(web), token);
    let stream =
        futures_util::stream::unfold(state, |(mut rx, mut first, client, token)| async move {
            if let Some(f) = first.next() {
                return Some((Ok(to_event(&f)), (rx, first, client, token)));
            }
            loop {
                tokio::select! {
                    _ = token.cancelled() => return None,
                    r = rx.recv() => match r {
                        Ok(f) => return Some((Ok(to_event(&f)), (rx, first, client, token))),
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    },
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
