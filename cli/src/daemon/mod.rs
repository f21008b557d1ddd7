//! The daemon: run and state directories, the control socket, the state
//! task and the datapath threads.
//!
//! Start-up is split in two so that `--detach` can fork in between:
//! [`prepare`] (single-threaded: directories, the state lock, the stored
//! configuration, a check that no daemon already answers on the socket)
//! and [`Prepared::start`] (threads, devices, the socket).

pub mod openflow;
pub mod poll;
pub mod ports;
pub mod runtime;
pub mod state;

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender};

use crate::config::{Config, ConfigError, CONFIG_FILE};
use crate::proto::{self, CtlError, CtlRequest, CtlResponse, ErrorKind};

/// Name of the lock file inside the state directory.
pub const LOCK_FILE: &str = "oxvsd.lock";
/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection waits for the state task.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// The run directory: `$OXVS_RUNDIR`, else `/run/oxvs`.
pub fn default_rundir() -> PathBuf {
    std::env::var_os("OXVS_RUNDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/oxvs"))
}

/// The state directory: `$OXVS_STATEDIR`, else `/var/lib/oxvs`.
pub fn default_statedir() -> PathBuf {
    std::env::var_os("OXVS_STATEDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/oxvs"))
}

/// The datapath clock: milliseconds since the daemon started, from 1 (so
/// that 0 can mean "never").
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("another oxvsd is already running with state directory {0}")]
    Locked(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("another oxvsd is already answering on {0}")]
    SocketInUse(PathBuf),
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the datapath: {0}")]
    Runtime(#[source] io::Error),
    #[error("cannot start thread: {0}")]
    Thread(#[source] io::Error),
}

/// Where the daemon keeps things.
#[derive(Clone, Debug)]
pub struct Paths {
    pub rundir: PathBuf,
    pub statedir: PathBuf,
}

impl Paths {
    pub fn config(&self) -> PathBuf {
        self.statedir.join(CONFIG_FILE)
    }
    pub fn socket(&self) -> PathBuf {
        proto::socket_path(&self.rundir)
    }
    pub fn lock(&self) -> PathBuf {
        self.statedir.join(LOCK_FILE)
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A daemon ready to start: directories made, state locked, config read.
pub struct Prepared {
    paths: Paths,
    config: Config,
    lock: File,
}

/// Makes the directories, locks the state directory, reads (and checks) the
/// stored configuration, and checks that no daemon answers on the socket.
/// Spawns no thread, so the caller may fork afterwards.
pub fn prepare(rundir: &Path, statedir: &Path) -> Result<Prepared, DaemonError> {
    let paths = Paths {
        rundir: absolute(rundir),
        statedir: absolute(statedir),
    };
    for d in [&paths.rundir, &paths.statedir] {
        std::fs::create_dir_all(d).map_err(|e| DaemonError::Dir {
            path: d.clone(),
            source: e,
        })?;
    }
    let lock = crate::sys::lock_file(&paths.lock()).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            DaemonError::Locked(paths.statedir.clone())
        } else {
            DaemonError::Lock {
                path: paths.lock(),
                source: e,
            }
        }
    })?;
    let config = Config::load(&paths.config())?.unwrap_or_default();
    let sock = paths.socket();
    if sock.exists() {
        if UnixStream::connect(&sock).is_ok() {
            return Err(DaemonError::SocketInUse(sock));
        }
        // Left behind by a daemon that died: take it over.
        let _ = std::fs::remove_file(&sock);
    }
    Ok(Prepared {
        paths,
        config,
        lock,
    })
}

/// A message to the state task.
enum Msg {
    Request {
        req: CtlRequest,
        reply: Sender<CtlResponse>,
    },
    Shutdown,
}

/// Sends requests to a running daemon in the same process (the demo, the
/// signal thread).
#[derive(Clone)]
pub struct DaemonHandle {
    tx: Sender<Msg>,
}

impl DaemonHandle {
    /// Asks the daemon to stop (as SIGTERM does).
    pub fn shutdown(&self) {
        let _ = self.tx.send(Msg::Shutdown);
    }

    /// Runs one request through the state task.
    pub fn request(&self, req: CtlRequest) -> CtlResponse {
        let (tx, rx) = channel::bounded(1);
        if self.tx.send(Msg::Request { req, reply: tx }).is_err() {
            return CtlResponse::Error(CtlError::new(ErrorKind::Unavailable, "oxvsd is stopping"));
        }
        rx.recv_timeout(ANSWER_TIMEOUT).unwrap_or_else(|_| {
            CtlResponse::Error(CtlError::new(
                ErrorKind::Unavailable,
                "oxvsd did not answer in time",
            ))
        })
    }
}

/// A running daemon.
pub struct Daemon {
    paths: Paths,
    tx: Sender<Msg>,
    state: Option<JoinHandle<()>>,
    server: Option<JoinHandle<()>>,
    server_stop: Arc<AtomicBool>,
    _lock: File,
}

impl Prepared {
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts the datapath threads, restores the configuration and listens
    /// on the control socket.
    pub fn start(self) -> Result<Daemon, DaemonError> {
        let rt = runtime::Runtime::start(&self.config.datapath).map_err(DaemonError::Runtime)?;
        let st = state::State::restore(self.config, self.paths.clone(), rt);
        let sock = self.paths.socket();
        let listener = UnixListener::bind(&sock).map_err(|e| DaemonError::Bind {
            path: sock.clone(),
            source: e,
        })?;
        let (tx, rx) = channel::unbounded();
        let state = std::thread::Builder::new()
            .name("oxvs-state".into())
            .spawn(move || state_loop(st, rx))
            .map_err(DaemonError::Thread)?;
        let server_stop = Arc::new(AtomicBool::new(false));
        let (stx, stop) = (tx.clone(), server_stop.clone());
        let server = std::thread::Builder::new()
            .name("oxvs-ctl".into())
            .spawn(move || serve(listener, stx, stop))
            .map_err(DaemonError::Thread)?;
        tracing::info!(socket = %sock.display(), "oxvsd ready");
        Ok(Daemon {
            paths: self.paths,
            tx,
            state: Some(state),
            server: Some(server),
            server_stop,
            _lock: self.lock,
        })
    }
}

impl Daemon {
    pub fn handle(&self) -> DaemonHandle {
        DaemonHandle {
            tx: self.tx.clone(),
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Waits until the daemon stops (an `exit` request or a shutdown), then
    /// closes the socket.
    pub fn wait(mut self) {
        if let Some(s) = self.state.take() {
            let _ = s.join();
        }
        self.close_socket();
    }

    fn close_socket(&mut self) {
        self.server_stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.server.take() {
            let _ = s.join();
        }
        let _ = std::fs::remove_file(self.paths.socket());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(s) = self.state.take() {
            let _ = s.join();
        }
        self.close_socket();
    }
}

fn state_loop(mut st: state::State, rx: Receiver<Msg>) {
    let tick = Duration::from_secs(1);
    let mut next = Instant::now() + tick;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Msg::Request { req, reply }) => {
                let exit = req == CtlRequest::Exit;
                let _ = reply.send(st.handle(req).into());
                if exit {
                    tracing::info!("exit requested");
                    break;
                }
            }
            Ok(Msg::Shutdown) => {
                tracing::info!("shutting down");
                break;
            }
            Err(channel::RecvTimeoutError::Timeout) => {}
            Err(channel::RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next {
            st.tick();
            next = Instant::now() + tick;
        }
    }
    st.shutdown();
}

/// Waits until `fd` is readable or `ms` passed.
fn wait_readable(fd: i32, ms: i32) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd that lives across the call.
    unsafe { libc::poll(&mut pfd, 1, ms) };
}

/// The control socket: accepts connections and hands each to its own
/// short-lived thread, which decodes one request, passes it to the state
/// task and writes the answer.
fn serve(listener: UnixListener, tx: Sender<Msg>, stop: Arc<AtomicBool>) {
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!(error = %e, "control socket: cannot set non-blocking");
    }
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                let tx = tx.clone();
                let spawned = std::thread::Builder::new()
                    .name("oxvs-ctl-conn".into())
                    .spawn(move || {
                        if let Err(e) = connection(conn, tx) {
                            tracing::debug!(error = %e, "control connection");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot start a thread for a control connection");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_readable(listener.as_raw_fd(), 200);
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn connection(mut conn: UnixStream, tx: Sender<Msg>) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    conn.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let Some(line) = proto::read_line(&conn)? else {
        return Ok(());
    };
    let resp = match serde_json::from_str::<CtlRequest>(&line) {
        Ok(req) => DaemonHandle { tx }.request(req),
        Err(e) => CtlResponse::Error(CtlError::bad(format!("cannot decode request: {e}"))),
    };
    conn.write_all(&proto::encode_line(&resp))?;
    conn.flush()
}
