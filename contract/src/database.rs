//! What a PostgreSQL error means for the run that met it: a server that cannot serve us now
//! (waiting may mend it), a role or database that does not allow what the binaries do
//! (configuration: retrying cannot help), or one statement refused.

/// Why PostgreSQL failed a statement or a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// It cannot be reached, not yet or no longer.
    Unreachable,
    /// The role lacks a privilege (SQLSTATE 42501).
    Privilege,
    /// The database only reads (SQLSTATE 25006): `default_transaction_read_only`, a standby.
    ReadOnly,
    /// This statement or connection is refused for another reason.
    Refused,
}

impl Fault {
    /// Whether a role or database setting is at fault, which only its administrator mends.
    pub fn is_configuration(self) -> bool {
        matches!(self, Self::Privilege | Self::ReadOnly)
    }
}

pub fn fault(error: &sqlx::Error) -> Fault {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Fault::Unreachable,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("42501") => Fault::Privilege,
            Some("25006") => Fault::ReadOnly,
            Some(code) if unreachable_sqlstate(code) => Fault::Unreachable,
            _ => Fault::Refused,
        },
        // sqlx reports a broken TLS handshake as I/O; its TLS errors are certificates or keys
        // it cannot load or use, which waiting does not mend.
        _ => Fault::Refused,
    }
}

/// Whether `error` means the database cannot be reached, not yet or no longer, as opposed to
/// a statement or a connection it refuses for good.
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    fault(error) == Fault::Unreachable
}

/// SQLSTATEs of a server that cannot serve us now: connection exceptions (class 08), shut
/// down by an administrator or a crash (57P01, 57P02), starting up or shutting down (57P03),
/// too many connections (53300).
fn unreachable_sqlstate(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03" | "53300") || code.starts_with("08")
}
