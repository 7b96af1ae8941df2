//! `collector-job login`: phone → code → 2FA password, then a Kubernetes Secret manifest with
//! the session blob on stdout. Prompts go to stderr; the api hash, code and password are never
//! printed.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use grammers_client::client::{LoginToken, PasswordToken};
use grammers_client::{Client, SignInError};
use grammers_mtsender::{InvocationError, SenderPool};
use grammers_session::SessionData;
use grammers_session::storages::MemorySession;
use serde::Serialize;

use crate::telegram::session::SessionBlob;

/// Where the manifest puts the blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretTarget {
    pub name: String,
    pub namespace: Option<String>,
    pub key: String,
}

/// A failed login; messages never include the api hash, code or password.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("cannot read {what} from the terminal")]
    Prompt {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("Telegram refused to send a login code: {0}")]
    RequestCode(String),
    #[error("the login code was not accepted")]
    InvalidCode,
    #[error("the 2FA password was not accepted")]
    InvalidPassword,
    #[error("this phone number has no Telegram account; sign up with an official app first")]
    SignUpRequired,
    #[error("signing in failed: {0}")]
    SignIn(String),
    #[error("Telegram asks to wait {seconds} s before the next login attempt (FLOOD_WAIT)")]
    FloodWait { seconds: u32 },
}

/// A flood wait as its own error (the retry policy sleeps only through short ones).
fn flood_wait(error: &InvocationError) -> Option<LoginError> {
    match error {
        InvocationError::Rpc(rpc) if rpc.code == 420 => Some(LoginError::FloodWait {
            seconds: rpc.value.unwrap_or_default(),
        }),
        _ => None,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretManifest<'a> {
    api_version: &'a str,
    kind: &'a str,
    metadata: Metadata<'a>,
    #[serde(rename = "type")]
    kind_of_secret: &'a str,
    string_data: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

/// The Secret manifest holding `blob` under `target.key`.
pub fn secret_manifest(target: &SecretTarget, blob: &SessionBlob) -> String {
    let encoded = blob.encode();
    let manifest = SecretManifest {
        api_version: "v1",
        kind: "Secret",
        metadata: Metadata {
            name: &target.name,
            namespace: target.namespace.as_deref(),
        },
        kind_of_secret: "Opaque",
        string_data: BTreeMap::from([(target.key.as_str(), encoded.as_str())]),
    };
    serde_norway::to_string(&manifest).expect("a manifest of strings serialises")
}

/// Asks the person at the terminal.
pub trait Prompt {
    /// `hidden` input (codes, passwords) is not echoed.
    fn ask(&mut self, what: &'static str, label: &str, hidden: bool) -> Result<String, LoginError>;
}

/// Telegram's login calls, so the flow can be tested without a network.
pub trait Auth {
    type CodeToken;
    type PasswordToken;
    fn request_code(
        &self,
        phone: &str,
        api_hash: &str,
    ) -> impl Future<Output = Result<Self::CodeToken, LoginError>>;
    fn sign_in(
        &self,
        token: &Self::CodeToken,
        code: &str,
    ) -> impl Future<Output = Result<SignIn<Self::PasswordToken>, LoginError>>;
    fn check_password(
        &self,
        token: Self::PasswordToken,
        password: &str,
    ) -> impl Future<Output = Result<(), LoginError>>;
}

/// What signing in with a code led to.
pub enum SignIn<P> {
    Done,
    /// The account has 2FA: the password is needed too.
    PasswordNeeded {
        hint: Option<String>,
        token: P,
    },
}

/// Phone → code → (2FA password): the interactive part of `login`.
pub async fn sign_in_flow<A: Auth, P: Prompt>(
    auth: &A,
    prompt: &mut P,
    api_hash: &str,
) -> Result<(), LoginError> {
    let phone = prompt.ask(
        "the phone number",
        "Phone number (international format, e.g. +4912345678)",
        false,
    )?;
    let token = auth.request_code(&phone, api_hash).await?;
    let code = prompt.ask(
        "the login code",
        "Login code (sent to your Telegram apps)",
        true,
    )?;
    match auth.sign_in(&token, &code).await? {
        SignIn::Done => Ok(()),
        SignIn::PasswordNeeded { hint, token } => {
            let label = format!("2FA password (hint: {})", hint.as_deref().unwrap_or("none"));
            let password = prompt.ask("the 2FA password", &label, true)?;
            auth.check_password(token, &password).await
        }
    }
}

/// Prompts on stderr, answers from stdin.
pub struct Terminal;

impl Prompt for Terminal {
    fn ask(&mut self, what: &'static str, label: &str, hidden: bool) -> Result<String, LoginError> {
        let error = |source| LoginError::Prompt { what, source };
        let mut stderr = std::io::stderr();
        write!(stderr, "{label}: ")
            .and_then(|()| stderr.flush())
            .map_err(error)?;
        let stdin = std::io::stdin();
        let read = if hidden && stdin.is_terminal() {
            // Echo off while a secret is typed, back on however the read ends (rpassword
            // restores the terminal's settings when it is done with it).
            let config = rpassword::ConfigBuilder::new()
                .input_file_path("/dev/stdin")
                .output_discard()
                .build();
            let read = rpassword::read_password_with_config(config);
            let _ = writeln!(stderr);
            read
        } else {
            let mut line = String::new();
            match stdin.lock().read_line(&mut line) {
                Ok(0) => Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => Ok(line),
                Err(e) => Err(e),
            }
        };
        read.map(|line| line.trim().to_owned()).map_err(error)
    }
}

impl Auth for Client {
    type CodeToken = LoginToken;
    type PasswordToken = PasswordToken;

    async fn request_code(&self, phone: &str, api_hash: &str) -> Result<LoginToken, LoginError> {
        self.request_login_code(phone, api_hash)
            .await
            .map_err(|e| flood_wait(&e).unwrap_or_else(|| LoginError::RequestCode(e.to_string())))
    }

    async fn sign_in(
        &self,
        token: &LoginToken,
        code: &str,
    ) -> Result<SignIn<PasswordToken>, LoginError> {
        match Client::sign_in(self, token, code).await {
            Ok(_) => Ok(SignIn::Done),
            Err(SignInError::PasswordRequired(token)) => Ok(SignIn::PasswordNeeded {
                hint: token.hint().map(str::to_owned),
                token,
            }),
            Err(SignInError::InvalidCode) => Err(LoginError::InvalidCode),
            Err(SignInError::SignUpRequired) => Err(LoginError::SignUpRequired),
            Err(SignInError::Other(e)) => {
                Err(flood_wait(&e).unwrap_or_else(|| LoginError::SignIn(e.to_string())))
            }
            Err(other) => Err(LoginError::SignIn(other.to_string())),
        }
    }

    async fn check_password(&self, token: PasswordToken, password: &str) -> Result<(), LoginError> {
        Client::check_password(self, token, password.as_bytes())
            .await
            .map(|_| ())
            .map_err(|e| match e {
                SignInError::InvalidPassword(_) => LoginError::InvalidPassword,
                SignInError::Other(e) => {
                    flood_wait(&e).unwrap_or_else(|| LoginError::SignIn(e.to_string()))
                }
                other => LoginError::SignIn(other.to_string()),
            })
    }
}

/// Runs the interactive login against Telegram and returns the Secret manifest. `initial` is
/// a session whose key the datacenter already knows (not signed in); without it grammers
/// makes a new key with Telegram.
pub async fn login(
    api_id: i32,
    api_hash: &str,
    target: &SecretTarget,
    initial: Option<SessionBlob>,
) -> Result<String, LoginError> {
    let session = Arc::new(initial.map_or_else(
        || MemorySession::from(SessionData::default()),
        SessionBlob::into_session,
    ));
    let pool = SenderPool::new(Arc::clone(&session), api_id);
    let client = Client::new(pool.handle);
    let runner = tokio::spawn(pool.runner.run());
    let outcome = sign_in_flow(&client, &mut Terminal, api_hash).await;
    client.disconnect();
    runner.abort();
    outcome?;
    Ok(secret_manifest(target, &SessionBlob::capture(&session)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_a_secret_holding_only_the_blob() {
        let mut data = SessionData {
            home_dc: 2,
            ..SessionData::default()
        };
        data.dc_options.get_mut(&2).unwrap().auth_key = Some([1u8; 256]);
        let blob = SessionBlob::capture(&MemorySession::from(data));
        let target = SecretTarget {
            name: "telegram-session".into(),
            namespace: Some("collectors".into()),
            key: "session".into(),
        };
        let manifest: serde_norway::Value =
            serde_norway::from_str(&secret_manifest(&target, &blob)).unwrap();
        assert_eq!(manifest["apiVersion"], "v1");
        assert_eq!(manifest["kind"], "Secret");
        assert_eq!(manifest["type"], "Opaque");
        assert_eq!(manifest["metadata"]["name"], "telegram-session");
        assert_eq!(manifest["metadata"]["namespace"], "collectors");
        let data = manifest["stringData"].as_mapping().unwrap();
        assert_eq!(data.len(), 1);
        let stored = manifest["stringData"]["session"].as_str().unwrap();
        assert_eq!(SessionBlob::decode(stored, "manifest").unwrap(), blob);
    }

    /// Answers prompts from a script and remembers what was asked.
    struct Script {
        answers: Vec<&'static str>,
        asked: Vec<(String, bool)>,
    }

    impl Prompt for Script {
        fn ask(
            &mut self,
            what: &'static str,
            label: &str,
            hidden: bool,
        ) -> Result<String, LoginError> {
            self.asked.push((label.to_owned(), hidden));
            if self.answers.is_empty() {
                return Err(LoginError::Prompt {
                    what,
                    source: std::io::ErrorKind::UnexpectedEof.into(),
                });
            }
            Ok(self.answers.remove(0).to_owned())
        }
    }

    /// Telegram's side: accepts code 12345 and, with 2FA, the password "correct horse".
    struct FakeAuth {
        two_factor: bool,
        calls: std::sync::Mutex<Vec<String>>,
    }

    impl Auth for FakeAuth {
        type CodeToken = String;
        type PasswordToken = ();

        async fn request_code(&self, phone: &str, api_hash: &str) -> Result<String, LoginError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("code for {phone} with {api_hash}"));
            Ok("token".into())
        }

        async fn sign_in(&self, token: &String, code: &str) -> Result<SignIn<()>, LoginError> {
            assert_eq!(token, "token");
            match (code, self.two_factor) {
                ("12345", false) => Ok(SignIn::Done),
                ("12345", true) => Ok(SignIn::PasswordNeeded {
                    hint: Some("horse".into()),
                    token: (),
                }),
                _ => Err(LoginError::InvalidCode),
            }
        }

        async fn check_password(&self, (): (), password: &str) -> Result<(), LoginError> {
            if password == "correct horse" {
                Ok(())
            } else {
                Err(LoginError::InvalidPassword)
            }
        }
    }

    fn auth(two_factor: bool) -> FakeAuth {
        FakeAuth {
            two_factor,
            calls: std::sync::Mutex::new(Vec::new()),
        }
    }

    #[tokio::test]
    async fn phone_code_and_password_are_asked_in_order_secrets_hidden() {
        let telegram = auth(true);
        let mut terminal = Script {
            answers: vec!["+4912345678", "12345", "correct horse"],
            asked: vec![],
        };
        sign_in_flow(&telegram, &mut terminal, "0123456789abcdef")
            .await
            .unwrap();
        let hidden: Vec<bool> = terminal.asked.iter().map(|(_, hidden)| *hidden).collect();
        assert_eq!(hidden, vec![false, true, true]);
        assert!(terminal.asked[2].0.contains("hint: horse"));
        assert!(
            terminal
                .asked
                .iter()
                .all(|(label, _)| !label.contains("0123456789abcdef")),
            "the api hash is never shown"
        );
        assert_eq!(
            *telegram.calls.lock().unwrap(),
            vec!["code for +4912345678 with 0123456789abcdef"]
        );
    }

    #[tokio::test]
    async fn without_2fa_no_password_is_asked_and_wrong_answers_fail_clearly() {
        let mut terminal = Script {
            answers: vec!["+4912345678", "12345"],
            asked: vec![],
        };
        sign_in_flow(&auth(false), &mut terminal, "hash")
            .await
            .unwrap();
        assert_eq!(terminal.asked.len(), 2);

        let mut wrong_code = Script {
            answers: vec!["+4912345678", "99999"],
            asked: vec![],
        };
        let error = sign_in_flow(&auth(false), &mut wrong_code, "hash")
            .await
            .unwrap_err();
        assert!(matches!(error, LoginError::InvalidCode), "{error}");

        let mut wrong_password = Script {
            answers: vec!["+49", "12345", "hunter2"],
            asked: vec![],
        };
        let error = sign_in_flow(&auth(true), &mut wrong_password, "hash")
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "the 2FA password was not accepted");
    }

    #[test]
    fn the_namespace_is_optional() {
        let blob = SessionBlob::capture(&MemorySession::from(SessionData::default()));
        let target = SecretTarget {
            name: "s".into(),
            namespace: None,
            key: "k".into(),
        };
        assert!(!secret_manifest(&target, &blob).contains("namespace"));
    }
}
