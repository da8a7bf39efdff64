//! Bytes serialised once and shared: when one commit wakes thousands of
//! requests, each answers with the same reference-counted bytes instead of
//! serialising the same messages again.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use actix_web::web::Bytes;

/// The most recently serialised values by key, at most `capacity` of them;
/// one per worker (registered as app data), so workers never contend.
#[derive(Debug)]
pub(crate) struct SerialisedCache<K> {
    capacity: usize,
    cached: Mutex<Cached<K>>,
}

#[derive(Debug)]
struct Cached<K> {
    bytes: HashMap<K, Bytes>,
    /// Keys oldest first, for eviction.
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Copy> SerialisedCache<K> {
    /// An empty cache that keeps the newest `capacity` values.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            cached: Mutex::new(Cached {
                bytes: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// The bytes cached for `key`, or `serialise()` (run outside the lock;
    /// two callers that miss at once both serialise, the first insert wins).
    pub(crate) fn get_or_insert_with(&self, key: K, serialise: impl FnOnce() -> Bytes) -> Bytes {
        if let Some(bytes) = self.lock().bytes.get(&key) {
            return bytes.clone();
        }
        let bytes = serialise();
        let mut cached = self.lock();
        if let Some(bytes) = cached.bytes.get(&key) {
            return bytes.clone();
        }
        if cached.order.len() >= self.capacity {
            if let Some(oldest) = cached.order.pop_front() {
                cached.bytes.remove(&oldest);
            }
        }
        cached.order.push_back(key);
        cached.bytes.insert(key, bytes.clone());
        bytes
    }

    fn lock(&self) -> MutexGuard<'_, Cached<K>> {
        // Every critical section leaves the map and the queue consistent.
        self.cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_the_same_bytes_until_it_is_the_oldest_of_too_many() {
        let cache = SerialisedCache::new(2);
        let once = cache.get_or_insert_with(1, || Bytes::from(b"one".to_vec()));
        let again = cache.get_or_insert_with(1, || unreachable!("cached"));
        assert_eq!(again.as_ptr(), once.as_ptr());
        cache.get_or_insert_with(2, || Bytes::from("two"));
        cache.get_or_insert_with(3, || Bytes::from("three"));
        let fresh = cache.get_or_insert_with(1, || Bytes::from(b"one".to_vec()));
        assert_ne!(fresh.as_ptr(), once.as_ptr(), "1 was evicted");
        assert_eq!(fresh, once);
    }
}
