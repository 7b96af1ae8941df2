//! Errors as the one line a user reads (stderr, the audit log's `error.message`).

use std::error::Error;

/// An error and its causes on one line. A PostgreSQL error is given as the server's reason and
/// SQLSTATE, without sqlx's wrapping text or the server's source location (`at line 948`).
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut line = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let (text, source) = match cause.downcast_ref::<sqlx::Error>() {
            // Its source is the server's error itself: said here, skip it.
            Some(sqlx::Error::Database(db)) => (database_reason(db.as_ref()), None),
            _ => (cause.to_string(), cause.source()),
        };
        // Many errors already print their cause; say it once.
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        next = source;
    }
    line.replace(['\n', '\r'], " ")
}

/// An error with its causes as [`one_line`] prints it, for log fields:
/// `warn!(error = %ErrorChain(&error), ...)`.
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&one_line(self.0))
    }
}

/// `violates check constraint "x" (SQLSTATE 23514)`: the server's message and code only. The
/// detail is left out on purpose: for a refused row it quotes the whole row.
pub fn database_reason(error: &dyn sqlx::error::DatabaseError) -> String {
    match error.code() {
        Some(code) => format!("{} (SQLSTATE {code})", error.message()),
        None => error.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot store 3 messages of channel 7")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_joined_once_on_one_line() {
        let error = Outer(std::io::Error::other("disk\non fire"));
        assert_eq!(
            one_line(&error),
            "cannot store 3 messages of channel 7: disk on fire"
        );
        assert_eq!(ErrorChain(&error).to_string(), one_line(&error));
    }
}
