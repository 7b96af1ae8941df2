//! What the benches share: a scratch database on the server `DATABASE_URL` names.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// A database made for one bench run; [`drop`](Self::drop) removes it.
pub struct ScratchDatabase {
    admin_url: String,
    pub name: String,
    /// Same server and options (e.g. `?sslmode=disable`), the scratch database.
    pub url: String,
}

impl ScratchDatabase {
    pub async fn create(admin_url: &str, prefix: &str) -> Self {
        let name = format!("{prefix}_{}", std::process::id());
        let mut admin = PgConnection::connect(admin_url).await.expect("connect");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the bench database");
        let _ = admin.close().await;
        let (path, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
        let (base, _) = path
            .rsplit_once('/')
            .expect("DATABASE_URL ends in /<database>");
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}{query}"),
            name,
        }
    }

    pub async fn drop(self) {
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("connect");
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .expect("drop the bench database");
        let _ = admin.close().await;
    }
}
