//! The audit log's rows as written and read back: a sharded run's rows carry the index of the
//! shard that wrote them, an unsharded run's none; the ETA history reads them the same way.

use chrono::{DateTime, Utc};
use contract::audit::{
    AuditEvent, AuditWriter, CollectionEnd, CollectionStart, PastRunLimits, RunIdentity, read_run,
    recent_finished_runs,
};
use sqlx::PgPool;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_590_400 + secs, 0).unwrap()
}

fn writer(pool: &PgPool, run_id: &str, shard: Option<u32>) -> AuditWriter {
    AuditWriter::new(
        pool.clone(),
        RunIdentity {
            run_id: run_id.into(),
            namespace: "news".into(),
            name: "daily".into(),
            pod_name: Some(format!("{run_id}-{}", shard.unwrap_or(0))),
            shard,
        },
    )
}

async fn write_run(writer: &AuditWriter) {
    for event in [
        AuditEvent::Start(CollectionStart {
            total_channels: 1,
            start_time: at(0),
        }),
        AuditEvent::End(CollectionEnd {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 0,
            channels_synced: 1,
            total_channels: 1,
            errors: 0,
            end_time: at(5),
            aborted: false,
            reason: None,
        }),
    ] {
        writer.record(&event).await.unwrap();
    }
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn every_row_names_the_shard_that_wrote_it(pool: PgPool) {
    write_run(&writer(&pool, "sharded", Some(0))).await;
    write_run(&writer(&pool, "sharded", Some(3))).await;
    write_run(&writer(&pool, "single", None)).await;

    let shards =
        |rows: Vec<contract::audit::AuditRow>| rows.iter().map(|r| r.shard).collect::<Vec<_>>();
    assert_eq!(
        shards(read_run(&pool, "sharded").await.unwrap()),
        vec![Some(0), Some(0), Some(3), Some(3)]
    );
    assert_eq!(
        shards(read_run(&pool, "single").await.unwrap()),
        vec![None, None]
    );

    let history = recent_finished_runs(&pool, "news", "daily", "none", PastRunLimits::default())
        .await
        .unwrap();
    let sharded = history.iter().find(|r| r.run_id == "sharded").unwrap();
    assert_eq!(
        sharded.rows.iter().map(|r| r.shard).collect::<Vec<_>>(),
        vec![Some(0), Some(3)],
        "the history keeps each shard's start"
    );
}

/// Every row of a collection is announced on the audit log's channel, naming the collection;
/// a row without one (the seed's) is not.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn every_row_of_a_collection_is_announced(pool: sqlx::PgPool) {
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .unwrap();
    listener
        .listen(contract::audit::NOTIFY_CHANNEL)
        .await
        .unwrap();
    sqlx::query("INSERT INTO mtproto_audit_log (action) VALUES ('seed_row')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO mtproto_audit_log (action, run_id, collection_namespace, collection_name)
         VALUES ('collection_start', 'news-1', 'telegram', 'news')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let notification = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("announced within 10 s")
        .unwrap();
    assert_eq!(notification.channel(), contract::audit::NOTIFY_CHANNEL);
    assert_eq!(
        contract::audit::notified_collection(notification.payload()),
        Some(("telegram", "news")),
        "the first notification is the collection's row: the seed's row is not announced"
    );
}

/// A reader that has a run's first rows reads only the ones after them.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_run_is_read_from_where_the_reader_left_off(pool: sqlx::PgPool) {
    for action in ["collection_start", "collection_progress", "collection_end"] {
        sqlx::query("INSERT INTO mtproto_audit_log (action, run_id) VALUES ($1, 'news-2')")
            .bind(action)
            .execute(&pool)
            .await
            .unwrap();
    }
    let all = contract::audit::read_run(&pool, "news-2").await.unwrap();
    assert_eq!(all.len(), 3);
    let rest = contract::audit::read_run_after(&pool, "news-2", all[0].id)
        .await
        .unwrap();
    assert_eq!(rest, all[1..].to_vec());
}
