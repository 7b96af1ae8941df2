//! The real grammers 0.11 client against the fake DC over loopback TCP: every served request
//! answered, faults as grammers sees them, unknown requests and unknown keys refused quickly.

use std::sync::Arc;
use std::time::Duration;

use fake_dc::{Account, Channel, FakeDc, Fault, FaultRule, Login, Outcome, Scenario};
use grammers_client::{Client, SignInError};
use grammers_mtsender::{ConnectionParams, InvocationError, SenderPool};
use grammers_session::storages::MemorySession;
use grammers_session::types::DcOption;
use grammers_session::{Session, SessionData};
use grammers_tl_types as tl;
use tokio::task::JoinHandle;

const ME: i64 = 777_000_001;
const OTHER: i64 = 777_000_002;
const ALPHA: i64 = 1001;
/// Every call in these tests answers within this (or the test fails instead of hanging).
const PATIENCE: Duration = Duration::from_secs(20);

/// A grammers client on the session blob the fake DC hands out; no retries, so each fault
/// reaches the caller as grammers reports it.
struct Connected {
    client: Client,
    runner: JoinHandle<()>,
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.client.disconnect();
        self.runner.abort();
    }
}

#[derive(serde::Deserialize)]
struct Blob {
    home_dc: i32,
    dc_options: Vec<DcOption>,
}

fn connect(blob: &str) -> Connected {
    let blob: Blob = serde_json::from_str(blob).unwrap();
    let mut data = SessionData {
        home_dc: blob.home_dc,
        ..SessionData::default()
    };
    for option in blob.dc_options {
        data.dc_options.insert(option.id, option);
    }
    let session = Arc::new(MemorySession::from(data));
    let params = ConnectionParams {
        retry_policy: Box::new(grammers_mtsender::NoRetries),
        ..Default::default()
    };
    let pool = SenderPool::with_configuration(session, 12345, params);
    let client = Client::new(pool.handle);
    let runner = tokio::spawn(pool.runner.run());
    Connected { client, runner }
}

async fn invoke<R: tl::RemoteCall>(
    client: &Client,
    request: &R,
) -> Result<R::Return, InvocationError> {
    tokio::time::timeout(PATIENCE, client.invoke(request))
        .await
        .expect("the fake DC answers")
}

fn scenario() -> Scenario {
    Scenario::new()
        .account(Account::new(ME))
        .account(Account::new(OTHER))
        .channel(Channel::new(ALPHA, "alpha", 250).service([50]))
}

fn history(access_hash: i64, offset_id: i32) -> tl::functions::messages::GetHistory {
    tl::functions::messages::GetHistory {
        peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
            channel_id: ALPHA,
            access_hash,
        }),
        offset_id,
        offset_date: 0,
        add_offset: -100,
        limit: 100,
        max_id: 0,
        min_id: offset_id - 1,
        hash: 0,
    }
}

fn page_ids(messages: &tl::enums::messages::Messages) -> Vec<i32> {
    let tl::enums::messages::Messages::ChannelMessages(page) = messages else {
        panic!("channel messages expected");
    };
    page.messages.iter().map(|m| m.id()).collect()
}

fn rpc_name(error: &InvocationError) -> (i32, String, Option<u32>) {
    match error {
        InvocationError::Rpc(rpc) => (rpc.code, rpc.name.clone(), rpc.value),
        other => panic!("an rpc error expected, got {other}"),
    }
}

#[tokio::test]
async fn the_real_client_connects_learns_who_it_is_and_reads_a_channel() {
    let dc = FakeDc::start(scenario()).await.unwrap();
    let connected = connect(&dc.session(ME).unwrap());
    let client = &connected.client;

    assert!(client.is_authorized().await.unwrap());
    let me = tokio::time::timeout(PATIENCE, client.get_me())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(me.id().bare_id_unchecked(), ME);

    let tl::enums::contacts::ResolvedPeer::Peer(resolved) = invoke(
        client,
        &tl::functions::contacts::ResolveUsername {
            username: "Alpha".into(),
            referer: None,
        },
    )
    .await
    .unwrap();
    let tl::enums::Chat::Channel(channel) = &resolved.chats[0] else {
        panic!("a channel");
    };
    let hash = channel.access_hash.unwrap();
    assert_eq!(Some(hash), dc.scenario().access_hash(ALPHA, ME));

    let first = invoke(client, &history(hash, 1)).await.unwrap();
    assert_eq!(page_ids(&first), (1..=100).rev().collect::<Vec<_>>());
    let last = invoke(client, &history(hash, 201)).await.unwrap();
    assert_eq!(page_ids(&last), (201..=250).rev().collect::<Vec<_>>());
    let tl::enums::messages::Messages::ChannelMessages(page) = &first else {
        unreachable!()
    };
    assert!(matches!(&page.messages[50], tl::enums::Message::Service(s) if s.id == 50));
    let tl::enums::Message::Message(post) = &page.messages[0] else {
        panic!("a post");
    };
    assert!(post.message.starts_with("Post 100 of @alpha"));
    assert!(post.reactions.is_some() && post.entities.is_some());

    let mut dialogs = client.iter_dialogs();
    let dialog = tokio::time::timeout(PATIENCE, dialogs.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(dialog.peer_id().bare_id_unchecked(), ALPHA);
    assert_eq!(dialog.last_message.map(|m| m.id()), Some(250));

    let tl::enums::messages::Chats::Chats(chats) = invoke(
        client,
        &tl::functions::channels::GetChannels {
            id: vec![tl::enums::InputChannel::Channel(tl::types::InputChannel {
                channel_id: ALPHA,
                access_hash: hash,
            })],
        },
    )
    .await
    .unwrap() else {
        panic!("chats");
    };
    assert_eq!(chats.chats.len(), 1);
    let full = invoke(
        client,
        &tl::functions::users::GetFullUser {
            id: tl::enums::InputUser::UserSelf,
        },
    )
    .await
    .unwrap();
    let tl::enums::users::UserFull::Full(full) = full;
    assert_eq!(full.users[0].id(), ME);

    let served = dc.served();
    assert_eq!(
        served[0].method, "help.getConfig",
        "initConnection comes first"
    );
    assert!(served.iter().all(|s| s.account == ME));
}

#[tokio::test]
async fn a_hash_given_to_another_account_is_channel_invalid() {
    let dc = FakeDc::start(scenario()).await.unwrap();
    let theirs = dc.scenario().access_hash(ALPHA, OTHER).unwrap();
    let mine = connect(&dc.session(ME).unwrap());
    let error = invoke(&mine.client, &history(theirs, 1)).await.unwrap_err();
    assert_eq!(rpc_name(&error), (400, "CHANNEL_INVALID".into(), None));
    let other = connect(&dc.session(OTHER).unwrap());
    assert_eq!(
        page_ids(&invoke(&other.client, &history(theirs, 1)).await.unwrap()).len(),
        100
    );
    let users: Vec<i64> = dc.served().iter().map(|s| s.account).collect();
    assert!(users.contains(&ME) && users.contains(&OTHER));
}

#[tokio::test]
async fn faults_reach_the_client_as_telegram_would_send_them() {
    let scenario = scenario()
        .fault(FaultRule::new(
            "messages.getHistory",
            1,
            Fault::FloodWait(17),
        ))
        .fault(FaultRule::new("messages.getHistory", 2, Fault::Revoke).account(OTHER))
        .fault(FaultRule::new("messages.getHistory", 3, Fault::Delay(300)));
    let dc = FakeDc::start(scenario).await.unwrap();
    let hash = dc.scenario().access_hash(ALPHA, ME).unwrap();
    let connected = connect(&dc.session(ME).unwrap());
    let client = &connected.client;

    let flood = invoke(client, &history(hash, 1)).await.unwrap_err();
    assert_eq!(rpc_name(&flood), (420, "FLOOD_WAIT".into(), Some(17)));
    assert_eq!(
        page_ids(&invoke(client, &history(hash, 1)).await.unwrap()).len(),
        100
    );
    // The third request is answered late, but answered.
    assert_eq!(
        page_ids(&invoke(client, &history(hash, 101)).await.unwrap()).len(),
        100
    );

    let other = connect(&dc.session(OTHER).unwrap());
    let their_hash = dc.scenario().access_hash(ALPHA, OTHER).unwrap();
    invoke(&other.client, &history(their_hash, 1))
        .await
        .unwrap();
    let revoked = invoke(&other.client, &history(their_hash, 1))
        .await
        .unwrap_err();
    assert_eq!(
        rpc_name(&revoked),
        (401, "AUTH_KEY_UNREGISTERED".into(), None)
    );
    assert!(!other.client.is_authorized().await.unwrap());
}

#[tokio::test]
async fn a_connection_dropped_mid_answer_fails_the_pending_call_and_the_next_one_reconnects() {
    let scenario = scenario().fault(FaultRule::new(
        "messages.getHistory",
        1,
        Fault::DropConnection,
    ));
    let dc = FakeDc::start(scenario).await.unwrap();
    let hash = dc.scenario().access_hash(ALPHA, ME).unwrap();
    let connected = connect(&dc.session(ME).unwrap());

    let dropped = invoke(&connected.client, &history(hash, 1))
        .await
        .unwrap_err();
    assert!(matches!(dropped, InvocationError::Io(_)), "{dropped}");
    let again = invoke(&connected.client, &history(hash, 1)).await.unwrap();
    assert_eq!(page_ids(&again).len(), 100);
    let configs = dc
        .served()
        .iter()
        .filter(|s| s.method == "help.getConfig")
        .count();
    assert_eq!(
        configs, 2,
        "a new connection starts with initConnection again"
    );
    assert_eq!(dc.served()[1].outcome, Outcome::Dropped);
}

#[tokio::test]
async fn grammers_pages_through_more_dialogs_than_one_answer_holds() {
    let mut scenario = Scenario::new().account(Account::new(ME));
    for id in 1..=150 {
        scenario = scenario.channel(Channel::new(
            10_000 + id,
            &format!("chan{id:03}"),
            id as i32,
        ));
    }
    let dc = FakeDc::start(scenario).await.unwrap();
    let connected = connect(&dc.session(ME).unwrap());
    let mut dialogs = connected.client.iter_dialogs();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(dialog) = tokio::time::timeout(PATIENCE, dialogs.next())
        .await
        .unwrap()
        .unwrap()
    {
        assert!(
            seen.insert(dialog.peer_id().bare_id_unchecked()),
            "each dialog once"
        );
    }
    assert_eq!(seen.len(), 150);
    let pages = dc
        .served()
        .iter()
        .filter(|s| s.method == "messages.getDialogs")
        .count();
    assert_eq!(pages, 2);
}

#[tokio::test]
async fn unknown_requests_get_an_rpc_error_not_silence() {
    let dc = FakeDc::start(scenario()).await.unwrap();
    let connected = connect(&dc.session(ME).unwrap());
    let error = invoke(
        &connected.client,
        &tl::functions::messages::GetPeerDialogs { peers: vec![] },
    )
    .await
    .unwrap_err();
    assert_eq!(rpc_name(&error).0, 400);
    assert!(
        dc.served()
            .iter()
            .any(|s| s.method == "messages.getPeerDialogs")
    );
}

#[tokio::test]
async fn an_unknown_auth_key_gets_transport_error_404() {
    let dc = FakeDc::start(scenario()).await.unwrap();
    let mut blob: serde_json::Value = serde_json::from_str(&dc.session(ME).unwrap()).unwrap();
    blob["dc_options"][0]["auth_key"] = serde_json::json!("11".repeat(256));
    let connected = connect(&blob.to_string());
    // grammers answers a 404 on initConnection by starting a key exchange, which the fake
    // cannot complete (Telegram's RSA keys are compiled into grammers): the call fails.
    let error = invoke(&connected.client, &tl::functions::updates::GetState {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            InvocationError::Io(_) | InvocationError::Transport(_)
        ),
        "{error}"
    );
    assert!(dc.served().is_empty());
}

#[tokio::test]
async fn the_example_scenario_is_valid() {
    let text = include_str!("../scenario.example.json");
    let scenario = Scenario::from_json(text).unwrap();
    scenario.check().unwrap();
    assert!(!scenario.channels.is_empty());
    let login = Scenario::from_json(include_str!("../scenario.login.example.json")).unwrap();
    login.check().unwrap();
    let account = &login.accounts[0];
    assert!(account.unregistered && account.login.as_ref().is_some_and(|l| l.password.is_some()));
}

#[test]
fn a_session_names_the_home_dc_with_its_key() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dc = runtime.block_on(FakeDc::start(scenario())).unwrap();
    let blob: Blob = serde_json::from_str(&dc.session(ME).unwrap()).unwrap();
    assert_eq!(blob.home_dc, fake_dc::scenario::DEFAULT_DC_ID);
    let session = MemorySession::from(SessionData {
        home_dc: blob.home_dc,
        dc_options: blob.dc_options.into_iter().map(|o| (o.id, o)).collect(),
        ..SessionData::default()
    });
    let home = session.dc_option(blob.home_dc).unwrap().unwrap();
    assert_eq!(std::net::SocketAddr::from(home.ipv4), dc.addr());
    assert_eq!(home.auth_key, Some(dc.scenario().accounts[0].key()));
    assert!(dc.session(42).is_none());
}

#[tokio::test]
async fn the_update_state_and_an_empty_difference_are_served_as_telethon_asks_on_connect() {
    let dc = FakeDc::start(scenario()).await.unwrap();
    let connected = connect(&dc.session(ME).unwrap());
    let tl::enums::updates::State::State(state) =
        invoke(&connected.client, &tl::functions::updates::GetState {})
            .await
            .unwrap();
    assert!(
        state.pts > 0 && state.seq > 0 && state.date > 0,
        "{state:?}"
    );
    let difference = invoke(
        &connected.client,
        &tl::functions::updates::GetDifference {
            pts: state.pts,
            pts_limit: None,
            pts_total_limit: None,
            date: state.date,
            qts: state.qts,
            qts_limit: None,
        },
    )
    .await
    .unwrap();
    let tl::enums::updates::Difference::Empty(empty) = difference else {
        panic!("an empty difference: {difference:?}");
    };
    assert_eq!(empty.seq, state.seq);
    assert!(
        dc.served()
            .iter()
            .any(|s| s.method == "updates.getDifference"
                && s.outcome == Outcome::Answered { messages: 0 })
    );
}

/// grammers' own sender on transport `T` (the pool always speaks the full transport).
async fn config_over<T: grammers_mtproto::transport::Transport>(
    transport: T,
    dc: &FakeDc,
) -> tl::enums::Config {
    let key = dc.scenario().accounts[0].key();
    let addr = grammers_mtsender::ServerAddr::Tcp { address: dc.addr() };
    let mut sender = grammers_mtsender::connect_with_auth(transport, addr, key)
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, sender.invoke(&tl::functions::help::GetConfig {}))
        .await
        .expect("the fake DC answers")
        .unwrap()
}

#[tokio::test]
async fn the_abridged_and_intermediate_transports_are_detected_and_served() {
    use grammers_mtproto::transport::{Abridged, Full, Intermediate};
    let dc = FakeDc::start(scenario()).await.unwrap();
    let configs = [
        config_over(Abridged::new(), &dc).await,
        config_over(Intermediate::new(), &dc).await,
        config_over(Full::new(), &dc).await,
    ];
    for config in configs {
        let tl::enums::Config::Config(config) = config;
        assert_eq!(config.this_dc, fake_dc::scenario::DEFAULT_DC_ID);
    }
    assert_eq!(dc.served().len(), 3);
}

#[tokio::test]
async fn the_padded_intermediate_transport_is_served_to_a_raw_client() {
    use grammers_crypto::DequeBuffer;
    use grammers_mtproto::mtp::{Deserialization, Encrypted, Mtp};
    use tl::{Deserializable, Serializable};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dc = FakeDc::start(scenario()).await.unwrap();
    let mut mtp = Encrypted::build().finish(dc.scenario().accounts[0].key());
    let mut packet = DequeBuffer::with_capacity(256, 64);
    mtp.push(&mut packet, &tl::functions::help::GetConfig {}.to_bytes())
        .unwrap();
    mtp.finalize(&mut packet).unwrap();
    let padding = [7u8; 5];
    let mut stream = vec![0xdd; 4];
    stream.extend(((packet.len() + padding.len()) as u32).to_le_bytes());
    stream.extend_from_slice(&packet[..]);
    stream.extend_from_slice(&padding);

    let mut tcp = tokio::net::TcpStream::connect(dc.addr()).await.unwrap();
    tcp.write_all(&stream).await.unwrap();
    let config = tokio::time::timeout(PATIENCE, async {
        loop {
            let mut len = [0; 4];
            tcp.read_exact(&mut len).await.unwrap();
            let mut frame = vec![0; u32::from_le_bytes(len) as usize];
            tcp.read_exact(&mut frame).await.unwrap();
            // Whole AES blocks after the key id; the rest is the transport's padding.
            frame.truncate(frame.len() - (frame.len() - 8) % 16);
            for read in mtp.deserialize(&mut frame).unwrap() {
                if let Deserialization::RpcResult(result) = read {
                    return tl::enums::Config::from_bytes(&result.body).unwrap();
                }
            }
        }
    })
    .await
    .expect("the fake DC answers");
    let tl::enums::Config::Config(config) = config;
    assert_eq!(config.this_dc, fake_dc::scenario::DEFAULT_DC_ID);
}

const PHONE: &str = "+49 151 0000001";

fn logging_in(login: Login) -> Scenario {
    Scenario::new()
        .account(Account::new(ME).logging_in(login))
        .channel(Channel::new(ALPHA, "alpha", 10))
}

async fn within<F: std::future::IntoFuture>(call: F) -> F::Output {
    tokio::time::timeout(PATIENCE, call)
        .await
        .expect("the fake DC answers")
}

#[tokio::test]
async fn an_account_signs_in_with_its_code_then_its_2fa_password_checked_by_srp() {
    let login = Login::new(PHONE, "24680").password("correct horse", Some("horse"));
    let dc = FakeDc::start(logging_in(login)).await.unwrap();
    let connected = connect(&dc.session(ME).unwrap());
    let client = &connected.client;
    assert!(!within(client.is_authorized()).await.unwrap());

    let token = within(client.request_login_code("+491510000001", "0123456789abcdef"))
        .await
        .unwrap();
    assert!(matches!(
        within(client.sign_in(&token, "13579")).await,
        Err(SignInError::InvalidCode)
    ));
    let password = match within(client.sign_in(&token, "24680")).await {
        Err(SignInError::PasswordRequired(password)) => password,
        Err(other) => panic!("the password is asked: {other}"),
        Ok(_) => panic!("the password is asked"),
    };
    assert_eq!(password.hint(), Some("horse"));
    let password = match within(client.check_password(password, "battery staple")).await {
        Err(SignInError::InvalidPassword(password)) => password,
        Err(other) => panic!("a wrong password is refused: {other}"),
        Ok(_) => panic!("a wrong password is refused"),
    };
    let me = within(client.check_password(password, "correct horse"))
        .await
        .unwrap();
    assert_eq!(me.id().bare_id_unchecked(), ME);
    assert!(within(client.is_authorized()).await.unwrap());

    let errors: Vec<(&str, String)> = dc
        .served()
        .into_iter()
        .filter_map(|s| match s.outcome {
            Outcome::Error { message, .. } => Some((s.method, message)),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            ("updates.getState", "AUTH_KEY_UNREGISTERED".into()),
            ("auth.signIn", "PHONE_CODE_INVALID".into()),
            ("auth.signIn", "SESSION_PASSWORD_NEEDED".into()),
            ("auth.checkPassword", "PASSWORD_HASH_INVALID".into()),
        ]
    );
}

#[tokio::test]
async fn a_login_meets_flood_waits_and_expired_codes_as_telegram_sends_them() {
    let scenario = logging_in(Login::new(PHONE, "24680").code_ttl_seconds(0))
        .fault(FaultRule::new("auth.sendCode", 1, Fault::FloodWait(600)));
    let dc = FakeDc::start(scenario).await.unwrap();
    let connected = connect(&dc.session(ME).unwrap());
    let client = &connected.client;

    let Err(flood) = within(client.request_login_code(PHONE, "hash")).await else {
        panic!("a flood wait");
    };
    assert_eq!(rpc_name(&flood), (420, "FLOOD_WAIT".into(), Some(600)));
    let wrong = within(client.request_login_code("+1 555", "hash")).await;
    assert_eq!(
        rpc_name(&wrong.err().expect("another number is refused")).1,
        "PHONE_NUMBER_INVALID"
    );
    let token = within(client.request_login_code(PHONE, "hash"))
        .await
        .unwrap();
    // A code valid for 0 seconds has expired by the time it is typed.
    assert!(matches!(
        within(client.sign_in(&token, "24680")).await,
        Err(SignInError::InvalidCode)
    ));
    assert!(dc.served().iter().any(|s| s.outcome
        == Outcome::Error {
            code: 400,
            message: "PHONE_CODE_EXPIRED".into()
        }));
    assert!(!within(client.is_authorized()).await.unwrap());
}

#[tokio::test]
async fn without_2fa_the_code_signs_in_and_the_account_then_reads_its_channels() {
    let dc = FakeDc::start(logging_in(Login::new(PHONE, "24680")))
        .await
        .unwrap();
    let connected = connect(&dc.session(ME).unwrap());
    let client = &connected.client;
    let token = within(client.request_login_code(PHONE, "hash"))
        .await
        .unwrap();
    within(client.sign_in(&token, "24680")).await.unwrap();
    let hash = dc.scenario().access_hash(ALPHA, ME).unwrap();
    assert_eq!(
        page_ids(&invoke(client, &history(hash, 1)).await.unwrap()).len(),
        10
    );
}
