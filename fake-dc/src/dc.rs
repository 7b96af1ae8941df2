//! The datacenter's logic, without I/O: which account a key belongs to, what each request
//! answers, which fault or flood wait replaces the answer, and the log of everything served.
//! Time is a parameter.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use grammers_tl_types::{self as tl, Serializable};

use crate::answer;
use crate::crypto::AuthKey;
use crate::files;
use crate::flood::TokenBucket;
use crate::history::{Content, Media, Post};
use crate::history::{HistoryQuery, Timeline};
use crate::login::{self, LoginFlow, Refused};
use crate::rpc::{Call, Request};
use crate::scenario::{Account, Channel, Fault, FaultRule, File, Scenario};

/// Now, as the DC needs it.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// For flood limits.
    pub instant: Instant,
    /// Unix seconds, for dates in answers.
    pub unix: i32,
}

/// What a request got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The normal answer; for `messages.getHistory`, `messages` is the page's size.
    Answered {
        messages: usize,
    },
    Error {
        code: i32,
        message: String,
    },
    /// Half the answer was written, then the connection closed.
    Dropped,
    /// Transport error -404: the key is not known (any more).
    UnknownKey,
    /// Never answered.
    Held,
}

/// One request the DC received, for tests and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The account's user id.
    pub account: i64,
    pub method: &'static str,
    /// The channel the request is about, if any.
    pub channel: Option<i64>,
    /// `messages.getHistory`'s paging parameters.
    pub history: Option<HistoryQuery>,
    /// The ids a `messages.getHistory` answer held, newest first; for
    /// `channels.getMessages`, the ids that exist.
    pub ids: Vec<i32>,
    pub outcome: Outcome,
    /// The DC that served it.
    pub dc_id: i32,
    /// What an `upload.getFile` asked for.
    pub part: Option<Part>,
}

/// The part of a file an `upload.getFile` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub file_id: i64,
    pub offset: i64,
    pub limit: i32,
}

/// What to send back: the TL answer or an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Result(Vec<u8>),
    Error { code: i32, message: String },
}

/// When to send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Now,
    After(Duration),
    /// Write half of it, then close the connection.
    DropMidway,
    /// Instead of it, transport error -404 (auth key not found), then close the connection.
    UnknownKey,
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Not sent when the delivery is `Never` or `UnknownKey`.
    pub reply: Reply,
    pub delivery: Delivery,
}

struct AccountState {
    spec: Account,
    key: AuthKey,
    /// Its keys on the scenario's other DCs.
    other_keys: Vec<(i32, AuthKey)>,
    /// The other DCs it imported its authorization into.
    imported: Vec<i32>,
    revoked: bool,
    /// The DC no longer knows the key (transport error -404).
    forgotten: bool,
    bucket: Option<TokenBucket>,
    /// How it signs in, when the scenario says.
    login: Option<LoginFlow>,
}

struct ChannelState {
    spec: Channel,
    timeline: Timeline,
}

struct RuleState {
    rule: FaultRule,
    seen: u32,
}

/// The fake datacenter's state.
pub struct Dc {
    dc_id: i32,
    /// Every DC served, with its address once listening (for `help.getConfig`).
    addresses: Vec<(i32, SocketAddr)>,
    /// How often each file's reference was expired (absent: never).
    expiries: HashMap<i64, u32>,
    accounts: Vec<AccountState>,
    channels: Vec<ChannelState>,
    rules: Vec<RuleState>,
    served: Vec<Served>,
}

/// What `auth.exportAuthorization` hands out for `user_id` to import on DC `dc_id`.
fn exported(user_id: i64, dc_id: i32) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::new()
        .chain_update(b"fake-dc exported authorization")
        .chain_update(user_id.to_le_bytes())
        .chain_update(dc_id.to_le_bytes())
        .finalize()
        .to_vec()
}

/// `messages.getHistory`'s paging parameters.
fn query(request: &tl::functions::messages::GetHistory) -> HistoryQuery {
    HistoryQuery {
        offset_id: request.offset_id,
        offset_date: request.offset_date,
        add_offset: request.add_offset,
        limit: request.limit,
        max_id: request.max_id,
        min_id: request.min_id,
    }
}

fn error(code: i32, message: impl Into<String>) -> Reply {
    Reply::Error {
        code,
        message: message.into(),
    }
}

impl Dc {
    /// `scenario` must have passed [`Scenario::check`].
    pub fn new(scenario: &Scenario, now: Instant) -> Self {
        let other_dcs: Vec<i32> = scenario.dc_ids().into_iter().skip(1).collect();
        Self {
            dc_id: scenario.dc_id,
            addresses: Vec::new(),
            expiries: HashMap::new(),
            accounts: scenario
                .accounts
                .iter()
                .map(|spec| AccountState {
                    key: AuthKey::new(spec.key()),
                    other_keys: other_dcs
                        .iter()
                        .map(|&dc| (dc, AuthKey::new(spec.key_in(dc, scenario.dc_id))))
                        .collect(),
                    imported: Vec::new(),
                    revoked: spec.unregistered,
                    forgotten: false,
                    bucket: spec.flood.map(|limit| TokenBucket::new(limit, now)),
                    login: spec
                        .login
                        .clone()
                        .map(|login| LoginFlow::new(spec.user_id, login)),
                    spec: spec.clone(),
                })
                .collect(),
            channels: scenario
                .channels
                .iter()
                .map(|spec| ChannelState {
                    timeline: Timeline::new(spec),
                    spec: spec.clone(),
                })
                .collect(),
            rules: scenario
                .faults
                .iter()
                .map(|rule| RuleState {
                    rule: rule.clone(),
                    seen: 0,
                })
                .collect(),
            served: Vec::new(),
        }
    }

    /// The account whose auth key (on the scenario's own DC) has this id.
    pub fn account_for_key(&self, key_id: i64) -> Option<(usize, AuthKey)> {
        self.account_for_key_in(self.dc_id, key_id)
    }

    /// The account whose auth key on DC `dc_id` has this id.
    pub fn account_for_key_in(&self, dc_id: i32, key_id: i64) -> Option<(usize, AuthKey)> {
        self.accounts.iter().enumerate().find_map(|(i, a)| {
            let key = if dc_id == self.dc_id {
                Some(&a.key)
            } else {
                a.other_keys
                    .iter()
                    .find(|(dc, _)| *dc == dc_id)
                    .map(|(_, key)| key)
            }?;
            (key.id() == key_id && !a.forgotten).then(|| (i, key.clone()))
        })
    }

    /// Where each DC listens, for `help.getConfig`.
    pub fn set_addresses(&mut self, addresses: Vec<(i32, SocketAddr)>) {
        self.addresses = addresses;
    }

    /// A fault rule armed now: its `nth` counts from here.
    pub fn arm(&mut self, rule: FaultRule) {
        self.rules.push(RuleState { rule, seen: 0 });
    }

    /// Rotates the file reference of file `file_id`: messages carry a new one from now on
    /// and `upload.getFile` refuses the old one with FILE_REFERENCE_EXPIRED.
    pub fn expire_reference(&mut self, file_id: i64) {
        *self.expiries.entry(file_id).or_default() += 1;
    }

    /// The reference messages carry for file `file_id` now.
    pub fn reference(&self, file_id: i64) -> Vec<u8> {
        files::reference(file_id, self.expiries.get(&file_id).copied().unwrap_or(0))
    }

    /// The file with this photo or document id, while a message carries it (scenario files,
    /// forwarded ones on any of their messages, and the generated photos and videos alike).
    pub fn file(&self, file_id: i64) -> Option<File> {
        let carried = self.channels.iter().find_map(|channel| {
            channel
                .spec
                .files
                .iter()
                .find(|f| f.id == file_id && channel.timeline.exists(f.message))
        });
        if let Some(file) = carried {
            return Some(file.clone());
        }
        // Generated media: channel id * 1,000,000 + message id.
        let channel = self.channel(file_id / 1_000_000)?;
        let message = i32::try_from(file_id % 1_000_000).ok()?;
        channel.timeline.file(message).filter(|f| f.id == file_id)
    }

    /// Message `id` of `channel` as it is served now: its file with the current reference and
    /// the DC it lives on.
    fn served_post(&self, channel: &ChannelState, id: i32) -> Post {
        let mut post = channel.timeline.post(id);
        if let Some(Content {
            media: Some(Media::File { file, reference }),
            ..
        }) = &mut post.content
        {
            *reference = self.reference(file.id);
            file.dc_id.get_or_insert(self.dc_id);
        }
        post
    }

    pub fn served(&self) -> &[Served] {
        &self.served
    }

    /// Appends `count` messages to a channel; false when there is no such channel.
    pub fn post(&mut self, channel_id: i64, count: i32) -> bool {
        self.change(channel_id, |spec| spec.messages += count)
    }

    /// Edits message `id` of a channel: its text is now `text`, since `edit_date`; false when
    /// there is no such channel.
    pub fn edit(&mut self, channel_id: i64, id: i32, text: &str, edit_date: i64) -> bool {
        self.change(channel_id, |spec| {
            spec.edits.push(crate::scenario::Edit {
                id,
                text: text.to_owned(),
                edit_date,
            })
        })
    }

    /// Deletes messages of a channel (their ids stay used); false when there is no such
    /// channel.
    pub fn delete(&mut self, channel_id: i64, ids: &[i32]) -> bool {
        self.change(channel_id, |spec| spec.deleted_ids.extend_from_slice(ids))
    }

    fn change(&mut self, channel_id: i64, change: impl FnOnce(&mut Channel)) -> bool {
        let Some(channel) = self.channels.iter_mut().find(|c| c.spec.id == channel_id) else {
            return false;
        };
        change(&mut channel.spec);
        channel.timeline = Timeline::new(&channel.spec);
        true
    }

    /// A channel's history as it is now.
    pub fn timeline(&self, channel_id: i64) -> Option<Timeline> {
        self.channel(channel_id).map(|c| c.timeline.clone())
    }

    fn channel(&self, id: i64) -> Option<&ChannelState> {
        self.channels.iter().find(|c| c.spec.id == id)
    }

    /// Answers `request` from account number `account` (from [`Self::account_for_key`]) on
    /// the scenario's own DC.
    pub fn handle(&mut self, account: usize, request: &Request, now: Now) -> Answer {
        self.handle_in(self.dc_id, account, request, now)
    }

    /// Answers `request` from account number `account` on DC `dc_id`.
    pub fn handle_in(&mut self, dc_id: i32, account: usize, request: &Request, now: Now) -> Answer {
        let channel = self.subject(&request.call);
        let part = match &request.call {
            Call::GetFile(get) => files::location_id(&get.location).map(|file_id| Part {
                file_id,
                offset: get.offset,
                limit: get.limit,
            }),
            _ => None,
        };
        let user_id = self.accounts[account].spec.user_id;
        let method = request.call.method();
        let fault = self.fault(user_id, method, channel, part.map(|p| p.file_id));
        let mut ids = Vec::new();
        let answer = self.answer(dc_id, account, request, fault, now, &mut ids);
        let outcome = match (&answer.reply, answer.delivery) {
            (_, Delivery::Never) => Outcome::Held,
            (_, Delivery::DropMidway) => Outcome::Dropped,
            (_, Delivery::UnknownKey) => Outcome::UnknownKey,
            (Reply::Error { code, message }, _) => {
                tracing::info!(account = user_id, method, code, %message, "rpc error");
                Outcome::Error {
                    code: *code,
                    message: message.clone(),
                }
            }
            (Reply::Result(_), _) => Outcome::Answered {
                messages: ids.len(),
            },
        };
        self.served.push(Served {
            account: user_id,
            method,
            channel,
            history: match &request.call {
                Call::GetHistory(h) => Some(query(h)),
                _ => None,
            },
            ids,
            outcome,
            dc_id,
            part,
        });
        answer
    }

    /// The channel a request is about, for fault rules and the log.
    fn subject(&self, call: &Call) -> Option<i64> {
        match call {
            Call::GetHistory(h) => match &h.peer {
                tl::enums::InputPeer::Channel(c) => Some(c.channel_id),
                _ => None,
            },
            Call::ResolveUsername(name) => self.by_username(name).map(|c| c.spec.id),
            Call::GetChannels(ids) => ids.iter().find_map(|c| match c {
                tl::enums::InputChannel::Channel(c) => Some(c.channel_id),
                _ => None,
            }),
            Call::GetMessages(m) => match &m.channel {
                tl::enums::InputChannel::Channel(c) => Some(c.channel_id),
                _ => None,
            },
            _ => None,
        }
    }

    fn by_username(&self, name: &str) -> Option<&ChannelState> {
        self.channels.iter().find(|c| {
            c.spec
                .username
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(name))
        })
    }

    /// Counts the request against every matching rule; the first rule at its `nth` fires.
    fn fault(
        &mut self,
        user_id: i64,
        method: &str,
        channel: Option<i64>,
        file: Option<i64>,
    ) -> Option<Fault> {
        let mut fired = None;
        for state in &mut self.rules {
            let rule = &state.rule;
            let matches = rule.method == method
                && rule.channel.is_none_or(|c| Some(c) == channel)
                && rule.account.is_none_or(|a| a == user_id)
                && rule.file.is_none_or(|f| Some(f) == file);
            if matches {
                state.seen += 1;
                if state.seen == rule.nth && fired.is_none() {
                    fired = Some(rule.fault.clone());
                }
            }
        }
        fired
    }

    fn answer(
        &mut self,
        dc_id: i32,
        account: usize,
        request: &Request,
        fault: Option<Fault>,
        now: Now,
        ids: &mut Vec<i32>,
    ) -> Answer {
        let now_answer = |reply| Answer {
            reply,
            delivery: Delivery::Now,
        };
        let mut delivery = Delivery::Now;
        match fault {
            Some(Fault::FloodWait(seconds)) => {
                return now_answer(error(420, format!("FLOOD_WAIT_{seconds}")));
            }
            Some(Fault::RpcError { code, message }) => return now_answer(error(code, message)),
            Some(Fault::Revoke) => self.accounts[account].revoked = true,
            Some(Fault::ForgetKey) => {
                self.accounts[account].forgotten = true;
                return Answer {
                    reply: error(404, "AUTH_KEY_NOT_FOUND"),
                    delivery: Delivery::UnknownKey,
                };
            }
            Some(Fault::Hold) => {
                return Answer {
                    reply: error(500, "HELD"),
                    delivery: Delivery::Never,
                };
            }
            Some(Fault::Delay(millis)) => delivery = Delivery::After(Duration::from_millis(millis)),
            Some(Fault::DropConnection) => delivery = Delivery::DropMidway,
            Some(Fault::ExpireReference) => {
                if let Call::GetFile(get) = &request.call
                    && let Some(file_id) = files::location_id(&get.location)
                {
                    self.expire_reference(file_id);
                }
            }
            None => {}
        }
        if dc_id == self.dc_id
            && let Some(result) = self.login_step(account, &request.call, now)
        {
            let reply = match result {
                Ok(bytes) => Reply::Result(bytes),
                Err(refused) => error(refused.code, refused.message),
            };
            return Answer { reply, delivery };
        }
        // help.getConfig works before login, as on Telegram; on another DC, so does importing
        // the authorization exported at home.
        let state = &self.accounts[account];
        let signed_in = !state.revoked && (dc_id == self.dc_id || state.imported.contains(&dc_id));
        let allowed = matches!(
            request.call,
            Call::GetConfig | Call::ImportAuthorization { .. }
        );
        if !signed_in && !allowed {
            return Answer {
                reply: error(401, "AUTH_KEY_UNREGISTERED"),
                delivery,
            };
        }
        let reply = match self.result(dc_id, account, &request.call, now, ids) {
            Ok(bytes) => {
                let cost = ids.len().max(1) as f64;
                match &mut self.accounts[account].bucket {
                    Some(bucket) => match bucket.take(cost, now.instant) {
                        Ok(()) => Reply::Result(bytes),
                        Err(seconds) => {
                            ids.clear();
                            error(420, format!("FLOOD_WAIT_{seconds}"))
                        }
                    },
                    None => Reply::Result(bytes),
                }
            }
            Err(reply) => reply,
        };
        Answer { reply, delivery }
    }

    /// The login calls, served before the account is signed in (they are how it signs in);
    /// `None` for any other call. A successful sign-in registers the account's key.
    fn login_step(
        &mut self,
        account: usize,
        call: &Call,
        now: Now,
    ) -> Option<Result<Vec<u8>, Refused>> {
        let state = &mut self.accounts[account];
        let user_id = state.spec.user_id;
        let no_login = || {
            tracing::warn!(
                account = user_id,
                "a login call for an account the scenario gives no login"
            );
        };
        let signed_in = match call {
            Call::SendCode { phone } => {
                let Some(flow) = &mut state.login else {
                    no_login();
                    return Some(Err(login::PHONE_NUMBER_INVALID));
                };
                let sent = flow.send_code(phone, now.instant).map(|hash| {
                    answer::sent_code(hash, login::code_length(flow.spec())).to_bytes()
                });
                return Some(sent);
            }
            Call::GetPassword => {
                let answered = state.login.as_ref().map_or(0, LoginFlow::challenges);
                let secure_random = login::secure_random(user_id, answered);
                let info = state.login.as_mut().and_then(LoginFlow::password);
                return Some(Ok(answer::password(info, secure_random).to_bytes()));
            }
            Call::SignIn {
                phone,
                phone_code_hash,
                code,
            } => match &mut state.login {
                None => {
                    no_login();
                    Err(login::PHONE_NUMBER_INVALID)
                }
                Some(flow) => flow.sign_in(
                    phone,
                    phone_code_hash,
                    code.as_ref().map(|code| code.0.as_str()),
                    now.instant,
                ),
            },
            Call::CheckPassword { srp_id, g_a, m1 } => match &mut state.login {
                None => Err(login::SRP_ID_INVALID),
                Some(flow) => flow.check_password(*srp_id, g_a, m1),
            },
            _ => return None,
        };
        Some(signed_in.map(|()| {
            tracing::info!(account = user_id, "signed in");
            state.revoked = false;
            answer::authorization(&state.spec).to_bytes()
        }))
    }

    /// The normal answer, serialized, or the error Telegram gives for this request.
    fn result(
        &mut self,
        dc_id: i32,
        account: usize,
        call: &Call,
        now: Now,
        ids: &mut Vec<i32>,
    ) -> Result<Vec<u8>, Reply> {
        match call {
            Call::ExportAuthorization { dc_id: to } => {
                if *to == dc_id || !self.addresses.iter().any(|(dc, _)| dc == to) {
                    return Err(error(400, "DC_ID_INVALID"));
                }
                let user_id = self.accounts[account].spec.user_id;
                return Ok(tl::enums::auth::ExportedAuthorization::Authorization(
                    tl::types::auth::ExportedAuthorization {
                        id: user_id,
                        bytes: exported(user_id, *to),
                    },
                )
                .to_bytes());
            }
            Call::ImportAuthorization { user_id, bytes } => {
                let state = &mut self.accounts[account];
                if *user_id != state.spec.user_id || bytes.0 != exported(*user_id, dc_id) {
                    return Err(error(400, "AUTH_BYTES_INVALID"));
                }
                if !state.imported.contains(&dc_id) {
                    state.imported.push(dc_id);
                }
                return Ok(answer::authorization(&state.spec).to_bytes());
            }
            Call::GetFile(get) => {
                let file = files::location_id(&get.location).and_then(|id| self.file(id));
                let Some(file) = file else {
                    return Err(error(400, "LOCATION_INVALID"));
                };
                let reference = self.reference(file.id);
                return files::part(get, &file, &reference, dc_id, self.dc_id, now.unix)
                    .map(|part| part.to_bytes())
                    .map_err(|(code, message)| error(code, message));
            }
            _ => {}
        }
        let me = &self.accounts[account].spec;
        let is_me = |user: &tl::enums::InputUser| match user {
            tl::enums::InputUser::UserSelf => true,
            tl::enums::InputUser::User(u) => u.user_id == me.user_id,
            _ => false,
        };
        Ok(match call {
            Call::GetConfig => answer::config(dc_id, &self.addresses, now.unix).to_bytes(),
            Call::GetState => answer::state(now.unix).to_bytes(),
            Call::GetDifference => answer::difference_empty(now.unix).to_bytes(),
            Call::GetUsers(users) => users
                .iter()
                .map(|u| match u {
                    u if is_me(u) => answer::user(me),
                    tl::enums::InputUser::User(u) => {
                        tl::enums::User::Empty(tl::types::UserEmpty { id: u.user_id })
                    }
                    _ => tl::enums::User::Empty(tl::types::UserEmpty { id: 0 }),
                })
                .collect::<Vec<_>>()
                .to_bytes(),
            Call::GetFullUser(user) if is_me(user) => answer::user_full(me).to_bytes(),
            Call::GetFullUser(_) => return Err(error(400, "USER_ID_INVALID")),
            Call::ResolveUsername(name) => {
                let Some(channel) = self.by_username(name) else {
                    return Err(error(400, "USERNAME_NOT_OCCUPIED"));
                };
                tl::enums::contacts::ResolvedPeer::Peer(tl::types::contacts::ResolvedPeer {
                    peer: tl::enums::Peer::Channel(tl::types::PeerChannel {
                        channel_id: channel.spec.id,
                    }),
                    chats: vec![self.chat(channel, me.user_id)],
                    users: Vec::new(),
                })
                .to_bytes()
            }
            Call::GetDialogs(request) => self.dialogs(me, request).to_bytes(),
            Call::GetHistory(request) => self.history(me.user_id, request, ids)?.to_bytes(),
            Call::GetChannels(inputs) => {
                let mut chats = Vec::with_capacity(inputs.len());
                for input in inputs {
                    let channel = match input {
                        tl::enums::InputChannel::Channel(c) => {
                            self.checked(c.channel_id, c.access_hash, me.user_id)?
                        }
                        _ => return Err(error(400, "CHANNEL_INVALID")),
                    };
                    chats.push(self.chat(channel, me.user_id));
                }
                tl::enums::messages::Chats::Chats(tl::types::messages::Chats { chats }).to_bytes()
            }
            Call::GetMessages(request) => self.by_id(me.user_id, request, ids)?.to_bytes(),
            Call::ExportAuthorization { .. }
            | Call::ImportAuthorization { .. }
            | Call::GetFile(_) => unreachable!("answered above"),
            Call::SendCode { .. }
            | Call::SignIn { .. }
            | Call::GetPassword
            | Call::CheckPassword { .. } => unreachable!("login calls are served by login_step"),
            Call::Unsupported { constructor } => {
                tracing::warn!(
                    method = tl::name_for_id(*constructor),
                    constructor = format_args!("{constructor:08x}"),
                    "request not served by the fake DC"
                );
                return Err(error(400, "INPUT_METHOD_INVALID"));
            }
            Call::Malformed { constructor } => {
                tracing::warn!(
                    method = tl::name_for_id(*constructor),
                    "request body did not parse (another TL layer?)"
                );
                return Err(error(400, "INPUT_FETCH_ERROR"));
            }
        })
    }

    fn chat(&self, channel: &ChannelState, user_id: i64) -> tl::enums::Chat {
        let last = channel.timeline.last_id();
        let date = if last > 0 {
            channel.timeline.date(last)
        } else {
            channel.spec.first_date
        };
        answer::channel(
            &channel.spec,
            user_id,
            i32::try_from(date).unwrap_or(i32::MAX),
        )
    }

    /// The channel `channel_id` if `access_hash` is the one `user_id` was given.
    fn checked(
        &self,
        channel_id: i64,
        access_hash: i64,
        user_id: i64,
    ) -> Result<&ChannelState, Reply> {
        match self.channel(channel_id) {
            Some(channel) if channel.spec.access_hash_for(user_id) == access_hash => Ok(channel),
            // Unknown, or a hash another account was given: Telegram says the same.
            _ => Err(error(400, "CHANNEL_INVALID")),
        }
    }

    fn history(
        &self,
        user_id: i64,
        request: &tl::functions::messages::GetHistory,
        ids: &mut Vec<i32>,
    ) -> Result<tl::enums::messages::Messages, Reply> {
        let tl::enums::InputPeer::Channel(peer) = &request.peer else {
            return Err(error(400, "PEER_ID_INVALID"));
        };
        let channel = self.checked(peer.channel_id, peer.access_hash, user_id)?;
        if channel.spec.private {
            return Err(error(400, "CHANNEL_PRIVATE"));
        }
        let page = channel.timeline.page(&query(request));
        let messages = page
            .ids
            .iter()
            .map(|id| answer::message(channel.spec.id, &self.served_post(channel, *id)))
            .collect();
        ids.clone_from(&page.ids);
        Ok(tl::enums::messages::Messages::ChannelMessages(
            tl::types::messages::ChannelMessages {
                inexact: false,
                pts: channel.timeline.last_id(),
                count: page.count,
                offset_id_offset: page.offset_id_offset,
                messages,
                topics: Vec::new(),
                chats: vec![self.chat(channel, user_id)],
                users: Vec::new(),
            },
        ))
    }

    /// `channels.getMessages`: the messages as they are now, `messageEmpty` for an id that
    /// does not exist (deleted or never sent), as Telegram answers.
    fn by_id(
        &self,
        user_id: i64,
        request: &tl::functions::channels::GetMessages,
        ids: &mut Vec<i32>,
    ) -> Result<tl::enums::messages::Messages, Reply> {
        let tl::enums::InputChannel::Channel(input) = &request.channel else {
            return Err(error(400, "CHANNEL_INVALID"));
        };
        let channel = self.checked(input.channel_id, input.access_hash, user_id)?;
        if channel.spec.private {
            return Err(error(400, "CHANNEL_PRIVATE"));
        }
        let mut messages = Vec::with_capacity(request.id.len());
        for input in &request.id {
            let tl::enums::InputMessage::Id(input) = input else {
                // Replies, pins and callback queries are not how the collector asks.
                return Err(error(400, "INPUT_CONSTRUCTOR_INVALID"));
            };
            if channel.timeline.exists(input.id) {
                ids.push(input.id);
                messages.push(answer::message(
                    channel.spec.id,
                    &self.served_post(channel, input.id),
                ));
            } else {
                messages.push(answer::empty_message(channel.spec.id, input.id));
            }
        }
        Ok(tl::enums::messages::Messages::ChannelMessages(
            tl::types::messages::ChannelMessages {
                inexact: false,
                pts: channel.timeline.last_id(),
                count: messages.len() as i32,
                offset_id_offset: None,
                messages,
                topics: Vec::new(),
                chats: vec![self.chat(channel, user_id)],
                users: Vec::new(),
            },
        ))
    }

    /// Every channel is in every account's dialogs, newest first. One page holds them all
    /// unless there are more than `limit`; later pages start after `offset_peer`.
    fn dialogs(
        &self,
        me: &Account,
        request: &tl::functions::messages::GetDialogs,
    ) -> tl::enums::messages::Dialogs {
        let mut channels: Vec<&ChannelState> = self.channels.iter().collect();
        channels.sort_by_key(|c| std::cmp::Reverse(c.timeline.date(c.timeline.last_id().max(1))));
        let after = match &request.offset_peer {
            tl::enums::InputPeer::Channel(peer) => channels
                .iter()
                .position(|c| c.spec.id == peer.channel_id)
                .map_or(0, |i| i + 1),
            _ => 0,
        };
        let limit = match request.limit {
            limit if limit <= 0 => 100,
            limit => limit as usize,
        };
        let total = channels.len();
        let page: Vec<&ChannelState> = channels.into_iter().skip(after).take(limit).collect();
        let top = |c: &ChannelState| {
            let mut id = c.timeline.last_id();
            while id > 0 && !c.timeline.exists(id) {
                id -= 1;
            }
            id
        };
        let dialogs = page
            .iter()
            .map(|c| answer::dialog(c.spec.id, top(c)))
            .collect();
        let messages = page
            .iter()
            .filter(|c| top(c) > 0)
            .map(|c| answer::message(c.spec.id, &self.served_post(c, top(c))))
            .collect();
        let chats = page.iter().map(|c| self.chat(c, me.user_id)).collect();
        let users = vec![answer::user(me)];
        if after == 0 && page.len() == total {
            tl::enums::messages::Dialogs::Dialogs(tl::types::messages::Dialogs {
                dialogs,
                messages,
                chats,
                users,
            })
        } else {
            tl::enums::messages::Dialogs::Slice(tl::types::messages::DialogsSlice {
                count: total as i32,
                dialogs,
                messages,
                chats,
                users,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_tl_types::Deserializable;

    const ALPHA: i64 = 1001;

    fn scenario() -> Scenario {
        Scenario::new()
            .account(Account::new(1))
            .account(Account::new(2))
            .channel(Channel::new(ALPHA, "alpha", 250))
            .channel(Channel::new(1002, "secret", 5).private())
    }

    fn now() -> Now {
        Now {
            instant: Instant::now(),
            unix: 1_800_000_000,
        }
    }

    fn request(call: Call) -> Request {
        Request {
            call,
            layer: None,
            api_id: None,
        }
    }

    fn history(channel_id: i64, access_hash: i64, offset_id: i32) -> Call {
        Call::GetHistory(tl::functions::messages::GetHistory {
            peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
                channel_id,
                access_hash,
            }),
            offset_id,
            offset_date: 0,
            add_offset: -100,
            limit: 100,
            max_id: 0,
            min_id: offset_id - 1,
            hash: 0,
        })
    }

    fn error_of(answer: &Answer) -> Option<(i32, &str)> {
        match &answer.reply {
            Reply::Error { code, message } => Some((*code, message.as_str())),
            Reply::Result(_) => None,
        }
    }

    fn ids(answer: &Answer) -> Vec<i32> {
        let Reply::Result(bytes) = &answer.reply else {
            panic!("{answer:?}");
        };
        let tl::enums::messages::Messages::ChannelMessages(page) =
            tl::enums::messages::Messages::from_bytes(bytes).unwrap()
        else {
            panic!("channel messages");
        };
        page.messages.iter().map(|m| m.id()).collect()
    }

    #[test]
    fn history_needs_the_asking_accounts_own_access_hash() {
        let scenario = scenario();
        let mut dc = Dc::new(&scenario, Instant::now());
        let mine = scenario.access_hash(ALPHA, 1).unwrap();
        let theirs = scenario.access_hash(ALPHA, 2).unwrap();

        let answer = dc.handle(0, &request(history(ALPHA, mine, 1)), now());
        assert_eq!(ids(&answer), (1..=100).rev().collect::<Vec<_>>());
        let refused = dc.handle(0, &request(history(ALPHA, theirs, 1)), now());
        assert_eq!(error_of(&refused), Some((400, "CHANNEL_INVALID")));
        assert_eq!(
            ids(&dc.handle(1, &request(history(ALPHA, theirs, 1)), now())).len(),
            100
        );

        let secret = scenario.access_hash(1002, 1).unwrap();
        let private = dc.handle(0, &request(history(1002, secret, 1)), now());
        assert_eq!(error_of(&private), Some((400, "CHANNEL_PRIVATE")));
        assert_eq!(
            dc.served()
                .iter()
                .map(|s| (s.account, &s.outcome))
                .collect::<Vec<_>>(),
            vec![
                (1, &Outcome::Answered { messages: 100 }),
                (
                    1,
                    &Outcome::Error {
                        code: 400,
                        message: "CHANNEL_INVALID".into()
                    }
                ),
                (2, &Outcome::Answered { messages: 100 }),
                (
                    1,
                    &Outcome::Error {
                        code: 400,
                        message: "CHANNEL_PRIVATE".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn usernames_resolve_case_insensitively_or_are_not_occupied() {
        let mut dc = Dc::new(&scenario(), Instant::now());
        let answer = dc.handle(0, &request(Call::ResolveUsername("ALPHA".into())), now());
        let Reply::Result(bytes) = answer.reply else {
            panic!("resolved");
        };
        let tl::enums::contacts::ResolvedPeer::Peer(resolved) =
            tl::enums::contacts::ResolvedPeer::from_bytes(&bytes).unwrap();
        let tl::enums::Chat::Channel(channel) = &resolved.chats[0] else {
            panic!("a channel");
        };
        assert_eq!(
            (channel.id, channel.access_hash),
            (ALPHA, scenario().access_hash(ALPHA, 1))
        );
        let unknown = dc.handle(0, &request(Call::ResolveUsername("nobody".into())), now());
        assert_eq!(error_of(&unknown), Some((400, "USERNAME_NOT_OCCUPIED")));
        assert_eq!(dc.served()[0].channel, Some(ALPHA));
    }

    #[test]
    fn faults_fire_at_the_nth_matching_request_only() {
        let scenario = scenario()
            .fault(FaultRule::new("messages.getHistory", 2, Fault::FloodWait(30)).channel(ALPHA))
            .fault(FaultRule::new("messages.getHistory", 3, Fault::DropConnection).account(1))
            .fault(FaultRule::new("messages.getHistory", 4, Fault::Delay(250)))
            .fault(FaultRule::new("messages.getHistory", 5, Fault::Hold));
        let mut dc = Dc::new(&scenario, Instant::now());
        let hash = scenario.access_hash(ALPHA, 1).unwrap();
        let mut next = || dc.handle(0, &request(history(ALPHA, hash, 1)), now());
        assert_eq!(next().delivery, Delivery::Now);
        assert_eq!(error_of(&next()), Some((420, "FLOOD_WAIT_30")));
        assert_eq!(next().delivery, Delivery::DropMidway);
        assert_eq!(next().delivery, Delivery::After(Duration::from_millis(250)));
        assert_eq!(next().delivery, Delivery::Never);
        assert_eq!(next().delivery, Delivery::Now);
        let outcomes: Vec<_> = dc.served().iter().map(|s| s.outcome.clone()).collect();
        assert_eq!(outcomes[2], Outcome::Dropped);
        assert_eq!(outcomes[4], Outcome::Held);
    }

    #[test]
    fn a_revoked_or_unregistered_key_gets_401_but_still_the_config() {
        let scenario = scenario()
            .account(Account::new(3).unregistered())
            .fault(FaultRule::new("updates.getState", 2, Fault::Revoke).account(1));
        let mut dc = Dc::new(&scenario, Instant::now());
        let state = || request(Call::GetState);
        assert_eq!(
            error_of(&dc.handle(2, &state(), now())),
            Some((401, "AUTH_KEY_UNREGISTERED"))
        );
        assert_eq!(
            error_of(&dc.handle(2, &request(Call::GetConfig), now())),
            None
        );
        assert_eq!(error_of(&dc.handle(0, &state(), now())), None);
        assert_eq!(
            error_of(&dc.handle(0, &state(), now())),
            Some((401, "AUTH_KEY_UNREGISTERED"))
        );
        assert_eq!(
            error_of(&dc.handle(0, &state(), now())),
            Some((401, "AUTH_KEY_UNREGISTERED"))
        );
        assert_eq!(
            error_of(&dc.handle(1, &state(), now())),
            None,
            "other accounts go on"
        );
    }

    #[test]
    fn a_forgotten_key_is_unknown_from_then_on() {
        let scenario = scenario().fault(FaultRule::new("updates.getState", 1, Fault::ForgetKey));
        let mut dc = Dc::new(&scenario, Instant::now());
        let key_id = crate::crypto::AuthKey::new(scenario.accounts[0].key()).id();
        assert_eq!(dc.account_for_key(key_id).map(|(i, _)| i), Some(0));
        let answer = dc.handle(0, &request(Call::GetState), now());
        assert_eq!(answer.delivery, Delivery::UnknownKey);
        assert_eq!(dc.served()[0].outcome, Outcome::UnknownKey);
        assert!(dc.account_for_key(key_id).is_none());
    }

    #[test]
    fn an_account_over_its_flood_limit_is_told_how_long_to_wait() {
        let scenario = Scenario::new()
            .account(Account::new(1).flood(100.0))
            .channel(Channel::new(ALPHA, "alpha", 1000));
        let mut dc = Dc::new(&scenario, Instant::now());
        let hash = scenario.access_hash(ALPHA, 1).unwrap();
        let start = Instant::now();
        let at = |ms| Now {
            instant: start + Duration::from_millis(ms),
            unix: 0,
        };
        assert_eq!(
            ids(&dc.handle(0, &request(history(ALPHA, hash, 1)), at(0))).len(),
            100
        );
        let refused = dc.handle(0, &request(history(ALPHA, hash, 101)), at(100));
        assert_eq!(error_of(&refused), Some((420, "FLOOD_WAIT_1")));
        assert!(dc.served()[1].ids.is_empty());
        assert_eq!(
            ids(&dc.handle(0, &request(history(ALPHA, hash, 101)), at(1000))).len(),
            100
        );
    }

    #[test]
    fn the_account_learns_who_it_is() {
        let mut dc = Dc::new(&scenario(), Instant::now());
        let answer = dc.handle(
            1,
            &request(Call::GetUsers(vec![tl::enums::InputUser::UserSelf])),
            now(),
        );
        let Reply::Result(bytes) = answer.reply else {
            panic!("users");
        };
        let users = Vec::<tl::enums::User>::from_bytes(&bytes).unwrap();
        assert_eq!(users.iter().map(|u| u.id()).collect::<Vec<_>>(), vec![2]);
        let full = dc.handle(
            1,
            &request(Call::GetFullUser(tl::enums::InputUser::UserSelf)),
            now(),
        );
        assert_eq!(error_of(&full), None);
    }

    #[test]
    fn dialogs_list_every_channel_with_its_top_message() {
        let mut dc = Dc::new(&scenario(), Instant::now());
        let call = Call::GetDialogs(tl::functions::messages::GetDialogs {
            exclude_pinned: false,
            folder_id: None,
            offset_date: 0,
            offset_id: 0,
            offset_peer: tl::enums::InputPeer::Empty,
            limit: 100,
            hash: 0,
        });
        let Reply::Result(bytes) = dc.handle(0, &request(call), now()).reply else {
            panic!("dialogs");
        };
        let tl::enums::messages::Dialogs::Dialogs(dialogs) =
            tl::enums::messages::Dialogs::from_bytes(&bytes).unwrap()
        else {
            panic!("one page");
        };
        assert_eq!(dialogs.dialogs.len(), 2);
        assert_eq!(dialogs.chats.len(), 2);
        assert_eq!(
            dialogs.messages.iter().map(|m| m.id()).collect::<Vec<_>>(),
            vec![250, 5]
        );
    }

    #[test]
    fn unknown_and_malformed_requests_get_errors() {
        let mut dc = Dc::new(&scenario(), Instant::now());
        let unknown = dc.handle(0, &request(Call::Unsupported { constructor: 1 }), now());
        assert_eq!(error_of(&unknown), Some((400, "INPUT_METHOD_INVALID")));
        let malformed = dc.handle(0, &request(Call::Malformed { constructor: 1 }), now());
        assert_eq!(error_of(&malformed), Some((400, "INPUT_FETCH_ERROR")));
    }

    fn reply_bytes(answer: Answer) -> Vec<u8> {
        match answer.reply {
            Reply::Result(bytes) => bytes,
            Reply::Error { code, message } => panic!("{code} {message}"),
        }
    }

    #[test]
    fn messages_by_id_are_as_they_are_now_and_empty_once_deleted() {
        let scenario = scenario();
        let mut dc = Dc::new(&scenario, Instant::now());
        dc.delete(ALPHA, &[5]);
        let call = Call::GetMessages(tl::functions::channels::GetMessages {
            channel: tl::enums::InputChannel::Channel(tl::types::InputChannel {
                channel_id: ALPHA,
                access_hash: scenario.access_hash(ALPHA, 1).unwrap(),
            }),
            id: [4, 5, 900]
                .map(|id| tl::enums::InputMessage::Id(tl::types::InputMessageId { id }))
                .to_vec(),
        });
        let bytes = reply_bytes(dc.handle(0, &request(call), now()));
        let tl::enums::messages::Messages::ChannelMessages(page) =
            tl::enums::messages::Messages::from_bytes(&bytes).unwrap()
        else {
            panic!("channel messages");
        };
        let kinds: Vec<_> = page
            .messages
            .iter()
            .map(|m| (m.id(), matches!(m, tl::enums::Message::Empty(_))))
            .collect();
        assert_eq!(kinds, vec![(4, false), (5, true), (900, true)]);
        assert_eq!(dc.served()[0].ids, vec![4]);
    }

    #[test]
    fn a_forwarded_file_is_served_while_any_message_carries_it() {
        let forwarded = File::new(2, 88, crate::FileKind::Document, 10);
        let scenario = Scenario::new()
            .account(Account::new(1))
            .channel(Channel::new(1003, "files", 3).file(forwarded.clone()))
            .channel(Channel::new(1004, "forwards", 3).file(File {
                message: 3,
                ..forwarded.clone()
            }));
        assert_eq!(scenario.check(), Ok(()));
        let mut dc = Dc::new(&scenario, Instant::now());
        assert_eq!(dc.file(88).map(|f| f.size), Some(10));
        dc.delete(1003, &[2]);
        assert_eq!(dc.file(88).map(|f| f.message), Some(3), "still forwarded");
        dc.delete(1004, &[3]);
        assert_eq!(dc.file(88), None);
    }

    #[test]
    fn an_authorization_exported_at_home_is_imported_once_elsewhere() {
        let scenario = scenario().channel(
            Channel::new(1003, "files", 3)
                .file(File::new(1, 77, crate::FileKind::Voice, 10).on_dc(4)),
        );
        let mut dc = Dc::new(&scenario, Instant::now());
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        dc.set_addresses(vec![(2, addr(1000)), (4, addr(1001))]);
        let other_key = AuthKey::new(scenario.accounts[0].key_in(4, 2));
        assert_eq!(
            dc.account_for_key_in(4, other_key.id()).map(|(i, _)| i),
            Some(0)
        );
        assert!(
            dc.account_for_key(other_key.id()).is_none(),
            "not a key of DC 2"
        );

        let state_on_4 = dc.handle_in(4, 0, &request(Call::GetState), now());
        assert_eq!(error_of(&state_on_4), Some((401, "AUTH_KEY_UNREGISTERED")));
        let export = |dc: &mut Dc, to| {
            dc.handle(0, &request(Call::ExportAuthorization { dc_id: to }), now())
        };
        assert_eq!(error_of(&export(&mut dc, 2)), Some((400, "DC_ID_INVALID")));
        assert_eq!(error_of(&export(&mut dc, 3)), Some((400, "DC_ID_INVALID")));
        let tl::enums::auth::ExportedAuthorization::Authorization(exported) =
            tl::enums::auth::ExportedAuthorization::from_bytes(&reply_bytes(export(&mut dc, 4)))
                .unwrap();
        let import = |bytes: Vec<u8>| {
            request(Call::ImportAuthorization {
                user_id: exported.id,
                bytes: crate::rpc::Secret(bytes),
            })
        };
        let forged = dc.handle_in(4, 0, &import(vec![1, 2, 3]), now());
        assert_eq!(error_of(&forged), Some((400, "AUTH_BYTES_INVALID")));
        // Another account cannot use it.
        let theirs = dc.handle_in(4, 1, &import(exported.bytes.clone()), now());
        assert_eq!(error_of(&theirs), Some((400, "AUTH_BYTES_INVALID")));
        assert_eq!(
            error_of(&dc.handle_in(4, 0, &import(exported.bytes.clone()), now())),
            None
        );
        assert_eq!(
            error_of(&dc.handle_in(4, 0, &request(Call::GetState), now())),
            None
        );

        let Reply::Result(bytes) = dc.handle_in(4, 0, &request(Call::GetConfig), now()).reply
        else {
            panic!("config");
        };
        let tl::enums::Config::Config(config) = tl::enums::Config::from_bytes(&bytes).unwrap();
        assert_eq!(config.this_dc, 4);
        let listed: Vec<_> = config
            .dc_options
            .iter()
            .map(|tl::enums::DcOption::Option(o)| (o.id, o.port, o.r#static))
            .collect();
        assert_eq!(listed, vec![(2, 1000, true), (4, 1001, true)]);
    }
}
