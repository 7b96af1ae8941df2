//! The session blob: what `login` puts in the Kubernetes Secret and `collect` reads back.
//! JSON holding the home datacenter and each datacenter's address and auth key (hex); the
//! peer cache is left out (the `channels` table caches access hashes instead).
//! Errors never quote the blob: it is the account's key.

use std::path::Path;

use grammers_session::storages::MemorySession;
use grammers_session::types::DcOption;
use grammers_session::{Session, SessionData};
use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

/// A logged-in Telegram session, ready to store or to use.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct SessionBlob {
    version: u32,
    home_dc: i32,
    dc_options: Vec<DcOption>,
}

impl std::fmt::Debug for SessionBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the auth keys.
        f.debug_struct("SessionBlob")
            .field("home_dc", &self.home_dc)
            .finish_non_exhaustive()
    }
}

/// A session blob that cannot be used; the message never contains the blob's content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("cannot read the session file {path}: {kind}")]
    Read { path: String, kind: String },
    #[error(
        "the session file {path} is not a session blob made by `collector-job login` ({detail})"
    )]
    Malformed { path: String, detail: String },
    #[error("the session file {path} has version {found}; this collector reads version {VERSION}")]
    Version { path: String, found: u32 },
    #[error(
        "the session file {path} holds no auth key for its home datacenter {home_dc}: log in again"
    )]
    NoAuthKey { path: String, home_dc: i32 },
}

impl SessionBlob {
    /// Captures the state of a logged-in session.
    pub fn capture(session: &MemorySession) -> Self {
        let home_dc = session.home_dc_id().unwrap_or_default();
        let defaults = SessionData::default();
        let mut ids: Vec<i32> = defaults.dc_options.keys().copied().collect();
        if !ids.contains(&home_dc) {
            ids.push(home_dc);
        }
        ids.sort_unstable();
        let dc_options = ids
            .into_iter()
            .filter_map(|id| session.dc_option(id).ok().flatten())
            .collect();
        Self {
            version: VERSION,
            home_dc,
            dc_options,
        }
    }

    /// The datacenter the account lives in.
    pub fn home_dc(&self) -> i32 {
        self.home_dc
    }

    /// A session to hand to grammers.
    pub fn into_session(self) -> MemorySession {
        let mut data = SessionData {
            home_dc: self.home_dc,
            ..SessionData::default()
        };
        for option in self.dc_options {
            data.dc_options.insert(option.id, option);
        }
        MemorySession::from(data)
    }

    /// The id of the home datacenter's auth key, as MTProto computes it (the low 64 bits of
    /// its SHA-1, little endian): stable, sent in clear with every request, so not a secret,
    /// and the same for every copy of the session.
    pub fn auth_key_id(&self) -> Option<i64> {
        use sha1::{Digest, Sha1};
        let key = self
            .dc_options
            .iter()
            .find(|o| o.id == self.home_dc)?
            .auth_key?;
        let digest = Sha1::digest(key);
        let id: [u8; 8] = digest[12..20].try_into().expect("SHA-1 has 20 bytes");
        Some(i64::from_le_bytes(id))
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("session blob is plain data")
    }

    /// Parses a blob; `path` only names it in errors.
    pub fn decode(text: &str, path: &str) -> Result<Self, SessionError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let malformed = |e: serde_json::Error| SessionError::Malformed {
            path: path.to_owned(),
            detail: crate::app::config::json_detail(&e),
        };
        let Versioned { version } = serde_json::from_str(text.trim()).map_err(malformed)?;
        if version != VERSION {
            return Err(SessionError::Version {
                path: path.to_owned(),
                found: version,
            });
        }
        let blob: Self = serde_json::from_str(text.trim()).map_err(malformed)?;
        let has_key = blob
            .dc_options
            .iter()
            .any(|o| o.id == blob.home_dc && o.auth_key.is_some());
        if !has_key {
            return Err(SessionError::NoAuthKey {
                path: path.to_owned(),
                home_dc: blob.home_dc,
            });
        }
        Ok(blob)
    }

    pub fn read(path: &Path) -> Result<Self, SessionError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SessionError::Read {
            path: shown.clone(),
            kind: e.kind().to_string(),
        })?;
        Self::decode(&text, &shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged_in() -> MemorySession {
        let mut data = SessionData {
            home_dc: 4,
            ..SessionData::default()
        };
        let home = data.dc_options.get_mut(&4).unwrap();
        home.auth_key = Some([7u8; 256]);
        MemorySession::from(data)
    }

    #[test]
    fn a_blob_round_trips_with_its_auth_key() {
        let blob = SessionBlob::capture(&logged_in());
        let text = blob.encode();
        let decoded = SessionBlob::decode(&text, "session").unwrap();
        assert_eq!(decoded, blob);
        let session = decoded.into_session();
        assert_eq!(session.home_dc_id().unwrap(), 4);
        assert_eq!(
            session.dc_option(4).unwrap().unwrap().auth_key,
            Some([7u8; 256])
        );
        assert_eq!(session.dc_option(2).unwrap().unwrap().auth_key, None);
    }

    #[test]
    fn malformed_blobs_are_refused_without_quoting_them() {
        let secret_looking = r#"{"version": 1, "home_dc": "deadbeefcafe", "dc_options": []}"#;
        for text in ["", "not json", "{\"version\": 1}", secret_looking] {
            let error = SessionBlob::decode(text, "/var/run/secrets/telegram/session").unwrap_err();
            let message = error.to_string();
            assert!(matches!(error, SessionError::Malformed { .. }), "{message}");
            assert!(
                message.contains("/var/run/secrets/telegram/session"),
                "{message}"
            );
            assert!(
                !message.contains("deadbeef") && !message.contains("not json"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_blob_without_the_home_auth_key_is_refused() {
        let blob = SessionBlob::capture(&MemorySession::from(SessionData::default()));
        let error = SessionBlob::decode(&blob.encode(), "s").unwrap_err();
        assert!(matches!(error, SessionError::NoAuthKey { .. }), "{error}");
        let newer = r#"{"version": 2}"#;
        assert_eq!(
            SessionBlob::decode(newer, "s").unwrap_err(),
            SessionError::Version {
                path: "s".into(),
                found: 2
            }
        );
    }

    #[test]
    fn a_blob_without_a_home_key_has_no_key_id() {
        // The id itself is checked against the fake DC's (grammers-crypto's) in tests/wire.rs.
        let keyless = SessionBlob::capture(&MemorySession::from(SessionData::default()));
        assert_eq!(keyless.auth_key_id(), None);
        assert!(SessionBlob::capture(&logged_in()).auth_key_id().is_some());
    }

    #[test]
    fn debug_output_hides_the_keys() {
        let shown = format!("{:?}", SessionBlob::capture(&logged_in()));
        assert!(
            !shown.contains("07070707") && !shown.contains("auth_key"),
            "{shown}"
        );
    }
}
