//! OpenFlow transport: listeners (`punix:PATH`, `ptcp:PORT[:IP]`), active
//! connections to controllers (`tcp:HOST[:PORT]`, `unix:PATH`) that
//! reconnect with Open vSwitch's backoff, message framing, and one task per
//! connection driving a [`Session`].
//!
//! The session is the protocol logic and does no I/O: it is handed whole
//! messages and the time, and returns the bytes to send. The connection task
//! only moves bytes, runs the session's timer and forwards asynchronous
//! messages (packet-in, flow-removed, port-status) that the bridge pushes
//! through the connection's outbound channel.
//!
//! An active connection follows Open vSwitch's `rconn`: [`Backoff`] is its
//! reconnect schedule and [`ConnRecord`] what `ovs-vsctl show` and
//! fail-open read from it (connected, admitted, last error), both pure and
//! fed the time; [`run_active`] is the loop that does the I/O.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Largest OpenFlow message (the length field is 16 bits).
pub const MAX_MESSAGE: usize = 65535;

/// What a session wants after an event.
#[derive(Debug, Default)]
pub struct Output {
    /// Messages to send, in order.
    pub send: Vec<Vec<u8>>,
    /// Close the connection after sending.
    pub close: bool,
}

/// The protocol side of one connection.
pub trait Session: Send + 'static {
    /// Called once when the connection opens (e.g. to send hello).
    fn open(&mut self, now_ms: u64) -> Output;
    /// One complete message (header included).
    fn message(&mut self, msg: &[u8], now_ms: u64) -> Output;
    /// Called about once a second (echo probes, timeouts).
    fn tick(&mut self, now_ms: u64) -> Output;
    /// The connection is gone.
    fn closed(&mut self) {}
}

/// Makes a session for each accepted connection, handing it the sender its
/// bridge can use for asynchronous messages.
pub trait SessionFactory: Send + Sync + 'static {
    fn session(&self, outbound: mpsc::Sender<Vec<u8>>, peer: String) -> Box<dyn Session>;
}

/// Splits a byte stream into OpenFlow messages by their length field.
#[derive(Default)]
pub struct Framer {
    buf: Vec<u8>,
}

/// The stream cannot be framed any more: a header claims fewer than 8 bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("OpenFlow header with impossible length {0}")]
pub struct FramingError(pub u16);

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let len = u16::from_be_bytes([self.buf[2], self.buf[3]]);
        if len < 8 {
            return Err(FramingError(len));
        }
        let len = len as usize;
        if self.buf.len() < len {
            return Ok(None);
        }
        let rest = self.buf.split_off(len);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The peer closed it.
    PeerClosed,
    /// Reading or writing failed (the error's text).
    Io(String),
    /// The session asked to close (a failed hello, an unanswered probe).
    SessionClosed,
    /// The byte stream cannot be split into messages any more.
    Framing(FramingError),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::PeerClosed => f.write_str("End of file"),
            Ended::Io(e) => f.write_str(e),
            Ended::SessionClosed => f.write_str("closed by the switch"),
            Ended::Framing(e) => write!(f, "{e}"),
        }
    }
}

/// An I/O error as Open vSwitch prints one ("Connection refused"), without
/// Rust's " (os error N)" suffix.
pub fn io_error_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// Drives one connection until it closes.
pub async fn run_connection<S>(
    stream: S,
    session: Box<dyn Session>,
    outbound: mpsc::Receiver<Vec<u8>>,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    drive(stream, session, outbound, Instant::now()).await
}

/// Drives one connection until it closes; the session's clock counts
/// milliseconds from `epoch` (so that several connections of one
/// controller share a time base).
pub async fn drive<S>(
    stream: S,
    mut session: Box<dyn Session>,
    mut outbound: mpsc::Receiver<Vec<u8>>,
    epoch: Instant,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let now = || epoch.elapsed().as_millis() as u64;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let out = session.open(now());
    if let Err(e) = write_all(&mut wr, &out).await {
        session.closed();
        return Ended::Io(e);
    }
    if out.close {
        session.closed();
        return Ended::SessionClosed;
    }
    let ended = loop {
        let mut framing = None;
        let out = tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => break Ended::PeerClosed,
                Err(e) => break Ended::Io(io_error_text(&e)),
                Ok(n) => {
                    framer.push(&buf[..n]);
                    let mut all = Output::default();
                    loop {
                        match framer.next_message() {
                            Ok(Some(m)) => {
                                let o = session.message(&m, now());
                                all.send.extend(o.send);
                                if o.close {
                                    all.close = true;
                                    break;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "closing OpenFlow connection");
                                framing = Some(e);
                                all.close = true;
                                break;
                            }
                        }
                    }
                    all
                }
            },
            Some(m) = outbound.recv() => Output { send: vec![m], close: false },
            _ = tick.tick() => session.tick(now()),
        };
        if let Err(e) = write_all(&mut wr, &out).await {
            break Ended::Io(e);
        }
        if out.close {
            break match framing {
                Some(e) => Ended::Framing(e),
                None => Ended::SessionClosed,
            };
        }
    };
    session.closed();
    ended
}

async fn write_all<W: AsyncWrite + Unpin>(wr: &mut W, out: &Output) -> Result<(), String> {
    for m in &out.send {
        wr.write_all(m).await.map_err(|e| io_error_text(&e))?;
    }
    wr.flush().await.map_err(|e| io_error_text(&e))
}

/// A passive OpenFlow endpoint as Open vSwitch spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// The port a controller target without one means (IANA's OpenFlow port,
/// Open vSwitch's default).
pub const DEFAULT_OFP_PORT: u16 = 6653;

/// Why a target string was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("unsupported OpenFlow target {0:?} (expected punix:PATH or ptcp:[PORT][:IP])")]
    Syntax(String),
    #[error("unsupported OpenFlow target {0:?} (expected tcp:HOST[:PORT] or unix:PATH)")]
    ActiveSyntax(String),
    /// `ssl:`/`pssl:`: oxvs has no TLS.
    #[error(
        "{0:?}: SSL/TLS connections are not supported by oxvs (use tcp:, unix:, ptcp: or punix:)"
    )]
    Ssl(String),
}

impl std::str::FromStr for Listen {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Listen, TargetError> {
        let bad = || TargetError::Syntax(s.to_string());
        if let Some(p) = s.strip_prefix("punix:") {
            if p.is_empty() {
                return Err(bad());
            }
            return Ok(Listen::Unix(PathBuf::from(p)));
        }
        if let Some(rest) = s.strip_prefix("ptcp:") {
            let (port, ip) = match rest.split_once(':') {
                Some((p, ip)) => (p, ip),
                None => (rest, ""),
            };
            // As in Open vSwitch, an empty port is 6653 and an empty
            // address every address.
            let port: u16 = if port.is_empty() {
                DEFAULT_OFP_PORT
            } else {
                port.parse().map_err(|_| bad())?
            };
            let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
            return Ok(Listen::Tcp(SocketAddr::new(ip, port)));
        }
        if s.starts_with("pssl:") {
            return Err(TargetError::Ssl(s.to_string()));
        }
        Err(bad())
    }
}

/// An active OpenFlow target (a controller the switch connects to) as Open
/// vSwitch spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connect {
    /// `tcp:HOST[:PORT]`: HOST is an IPv4 address, `[IPv6]`, or a name
    /// resolved at each attempt.
    Tcp { host: String, port: u16 },
    /// `unix:PATH`.
    Unix(PathBuf),
}

impl std::fmt::Display for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connect::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Connect::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Connect::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl std::str::FromStr for Connect {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Connect, TargetError> {
        let bad = || TargetError::ActiveSyntax(s.to_string());
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(bad());
            }
            return Ok(Connect::Unix(PathBuf::from(p)));
        }
        if s.starts_with("ssl:") {
            return Err(TargetError::Ssl(s.to_string()));
        }
        let rest = s.strip_prefix("tcp:").ok_or_else(bad)?;
        // [v6]:port, [v6], host:port, host (a bare v6 address is ambiguous
        // and, as in Open vSwitch, needs brackets).
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (h, None),
                a => (h, Some(a.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(bad());
        }
        let port = match port {
            None | Some("") => DEFAULT_OFP_PORT,
            Some(p) => p.parse().map_err(|_| bad())?,
        };
        Ok(Connect::Tcp {
            host: host.to_string(),
            port,
        })
    }
}

/// Accepts connections on `listen` forever, one task each.
pub async fn serve(listen: Listen, factory: Arc<dyn SessionFactory>) -> std::io::Result<()> {
    match listen {
        Listen::Unix(path) => {
            // A stale socket from a crashed run would make bind fail.
            let _ = std::fs::remove_file(&path);
            let l = tokio::net::UnixListener::bind(&path)?;
            loop {
                let (s, _) = l.accept().await?;
                spawn(s, factory.clone(), path.display().to_string());
            }
        }
        Listen::Tcp(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await?;
            loop {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                spawn(s, factory.clone(), peer.to_string());
            }
        }
    }
}

fn spawn<S>(stream: S, factory: Arc<dyn SessionFactory>, peer: String)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(1024);
    let session = factory.session(tx, peer);
    tokio::spawn(run_connection(stream, session, rx));
}

/// Default longest wait between connection attempts (Open vSwitch's
/// `max_backoff` default, 8 s).
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 8_000;
/// Default inactivity probe of controller connections (Open vSwitch's
/// `inactivity_probe` default, 5 s): an echo request after this long
/// without a message, a disconnect after as long again.
pub const DEFAULT_PROBE_MS: u64 = 5_000;
/// After this long on one connection, any message from the peer counts as
/// admission (Open vSwitch's rconn does the same).
const ADMISSION_GRACE_MS: u64 = 30_000;

/// The reconnect schedule of Open vSwitch's `rconn`: the first attempt is
/// immediate; after a failure the wait is 1 s, doubling on each failure up
/// to the maximum; a connection that lasted at least the current wait
/// starts the schedule over at 1 s. All times in ms, given by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    current_ms: u64,
    max_ms: u64,
    /// A disconnect at or after this time resets the wait to 1 s: it is
    /// the start of the last attempt plus the wait then.
    deadline_ms: u64,
}

impl Backoff {
    /// `max_ms` below 1 s is taken as 1 s.
    pub fn new(max_ms: u64) -> Backoff {
        Backoff {
            current_ms: 0,
            max_ms: max_ms.max(1_000),
            // "Long ago": the first disconnect always resets to 1 s.
            deadline_ms: 0,
        }
    }

    /// The current wait between attempts.
    pub fn current_ms(&self) -> u64 {
        self.current_ms
    }

    pub fn max_ms(&self) -> u64 {
        self.max_ms
    }

    /// An attempt starts at `now_ms`. Returns how long it may take to
    /// connect and finish the hello exchange (the wait, at least 1 s).
    pub fn attempt(&mut self, now_ms: u64) -> u64 {
        self.deadline_ms = now_ms.saturating_add(self.current_ms);
        self.current_ms.max(1_000)
    }

    /// The attempt timed out: that must not count as a connection that
    /// lasted, however long it took.
    pub fn timed_out(&mut self) {
        self.deadline_ms = u64::MAX;
    }

    /// The attempt failed or the connection ended at `now_ms`. Returns how
    /// long to wait before the next attempt.
    pub fn disconnected(&mut self, now_ms: u64) -> u64 {
        self.current_ms = if now_ms >= self.deadline_ms {
            1_000
        } else if self.current_ms < self.max_ms / 2 {
            (2 * self.current_ms).max(1_000)
        } else {
            self.max_ms
        };
        self.deadline_ms = now_ms.saturating_add(self.current_ms);
        self.current_ms
    }
}

/// Whether a message from a controller shows that it accepted the switch:
/// everything but the messages a controller uses to look a switch over
/// before deciding (hello, error, echo, features, switch config, queue
/// config, async config, group and table descriptions), as Open vSwitch's
/// `is_admitted_msg`. Messages that cannot be OpenFlow do not count.
pub fn is_admission_message(msg: &[u8]) -> bool {
    let (Some(&version), Some(&ty)) = (msg.first(), msg.get(1)) else {
        return false;
    };
    if msg.len() < 8 {
        return false;
    }
    // The highest message type of each version; beyond it the message
    // does not decode.
    let max_type = match version {
        1 => 21,
        2 => 23,
        3 => 25,
        4 => 29,
        5 => 34,
        6 => 35,
        _ => return false,
    };
    if ty > max_type {
        return false;
    }
    let multipart_type = || msg.get(8..10).map(|b| u16::from_be_bytes([b[0], b[1]]));
    match (version, ty) {
        // hello, error, echo request/reply, features, get/set config.
        (_, 0..=3) | (_, 5..=9) => false,
        // queue get config request/reply.
        (1, 20 | 21) | (2..=4, 22 | 23) => false,
        // get async request/reply.
        (4.., 26 | 27) => false,
        // group stats/desc/features, table features, table desc.
        (2.., 18 | 19) => !matches!(multipart_type(), Some(6 | 7 | 8 | 12 | 14)),
        _ => true,
    }
}

/// What a connection's [`Tracked`] session reports, from the connection's
/// task, in the connection's clock.
pub trait ConnEvents: Send + Sync {
    /// The hello exchange finished.
    fn connected(&self, _now_ms: u64) {}
    /// The peer sent a message that shows it accepted the switch (see
    /// [`is_admission_message`]). Called before the message is handled,
    /// at the first such message of a connection and at most once a second
    /// afterwards.
    fn admitted(&self, _now_ms: u64) {}
    /// The session is about to close the connection, and why.
    fn closing(&self, _why: &str) {}
}

/// A session wrapped to report its connection's progress: the end of the
/// hello exchange, admission, why it closed, and (for active connections)
/// a deadline for the peer's hello.
pub struct Tracked {
    inner: Box<dyn Session>,
    events: Arc<dyn ConnEvents>,
    hello_deadline_ms: Option<u64>,
    connected_ms: Option<u64>,
    /// When admission was last reported.
    admitted_ms: Option<u64>,
}

impl Tracked {
    /// `hello_deadline_ms`: close the connection if the peer's hello has
    /// not arrived by then (same clock as the session's).
    pub fn new(
        inner: Box<dyn Session>,
        events: Arc<dyn ConnEvents>,
        hello_deadline_ms: Option<u64>,
    ) -> Tracked {
        Tracked {
            inner,
            events,
            hello_deadline_ms,
            connected_ms: None,
            admitted_ms: None,
        }
    }
}

impl Session for Tracked {
    fn open(&mut self, now_ms: u64) -> Output {
        let out = self.inner.open(now_ms);
        if out.close {
            self.events.closing("the session refused to start");
        }
        out
    }

    fn message(&mut self, msg: &[u8], now_ms: u64) -> Output {
        if let Some(since) = self.connected_ms {
            let due = match self.admitted_ms {
                None => {
                    is_admission_message(msg) || now_ms.saturating_sub(since) >= ADMISSION_GRACE_MS
                }
                Some(last) => now_ms.saturating_sub(last) >= 1_000,
            };
            if due {
                self.admitted_ms = Some(now_ms);
                self.events.admitted(now_ms);
            }
        }
        let out = self.inner.message(msg, now_ms);
        if self.connected_ms.is_none() {
            // The first message is the peer's hello (anything else fails
            // the handshake and closes).
            if out.close {
                self.events.closing("the hello exchange failed");
            } else {
                self.connected_ms = Some(now_ms);
                self.events.connected(now_ms);
            }
        } else if out.close {
            self.events.closing("closed by the switch");
        }
        out
    }

    fn tick(&mut self, now_ms: u64) -> Output {
        if self.connected_ms.is_none() && self.hello_deadline_ms.is_some_and(|d| now_ms >= d) {
            self.events
                .closing("Connection timed out (no hello from the peer)");
            return Output {
                send: Vec::new(),
                close: true,
            };
        }
        let out = self.inner.tick(now_ms);
        if out.close {
            self.events
                .closing("no response to inactivity probe, disconnecting");
        }
        out
    }

    fn closed(&mut self) {
        self.inner.closed();
    }
}

/// Where an active connection is, in Open vSwitch's rconn state names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting before the next attempt.
    Backoff,
    /// Connecting, or waiting for the peer's hello.
    Connecting,
    /// Connected: the hello exchange finished.
    Active,
}

impl ConnState {
    pub fn name(&self) -> &'static str {
        match self {
            ConnState::Backoff => "BACKOFF",
            ConnState::Connecting => "CONNECTING",
            ConnState::Active => "ACTIVE",
        }
    }
}

/// An active connection's history, as Open vSwitch's rconn keeps it for
/// `ovs-vsctl show`, the Controller table's status and fail-open. Pure:
/// every event comes with the time (ms since the record was made).
#[derive(Clone, Debug)]
pub struct ConnRecord {
    backoff: Backoff,
    state: ConnState,
    last_error: Option<String>,
    /// Why the session closed the current connection, if it did.
    close_reason: Option<String>,
    last_connected_ms: Option<u64>,
    last_disconnected_ms: Option<u64>,
    /// The last time the peer was known to accept the switch; the
    /// record's creation until then.
    last_admitted_ms: u64,
    /// Admitted during the current connection.
    admitted: bool,
    attempts: u64,
    connections: u64,
}

impl ConnRecord {
    pub fn new(max_backoff_ms: u64) -> ConnRecord {
        ConnRecord {
            backoff: Backoff::new(max_backoff_ms),
            state: ConnState::Backoff,
            last_error: None,
            close_reason: None,
            last_connected_ms: None,
            last_disconnected_ms: None,
            last_admitted_ms: 0,
            admitted: false,
            attempts: 0,
            connections: 0,
        }
    }

    /// An attempt starts. Returns how long it may take (connect and hello).
    pub fn connecting(&mut self, now_ms: u64) -> u64 {
        self.state = ConnState::Connecting;
        self.attempts += 1;
        self.close_reason = None;
        self.backoff.attempt(now_ms)
    }

    /// The attempt took too long.
    pub fn timed_out(&mut self) {
        self.backoff.timed_out();
    }

    pub fn connected(&mut self, now_ms: u64) {
        self.state = ConnState::Active;
        self.last_connected_ms = Some(now_ms);
        self.admitted = false;
        self.connections += 1;
    }

    pub fn admitted(&mut self, now_ms: u64) {
        if self.state == ConnState::Active {
            self.admitted = true;
            self.last_admitted_ms = now_ms;
        }
    }

    /// The session's reason for closing; it replaces the transport's.
    pub fn closing(&mut self, why: &str) {
        self.close_reason = Some(why.to_string());
    }

    /// The attempt failed or the connection ended (`error`: the
    /// transport's reason). Returns the wait before the next attempt.
    pub fn disconnected(&mut self, now_ms: u64, error: String) -> u64 {
        if self.state == ConnState::Active {
            self.last_disconnected_ms = Some(now_ms);
            if self.admitted {
                self.last_admitted_ms = now_ms;
            }
        }
        self.last_error = Some(self.close_reason.take().unwrap_or(error));
        self.state = ConnState::Backoff;
        self.admitted = false;
        self.backoff.disconnected(now_ms)
    }

    pub fn state(&self) -> ConnState {
        self.state
    }

    pub fn is_connected(&self) -> bool {
        self.state == ConnState::Active
    }

    /// Connected and accepted by the controller.
    pub fn is_admitted(&self) -> bool {
        self.is_connected() && self.admitted
    }

    /// How long the switch has gone without an admitting controller on
    /// this connection (0 while it has one): what fail-open waits on.
    pub fn failure_duration_ms(&self, now_ms: u64) -> u64 {
        if self.is_admitted() {
            0
        } else {
            now_ms.saturating_sub(self.last_admitted_ms)
        }
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    pub fn backoff_ms(&self) -> u64 {
        self.backoff.current_ms()
    }

    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    pub fn connections(&self) -> u64 {
        self.connections
    }

    pub fn last_connected_ms(&self) -> Option<u64> {
        self.last_connected_ms
    }

    pub fn last_disconnected_ms(&self) -> Option<u64> {
        self.last_disconnected_ms
    }
}

/// One active controller's [`ConnRecord`], shared between its connection
/// task (which writes it) and whoever reports on it, with the clock both
/// use. Events are passed on to `hook` (the daemon's fail-open) after the
/// record has them.
pub struct ActiveStatus {
    /// The target, for logs.
    name: String,
    epoch: Instant,
    record: parking_lot::Mutex<ConnRecord>,
    hook: Option<Arc<dyn ConnEvents>>,
}

impl ActiveStatus {
    pub fn new(name: &str, max_backoff_ms: u64, hook: Option<Arc<dyn ConnEvents>>) -> ActiveStatus {
        ActiveStatus {
            name: name.to_string(),
            epoch: Instant::now(),
            record: parking_lot::Mutex::new(ConnRecord::new(max_backoff_ms)),
            hook,
        }
    }

    /// Milliseconds since the record was made.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The record now, and the time it was read at.
    pub fn snapshot(&self) -> (ConnRecord, u64) {
        let r = self.record.lock().clone();
        (r, self.now_ms())
    }

    pub fn failure_duration(&self) -> Duration {
        let now = self.now_ms();
        Duration::from_millis(self.record.lock().failure_duration_ms(now))
    }

    fn with<T>(&self, f: impl FnOnce(&mut ConnRecord) -> T) -> T {
        f(&mut self.record.lock())
    }
}

impl ConnEvents for ActiveStatus {
    fn connected(&self, now_ms: u64) {
        self.with(|r| r.connected(now_ms));
        tracing::info!(controller = %self.name, "connected");
        if let Some(h) = &self.hook {
            h.connected(now_ms);
        }
    }

    fn admitted(&self, now_ms: u64) {
        self.with(|r| r.admitted(now_ms));
        if let Some(h) = &self.hook {
            h.admitted(now_ms);
        }
    }

    fn closing(&self, why: &str) {
        self.with(|r| r.closing(why));
        if let Some(h) = &self.hook {
            h.closing(why);
        }
    }
}

/// Connects to `target` and runs a session from `factory` on each
/// connection, forever: after a failed attempt or a lost connection it
/// waits as [`Backoff`] says and tries again. Progress goes to `status`.
/// Cancel by dropping (aborting) the task.
pub async fn run_active(
    target: Connect,
    factory: Arc<dyn SessionFactory>,
    status: Arc<ActiveStatus>,
) {
    let name = target.to_string();
    loop {
        let start = status.now_ms();
        let limit_ms = status.with(|r| r.connecting(start));
        // Logged until the backoff reaches its maximum, then quiet, as
        // Open vSwitch does.
        let chatty = status.with(|r| r.backoff_ms() < r.backoff.max_ms());
        if chatty {
            tracing::info!(controller = %name, "connecting...");
        }
        let limit = Duration::from_millis(limit_ms);
        let deadline = Some(start + limit_ms);
        let error = match &target {
            Connect::Tcp { host, port } => {
                match tokio::time::timeout(
                    limit,
                    tokio::net::TcpStream::connect((host.as_str(), *port)),
                )
                .await
                {
                    Err(_) => None,
                    Ok(Err(e)) => Some(io_error_text(&e)),
                    Ok(Ok(s)) => {
                        let _ = s.set_nodelay(true);
                        Some(session_on(s, &name, &factory, &status, deadline).await)
                    }
                }
            }
            Connect::Unix(path) => {
                match tokio::time::timeout(limit, tokio::net::UnixStream::connect(path)).await {
                    Err(_) => None,
                    Ok(Err(e)) => Some(io_error_text(&e)),
                    Ok(Ok(s)) => Some(session_on(s, &name, &factory, &status, deadline).await),
                }
            }
        };
        let error = error.unwrap_or_else(|| {
            status.with(|r| r.timed_out());
            "Connection timed out".to_string()
        });
        let now = status.now_ms();
        let was_connected = status.with(|r| r.is_connected());
        let wait = status.with(|r| r.disconnected(now, error));
        let (rec, _) = status.snapshot();
        let why = rec.last_error().unwrap_or("");
        if was_connected {
            tracing::warn!(controller = %name, error = why, "controller connection dropped");
        } else if chatty {
            tracing::info!(controller = %name, error = why, "connection failed");
        }
        if chatty {
            if wait >= rec.backoff.max_ms() {
                tracing::info!(
                    controller = %name,
                    "continuing to retry connections in the background but suppressing further logging"
                );
            } else {
                tracing::info!(controller = %name, "waiting {} seconds before reconnect", wait / 1000);
            }
        }
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// Runs one session on a fresh connection; returns why it ended.
async fn session_on<S>(
    stream: S,
    name: &str,
    factory: &Arc<dyn SessionFactory>,
    status: &Arc<ActiveStatus>,
    hello_deadline_ms: Option<u64>,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::channel(1024);
    let inner = factory.session(tx, name.to_string());
    let events: Arc<dyn ConnEvents> = status.clone();
    let session = Tracked::new(inner, events, hello_deadline_ms);
    let ended = drive(stream, Box::new(session), rx, status.epoch).await;
    if status.with(|r| r.is_connected()) {
        tracing::debug!(controller = name, %ended, "connection ended");
    }
    ended.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_splits_and_waits_for_whole_messages() {
        let mut f = Framer::default();
        f.push(&[4, 2, 0, 10, 0, 0, 0, 1, 0xaa]);
        assert_eq!(f.next_message(), Ok(None));
        f.push(&[0xbb, 4, 0, 0, 8, 0, 0, 0, 2]);
        assert_eq!(
            f.next_message(),
            Ok(Some(vec![4, 2, 0, 10, 0, 0, 0, 1, 0xaa, 0xbb]))
        );
        assert_eq!(f.next_message(), Ok(Some(vec![4, 0, 0, 8, 0, 0, 0, 2])));
        assert_eq!(f.next_message(), Ok(None));
        f.push(&[4, 0, 0, 7, 0, 0, 0, 0]);
        assert_eq!(f.next_message(), Err(FramingError(7)));
    }

    #[test]
    fn targets_parse_like_open_vswitch() {
        assert_eq!(
            "punix:/run/x.mgmt".parse(),
            Ok(Listen::Unix("/run/x.mgmt".into()))
        );
        assert_eq!(
            "ptcp:6653".parse(),
            Ok(Listen::Tcp(
                "0.0.0.0:6653".parse().unwrap_or_else(|e| panic!("{e}"))
            ))
        );
        assert_eq!(
            "ptcp:6653:127.0.0.1".parse(),
            Ok(Listen::Tcp(
                "127.0.0.1:6653".parse().unwrap_or_else(|e| panic!("{e}"))
            ))
        );
        assert_eq!(
            "ptcp:".parse(),
            Ok(Listen::Tcp(
                "0.0.0.0:6653".parse().unwrap_or_else(|e| panic!("{e}"))
            ))
        );
        for bad in ["tcp:1.2.3.4:6653", "ptcp:x", "punix:", "ptcp:70000"] {
            assert!(bad.parse::<Listen>().is_err(), "{bad}");
        }
        assert!(matches!(
            "pssl:6653".parse::<Listen>(),
            Err(TargetError::Ssl(_))
        ));
    }

    #[test]
    fn active_targets_parse_like_open_vswitch() {
        let tcp = |h: &str, p: u16| Connect::Tcp {
            host: h.to_string(),
            port: p,
        };
        for (s, want) in [
            ("tcp:127.0.0.1:6653", tcp("127.0.0.1", 6653)),
            ("tcp:10.0.0.1", tcp("10.0.0.1", 6653)),
            ("tcp:10.0.0.1:", tcp("10.0.0.1", 6653)),
            ("tcp:[::1]:6633", tcp("::1", 6633)),
            ("tcp:[fe80::1]", tcp("fe80::1", 6653)),
            ("tcp:ctl.example:7000", tcp("ctl.example", 7000)),
            ("unix:/run/ctl.sock", Connect::Unix("/run/ctl.sock".into())),
        ] {
            assert_eq!(s.parse::<Connect>(), Ok(want.clone()), "{s}");
            // And back, with the port spelled out.
            assert_eq!(want.to_string().parse::<Connect>(), Ok(want), "{s}");
        }
        for bad in [
            "tcp:",
            "tcp::6653",
            "tcp:1.2.3.4:99999",
            "tcp:1.2.3.4:x",
            "tcp:[::1",
            "tcp:[::1]x",
            "unix:",
            "ptcp:6653",
            "udp:1.2.3.4",
            "",
        ] {
            assert!(bad.parse::<Connect>().is_err(), "{bad}");
        }
        for ssl in ["ssl:1.2.3.4:6653", "ssl:1.2.3.4"] {
            let e = ssl.parse::<Connect>();
            assert!(matches!(e, Err(TargetError::Ssl(_))), "{ssl}: {e:?}");
        }
    }

    /// Fails `n` attempts, each `took_ms` long, from `t`; returns the waits.
    fn fail(b: &mut Backoff, t: &mut u64, n: usize, took_ms: u64) -> Vec<u64> {
        (0..n)
            .map(|_| {
                b.attempt(*t);
                *t += took_ms;
                let w = b.disconnected(*t);
                *t += w;
                w
            })
            .collect()
    }

    #[test]
    fn backoff_doubles_from_one_second_to_the_maximum() {
        let mut b = Backoff::new(DEFAULT_MAX_BACKOFF_MS);
        let mut t = 0;
        assert_eq!(
            fail(&mut b, &mut t, 6, 3),
            vec![1_000, 2_000, 4_000, 8_000, 8_000, 8_000]
        );
        // Another maximum: the step that would pass half of it goes to it.
        let mut b = Backoff::new(3_000);
        assert_eq!(fail(&mut b, &mut t, 4, 0), vec![1_000, 2_000, 3_000, 3_000]);
        // Below a second is a second.
        assert_eq!(Backoff::new(0).max_ms(), 1_000);
    }

    #[test]
    fn a_connection_that_lasted_starts_the_schedule_over() {
        let mut b = Backoff::new(DEFAULT_MAX_BACKOFF_MS);
        let mut t = 1_000_000;
        assert_eq!(
            fail(&mut b, &mut t, 4, 10),
            vec![1_000, 2_000, 4_000, 8_000]
        );
        // Connected, and up for longer than the current wait (8 s).
        b.attempt(t);
        t += 8_000;
        assert_eq!(b.disconnected(t), 1_000);
        // Connected but dropped at once: the wait keeps doubling.
        t += 1_000;
        b.attempt(t);
        t += 999;
        assert_eq!(b.disconnected(t), 2_000);
    }

    #[test]
    fn a_timed_out_attempt_never_counts_as_lasting() {
        let mut b = Backoff::new(DEFAULT_MAX_BACKOFF_MS);
        let mut t = 0;
        assert_eq!(fail(&mut b, &mut t, 2, 0), vec![1_000, 2_000]);
        // The attempt may take as long as the wait, at least 1 s ...
        assert_eq!(b.attempt(t), 2_000);
        b.timed_out();
        // ... and its length does not reset the schedule.
        t += 2_000;
        assert_eq!(b.disconnected(t), 4_000);
        assert_eq!(Backoff::new(8_000).attempt(0), 1_000);
    }

    fn msg(version: u8, ty: u8, body: &[u8]) -> Vec<u8> {
        let len = (8 + body.len()) as u16;
        let mut m = vec![version, ty, (len >> 8) as u8, len as u8, 0, 0, 0, 1];
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn admission_messages_are_those_open_vswitch_counts() {
        for v in 1..=6u8 {
            for ty in [0u8, 1, 2, 3, 5, 6, 7, 8, 9] {
                assert!(!is_admission_message(&msg(v, ty, &[])), "v{v} type {ty}");
            }
            // flow_mod (14 in every version), barrier request (1.0: 18, 1.1+: 20).
            assert!(is_admission_message(&msg(v, 14, &[0; 40])), "v{v} flow_mod");
            let barrier = if v == 1 { 18 } else { 20 };
            assert!(is_admission_message(&msg(v, barrier, &[])), "v{v} barrier");
            // An experimenter message (Nicira role, flow format, ...).
            assert!(is_admission_message(&msg(v, 4, &[0, 0, 0x23, 0x20])));
        }
        // Queue config and async config requests.
        assert!(!is_admission_message(&msg(1, 20, &[])));
        assert!(!is_admission_message(&msg(4, 22, &[])));
        assert!(!is_admission_message(&msg(4, 26, &[])));
        // OpenFlow 1.3 multipart: group desc and table features look the
        // switch over; flow stats do not.
        assert!(!is_admission_message(&msg(
            4,
            18,
            &[0, 7, 0, 0, 0, 0, 0, 0]
        )));
        assert!(!is_admission_message(&msg(
            4,
            18,
            &[0, 12, 0, 0, 0, 0, 0, 0]
        )));
        assert!(is_admission_message(&msg(4, 18, &[0, 1, 0, 0, 0, 0, 0, 0])));
        // OpenFlow 1.0 stats request of flows.
        assert!(is_admission_message(&msg(1, 16, &[0, 1, 0, 0])));
        // Not OpenFlow: short, unknown version, unknown type.
        assert!(!is_admission_message(&[4, 14, 0]));
        assert!(!is_admission_message(&msg(9, 14, &[])));
        assert!(!is_admission_message(&msg(4, 99, &[])));
        assert!(!is_admission_message(&[]));
    }

    /// What a [`Tracked`] session reported.
    #[derive(Default)]
    struct Log(parking_lot::Mutex<Vec<String>>);
    impl ConnEvents for Log {
        fn connected(&self, now_ms: u64) {
            self.0.lock().push(format!("connected@{now_ms}"));
        }
        fn admitted(&self, now_ms: u64) {
            self.0.lock().push(format!("admitted@{now_ms}"));
        }
        fn closing(&self, why: &str) {
            self.0.lock().push(format!("closing: {why}"));
        }
    }

    /// Answers nothing; closes on a message of type 99 or on a tick at or
    /// after 50 s (standing in for an unanswered probe).
    struct Quiet;
    impl Session for Quiet {
        fn open(&mut self, _: u64) -> Output {
            Output {
                send: vec![msg(4, 0, &[])],
                close: false,
            }
        }
        fn message(&mut self, m: &[u8], _: u64) -> Output {
            Output {
                send: Vec::new(),
                close: m[1] == 99,
            }
        }
        fn tick(&mut self, now_ms: u64) -> Output {
            Output {
                send: Vec::new(),
                close: now_ms >= 50_000,
            }
        }
    }

    #[test]
    fn tracked_reports_hello_admission_and_why_it_closed() {
        let log = Arc::new(Log::default());
        let mut s = Tracked::new(Box::new(Quiet), log.clone(), Some(1_000));
        s.open(0);
        // Looking the switch over is not admission; a flow_mod is.
        assert!(!s.message(&msg(4, 0, &[]), 10).close);
        s.message(&msg(4, 5, &[]), 20);
        s.message(&msg(4, 2, &[]), 30);
        assert!(!s.tick(2_000).close, "the hello came in time");
        s.message(&msg(4, 14, &[0; 40]), 40);
        // Reported again at most once a second.
        s.message(&msg(4, 14, &[0; 40]), 500);
        s.message(&msg(4, 14, &[0; 40]), 1_040);
        assert!(s.tick(50_000).close);
        assert_eq!(
            *log.0.lock(),
            vec![
                "connected@10",
                "admitted@40",
                "admitted@1040",
                "closing: no response to inactivity probe, disconnecting"
            ]
        );
    }

    #[test]
    fn tracked_admits_anything_after_thirty_seconds_and_times_out_hellos() {
        let log = Arc::new(Log::default());
        let mut s = Tracked::new(Box::new(Quiet), log.clone(), None);
        s.open(0);
        s.message(&msg(4, 0, &[]), 0);
        s.message(&msg(4, 2, &[]), 29_999);
        s.message(&msg(4, 2, &[]), 30_000);
        assert_eq!(*log.0.lock(), vec!["connected@0", "admitted@30000"]);

        let log = Arc::new(Log::default());
        let mut s = Tracked::new(Box::new(Quiet), log.clone(), Some(1_000));
        s.open(0);
        assert!(!s.tick(999).close);
        assert!(s.tick(1_000).close);
        assert_eq!(
            *log.0.lock(),
            vec!["closing: Connection timed out (no hello from the peer)"]
        );
    }

    #[test]
    fn record_measures_failure_from_the_last_admission() {
        let mut r = ConnRecord::new(DEFAULT_MAX_BACKOFF_MS);
        assert_eq!(r.failure_duration_ms(7_000), 7_000, "never admitted");
        assert_eq!(r.connecting(7_000), 1_000);
        r.connected(7_100);
        assert!(r.is_connected() && !r.is_admitted());
        assert_eq!(
            r.failure_duration_ms(8_000),
            8_000,
            "connected is not enough"
        );
        r.admitted(8_000);
        assert_eq!(r.failure_duration_ms(20_000), 0);
        r.closing("no response to inactivity probe, disconnecting");
        assert_eq!(r.disconnected(30_000, "End of file".into()), 1_000);
        assert_eq!(
            r.last_error(),
            Some("no response to inactivity probe, disconnecting"),
            "the session's reason wins"
        );
        assert_eq!(r.state(), ConnState::Backoff);
        assert_eq!(r.failure_duration_ms(45_000), 15_000);
        assert_eq!(r.connecting(31_000), 1_000);
        assert_eq!(r.disconnected(31_001, "Connection refused".into()), 2_000);
        assert_eq!(r.last_error(), Some("Connection refused"));
        assert_eq!((r.attempts(), r.connections()), (2, 1));
    }

    struct QuietFactory;
    impl SessionFactory for QuietFactory {
        fn session(&self, _: mpsc::Sender<Vec<u8>>, _: String) -> Box<dyn Session> {
            Box::new(Quiet)
        }
    }

    #[test]
    fn run_active_connects_reconnects_and_reports() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(rt) = rt else { panic!("runtime") };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("ctl.sock");
        rt.block_on(async {
            let status = Arc::new(ActiveStatus::new("test", DEFAULT_MAX_BACKOFF_MS, None));
            let task = tokio::spawn(run_active(
                Connect::Unix(path.clone()),
                Arc::new(QuietFactory),
                status.clone(),
            ));
            // Nobody listens yet: refused, 1 s wait.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (r, _) = status.snapshot();
            assert_eq!(r.state(), ConnState::Backoff);
            assert!(r.last_error().is_some(), "{r:?}");
            assert_eq!(r.backoff_ms(), 1_000);

            let l = tokio::net::UnixListener::bind(&path).unwrap_or_else(|e| panic!("{e}"));
            let t0 = Instant::now();
            let (mut c, _) = l.accept().await.unwrap_or_else(|e| panic!("{e}"));
            assert!(
                t0.elapsed() < Duration::from_millis(1_500),
                "retried after 1 s"
            );
            let mut hello = [0u8; 8];
            c.read_exact(&mut hello)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(hello[1], 0);
            assert_eq!(status.snapshot().0.state(), ConnState::Connecting);
            c.write_all(&msg(4, 0, &[]))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            c.write_all(&msg(4, 20, &[]))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (r, _) = status.snapshot();
            assert!(r.is_connected() && r.is_admitted(), "{r:?}");
            assert_eq!(status.failure_duration(), Duration::ZERO);

            // The controller hangs up after the connection lasted longer
            // than the wait (1 s): the switch is back after 1 s, not 2.
            tokio::time::sleep(Duration::from_millis(1_100)).await;
            drop(c);
            let t0 = Instant::now();
            let (_c, _) = l.accept().await.unwrap_or_else(|e| panic!("{e}"));
            let took = t0.elapsed();
            assert!(
                took >= Duration::from_millis(900) && took < Duration::from_millis(1_600),
                "{took:?}"
            );
            let (r, _) = status.snapshot();
            assert_eq!(r.last_error(), Some("End of file"));
            assert_eq!((r.attempts(), r.connections()), (3, 1));
            task.abort();
        });
    }

    struct Echo;
    impl Session for Echo {
        fn open(&mut self, _: u64) -> Output {
            Output {
                send: vec![vec![4, 0, 0, 8, 0, 0, 0, 0]],
                close: false,
            }
        }
        fn message(&mut self, msg: &[u8], _: u64) -> Output {
            Output {
                send: vec![msg.to_vec()],
                close: msg[1] == 99,
            }
        }
        fn tick(&mut self, _: u64) -> Output {
            Output::default()
        }
    }

    #[test]
    fn connection_task_frames_and_answers() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(rt) = rt else { panic!("runtime") };
        rt.block_on(async {
            let (a, mut b) = tokio::io::duplex(4096);
            let (_tx, rx) = mpsc::channel(4);
            let task = tokio::spawn(run_connection(a, Box::new(Echo), rx));
            let mut hello = [0u8; 8];
            b.read_exact(&mut hello)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(hello[1], 0);
            // Two messages in one write, the second split across writes.
            b.write_all(&[4, 2, 0, 8, 0, 0, 0, 1, 4, 99, 0])
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            b.write_all(&[8, 0, 0, 0, 2])
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut got = [0u8; 16];
            b.read_exact(&mut got)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&got[..8], &[4, 2, 0, 8, 0, 0, 0, 1]);
            assert_eq!(got[9], 99);
            task.await.unwrap_or_else(|e| panic!("{e}"));
        });
    }
}
