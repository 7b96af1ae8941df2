//! The I/O shell: a TCP listener, one task per connection speaking the MTProto transport its
//! first bytes name ([`crate::framing`]), the server side of encryption, and the DC's answers
//! written back when their delivery says.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::crypto::{AuthKey, packet_key_id};
use crate::dc::{Dc, Delivery, Now, Reply, Served};
use crate::framing::{self, Detected, Framing};
use crate::history::Timeline;
use crate::mtp::{self, Outbox};
use crate::rpc::{self, ClientMessage};
use crate::scenario::{FaultRule, File, Scenario, ScenarioError};
use crate::session;

/// The transport status Telegram sends for an auth key it does not know.
const UNKNOWN_KEY: i32 = -404;
const READ_CHUNK: usize = 64 * 1024;

/// Why the fake DC did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid scenario: {0}")]
    Scenario(#[from] ScenarioError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

struct Shared {
    dc: Mutex<Dc>,
    /// The number of requests served so far, for waiters.
    progress: watch::Sender<usize>,
    gzip_from: Option<usize>,
}

impl Shared {
    fn dc(&self) -> MutexGuard<'_, Dc> {
        // A panic while holding the lock is a bug in a test's fake; keep serving.
        self.dc
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running fake datacenter; stops (closing every connection) when dropped.
pub struct FakeDc {
    addr: SocketAddr,
    /// Every DC served (the scenario's own first) and where it listens.
    addresses: Vec<(i32, SocketAddr)>,
    scenario: Scenario,
    shared: Arc<Shared>,
    listeners: Vec<JoinHandle<()>>,
}

impl FakeDc {
    /// Serves `scenario` on a free port of 127.0.0.1.
    pub async fn start(scenario: Scenario) -> Result<Self, StartError> {
        Self::bind(scenario, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves the scenario's own DC on `addr`, and each other DC its files live on on a free
    /// port of the same IP address.
    pub async fn bind(scenario: Scenario, addr: SocketAddr) -> Result<Self, StartError> {
        scenario.check()?;
        let mut bound = Vec::new();
        for (i, dc_id) in scenario.dc_ids().into_iter().enumerate() {
            let wanted = if i == 0 {
                addr
            } else {
                SocketAddr::new(addr.ip(), 0)
            };
            let listener =
                TcpListener::bind(wanted)
                    .await
                    .map_err(|source| StartError::Listen {
                        addr: wanted,
                        source,
                    })?;
            let local = listener.local_addr().map_err(|source| StartError::Listen {
                addr: wanted,
                source,
            })?;
            bound.push((dc_id, local, listener));
        }
        let addresses: Vec<(i32, SocketAddr)> =
            bound.iter().map(|(dc, addr, _)| (*dc, *addr)).collect();
        let mut dc = Dc::new(&scenario, Instant::now());
        dc.set_addresses(addresses.clone());
        let shared = Arc::new(Shared {
            dc: Mutex::new(dc),
            progress: watch::Sender::new(0),
            gzip_from: scenario.gzip_from,
        });
        let listeners = bound
            .into_iter()
            .map(|(dc_id, addr, listener)| {
                tracing::info!(dc_id, %addr, "fake DC listening");
                tokio::spawn(accept(listener, dc_id, Arc::clone(&shared)))
            })
            .collect();
        tracing::info!(
            accounts = scenario.accounts.len(),
            channels = scenario.channels.len(),
            "fake DC serving"
        );
        Ok(Self {
            addr: addresses[0].1,
            addresses,
            scenario,
            shared,
            listeners,
        })
    }

    /// Where the scenario's own DC listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every DC served (the scenario's own first) and where it listens.
    pub fn addresses(&self) -> &[(i32, SocketAddr)] {
        &self.addresses
    }

    /// The scenario as it was started (see [`Self::timeline`] for posts added since).
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The session blob for account `user_id`, pointing at this DC, with the account's key on
    /// every DC served (a fake cannot do the key exchange that would make the others).
    pub fn session(&self, user_id: i64) -> Option<String> {
        let account = self
            .scenario
            .accounts
            .iter()
            .find(|a| a.user_id == user_id)?;
        let dcs: Vec<_> = self
            .addresses
            .iter()
            .map(|&(dc, addr)| (dc, addr, account.key_in(dc, self.scenario.dc_id)))
            .collect();
        Some(session::blob(self.scenario.dc_id, &dcs))
    }

    /// Arms a fault rule now; its `nth` counts the matching requests from here on.
    pub fn arm(&self, rule: FaultRule) {
        self.shared.dc().arm(rule);
    }

    /// Rotates file `file_id`'s reference: messages carry a new one and `upload.getFile`
    /// refuses the old one with FILE_REFERENCE_EXPIRED.
    pub fn expire_reference(&self, file_id: i64) {
        self.shared.dc().expire_reference(file_id);
    }

    /// The file with this photo or document id while a message carries it: its size and
    /// content ([`crate::files::content`], [`crate::files::sha256`]).
    pub fn file(&self, file_id: i64) -> Option<File> {
        self.shared.dc().file(file_id)
    }

    /// Everything served so far, in order.
    pub fn served(&self) -> Vec<Served> {
        self.shared.dc().served().to_vec()
    }

    /// Waits until `done` holds for the requests served so far (check it with a timeout).
    pub async fn wait_until(&self, done: impl Fn(&[Served]) -> bool) {
        let mut progress = self.shared.progress.subscribe();
        loop {
            if done(self.shared.dc().served()) {
                return;
            }
            if progress.changed().await.is_err() {
                return;
            }
        }
    }

    /// Posts `count` new messages in channel `channel_id`; false when there is no such channel.
    pub fn post(&self, channel_id: i64, count: i32) -> bool {
        self.shared.dc().post(channel_id, count)
    }

    /// Edits message `id` of channel `channel_id` (text now `text`, since `edit_date`);
    /// false when there is no such channel.
    pub fn edit(&self, channel_id: i64, id: i32, text: &str, edit_date: i64) -> bool {
        self.shared.dc().edit(channel_id, id, text, edit_date)
    }

    /// Deletes messages of channel `channel_id`; false when there is no such channel.
    pub fn delete(&self, channel_id: i64, ids: &[i32]) -> bool {
        self.shared.dc().delete(channel_id, ids)
    }

    /// A channel's history as it is now: what a collector should have stored.
    pub fn timeline(&self, channel_id: i64) -> Option<Timeline> {
        self.shared.dc().timeline(channel_id)
    }
}

impl Drop for FakeDc {
    fn drop(&mut self) {
        // The connections live in the listener tasks' JoinSets and are aborted with them.
        for listener in &self.listeners {
            listener.abort();
        }
    }
}

async fn accept(listener: TcpListener, dc_id: i32, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "connection");
                    connections.spawn(Connection::serve(Arc::clone(&shared), dc_id, stream));
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// An answer that waited (a delayed one) on its way to the writer.
struct Late {
    session_id: i64,
    body: Vec<u8>,
}

/// The connection is to be closed (the client went away or broke the protocol; logged where
/// it happened).
struct Closed;

struct Connection {
    shared: Arc<Shared>,
    /// The DC whose port it came in on.
    dc_id: i32,
    writer: OwnedWriteHalf,
    /// The account and key, known after the first packet.
    account: Option<(usize, AuthKey)>,
    session_id: Option<i64>,
    /// Known from the connection's first bytes.
    framing: Option<Framing>,
    outbox: Outbox,
    late: mpsc::UnboundedSender<Late>,
    delayed: JoinSet<()>,
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Connection {
    async fn serve(shared: Arc<Shared>, dc_id: i32, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let (mut reader, writer) = stream.into_split();
        let (late, mut late_rx) = mpsc::unbounded_channel();
        let mut connection = Self {
            shared,
            dc_id,
            writer,
            account: None,
            session_id: None,
            framing: None,
            outbox: Outbox::default(),
            late,
            delayed: JoinSet::new(),
        };
        let mut buffer = Vec::with_capacity(READ_CHUNK);
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            tokio::select! {
                read = reader.read(&mut chunk) => {
                    let n = match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buffer.extend_from_slice(&chunk[..n]);
                    if connection.frames(&mut buffer).await.is_err() {
                        return;
                    }
                }
                Some(late) = late_rx.recv() => {
                    if connection.send(late.session_id, &late.body, true).await.is_err() {
                        return;
                    }
                }
                Some(_) = connection.delayed.join_next(), if !connection.delayed.is_empty() => {}
            }
        }
    }

    /// Handles every complete transport frame in `buffer` and removes them from it; the
    /// first bytes of a connection name its transport.
    async fn frames(&mut self, buffer: &mut Vec<u8>) -> Result<(), Closed> {
        let framing = match &mut self.framing {
            Some(framing) => framing,
            None => match framing::detect(buffer) {
                Detected::NeedMore => return Ok(()),
                Detected::Obfuscated => {
                    tracing::warn!(
                        "closing a connection in the obfuscated transport, which the fake DC \
                         does not speak (abridged, intermediate, padded intermediate and full \
                         are served)"
                    );
                    return Err(Closed);
                }
                Detected::Transport { framing, tag_len } => {
                    tracing::debug!(transport = framing.name(), "transport detected");
                    buffer.drain(..tag_len);
                    self.framing.insert(framing)
                }
            },
        };
        let mut consumed = 0;
        let mut frames = Vec::new();
        let result = loop {
            match framing.unpack(&mut buffer[consumed..]) {
                Ok(Some(frame)) => {
                    let range = consumed + frame.payload.start..consumed + frame.payload.end;
                    frames.push(buffer[range].to_vec());
                    consumed += frame.len;
                }
                Ok(None) => break Ok(()),
                Err(error) => {
                    tracing::warn!(transport = framing.name(), %error, "closing a connection that broke its transport");
                    break Err(Closed);
                }
            }
        };
        buffer.drain(..consumed);
        for mut frame in frames {
            self.frame(&mut frame).await?;
        }
        result
    }

    /// Writes a transport error (the negative status) and closes the connection.
    async fn status(&mut self, code: i32) -> Closed {
        if let Some(framing) = &self.framing {
            let _ = self.writer.write_all(&framing.status(code)).await;
        }
        Closed
    }

    async fn frame(&mut self, packet: &mut [u8]) -> Result<(), Closed> {
        let Some(key_id) = packet_key_id(packet) else {
            return Err(Closed);
        };
        if key_id == 0 {
            tracing::warn!(
                "the client started a key exchange: a fake DC cannot complete one \
                 (grammers compiles Telegram's RSA keys in); closing"
            );
            return Err(Closed);
        }
        let key = match &self.account {
            Some((_, key)) if key.id() == key_id => key.clone(),
            // One connection, one key.
            Some(_) => return Err(Closed),
            None => {
                let found = self.shared.dc().account_for_key_in(self.dc_id, key_id);
                let Some((index, key)) = found else {
                    tracing::info!(key_id, "unknown auth key: transport error 404");
                    return Err(self.status(UNKNOWN_KEY).await);
                };
                self.account = Some((index, key.clone()));
                key
            }
        };
        let plaintext = key.decrypt_from_client(packet).map_err(|error| {
            tracing::warn!(%error, "closing a connection with an undecryptable packet");
            Closed
        })?;
        let payload = mtp::read_payload(plaintext).map_err(|error| {
            tracing::warn!(%error, "closing a connection with a malformed payload");
            Closed
        })?;
        if self.session_id != Some(payload.session_id) {
            self.session_id = Some(payload.session_id);
            if let Some(first) = payload.messages.first() {
                let created = mtp::new_session_created(first.msg_id, payload.session_id ^ 0x5eed);
                self.send(payload.session_id, &created, false).await?;
            }
        }
        for message in payload.messages {
            match rpc::decode(&message.body) {
                None | Some(ClientMessage::Ack) => {}
                Some(ClientMessage::Ping { ping_id }) => {
                    let pong = mtp::pong(message.msg_id, ping_id);
                    self.send(payload.session_id, &pong, true).await?;
                }
                Some(ClientMessage::Request(request)) => {
                    self.answer(payload.session_id, message.msg_id, &request)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Asks the DC and delivers its answer to request `msg_id` as the answer says.
    async fn answer(
        &mut self,
        session_id: i64,
        msg_id: i64,
        request: &rpc::Request,
    ) -> Result<(), Closed> {
        let account = self.account.as_ref().map_or(0, |(index, _)| *index);
        let now = Now {
            instant: Instant::now(),
            unix: since_epoch().as_secs() as i32,
        };
        let answer = self
            .shared
            .dc()
            .handle_in(self.dc_id, account, request, now);
        self.shared.progress.send_modify(|served| *served += 1);
        // Telegram never packs file parts: their content is compressed already, if at all.
        let gzip_from = match request.call {
            rpc::Call::GetFile(_) => None,
            _ => self.shared.gzip_from,
        };
        let result = match &answer.reply {
            Reply::Result(bytes) => mtp::rpc_result(msg_id, bytes, gzip_from),
            Reply::Error { code, message } => {
                mtp::rpc_result(msg_id, &mtp::rpc_error(*code, message), None)
            }
        };
        match answer.delivery {
            Delivery::Now => self.send(session_id, &result, true).await,
            Delivery::After(delay) => {
                let late = self.late.clone();
                self.delayed.spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = late.send(Late {
                        session_id,
                        body: result,
                    });
                });
                Ok(())
            }
            Delivery::DropMidway => {
                let packet = self.packet(session_id, &result, true)?;
                let _ = self.writer.write_all(&packet[..packet.len() / 2]).await;
                let _ = self.writer.flush().await;
                tracing::info!("dropping the connection mid-answer (scenario fault)");
                Err(Closed)
            }
            Delivery::UnknownKey => {
                tracing::info!("forgetting the auth key (scenario fault): error 404");
                Err(self.status(UNKNOWN_KEY).await)
            }
            Delivery::Never => Ok(()),
        }
    }

    /// Seals, encrypts and frames one message.
    fn packet(&mut self, session_id: i64, body: &[u8], answer: bool) -> Result<Vec<u8>, Closed> {
        let (Some((_, key)), Some(framing)) = (&self.account, &mut self.framing) else {
            return Err(Closed);
        };
        let plaintext = self.outbox.seal(session_id, body, answer, since_epoch());
        Ok(framing.pack(&key.encrypt_for_client(plaintext)))
    }

    async fn send(&mut self, session_id: i64, body: &[u8], answer: bool) -> Result<(), Closed> {
        let packet = self.packet(session_id, body, answer)?;
        self.writer.write_all(&packet).await.map_err(|_| Closed)
    }
}
