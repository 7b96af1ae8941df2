//! MTProto's message layer as the server sees it: the decrypted payload split into messages
//! (containers and `gzip_packed` unwrapped), and the framing of what the server sends back
//! (`rpc_result`, `pong`, `new_session_created`), which grammers keeps private and only
//! implements for the client. <https://core.telegram.org/mtproto/description>

use std::io::{Read, Write};
use std::time::Duration;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use grammers_tl_types::{self as tl, Cursor, Deserializable, Serializable};

/// `msg_container#73f1f8dc messages:vector<%Message> = MessageContainer;`
const MSG_CONTAINER: u32 = 0x73f1_f8dc;
/// `gzip_packed#3072cfa1 packed_data:bytes = Object;`
const GZIP_PACKED: u32 = 0x3072_cfa1;
/// `rpc_result#f35c6d01 req_msg_id:long result:Object = RpcResult;`
const RPC_RESULT: u32 = 0xf35c_6d01;
/// Containers nest at most this deep (they may not nest at all; gzip may wrap one).
const MAX_DEPTH: u8 = 3;
/// Largest decompressed body accepted, as Telegram's own message size limit.
const MAX_BODY: usize = 1 << 20;

/// One message from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    pub msg_id: i64,
    pub seq_no: i32,
    /// The TL object, starting with its constructor id.
    pub body: Vec<u8>,
}

/// A decrypted client payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// The client's session: every answer must carry it back.
    pub session_id: i64,
    pub messages: Vec<Incoming>,
}

/// A payload that is not MTProto.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the payload ends inside a message")]
    Truncated,
    #[error("a message length is negative or larger than the payload")]
    Length,
    #[error("containers nest too deep")]
    Depth,
    #[error("a gzip_packed body does not decompress")]
    Gzip,
}

impl From<tl::deserialize::Error> for FrameError {
    fn from(_: tl::deserialize::Error) -> Self {
        Self::Truncated
    }
}

/// Reads `salt | session_id | message` (the padding after the message is ignored).
pub fn read_payload(plaintext: &[u8]) -> Result<Payload, FrameError> {
    let mut cursor = Cursor::from_slice(plaintext);
    let _salt = i64::deserialize(&mut cursor)?;
    let session_id = i64::deserialize(&mut cursor)?;
    let mut messages = Vec::new();
    let message = read_message(&mut cursor, plaintext.len())?;
    unpack(message, &mut messages, 0)?;
    Ok(Payload {
        session_id,
        messages,
    })
}

fn read_message(cursor: &mut Cursor, available: usize) -> Result<Incoming, FrameError> {
    let msg_id = i64::deserialize(cursor)?;
    let seq_no = i32::deserialize(cursor)?;
    let len = usize::try_from(i32::deserialize(cursor)?).map_err(|_| FrameError::Length)?;
    if len > available {
        return Err(FrameError::Length);
    }
    let mut body = vec![0; len];
    cursor.read_exact(&mut body)?;
    Ok(Incoming {
        msg_id,
        seq_no,
        body,
    })
}

/// Flattens containers and `gzip_packed` into the messages they carry.
fn unpack(message: Incoming, out: &mut Vec<Incoming>, depth: u8) -> Result<(), FrameError> {
    if depth > MAX_DEPTH {
        return Err(FrameError::Depth);
    }
    let mut cursor = Cursor::from_slice(&message.body);
    match u32::deserialize(&mut cursor)? {
        MSG_CONTAINER => {
            let count = i32::deserialize(&mut cursor)?;
            for _ in 0..count {
                let inner = read_message(&mut cursor, message.body.len())?;
                unpack(inner, out, depth + 1)?;
            }
        }
        GZIP_PACKED => {
            let packed = Vec::<u8>::deserialize(&mut cursor)?;
            let mut body = Vec::new();
            GzDecoder::new(packed.as_slice())
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body)
                .map_err(|_| FrameError::Gzip)?;
            if body.len() > MAX_BODY {
                return Err(FrameError::Length);
            }
            unpack(Incoming { body, ..message }, out, depth + 1)?;
        }
        _ => out.push(message),
    }
    Ok(())
}

/// `rpc_result` for the request `req_msg_id`; a result of at least `gzip_from` bytes is sent
/// as `gzip_packed`, as Telegram does with large answers.
pub fn rpc_result(req_msg_id: i64, result: &[u8], gzip_from: Option<usize>) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + result.len());
    RPC_RESULT.serialize(&mut body);
    req_msg_id.serialize(&mut body);
    match gzip_from {
        Some(threshold) if result.len() >= threshold => {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(result).expect("in-memory write");
            let packed = encoder.finish().expect("in-memory write");
            GZIP_PACKED.serialize(&mut body);
            packed.serialize(&mut body);
        }
        _ => body.extend_from_slice(result),
    }
    body
}

/// The `rpc_error` object (to go inside an `rpc_result`).
pub fn rpc_error(code: i32, message: &str) -> Vec<u8> {
    tl::enums::RpcError::Error(tl::types::RpcError {
        error_code: code,
        error_message: message.to_owned(),
    })
    .to_bytes()
}

/// The answer to `ping` and `ping_delay_disconnect`: a top-level message, not an `rpc_result`.
pub fn pong(msg_id: i64, ping_id: i64) -> Vec<u8> {
    tl::enums::Pong::Pong(tl::types::Pong { msg_id, ping_id }).to_bytes()
}

/// Sent first on every new session, as Telegram does. The salt stays 0: with a non-zero salt
/// grammers asks for `get_future_salts`, which nothing here needs.
pub fn new_session_created(first_msg_id: i64, unique_id: i64) -> Vec<u8> {
    tl::enums::NewSession::Created(tl::types::NewSessionCreated {
        first_msg_id,
        unique_id,
        server_salt: 0,
    })
    .to_bytes()
}

/// Numbers the server's messages of one connection.
#[derive(Debug, Default)]
pub struct Outbox {
    last_msg_id: i64,
    content_sent: i32,
}

impl Outbox {
    /// `salt | session_id | msg_id | seq_no | length | body`, ready to encrypt. `since_epoch` is
    /// now; server message ids are time-based, increasing, 1 mod 4 for answers and 3 mod 4
    /// otherwise. Content-related messages (everything but acks and containers) get odd
    /// sequence numbers.
    pub fn seal(
        &mut self,
        session_id: i64,
        body: &[u8],
        answer: bool,
        since_epoch: Duration,
    ) -> Vec<u8> {
        let time_based =
            ((since_epoch.as_secs() as i64) << 32) | i64::from(since_epoch.subsec_nanos() & !3);
        let base = time_based.max(self.last_msg_id + 4) & !3;
        let msg_id = base | if answer { 1 } else { 3 };
        self.last_msg_id = msg_id;
        let seq_no = self.content_sent * 2 + 1;
        self.content_sent += 1;

        let mut plaintext = Vec::with_capacity(32 + body.len() + 32);
        0i64.serialize(&mut plaintext);
        session_id.serialize(&mut plaintext);
        msg_id.serialize(&mut plaintext);
        seq_no.serialize(&mut plaintext);
        (body.len() as i32).serialize(&mut plaintext);
        plaintext.extend_from_slice(body);
        plaintext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::AuthKey;
    use grammers_crypto::DequeBuffer;
    use grammers_mtproto::MsgId;
    use grammers_mtproto::mtp::{Deserialization, Encrypted, Mtp};
    use tl::Identifiable;

    const KEY: [u8; 256] = [42; 256];

    /// What grammers' client-side MTP layer sends for `requests`, decrypted by the server.
    fn client_sends(client: &mut Encrypted, requests: &[Vec<u8>]) -> (Vec<i64>, Payload) {
        let mut buffer = DequeBuffer::with_capacity(4096, 256);
        let ids = requests
            .iter()
            .map(|request| raw(client.push(&mut buffer, request).unwrap()))
            .collect();
        client.finalize(&mut buffer).unwrap();
        let mut packet = buffer[..].to_vec();
        let plaintext = AuthKey::new(KEY).decrypt_from_client(&mut packet).unwrap();
        (ids, read_payload(plaintext).unwrap())
    }

    /// grammers keeps `MsgId`'s number private; its Debug output shows it.
    fn raw(id: MsgId) -> i64 {
        let shown = format!("{id:?}");
        shown["MsgId(".len()..shown.len() - 1].parse().unwrap()
    }

    fn client() -> Encrypted {
        Encrypted::build().finish(KEY)
    }

    fn get_state() -> Vec<u8> {
        tl::functions::updates::GetState {}.to_bytes()
    }

    #[test]
    fn a_single_request_arrives_as_one_message_with_the_clients_msg_id() {
        let mut client = client();
        let (ids, payload) = client_sends(&mut client, &[get_state()]);
        assert_eq!(payload.messages.len(), 1);
        assert_eq!(payload.messages[0].msg_id, ids[0]);
        assert_eq!(payload.messages[0].body, get_state());
        assert_eq!(payload.messages[0].seq_no % 2, 1, "content-related");
    }

    #[test]
    fn containers_and_gzip_packed_requests_are_unpacked() {
        let mut client = client();
        // A request grammers compresses (at least 512 bytes that shrink).
        let big = tl::functions::contacts::ResolveUsername {
            username: "a".repeat(900),
            referer: None,
        }
        .to_bytes();
        let (ids, payload) = client_sends(&mut client, &[get_state(), big.clone()]);
        let bodies: Vec<_> = payload.messages.iter().map(|m| m.body.clone()).collect();
        assert_eq!(bodies, vec![get_state(), big]);
        assert_eq!(
            payload
                .messages
                .iter()
                .map(|m| m.msg_id)
                .collect::<Vec<_>>(),
            ids
        );
    }

    /// Seals and encrypts `body` for the client and lets grammers' MTP layer read it.
    fn client_receives(
        client: &mut Encrypted,
        outbox: &mut Outbox,
        session_id: i64,
        body: &[u8],
    ) -> Vec<Deserialization> {
        let plaintext = outbox.seal(session_id, body, true, Duration::from_secs(1_700_000_000));
        let mut packet = AuthKey::new(KEY).encrypt_for_client(plaintext);
        client.deserialize(&mut packet).unwrap()
    }

    #[test]
    fn grammers_reads_rpc_results_plain_and_gzipped_and_rpc_errors() {
        let mut client = client();
        let (ids, payload) = client_sends(&mut client, &[get_state()]);
        let mut outbox = Outbox::default();
        let state = tl::enums::updates::State::State(tl::types::updates::State {
            pts: 1,
            qts: 2,
            date: 3,
            seq: 4,
            unread_count: 5,
        })
        .to_bytes();

        for gzip_from in [None, Some(1)] {
            let result = rpc_result(ids[0], &state, gzip_from);
            let read = client_receives(&mut client, &mut outbox, payload.session_id, &result);
            let [Deserialization::RpcResult(result)] = read.as_slice() else {
                panic!("one rpc_result expected");
            };
            assert_eq!(result.body, state);
            assert_eq!(raw(result.msg_id), ids[0]);
        }

        let error = rpc_result(ids[0], &rpc_error(420, "FLOOD_WAIT_7"), None);
        let read = client_receives(&mut client, &mut outbox, payload.session_id, &error);
        let [Deserialization::RpcError(error)] = read.as_slice() else {
            panic!("one rpc_error expected");
        };
        assert_eq!(
            (error.error.error_code, error.error.error_message.as_str()),
            (420, "FLOOD_WAIT_7")
        );
    }

    #[test]
    fn grammers_reads_pongs_and_new_sessions() {
        let mut client = client();
        let ping = tl::functions::Ping { ping_id: 77 }.to_bytes();
        let (ids, payload) = client_sends(&mut client, &[ping]);
        let mut outbox = Outbox::default();

        let created = new_session_created(ids[0], 5);
        assert!(client_receives(&mut client, &mut outbox, payload.session_id, &created).is_empty());
        let read = client_receives(
            &mut client,
            &mut outbox,
            payload.session_id,
            &pong(ids[0], 77),
        );
        let [Deserialization::RpcResult(result)] = read.as_slice() else {
            panic!("a pong answers the ping");
        };
        assert_eq!(
            u32::from_le_bytes(result.body[..4].try_into().unwrap()),
            tl::types::Pong::CONSTRUCTOR_ID
        );
    }

    #[test]
    fn server_msg_ids_increase_and_say_what_they_are() {
        let mut outbox = Outbox::default();
        let now = Duration::from_secs(1_700_000_000);
        let id = |plaintext: &[u8]| i64::from_le_bytes(plaintext[16..24].try_into().unwrap());
        let seq = |plaintext: &[u8]| i32::from_le_bytes(plaintext[24..28].try_into().unwrap());
        let first = outbox.seal(1, &[0; 4], true, now);
        let second = outbox.seal(1, &[0; 4], false, now);
        assert_eq!(id(&first) % 4, 1);
        assert_eq!(id(&second) % 4, 3);
        assert!(id(&second) > id(&first));
        assert_eq!(id(&first) >> 32, 1_700_000_000);
        assert_eq!((seq(&first), seq(&second)), (1, 3));
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        assert_eq!(read_payload(&[0; 10]), Err(FrameError::Truncated));
        let mut lying = vec![0u8; 28];
        lying.extend((-1i32).to_le_bytes());
        assert_eq!(read_payload(&lying), Err(FrameError::Length));
        let mut huge = vec![0u8; 28];
        huge.extend(1000i32.to_le_bytes());
        assert_eq!(read_payload(&huge), Err(FrameError::Length));
    }
}
