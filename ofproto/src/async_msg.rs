//! Asynchronous messages: events a bridge raises (a packet sent to the
//! controller, a flow removed) and the hub that delivers them to every
//! connection of the bridge, each encoded in that connection's version and
//! format.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::ofp::codec::Writer;
use crate::ofp::matching::{port_to_u16, Match};
use crate::ofp::message::{encode, Message, PacketInFormat, RawMsg, Role, Unparsed};
use crate::ofp::Version;

/// A packet for the controller (OFPT_PACKET_IN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    /// OFPR_*: 0 no match (table miss), 1 action, 2 invalid TTL.
    pub reason: u8,
    pub table_id: u8,
    pub cookie: u64,
    pub in_port: u32,
    /// The frame, possibly cut to `max_len`.
    pub data: Vec<u8>,
    /// Length of the whole frame.
    pub total_len: u16,
}

/// What one connection wants to receive, kept current by its session.
#[derive(Clone, Debug)]
pub struct SubscriberState {
    pub version: Option<Version>,
    pub role: Role,
    pub packet_in_format: PacketInFormat,
}

/// One connection's end of the hub.
pub struct Subscriber {
    tx: mpsc::Sender<Vec<u8>>,
    pub state: Mutex<SubscriberState>,
}

impl Subscriber {
    pub fn new(tx: mpsc::Sender<Vec<u8>>) -> Arc<Subscriber> {
        Arc::new(Subscriber {
            tx,
            state: Mutex::new(SubscriberState {
                version: None,
                role: Role::Equal,
                packet_in_format: PacketInFormat::Standard,
            }),
        })
    }
}

/// Delivers a bridge's asynchronous messages to its connections.
#[derive(Default)]
pub struct AsyncHub {
    subs: Mutex<Vec<Weak<Subscriber>>>,
}

impl AsyncHub {
    pub fn subscribe(&self, s: &Arc<Subscriber>) {
        let mut v = self.subs.lock();
        v.retain(|w| w.strong_count() > 0);
        v.push(Arc::downgrade(s));
    }

    /// Connections that have finished their handshake.
    pub fn connected(&self) -> usize {
        self.subs
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| s.state.lock().version.is_some())
            .count()
    }

    /// Sends a packet-in to every connection that is not a secondary. A
    /// connection whose queue is full misses it (counted in the log), as a
    /// slow controller must not stall the switch.
    pub fn packet_in(&self, pi: &PacketIn) {
        let subs: Vec<Arc<Subscriber>> =
            self.subs.lock().iter().filter_map(Weak::upgrade).collect();
        for s in subs {
            let st = s.state.lock().clone();
            let Some(v) = st.version else { continue };
            if st.role == Role::Secondary {
                continue;
            }
            match encode_packet_in(v, st.packet_in_format, pi) {
                Some(bytes) => {
                    if s.tx.try_send(bytes).is_err() {
                        tracing::debug!("packet-in dropped: connection queue full");
                    }
                }
                None => tracing::debug!(?v, "packet-in not encodable for this connection"),
            }
        }
    }
}

/// Encodes a packet-in as `version` and `format` say (None: cannot).
pub fn encode_packet_in(
    version: Version,
    format: PacketInFormat,
    pi: &PacketIn,
) -> Option<Vec<u8>> {
    let mut w = Writer::new();
    let mut m = Match::new();
    m.set_in_port(pi.in_port).ok()?;
    let raw = match (version, format) {
        (Version::Of10, PacketInFormat::Standard) => {
            w.u32(u32::MAX)
                .u16(pi.total_len)
                .u16(port_to_u16(pi.in_port)?)
                .u8(pi.reason)
                .u8(0);
            w.bytes(&pi.data);
            RawMsg::Of10PacketIn
        }
        (_, PacketInFormat::Nxt) => {
            w.u32(u32::MAX)
                .u16(pi.total_len)
                .u8(pi.reason)
                .u8(pi.table_id)
                .u64(pi.cookie);
            let len_at = w.mark();
            w.u16(0).zeros(6);
            let n = m.encode_nxm(&mut w).ok()?;
            w.zeros((8 - n % 8) % 8);
            w.patch_u16(len_at, 0, n as u16);
            w.zeros(2).bytes(&pi.data);
            RawMsg::NxtPacketIn
        }
        (Version::Of10, _) => return None,
        (_, PacketInFormat::Standard) => {
            w.u32(u32::MAX)
                .u16(pi.total_len)
                .u8(pi.reason)
                .u8(pi.table_id)
                .u64(pi.cookie);
            m.encode_oxm(version, &mut w).ok()?;
            w.zeros(2).bytes(&pi.data);
            RawMsg::Of13PacketIn
        }
        _ => return None,
    };
    encode(
        &Message::Unparsed(Unparsed {
            raw,
            flags: 0,
            body: w.into_vec(),
        }),
        version,
        0,
    )
    .ok()
}
