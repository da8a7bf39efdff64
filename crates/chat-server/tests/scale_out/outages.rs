//! The database drops every connection; an instance is killed mid-post.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{two_instances, TestDatabase};

async fn admin(database: &TestDatabase) -> tokio_postgres::Client {
    let (admin, connection) = tokio_postgres::connect(&database.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
}

/// Terminates every connection to `database` but the caller's.
async fn terminate_connections(database: &TestDatabase) -> u64 {
    admin(database)
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_database_drops_every_connection_parked_polls_wake_and_posts_work_again() {
    let Some((database, a, b)) = two_instances().await else {
        return;
    };
    let client = reqwest::Client::new();
    let before = a.post_until_stored(&client, "outage", "before").await;
    let parked = [&a, &b].map(|instance| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let page = instance.poll(&client, "outage", before.id, 30).await;
            (page, started.elapsed())
        }
    });
    let outage = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            terminate_connections(&database).await >= 2,
            "both listeners killed"
        );
        b.post_until_stored(&client, "outage", "after").await
    };
    let (pages, after) = tokio::join!(futures_util::future::join_all(parked), outage);
    for (page, waited) in pages {
        assert_eq!(page, vec![after.clone()]);
        assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    }
    let stored = a.read_all(&client, "outage").await;
    assert_eq!(stored, vec![before, after]);
    let health = client
        .get(format!("{}/healthz", a.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_instance_while_posting_through_both_loses_nothing_acknowledged() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let client = reqwest::Client::new();
    let (acknowledged_tx, mut acknowledged_rx) = tokio::sync::mpsc::unbounded_channel();
    let instances = [&a, &b];
    let posters = (0..4).map(|poster| {
        let instance = instances[poster % 2];
        let client = client.clone();
        let acknowledged = acknowledged_tx.clone();
        async move {
            for n in 0..60 {
                let key = format!("{:032x}", rand::random::<u128>());
                match instance
                    .post(&client, "crash", &format!("{poster}-{n}"), &key)
                    .await
                {
                    Some((201, Some(message))) => acknowledged.send(message).unwrap(),
                    // The instance died: this poster stops.
                    None => return,
                    Some((503, _)) => {}
                    other => panic!("unexpected answer {other:?}"),
                }
            }
        }
    });
    let a_pid = a.pid();
    let killer = async {
        // SIGKILL A once 20 posts were acknowledged, while all keep posting.
        let mut acknowledged = Vec::new();
        while acknowledged.len() < 20 {
            acknowledged.push(acknowledged_rx.recv().await.unwrap());
        }
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &a_pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        acknowledged
    };
    let (mut acknowledged, ()) = tokio::join!(killer, async {
        futures_util::future::join_all(posters).await;
    });
    drop(acknowledged_tx);
    while let Some(message) = acknowledged_rx.recv().await {
        acknowledged.push(message);
    }
    a.kill().await;
    let ids: HashSet<Uuid> = acknowledged.iter().map(|message| message.id).collect();
    let stored = b.read_all(&client, "crash").await;
    let stored_ids: HashSet<Uuid> = stored.iter().map(|message| message.id).collect();
    assert_eq!(stored_ids.len(), stored.len(), "a message stored twice");
    assert!(
        ids.is_subset(&stored_ids),
        "an acknowledged message is missing"
    );
    assert!(acknowledged.len() > 20, "B kept acknowledging after A died");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_refuses_connections_posts_get_503_and_service_resumes_after() {
    let Some((database, a, b)) = two_instances().await else {
        return;
    };
    let client = reqwest::Client::new();
    let before = a.post_until_stored(&client, "down", "before").await;
    // Parked before the outage: it must keep waiting through it.
    let parked = b.poll(&client, "down", before.id, 30);
    let outage = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // From the maintenance database: a database cannot refuse its own.
        let url = database.url();
        let (server, name) = url.rsplit_once('/').unwrap();
        let (admin, connection) =
            tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        let allow =
            |allowed: bool| format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {allowed}");
        admin.batch_execute(&allow(false)).await.unwrap();
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .await
            .unwrap();
        let refused = a.post(&client, "down", "lost", "key-down").await.unwrap();
        assert_eq!(refused.0, 503);
        let health = client
            .get(format!("{}/healthz", a.address))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 503);
        admin.batch_execute(&allow(true)).await.unwrap();
        a.post_until_stored(&client, "down", "after").await
    };
    let (page, after) = tokio::join!(parked, outage);
    assert_eq!(page, vec![after.clone()]);
    assert_eq!(b.read_all(&client, "down").await, vec![before, after]);
}
