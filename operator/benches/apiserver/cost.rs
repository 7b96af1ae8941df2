//! A CPU-bound API server's pace: every request (and every watch event, new connection and
//! pod the Job controller makes) costs time on one of a fixed number of cores, served first
//! come first served, so latency grows with the work queued ahead, as on a kube-apiserver
//! and etcd sharing 2 cores.
//!
//! The costs are calibrated on a real control plane (kube-apiserver, kube-controller-manager
//! and etcd on loopback, 2 cores), where a bare client POSTing 1,000 Jobs from 32 threads at
//! once had them all in 1.7 s (p99; p50 1.1 s) while the Job controller made their pods, and
//! this operator, writing a status and an Event per Job besides, took 6.0 s (p99; p50 3.1 s).
//! The bench prints what the model gives for both, so the calibration stays visible.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{extract::connect_info::Connected, http::Method, serve::IncomingStream};
use tokio::time::Instant;

/// What each kind of work costs the server, in CPU time of one core.
#[derive(Debug, Clone, Copy)]
pub struct Costs {
    /// The server's cores (kube-apiserver and etcd together).
    pub cores: usize,
    /// A new connection: the TLS handshake (the kube client speaks HTTP/1.1, a connection per
    /// request in flight).
    pub handshake: Duration,
    /// A GET of one object, or the fixed part of a LIST or the start of a watch.
    pub read: Duration,
    /// Each object a LIST returns.
    pub list_item: Duration,
    /// A Job POST: admission, defaulting, validation, the etcd write, the response.
    pub create_job: Duration,
    /// An Event POST or PATCH (a small object, also written to etcd).
    pub event: Duration,
    /// A status server-side apply on a collection: decoding and merging `managedFields`
    /// besides the write.
    pub status_apply: Duration,
    /// A Job DELETE.
    pub delete: Duration,
    /// One watch event encoded and sent to one watcher.
    pub watch_event: Duration,
    /// What the Job controller's work for one Job costs the server: the pod's POST and the
    /// Job's status update.
    pub job_controller_work: Duration,
    /// The Job controller's client limit (kube-controller-manager's default
    /// `--kube-api-qps 20`, `--kube-api-burst 30`): it makes pods no faster.
    pub job_controller_qps: f64,
    pub job_controller_burst: u32,
}

impl Costs {
    /// The calibrated model (see the module's note).
    pub fn calibrated() -> Self {
        let ms = |n: f64| Duration::from_secs_f64(n / 1e3);
        Self {
            cores: 2,
            handshake: ms(2.0),
            read: ms(0.5),
            list_item: ms(0.05),
            create_job: ms(3.1),
            event: ms(1.5),
            status_apply: ms(6.0),
            delete: ms(2.0),
            watch_event: ms(0.1),
            job_controller_work: ms(4.0),
            job_controller_qps: 20.0,
            job_controller_burst: 30,
        }
    }

    /// What a request costs before it is answered (a LIST's items are charged apart).
    pub fn request(&self, method: &Method, kind: &str, watch: bool) -> Duration {
        match (method, kind) {
            _ if watch => self.read,
            (&Method::POST, "jobs") => self.create_job,
            (&Method::POST | &Method::PATCH, "events") => self.event,
            (&Method::PATCH, "collections") => self.status_apply,
            (&Method::DELETE, _) => self.delete,
            _ => self.read,
        }
    }
}

/// The server's cores: when each is next free. Work is reserved in arrival order on the core
/// free first; the request waits (asleep: the bench's own CPU stays free) until it is done.
#[derive(Debug)]
pub struct Cores(Mutex<Vec<Instant>>);

impl Cores {
    pub fn new(n: usize) -> Self {
        let now = Instant::now();
        Self(Mutex::new(vec![now; n.max(1)]))
    }

    /// Reserves `cost` from `now` on the core free first; when that work is done.
    pub fn reserve(&self, now: Instant, cost: Duration) -> Instant {
        let mut cores = self.0.lock().unwrap();
        let core = cores
            .iter_mut()
            .min()
            .expect("a server has at least one core");
        let start = (*core).max(now);
        *core = start + cost;
        *core
    }

    /// Spends `cost` on the cores: returns once that work is done.
    pub async fn spend(&self, cost: Duration) {
        if cost.is_zero() {
            return;
        }
        let done = self.reserve(Instant::now(), cost);
        tokio::time::sleep_until(done).await;
    }
}

/// One client connection: whether its handshake is still to be charged (on its first
/// request).
#[derive(Debug, Clone)]
pub struct Fresh(Arc<AtomicBool>);

impl Fresh {
    /// True for the connection's first request only.
    pub fn first_request(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

impl Connected<IncomingStream<'_, NoDelay>> for Fresh {
    fn connect_info(_: IncomingStream<'_, NoDelay>) -> Self {
        Fresh(Arc::new(AtomicBool::new(true)))
    }
}

/// A listener setting TCP_NODELAY on every connection, as the Go net package does on a real
/// API server's.
pub struct NoDelay(pub tokio::net::TcpListener);

impl axum::serve::Listener for NoDelay {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((stream, addr)) = self.0.accept().await {
                let _ = stream.set_nodelay(true);
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A token bucket pacing the modelled Job controller's requests.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    tolerance: Duration,
    next: Option<Instant>,
}

impl Pace {
    pub fn new(qps: f64, burst: u32) -> Self {
        let interval = Duration::from_secs_f64(1.0 / qps);
        Self {
            interval,
            tolerance: interval * burst.saturating_sub(1),
            next: None,
        }
    }

    /// When the next request may go, if asked at `now`.
    pub fn slot(&mut self, now: Instant) -> Instant {
        let tat = self.next.unwrap_or(now).max(now);
        self.next = Some(tat + self.interval);
        tat.checked_sub(self.tolerance).unwrap_or(now).max(now)
    }
}
