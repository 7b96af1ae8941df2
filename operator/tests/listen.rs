//! Progress pushed, not polled: the audit log's notifications name the collection to
//! reconcile, against a real PostgreSQL (the migrations' trigger), through a dropped
//! connection too.

use std::time::Duration;

use crds::ChannelCollection;
use futures::StreamExt;
use kube::runtime::reflector::ObjectRef;
use sqlx::PgPool;

fn collection(namespace: &str, name: &str) -> ObjectRef<ChannelCollection> {
    ObjectRef::new(name).within(namespace)
}

async fn write_row(pool: &PgPool, namespace: &str, name: &str) {
    sqlx::query(
        "INSERT INTO mtproto_audit_log (action, run_id, collection_namespace, collection_name)
         VALUES ('collection_progress', $2 || '-1', $1, $2)",
    )
    .bind(namespace)
    .bind(name)
    .execute(pool)
    .await
    .unwrap();
}

async fn next(
    triggers: &mut (impl futures::Stream<Item = ObjectRef<ChannelCollection>> + Unpin),
) -> ObjectRef<ChannelCollection> {
    tokio::time::timeout(Duration::from_secs(20), triggers.next())
        .await
        .expect("a trigger within 20 s")
        .expect("the stream does not end")
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn each_row_wakes_its_collection_and_a_dropped_connection_catches_up(pool: PgPool) {
    let active = || vec![collection("telegram", "news")];
    let mut triggers = Box::pin(operator::listen::triggers(pool.clone(), active));

    // Listening starts with the catch-up: every collection with an active run.
    assert_eq!(next(&mut triggers).await, collection("telegram", "news"));

    write_row(&pool, "media", "sports").await;
    assert_eq!(next(&mut triggers).await, collection("media", "sports"));

    // The listening connection is killed: what was announced meanwhile is gone, so every
    // active collection is reconciled again once it listens again, then rows wake theirs.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(killed, [true], "one listening connection");
    assert_eq!(next(&mut triggers).await, collection("telegram", "news"));
    write_row(&pool, "media", "weather").await;
    assert_eq!(next(&mut triggers).await, collection("media", "weather"));
}
