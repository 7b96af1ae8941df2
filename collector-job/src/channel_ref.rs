//! The spec's channel strings (`@username`, `username`, `https://t.me/username`, a numeric id)
//! turned into what the collector looks up.

use std::fmt;

/// Where to find a channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChannelRef {
    /// A public username, lowercase and without `@` (usernames are case-insensitive).
    Username(String),
    /// A bare channel id (a Bot API `-100…` id has its prefix removed).
    Id(i64),
}

/// A channel string that names no channel.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChannelRefError {
    #[error("channel {0:?} is not @username, username, https://t.me/username or a numeric id")]
    Malformed(String),
    #[error("channel {0:?} is a basic group id, not a channel id")]
    NotAChannel(String),
}

impl ChannelRef {
    pub fn parse(input: &str) -> Result<Self, ChannelRefError> {
        let malformed = || ChannelRefError::Malformed(input.to_owned());
        let trimmed = input.trim();
        if let Some(digits) = trimmed.strip_prefix("-100") {
            return digits
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .map(Self::Id)
                .ok_or_else(malformed);
        }
        if let Some(rest) = trimmed.strip_prefix('-') {
            // A negative id without the -100 prefix is a basic group in the Bot API numbering.
            return match rest.parse::<i64>() {
                Ok(_) => Err(ChannelRefError::NotAChannel(input.to_owned())),
                Err(_) => Err(malformed()),
            };
        }
        if trimmed.bytes().all(|b| b.is_ascii_digit()) && !trimmed.is_empty() {
            return trimmed
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .map(Self::Id)
                .ok_or_else(malformed);
        }
        let name = trimmed
            .strip_prefix("https://t.me/")
            .or_else(|| trimmed.strip_prefix('@'))
            .unwrap_or(trimmed);
        let valid = (4..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(Self::Username(name.to_ascii_lowercase()))
        } else {
            Err(malformed())
        }
    }
}

impl fmt::Display for ChannelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Username(name) => write!(f, "@{name}"),
            Self::Id(id) => write!(f, "{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_spec_parses() {
        let username = ChannelRef::Username("durov".into());
        for input in ["@durov", "durov", "https://t.me/durov", "@Durov", " DUROV "] {
            assert_eq!(ChannelRef::parse(input), Ok(username.clone()), "{input}");
        }
        assert_eq!(
            ChannelRef::parse("1006503122"),
            Ok(ChannelRef::Id(1006503122))
        );
        assert_eq!(
            ChannelRef::parse("-1001006503122"),
            Ok(ChannelRef::Id(1006503122))
        );
    }

    #[test]
    fn bad_references_are_refused() {
        for input in [
            "",
            "@",
            "ab",
            "1abc",
            "https://t.me/",
            "foo bar",
            "-100",
            "0",
            "@a-b-c",
        ] {
            assert!(
                matches!(ChannelRef::parse(input), Err(ChannelRefError::Malformed(_))),
                "{input}"
            );
        }
        assert_eq!(
            ChannelRef::parse("-123456"),
            Err(ChannelRefError::NotAChannel("-123456".into()))
        );
    }
}
