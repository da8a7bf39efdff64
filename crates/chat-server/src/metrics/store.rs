//! A [`ChatStore`] decorator that times every call into
//! `chat_store_operation_duration_seconds{operation}`.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chat_core::{
    AppendError, Appended, ChatStore, NewMessage, Page, ReadQuery, RoomName, RoomWatch, StoreError,
};
use prometheus::HistogramVec;

/// Times the calls of the store it wraps.
#[derive(Debug)]
pub(crate) struct MeteredStore {
    inner: Arc<dyn ChatStore>,
    durations: HistogramVec,
}

impl MeteredStore {
    /// Wraps `inner`, recording into `durations`.
    pub fn wrap(inner: Arc<dyn ChatStore>, durations: HistogramVec) -> Arc<dyn ChatStore> {
        Arc::new(Self { inner, durations })
    }

    async fn timed<T>(&self, operation: &str, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let result = call.await;
        self.durations
            .with_label_values(&[operation])
            .observe(started.elapsed().as_secs_f64());
        result
    }
}

#[async_trait]
impl ChatStore for MeteredStore {
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Appended, AppendError> {
        self.timed("append", self.inner.append(room, message)).await
    }

    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, StoreError> {
        self.timed("read", self.inner.read(room, query)).await
    }

    fn watch(&self, room: &RoomName) -> RoomWatch {
        self.inner.watch(room)
    }

    fn wake_all_watches(&self) {
        self.inner.wake_all_watches();
    }

    async fn prune(&self) -> Result<u64, StoreError> {
        self.timed("prune", self.inner.prune()).await
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        self.timed("check_health", self.inner.check_health()).await
    }
}
