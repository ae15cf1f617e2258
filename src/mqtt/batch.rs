//! A telegram's messages as one batch for the connection: QoS 0 states encoded
//! here into one buffer, QoS 1 messages handed over as they are, and the count
//! of what went and what was dropped. Decides nothing about what to send and
//! does no I/O (the connection writes the batch).

use super::publisher::Message;
use super::session::{self, Out, Outbox};
use rumqttc::{Publish, QoS};
use tokio_util::bytes::BytesMut;
use tracing::warn;

/// What was handed to the connection and what was dropped, since start.
#[derive(Debug, Default)]
pub struct Counts {
    /// Messages handed to the connection.
    pub published: u64,
    /// Messages dropped because the connection's queue was full (a slow broker).
    pub dropped: u64,
    /// Changed since the status last showed them.
    pub dirty: bool,
}

/// Hands a batch to the connection without waiting: it goes out in one write,
/// or, when the queue is full (a slow broker), is dropped whole. QoS 0 messages
/// (the states) are encoded here into `buf`, whose memory comes back for the next
/// batch once the connection has written it; QoS 1 ones go as they are.
pub fn send(client: &Outbox, out: &mut Vec<Message>, enc: &mut Encoder, counts: &mut Counts) {
    counts.dirty = true;
    if out.is_empty() {
        return;
    }
    let mut n = 0;
    let mut batch = Vec::with_capacity(2);
    for m in out.drain(..) {
        if m.reliable {
            if !enc.buf.is_empty() {
                batch.push(Out::Encoded(enc.buf.split().freeze()));
            }
            let mut p = Publish::new(m.topic.to_string(), QoS::AtLeastOnce, m.payload.to_vec());
            p.retain = m.retain;
            batch.push(Out::Publish(p));
            n += 1;
        } else if session::encode_qos0(
            &m.topic,
            m.payload.bytes(&mut enc.scratch),
            m.retain,
            &mut enc.buf,
        ) {
            n += 1;
        } else {
            warn!(topic = %m.topic, "MQTT message too large; not sent");
        }
    }
    if !enc.buf.is_empty() {
        batch.push(Out::Encoded(enc.buf.split().freeze()));
    }
    match client.try_send(batch) {
        Ok(()) => counts.published += n,
        Err(_) => counts.dropped += n,
    }
}

/// Buffers reused from batch to batch.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: BytesMut,
    /// A number's digits.
    scratch: String,
}
