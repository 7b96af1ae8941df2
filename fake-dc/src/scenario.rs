//! What the fake datacenter serves: accounts (each with its own auth key, user id, access
//! hashes and flood limit), channels with generated histories, and faults at chosen requests.
//! Built in Rust (`Scenario::new().account(..).channel(..)`) or read from JSON (`fake-dc serve
//! --scenario FILE`); both go through [`Scenario::check`].

use std::collections::{HashMap, HashSet};

use grammers_crypto::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rpc::SERVED;

/// The datacenter the sessions name as their home, as on Telegram's production DC 2.
pub const DEFAULT_DC_ID: i32 = 2;
/// Answers at least this large are sent `gzip_packed`, as Telegram does with large answers.
pub const DEFAULT_GZIP_FROM: usize = 1024;
/// When message 1 of a channel was sent, unless the scenario says otherwise (2025-11-09).
pub const DEFAULT_FIRST_DATE: i64 = 1_762_673_674;
/// How long a login code is accepted, unless the scenario says otherwise (Telegram: minutes).
pub const DEFAULT_CODE_TTL_SECONDS: u64 = 300;

/// The whole fake world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default = "default_dc_id")]
    pub dc_id: i32,
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Answers of at least this many bytes go out `gzip_packed`; `null` never compresses.
    #[serde(default = "default_gzip_from")]
    pub gzip_from: Option<usize>,
}

fn default_dc_id() -> i32 {
    DEFAULT_DC_ID
}

fn default_gzip_from() -> Option<usize> {
    Some(DEFAULT_GZIP_FROM)
}

/// A Telegram account that has logged in on this datacenter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The account's stable user id (what `users.getUsers([inputUserSelf])` answers).
    pub user_id: i64,
    #[serde(default)]
    pub first_name: Option<String>,
    /// The 256-byte permanent auth key, hex; derived from the user id when absent.
    #[serde(default, with = "hex_key")]
    pub auth_key: Option<[u8; 256]>,
    /// How many messages per second Telegram lets this account read.
    #[serde(default)]
    pub flood: Option<FloodLimit>,
    /// The key is known but not (or no longer) logged in: API calls answer
    /// 401 AUTH_KEY_UNREGISTERED.
    #[serde(default)]
    pub unregistered: bool,
    /// How the account logs in (`auth.sendCode`, `auth.signIn`, 2FA): with `unregistered`,
    /// the session `fake-dc serve` writes is the one `collector-job login` starts from (its key
    /// pre-shared: the fake cannot do the key exchange), signed in once the login succeeds.
    #[serde(default)]
    pub login: Option<Login>,
}

/// What a person logging in types: the phone, the code "sent" to it, the 2FA password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Compared by its digits only (`+49 123` is `49123`).
    pub phone: String,
    /// The login code `auth.signIn` accepts.
    pub code: String,
    /// The 2FA password `auth.checkPassword` accepts (real SRP); no 2FA when absent.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub hint: Option<String>,
    /// How long a sent code is accepted; later, PHONE_CODE_EXPIRED.
    #[serde(default = "default_code_ttl")]
    pub code_ttl_seconds: u64,
}

fn default_code_ttl() -> u64 {
    DEFAULT_CODE_TTL_SECONDS
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The code and password are secrets even in a fake: never in a log or a panic.
        f.debug_struct("Login")
            .field("phone", &self.phone)
            .field("two_factor", &self.password.is_some())
            .field("code_ttl_seconds", &self.code_ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// A login by `phone` with `code`, without 2FA.
    pub fn new(phone: &str, code: &str) -> Self {
        Self {
            phone: phone.to_owned(),
            code: code.to_owned(),
            password: None,
            hint: None,
            code_ttl_seconds: DEFAULT_CODE_TTL_SECONDS,
        }
    }

    /// With 2FA: `password` is asked after the code.
    pub fn password(mut self, password: &str, hint: Option<&str>) -> Self {
        self.password = Some(password.to_owned());
        self.hint = hint.map(str::to_owned);
        self
    }

    pub fn code_ttl_seconds(mut self, seconds: u64) -> Self {
        self.code_ttl_seconds = seconds;
        self
    }
}

/// A token bucket of messages: `burst` may be read at once, refilled at `messages_per_second`.
/// Each request costs the messages it returns (at least 1); one that would overdraw the bucket
/// answers `FLOOD_WAIT_X` with X the seconds until it could be served.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodLimit {
    pub messages_per_second: f64,
    /// Defaults to one second's worth.
    #[serde(default)]
    pub burst: Option<f64>,
}

/// A broadcast channel and its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// The bare channel id.
    pub id: i64,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// Seed of the channel's access hashes: each account sees its own
    /// ([`Scenario::access_hash`]); a hash of another account is refused with CHANNEL_INVALID.
    #[serde(default)]
    pub access_hash: Option<i64>,
    /// Message ids 1..=messages exist, minus `deleted_ids`.
    pub messages: i32,
    /// Ids that are service messages (pins, title changes): they have ids but no content.
    #[serde(default)]
    pub service_ids: Vec<i32>,
    /// Ids that were deleted: gaps in the history.
    #[serde(default)]
    pub deleted_ids: Vec<i32>,
    /// Messages edited after they were sent: their text now, and when it changed.
    #[serde(default)]
    pub edits: Vec<Edit>,
    /// Resolves, but its history answers CHANNEL_PRIVATE (the account was banned).
    #[serde(default)]
    pub private: bool,
    /// Unix time of message 1.
    #[serde(default = "default_first_date")]
    pub first_date: i64,
    /// Message n is sent `(n - 1) * interval_seconds` after message 1.
    #[serde(default = "default_interval")]
    pub interval_seconds: i64,
    /// Files that messages carry instead of their generated media; their content is
    /// [`crate::files::content`].
    #[serde(default)]
    pub files: Vec<File>,
}

/// A photo or document a message carries, downloadable with `upload.getFile`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// The id of the message carrying it.
    pub message: i32,
    /// The photo's or document's id; it seeds the content. Several messages (in any
    /// channels) may carry the same file, as forwards do: the same id and the same fields.
    pub id: i64,
    pub kind: FileKind,
    /// Bytes; a photo's largest size.
    pub size: u64,
    /// [`crate::files::default_mime_type`] of the kind when absent.
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    /// The DC holding it (the scenario's own when absent). Another DC is served on a port of
    /// its own; the client learns it from `help.getConfig` and signs in there with
    /// `auth.exportAuthorization` / `auth.importAuthorization`.
    #[serde(default)]
    pub dc_id: Option<i32>,
}

/// What a file is, as Telegram's media and document attributes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Photo,
    Video,
    /// A round video message.
    Round,
    /// A GIF, sent as a silent MP4.
    Animation,
    Voice,
    Audio,
    Sticker,
    Document,
}

impl File {
    pub fn new(message: i32, id: i64, kind: FileKind, size: u64) -> Self {
        Self {
            message,
            id,
            kind,
            size,
            mime_type: None,
            file_name: None,
            dc_id: None,
        }
    }

    /// Lives on DC `dc_id`.
    pub fn on_dc(mut self, dc_id: i32) -> Self {
        self.dc_id = Some(dc_id);
        self
    }

    pub fn mime_type(&self) -> &str {
        self.mime_type
            .as_deref()
            .unwrap_or_else(|| crate::files::default_mime_type(self.kind))
    }
}

fn default_first_date() -> i64 {
    DEFAULT_FIRST_DATE
}

fn default_interval() -> i64 {
    60
}

/// A message's edit: the whole text replaced (its formatting goes with it) at `edit_date`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub id: i32,
    pub text: String,
    /// Unix time of the edit.
    pub edit_date: i64,
}

/// A fault at the `nth` request (1-based, counted over the DC's lifetime) that matches
/// `method`, and `channel`/`account` when given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The TL name, e.g. `messages.getHistory` or `contacts.resolveUsername`.
    pub method: String,
    /// Only requests about this channel id count (its history, resolving its username).
    #[serde(default)]
    pub channel: Option<i64>,
    /// Only requests of this account (user id) count.
    #[serde(default)]
    pub account: Option<i64>,
    /// Only `upload.getFile` requests for this file id count (a fault "at part N").
    #[serde(default)]
    pub file: Option<i64>,
    pub nth: u32,
    pub fault: Fault,
}

/// What happens instead of the normal answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// 420 FLOOD_WAIT_<seconds>.
    FloodWait(u32),
    /// Any RPC error, e.g. `{"code": 400, "message": "CHANNEL_PRIVATE"}`.
    RpcError { code: i32, message: String },
    /// The account's session is revoked from this request on (401 AUTH_KEY_UNREGISTERED).
    Revoke,
    /// The DC forgets the account's auth key: this request gets transport error -404 and the
    /// connection closes, as do later connections with that key.
    ForgetKey,
    /// Half of the answer is written, then the TCP connection is closed.
    DropConnection,
    /// The answer is sent this many milliseconds late.
    Delay(u64),
    /// The request is never answered (a test kills or stops the client meanwhile).
    Hold,
    /// For `upload.getFile`: the file's reference rotates, this request and any later one
    /// with the old reference get 400 FILE_REFERENCE_EXPIRED; messages carry the new one.
    ExpireReference,
}

/// A scenario that cannot be served.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error("the scenario has no accounts")]
    NoAccounts,
    #[error("user id {0} is used by two accounts")]
    DuplicateAccount(i64),
    #[error("two accounts have the same auth key (user ids {0} and {1})")]
    DuplicateKey(i64, i64),
    #[error("channel id {0} is used twice")]
    DuplicateChannel(i64),
    #[error("username {0:?} is used by two channels")]
    DuplicateUsername(String),
    #[error("channel {id}: {problem}")]
    Channel { id: i64, problem: &'static str },
    #[error("account {0}: messages_per_second and burst must be positive")]
    Flood(i64),
    #[error("account {0}: a login needs a phone with digits and a code")]
    Login(i64),
    #[error("file {id}: {problem}")]
    File { id: i64, problem: &'static str },
    #[error("fault on {method:?}: {problem}")]
    Fault {
        method: String,
        problem: &'static str,
    },
}

impl Scenario {
    /// No accounts, no channels: add them with [`Self::account`] and [`Self::channel`].
    pub fn new() -> Self {
        Self {
            dc_id: DEFAULT_DC_ID,
            accounts: Vec::new(),
            channels: Vec::new(),
            faults: Vec::new(),
            gzip_from: Some(DEFAULT_GZIP_FROM),
        }
    }

    pub fn account(mut self, account: Account) -> Self {
        self.accounts.push(account);
        self
    }

    pub fn channel(mut self, channel: Channel) -> Self {
        self.channels.push(channel);
        self
    }

    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.faults.push(rule);
        self
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn check(&self) -> Result<(), ScenarioError> {
        if self.accounts.is_empty() {
            return Err(ScenarioError::NoAccounts);
        }
        let mut users = HashSet::new();
        for account in &self.accounts {
            if !users.insert(account.user_id) {
                return Err(ScenarioError::DuplicateAccount(account.user_id));
            }
            if let Some(flood) = account.flood {
                let burst = flood.burst.unwrap_or(flood.messages_per_second);
                if !(flood.messages_per_second > 0.0 && burst > 0.0) {
                    return Err(ScenarioError::Flood(account.user_id));
                }
            }
            if let Some(login) = &account.login
                && (!login.phone.chars().any(|c| c.is_ascii_digit()) || login.code.is_empty())
            {
                return Err(ScenarioError::Login(account.user_id));
            }
        }
        for (i, a) in self.accounts.iter().enumerate() {
            for b in &self.accounts[i + 1..] {
                if a.key() == b.key() {
                    return Err(ScenarioError::DuplicateKey(a.user_id, b.user_id));
                }
            }
        }
        let mut ids = HashSet::new();
        let mut usernames = HashSet::new();
        let mut files = HashMap::new();
        for channel in &self.channels {
            let problem = |problem| ScenarioError::Channel {
                id: channel.id,
                problem,
            };
            if !ids.insert(channel.id) {
                return Err(ScenarioError::DuplicateChannel(channel.id));
            }
            if channel.id <= 0 {
                return Err(problem("ids are positive (bare channel ids)"));
            }
            if channel.messages < 0 {
                return Err(problem("messages must not be negative"));
            }
            if channel.interval_seconds <= 0 {
                return Err(problem("interval_seconds must be positive"));
            }
            if let Some(username) = &channel.username
                && !usernames.insert(username.to_ascii_lowercase())
            {
                return Err(ScenarioError::DuplicateUsername(username.clone()));
            }
            self.check_files(channel, &mut files)?;
        }
        for rule in &self.faults {
            let problem = |problem| ScenarioError::Fault {
                method: rule.method.clone(),
                problem,
            };
            if !SERVED.contains(&rule.method.as_str()) {
                return Err(problem("not a request the fake DC serves"));
            }
            if rule.nth == 0 {
                return Err(problem("nth counts from 1"));
            }
        }
        Ok(())
    }

    fn check_files<'a>(
        &self,
        channel: &'a Channel,
        files: &mut HashMap<i64, &'a File>,
    ) -> Result<(), ScenarioError> {
        let mut messages = HashSet::new();
        for file in &channel.files {
            let problem = |problem| ScenarioError::File {
                id: file.id,
                problem,
            };
            // The same file on another message (a forward) is the same in all but the message.
            if let Some(seen) = files.insert(file.id, file)
                && (File {
                    message: file.message,
                    ..seen.clone()
                }) != *file
            {
                return Err(problem("the id names two different files"));
            }
            if !(1..=channel.messages).contains(&file.message)
                || channel.service_ids.contains(&file.message)
            {
                return Err(problem("its message is not a post of the channel"));
            }
            if !messages.insert(file.message) {
                return Err(problem("a message carries at most one file"));
            }
            if file.kind == FileKind::Photo && file.size == 0 {
                return Err(problem("a photo has at least one byte"));
            }
            if file.dc_id.is_some_and(|dc| !(1..=5).contains(&dc)) {
                return Err(problem("dc_id is one of Telegram's DCs 1 to 5"));
            }
        }
        Ok(())
    }

    /// Every DC the scenario serves: its own first, then the other DCs its files live on.
    pub fn dc_ids(&self) -> Vec<i32> {
        let mut ids = vec![self.dc_id];
        for file in self.channels.iter().flat_map(|c| &c.files) {
            if let Some(dc) = file.dc_id
                && !ids.contains(&dc)
            {
                ids.push(dc);
            }
        }
        ids
    }

    /// The access hash `user_id` sees for channel `channel_id`.
    pub fn access_hash(&self, channel_id: i64, user_id: i64) -> Option<i64> {
        let channel = self.channels.iter().find(|c| c.id == channel_id)?;
        Some(channel.access_hash_for(user_id))
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}

/// A 64-bit mix (splitmix64's finaliser): stable, well spread, not a secret.
pub(crate) fn mix(value: u64) -> i64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as i64
}

impl Account {
    pub fn new(user_id: i64) -> Self {
        Self {
            user_id,
            first_name: None,
            auth_key: None,
            flood: None,
            unregistered: false,
            login: None,
        }
    }

    /// Not signed in yet; logs in with `login`.
    pub fn logging_in(mut self, login: Login) -> Self {
        self.unregistered = true;
        self.login = Some(login);
        self
    }

    pub fn flood(mut self, messages_per_second: f64) -> Self {
        self.flood = Some(FloodLimit {
            messages_per_second,
            burst: None,
        });
        self
    }

    pub fn unregistered(mut self) -> Self {
        self.unregistered = true;
        self
    }

    /// The auth key: the scenario's, or one derived from the user id.
    pub fn key(&self) -> [u8; 256] {
        self.auth_key.unwrap_or_else(|| {
            let mut key = [0; 256];
            for (block, chunk) in key.chunks_mut(32).enumerate() {
                let digest: [u8; 32] = Sha256::new()
                    .chain_update(b"fake-dc auth key")
                    .chain_update(self.user_id.to_le_bytes())
                    .chain_update([block as u8])
                    .finalize()
                    .into();
                chunk.copy_from_slice(&digest);
            }
            key
        })
    }

    /// The account's auth key on DC `dc_id` of a scenario whose own DC is `home_dc`: the key
    /// on its own DC, one derived from it elsewhere (a fake cannot do the key exchange that
    /// makes it, so it is pre-shared like the first).
    pub fn key_in(&self, dc_id: i32, home_dc: i32) -> [u8; 256] {
        let home = self.key();
        if dc_id == home_dc {
            return home;
        }
        let mut key = [0; 256];
        for (block, chunk) in key.chunks_mut(32).enumerate() {
            let digest: [u8; 32] = Sha256::new()
                .chain_update(b"fake-dc auth key in another dc")
                .chain_update(home)
                .chain_update(dc_id.to_le_bytes())
                .chain_update([block as u8])
                .finalize()
                .into();
            chunk.copy_from_slice(&digest);
        }
        key
    }

    pub fn name(&self) -> String {
        self.first_name
            .clone()
            .unwrap_or_else(|| format!("Collector {}", self.user_id))
    }

    /// The account's own access hash (as its user object shows it).
    pub fn user_access_hash(&self) -> i64 {
        mix(self.user_id as u64)
    }
}

impl Channel {
    /// A public channel `@username` with messages 1..=messages.
    pub fn new(id: i64, username: &str, messages: i32) -> Self {
        Self {
            id,
            username: Some(username.to_owned()),
            title: None,
            access_hash: None,
            messages,
            service_ids: Vec::new(),
            deleted_ids: Vec::new(),
            edits: Vec::new(),
            private: false,
            first_date: DEFAULT_FIRST_DATE,
            interval_seconds: 60,
            files: Vec::new(),
        }
    }

    /// Message `file.message` carries `file`.
    pub fn file(mut self, file: File) -> Self {
        self.files.push(file);
        self
    }

    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }

    pub fn service(mut self, ids: impl IntoIterator<Item = i32>) -> Self {
        self.service_ids.extend(ids);
        self
    }

    pub fn deleted(mut self, ids: impl IntoIterator<Item = i32>) -> Self {
        self.deleted_ids.extend(ids);
        self
    }

    /// Message `id`'s text is now `text`, since `edit_date` (a later edit of it wins).
    pub fn edited(mut self, id: i32, text: &str, edit_date: i64) -> Self {
        self.edits.push(Edit {
            id,
            text: text.to_owned(),
            edit_date,
        });
        self
    }

    pub fn title(&self) -> String {
        self.title.clone().unwrap_or_else(|| match &self.username {
            Some(username) => format!("{username} news"),
            None => format!("Channel {}", self.id),
        })
    }

    /// The access hash account `user_id` sees.
    pub fn access_hash_for(&self, user_id: i64) -> i64 {
        let seed = self.access_hash.unwrap_or(self.id) as u64;
        mix(seed ^ mix(user_id as u64) as u64)
    }
}

impl FaultRule {
    pub fn new(method: &str, nth: u32, fault: Fault) -> Self {
        Self {
            method: method.to_owned(),
            channel: None,
            account: None,
            file: None,
            nth,
            fault,
        }
    }

    pub fn channel(mut self, channel_id: i64) -> Self {
        self.channel = Some(channel_id);
        self
    }

    pub fn account(mut self, user_id: i64) -> Self {
        self.account = Some(user_id);
        self
    }

    pub fn file(mut self, file_id: i64) -> Self {
        self.file = Some(file_id);
        self
    }
}

mod hex_key {
    use super::hex;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &Option<[u8; 256]>, s: S) -> Result<S::Ok, S::Error> {
        match key {
            Some(key) => s.serialize_some(&hex::to_hex(key)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 256]>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        hex::opt_from_hex(&text)
            .and_then(|bytes| <[u8; 256]>::try_from(bytes).ok())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("auth_key must be 512 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_scenario_reads_with_defaults() {
        let scenario = Scenario::from_json(
            r#"{
                "accounts": [{"user_id": 7, "flood": {"messages_per_second": 100}}],
                "channels": [{"id": 1001, "username": "alpha", "messages": 250}],
                "faults": [
                    {"method": "messages.getHistory", "channel": 1001, "nth": 2,
                     "fault": {"flood_wait": 30}},
                    {"method": "contacts.resolveUsername", "nth": 1, "fault": "drop_connection"},
                    {"method": "messages.getHistory", "nth": 5,
                     "fault": {"rpc_error": {"code": 400, "message": "CHANNEL_PRIVATE"}}}
                ]
            }"#,
        )
        .unwrap();
        scenario.check().unwrap();
        assert_eq!(scenario.dc_id, DEFAULT_DC_ID);
        assert_eq!(scenario.gzip_from, Some(DEFAULT_GZIP_FROM));
        assert_eq!(scenario.channels[0].interval_seconds, 60);
        assert_eq!(scenario.faults[0].fault, Fault::FloodWait(30));
        assert_eq!(scenario.faults[1].fault, Fault::DropConnection);
        let built = Scenario::new()
            .account(Account::new(7).flood(100.0))
            .channel(Channel::new(1001, "alpha", 250))
            .fault(FaultRule::new("messages.getHistory", 2, Fault::FloodWait(30)).channel(1001));
        assert_eq!(built.accounts, scenario.accounts);
        assert_eq!(built.channels, scenario.channels);
        assert_eq!(built.faults[0], scenario.faults[0]);
    }

    #[test]
    fn a_scenario_round_trips_through_json_with_its_keys() {
        let mut account = Account::new(7);
        account.auth_key = Some([3; 256]);
        let scenario = Scenario::new()
            .account(account)
            .channel(Channel::new(1, "alpha", 3));
        let text = serde_json::to_string(&scenario).unwrap();
        assert!(text.contains(&"03".repeat(256)));
        assert_eq!(Scenario::from_json(&text).unwrap(), scenario);
        let bad = text.replace(&"03".repeat(256), "0303");
        assert!(Scenario::from_json(&bad).is_err());
    }

    #[test]
    fn inconsistent_scenarios_are_refused() {
        let base = || Scenario::new().account(Account::new(1));
        assert_eq!(Scenario::new().check(), Err(ScenarioError::NoAccounts));
        assert_eq!(
            base().account(Account::new(1)).check(),
            Err(ScenarioError::DuplicateAccount(1))
        );
        assert_eq!(
            base()
                .channel(Channel::new(5, "Alpha", 1))
                .channel(Channel::new(6, "alpha", 1))
                .check(),
            Err(ScenarioError::DuplicateUsername("alpha".into()))
        );
        assert!(matches!(
            base().channel(Channel::new(5, "a", -1)).check(),
            Err(ScenarioError::Channel { id: 5, .. })
        ));
        assert!(matches!(
            base()
                .fault(FaultRule::new("messages.getHistroy", 1, Fault::Hold))
                .check(),
            Err(ScenarioError::Fault { .. })
        ));
        assert_eq!(
            base().account(Account::new(2).flood(0.0)).check(),
            Err(ScenarioError::Flood(2))
        );
        // One id on two messages is one file (a forward), never two different ones.
        let file = File::new(1, 42, FileKind::Voice, 10);
        let forwarded = |other: File| {
            base()
                .channel(Channel::new(5, "a", 3).file(file.clone()))
                .channel(Channel::new(6, "b", 3).file(other))
                .check()
        };
        assert_eq!(
            forwarded(File {
                message: 2,
                ..file.clone()
            }),
            Ok(())
        );
        assert!(matches!(
            forwarded(File {
                size: 11,
                ..file.clone()
            }),
            Err(ScenarioError::File { id: 42, .. })
        ));
    }

    #[test]
    fn a_login_reads_from_json_and_never_shows_its_code_or_password() {
        let scenario = Scenario::from_json(
            r#"{"accounts": [{"user_id": 7, "unregistered": true,
                "login": {"phone": "+49 151 0000001", "code": "24680",
                          "password": "correct horse", "hint": "horse"}}]}"#,
        )
        .unwrap();
        scenario.check().unwrap();
        let login = scenario.accounts[0].login.clone().unwrap();
        assert_eq!(login.code_ttl_seconds, DEFAULT_CODE_TTL_SECONDS);
        assert_eq!(
            Account::new(7).logging_in(
                Login::new("+49 151 0000001", "24680").password("correct horse", Some("horse"))
            ),
            scenario.accounts[0]
        );
        let shown = format!("{scenario:?}");
        assert!(
            !shown.contains("24680") && !shown.contains("correct horse"),
            "{shown}"
        );
        let no_code = Scenario::new().account(Account::new(7).logging_in(Login::new("+1", "")));
        assert_eq!(no_code.check(), Err(ScenarioError::Login(7)));
    }

    #[test]
    fn each_account_sees_its_own_stable_access_hash_and_key() {
        let scenario = Scenario::new()
            .account(Account::new(1))
            .account(Account::new(2))
            .channel(Channel::new(1001, "alpha", 1));
        let first = scenario.access_hash(1001, 1).unwrap();
        assert_ne!(first, scenario.access_hash(1001, 2).unwrap());
        assert_eq!(first, scenario.clone().access_hash(1001, 1).unwrap());
        assert_eq!(scenario.access_hash(9, 1), None);
        assert_ne!(scenario.accounts[0].key(), scenario.accounts[1].key());
        scenario.check().unwrap();
    }
}
