//! Applying [`MIGRATOR`](crate::MIGRATOR) at start, without needing CREATE when there is
//! nothing to apply: sqlx's migrator always runs `CREATE TABLE IF NOT EXISTS
//! _sqlx_migrations`, which PostgreSQL refuses a role without CREATE on the schema even when
//! the table exists. So a role that may only read and write the tables can run once an
//! owner has applied the migrations.

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// `version, checksum, success` of a row of `_sqlx_migrations`.
type Applied = (i64, Vec<u8>, bool);

/// Applies the migrations `migrator` has and the database lacks; only reads
/// `_sqlx_migrations` when it lacks none.
pub async fn apply(migrator: &Migrator, pool: &PgPool) -> Result<(), MigrateError> {
    if up_to_date(migrator, &applied(migrator, pool).await?) {
        return Ok(());
    }
    migrator.run(pool).await
}

/// The rows of the migrator's table; none when it does not exist yet.
async fn applied(migrator: &Migrator, pool: &PgPool) -> Result<Vec<Applied>, sqlx::Error> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(migrator.table_name.as_ref())
        .fetch_one(pool)
        .await?;
    let Some(table) = table else {
        return Ok(Vec::new());
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT version, checksum, success FROM {table}"
    )))
    .fetch_all(pool)
    .await
}

/// Whether every migration is applied, successfully and unchanged, and nothing else is: any
/// difference is the migrator's to apply or to report (a changed, failed or unknown version).
fn up_to_date(migrator: &Migrator, applied: &[Applied]) -> bool {
    let ours: Vec<_> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    applied.len() == ours.len()
        && ours.iter().all(|m| {
            applied.iter().any(|(version, checksum, success)| {
                *version == m.version && *success && *checksum == *m.checksum
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_applied() -> Vec<Applied> {
        crate::MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| (m.version, m.checksum.to_vec(), true))
            .collect()
    }

    #[test]
    fn only_every_migration_applied_unchanged_and_nothing_else_is_up_to_date() {
        let migrator = &crate::MIGRATOR;
        assert!(up_to_date(migrator, &all_applied()));
        assert!(!up_to_date(migrator, &[]));
        let mut missing = all_applied();
        missing.pop();
        assert!(!up_to_date(migrator, &missing));
        let mut failed = all_applied();
        failed[0].2 = false;
        assert!(!up_to_date(migrator, &failed));
        let mut changed = all_applied();
        changed[0].1[0] ^= 1;
        assert!(!up_to_date(migrator, &changed));
        let mut newer = all_applied();
        newer.push((99_991_231_000_000, vec![0], true));
        assert!(!up_to_date(migrator, &newer));
    }
}
