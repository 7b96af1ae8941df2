//! Telegram as the collector sees it: the `Source` seam the collection loop is generic over,
//! the real source (grammers over MTProto) with its mapping, error sorting and flood-wait
//! policy, the session blob, and a scripted stand-in for the tests.

pub mod client;
/// The scripted `Source` of the tests (flood waits, private channels, revoked sessions on
/// cue); not in the binary.
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod flood;
pub mod mapping;
pub mod rpc_error;
pub mod session;
pub mod source;
