//! A loopback Telegram datacenter for tests and demos: the server side of MTProto 2.0 for
//! auth keys that are pre-seeded on both sides, so the real grammers client (and the real
//! `collector-job collect`) can connect over TCP and collect a scenario's channels, through
//! flood waits, private channels, revoked sessions, dropped connections and slow answers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fake_dc::StartError> {
//! use fake_dc::{Account, Channel, FakeDc, Scenario};
//! let dc = FakeDc::start(
//!     Scenario::new()
//!         .account(Account::new(777_000_001))
//!         .channel(Channel::new(1001, "alpha", 250)),
//! )
//! .await?;
//! let session_blob = dc.session(777_000_001).expect("the scenario's account");
//! # Ok(()) }
//! ```
//!
//! No key exchange: grammers compiles Telegram's RSA keys in, so only a session made for this
//! DC (with [`FakeDc::session`] or `fake-dc serve`) can connect. An account with a [`Login`]
//! starts with such a key not signed in, and signs in with its phone, code and 2FA password
//! (real SRP) as on Telegram. Connections speak any of MTProto's abridged, intermediate,
//! padded intermediate and full transports ([`framing`]). Which requests are served is listed
//! in [`SERVED`]; any other gets an `rpc_error` (and a warning in the log), never silence.
//!
//! Files: every photo and video a generated post carries, and the [`File`]s a scenario puts
//! on chosen messages (any kind and size, e.g. `{"message": 11, "id": 900001, "kind":
//! "document", "size": 3145729}`; one id on several messages is one file, as forwards carry
//! it), are served by `upload.getFile` under Telegram's rules for
//! parts ([`files::check_part`]). Their bytes are [`files::content`] (a function of the file id
//! and the offset: a 2 GB file costs no memory, and a test recomputes any part or
//! [`files::sha256`]). Messages carry a file reference that [`Fault::ExpireReference`] (or
//! [`FakeDc::expire_reference`]) rotates; `channels.getMessages` then hands out the new one. A
//! file with a `dc_id` of its own lives on a second DC on a port of its own, listed in
//! `help.getConfig` and in the session blob (with a pre-shared key): elsewhere it answers
//! FILE_MIGRATE_X, and that DC wants `auth.importAuthorization` of what
//! `auth.exportAuthorization` gave at home. Fault rules with `"file": id` count only that
//! file's parts; [`FakeDc::arm`] adds a rule while the DC runs.

pub mod answer;
pub mod crypto;
pub mod dc;
pub mod files;
pub mod flood;
pub mod framing;
pub mod history;
pub mod login;
pub mod mtp;
pub mod rpc;
pub mod scenario;
pub mod server;
pub mod session;
pub mod srp;

pub use dc::{Outcome, Part, Served};
pub use history::{HistoryQuery, Post, Timeline};
pub use rpc::SERVED;
pub use scenario::{
    Account, Channel, Edit, Fault, FaultRule, File, FileKind, FloodLimit, Login, Scenario,
    ScenarioError,
};
pub use server::{FakeDc, StartError};
