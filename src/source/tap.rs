//! A tap on the meter's frames as they arrived, byte for byte, for the programs
//! that want the meter's own bytes (the raw telegram server, HomeWizard's
//! `/api/v1/telegram`). The reader hands every frame the framer cuts to
//! [`FrameTap::frame`]; it copies a frame only when someone listens, and never
//! waits: the broadcast is bounded, and a listener that falls behind misses
//! frames (and is told so) instead of slowing the reader. Parses nothing.

use crate::p1::framer::FrameKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Frames a listener may fall behind by before it misses some: every
/// listener's queue, shared (a frame is at most 8 KiB, usually 0.2 to 3 KiB).
pub const QUEUE: usize = 64;

/// One frame as the meter sent it: an ASCII telegram `/ … !CRC\r\n`, an HDLC
/// frame `7E … 7E`, an M-Bus long frame, or an encrypted DSMR APDU.
#[derive(Clone, Debug)]
pub struct RawFrame {
    pub kind: FrameKind,
    pub bytes: Arc<[u8]>,
}

/// The tap. Cheap to clone; every clone is the same tap.
#[derive(Clone, Debug)]
pub struct FrameTap {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    frames: broadcast::Sender<RawFrame>,
    /// Keep the last good ASCII telegram (HomeWizard's `/api/v1/telegram` is on).
    keep_telegram: AtomicBool,
    telegram: Mutex<Option<Arc<[u8]>>>,
}

impl Default for FrameTap {
    fn default() -> Self {
        FrameTap::new()
    }
}

impl FrameTap {
    pub fn new() -> FrameTap {
        FrameTap {
            inner: Arc::new(Inner {
                frames: broadcast::channel(QUEUE).0,
                keep_telegram: AtomicBool::new(false),
                telegram: Mutex::new(None),
            }),
        }
    }

    /// Every frame from now on: the first one is the next whole frame, never
    /// the rest of one already under way.
    pub fn subscribe(&self) -> broadcast::Receiver<RawFrame> {
        self.inner.frames.subscribe()
    }

    /// Listeners of [`FrameTap::subscribe`].
    pub fn listeners(&self) -> usize {
        self.inner.frames.receiver_count()
    }

    /// Whether to keep the last good ASCII telegram; `false` forgets it.
    pub fn keep_telegram(&self, keep: bool) {
        self.inner.keep_telegram.store(keep, Ordering::Relaxed);
        if !keep {
            *self.lock() = None;
        }
    }

    /// The last ASCII telegram that decoded, as the meter sent it.
    pub fn last_telegram(&self) -> Option<Arc<[u8]>> {
        self.lock().clone()
    }

    /// A frame the framer cut (called by the reader for every frame). Returns
    /// the copy it made, if anyone wanted one, for [`FrameTap::decoded`].
    pub fn frame(&self, kind: FrameKind, bytes: &[u8]) -> Option<RawFrame> {
        let listeners = self.listeners() > 0;
        let keep = kind == FrameKind::Ascii && self.inner.keep_telegram.load(Ordering::Relaxed);
        if !listeners && !keep {
            return None;
        }
        let frame = RawFrame {
            kind,
            bytes: Arc::from(bytes),
        };
        if listeners {
            // Never blocks; an error only means the last listener just left.
            let _ = self.inner.frames.send(frame.clone());
        }
        Some(frame)
    }

    /// The frame last shown to [`FrameTap::frame`] decoded into a telegram.
    pub fn decoded(&self, frame: Option<RawFrame>) {
        if let Some(f) = frame.filter(|f| f.kind == FrameKind::Ascii)
            && self.inner.keep_telegram.load(Ordering::Relaxed)
        {
            *self.lock() = Some(f.bytes);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<[u8]>>> {
        self.inner
            .telegram
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_nothing_while_nobody_listens() {
        let tap = FrameTap::new();
        assert!(tap.frame(FrameKind::Ascii, b"/X\r\n!\r\n").is_none());
        assert!(tap.last_telegram().is_none());
    }

    #[test]
    fn listeners_get_whole_frames_from_the_next_one_on() {
        let tap = FrameTap::new();
        tap.frame(FrameKind::Hdlc, &[0x7E, 1, 0x7E]);
        let mut rx = tap.subscribe();
        tap.frame(FrameKind::Hdlc, &[0x7E, 2, 0x7E]);
        let f = rx.try_recv().unwrap();
        assert_eq!(&f.bytes[..], &[0x7E, 2, 0x7E]);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_listener_that_falls_behind_is_told_and_the_sender_never_waits() {
        let tap = FrameTap::new();
        let mut rx = tap.subscribe();
        for i in 0..(QUEUE + 10) {
            tap.frame(FrameKind::Ascii, format!("/{i}").as_bytes());
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
    }

    #[test]
    fn keeps_the_last_ascii_telegram_that_decoded_only_when_asked() {
        let tap = FrameTap::new();
        tap.keep_telegram(true);
        let good = tap.frame(FrameKind::Ascii, b"/good");
        tap.decoded(good);
        let _bad = tap.frame(FrameKind::Ascii, b"/bad"); // rejected: not decoded
        assert_eq!(tap.last_telegram().as_deref(), Some(&b"/good"[..]));
        let hdlc = tap.frame(FrameKind::Hdlc, &[0x7E]);
        assert!(hdlc.is_none(), "no listener, and HDLC is no ASCII telegram");
        tap.keep_telegram(false);
        assert!(tap.last_telegram().is_none());
    }
}
