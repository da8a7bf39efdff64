//! The bytes of an event stream, and the cache that makes a message's event
//! once for every stream it wakes.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Mutex, MutexGuard};

use actix_web::web::Bytes;
use chat_core::Message;
use uuid::Uuid;

/// The stream's first line: how many milliseconds a client waits before it
/// reconnects.
pub(crate) const RETRY: &[u8] = b"retry: 2000\n\n";
/// Retention deleted messages after the stream's cursor: no `id:` line, so
/// the client's `Last-Event-ID` stays that of the last message it got.
pub(crate) const TRUNCATED: &[u8] = b"event: truncated\ndata: {}\n\n";
/// A comment after a silence, so proxies keep the stream open.
pub(crate) const PING: &[u8] = b": ping\n\n";

/// How many recent messages' events a cache keeps: enough for every stream
/// woken by the same commits to find them, a few megabytes at most.
const CACHED_EVENTS: usize = 1024;

/// The event of one message: `id`, `event: message`, the JSON on one line.
pub(crate) fn message_event(message: &Message) -> Bytes {
    let mut event = Vec::with_capacity(message.body.len() + 192);
    // Writing to a Vec cannot fail, and a message has only string keys, so
    // neither can serialising it.
    let _ = write!(event, "id: {}\nevent: message\ndata: ", message.id);
    serde_json::to_writer(&mut event, message).expect("a message serialises to JSON");
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

/// The events of the most recent messages, by id (an id is unique across
/// rooms), shared by the streams of one worker: one commit that wakes
/// thousands of streams is serialised once per worker, and each stream then
/// writes the same reference-counted bytes.
#[derive(Debug, Default)]
pub(crate) struct EventCache {
    cached: Mutex<Cached>,
}

#[derive(Debug, Default)]
struct Cached {
    events: HashMap<Uuid, Bytes>,
    /// Ids oldest first, for eviction.
    order: VecDeque<Uuid>,
}

impl EventCache {
    /// The event of `message`, serialised now or by an earlier stream.
    pub(crate) fn event(&self, message: &Message) -> Bytes {
        if let Some(event) = self.lock().events.get(&message.id) {
            return event.clone();
        }
        // Serialised outside the lock; two streams that miss at once both
        // serialise, and the first insert wins.
        let event = message_event(message);
        let mut cached = self.lock();
        if let Some(event) = cached.events.get(&message.id) {
            return event.clone();
        }
        if cached.order.len() == CACHED_EVENTS {
            if let Some(oldest) = cached.order.pop_front() {
                cached.events.remove(&oldest);
            }
        }
        cached.order.push_back(message.id);
        cached.events.insert(message.id, event.clone());
        event
    }

    fn lock(&self) -> MutexGuard<'_, Cached> {
        // Every critical section leaves the map and the queue consistent.
        self.cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::{NewMessage, RoomName};
    use chrono::{TimeZone, Utc};

    fn message(id: u128, body: &str) -> Message {
        NewMessage::new(body.to_owned(), None)
            .unwrap()
            .into_message(
                Uuid::from_u128(id),
                RoomName::general(),
                // Microseconds, as stored messages carry.
                Utc.timestamp_micros(1_764_000_000_123_456).unwrap(),
            )
    }

    #[test]
    fn a_message_event_has_its_id_and_its_json_on_one_line() {
        let message = message(7, "two\nlines");
        let event = message_event(&message);
        let text = std::str::from_utf8(&event).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], format!("id: {}", message.id));
        assert_eq!(lines[1], "event: message");
        let json = lines[2].strip_prefix("data: ").unwrap();
        let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(parsed, serde_json::to_value(&message).unwrap());
        assert_eq!(&lines[3..], ["", ""]);
    }

    #[test]
    fn the_cache_hands_out_the_same_bytes_and_forgets_the_oldest() {
        let cache = EventCache::default();
        let first = message(1, "first");
        let once = cache.event(&first);
        assert_eq!(cache.event(&first).as_ptr(), once.as_ptr());
        for id in 2..=CACHED_EVENTS as u128 + 1 {
            cache.event(&message(id, "later"));
        }
        assert_eq!(cache.lock().events.len(), CACHED_EVENTS);
        assert_ne!(cache.event(&first).as_ptr(), once.as_ptr());
        assert_eq!(cache.event(&first), once);
    }
}
