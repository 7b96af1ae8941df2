//! `collector-job login`: phone → code → 2FA password, then a Kubernetes Secret manifest with
//! the session blob on stdout. Prompts go to stderr; the api hash, code and password are never
//! printed.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use grammers_client::{Client, SignInError};
use grammers_mtsender::SenderPool;
use grammers_session::SessionData;
use grammers_session::storages::MemorySession;
use serde::Serialize;

use crate::session::SessionBlob;

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
    serde_yaml::to_string(&manifest).expect("a manifest of strings serialises")
}

fn prompt(what: &'static str, label: &str, hidden: bool) -> Result<String, LoginError> {
    let error = |source| LoginError::Prompt { what, source };
    let mut stderr = std::io::stderr();
    write!(stderr, "{label}: ")
        .and_then(|()| stderr.flush())
        .map_err(error)?;
    let stdin = std::io::stdin();
    // Hide secrets as they are typed when a terminal is attached (`stty` needs no unsafe code).
    let hide = hidden && stdin.is_terminal();
    let stty = |arg: &str| {
        let _ = Command::new("stty")
            .arg(arg)
            .stdin(Stdio::inherit())
            .status();
    };
    if hide {
        stty("-echo");
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if hide {
        stty("echo");
        let _ = writeln!(stderr);
    }
    match read {
        Ok(0) => Err(error(std::io::ErrorKind::UnexpectedEof.into())),
        Ok(_) => Ok(line.trim().to_owned()),
        Err(e) => Err(error(e)),
    }
}

/// Runs the interactive login and returns the Secret manifest.
pub async fn login(
    api_id: i32,
    api_hash: &str,
    target: &SecretTarget,
) -> Result<String, LoginError> {
    let session = Arc::new(MemorySession::from(SessionData::default()));
    let pool = SenderPool::new(Arc::clone(&session), api_id);
    let client = Client::new(pool.handle);
    let runner = tokio::spawn(pool.runner.run());

    let phone = prompt(
        "the phone number",
        "Phone number (international format, e.g. +4912345678)",
        false,
    )?;
    let token = client
        .request_login_code(&phone, api_hash)
        .await
        .map_err(|e| LoginError::RequestCode(e.to_string()))?;
    let code = prompt(
        "the login code",
        "Login code (sent to your Telegram apps)",
        true,
    )?;
    match client.sign_in(&token, &code).await {
        Ok(_) => {}
        Err(SignInError::PasswordRequired(password_token)) => {
            let hint = password_token.hint().unwrap_or("none").to_owned();
            let password = prompt(
                "the 2FA password",
                &format!("2FA password (hint: {hint})"),
                true,
            )?;
            client
                .check_password(password_token, password.as_bytes())
                .await
                .map_err(|e| match e {
                    SignInError::InvalidPassword(_) => LoginError::InvalidPassword,
                    other => LoginError::SignIn(other.to_string()),
                })?;
        }
        Err(SignInError::InvalidCode) => return Err(LoginError::InvalidCode),
        Err(SignInError::SignUpRequired) => return Err(LoginError::SignUpRequired),
        Err(other) => return Err(LoginError::SignIn(other.to_string())),
    }
    let blob = SessionBlob::capture(&session);
    client.disconnect();
    runner.abort();
    Ok(secret_manifest(target, &blob))
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
        let manifest: serde_yaml::Value =
            serde_yaml::from_str(&secret_manifest(&target, &blob)).unwrap();
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
