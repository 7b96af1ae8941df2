//! MTProto's TCP transports as a server sees them: which one a connection speaks, told from its
//! first bytes as Telegram does, and each one's frames in both directions.
//! <https://core.telegram.org/mtproto/mtproto-transports>
//!
//! | first bytes   | transport              | frame                                      |
//! | ------------- | ---------------------- | ------------------------------------------ |
//! | `ef`          | abridged               | length / 4 in 1 byte (or `7f` + 3 bytes)   |
//! | `eeeeeeee`    | intermediate           | length in 4 bytes                          |
//! | `dddddddd`    | padded intermediate    | length in 4 bytes, 0 to 15 bytes of padding |
//! | anything else | full                   | length, sequence number, payload, CRC32    |
//!
//! grammers' own transports are the client's halves (they send the tag with their first
//! frame, and its intermediate reader trusts a length it has not fully received); only its
//! full transport is symmetric, so that one is reused and the others are written here.

use std::ops::Range;

use grammers_crypto::DequeBuffer;
use grammers_mtproto::transport::{self, Full, Transport};

const ABRIDGED_TAG: u8 = 0xef;
const INTERMEDIATE_TAG: [u8; 4] = [0xee; 4];
const PADDED_INTERMEDIATE_TAG: [u8; 4] = [0xdd; 4];
/// An abridged length byte of this value says the length follows in the next 3 bytes.
const ABRIDGED_LONG: u8 = 0x7f;
/// The bit a client sets on a frame's length to ask for a quick ack (not sent by the fake).
const QUICK_ACK: u32 = 0x8000_0000;
/// Larger frames are refused: Telegram's messages are at most 1 MiB, plus MTProto's overhead.
const MAX_FRAME: usize = 2 << 20;
/// An encrypted packet is its 8-byte auth key id, then whole 16-byte blocks (msg_key and the
/// AES-IGE data): what is beyond that in a padded frame is the transport's padding.
const KEY_ID_LEN: usize = 8;
const BLOCK: usize = 16;

/// The transport a connection speaks.
pub enum Framing {
    Abridged,
    Intermediate,
    /// Intermediate with random padding after each payload; `sent` varies the server's own.
    PaddedIntermediate {
        sent: usize,
    },
    Full(Full),
}

impl std::fmt::Debug for Framing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a connection's first bytes say.
#[derive(Debug)]
pub enum Detected {
    /// Too few bytes to tell yet.
    NeedMore,
    /// The transport, and how many bytes its tag takes at the start of the stream.
    Transport { framing: Framing, tag_len: usize },
    /// The obfuscated transport (a random 64-byte header), which the fake does not speak.
    Obfuscated,
}

/// A frame that breaks its transport; the connection is closed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FramingError {
    #[error("a frame of {0} bytes is larger than any MTProto message")]
    TooLarge(usize),
    #[error("a frame of {0} bytes is too short to hold an encrypted packet")]
    TooShort(usize),
    #[error(transparent)]
    Full(#[from] transport::Error),
}

/// Tells the transport from the first bytes a client sent.
pub fn detect(first: &[u8]) -> Detected {
    if first.first() == Some(&ABRIDGED_TAG) {
        return Detected::Transport {
            framing: Framing::Abridged,
            tag_len: 1,
        };
    }
    // A full frame starts with its length and sequence number 0; intermediate tags are not
    // lengths a full frame could have (negative), so 8 bytes tell them all apart.
    let Some(head) = first.get(..8) else {
        return Detected::NeedMore;
    };
    let (framing, tag_len) = match <[u8; 4]>::try_from(&head[..4]).expect("4 bytes") {
        INTERMEDIATE_TAG => (Framing::Intermediate, 4),
        PADDED_INTERMEDIATE_TAG => (Framing::PaddedIntermediate { sent: 0 }, 4),
        _ if head[4..8] == [0; 4] => (Framing::Full(Full::new()), 0),
        _ => return Detected::Obfuscated,
    };
    Detected::Transport { framing, tag_len }
}

/// A complete frame at the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Where the payload is in the buffer.
    pub payload: Range<usize>,
    /// How many bytes the frame takes, header and padding included.
    pub len: usize,
}

impl Framing {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Abridged => "abridged",
            Self::Intermediate => "intermediate",
            Self::PaddedIntermediate { .. } => "padded intermediate",
            Self::Full(_) => "full",
        }
    }

    /// The first frame in `buffer` (after the tag), or `None` until it is complete.
    pub fn unpack(&mut self, buffer: &mut [u8]) -> Result<Option<Frame>, FramingError> {
        let (header, len) = match self {
            Self::Full(full) => {
                return match full.unpack(buffer) {
                    Ok(offset) => Ok(Some(Frame {
                        payload: offset.data_range,
                        len: offset.next_offset,
                    })),
                    Err(transport::Error::MissingBytes) => Ok(None),
                    Err(error) => Err(error.into()),
                };
            }
            Self::Abridged => match buffer {
                [] => return Ok(None),
                // The quick-ack bit is the length byte's high bit.
                [first, ..] if *first & 0x7f != ABRIDGED_LONG => {
                    (1, usize::from(*first & 0x7f) * 4)
                }
                [_, a, b, c, ..] => (4, u32::from_le_bytes([*a, *b, *c, 0]) as usize * 4),
                _ => return Ok(None),
            },
            Self::Intermediate | Self::PaddedIntermediate { .. } => match buffer.get(..4) {
                None => return Ok(None),
                Some(len) => {
                    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) & !QUICK_ACK;
                    (4, len as usize)
                }
            },
        };
        if len > MAX_FRAME {
            return Err(FramingError::TooLarge(len));
        }
        if buffer.len() < header + len {
            return Ok(None);
        }
        let payload_len = match self {
            Self::PaddedIntermediate { .. } => {
                if len < KEY_ID_LEN + BLOCK {
                    return Err(FramingError::TooShort(len));
                }
                len - (len - KEY_ID_LEN) % BLOCK
            }
            _ => len,
        };
        Ok(Some(Frame {
            payload: header..header + payload_len,
            len: header + len,
        }))
    }

    /// `payload` (a whole number of 4-byte words) framed for the client.
    pub fn pack(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::with_capacity(payload.len() + 16);
        match self {
            Self::Full(full) => {
                let mut buffer = DequeBuffer::with_capacity(payload.len() + 12, 8);
                buffer.extend(payload.iter().copied());
                full.pack(&mut buffer);
                frame.extend_from_slice(&buffer[..]);
            }
            Self::Abridged => {
                let words = payload.len() / 4;
                if words < usize::from(ABRIDGED_LONG) {
                    frame.push(words as u8);
                } else {
                    frame.push(ABRIDGED_LONG);
                    frame.extend_from_slice(&(words as u32).to_le_bytes()[..3]);
                }
                frame.extend_from_slice(payload);
            }
            Self::Intermediate => {
                frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                frame.extend_from_slice(payload);
            }
            Self::PaddedIntermediate { sent } => {
                // 0 to 15 bytes, varied so the client's unpadding is exercised.
                let padding = *sent % BLOCK;
                *sent += 1;
                frame.extend_from_slice(&((payload.len() + padding) as u32).to_le_bytes());
                frame.extend_from_slice(payload);
                frame.resize(frame.len() + padding, 0);
            }
        }
        frame
    }

    /// A transport error (e.g. -404, auth key not found) as this transport sends it: a frame
    /// holding only the negative code, or for the full transport the code in place of the
    /// length.
    pub fn status(&self, code: i32) -> Vec<u8> {
        let code = code.to_le_bytes();
        match self {
            Self::Full(_) => code.to_vec(),
            Self::Abridged => [&[1u8][..], &code].concat(),
            Self::Intermediate | Self::PaddedIntermediate { .. } => {
                [&4u32.to_le_bytes()[..], &code].concat()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_mtproto::transport::{Abridged, Intermediate};

    /// What grammers' client transport `T` sends for `payload`, tag included.
    fn client_sends(transport: &mut impl Transport, payload: &[u8]) -> Vec<u8> {
        let mut buffer = DequeBuffer::with_capacity(payload.len() + 16, 16);
        buffer.extend(payload.iter().copied());
        transport.pack(&mut buffer);
        buffer[..].to_vec()
    }

    /// Detects the transport of `stream` and reads all its frames' payloads.
    fn server_reads(stream: &[u8]) -> (Framing, Vec<Vec<u8>>) {
        let Detected::Transport {
            mut framing,
            tag_len,
        } = detect(stream)
        else {
            panic!("a transport");
        };
        let mut rest = stream[tag_len..].to_vec();
        let mut payloads = Vec::new();
        while let Some(frame) = framing.unpack(&mut rest).unwrap() {
            payloads.push(rest[frame.payload.clone()].to_vec());
            rest.drain(..frame.len);
        }
        assert!(rest.is_empty(), "every byte is in a frame");
        (framing, payloads)
    }

    fn payload(words: usize) -> Vec<u8> {
        (0..words * 4).map(|i| i as u8).collect()
    }

    #[test]
    fn each_grammers_transport_is_detected_and_read_small_and_large_frames() {
        let (small, large) = (payload(10), payload(300));
        let mut streams: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut abridged = Abridged::new();
        streams.push((
            "abridged",
            [
                client_sends(&mut abridged, &small),
                client_sends(&mut abridged, &large),
            ]
            .concat(),
        ));
        let mut intermediate = Intermediate::new();
        streams.push((
            "intermediate",
            [
                client_sends(&mut intermediate, &small),
                client_sends(&mut intermediate, &large),
            ]
            .concat(),
        ));
        let mut full = Full::new();
        streams.push((
            "full",
            [
                client_sends(&mut full, &small),
                client_sends(&mut full, &large),
            ]
            .concat(),
        ));
        for (name, stream) in streams {
            let (framing, payloads) = server_reads(&stream);
            assert_eq!(framing.name(), name);
            assert_eq!(payloads, vec![small.clone(), large.clone()], "{name}");
        }
    }

    #[test]
    fn a_partial_frame_waits_for_the_rest() {
        let mut intermediate = Intermediate::new();
        let stream = client_sends(&mut intermediate, &payload(8));
        let Detected::Transport { mut framing, .. } = detect(&stream) else {
            panic!("a transport");
        };
        let mut body = stream[4..].to_vec();
        for cut in 0..body.len() {
            assert_eq!(framing.unpack(&mut body[..cut]).unwrap(), None, "{cut}");
        }
        assert!(framing.unpack(&mut body).unwrap().is_some());
    }

    #[test]
    fn padding_is_stripped_to_whole_blocks_after_the_key_id() {
        // An encrypted packet: key id, msg_key, two AES blocks; then 7 bytes of padding.
        let packet = payload(2 + 4 + 8);
        let mut stream = PADDED_INTERMEDIATE_TAG.to_vec();
        stream.extend_from_slice(&((packet.len() + 7) as u32).to_le_bytes());
        stream.extend_from_slice(&packet);
        stream.extend_from_slice(&[9; 7]);
        let (framing, payloads) = server_reads(&stream);
        assert_eq!(framing.name(), "padded intermediate");
        assert_eq!(payloads, vec![packet]);
    }

    #[test]
    fn what_the_server_packs_each_client_transport_reads() {
        for words in [3, 200] {
            let body = payload(words);

            let mut server = Framing::Abridged;
            let mut packed = server.pack(&body);
            let offset = Abridged::new().unpack(&mut packed).unwrap();
            assert_eq!(packed[offset.data_range].to_vec(), body);

            let mut server = Framing::Intermediate;
            let mut packed = server.pack(&body);
            let offset = Intermediate::new().unpack(&mut packed).unwrap();
            assert_eq!(packed[offset.data_range].to_vec(), body);

            let mut server = Framing::Full(Full::new());
            let mut packed = server.pack(&body);
            let offset = Full::new().unpack(&mut packed).unwrap();
            assert_eq!(packed[offset.data_range].to_vec(), body);
        }
    }

    #[test]
    fn padded_answers_carry_up_to_15_bytes_after_the_payload() {
        let mut server = Framing::PaddedIntermediate { sent: 0 };
        let body = payload(10);
        let lengths: Vec<usize> = (0..17).map(|_| server.pack(&body).len()).collect();
        assert_eq!(lengths[0], 4 + 40);
        assert_eq!(lengths[15], 4 + 40 + 15);
        assert_eq!(lengths[16], 4 + 40);
    }

    #[test]
    fn transport_errors_reach_each_client_transport_as_its_status() {
        let cases: [(Framing, Box<dyn Transport>); 3] = [
            (Framing::Abridged, Box::new(Abridged::new())),
            (Framing::Intermediate, Box::new(Intermediate::new())),
            (Framing::Full(Full::new()), Box::new(Full::new())),
        ];
        for (server, mut client) in cases {
            let mut status = server.status(-404);
            assert_eq!(
                client.unpack(&mut status),
                Err(transport::Error::BadStatus { status: 404 }),
                "{server:?}"
            );
        }
    }

    #[test]
    fn unknown_first_bytes_are_the_obfuscated_transport_and_huge_frames_are_refused() {
        assert!(matches!(detect(&[0xee, 0xee]), Detected::NeedMore));
        let random_header: Vec<u8> = (1..=64).collect();
        assert!(matches!(detect(&random_header), Detected::Obfuscated));
        let mut huge = vec![ABRIDGED_LONG, 0xff, 0xff, 0xff];
        assert_eq!(
            Framing::Abridged.unpack(&mut huge),
            Err(FramingError::TooLarge(0xff_ffff * 4))
        );
    }
}
