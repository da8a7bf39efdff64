//! Two instances, one sequence: posters and pollers on both.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chat_core::Message;
use uuid::Uuid;

use super::{two_instances, Instance};

const POSTERS_PER_INSTANCE: usize = 2;
const POSTS_EACH: usize = 40;

/// Follows `room` on `instance` by chained long polls until `count`
/// messages arrived.
async fn follow(instance: &Instance, room: &str, count: usize) -> Vec<Message> {
    let client = reqwest::Client::new();
    let mut seen: Vec<Message> = Vec::new();
    while seen.len() < count {
        let cursor = seen.last().map_or(Uuid::nil(), |message| message.id);
        seen.extend(instance.poll(&client, room, cursor, 10).await);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posters_and_pollers_on_both_instances_see_one_sequence() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let total = 2 * POSTERS_PER_INSTANCE * POSTS_EACH;
    let instances = [&a, &b];
    let pollers = instances.map(|instance| follow(instance, "shared", total));
    let posters = (0..2 * POSTERS_PER_INSTANCE).map(|poster| {
        let instance = instances[poster % 2];
        async move {
            let client = reqwest::Client::new();
            let mut acknowledged = Vec::new();
            for n in 0..POSTS_EACH {
                let body = format!("{poster}-{n}");
                acknowledged.push(instance.post_until_stored(&client, "shared", &body).await);
            }
            acknowledged
        }
    });
    let (seen, acknowledged) = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join(
            futures_util::future::join_all(pollers),
            futures_util::future::join_all(posters),
        ),
    )
    .await
    .expect("every poller sees every message");

    let stored = a.read_all(&reqwest::Client::new(), "shared").await;
    assert_eq!(stored.len(), total);
    assert!(stored.windows(2).all(|pair| pair[0].id < pair[1].id));
    for sequence in &seen {
        assert_eq!(sequence, &stored, "a poller saw another sequence");
    }
    let ids: HashSet<Uuid> = stored.iter().map(|message| message.id).collect();
    for (poster, mine) in acknowledged.iter().enumerate() {
        assert!(mine.iter().all(|message| ids.contains(&message.id)));
        // Each poster's messages appear in the order it sent them.
        let order: Vec<&str> = stored
            .iter()
            .filter(|message| message.body.starts_with(&format!("{poster}-")))
            .map(|message| message.body.as_str())
            .collect();
        let sent: Vec<String> = (0..POSTS_EACH).map(|n| format!("{poster}-{n}")).collect();
        assert_eq!(order, sent);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_parked_on_one_instance_is_answered_within_50_ms_of_a_post_on_the_other() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let client = reqwest::Client::new();
    let mut cursor = a.post_until_stored(&client, "fast", "first").await.id;
    let mut delays = Vec::new();
    for n in 0..10 {
        let poll = b.poll(&client, "fast", cursor, 10);
        let post = async {
            // A process gives no sign that a poll has parked; a poll that
            // has not yet parked reads the message at once, which only
            // makes the delay shorter.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let message = a.post_until_stored(&client, "fast", &n.to_string()).await;
            (message, Instant::now())
        };
        let ((page, answered), (message, acknowledged)) =
            tokio::join!(async { (poll.await, Instant::now()) }, post);
        assert_eq!(page, vec![message.clone()]);
        delays.push(answered.saturating_duration_since(acknowledged));
        cursor = message.id;
    }
    delays.sort();
    eprintln!("cross-instance delivery after the acknowledgement: {delays:?}");
    assert!(
        delays[delays.len() / 2] < Duration::from_millis(50),
        "{delays:?}"
    );
    assert!(
        delays[delays.len() - 1] < Duration::from_millis(250),
        "{delays:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_used_through_one_instance_replays_through_the_other() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let client = reqwest::Client::new();
    let first = a.post(&client, "keys", "once", "key-1").await.unwrap();
    let again = b.post(&client, "keys", "once", "key-1").await.unwrap();
    assert_eq!(first.0, 201);
    assert_eq!(again.0, 200);
    assert_eq!(first.1, again.1);
    let refused = b.post(&client, "keys", "other", "key-1").await.unwrap();
    assert_eq!(refused.0, 422);
    assert_eq!(b.read_all(&client, "keys").await.len(), 1);
}
