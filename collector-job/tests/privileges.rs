//! A database that allows the collector less than its owner: a role without CREATE on the
//! schema imports once the migrations are applied; a missing privilege or a read-only
//! database exits 2 with one line naming it, and nothing of the chat is stored.

mod common;

use common::{chat_export, count, failed_with, posts, run, succeeded, temp_dir, url_of, write};
use sqlx::PgPool;

/// A login role of this test's database that may use the tables (every privilege the
/// collector uses) but create nothing, less `revoked`; its `DATABASE_URL`. Roles belong to
/// the whole cluster: the name is the database's, made fresh each time.
async fn limited_role(pool: &PgPool, revoked: &[&str]) -> String {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    // Identifiers are quoted (test database names mix cases) and at most 63 bytes.
    let role = format!("limited_{}", &database[database.len().saturating_sub(24)..]);
    for statement in [
        format!(r#"DROP OWNED BY "{role}""#),
        format!(r#"DROP ROLE "{role}""#),
    ] {
        // Left by an earlier run of a database of the same name, if any.
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(pool)
            .await;
    }
    let mut statements = vec![
        format!(r#"CREATE ROLE "{role}" LOGIN"#),
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_owned(),
        format!(r#"GRANT USAGE ON SCHEMA public TO "{role}""#),
        format!(r#"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO "{role}""#),
        format!(r#"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}""#),
    ];
    statements.extend(
        revoked
            .iter()
            .map(|r| format!(r#"REVOKE {r} FROM "{role}""#)),
    );
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(pool)
            .await
            .unwrap();
    }
    let options = pool.connect_options();
    format!(
        "postgres://{role}@{}:{}/{database}",
        options.get_host(),
        options.get_port()
    )
}

fn import_as(database_url: &str, test: &str) -> std::process::Output {
    let export = chat_export("Alpha News", "public_channel", 1001, posts(3));
    let path = write(&temp_dir(test), "result.json", export);
    run(
        &["import", path.to_str().unwrap(), "--run-id", test],
        &[("DATABASE_URL", database_url)],
    )
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_role_without_create_imports_once_the_migrations_are_applied(pool: PgPool) {
    let url = limited_role(&pool, &[]).await;
    succeeded(&import_as(&url, "no-create"));
    assert_eq!(count(&pool, "messages").await, 3);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_role_without_insert_on_messages_exits_2_naming_it(pool: PgPool) {
    let url = limited_role(&pool, &["INSERT ON messages"]).await;
    let line = failed_with(&import_as(&url, "no-insert"), 2);
    assert!(line.contains("lacks a privilege"), "{line}");
    assert!(
        line.contains("permission denied for table messages"),
        "{line}"
    );
    assert!(!line.contains("line "), "no source line: {line}");
    assert_eq!(count(&pool, "messages").await, 0);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_read_only_database_exits_2_saying_so(pool: PgPool) {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        r#"ALTER DATABASE "{database}" SET default_transaction_read_only = on"#
    )))
    .execute(&pool)
    .await
    .unwrap();
    let line = failed_with(&import_as(&url_of(&pool), "read-only"), 2);
    assert!(line.contains("the database is read-only"), "{line}");
    assert!(!line.contains("line "), "no source line: {line}");
}
