//! The one test suite every backend runs: `conformance_suite!(fixture)` in a
//! backend's test module expands to one `#[tokio::test]` per function here,
//! each given the backend's `fixture(StoreOptions) -> Fixture`.

use std::any::Any;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::FutureExt;
use uuid::Uuid;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{
    AppendError, Appended, ChatStore, Page, ReadQuery, Retention, RoomCommit, RoomFeed, RoomWatch,
    StoreError, StoreOptions, Wake, Watchers,
};
use crate::{IdempotencyKey, ManualClock, Message, NewMessage, RoomName};

/// A store under test, plus whatever must outlive it (a temporary folder).
///
/// Tests bind both fields, `let Fixture { store, _keep_alive } = ...`: a `..`
/// pattern would drop the unbound field at the end of that statement, deleting
/// a backend's folder while its store still uses it.
pub(crate) struct Fixture {
    pub store: Arc<dyn ChatStore>,
    _keep_alive: Box<dyn Any + Send>,
}

impl Fixture {
    pub fn new(store: Arc<dyn ChatStore>, keep_alive: impl Any + Send) -> Self {
        Self {
            store,
            _keep_alive: Box::new(keep_alive),
        }
    }
}

/// Expands to one test per conformance function for the backend whose
/// `fixture` is given. With `if READY`, each test first awaits `READY` (a
/// `bool` future) and passes without running when it is false: for a
/// backend whose server a test run may lack (it says why it skipped).
macro_rules! conformance_suite {
    ($fixture:path) => {
        $crate::store::conformance::conformance_suite!($fixture, if async { true });
    };
    ($fixture:path, if $ready:expr) => {
        $crate::store::conformance::conformance_suite!(@tests $fixture, $ready;
            appended_messages_read_back_in_order_with_increasing_ids,
            ids_increase_when_the_clock_stands_still_or_steps_back,
            after_returns_the_oldest_limit_messages_newer_than_the_cursor,
            after_accepts_any_uuid_as_cursor,
            before_returns_the_newest_limit_messages_older_than_the_cursor,
            latest_returns_the_newest_limit_messages_oldest_first,
            rooms_are_separate_and_case_sensitive,
            a_room_without_messages_reads_empty,
            bodies_and_authors_are_stored_exactly_as_sent,
            a_message_appended_between_read_and_wait_still_wakes_the_watch,
            a_watch_ignores_other_rooms,
            wake_all_watches_wakes_every_room_of_the_store,
            a_watch_receives_the_commit_that_woke_it,
            a_wake_up_without_messages_makes_a_parked_feed_read_again,
            wake_all_makes_every_parked_feed_read_again,
            a_feed_follows_a_room_page_by_page_exactly_once,
            a_feed_answered_from_a_whole_commit_waits_for_the_next_without_reading,
            retention_by_age_keeps_young_messages_after_the_clock_stepped_back,
            concurrent_appends_keep_every_message_once_and_each_posters_order,
            retention_by_count_keeps_the_newest_and_marks_truncated_reads,
            retention_by_age_deletes_old_messages_using_the_store_clock,
            pruning_without_retention_deletes_nothing,
            a_repeated_idempotency_key_replays_the_first_message_and_stores_nothing,
            an_idempotency_key_with_another_body_or_author_is_refused,
            idempotency_keys_are_per_room,
            concurrent_appends_with_one_key_store_one_message,
            an_idempotency_key_is_forgotten_after_a_day,
            an_idempotency_key_goes_with_its_message_when_retention_deletes_it,
        );
    };
    (@tests $fixture:path, $ready:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if !$ready.await {
                    return;
                }
                $crate::store::conformance::$name($fixture).await;
            }
        )*
    };
}
pub(crate) use conformance_suite;

/// The oldest `limit` messages newer than `cursor`.
pub(crate) fn after(cursor: Uuid, limit: usize) -> ReadQuery {
    ReadQuery::After { cursor, limit }
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn new_message(body: &str) -> NewMessage {
    NewMessage::new(body.to_owned(), Some("tester".to_owned())).unwrap()
}

pub(crate) fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub(crate) fn options_with(clock: &Arc<ManualClock>, retention: Retention) -> StoreOptions {
    StoreOptions {
        retention,
        clock: Arc::clone(clock) as _,
    }
}

/// A store with `retention` whose clock the test moves, starting at
/// [`start_time`].
async fn with_retention(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
    retention: Retention,
) -> (Fixture, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start_time()));
    (fixture(options_with(&clock, retention)).await, clock)
}

async fn append_all(store: &dyn ChatStore, room: &RoomName, bodies: &[&str]) -> Vec<Message> {
    let mut stored = Vec::new();
    for body in bodies {
        stored.push(store.append(room, new_message(body)).await.unwrap().message);
    }
    stored
}

fn bodies(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

async fn read(store: &dyn ChatStore, room: &RoomName, query: ReadQuery) -> Vec<Message> {
    store.read(room, query).await.unwrap().messages
}

pub(crate) async fn appended_messages_read_back_in_order_with_increasing_ids(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    let stored = append_all(&*store, &general, &["one", "two", "three"]).await;
    assert!(stored.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert!(stored
        .iter()
        .all(|m| m.id.get_version_num() == 7 && m.room == general));
    let read_back = read(&*store, &general, ReadQuery::Latest { limit: 100 }).await;
    assert_eq!(read_back, stored);
}

pub(crate) async fn ids_increase_when_the_clock_stands_still_or_steps_back(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let clock = Arc::new(ManualClock::new(start_time()));
    let Fixture { store, _keep_alive } = fixture(options_with(&clock, Retention::default())).await;
    let general = RoomName::general();
    let mut stored = append_all(&*store, &general, &["a", "b", "c"]).await;
    clock.advance(-TimeDelta::hours(2));
    stored.extend(append_all(&*store, &general, &["d", "e"]).await);
    assert!(stored.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert_eq!(stored[0].created_at, start_time());
    assert_eq!(
        read(&*store, &general, ReadQuery::Latest { limit: 10 }).await,
        stored
    );
}

pub(crate) async fn after_returns_the_oldest_limit_messages_newer_than_the_cursor(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    let stored = append_all(&*store, &general, &["1", "2", "3", "4", "5"]).await;
    let page = read(&*store, &general, after(stored[1].id, 2)).await;
    assert_eq!(bodies(&page), ["3", "4"]);
    let rest = read(&*store, &general, after(stored[3].id, 100)).await;
    assert_eq!(bodies(&rest), ["5"]);
    let none = read(&*store, &general, after(stored[4].id, 100)).await;
    assert!(none.is_empty());
}

pub(crate) async fn after_accepts_any_uuid_as_cursor(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let clock = Arc::new(ManualClock::new(start_time()));
    let Fixture { store, _keep_alive } = fixture(options_with(&clock, Retention::default())).await;
    let general = RoomName::general();
    // One millisecond apart, so that ids leave room for a cursor between
    // them; within one millisecond the next id may be the previous plus one.
    let mut stored = Vec::new();
    for body in ["1", "2", "3"] {
        stored.extend(append_all(&*store, &general, &[body]).await);
        clock.advance(TimeDelta::milliseconds(1));
    }
    let from_start = read(&*store, &general, after(Uuid::nil(), 2)).await;
    assert_eq!(bodies(&from_start), ["1", "2"]);
    // A cursor between two stored ids that is itself not stored.
    let between = Uuid::from_u128(stored[0].id.as_u128() + 1);
    assert!(between < stored[1].id);
    let page = read(&*store, &general, after(between, 10)).await;
    assert_eq!(bodies(&page), ["2", "3"]);
    let beyond = read(&*store, &general, after(Uuid::max(), 10)).await;
    assert!(beyond.is_empty());
}

pub(crate) async fn before_returns_the_newest_limit_messages_older_than_the_cursor(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    let stored = append_all(&*store, &general, &["1", "2", "3", "4", "5"]).await;
    let page = read(
        &*store,
        &general,
        ReadQuery::Before {
            cursor: stored[3].id,
            limit: 2,
        },
    )
    .await;
    assert_eq!(bodies(&page), ["2", "3"]);
    let first = read(
        &*store,
        &general,
        ReadQuery::Before {
            cursor: stored[0].id,
            limit: 10,
        },
    )
    .await;
    assert!(first.is_empty());
    let all = read(
        &*store,
        &general,
        ReadQuery::Before {
            cursor: Uuid::max(),
            limit: 10,
        },
    )
    .await;
    assert_eq!(all, stored);
}

pub(crate) async fn latest_returns_the_newest_limit_messages_oldest_first(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    append_all(&*store, &general, &["1", "2", "3", "4"]).await;
    let page = read(&*store, &general, ReadQuery::Latest { limit: 3 }).await;
    assert_eq!(bodies(&page), ["2", "3", "4"]);
}

pub(crate) async fn rooms_are_separate_and_case_sensitive(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    append_all(&*store, &room("General"), &["upper"]).await;
    append_all(&*store, &room("general"), &["lower"]).await;
    let upper = read(&*store, &room("General"), ReadQuery::Latest { limit: 10 }).await;
    let lower = read(&*store, &room("general"), ReadQuery::Latest { limit: 10 }).await;
    assert_eq!(bodies(&upper), ["upper"]);
    assert_eq!(bodies(&lower), ["lower"]);
}

pub(crate) async fn a_room_without_messages_reads_empty(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let empty = room("nobody-here");
    for query in [
        ReadQuery::Latest { limit: 10 },
        after(Uuid::nil(), 10),
        ReadQuery::Before {
            cursor: Uuid::max(),
            limit: 10,
        },
    ] {
        let page = store.read(&empty, query).await.unwrap();
        assert!(page.messages.is_empty() && !page.truncated);
    }
}

pub(crate) async fn bodies_and_authors_are_stored_exactly_as_sent(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    let body = "  e\u{301} \u{e9}\t\n<b>&amp;</b> 😀 \0 ";
    let message = NewMessage::new(body.to_owned(), Some(" Zoë ".to_owned())).unwrap();
    let anonymous = NewMessage::new("x".to_owned(), None).unwrap();
    store.append(&general, message).await.unwrap();
    store.append(&general, anonymous).await.unwrap();
    let page = read(&*store, &general, ReadQuery::Latest { limit: 10 }).await;
    assert_eq!(page[0].body, body);
    assert_eq!(page[0].author.as_deref(), Some(" Zoë "));
    assert_eq!(page[1].author, None);
}

pub(crate) async fn a_message_appended_between_read_and_wait_still_wakes_the_watch(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    // The long-poll order: watch, read, then wait.
    let mut watch = store.watch(&general);
    assert!(read(&*store, &general, ReadQuery::Latest { limit: 10 })
        .await
        .is_empty());
    append_all(&*store, &general, &["slipped in"]).await;
    assert!(
        watch.changed().now_or_never().is_some(),
        "a message appended after watch() must make the wait complete at once"
    );
    // The naive order (read, then subscribe, then wait) misses it: a watch
    // created after the append does not fire, so that poller would sleep
    // through a message that is already there.
    let mut late = store.watch(&general);
    assert!(late.changed().now_or_never().is_none());
}

pub(crate) async fn a_watch_receives_the_commit_that_woke_it(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let fixture = fixture(StoreOptions::default()).await;
    let store = &*fixture.store;
    let fresh = room("fresh");
    let mut watch = store.watch(&fresh);
    let first = append_all(store, &fresh, &["first"]).await;
    let commit = expect_commit(watch.changed().now_or_never());
    assert_eq!(
        commit.previous_newest, None,
        "the room had no message before"
    );
    assert_eq!(commit.messages, first);

    let second = append_all(store, &fresh, &["second"]).await;
    let commit = expect_commit(watch.changed().now_or_never());
    assert_eq!(commit.previous_newest, Some(first[0].id));
    assert_eq!(commit.messages, second);
    // The answer a poller at the previous newest id gets from the commit is
    // the one the store gives.
    let query = after(first[0].id, 10);
    assert_eq!(
        commit.answer(query),
        Some(store.read(&fresh, query).await.unwrap())
    );
}

fn expect_commit(wake: Option<Wake>) -> Arc<super::RoomCommit> {
    match wake {
        Some(Wake::Commit(commit)) => commit,
        other => panic!("expected a wake-up with the commit, got {other:?}"),
    }
}

/// A backend seen as another process sees it: its own appends wake nobody
/// here (watches come from a separate registry), so only the wake-ups the
/// test sends reach a parked feed, as a database notification would. Every
/// read is reported, so the test knows when a feed has read and parked.
#[derive(Debug)]
struct Unannounced {
    inner: Arc<dyn ChatStore>,
    watchers: Watchers,
    reads: mpsc::UnboundedSender<()>,
}

#[async_trait]
impl ChatStore for Unannounced {
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Appended, AppendError> {
        self.inner.append(room, message).await
    }

    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, StoreError> {
        let page = self.inner.read(room, query).await;
        let _ = self.reads.send(());
        page
    }

    fn watch(&self, room: &RoomName) -> RoomWatch {
        self.watchers.subscribe(room)
    }

    fn wake_all_watches(&self) {
        self.watchers.wake_all();
    }

    async fn prune(&self) -> Result<u64, StoreError> {
        self.inner.prune().await
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        self.inner.check_health().await
    }
}

/// Parks a feed after the newest message of `room` on an [`Unannounced`]
/// view of `store`; answers the watchers that reach it, the feed's task, and
/// the stream of its reads (its first read already taken).
async fn park_unannounced_feed(
    store: &Arc<dyn ChatStore>,
    room: &RoomName,
) -> (
    Watchers,
    tokio::task::JoinHandle<Page>,
    mpsc::UnboundedReceiver<()>,
) {
    let (reads, mut read_done) = mpsc::unbounded_channel();
    let watchers = Watchers::default();
    let view: Arc<dyn ChatStore> = Arc::new(Unannounced {
        inner: Arc::clone(store),
        watchers: watchers.clone(),
        reads,
    });
    let newest = read(&**store, room, ReadQuery::Latest { limit: 1 })
        .await
        .last()
        .map_or(Uuid::nil(), |m| m.id);
    let mut feed = RoomFeed::new(view, room.clone(), after(newest, 10));
    let task = tokio::spawn(async move {
        feed.next_page(std::pin::pin!(std::future::pending()))
            .await
            .unwrap()
    });
    read_done.recv().await.expect("the feed reads first");
    (watchers, task, read_done)
}

/// Fails the test instead of hanging it when a feed is never woken.
async fn within_seconds<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within 10 s"))
}

pub(crate) async fn a_wake_up_without_messages_makes_a_parked_feed_read_again(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    append_all(&*store, &general, &["seen"]).await;
    let (watchers, task, mut reads) = park_unannounced_feed(&store, &general).await;

    // A wake-up while nothing is new: the feed reads, finds nothing, waits on.
    watchers.notify_changed(&general);
    within_seconds("a re-read", reads.recv()).await;
    assert!(!task.is_finished(), "nothing new: the feed keeps waiting");

    // Another process appends (nobody here is woken by the append itself),
    // then its notification arrives: the feed reads it from the store.
    let posted = append_all(&*store, &general, &["from elsewhere"]).await;
    watchers.notify_changed(&general);
    let page = within_seconds("the woken feed's answer", task)
        .await
        .unwrap();
    assert_eq!(page.messages, posted);
}

pub(crate) async fn wake_all_makes_every_parked_feed_read_again(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let (a, b) = (room("room-a"), room("room-b"));
    let (watchers_a, task_a, _reads_a) = park_unannounced_feed(&store, &a).await;
    let (watchers_b, task_b, _reads_b) = park_unannounced_feed(&store, &b).await;
    let posted_a = append_all(&*store, &a, &["a1", "a2"]).await;
    let posted_b = append_all(&*store, &b, &["b1"]).await;
    // Notifications were lost; the backend listens again and wakes everyone.
    watchers_a.wake_all();
    watchers_b.wake_all();
    let page_a = within_seconds("room a's answer", task_a).await.unwrap();
    let page_b = within_seconds("room b's answer", task_b).await.unwrap();
    assert_eq!(page_a.messages, posted_a);
    assert_eq!(page_b.messages, posted_b);
}

pub(crate) async fn a_feed_follows_a_room_page_by_page_exactly_once(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    let first = append_all(&*store, &general, &["1", "2", "3"]).await;
    let mut feed = RoomFeed::new(Arc::clone(&store), general.clone(), after(Uuid::nil(), 2));
    let never = std::future::pending::<()>;
    assert_eq!(
        feed.next_page(std::pin::pin!(never()))
            .await
            .unwrap()
            .messages,
        first[..2]
    );
    assert_eq!(
        feed.next_page(std::pin::pin!(never()))
            .await
            .unwrap()
            .messages,
        first[2..]
    );
    // Caught up: the next page waits for the next append.
    let waiting =
        tokio::spawn(async move { feed.next_page(std::pin::pin!(never())).await.unwrap() });
    let later = append_all(&*store, &general, &["4"]).await;
    let page = within_seconds("the next page", waiting).await.unwrap();
    assert_eq!(page.messages, later);
}

pub(crate) async fn a_feed_answered_from_a_whole_commit_waits_for_the_next_without_reading(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    let (reads, mut read_done) = mpsc::unbounded_channel();
    let watchers = Watchers::default();
    let view: Arc<dyn ChatStore> = Arc::new(Unannounced {
        inner: Arc::clone(&store),
        watchers: watchers.clone(),
        reads,
    });
    let mut feed = RoomFeed::new(view, general.clone(), after(Uuid::nil(), 2));
    let commit = |previous: Option<&Message>, messages: &[Message]| RoomCommit {
        previous_newest: previous.map(|m| m.id),
        messages: messages.to_vec(),
    };
    let never = std::future::pending::<()>;

    // The first page reads, finds nothing, and is answered by a commit.
    let waiting = tokio::spawn(async move {
        let page = feed.next_page(std::pin::pin!(never())).await.unwrap();
        (feed, page)
    });
    within_seconds("the first read", read_done.recv()).await;
    let first = append_all(&*store, &general, &["1"]).await;
    watchers.notify(&general, commit(None, &first));
    let (mut feed, page) = within_seconds("the first page", waiting).await.unwrap();
    assert_eq!(page.messages, first);

    // That commit held everything: the next page waits, and is answered by
    // the next commit without a read, even one that holds more than a page.
    let more = append_all(&*store, &general, &["2", "3", "4"]).await;
    watchers.notify(&general, commit(first.last(), &more));
    let page = feed.next_page(std::pin::pin!(never())).await.unwrap();
    assert_eq!(page.messages, more[..2]);
    assert!(read_done.try_recv().is_err(), "answered without a read");

    // That page held only part of its commit: the next one reads the rest.
    let page = feed.next_page(std::pin::pin!(never())).await.unwrap();
    assert_eq!(page.messages, more[2..]);
    assert!(read_done.try_recv().is_ok(), "the rest came from a read");
}

pub(crate) async fn a_watch_ignores_other_rooms(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let mut watch = store.watch(&room("quiet"));
    append_all(&*store, &room("busy"), &["elsewhere"]).await;
    assert!(watch.changed().now_or_never().is_none());
}

pub(crate) async fn wake_all_watches_wakes_every_room_of_the_store(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let mut quiet = store.watch(&room("quiet"));
    let mut general = store.watch(&RoomName::general());
    assert!(quiet.changed().now_or_never().is_none());
    store.wake_all_watches();
    assert_eq!(quiet.changed().now_or_never(), Some(Wake::Reread));
    assert_eq!(general.changed().now_or_never(), Some(Wake::Reread));
}

pub(crate) async fn concurrent_appends_keep_every_message_once_and_each_posters_order(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    const POSTERS: usize = 8;
    const EACH: usize = 50;
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    let tasks: Vec<_> = (0..POSTERS)
        .map(|poster| {
            let store = Arc::clone(&store);
            let general = general.clone();
            tokio::spawn(async move {
                for n in 0..EACH {
                    let body = format!("{poster}:{n}");
                    store
                        .append(&general, NewMessage::new(body, None).unwrap())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let all = read(&*store, &general, after(Uuid::nil(), 1000)).await;
    assert_eq!(all.len(), POSTERS * EACH);
    assert!(all.windows(2).all(|pair| pair[0].id < pair[1].id));
    let mut next_per_poster: HashMap<&str, usize> = HashMap::new();
    for message in &all {
        let (poster, n) = message.body.split_once(':').unwrap();
        let expected = next_per_poster.entry(poster).or_default();
        assert_eq!(
            n.parse::<usize>().unwrap(),
            *expected,
            "poster {poster} out of order"
        );
        *expected += 1;
    }
}

pub(crate) async fn retention_by_count_keeps_the_newest_and_marks_truncated_reads(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let (Fixture { store, _keep_alive }, _clock) = with_retention(
        fixture,
        Retention {
            per_room: NonZeroUsize::new(2),
            max_age: None,
        },
    )
    .await;
    let general = RoomName::general();
    let other = room("other");
    let stored = append_all(&*store, &general, &["1", "2", "3", "4"]).await;
    append_all(&*store, &other, &["kept"]).await;
    assert_eq!(store.prune().await.unwrap(), 2);
    assert_eq!(
        bodies(&read(&*store, &general, ReadQuery::Latest { limit: 10 }).await),
        ["3", "4"]
    );
    assert_eq!(
        bodies(&read(&*store, &other, ReadQuery::Latest { limit: 10 }).await),
        ["kept"]
    );

    // A cursor that fell behind the retained history: the page starts at the
    // oldest retained message and says so.
    let behind = store.read(&general, after(stored[0].id, 10)).await.unwrap();
    assert!(behind.truncated);
    assert_eq!(bodies(&behind.messages), ["3", "4"]);
    // A cursor at the newest deleted message missed nothing.
    let caught_up = store.read(&general, after(stored[1].id, 10)).await.unwrap();
    assert!(!caught_up.truncated);
    assert_eq!(bodies(&caught_up.messages), ["3", "4"]);
    let untouched = store.read(&other, after(Uuid::nil(), 10)).await.unwrap();
    assert!(!untouched.truncated);
}

pub(crate) async fn retention_by_age_deletes_old_messages_using_the_store_clock(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let (Fixture { store, _keep_alive }, clock) = with_retention(
        fixture,
        Retention {
            per_room: None,
            max_age: Some(Duration::from_secs(3600)),
        },
    )
    .await;
    let general = RoomName::general();
    let old = append_all(&*store, &general, &["old"]).await;
    clock.advance(TimeDelta::minutes(90));
    append_all(&*store, &general, &["recent"]).await;
    assert_eq!(store.prune().await.unwrap(), 1);
    let page = store.read(&general, after(Uuid::nil(), 10)).await.unwrap();
    assert_eq!(bodies(&page.messages), ["recent"]);
    assert!(page.truncated);
    // New ids still sort after everything, deleted or not.
    let newest = append_all(&*store, &general, &["newest"]).await;
    assert!(newest[0].id > old[0].id);
    clock.advance(TimeDelta::minutes(30));
    assert_eq!(
        store.prune().await.unwrap(),
        0,
        "a message exactly one hour old is kept"
    );
}

pub(crate) async fn retention_by_age_keeps_young_messages_after_the_clock_stepped_back(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let (Fixture { store, _keep_alive }, clock) = with_retention(
        fixture,
        Retention {
            per_room: None,
            max_age: Some(Duration::from_secs(3600)),
        },
    )
    .await;
    let general = RoomName::general();
    // Written at 12:00, then the clock steps back an hour and a message is
    // written "at 11:00", then time runs on to 12:30.
    append_all(&*store, &general, &["young"]).await;
    clock.advance(-TimeDelta::hours(1));
    append_all(&*store, &general, &["stamped earlier"]).await;
    clock.advance(TimeDelta::minutes(90));
    // 12:00 is 30 minutes old: kept, and so is everything after it in id
    // order, whatever its stamp says.
    assert_eq!(store.prune().await.unwrap(), 0);
    assert_eq!(
        bodies(&read(&*store, &general, ReadQuery::Latest { limit: 10 }).await),
        ["young", "stamped earlier"]
    );
}

pub(crate) async fn pruning_without_retention_deletes_nothing(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    append_all(&*store, &general, &["1", "2"]).await;
    assert_eq!(store.prune().await.unwrap(), 0);
    assert_eq!(
        read(&*store, &general, ReadQuery::Latest { limit: 10 })
            .await
            .len(),
        2
    );
}

fn keyed(body: &str, author: Option<&str>, key: &str) -> NewMessage {
    NewMessage::new(body.to_owned(), author.map(str::to_owned))
        .unwrap()
        .with_idempotency_key(IdempotencyKey::parse(key).unwrap())
}

pub(crate) async fn a_repeated_idempotency_key_replays_the_first_message_and_stores_nothing(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    let first = store
        .append(&general, keyed("hello", Some("ann"), "key-1"))
        .await
        .unwrap();
    assert!(!first.replayed);
    let repeat = store
        .append(&general, keyed("hello", Some("ann"), "key-1"))
        .await
        .unwrap();
    assert!(repeat.replayed);
    assert_eq!(repeat.message, first.message);
    let other_key = store
        .append(&general, keyed("hello", Some("ann"), "key-2"))
        .await
        .unwrap();
    assert!(!other_key.replayed);
    assert_eq!(
        read(&*store, &general, ReadQuery::Latest { limit: 10 }).await,
        [first.message, other_key.message]
    );
}

pub(crate) async fn an_idempotency_key_with_another_body_or_author_is_refused(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    store
        .append(&general, keyed("hello", None, "k"))
        .await
        .unwrap();
    for other in [keyed("bye", None, "k"), keyed("hello", Some("bob"), "k")] {
        assert!(matches!(
            store.append(&general, other).await,
            Err(AppendError::KeyReused)
        ));
    }
    assert_eq!(
        read(&*store, &general, ReadQuery::Latest { limit: 10 })
            .await
            .len(),
        1
    );
}

pub(crate) async fn idempotency_keys_are_per_room(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let a = store
        .append(&room("a"), keyed("x", None, "k"))
        .await
        .unwrap();
    let b = store
        .append(&room("b"), keyed("x", None, "k"))
        .await
        .unwrap();
    assert!(!a.replayed && !b.replayed);
    assert_ne!(a.message.id, b.message.id);
}

pub(crate) async fn concurrent_appends_with_one_key_store_one_message(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    const SENDERS: usize = 16;
    let Fixture { store, _keep_alive } = fixture(StoreOptions::default()).await;
    let general = RoomName::general();
    let tasks: Vec<_> = (0..SENDERS)
        .map(|_| {
            let store = Arc::clone(&store);
            let general = general.clone();
            tokio::spawn(async move {
                store
                    .append(&general, keyed("once", None, "same"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1);
    assert!(answers.iter().all(|a| a.message == answers[0].message));
    assert_eq!(
        read(&*store, &general, ReadQuery::Latest { limit: 100 })
            .await
            .len(),
        1
    );
}

pub(crate) async fn an_idempotency_key_is_forgotten_after_a_day(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let clock = Arc::new(ManualClock::new(start_time()));
    let Fixture { store, _keep_alive } = fixture(options_with(&clock, Retention::default())).await;
    let general = RoomName::general();
    let first = store.append(&general, keyed("x", None, "k")).await.unwrap();
    clock.advance(TimeDelta::hours(23));
    assert!(
        store
            .append(&general, keyed("x", None, "k"))
            .await
            .unwrap()
            .replayed
    );
    clock.advance(TimeDelta::hours(1));
    let later = store.append(&general, keyed("x", None, "k")).await.unwrap();
    assert!(!later.replayed);
    assert!(later.message.id > first.message.id);
    // The key now names the new message.
    let again = store.append(&general, keyed("x", None, "k")).await.unwrap();
    assert_eq!((again.replayed, again.message.id), (true, later.message.id));
}

pub(crate) async fn an_idempotency_key_goes_with_its_message_when_retention_deletes_it(
    fixture: impl AsyncFnOnce(StoreOptions) -> Fixture,
) {
    let (Fixture { store, _keep_alive }, _clock) = with_retention(
        fixture,
        Retention {
            per_room: NonZeroUsize::new(1),
            max_age: None,
        },
    )
    .await;
    let general = RoomName::general();
    store.append(&general, keyed("x", None, "k")).await.unwrap();
    append_all(&*store, &general, &["newer"]).await;
    assert_eq!(store.prune().await.unwrap(), 1);
    let again = store.append(&general, keyed("x", None, "k")).await.unwrap();
    assert!(
        !again.replayed,
        "the keyed message was deleted, so is its key"
    );
}
