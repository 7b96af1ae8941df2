//! The server side of MTProto 2.0 message encryption. grammers-crypto's `encrypt_data_v2` and
//! `decrypt_data_v2` are fixed to the client's side (they encrypt with x = 0 and decrypt with
//! x = 8); a server does the opposite, so the key derivation is written here, with grammers'
//! AES-IGE. <https://core.telegram.org/mtproto/description#defining-aes-key-and-initialization-vector>

use grammers_crypto::aes;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A permanent auth key as the server keeps it.
#[derive(Clone)]
pub struct AuthKey {
    data: [u8; 256],
    id: [u8; 8],
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key itself is a secret even in a fake.
        f.debug_struct("AuthKey")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// Why an encrypted packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the packet is not 24 bytes of header plus whole AES blocks")]
    Length,
    #[error("the packet is for another auth key")]
    KeyId,
    #[error("the packet's msg_key does not match its content")]
    MsgKey,
}

/// Who sent the message: "x = 0 for messages from client to server and x = 8 for those from
/// server to client".
#[derive(Clone, Copy)]
enum Sender {
    Client,
    Server,
}

impl Sender {
    fn x(self) -> usize {
        match self {
            Self::Client => 0,
            Self::Server => 8,
        }
    }
}

impl AuthKey {
    pub fn new(data: [u8; 256]) -> Self {
        // auth_key_id: the 64 lower-order bits of SHA1(auth_key).
        let sha: [u8; 20] = Sha1::digest(data).into();
        let mut id = [0; 8];
        id.copy_from_slice(&sha[12..20]);
        Self { data, id }
    }

    /// `auth_key_id` as it appears (little-endian) at the start of each packet.
    pub fn id(&self) -> i64 {
        i64::from_le_bytes(self.id)
    }

    pub fn bytes(&self) -> &[u8; 256] {
        &self.data
    }

    fn msg_key(&self, sender: Sender, plaintext: &[u8]) -> [u8; 16] {
        let x = sender.x();
        let large: [u8; 32] = Sha256::new()
            .chain_update(&self.data[88 + x..88 + x + 32])
            .chain_update(plaintext)
            .finalize()
            .into();
        let mut key = [0; 16];
        key.copy_from_slice(&large[8..24]);
        key
    }

    fn aes_key_iv(&self, sender: Sender, msg_key: &[u8; 16]) -> ([u8; 32], [u8; 32]) {
        let x = sender.x();
        let a: [u8; 32] = Sha256::new()
            .chain_update(msg_key)
            .chain_update(&self.data[x..x + 36])
            .finalize()
            .into();
        let b: [u8; 32] = Sha256::new()
            .chain_update(&self.data[40 + x..40 + x + 36])
            .chain_update(msg_key)
            .finalize()
            .into();
        let mut key = [0; 32];
        key[..8].copy_from_slice(&a[..8]);
        key[8..24].copy_from_slice(&b[8..24]);
        key[24..].copy_from_slice(&a[24..]);
        let mut iv = [0; 32];
        iv[..8].copy_from_slice(&b[..8]);
        iv[8..24].copy_from_slice(&a[8..24]);
        iv[24..].copy_from_slice(&b[24..]);
        (key, iv)
    }

    /// Encrypts a plaintext (salt, session id, message) for the client; returns
    /// `auth_key_id | msg_key | encrypted_data`. Padding (12 to 27 bytes, zeros: nothing here
    /// needs to resist analysis) makes the length a multiple of 16.
    pub fn encrypt_for_client(&self, mut plaintext: Vec<u8>) -> Vec<u8> {
        let padding = 12 + (16 - (plaintext.len() + 12) % 16) % 16;
        plaintext.resize(plaintext.len() + padding, 0);
        let msg_key = self.msg_key(Sender::Server, &plaintext);
        let (key, iv) = self.aes_key_iv(Sender::Server, &msg_key);
        aes::ige_encrypt(&mut plaintext, &key, &iv);
        let mut packet = Vec::with_capacity(24 + plaintext.len());
        packet.extend_from_slice(&self.id);
        packet.extend_from_slice(&msg_key);
        packet.extend_from_slice(&plaintext);
        packet
    }

    /// Decrypts a packet the client sent, in place; returns the plaintext (padding included).
    pub fn decrypt_from_client<'p>(&self, packet: &'p mut [u8]) -> Result<&'p [u8], CryptoError> {
        if packet.len() < 24 + 16 || !(packet.len() - 24).is_multiple_of(16) {
            return Err(CryptoError::Length);
        }
        if packet[..8] != self.id {
            return Err(CryptoError::KeyId);
        }
        let mut msg_key = [0; 16];
        msg_key.copy_from_slice(&packet[8..24]);
        let (key, iv) = self.aes_key_iv(Sender::Client, &msg_key);
        let data = &mut packet[24..];
        aes::ige_decrypt(data, &key, &iv);
        if self.msg_key(Sender::Client, data) != msg_key {
            return Err(CryptoError::MsgKey);
        }
        Ok(data)
    }
}

/// The `auth_key_id` a packet starts with (0 for an unencrypted one).
pub fn packet_key_id(packet: &[u8]) -> Option<i64> {
    packet
        .get(..8)
        .map(|id| i64::from_le_bytes(id.try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_crypto::{DequeBuffer, decrypt_data_v2, encrypt_data_v2};

    fn key() -> [u8; 256] {
        std::array::from_fn(|i| (i * 7 + 3) as u8)
    }

    #[test]
    fn the_key_id_is_the_one_grammers_puts_on_its_packets() {
        let mut buffer = DequeBuffer::with_capacity(64, 64);
        buffer.extend([1u8; 32]);
        encrypt_data_v2(&mut buffer, &grammers_crypto::AuthKey::from_bytes(key()));
        assert_eq!(packet_key_id(&buffer[..]), Some(AuthKey::new(key()).id()));
    }

    #[test]
    fn the_server_reads_what_grammers_encrypts() {
        let plaintext: Vec<u8> = (0..45u8).collect();
        let mut buffer = DequeBuffer::with_capacity(128, 64);
        buffer.extend(plaintext.iter().copied());
        encrypt_data_v2(&mut buffer, &grammers_crypto::AuthKey::from_bytes(key()));
        let mut packet = buffer[..].to_vec();

        let decrypted = AuthKey::new(key())
            .decrypt_from_client(&mut packet)
            .unwrap();

        assert_eq!(&decrypted[..plaintext.len()], plaintext.as_slice());
    }

    #[test]
    fn grammers_reads_what_the_server_encrypts() {
        for len in [16, 32, 45, 1000] {
            let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut packet = AuthKey::new(key()).encrypt_for_client(plaintext.clone());
            let padding = packet.len() - 24 - len;
            assert!((12..=1024).contains(&padding) && (len + padding).is_multiple_of(16));

            let decrypted =
                decrypt_data_v2(&mut packet, &grammers_crypto::AuthKey::from_bytes(key())).unwrap();

            assert_eq!(&decrypted[..len], plaintext.as_slice());
        }
    }

    #[test]
    fn tampered_or_foreign_packets_are_refused() {
        let server = AuthKey::new(key());
        let mut buffer = DequeBuffer::with_capacity(64, 64);
        buffer.extend([9u8; 48]);
        encrypt_data_v2(&mut buffer, &grammers_crypto::AuthKey::from_bytes(key()));
        let good = buffer[..].to_vec();

        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            server.decrypt_from_client(&mut flipped),
            Err(CryptoError::MsgKey)
        );
        let other = AuthKey::new([5; 256]);
        assert_eq!(
            other.decrypt_from_client(&mut good.clone()),
            Err(CryptoError::KeyId)
        );
        assert_eq!(
            server.decrypt_from_client(&mut good[..30].to_vec()),
            Err(CryptoError::Length)
        );
        // What the server sends is not something the server would accept (x differs).
        let mut own = server.encrypt_for_client(vec![0; 32]);
        assert_eq!(
            server.decrypt_from_client(&mut own),
            Err(CryptoError::MsgKey)
        );
    }
}
