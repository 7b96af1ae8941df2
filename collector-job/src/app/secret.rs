//! Settings that must never be shown: the database URL (it holds the password) and the api
//! hash. (The session blob has a redacted `Debug` of its own.)

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

/// A secret string. `Debug` prints `<redacted>`, so a configuration can be logged or shown in
/// a test failure whole; [`expose`](Self::expose) hands the value to the one place that uses it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself: for connecting or signing in only, never for a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Empty or only whitespace: as good as unset.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// For clap, which reads it from a flag or the environment.
impl FromStr for Secret {
    type Err = Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(value.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_never_shown() {
        let secret = Secret::from("postgres://u:hunter22@db/x");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(<redacted>)");
        assert_eq!(secret.expose(), "postgres://u:hunter22@db/x");
        assert!(Secret::from(" \n").is_blank());
    }
}
