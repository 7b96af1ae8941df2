//! Telegram's errors sorted into what the collector does about them.

use std::time::Duration;

use contract::audit::ErrorReason;
use grammers_mtproto::transport;
use grammers_mtsender::{InvocationError, RpcError};

use crate::telegram::source::SourceError;

/// RPC errors (outside the 401 code) that also mean the session is unusable.
const SESSION_ERRORS: [&str; 7] = [
    "AUTH_KEY_UNREGISTERED",
    "AUTH_KEY_INVALID",
    "AUTH_KEY_DUPLICATED",
    "AUTH_KEY_PERM_EMPTY",
    "SESSION_REVOKED",
    "SESSION_EXPIRED",
    "USER_DEACTIVATED*",
];

/// The wait Telegram asks for, when this is a flood error (code 420: FLOOD_WAIT_X,
/// FLOOD_PREMIUM_WAIT_X, SLOWMODE_WAIT_X).
pub fn flood_wait(error: &InvocationError) -> Option<Duration> {
    match error {
        InvocationError::Rpc(RpcError {
            code: 420,
            value: Some(seconds),
            ..
        }) => Some(Duration::from_secs(u64::from(*seconds))),
        _ => None,
    }
}

/// What a failed `upload.getFile` asks of the downloader, before it is sorted like any other
/// call ([`classify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFault {
    /// FILE_REFERENCE_EXPIRED (or another FILE_REFERENCE_* error): the reference in the stored
    /// message is stale; re-read the message for a fresh one.
    ReferenceExpired,
    /// FILE_MIGRATE_X: the file lives on DC X.
    Migrate(i32),
    /// 401 AUTH_KEY_UNREGISTERED: on a DC other than home, our authorization has not been
    /// imported there yet.
    Unauthorized,
    /// Anything else.
    Other,
}

/// Sorts a failed file request by what the downloader does about it.
pub fn file_fault(error: &InvocationError) -> FileFault {
    let InvocationError::Rpc(rpc) = error else {
        return FileFault::Other;
    };
    if rpc.is("FILE_REFERENCE_*") {
        return FileFault::ReferenceExpired;
    }
    match (rpc.code, rpc.name.as_str(), rpc.value) {
        (303, "FILE_MIGRATE", Some(dc)) => {
            i32::try_from(dc).map_or(FileFault::Other, FileFault::Migrate)
        }
        (401, "AUTH_KEY_UNREGISTERED", _) => FileFault::Unauthorized,
        _ => FileFault::Other,
    }
}

/// Sorts a failed call. `threshold` only words the message of a too-long flood wait.
pub fn classify(error: &InvocationError, threshold: Duration) -> SourceError {
    match error {
        InvocationError::Rpc(rpc) => classify_rpc(rpc, threshold),
        InvocationError::Io(e) => SourceError::channel(
            ErrorReason::Network,
            format!("connection to Telegram failed: {}", e.kind()),
        ),
        // The server answers 404 at the transport level to an auth key it does not know.
        InvocationError::Transport(transport::Error::BadStatus { status: 404 }) => {
            SourceError::SessionInvalid {
                message: "Telegram does not know the session's auth key (transport status 404)"
                    .into(),
            }
        }
        InvocationError::Transport(e) => {
            SourceError::channel(ErrorReason::Network, format!("transport error: {e}"))
        }
        InvocationError::Dropped(why) => {
            SourceError::channel(ErrorReason::Network, format!("request dropped: {why}"))
        }
        InvocationError::Deserialize(_) => {
            SourceError::channel(ErrorReason::Rpc, "could not read Telegram's answer")
        }
        InvocationError::Session(_) => {
            SourceError::channel(ErrorReason::Rpc, "session storage error")
        }
        InvocationError::InvalidDc => SourceError::channel(
            ErrorReason::Network,
            "the session names an unknown datacenter",
        ),
        InvocationError::Authentication(_) => SourceError::channel(
            ErrorReason::Network,
            "creating an auth key for another datacenter failed",
        ),
    }
}

fn classify_rpc(rpc: &RpcError, threshold: Duration) -> SourceError {
    let name = rpc.name.as_str();
    let described = || match rpc.value {
        Some(value) => format!("Telegram error {} {name} ({value})", rpc.code),
        None => format!("Telegram error {} {name}", rpc.code),
    };
    if rpc.code == 401 || SESSION_ERRORS.iter().any(|pattern| rpc.is(pattern)) {
        return SourceError::SessionInvalid {
            message: described(),
        };
    }
    if rpc.code == 420 {
        let seconds = rpc.value.unwrap_or(0);
        return SourceError::channel(
            ErrorReason::FloodWait,
            format!(
                "Telegram asked to wait {seconds}s ({name}), above the {}s threshold",
                threshold.as_secs()
            ),
        );
    }
    let reason = match name {
        "CHANNEL_PRIVATE" | "CHANNEL_PUBLIC_GROUP_NA" | "USER_BANNED_IN_CHANNEL" => {
            ErrorReason::ChannelPrivate
        }
        "CHANNEL_INVALID" | "PEER_ID_INVALID" | "CHAT_ID_INVALID" | "MSG_ID_INVALID" => {
            ErrorReason::ChannelInvalid
        }
        "USERNAME_NOT_OCCUPIED" | "USERNAME_INVALID" => ErrorReason::UsernameNotFound,
        _ => ErrorReason::Rpc,
    };
    SourceError::channel(reason, described())
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_tl_types as tl;

    fn rpc(code: i32, message: &str) -> InvocationError {
        InvocationError::Rpc(RpcError::from(tl::types::RpcError {
            error_code: code,
            error_message: message.into(),
        }))
    }

    const THRESHOLD: Duration = Duration::from_secs(60);

    #[test]
    fn the_401_family_and_duplicated_keys_end_the_run() {
        for (code, name) in [
            (401, "AUTH_KEY_UNREGISTERED"),
            (401, "SESSION_REVOKED"),
            (401, "USER_DEACTIVATED"),
            (401, "USER_DEACTIVATED_BAN"),
            (401, "SESSION_PASSWORD_NEEDED"),
            (406, "AUTH_KEY_DUPLICATED"),
            (401, "SOMETHING_NEW"),
        ] {
            let classified = classify(&rpc(code, name), THRESHOLD);
            let SourceError::SessionInvalid { message } = classified else {
                panic!("{name} should invalidate the session, got {classified:?}");
            };
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn channel_errors_fail_only_the_channel() {
        for (code, name, reason) in [
            (400, "CHANNEL_PRIVATE", ErrorReason::ChannelPrivate),
            (403, "USER_BANNED_IN_CHANNEL", ErrorReason::ChannelPrivate),
            (400, "CHANNEL_INVALID", ErrorReason::ChannelInvalid),
            (400, "PEER_ID_INVALID", ErrorReason::ChannelInvalid),
            (400, "USERNAME_NOT_OCCUPIED", ErrorReason::UsernameNotFound),
            (400, "USERNAME_INVALID", ErrorReason::UsernameNotFound),
            (500, "INTERDC_2_CALL_ERROR", ErrorReason::Rpc),
        ] {
            assert!(
                matches!(classify(&rpc(code, name), THRESHOLD),
                    SourceError::Channel { reason: r, .. } if r == reason),
                "{name}"
            );
        }
    }

    #[test]
    fn flood_waits_carry_their_seconds() {
        let error = rpc(420, "FLOOD_WAIT_3600");
        assert_eq!(flood_wait(&error), Some(Duration::from_secs(3600)));
        assert_eq!(
            flood_wait(&rpc(420, "SLOWMODE_WAIT_10")),
            Some(Duration::from_secs(10))
        );
        assert_eq!(flood_wait(&rpc(400, "CHANNEL_PRIVATE")), None);
        let SourceError::Channel { reason, message } = classify(&error, THRESHOLD) else {
            panic!("a flood wait fails the channel");
        };
        assert_eq!(reason, ErrorReason::FloodWait);
        assert!(
            message.contains("3600s") && message.contains("60s"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_auth_key_at_the_transport_level_ends_the_run() {
        let unknown = InvocationError::Transport(transport::Error::BadStatus { status: 404 });
        assert!(matches!(
            classify(&unknown, THRESHOLD),
            SourceError::SessionInvalid { .. }
        ));
        let too_many = InvocationError::Transport(transport::Error::BadStatus { status: 429 });
        assert!(matches!(
            classify(&too_many, THRESHOLD),
            SourceError::Channel {
                reason: ErrorReason::Network,
                ..
            }
        ));
    }

    #[test]
    fn file_errors_say_what_the_downloader_does() {
        assert_eq!(
            file_fault(&rpc(400, "FILE_REFERENCE_EXPIRED")),
            FileFault::ReferenceExpired
        );
        assert_eq!(
            file_fault(&rpc(400, "FILE_REFERENCE_INVALID")),
            FileFault::ReferenceExpired
        );
        assert_eq!(
            file_fault(&rpc(303, "FILE_MIGRATE_4")),
            FileFault::Migrate(4)
        );
        // Other migrations are not about files.
        assert_eq!(file_fault(&rpc(303, "NETWORK_MIGRATE_4")), FileFault::Other);
        assert_eq!(
            file_fault(&rpc(401, "AUTH_KEY_UNREGISTERED")),
            FileFault::Unauthorized
        );
        assert_eq!(file_fault(&rpc(401, "SESSION_REVOKED")), FileFault::Other);
        for (code, name) in [
            (400, "LIMIT_INVALID"),
            (400, "OFFSET_INVALID"),
            (400, "LOCATION_INVALID"),
        ] {
            assert_eq!(file_fault(&rpc(code, name)), FileFault::Other);
            assert!(
                matches!(classify(&rpc(code, name), THRESHOLD),
                    SourceError::Channel { reason: ErrorReason::Rpc, ref message } if message.contains(name)),
                "{name}"
            );
        }
        // A flood wait reaches the downloader only above the threshold: it is sorted as such.
        assert_eq!(file_fault(&rpc(420, "FLOOD_WAIT_5")), FileFault::Other);
        let io = InvocationError::Io(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        assert_eq!(file_fault(&io), FileFault::Other);
    }

    #[test]
    fn io_errors_are_network_errors() {
        let error = InvocationError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(
            classify(&error, THRESHOLD),
            SourceError::Channel {
                reason: ErrorReason::Network,
                ..
            }
        ));
    }
}
