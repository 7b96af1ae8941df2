//! A channel as `spec.channels` names it (`@username`, `username`, `https://t.me/username`, a
//! channel id with or without the Bot API's `-100` prefix), and the one key every spelling of
//! a channel shares. CRD validation ([`PATTERN`]), the operator's duplicate check, the
//! channel-to-account assignment, the ETA's history and the collector all go through here, so
//! `1006503122` and `-1001006503122` are one channel everywhere.

use std::fmt;

/// What the CRD schema accepts; every string it accepts either parses or is refused by
/// [`ChannelRef::parse`] with a reason (an id out of range), never read another way.
pub const PATTERN: &str = r"^(@?[A-Za-z][A-Za-z0-9_]{3,31}|https://t\.me/[A-Za-z][A-Za-z0-9_]{3,31}|(-100)?[1-9][0-9]{0,18})$";

/// Longest channel string the CRD accepts.
pub const MAX_LEN: usize = 64;

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

impl ChannelRef {
    /// The key of this channel: the same for every spelling of it (`@durov` for a username,
    /// the bare id for an id). Usernames start with a letter, so the two kinds never collide.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

/// The key of a channel string: [`ChannelRef::key`] when it parses, else the string trimmed
/// and lowercased (a name the audit log holds from a spec that was never valid still groups
/// with itself).
pub fn key(channel: &str) -> String {
    match ChannelRef::parse(channel) {
        Ok(reference) => reference.key(),
        Err(_) => channel.trim().to_lowercase(),
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
    fn every_spelling_of_a_channel_has_one_key() {
        for (a, b) in [
            ("1006503122", "-1001006503122"),
            ("@Durov", "https://t.me/durov"),
            ("durov", " @DUROV "),
        ] {
            assert_eq!(key(a), key(b), "{a} / {b}");
        }
        assert_ne!(key("durov"), key("1006503122"));
    }

    #[test]
    fn the_crd_pattern_accepts_what_parses_and_refuses_what_cannot() {
        let pattern = regex::Regex::new(PATTERN).unwrap();
        for input in [
            "@durov",
            "durov",
            "https://t.me/durov",
            "1006503122",
            "-1001006503122",
            "@a_b_c",
        ] {
            assert!(pattern.is_match(input), "{input}");
            assert!(ChannelRef::parse(input).is_ok(), "{input}");
        }
        // The schema refuses what the collector would refuse anyway.
        for input in [
            "-123456",
            "0",
            "-100",
            "@ab",
            "foo bar",
            "https://t.me/",
            "012",
        ] {
            assert!(!pattern.is_match(input), "{input}");
        }
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
