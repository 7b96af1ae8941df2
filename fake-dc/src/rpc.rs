//! Client messages decoded into what the fake DC answers: MTProto service messages (acks,
//! pings) and API requests, unwrapped from `invokeWithLayer(initConnection(...))`.

use grammers_tl_types::{self as tl, Cursor, Deserializable, Identifiable};

/// The API requests the fake DC answers, by TL name (fault rules name them).
pub const SERVED: [&str; 17] = [
    "help.getConfig",
    "updates.getState",
    "updates.getDifference",
    "users.getUsers",
    "users.getFullUser",
    "contacts.resolveUsername",
    "messages.getDialogs",
    "messages.getHistory",
    "channels.getChannels",
    "channels.getMessages",
    "upload.getFile",
    "auth.exportAuthorization",
    "auth.importAuthorization",
    "auth.sendCode",
    "auth.signIn",
    "account.getPassword",
    "auth.checkPassword",
];

/// `invokeWithoutUpdates#bf9459b7 {X:Type} query:!X = X;`
const INVOKE_WITHOUT_UPDATES: u32 = 0xbf94_59b7;

/// One message from the client, decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    /// `msgs_ack`: nothing to answer.
    Ack,
    /// `ping` or `ping_delay_disconnect`: answered with `pong`.
    Ping {
        ping_id: i64,
    },
    Request(Request),
}

/// An API request and the connection parameters that came with it, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub call: Call,
    /// From `invokeWithLayer`.
    pub layer: Option<i32>,
    /// From `initConnection`.
    pub api_id: Option<i32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    GetConfig,
    GetState,
    GetDifference,
    GetUsers(Vec<tl::enums::InputUser>),
    GetFullUser(tl::enums::InputUser),
    ResolveUsername(String),
    GetDialogs(tl::functions::messages::GetDialogs),
    GetHistory(tl::functions::messages::GetHistory),
    GetChannels(Vec<tl::enums::InputChannel>),
    GetMessages(tl::functions::channels::GetMessages),
    GetFile(tl::functions::upload::GetFile),
    ExportAuthorization {
        dc_id: i32,
    },
    /// `auth.importAuthorization`: the bytes are compared, never shown.
    ImportAuthorization {
        user_id: i64,
        bytes: Secret<Vec<u8>>,
    },
    SendCode {
        phone: String,
    },
    SignIn {
        phone: String,
        phone_code_hash: String,
        code: Option<Secret<String>>,
    },
    GetPassword,
    /// `auth.checkPassword`'s SRP proof (`inputCheckPasswordEmpty` is srp_id 0, no proof).
    CheckPassword {
        srp_id: i64,
        g_a: Vec<u8>,
        m1: Vec<u8>,
    },
    /// A request the fake does not serve (answered with an rpc_error, never silence).
    Unsupported {
        constructor: u32,
    },
    /// A served request whose body did not parse.
    Malformed {
        constructor: u32,
    },
}

impl Call {
    /// The TL name, e.g. `messages.getHistory`.
    pub fn method(&self) -> &'static str {
        match self {
            Self::GetConfig => "help.getConfig",
            Self::GetState => "updates.getState",
            Self::GetDifference => "updates.getDifference",
            Self::GetUsers(_) => "users.getUsers",
            Self::GetFullUser(_) => "users.getFullUser",
            Self::ResolveUsername(_) => "contacts.resolveUsername",
            Self::GetDialogs(_) => "messages.getDialogs",
            Self::GetHistory(_) => "messages.getHistory",
            Self::GetChannels(_) => "channels.getChannels",
            Self::GetMessages(_) => "channels.getMessages",
            Self::GetFile(_) => "upload.getFile",
            Self::ExportAuthorization { .. } => "auth.exportAuthorization",
            Self::ImportAuthorization { .. } => "auth.importAuthorization",
            Self::SendCode { .. } => "auth.sendCode",
            Self::SignIn { .. } => "auth.signIn",
            Self::GetPassword => "account.getPassword",
            Self::CheckPassword { .. } => "auth.checkPassword",
            Self::Unsupported { constructor } | Self::Malformed { constructor } => {
                tl::name_for_id(*constructor)
            }
        }
    }
}

/// A login code or an exported authorization as a request carries it: compared, never shown
/// (its Debug is redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(pub T);

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The rest of a wrapper's body: the wrapped query, constructor id included.
struct Rest(Vec<u8>);

impl Deserializable for Rest {
    fn deserialize(buf: &mut Cursor) -> tl::deserialize::Result<Self> {
        let mut rest = Vec::new();
        buf.read_to_end(&mut rest)?;
        Ok(Self(rest))
    }
}

fn constructor(body: &[u8]) -> Option<u32> {
    body.get(..4)
        .map(|id| u32::from_le_bytes(id.try_into().expect("4 bytes")))
}

/// Decodes one message body; `None` when it is too short to name anything.
pub fn decode(body: &[u8]) -> Option<ClientMessage> {
    let mut body = body.to_vec();
    let (mut layer, mut api_id) = (None, None);
    loop {
        let id = constructor(&body)?;
        let inner = &body[4..];
        match id {
            tl::types::MsgsAck::CONSTRUCTOR_ID => return Some(ClientMessage::Ack),
            tl::functions::Ping::CONSTRUCTOR_ID => {
                let ping = tl::functions::Ping::from_bytes(inner).ok()?;
                return Some(ClientMessage::Ping {
                    ping_id: ping.ping_id,
                });
            }
            tl::functions::PingDelayDisconnect::CONSTRUCTOR_ID => {
                let ping = tl::functions::PingDelayDisconnect::from_bytes(inner).ok()?;
                return Some(ClientMessage::Ping {
                    ping_id: ping.ping_id,
                });
            }
            tl::functions::InvokeWithLayer::<Rest>::CONSTRUCTOR_ID => {
                let wrapper = tl::functions::InvokeWithLayer::<Rest>::from_bytes(inner).ok()?;
                layer = Some(wrapper.layer);
                body = wrapper.query.0;
            }
            tl::functions::InitConnection::<Rest>::CONSTRUCTOR_ID => {
                let wrapper = tl::functions::InitConnection::<Rest>::from_bytes(inner).ok()?;
                api_id = Some(wrapper.api_id);
                body = wrapper.query.0;
            }
            INVOKE_WITHOUT_UPDATES => body = inner.to_vec(),
            _ => {
                return Some(ClientMessage::Request(Request {
                    call: call(id, inner),
                    layer,
                    api_id,
                }));
            }
        }
    }
}

fn call(id: u32, body: &[u8]) -> Call {
    use tl::functions::{
        account, auth, channels, contacts, help, messages, updates, upload, users,
    };
    let parsed = match id {
        help::GetConfig::CONSTRUCTOR_ID => Some(Call::GetConfig),
        updates::GetState::CONSTRUCTOR_ID => Some(Call::GetState),
        // Nothing ever happens between two calls: every difference is empty, whatever it asks.
        updates::GetDifference::CONSTRUCTOR_ID => updates::GetDifference::from_bytes(body)
            .ok()
            .map(|_| Call::GetDifference),
        users::GetUsers::CONSTRUCTOR_ID => users::GetUsers::from_bytes(body)
            .ok()
            .map(|r| Call::GetUsers(r.id)),
        users::GetFullUser::CONSTRUCTOR_ID => users::GetFullUser::from_bytes(body)
            .ok()
            .map(|r| Call::GetFullUser(r.id)),
        contacts::ResolveUsername::CONSTRUCTOR_ID => contacts::ResolveUsername::from_bytes(body)
            .ok()
            .map(|r| Call::ResolveUsername(r.username)),
        messages::GetDialogs::CONSTRUCTOR_ID => messages::GetDialogs::from_bytes(body)
            .ok()
            .map(Call::GetDialogs),
        messages::GetHistory::CONSTRUCTOR_ID => messages::GetHistory::from_bytes(body)
            .ok()
            .map(Call::GetHistory),
        channels::GetChannels::CONSTRUCTOR_ID => channels::GetChannels::from_bytes(body)
            .ok()
            .map(|r| Call::GetChannels(r.id)),
        channels::GetMessages::CONSTRUCTOR_ID => channels::GetMessages::from_bytes(body)
            .ok()
            .map(Call::GetMessages),
        upload::GetFile::CONSTRUCTOR_ID => {
            upload::GetFile::from_bytes(body).ok().map(Call::GetFile)
        }
        auth::ExportAuthorization::CONSTRUCTOR_ID => auth::ExportAuthorization::from_bytes(body)
            .ok()
            .map(|r| Call::ExportAuthorization { dc_id: r.dc_id }),
        auth::ImportAuthorization::CONSTRUCTOR_ID => auth::ImportAuthorization::from_bytes(body)
            .ok()
            .map(|r| Call::ImportAuthorization {
                user_id: r.id,
                bytes: Secret(r.bytes),
            }),
        // The api hash is not kept: nothing checks it, and it is a secret.
        auth::SendCode::CONSTRUCTOR_ID => {
            auth::SendCode::from_bytes(body)
                .ok()
                .map(|r| Call::SendCode {
                    phone: r.phone_number,
                })
        }
        auth::SignIn::CONSTRUCTOR_ID => auth::SignIn::from_bytes(body).ok().map(|r| Call::SignIn {
            phone: r.phone_number,
            phone_code_hash: r.phone_code_hash,
            code: r.phone_code.map(Secret),
        }),
        account::GetPassword::CONSTRUCTOR_ID => Some(Call::GetPassword),
        auth::CheckPassword::CONSTRUCTOR_ID => {
            auth::CheckPassword::from_bytes(body)
                .ok()
                .map(|r| match r.password {
                    tl::enums::InputCheckPasswordSrp::Srp(srp) => Call::CheckPassword {
                        srp_id: srp.srp_id,
                        g_a: srp.a,
                        m1: srp.m1,
                    },
                    tl::enums::InputCheckPasswordSrp::InputCheckPasswordEmpty => {
                        Call::CheckPassword {
                            srp_id: 0,
                            g_a: Vec::new(),
                            m1: Vec::new(),
                        }
                    }
                })
        }
        _ => return Call::Unsupported { constructor: id },
    };
    parsed.unwrap_or(Call::Malformed { constructor: id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl::Serializable;

    #[test]
    fn the_served_names_are_the_tl_names() {
        let ids = [
            tl::functions::help::GetConfig::CONSTRUCTOR_ID,
            tl::functions::updates::GetState::CONSTRUCTOR_ID,
            tl::functions::updates::GetDifference::CONSTRUCTOR_ID,
            tl::functions::users::GetUsers::CONSTRUCTOR_ID,
            tl::functions::users::GetFullUser::CONSTRUCTOR_ID,
            tl::functions::contacts::ResolveUsername::CONSTRUCTOR_ID,
            tl::functions::messages::GetDialogs::CONSTRUCTOR_ID,
            tl::functions::messages::GetHistory::CONSTRUCTOR_ID,
            tl::functions::channels::GetChannels::CONSTRUCTOR_ID,
            tl::functions::channels::GetMessages::CONSTRUCTOR_ID,
            tl::functions::upload::GetFile::CONSTRUCTOR_ID,
            tl::functions::auth::ExportAuthorization::CONSTRUCTOR_ID,
            tl::functions::auth::ImportAuthorization::CONSTRUCTOR_ID,
            tl::functions::auth::SendCode::CONSTRUCTOR_ID,
            tl::functions::auth::SignIn::CONSTRUCTOR_ID,
            tl::functions::account::GetPassword::CONSTRUCTOR_ID,
            tl::functions::auth::CheckPassword::CONSTRUCTOR_ID,
        ];
        let names: Vec<_> = ids.into_iter().map(tl::name_for_id).collect();
        assert_eq!(names, SERVED);
    }

    #[test]
    fn the_connection_wrappers_are_unwrapped() {
        // What grammers' sender pool sends first on every connection.
        let init = tl::functions::InvokeWithLayer {
            layer: tl::LAYER,
            query: tl::functions::InitConnection {
                api_id: 12345,
                device_model: "test".into(),
                system_version: "1".into(),
                app_version: "1".into(),
                system_lang_code: "en".into(),
                lang_pack: String::new(),
                lang_code: "en".into(),
                proxy: None,
                params: None,
                query: tl::functions::help::GetConfig {},
            },
        };
        assert_eq!(
            decode(&init.to_bytes()),
            Some(ClientMessage::Request(Request {
                call: Call::GetConfig,
                layer: Some(tl::LAYER),
                api_id: Some(12345),
            }))
        );
    }

    #[test]
    fn requests_service_messages_and_unknowns_are_told_apart() {
        let history = tl::functions::messages::GetHistory {
            peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
                channel_id: 5,
                access_hash: 6,
            }),
            offset_id: 1,
            offset_date: 0,
            add_offset: -100,
            limit: 100,
            max_id: 0,
            min_id: 0,
            hash: 0,
        };
        let Some(ClientMessage::Request(request)) = decode(&history.to_bytes()) else {
            panic!("a request");
        };
        assert_eq!(request.call, Call::GetHistory(history.clone()));
        assert_eq!(request.call.method(), "messages.getHistory");

        let ack = tl::enums::MsgsAck::Ack(tl::types::MsgsAck { msg_ids: vec![1] });
        assert_eq!(decode(&ack.to_bytes()), Some(ClientMessage::Ack));
        let ping = tl::functions::PingDelayDisconnect {
            ping_id: 9,
            disconnect_delay: 75,
        };
        assert_eq!(
            decode(&ping.to_bytes()),
            Some(ClientMessage::Ping { ping_id: 9 })
        );

        let other = tl::functions::messages::GetPeerDialogs { peers: vec![] }.to_bytes();
        let Some(ClientMessage::Request(request)) = decode(&other) else {
            panic!("a request");
        };
        assert!(matches!(request.call, Call::Unsupported { .. }));
        assert_eq!(request.call.method(), "messages.getPeerDialogs");

        let truncated = &history.to_bytes()[..10];
        let Some(ClientMessage::Request(request)) = decode(truncated) else {
            panic!("a request");
        };
        assert!(matches!(request.call, Call::Malformed { .. }));
        assert_eq!(decode(&[1, 2]), None);
    }
}
