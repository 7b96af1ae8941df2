//! What the operator and the collector agree on, defined once: the crate both binaries and
//! `crds` depend on, with no Kubernetes dependency of its own.
//!
//! - [`job`]: the Job the operator builds and the collector reads (env names, the session's
//!   path, exit codes, the Job's labels and annotations); docs/job-contract.md tells it whole.
//! - [`channel`]: a channel reference as the spec writes it, and the one key two spellings of
//!   a channel share.
//! - [`limits`]: `spec.limits`, as the CRD declares it and as the collector reads it.
//! - [`media`]: `spec.media`, the files a collection downloads and where they go.
//! - [`audit`]: the audit log the collector writes and the operator derives `.status` from.
//! - [`MIGRATOR`]: the one schema both binaries use; [`migrations::apply`] applies it.
//! - [`database`]: what a PostgreSQL error means (unreachable, a missing privilege, ...).

pub mod audit;
pub mod channel;
pub mod database;
pub mod job;
pub mod limits;
pub mod media;
pub mod migrations;

/// The one schema both binaries use (`migrations/` at the workspace root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
