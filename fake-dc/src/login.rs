//! Signing an account in as Telegram does: `auth.sendCode` issues a code (its hash names it),
//! `auth.signIn` takes the code, and with 2FA `account.getPassword` hands out an SRP challenge
//! that `auth.checkPassword` must answer. Errors are Telegram's (PHONE_CODE_INVALID,
//! PHONE_CODE_EXPIRED, SESSION_PASSWORD_NEEDED, PASSWORD_HASH_INVALID, SRP_ID_INVALID).
//! Time is a parameter; nothing here logs the code or the password.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::scenario::{Login, mix};
use crate::srp::{Challenge, Verifier};

/// A login step Telegram refuses, as its RPC error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub code: i32,
    pub message: &'static str,
}

const fn refused(code: i32, message: &'static str) -> Refused {
    Refused { code, message }
}

pub const PHONE_NUMBER_INVALID: Refused = refused(400, "PHONE_NUMBER_INVALID");
pub const PHONE_CODE_EMPTY: Refused = refused(400, "PHONE_CODE_EMPTY");
pub const PHONE_CODE_INVALID: Refused = refused(400, "PHONE_CODE_INVALID");
pub const PHONE_CODE_EXPIRED: Refused = refused(400, "PHONE_CODE_EXPIRED");
pub const SESSION_PASSWORD_NEEDED: Refused = refused(401, "SESSION_PASSWORD_NEEDED");
pub const PASSWORD_HASH_INVALID: Refused = refused(400, "PASSWORD_HASH_INVALID");
pub const SRP_ID_INVALID: Refused = refused(400, "SRP_ID_INVALID");
/// A password step before the code was accepted.
pub const AUTH_KEY_UNREGISTERED: Refused = refused(401, "AUTH_KEY_UNREGISTERED");

/// The code's length, as `auth.sentCodeTypeApp` announces it.
pub fn code_length(login: &Login) -> i32 {
    login.code.chars().count() as i32
}

/// The 2FA state `account.getPassword` describes.
pub struct PasswordInfo<'a> {
    pub verifier: &'a Verifier,
    pub challenge: &'a Challenge,
    pub hint: Option<&'a str>,
}

struct SentCode {
    hash: String,
    at: Instant,
}

/// One account's login, from the scenario's [`Login`].
pub struct LoginFlow {
    user_id: i64,
    spec: Login,
    /// Codes sent so far: each one gets its own hash, and only the newest is accepted.
    codes_sent: u64,
    sent: Option<SentCode>,
    /// The code was right; the 2FA password is still needed.
    awaiting_password: bool,
    /// Made on the first `account.getPassword` (100,000 PBKDF2 rounds).
    verifier: Option<Verifier>,
    challenges: u64,
    challenge: Option<Challenge>,
}

/// Digits only: `+49 (123) 45` and `4912345` are one number.
fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// 32 bytes × `blocks`, derived from `parts`: the fake's "randomness", so runs repeat.
fn derived(label: &str, parts: &[i64], blocks: usize) -> Vec<u8> {
    (0..blocks)
        .flat_map(|block| {
            let mut hasher = Sha256::new().chain_update(label);
            for part in parts {
                hasher.update(part.to_le_bytes());
            }
            <[u8; 32]>::from(hasher.chain_update([block as u8]).finalize())
        })
        .collect()
}

impl LoginFlow {
    pub fn new(user_id: i64, spec: Login) -> Self {
        Self {
            user_id,
            spec,
            codes_sent: 0,
            sent: None,
            awaiting_password: false,
            verifier: None,
            challenges: 0,
            challenge: None,
        }
    }

    pub fn spec(&self) -> &Login {
        &self.spec
    }

    /// `auth.sendCode`: the new code's `phone_code_hash`.
    pub fn send_code(&mut self, phone: &str, now: Instant) -> Result<String, Refused> {
        if digits(phone) != digits(&self.spec.phone) {
            return Err(PHONE_NUMBER_INVALID);
        }
        self.codes_sent += 1;
        let hash = format!(
            "{:016x}",
            mix(self.user_id as u64 ^ self.codes_sent.rotate_left(32)) as u64
        );
        self.sent = Some(SentCode {
            hash: hash.clone(),
            at: now,
        });
        self.awaiting_password = false;
        Ok(hash)
    }

    /// `auth.signIn`: `Ok` when the account is signed in; SESSION_PASSWORD_NEEDED when the
    /// code was right and 2FA is on.
    pub fn sign_in(
        &mut self,
        phone: &str,
        phone_code_hash: &str,
        code: Option<&str>,
        now: Instant,
    ) -> Result<(), Refused> {
        if digits(phone) != digits(&self.spec.phone) {
            return Err(PHONE_NUMBER_INVALID);
        }
        let code = code.filter(|c| !c.is_empty()).ok_or(PHONE_CODE_EMPTY)?;
        // An older code's hash, or none sent: Telegram says the code expired.
        let sent = match &self.sent {
            Some(sent) if sent.hash == phone_code_hash => sent,
            _ => return Err(PHONE_CODE_EXPIRED),
        };
        let ttl = Duration::from_secs(self.spec.code_ttl_seconds);
        if now.saturating_duration_since(sent.at) >= ttl {
            return Err(PHONE_CODE_EXPIRED);
        }
        if code.trim() != self.spec.code {
            return Err(PHONE_CODE_INVALID);
        }
        // A code is used once.
        self.sent = None;
        if self.spec.password.is_some() {
            self.awaiting_password = true;
            return Err(SESSION_PASSWORD_NEEDED);
        }
        Ok(())
    }

    /// `account.getPassword`: a fresh SRP challenge, or `None` without 2FA.
    pub fn password(&mut self) -> Option<PasswordInfo<'_>> {
        let password = self.spec.password.as_deref()?;
        let user_id = self.user_id;
        let verifier = self.verifier.get_or_insert_with(|| {
            Verifier::new(
                password.as_bytes(),
                derived("fake-dc srp salt1", &[user_id], 2)[..40].to_vec(),
                derived("fake-dc srp salt2", &[user_id], 1)[..16].to_vec(),
            )
        });
        self.challenges += 1;
        let counter = self.challenges as i64;
        let b: [u8; 256] = derived("fake-dc srp b", &[user_id, counter], 8)
            .try_into()
            .expect("8 blocks of 32 bytes");
        let srp_id = mix(user_id as u64 ^ (counter as u64).rotate_left(40));
        let challenge = self.challenge.insert(verifier.challenge(srp_id, &b));
        Some(PasswordInfo {
            verifier,
            challenge,
            hint: self.spec.hint.as_deref(),
        })
    }

    /// `auth.checkPassword`: `Ok` when the proof is right, and the account is signed in.
    pub fn check_password(&mut self, srp_id: i64, g_a: &[u8], m1: &[u8]) -> Result<(), Refused> {
        if !self.awaiting_password {
            return Err(AUTH_KEY_UNREGISTERED);
        }
        let (Some(verifier), Some(challenge)) = (&self.verifier, &self.challenge) else {
            return Err(SRP_ID_INVALID);
        };
        if challenge.srp_id != srp_id {
            return Err(SRP_ID_INVALID);
        }
        // A wrong password leaves the challenge standing: the client may try again with it.
        if !verifier.accepts(challenge, g_a, m1) {
            return Err(PASSWORD_HASH_INVALID);
        }
        self.awaiting_password = false;
        self.challenge = None;
        Ok(())
    }

    /// How many challenges `account.getPassword` handed out.
    pub fn challenges(&self) -> u64 {
        self.challenges
    }
}

/// `secure_random` of `account.getPassword` (grammers uses it as its SRP secret `a`), one per
/// answer.
pub fn secure_random(user_id: i64, answer: u64) -> Vec<u8> {
    derived("fake-dc secure random", &[user_id, answer as i64], 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_crypto::two_factor_auth::calculate_2fa;

    fn flow(login: Login) -> LoginFlow {
        LoginFlow::new(7, login)
    }

    #[test]
    fn the_right_code_signs_in_once_and_wrong_or_old_ones_are_refused() {
        let start = Instant::now();
        let mut flow = flow(Login::new("+49 123 456", "12345"));
        assert_eq!(flow.send_code("+49 999", start), Err(PHONE_NUMBER_INVALID));
        let first = flow.send_code("49123456", start).unwrap();
        let second = flow.send_code("+49123456", start).unwrap();
        assert_ne!(first, second);
        assert_eq!(
            flow.sign_in("+49123456", &first, Some("12345"), start),
            Err(PHONE_CODE_EXPIRED),
            "a newer code was sent"
        );
        assert_eq!(
            flow.sign_in("+49123456", &second, Some("54321"), start),
            Err(PHONE_CODE_INVALID)
        );
        assert_eq!(
            flow.sign_in("+49123456", &second, None, start),
            Err(PHONE_CODE_EMPTY)
        );
        assert_eq!(
            flow.sign_in("+49123456", &second, Some("12345"), start),
            Ok(())
        );
        assert_eq!(
            flow.sign_in("+49123456", &second, Some("12345"), start),
            Err(PHONE_CODE_EXPIRED),
            "used once"
        );
        assert!(flow.password().is_none(), "no 2FA");
    }

    #[test]
    fn a_code_expires_after_its_ttl() {
        let start = Instant::now();
        let mut flow = flow(Login::new("1", "777").code_ttl_seconds(60));
        let hash = flow.send_code("1", start).unwrap();
        assert_eq!(
            flow.sign_in("1", &hash, Some("777"), start + Duration::from_secs(60)),
            Err(PHONE_CODE_EXPIRED)
        );
        let hash = flow.send_code("1", start).unwrap();
        assert_eq!(
            flow.sign_in("1", &hash, Some("777"), start + Duration::from_secs(59)),
            Ok(())
        );
    }

    /// What grammers sends for `password` against the flow's current challenge.
    fn proof(flow: &mut LoginFlow, password: &str) -> (i64, [u8; 32], [u8; 256]) {
        let info = flow.password().expect("2FA");
        let (m1, g_a) = calculate_2fa(
            &info.verifier.salt1,
            &info.verifier.salt2,
            &crate::srp::prime(),
            &crate::srp::G,
            info.challenge.g_b.to_vec(),
            vec![0x42; 256],
            password,
        );
        (info.challenge.srp_id, m1, g_a)
    }

    #[test]
    fn with_2fa_the_code_asks_for_the_password_checked_by_srp() {
        let start = Instant::now();
        let mut flow = flow(Login::new("1", "777").password("correct horse", Some("horse")));
        let (srp_id, m1, g_a) = proof(&mut flow, "correct horse");
        assert_eq!(
            flow.check_password(srp_id, &g_a, &m1),
            Err(AUTH_KEY_UNREGISTERED),
            "the code comes first"
        );
        let hash = flow.send_code("1", start).unwrap();
        assert_eq!(
            flow.sign_in("1", &hash, Some("777"), start),
            Err(SESSION_PASSWORD_NEEDED)
        );
        assert_eq!(flow.password().unwrap().hint, Some("horse"));

        let (srp_id, m1, g_a) = proof(&mut flow, "battery staple");
        assert_eq!(
            flow.check_password(srp_id, &g_a, &m1),
            Err(PASSWORD_HASH_INVALID)
        );
        assert_eq!(
            flow.check_password(srp_id ^ 1, &g_a, &m1),
            Err(SRP_ID_INVALID)
        );
        let (srp_id, m1, g_a) = proof(&mut flow, "correct horse");
        assert_eq!(flow.check_password(srp_id, &g_a, &m1), Ok(()));
    }
}
