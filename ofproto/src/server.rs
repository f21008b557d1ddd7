//! OpenFlow transport: listeners (`punix:PATH`, `ptcp:PORT[:IP]`), message
//! framing, and one task per connection driving a [`Session`].
//!
//! The session is the protocol logic and does no I/O: it is handed whole
//! messages and the time, and returns the bytes to send. The connection task
//! only moves bytes, runs the session's timer and forwards asynchronous
//! messages (packet-in, flow-removed, port-status) that the bridge pushes
//! through the connection's outbound channel.

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
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
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

/// Drives one connection until it closes.
pub async fn run_connection<S>(
    stream: S,
    mut session: Box<dyn Session>,
    mut outbound: mpsc::Receiver<Vec<u8>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let epoch = Instant::now();
    let now = || epoch.elapsed().as_millis() as u64;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let out = session.open(now());
    if !write_all(&mut wr, &out).await || out.close {
        session.closed();
        return;
    }
    loop {
        let out = tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
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
        if !write_all(&mut wr, &out).await || out.close {
            break;
        }
    }
    session.closed();
}

async fn write_all<W: AsyncWrite + Unpin>(wr: &mut W, out: &Output) -> bool {
    for m in &out.send {
        if wr.write_all(m).await.is_err() {
            return false;
        }
    }
    wr.flush().await.is_ok()
}

/// A passive OpenFlow endpoint as Open vSwitch spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// Why a target string was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("unsupported OpenFlow target {0:?} (expected punix:PATH or ptcp:PORT[:IP])")]
    Syntax(String),
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
                None => (rest, "0.0.0.0"),
            };
            let port: u16 = port.parse().map_err(|_| bad())?;
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
            return Ok(Listen::Tcp(SocketAddr::new(ip, port)));
        }
        Err(bad())
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
        for bad in ["tcp:1.2.3.4:6653", "ptcp:x", "punix:", "ptcp:70000"] {
            assert!(bad.parse::<Listen>().is_err(), "{bad}");
        }
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
