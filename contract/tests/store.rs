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
