//! The server's half of Telegram's SRP 2FA check (<https://core.telegram.org/api/srp>): the
//! password verifier `v`, the challenge `g_b` that `account.getPassword` sends, and the check
//! of the client's `A` and `M1` in `auth.checkPassword`. The client's half is grammers-crypto's
//! `calculate_2fa`; its hashing helpers are private, so `PH2` is written again here.
//!
//! A fake keeps nothing worth protecting: `b` comes from the caller (derived, so runs repeat),
//! and the password is in the scenario anyway.

use num_bigint::BigUint;
use sha2::{Digest, Sha256, Sha512};

/// The 2048-bit safe prime Telegram uses for SRP (and for its key exchange), with g = 3.
const PRIME_HEX: &str = "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f\
48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c37\
20fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64\
2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4\
a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754\
fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4\
e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f\
0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b";
pub const G: i32 = 3;
/// PBKDF2 rounds of the `...iter100000...` algorithm.
const PBKDF2_ROUNDS: u32 = 100_000;
const LEN: usize = 256;

/// `p`, big-endian, 256 bytes.
pub fn prime() -> Vec<u8> {
    grammers_crypto::hex::opt_from_hex(PRIME_HEX).expect("a hex constant")
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// `SH(data, salt) := H(salt | data | salt)`.
fn sh(data: &[u8], salt: &[u8]) -> [u8; 32] {
    sha256(&[salt, data, salt])
}

/// `PH2 := SH(pbkdf2(sha512, PH1(password, salt1, salt2), salt1, 100000), salt2)`, with
/// `PH1 := SH(SH(password, salt1), salt2)`.
fn ph2(password: &[u8], salt1: &[u8], salt2: &[u8]) -> [u8; 32] {
    let ph1 = sh(&sh(password, salt1), salt2);
    let mut derived = [0; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(&ph1, salt1, PBKDF2_ROUNDS, &mut derived);
    sh(&derived, salt2)
}

/// A number as SRP hashes it: big-endian, left-padded to 256 bytes.
fn padded(n: &BigUint) -> [u8; LEN] {
    let bytes = n.to_bytes_be();
    let mut out = [0; LEN];
    out[LEN - bytes.len()..].copy_from_slice(&bytes);
    out
}

fn number(bytes: &[u8]) -> BigUint {
    BigUint::from_bytes_be(bytes)
}

/// What the server stores for a password: its salts and `v = g^x mod p`.
#[derive(Clone)]
pub struct Verifier {
    pub salt1: Vec<u8>,
    pub salt2: Vec<u8>,
    v: BigUint,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // v decides the password as well as the password does.
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// One `account.getPassword` answer's secret half, kept until `auth.checkPassword`.
#[derive(Clone)]
pub struct Challenge {
    pub srp_id: i64,
    b: BigUint,
    /// `B = (k v + g^b) mod p`, padded: `srp_B` of the answer.
    pub g_b: [u8; LEN],
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge")
            .field("srp_id", &self.srp_id)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Costs the 100,000 PBKDF2 rounds; compute it once per password.
    pub fn new(password: &[u8], salt1: Vec<u8>, salt2: Vec<u8>) -> Self {
        let p = number(&prime());
        let x = number(&ph2(password, &salt1, &salt2));
        let v = BigUint::from(G as u32).modpow(&x, &p);
        Self { salt1, salt2, v }
    }

    /// A challenge with the secret exponent `b` (256 bytes, big-endian).
    pub fn challenge(&self, srp_id: i64, b: &[u8; LEN]) -> Challenge {
        let p = number(&prime());
        let g = BigUint::from(G as u32);
        let b = number(b);
        let k = number(&sha256(&[&prime(), &padded(&g)]));
        let g_b = (k * &self.v + g.modpow(&b, &p)) % &p;
        Challenge {
            srp_id,
            b,
            g_b: padded(&g_b),
        }
    }

    /// Whether the client's `A` (`g_a`) and `M1` prove it knows the password.
    pub fn accepts(&self, challenge: &Challenge, g_a: &[u8], m1: &[u8]) -> bool {
        let p = number(&prime());
        let a = number(g_a);
        // A must be a proper element of the group, or the proof says nothing.
        if g_a.len() > LEN || a <= BigUint::from(1u8) || a >= p {
            return false;
        }
        let g_a = padded(&a);
        let u = number(&sha256(&[&g_a, &challenge.g_b]));
        // S = (A v^u)^b mod p, the same S the client reached from its side.
        let s = (&a * self.v.modpow(&u, &p) % &p).modpow(&challenge.b, &p);
        let k_a = sha256(&[&padded(&s)]);
        let h_p = sha256(&[&prime()]);
        let h_g = sha256(&[&padded(&BigUint::from(G as u32))]);
        let p_xor_g: Vec<u8> = h_p.iter().zip(h_g).map(|(p, g)| p ^ g).collect();
        let expected = sha256(&[
            &p_xor_g,
            &sha256(&[&self.salt1]),
            &sha256(&[&self.salt2]),
            &g_a,
            &challenge.g_b,
            &k_a,
        ]);
        expected.as_slice() == m1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_crypto::two_factor_auth::{calculate_2fa, check_p_and_g};

    fn verifier(password: &str) -> Verifier {
        Verifier::new(password.as_bytes(), vec![1; 40], vec![2; 16])
    }

    /// What grammers sends for `password` against `challenge`.
    fn client_proof(
        verifier: &Verifier,
        challenge: &Challenge,
        password: &str,
    ) -> ([u8; 32], [u8; 256]) {
        calculate_2fa(
            &verifier.salt1,
            &verifier.salt2,
            &prime(),
            &G,
            challenge.g_b.to_vec(),
            vec![0x5a; 256],
            password,
        )
    }

    #[test]
    fn grammers_accepts_the_group() {
        assert!(check_p_and_g(&prime(), &G));
    }

    #[test]
    fn the_right_password_is_accepted_and_a_wrong_one_refused() {
        let server = verifier("correct horse");
        let challenge = server.challenge(7, &[0x33; 256]);
        let (m1, g_a) = client_proof(&server, &challenge, "correct horse");
        assert!(server.accepts(&challenge, &g_a, &m1));

        let (m1, g_a) = client_proof(&server, &challenge, "battery staple");
        assert!(!server.accepts(&challenge, &g_a, &m1));
    }

    #[test]
    fn a_proof_answers_only_its_own_challenge_and_a_degenerate_a_is_refused() {
        let server = verifier("pw");
        let first = server.challenge(1, &[0x33; 256]);
        let second = server.challenge(2, &[0x44; 256]);
        let (m1, g_a) = client_proof(&server, &first, "pw");
        assert!(!server.accepts(&second, &g_a, &m1));
        assert!(!server.accepts(&first, &[0; 256], &m1));
        assert!(!server.accepts(&first, &prime(), &m1));
    }
}
