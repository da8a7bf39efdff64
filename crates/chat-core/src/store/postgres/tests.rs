//! The conformance suite on PostgreSQL, and what only a shared database
//! has: several stores (instances) on one database.

use std::time::Duration;

use futures_util::FutureExt;

use super::super::conformance::{conformance_suite, Fixture};
use super::testdb::TestDatabase;
use super::*;
use crate::store::{RoomCommit, RoomFeed, Wake};

/// False (the test is skipped) only when PostgreSQL is unreachable and
/// `CHAT_TEST_POSTGRES=skip`.
async fn ready() -> bool {
    TestDatabase::create().await.is_some()
}

async fn fixture(options: StoreOptions) -> Fixture {
    let database = TestDatabase::create()
        .await
        .expect("PostgreSQL is reachable");
    let store = PostgresStore::open(&database.url(), options).await.unwrap();
    Fixture::new(Arc::new(store), database)
}

conformance_suite!(fixture, if ready());

fn new_message(body: &str) -> NewMessage {
    NewMessage::new(body.to_owned(), None).unwrap()
}

/// Two stores on one new database, as two instances would have; `None`
/// when skipped.
async fn two_instances() -> Option<(TestDatabase, PostgresStore, PostgresStore)> {
    let database = TestDatabase::create().await?;
    let url = database.url();
    // Opened together: the migration lock makes them take turns.
    let (a, b) = tokio::join!(
        PostgresStore::open(&url, StoreOptions::default()),
        PostgresStore::open(&url, StoreOptions::default())
    );
    Some((database, a.unwrap(), b.unwrap()))
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_one_instance_wakes_watchers_on_the_other_but_not_its_own_twice() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let general = RoomName::general();
    let mut on_b = b.watch(&general);
    let mut on_a = a.watch(&general);
    let stored = a.append(&general, new_message("hi")).await.unwrap().message;
    assert!(matches!(
        on_a.changed().now_or_never(),
        Some(Wake::Commit(_))
    ));
    // B knew nothing of the room: its watchers read it themselves.
    assert_eq!(
        within("the notification", on_b.changed()).await,
        Wake::Reread
    );
    let page = b
        .read(&general, ReadQuery::Latest { limit: 10 })
        .await
        .unwrap();
    assert_eq!(page.messages, vec![stored.clone()]);
    // A knows the room: its listener reads B's message once and hands it to
    // its watchers as a commit after the newest id it knew.
    let from_b = b
        .append(&general, new_message("from b"))
        .await
        .unwrap()
        .message;
    assert_eq!(
        within("b's notification", on_a.changed()).await,
        Wake::Commit(Arc::new(RoomCommit {
            previous_newest: Some(stored.id),
            messages: vec![from_b.clone()],
        }))
    );
    // B woke its own watchers before its append returned. Its notification
    // comes back ahead of A's next one (they arrive in commit order) and
    // must be ignored: the next wake-up on B is A's next message, relayed.
    assert!(on_b.changed().now_or_never().is_some(), "b's own commit");
    let again = a
        .append(&general, new_message("again"))
        .await
        .unwrap()
        .message;
    assert_eq!(
        within("a's next notification", on_b.changed()).await,
        Wake::Commit(Arc::new(RoomCommit {
            previous_newest: Some(from_b.id),
            messages: vec![again],
        })),
        "woken by its own notification"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_on_the_other_instance_gets_a_burst_of_any_size_once_and_in_order() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let (a, b): (Arc<dyn ChatStore>, Arc<dyn ChatStore>) = (Arc::new(a), Arc::new(b));
    let general = RoomName::general();
    let mut watch = b.watch(&general);
    let first = a
        .append(&general, new_message("first"))
        .await
        .unwrap()
        .message;
    within("the first notification", watch.changed()).await;
    // B knows the room now; bursts both below and above what its listener
    // reads at once for its watchers.
    let mut feed = RoomFeed::new(
        Arc::clone(&b),
        general.clone(),
        ReadQuery::After {
            cursor: first.id,
            limit: 1000,
        },
    );
    let mut received = Vec::new();
    for burst in [3, 600] {
        let appends = (0..burst).map(|n| a.append(&general, new_message(&n.to_string())));
        let mut posted: Vec<Uuid> = futures_util::future::join_all(appends)
            .await
            .into_iter()
            .map(|appended| appended.unwrap().message.id)
            .collect();
        posted.sort();
        let mut got = Vec::new();
        while got.len() < posted.len() {
            let page = within(
                "the next page",
                feed.next_page(std::pin::pin!(std::future::pending())),
            )
            .await
            .unwrap();
            got.extend(page.messages.iter().map(|m| m.id));
        }
        assert_eq!(got, posted, "a burst of {burst}: once each, in id order");
        received.extend(got);
    }
    assert_eq!(received.len(), 603);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_follow_commit_order_across_instances_whose_clocks_disagree() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let ahead = Arc::new(crate::ManualClock::new(
        chrono::Utc::now() + chrono::TimeDelta::hours(1),
    ));
    let behind = Arc::new(crate::ManualClock::new(chrono::Utc::now()));
    let options = |clock: &Arc<crate::ManualClock>| StoreOptions {
        clock: Arc::clone(clock) as _,
        ..StoreOptions::default()
    };
    let a = PostgresStore::open(&database.url(), options(&ahead))
        .await
        .unwrap();
    let b = PostgresStore::open(&database.url(), options(&behind))
        .await
        .unwrap();
    let general = RoomName::general();
    let mut ids = Vec::new();
    for n in 0..10 {
        let store = if n % 2 == 0 { &a } else { &b };
        ids.push(
            store
                .append(&general, new_message("m"))
                .await
                .unwrap()
                .message
                .id,
        );
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_used_on_one_instance_replays_on_the_other() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let general = RoomName::general();
    let keyed =
        || new_message("once").with_idempotency_key(crate::IdempotencyKey::parse("k").unwrap());
    let first = a.append(&general, keyed()).await.unwrap();
    let again = b.append(&general, keyed()).await.unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.message, again.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_its_connections_are_killed_the_store_recovers_and_wakes_every_watch() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let store = PostgresStore::open(&database.url(), StoreOptions::default())
        .await
        .unwrap();
    let general = RoomName::general();
    let before = store.append(&general, new_message("before")).await.unwrap();
    let mut watch = store.watch(&general);
    let (admin, connection) = tokio_postgres::connect(&database.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let name = database.url().rsplit('/').next().unwrap().to_owned();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .unwrap();
    // The listener lost its connection: once it listens again, it wakes
    // every watch, since it may have missed notifications.
    assert_eq!(
        within("the wake-up after reconnecting", watch.changed()).await,
        Wake::Reread
    );
    // The pool replaces broken connections: a post may fail while it does,
    // then posts work again.
    let after = within("a post to succeed again", async {
        loop {
            match store.append(&general, new_message("after")).await {
                Ok(appended) => break appended,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    let page = store
        .read(&general, ReadQuery::Latest { limit: 10 })
        .await
        .unwrap();
    assert_eq!(page.messages, vec![before.message, after.message]);
    store.check_health().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_transactions() {
    const POSTS: usize = 200;
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let store = PostgresStore::open(&database.url(), StoreOptions::default())
        .await
        .unwrap();
    let general = RoomName::general();
    let appends = (0..POSTS).map(|n| store.append(&general, new_message(&n.to_string())));
    for result in futures_util::future::join_all(appends).await {
        result.unwrap();
    }
    let transactions = store
        .transactions
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        transactions < POSTS,
        "{POSTS} appends took {transactions} transactions"
    );
}

#[tokio::test]
async fn a_database_of_the_first_schema_is_upgraded_and_keeps_its_messages() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let (admin, connection) = tokio_postgres::connect(&database.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // What a chat-server of schema version 1 left behind: one message.
    admin.batch_execute(schema::MIGRATIONS[0]).await.unwrap();
    admin
        .batch_execute(
            "CREATE TABLE chat_schema (version integer NOT NULL);
             INSERT INTO chat_schema VALUES (1);
             INSERT INTO rooms VALUES ('general', '01900000-0000-7000-8000-000000000001', NULL);
             INSERT INTO messages VALUES ('general', '01900000-0000-7000-8000-000000000001',
                 '2024-06-01T00:00:00Z', NULL, 'old', NULL);",
        )
        .await
        .unwrap();
    let store = PostgresStore::open(&database.url(), StoreOptions::default())
        .await
        .unwrap();
    let version: i32 = admin
        .query_one("SELECT version FROM chat_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(usize::try_from(version).unwrap(), schema::known_version());
    // Migration 3: the append function is never planned again per call.
    let settings: Vec<String> = admin
        .query_one(
            "SELECT proconfig FROM pg_proc WHERE proname = 'chat_append'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(settings, ["plan_cache_mode=force_generic_plan"]);
    let general = RoomName::general();
    let new = store.append(&general, new_message("new")).await.unwrap();
    let page = store
        .read(&general, ReadQuery::Latest { limit: 10 })
        .await
        .unwrap();
    let bodies: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["old", "new"]);
    assert!(new.message.id > page.messages[0].id);
}

#[tokio::test]
async fn a_database_from_a_newer_chat_server_is_refused() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    drop(
        PostgresStore::open(&database.url(), StoreOptions::default())
            .await
            .unwrap(),
    );
    let (admin, connection) = tokio_postgres::connect(&database.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
        .execute("UPDATE chat_schema SET version = 99", &[])
        .await
        .unwrap();
    match PostgresStore::open(&database.url(), StoreOptions::default()).await {
        Err(OpenError::Failed { reason, .. }) => assert_eq!(
            reason,
            format!(
                "database schema version 99 is newer than this chat-server supports ({}); \
                 upgrade chat-server",
                schema::known_version()
            )
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_refused_with_where_it_was_looked_for() {
    // Port 1 on loopback: nothing listens there.
    let url = "postgres://postgres@127.0.0.1:1/chat?connect_timeout=2";
    match PostgresStore::open(url, StoreOptions::default()).await {
        Err(OpenError::Failed { reason, .. }) => {
            assert!(
                reason.contains("cannot connect to PostgreSQL at 127.0.0.1"),
                "{reason}"
            );
            assert!(reason.contains("`chat`"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
