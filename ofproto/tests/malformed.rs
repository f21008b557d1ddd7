//! Malformed OpenFlow messages over a real connection: a listener on a unix
//! socket serves an [`OfSession`] over a bridge, and the test talks to it
//! with a plain `std` socket in OpenFlow 1.0, 1.3, 1.4 and 1.5.
//!
//! After the hello exchange every case sends one malformed message and reads
//! the answer: it must be an OFPT_ERROR in the negotiated version, with the
//! offending message's xid, exactly the (type, code) — and vendor or
//! experimenter words — that Open vSwitch sends for that error in that
//! version, and as data the first 64 bytes of the offending message (what
//! `ErrorMsg::reply` keeps, and what Open vSwitch's `ofperr_encode_reply`
//! sends). An echo request sent right behind the message must then come
//! back with the same xid and payload: the connection survives every case.
//!
//! The expected error of each case is Open vSwitch's. Where `ovs-ofctl
//! ofp-print` can tell (it decodes a message as the switch does and prints
//! `***decode error: NAME***`), [`ofp_print_agrees_with_every_expected_error`]
//! checks the case table against it; the other cases cite the switch-side
//! code (vconn.c, ofproto.c, bundles.c, connmgr.c in Open vSwitch 3.1) that
//! picks the error. How OVS spells each error per version is checked against
//! `ovs-ofctl print-error`.
//!
//! Framing-level garbage (a length below 8, or a stream that ends inside a
//! message) cannot be answered: Open vSwitch (vconn-stream.c) drops the
//! connection, and so must we; [`garbage_framing_closes_the_connection`]
//! checks that with a fresh connection for each.
//!
//! Every case runs: none is set aside as a known disagreement with Open
//! vSwitch. `MALFORMED_VERBOSE=1` prints every passing case.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use oxvs_datapath::dp::DatapathConfig;
use oxvs_datapath::Datapath;
use oxvs_ofproto::bridge::{Bridge, BridgePort, VlanMode, OFPP_LOCAL};
use oxvs_ofproto::bridge_view::{BridgeView, PortSource};
use oxvs_ofproto::ofconn::OfSession;
use oxvs_ofproto::ofp::Version;
use oxvs_ofproto::server::{serve, Listen, Session, SessionFactory};
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------
// The switch.

/// Link state and counters of the bridge's ports (all up, no counters).
struct Links;
impl PortSource for Links {
    fn link(&self, p: &BridgePort) -> ([u8; 6], bool) {
        ([0x02, 0, 0, 0, 0, p.ofp_port as u8], true)
    }
    fn counters(&self, _: u32) -> Option<oxvs_datapath::port::PortStats> {
        None
    }
    fn dp_now_ms(&self) -> u64 {
        0
    }
}

struct Factory(Arc<BridgeView>);
impl SessionFactory for Factory {
    fn session(&self, _out: mpsc::Sender<Vec<u8>>, _peer: String) -> Box<dyn Session> {
        Box::new(OfSession::new(self.0.clone(), Version::ALL.to_vec(), None))
    }
}

/// A switch listening on `br0.mgmt` in a fresh directory, served by a
/// background runtime: a real bridge (ports 1-3 and LOCAL, 254 flow
/// tables) behind [`BridgeView`], so that flow mods meet the same checks
/// as in the daemon.
struct Switch {
    sock: PathBuf,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Switch {
    let bridge = Bridge::new("br0");
    for (p, name) in [(1, "p1"), (2, "p2"), (3, "p3"), (OFPP_LOCAL, "br0")] {
        bridge
            .add_port(BridgePort {
                ofp_port: p,
                dp_port: p & 0xff,
                name: name.into(),
                vlan: VlanMode::Trunk(None),
            })
            .expect("port");
    }
    let view = BridgeView::new(
        bridge,
        Arc::new(Datapath::new(DatapathConfig::default())),
        0x0000_1234_5678_9abc,
        Arc::new(Links),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("br0.mgmt");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listen = Listen::Unix(sock.clone());
    rt.spawn(async move {
        if let Err(e) = serve(listen, Arc::new(Factory(view))).await {
            panic!("serve: {e}");
        }
    });
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Switch {
        sock,
        _dir: dir,
        _rt: rt,
    }
}

// ---------------------------------------------------------------------------
// Versions and the errors Open vSwitch sends.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct V(u8);

const OF10: V = V(1);
const OF13: V = V(4);
const OF14: V = V(5);
const OF15: V = V(6);
const VERSIONS: [V; 4] = [OF10, OF13, OF14, OF15];

impl V {
    fn slot(self) -> usize {
        match self.0 {
            1 => 0,
            4 => 1,
            5 => 2,
            _ => 3,
        }
    }
    fn name(self) -> &'static str {
        [
            "OpenFlow 1.0",
            "OpenFlow 1.3",
            "OpenFlow 1.4",
            "OpenFlow 1.5",
        ][self.slot()]
    }
}

/// `(vendor, type, code)` as `ovs-ofctl print-error` prints it: vendor 0 is
/// a standard `(type, code)`; otherwise OpenFlow 1.0 sends NXET_VENDOR
/// (0xb0c2, 0) followed by vendor, type and code, and OpenFlow 1.2+ sends
/// OFPET_EXPERIMENTER (0xffff) with `type` as the code, followed by the
/// experimenter id (`code` is then 0).
type Triple = (u32, u16, u16);

/// How Open vSwitch spells each error used here in OpenFlow 1.0, 1.3, 1.4
/// and 1.5 (`ovs-ofctl print-error NAME`; checked by
/// [`error_spellings_match_ovs_print_error`]). `None`: the version has no
/// spelling, and Open vSwitch sends NXBRC_UNENCODABLE_ERROR instead.
const ERRORS: &[(&str, [Option<Triple>; 4])] = &[
    (
        "OFPBRC_BAD_VERSION",
        [
            Some((0, 1, 0)),
            Some((0, 1, 0)),
            Some((0, 1, 0)),
            Some((0, 1, 0)),
        ],
    ),
    (
        "OFPBRC_BAD_TYPE",
        [
            Some((0, 1, 1)),
            Some((0, 1, 1)),
            Some((0, 1, 1)),
            Some((0, 1, 1)),
        ],
    ),
    (
        "OFPBRC_BAD_STAT",
        [
            Some((0, 1, 2)),
            Some((0, 1, 2)),
            Some((0, 1, 2)),
            Some((0, 1, 2)),
        ],
    ),
    (
        "OFPBRC_BAD_VENDOR",
        [
            Some((0, 1, 3)),
            Some((0, 1, 3)),
            Some((0, 1, 3)),
            Some((0, 1, 3)),
        ],
    ),
    (
        "OFPBRC_BAD_SUBTYPE",
        [
            Some((0, 1, 4)),
            Some((0, 1, 4)),
            Some((0, 1, 4)),
            Some((0, 1, 4)),
        ],
    ),
    (
        "OFPBRC_BAD_LEN",
        [
            Some((0, 1, 6)),
            Some((0, 1, 6)),
            Some((0, 1, 6)),
            Some((0, 1, 6)),
        ],
    ),
    (
        "OFPBRC_BAD_PORT",
        [
            Some((0x2320, 1, 514)),
            Some((0, 1, 11)),
            Some((0, 1, 11)),
            Some((0, 1, 11)),
        ],
    ),
    (
        "OFPBRC_BAD_TABLE_ID",
        [
            Some((0x2320, 1, 512)),
            Some((0, 1, 9)),
            Some((0, 1, 9)),
            Some((0, 1, 9)),
        ],
    ),
    (
        "OFPSCFC_BAD_FLAGS",
        [None, Some((0, 10, 0)), Some((0, 10, 0)), Some((0, 10, 0))],
    ),
    (
        "OFPRRFC_BAD_ROLE",
        [
            Some((0x2320, 1, 513)),
            Some((0, 11, 2)),
            Some((0, 11, 2)),
            Some((0, 11, 2)),
        ],
    ),
    (
        "OFPRRFC_STALE",
        [None, Some((0, 11, 0)), Some((0, 11, 0)), Some((0, 11, 0))],
    ),
    (
        "OFPBPC_BAD_LEN",
        [
            Some((0x2320, 13, 3)),
            Some((0, 13, 3)),
            Some((0, 14, 1)),
            Some((0, 14, 1)),
        ],
    ),
    (
        "OFPACFC_UNSUPPORTED",
        [
            None,
            Some((0x4f4e4600, 2371, 0)),
            Some((0, 15, 1)),
            Some((0, 15, 1)),
        ],
    ),
    (
        "OFPBMC_DUP_FIELD",
        [
            Some((0x2320, 1, 261)),
            Some((0, 4, 10)),
            Some((0, 4, 10)),
            Some((0, 4, 10)),
        ],
    ),
    (
        "OFPBMC_BAD_PREREQ",
        [
            Some((0x2320, 1, 260)),
            Some((0, 4, 9)),
            Some((0, 4, 9)),
            Some((0, 4, 9)),
        ],
    ),
    (
        "OFPBMC_BAD_FIELD",
        [
            Some((0x2320, 0, 263)),
            Some((0, 4, 6)),
            Some((0, 4, 6)),
            Some((0, 4, 6)),
        ],
    ),
    (
        "OFPBMC_BAD_LEN",
        [None, Some((0, 4, 1)), Some((0, 4, 1)), Some((0, 4, 1))],
    ),
    (
        "OFPBMC_BAD_MASK",
        [
            Some((0x2320, 1, 259)),
            Some((0, 4, 8)),
            Some((0, 4, 8)),
            Some((0, 4, 8)),
        ],
    ),
    (
        "OFPBAC_BAD_LEN",
        [
            Some((0, 2, 1)),
            Some((0, 2, 1)),
            Some((0, 2, 1)),
            Some((0, 2, 1)),
        ],
    ),
    (
        "OFPBAC_BAD_TYPE",
        [
            Some((0, 2, 0)),
            Some((0, 2, 0)),
            Some((0, 2, 0)),
            Some((0, 2, 0)),
        ],
    ),
    (
        "OFPBAC_BAD_VENDOR",
        [
            Some((0, 2, 2)),
            Some((0, 2, 2)),
            Some((0, 2, 2)),
            Some((0, 2, 2)),
        ],
    ),
    (
        "OFPBAC_BAD_VENDOR_TYPE",
        [
            Some((0, 2, 3)),
            Some((0, 2, 3)),
            Some((0, 2, 3)),
            Some((0, 2, 3)),
        ],
    ),
    (
        "OFPBAC_BAD_OUT_PORT",
        [
            Some((0, 2, 4)),
            Some((0, 2, 4)),
            Some((0, 2, 4)),
            Some((0, 2, 4)),
        ],
    ),
    (
        "OFPBAC_BAD_ARGUMENT",
        [
            Some((0, 2, 5)),
            Some((0, 2, 5)),
            Some((0, 2, 5)),
            Some((0, 2, 5)),
        ],
    ),
    (
        "OFPBAC_BAD_SET_LEN",
        [
            Some((0x2320, 1, 524)),
            Some((0, 2, 14)),
            Some((0, 2, 14)),
            Some((0, 2, 14)),
        ],
    ),
    (
        "OFPBAC_MATCH_INCONSISTENT",
        [
            Some((0x2320, 1, 522)),
            Some((0, 2, 10)),
            Some((0, 2, 10)),
            Some((0, 2, 10)),
        ],
    ),
    (
        "OFPBIC_UNKNOWN_INST",
        [None, Some((0, 3, 0)), Some((0, 3, 0)), Some((0, 3, 0))],
    ),
    (
        "OFPBIC_BAD_LEN",
        [None, Some((0, 3, 7)), Some((0, 3, 7)), Some((0, 3, 7))],
    ),
    (
        "OFPBIC_DUP_INST",
        [
            None,
            Some((0x4f4e4600, 2600, 0)),
            Some((0, 3, 9)),
            Some((0, 3, 9)),
        ],
    ),
    (
        "OFPBIC_BAD_TABLE_ID",
        [None, Some((0, 3, 2)), Some((0, 3, 2)), Some((0, 3, 2))],
    ),
    (
        "OFPFMFC_BAD_TABLE_ID",
        [None, Some((0, 5, 2)), Some((0, 5, 2)), Some((0, 5, 2))],
    ),
    (
        "OFPFMFC_BAD_COMMAND",
        [
            Some((0, 3, 4)),
            Some((0, 5, 6)),
            Some((0, 5, 6)),
            Some((0, 5, 6)),
        ],
    ),
    (
        "OFPFMFC_BAD_FLAGS",
        [
            Some((0x2320, 3, 258)),
            Some((0, 5, 7)),
            Some((0, 5, 7)),
            Some((0, 5, 7)),
        ],
    ),
    (
        "OFPGMFC_BAD_COMMAND",
        [
            Some((0x2320, 6, 11)),
            Some((0, 6, 11)),
            Some((0, 6, 11)),
            Some((0, 6, 11)),
        ],
    ),
    (
        "OFPGMFC_BAD_TYPE",
        [
            Some((0x2320, 6, 10)),
            Some((0, 6, 10)),
            Some((0, 6, 10)),
            Some((0, 6, 10)),
        ],
    ),
    (
        "OFPGMFC_BAD_BUCKET",
        [
            Some((0x2320, 6, 12)),
            Some((0, 6, 12)),
            Some((0, 6, 12)),
            Some((0, 6, 12)),
        ],
    ),
    (
        "OFPGMFC_INVALID_GROUP",
        [
            Some((0x2320, 6, 1)),
            Some((0, 6, 1)),
            Some((0, 6, 1)),
            Some((0, 6, 1)),
        ],
    ),
    (
        "OFPMMFC_BAD_COMMAND",
        [None, Some((0, 12, 4)), Some((0, 12, 4)), Some((0, 12, 4))],
    ),
    (
        "OFPMMFC_BAD_FLAGS",
        [None, Some((0, 12, 5)), Some((0, 12, 5)), Some((0, 12, 5))],
    ),
    (
        "OFPMMFC_BAD_BAND",
        [None, Some((0, 12, 8)), Some((0, 12, 8)), Some((0, 12, 8))],
    ),
    (
        "OFPBFC_BAD_TYPE",
        [
            None,
            Some((0x4f4e4600, 2306, 0)),
            Some((0, 17, 6)),
            Some((0, 17, 6)),
        ],
    ),
    (
        "OFPBFC_BAD_ID",
        [
            None,
            Some((0x4f4e4600, 2302, 0)),
            Some((0, 17, 2)),
            Some((0, 17, 2)),
        ],
    ),
    (
        "OFPBFC_BAD_FLAGS",
        [
            None,
            Some((0x4f4e4600, 2307, 0)),
            Some((0, 17, 7)),
            Some((0, 17, 7)),
        ],
    ),
    (
        "OFPBFC_BUNDLE_CLOSED",
        [
            None,
            Some((0x4f4e4600, 2304, 0)),
            Some((0, 17, 4)),
            Some((0, 17, 4)),
        ],
    ),
    (
        "OFPBFC_MSG_UNSUP",
        [
            None,
            Some((0x4f4e4600, 2310, 0)),
            Some((0, 17, 10)),
            Some((0, 17, 10)),
        ],
    ),
    (
        "OFPBFC_MSG_BAD_XID",
        [
            None,
            Some((0x4f4e4600, 2309, 0)),
            Some((0, 17, 9)),
            Some((0, 17, 9)),
        ],
    ),
    (
        "OFPBFC_MSG_BAD_LEN",
        [
            None,
            Some((0x4f4e4600, 2308, 0)),
            Some((0, 17, 8)),
            Some((0, 17, 8)),
        ],
    ),
    (
        "OFPBFC_BAD_VERSION",
        [None, None, Some((0x2320, 22, 0)), Some((0x2320, 22, 0))],
    ),
    (
        "OFPMOFC_BAD_FLAGS",
        [
            Some((0x2320, 1, 518)),
            Some((0x2320, 7, 0)),
            Some((0, 16, 5)),
            Some((0, 16, 5)),
        ],
    ),
    (
        "OFPMOFC_MONITOR_EXISTS",
        [
            Some((0x2320, 1, 517)),
            Some((0x2320, 6, 0)),
            Some((0, 16, 1)),
            Some((0, 16, 1)),
        ],
    ),
    (
        "OFPMOFC_UNKNOWN_MONITOR",
        [
            Some((0x2320, 1, 519)),
            Some((0x2320, 8, 0)),
            Some((0, 16, 3)),
            Some((0, 16, 3)),
        ],
    ),
    (
        "NXBRC_MUST_BE_ZERO",
        [
            Some((0x2320, 1, 515)),
            Some((0x2320, 4, 0)),
            Some((0x2320, 4, 0)),
            Some((0x2320, 4, 0)),
        ],
    ),
    (
        "OFPBRC_EPERM",
        [
            Some((0, 1, 5)),
            Some((0, 1, 5)),
            Some((0, 1, 5)),
            Some((0, 1, 5)),
        ],
    ),
    (
        "OFPBFC_MSG_FAILED",
        [
            None,
            Some((0x4f4e4600, 2313, 0)),
            Some((0, 17, 13)),
            Some((0, 17, 13)),
        ],
    ),
    (
        "OFPBAC_BAD_OUT_GROUP",
        [
            Some((0x2320, 2, 9)),
            Some((0, 2, 9)),
            Some((0, 2, 9)),
            Some((0, 2, 9)),
        ],
    ),
    (
        "NXTTMFC_BAD_COMMAND",
        [
            Some((0x2320, 1, 527)),
            Some((0x2320, 16, 0)),
            Some((0x2320, 16, 0)),
            Some((0x2320, 16, 0)),
        ],
    ),
    (
        "NXTTMFC_BAD_OPT_LEN",
        [
            Some((0x2320, 1, 528)),
            Some((0x2320, 17, 0)),
            Some((0x2320, 17, 0)),
            Some((0x2320, 17, 0)),
        ],
    ),
    (
        "NXTTMFC_BAD_FIELD_IDX",
        [
            Some((0x2320, 1, 529)),
            Some((0x2320, 18, 0)),
            Some((0x2320, 18, 0)),
            Some((0x2320, 18, 0)),
        ],
    ),
    (
        "NXTTMFC_TABLE_FULL",
        [
            Some((0x2320, 1, 530)),
            Some((0x2320, 19, 0)),
            Some((0x2320, 19, 0)),
            Some((0x2320, 19, 0)),
        ],
    ),
    (
        "NXTTMFC_ALREADY_MAPPED",
        [
            Some((0x2320, 1, 531)),
            Some((0x2320, 20, 0)),
            Some((0x2320, 20, 0)),
            Some((0x2320, 20, 0)),
        ],
    ),
    (
        "NXTTMFC_DUP_ENTRY",
        [
            Some((0x2320, 1, 532)),
            Some((0x2320, 21, 0)),
            Some((0x2320, 21, 0)),
            Some((0x2320, 21, 0)),
        ],
    ),
    (
        "NXTTMFC_INVALID_TLV_DEL",
        [
            Some((0x2320, 1, 537)),
            Some((0x2320, 38, 0)),
            Some((0x2320, 38, 0)),
            Some((0x2320, 38, 0)),
        ],
    ),
    (
        "NXFMFC_INVALID_TLV_FIELD",
        [
            Some((0x2320, 1, 536)),
            Some((0x2320, 37, 0)),
            Some((0x2320, 37, 0)),
            Some((0x2320, 37, 0)),
        ],
    ),
    (
        "OFPBPC_BAD_VALUE",
        [
            Some((0x2320, 13, 4)),
            Some((0, 13, 4)),
            Some((0, 14, 2)),
            Some((0, 14, 2)),
        ],
    ),
    (
        "OFPBPC_BAD_EXPERIMENTER",
        [
            Some((0x2320, 14, 5)),
            Some((0x4f4e4600, 4445, 0)),
            Some((0, 14, 5)),
            Some((0, 14, 5)),
        ],
    ),
    (
        "OFPACFC_INVALID",
        [
            None,
            Some((0x4f4e4600, 2370, 0)),
            Some((0, 15, 0)),
            Some((0, 15, 0)),
        ],
    ),
    (
        "OFPBPC_BAD_EXP_TYPE",
        [
            Some((0x2320, 14, 6)),
            Some((0x4f4e4600, 4446, 0)),
            Some((0, 14, 6)),
            Some((0, 14, 6)),
        ],
    ),
    (
        "OFPBRC_IS_SECONDARY",
        [
            Some((0, 1, 5)),
            Some((0, 1, 10)),
            Some((0, 1, 10)),
            Some((0, 1, 10)),
        ],
    ),
    (
        "NXBRC_UNENCODABLE_ERROR",
        [
            Some((0x2320, 1, 521)),
            Some((0x2320, 10, 0)),
            Some((0x2320, 10, 0)),
            Some((0x2320, 10, 0)),
        ],
    ),
];

fn spelling(name: &str) -> [Option<Triple>; 4] {
    match ERRORS.iter().find(|(n, _)| *n == name) {
        Some((_, s)) => *s,
        None => panic!("{name} is not in ERRORS"),
    }
}

/// What Open vSwitch sends for `name` in `v` (NXBRC_UNENCODABLE_ERROR when
/// the version cannot spell it, as `ofperr_encode_msg__` does).
fn expected(name: &str, v: V) -> Triple {
    spelling(name)[v.slot()]
        .or(spelling("NXBRC_UNENCODABLE_ERROR")[v.slot()])
        .unwrap_or_else(|| panic!("no spelling for {name}"))
}

// ---------------------------------------------------------------------------
// Building messages.

const NX: u32 = 0x0000_2320;
const ONF: u32 = 0x4f4e_4600;

/// A big-endian byte builder.
#[derive(Clone, Default)]
struct B(Vec<u8>);

impl B {
    fn new() -> B {
        B(Vec::new())
    }
    fn u8(mut self, x: u8) -> B {
        self.0.push(x);
        self
    }
    fn u16(mut self, x: u16) -> B {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }
    fn u32(mut self, x: u32) -> B {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }
    fn u64(mut self, x: u64) -> B {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }
    fn zeros(mut self, n: usize) -> B {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    fn raw(mut self, b: &[u8]) -> B {
        self.0.extend_from_slice(b);
        self
    }
    /// Zero padding up to a multiple of 8.
    fn pad8(self) -> B {
        let n = (8 - self.0.len() % 8) % 8;
        self.zeros(n)
    }
}

/// A whole message with an honest length field.
fn of(version: u8, ty: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + body.len()).expect("short message");
    B::new().u8(version).u8(ty).u16(len).u32(xid).raw(body).0
}

fn zeros(n: usize) -> Vec<u8> {
    vec![0; n]
}

/// An OXM (or NXM: class 0/1) TLV with an explicit length byte.
fn tlv(class: u16, field: u8, hasmask: bool, len: u8, payload: &[u8]) -> Vec<u8> {
    B::new()
        .u16(class)
        .u8(field << 1 | u8::from(hasmask))
        .u8(len)
        .raw(payload)
        .0
}

fn oxm(field: u8, payload: &[u8]) -> Vec<u8> {
    let len = u8::try_from(payload.len()).expect("short OXM");
    tlv(0x8000, field, false, len, payload)
}

fn oxm_masked(field: u8, payload: &[u8]) -> Vec<u8> {
    let len = u8::try_from(payload.len()).expect("short OXM");
    tlv(0x8000, field, true, len, payload)
}

/// OXM_OF_IN_PORT = 1.
fn in_port(p: u32) -> Vec<u8> {
    oxm(0, &p.to_be_bytes())
}

/// An `ofp_match` of type OXM with `fields`, padded to 8.
fn ofp_match(fields: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = fields.concat();
    let len = u16::try_from(4 + body.len()).expect("short match");
    B::new().u16(1).u16(len).raw(&body).pad8().0
}

/// An OpenFlow 1.1+ output action.
fn output(p: u32) -> Vec<u8> {
    B::new().u16(0).u16(16).u32(p).u16(0xffff).zeros(6).0
}

/// An OpenFlow 1.0 output action.
fn output10(p: u16) -> Vec<u8> {
    B::new().u16(0).u16(8).u16(p).u16(0xffff).0
}

/// OFPIT_APPLY_ACTIONS.
fn apply(actions: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + actions.len()).expect("short instruction");
    B::new().u16(4).u16(len).zeros(4).raw(actions).0
}

/// The fixed part of an OpenFlow 1.1+ FLOW_MOD (40 bytes).
fn flow_mod_head(table: u8, command: u8, flags: u16) -> B {
    B::new()
        .u64(0)
        .u64(0)
        .u8(table)
        .u8(command)
        .u16(0)
        .u16(0)
        .u16(0x8000)
        .u32(0xffff_ffff)
        .u32(0xffff_ffff)
        .u32(0xffff_ffff)
        .u16(flags)
        .zeros(2)
}

/// An OpenFlow 1.0 match that wildcards everything (40 bytes).
fn match10() -> Vec<u8> {
    B::new().u32(0x003f_ffff).zeros(36).0
}

/// An OpenFlow 1.0 FLOW_MOD body.
fn flow_mod10(command: u16, flags: u16, actions: &[u8]) -> Vec<u8> {
    B::new()
        .raw(&match10())
        .u64(0)
        .u16(command)
        .u16(0)
        .u16(0)
        .u16(0x8000)
        .u32(0xffff_ffff)
        .u16(0xffff)
        .u16(flags)
        .raw(actions)
        .0
}

/// A Nicira NXT_FLOW_MOD body (after the vendor header).
fn nx_flow_mod(nx_match: &[u8], match_len: u16) -> Vec<u8> {
    B::new()
        .u64(0)
        .u16(0)
        .u16(0)
        .u16(0)
        .u16(0x8000)
        .u32(0xffff_ffff)
        .u16(0xffff)
        .u16(0)
        .u16(match_len)
        .zeros(6)
        .raw(nx_match)
        .pad8()
        .0
}

/// NXM_OF_IN_PORT (2 bytes).
fn nxm_in_port() -> Vec<u8> {
    tlv(0, 0, false, 2, &[0, 1])
}

/// An OpenFlow 1.1-1.4 group bucket.
fn bucket13(len: u16, actions: &[u8]) -> Vec<u8> {
    B::new()
        .u16(len)
        .u16(0)
        .u32(0xffff_ffff)
        .u32(0xffff_ffff)
        .zeros(4)
        .raw(actions)
        .0
}

/// An OpenFlow 1.5 (and NXT_GROUP_MOD) bucket.
fn bucket15(action_len: u16, actions: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + actions.len()).expect("short bucket");
    B::new().u16(len).u16(action_len).u32(0).raw(actions).0
}

/// An OpenFlow 1.5 (and NXT_GROUP_MOD) GROUP_MOD body.
fn group_mod15(command: u16, ty: u8, buckets: &[u8], bucket_array_len: u16) -> Vec<u8> {
    B::new()
        .u16(command)
        .u8(ty)
        .zeros(1)
        .u32(1)
        .u16(bucket_array_len)
        .zeros(2)
        .u32(0xffff_ffff)
        .raw(buckets)
        .0
}

/// A METER_MOD band.
fn band(ty: u16, len: u16) -> Vec<u8> {
    B::new().u16(ty).u16(len).u32(1000).u32(0).zeros(4).0
}

// ---------------------------------------------------------------------------
// The case table.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cat {
    /// Body lengths the raw-message table does not allow, and truncated
    /// vendor and multipart headers.
    Length,
    /// Unknown message types, and messages a switch never accepts.
    Type,
    /// A version byte other than the negotiated one.
    Version,
    /// Unknown experimenter ids and Nicira/ONF subtypes.
    Experimenter,
    /// Unknown multipart types and bad multipart bodies.
    Multipart,
    SetConfig,
    Role,
    Async,
    /// Bad OXM/NXM TLVs and matches.
    Match,
    /// Bad action and instruction lists.
    Actions,
    TableId,
    FlowMod,
    PacketOut,
    GroupMod,
    MeterMod,
    Bundle,
    Monitor,
    /// NXT_TLV_TABLE_MOD/REQUEST and the tun_metadata fields they map.
    Tlv,
    /// NXT_CT_FLUSH_ZONE and NXT_CT_FLUSH.
    Conntrack,
}

/// Where the expected error comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Oracle {
    /// `ovs-ofctl ofp-print` prints `***decode error: NAME***`.
    OfpPrint,
    /// Decided by the switch, not the decoder: the Open vSwitch 3.1 code
    /// that picks the error.
    Switch(&'static str),
}

/// A message sent around a case that must not fail.
#[derive(Clone, Debug)]
struct Step {
    msg: Vec<u8>,
    /// Whether it gets a (non-error) reply to read.
    reply: bool,
}

#[derive(Clone, Debug)]
struct Case {
    v: V,
    name: String,
    cat: Cat,
    xid: u32,
    msg: Vec<u8>,
    want: &'static str,
    oracle: Oracle,
    before: Vec<Step>,
    after: Vec<Step>,
    /// Errors that must come before the case's own, each for an earlier
    /// message: (its xid, error name, the message).
    first: Vec<(u32, &'static str, Vec<u8>)>,
}

impl Case {
    fn error_first(&mut self, xid: u32, want: &'static str, msg: Vec<u8>) -> &mut Case {
        self.first.push((xid, want, msg));
        self
    }
    fn switch(&mut self, where_: &'static str) -> &mut Case {
        self.oracle = Oracle::Switch(where_);
        self
    }
    fn before(&mut self, msg: Vec<u8>, reply: bool) -> &mut Case {
        self.before.push(Step { msg, reply });
        self
    }
    fn after(&mut self, msg: Vec<u8>, reply: bool) -> &mut Case {
        self.after.push(Step { msg, reply });
        self
    }
}

/// Builds the cases of one version; every case gets its own xid.
struct Table {
    v: V,
    xid: u32,
    cases: Vec<Case>,
}

const VCHECK: &str = "lib/vconn.c do_recv: version != negotiated";
const REPLY_TYPE: &str = "ofproto.c handle_single_part_openflow: replies are BAD_TYPE";

impl Table {
    fn new(v: V) -> Table {
        Table {
            v,
            xid: u32::from(v.0) << 24 | 0x100,
            cases: Vec::new(),
        }
    }

    /// The xid the next case gets.
    fn x(&self) -> u32 {
        self.xid
    }

    /// An xid for a step around the next case.
    fn step_xid(&self, n: u32) -> u32 {
        self.xid | 0x0080_0000 | n
    }

    fn plain(&self, ty: u8, body: &[u8]) -> Vec<u8> {
        of(self.v.0, ty, self.xid, body)
    }

    fn vendor(&self, vendor: u32, subtype: u32, body: &[u8]) -> Vec<u8> {
        let b = B::new().u32(vendor).u32(subtype).raw(body).0;
        of(self.v.0, 4, self.xid, &b)
    }

    fn mp_type(&self) -> u8 {
        if self.v == OF10 {
            16
        } else {
            18
        }
    }

    /// A multipart request of type `stat`.
    fn mp(&self, stat: u16, body: &[u8]) -> Vec<u8> {
        let mut b = B::new().u16(stat).u16(0);
        if self.v != OF10 {
            b = b.zeros(4);
        }
        of(self.v.0, self.mp_type(), self.xid, &b.raw(body).0)
    }

    /// A multipart request of type OFPST_VENDOR.
    fn mp_vendor(&self, vendor: u32, subtype: u32, body: &[u8]) -> Vec<u8> {
        let mut b = B::new().u32(vendor).u32(subtype);
        if self.v == OF10 {
            b = b.zeros(4);
        }
        self.mp(0xffff, &b.raw(body).0)
    }

    fn barrier_type(&self) -> u8 {
        if self.v == OF10 {
            18
        } else {
            20
        }
    }

    /// Adds a case; its message gets the case's xid.
    fn add(&mut self, cat: Cat, name: &str, mut msg: Vec<u8>, want: &'static str) -> &mut Case {
        let xid = self.xid;
        self.xid += 1;
        msg[4..8].copy_from_slice(&xid.to_be_bytes());
        self.cases.push(Case {
            v: self.v,
            name: format!("{} {name}", self.v.name()),
            cat,
            xid,
            msg,
            want,
            oracle: Oracle::OfpPrint,
            before: Vec::new(),
            after: Vec::new(),
            first: Vec::new(),
        });
        let last = self.cases.len() - 1;
        &mut self.cases[last]
    }
}

fn cases(v: V) -> Vec<Case> {
    let mut t = Table::new(v);
    lengths(&mut t);
    types(&mut t);
    versions(&mut t);
    experimenters(&mut t);
    multiparts(&mut t);
    set_config(&mut t);
    roles(&mut t);
    async_config(&mut t);
    flow_mods(&mut t);
    packet_outs(&mut t);
    group_mods(&mut t);
    meter_mods(&mut t);
    bundles(&mut t);
    monitors(&mut t);
    tlv_table(&mut t);
    conntrack(&mut t);
    t.cases
}

const BAD_LEN: &str = "OFPBRC_BAD_LEN";
const BAD_TYPE: &str = "OFPBRC_BAD_TYPE";
const BAD_STAT: &str = "OFPBRC_BAD_STAT";
const BAD_VENDOR: &str = "OFPBRC_BAD_VENDOR";
const BAD_SUBTYPE: &str = "OFPBRC_BAD_SUBTYPE";

/// Lengths that lie: each message is whole on the stream, but its body is
/// shorter or longer than the message allows.
fn lengths(t: &mut Table) {
    use Cat::Length as L;
    let v = t.v;
    let m = t.plain(5, &zeros(4));
    t.add(L, "FEATURES_REQUEST with 4 body bytes", m, BAD_LEN);
    let m = t.plain(5, &zeros(8));
    t.add(L, "FEATURES_REQUEST with 8 body bytes", m, BAD_LEN);
    let m = t.plain(7, &zeros(4));
    t.add(L, "GET_CONFIG_REQUEST with 4 body bytes", m, BAD_LEN);
    let m = t.plain(9, &zeros(2));
    t.add(L, "SET_CONFIG of 2 bytes", m, BAD_LEN);
    let m = t.plain(9, &zeros(8));
    t.add(L, "SET_CONFIG of 8 bytes", m, BAD_LEN);
    let m = t.plain(t.barrier_type(), &zeros(8));
    t.add(L, "BARRIER_REQUEST with 8 body bytes", m, BAD_LEN);
    let m = t.plain(4, &[]);
    t.add(L, "VENDOR with no vendor id", m, BAD_LEN);
    let m = t.plain(4, &NX.to_be_bytes());
    t.add(L, "Nicira VENDOR without a subtype", m, BAD_LEN);
    let m = t.plain(4, &[0, 0, 0x23, 0x20, 0, 0]);
    t.add(L, "Nicira VENDOR with half a subtype", m, BAD_LEN);
    let m = t.vendor(NX, 10, &zeros(8));
    t.add(L, "NXT_ROLE_REQUEST of 8 bytes", m, BAD_LEN);
    let m = t.vendor(NX, 10, &[]);
    t.add(L, "NXT_ROLE_REQUEST of 0 bytes", m, BAD_LEN);
    let m = t.vendor(NX, 16, &zeros(8));
    t.add(L, "NXT_SET_PACKET_IN_FORMAT of 8 bytes", m, BAD_LEN);
    let m = t.vendor(NX, 15, &zeros(4));
    t.add(L, "NXT_FLOW_MOD_TABLE_ID of 4 bytes", m, BAD_LEN);
    let m = t.vendor(NX, 19, &zeros(20));
    t.add(L, "NXT_SET_ASYNC_CONFIG of 20 bytes", m, BAD_LEN);
    let m = t.vendor(NX, 13, &zeros(8));
    t.add(L, "NXT_FLOW_MOD of 8 bytes", m, BAD_LEN);
    let m = t.plain(14, &zeros(8));
    t.add(L, "FLOW_MOD of 8 bytes", m, BAD_LEN);
    let m = t.plain(14, &zeros(if v == OF10 { 68 } else { 44 }));
    t.add(L, "FLOW_MOD not a multiple of 8", m, BAD_LEN);
    let m = t.plain(13, &zeros(4));
    t.add(L, "PACKET_OUT of 4 bytes", m, BAD_LEN);
    let m = t.plain(if v == OF10 { 15 } else { 16 }, &zeros(8));
    t.add(L, "PORT_MOD of 8 bytes", m, BAD_LEN);
    let m = t.plain(t.mp_type(), &zeros(2));
    t.add(L, "multipart request with a 2-byte header", m, BAD_LEN);
    if v == OF10 {
        let m = t.plain(16, &zeros(6));
        t.add(L, "stats request with a 6-byte header", m, BAD_LEN);
        let m = t.vendor(NX, 12, &[]);
        t.add(L, "NXT_SET_FLOW_FORMAT of 0 bytes", m, BAD_LEN);
        let m = t.vendor(NX, 31, &zeros(4));
        t.add(L, "NXT_GROUP_MOD of 4 bytes", m, BAD_LEN);
    } else {
        let m = t.plain(18, &zeros(4));
        t.add(L, "multipart request with a 4-byte header", m, BAD_LEN);
        let m = t.plain(18, &zeros(6));
        t.add(L, "multipart request with a 6-byte header", m, BAD_LEN);
        let m = t.plain(24, &zeros(8));
        t.add(L, "ROLE_REQUEST of 8 bytes", m, BAD_LEN);
        let m = t.plain(26, &zeros(8));
        t.add(L, "GET_ASYNC_REQUEST with 8 body bytes", m, BAD_LEN);
        let m = t.plain(28, &zeros(4));
        t.add(L, "SET_ASYNC of 4 bytes", m, BAD_LEN);
        let m = t.plain(15, &zeros(4));
        t.add(L, "GROUP_MOD of 4 bytes", m, BAD_LEN);
        let m = t.plain(29, &zeros(4));
        t.add(L, "METER_MOD of 4 bytes", m, BAD_LEN);
        let m = t.plain(17, &zeros(12));
        t.add(L, "TABLE_MOD of 12 bytes", m, BAD_LEN);
    }
    if v == OF13 {
        let m = t.vendor(ONF, 2300, &zeros(4));
        t.add(L, "ONFT_BUNDLE_CONTROL of 4 bytes", m, BAD_LEN);
        let m = t.vendor(ONF, 2300, &zeros(12));
        t.add(L, "ONFT_BUNDLE_CONTROL of 12 bytes", m, BAD_LEN);
        let m = t.vendor(ONF, 2301, &zeros(4));
        t.add(L, "ONFT_BUNDLE_ADD_MESSAGE of 4 bytes", m, BAD_LEN);
    }
    if v >= OF14 {
        let m = t.plain(33, &zeros(4));
        t.add(L, "BUNDLE_CONTROL of 4 bytes", m, BAD_LEN);
        let m = t.plain(33, &zeros(12));
        t.add(L, "BUNDLE_CONTROL of 12 bytes", m, BAD_LEN);
        let m = t.plain(34, &zeros(4));
        t.add(L, "BUNDLE_ADD_MESSAGE of 4 bytes", m, BAD_LEN);
    }
}

/// Unknown message types, and messages only a switch sends.
fn types(t: &mut Table) {
    use Cat::Type as T;
    let v = t.v;
    let unknown: &[u8] = match v {
        OF10 => &[22, 24, 26, 29, 30, 33, 99, 255],
        OF13 => &[30, 31, 32, 33, 34, 35, 99, 255],
        _ => &[22, 23, 35, 36, 99, 255],
    };
    for &ty in unknown {
        let m = t.plain(ty, &zeros(8));
        t.add(T, &format!("message type {ty}"), m, BAD_TYPE);
    }
    let m = t.plain(8, &[0, 0, 0, 128]);
    t.add(T, "GET_CONFIG_REPLY sent to the switch", m, BAD_TYPE)
        .switch(REPLY_TYPE);
    let m = t.plain(t.barrier_type() + 1, &[]);
    t.add(T, "BARRIER_REPLY sent to the switch", m, BAD_TYPE)
        .switch(REPLY_TYPE);
    let reply = if v == OF10 { 17 } else { 19 };
    let hdr = if v == OF10 { 4 } else { 8 };
    let mut body = zeros(hdr);
    body[1] = 3;
    let m = t.plain(reply, &body);
    t.add(T, "empty TABLE_STATS reply sent to the switch", m, BAD_TYPE)
        .switch(REPLY_TYPE);
    if v != OF10 {
        let m = t.plain(25, &B::new().u32(1).zeros(4).u64(0).0);
        t.add(T, "ROLE_REPLY sent to the switch", m, BAD_TYPE)
            .switch(REPLY_TYPE);
    }
}

/// Version bytes other than the negotiated one: OpenFlow 1.1 and 1.2 (which
/// we never speak), unknown ones, and the other versions we speak.
///
/// Open vSwitch (vconn.c `do_recv`) answers these with BAD_VERSION too,
/// except HELLO, ERROR and ECHO, which it lets through whatever their
/// version, so none is used here. It writes the error in the offending
/// message's version (OpenFlow 1.0 for versions it does not know); we write
/// it in the negotiated version, which the check below insists on.
fn versions(t: &mut Table) {
    use Cat::Version as Ve;
    for wire in [0u8, 2, 3, 7, 0x7f, 1, 4, 5, 6] {
        if wire == t.v.0 {
            continue;
        }
        let m = of(wire, 5, t.x(), &[]);
        t.add(
            Ve,
            &format!("FEATURES_REQUEST in version {wire:#04x}"),
            m,
            "OFPBRC_BAD_VERSION",
        )
        .switch(VCHECK);
    }
    // A barrier in OpenFlow 1.1/1.2 spelling.
    let m = of(2, 20, t.x(), &[]);
    t.add(
        Ve,
        "BARRIER_REQUEST in version 0x02",
        m,
        "OFPBRC_BAD_VERSION",
    )
    .switch(VCHECK);
}

fn experimenters(t: &mut Table) {
    use Cat::Experimenter as E;
    let v = t.v;
    for vendor in [0x1234_5678u32, 0x0000_2321, 0x4f4e_4601, 0, 0xffff_ffff] {
        let m = t.vendor(vendor, 0, &[]);
        t.add(E, &format!("VENDOR {vendor:#x}"), m, BAD_VENDOR);
    }
    for sub in [0u32, 1, 9, 33, 99, 0xffff_ffff] {
        let m = t.vendor(NX, sub, &zeros(8));
        t.add(E, &format!("Nicira subtype {sub}"), m, BAD_SUBTYPE);
    }
    for sub in [0u32, 1, 9999] {
        let m = t.vendor(ONF, sub, &zeros(8));
        t.add(E, &format!("ONF subtype {sub}"), m, BAD_SUBTYPE);
    }
    if v != OF13 {
        let m = t.vendor(ONF, 2300, &zeros(8));
        t.add(
            E,
            "ONFT_BUNDLE_CONTROL outside OpenFlow 1.3",
            m,
            BAD_SUBTYPE,
        );
    }
    if v != OF10 {
        let m = t.vendor(NX, 12, &zeros(4));
        t.add(E, "NXT_SET_FLOW_FORMAT after OpenFlow 1.0", m, BAD_SUBTYPE);
        let m = t.vendor(NX, 31, &zeros(16));
        t.add(E, "NXT_GROUP_MOD after OpenFlow 1.1", m, BAD_SUBTYPE);
        let m = t.vendor(NX, 21, &zeros(4));
        t.add(
            E,
            "NXT_FLOW_MONITOR_CANCEL after OpenFlow 1.2",
            m,
            BAD_SUBTYPE,
        );
    }
    if v >= OF14 {
        let m = t.vendor(NX, 27, &[]);
        t.add(
            E,
            "NXT_SET_ASYNC_CONFIG2 after OpenFlow 1.3",
            m,
            BAD_SUBTYPE,
        );
        let m = t.vendor(ONF, 1870, &zeros(4));
        t.add(
            E,
            "ONFT_FLOW_MONITOR_CANCEL after OpenFlow 1.3",
            m,
            BAD_SUBTYPE,
        );
    }
    // Truncated vendor header of an unknown vendor: OVS wants the whole
    // 16-byte vendor header before looking at the vendor id.
    let m = t.plain(4, &0x1234u32.to_be_bytes());
    t.add(E, "unknown VENDOR without a subtype", m, BAD_LEN);
}

fn multiparts(t: &mut Table) {
    use Cat::Multipart as M;
    let v = t.v;
    let mut unknown: Vec<u16> = vec![17, 18, 19, 99, 0xfffe];
    match v {
        OF10 => unknown.extend([6, 8, 11, 12, 14]),
        OF13 => unknown.extend([14]),
        _ => {}
    }
    for stat in unknown {
        let m = t.mp(stat, &[]);
        t.add(M, &format!("multipart type {stat}"), m, BAD_STAT);
    }
    let m = t.mp(0, &zeros(4));
    t.add(M, "DESC request with 4 body bytes", m, BAD_LEN);
    let m = t.mp(4, &zeros(4));
    t.add(M, "PORT_STATS request of 4 bytes", m, BAD_LEN);
    let m = t.mp(4, &zeros(16));
    t.add(M, "PORT_STATS request of 16 bytes", m, BAD_LEN);
    let m = t.mp(5, &zeros(4));
    t.add(M, "QUEUE_STATS request of 4 bytes", m, BAD_LEN);
    let m = t.mp(3, &zeros(8));
    t.add(M, "TABLE_STATS request with 8 body bytes", m, BAD_LEN);
    let m = t.mp(13, &zeros(4));
    t.add(M, "PORT_DESC request with 4 body bytes", m, BAD_LEN);
    let m = t.mp(1, &zeros(8));
    t.add(M, "FLOW_STATS request of 8 bytes", m, BAD_LEN);
    let m = t.mp(2, &zeros(8));
    t.add(M, "AGGREGATE request of 8 bytes", m, BAD_LEN);
    if v != OF10 {
        let m = t.mp(11, &zeros(8));
        t.add(M, "METER_FEATURES request with 8 body bytes", m, BAD_LEN);
        let m = t.mp(8, &zeros(8));
        t.add(M, "GROUP_FEATURES request with 8 body bytes", m, BAD_LEN);
    }
    if v != OF15 {
        let m = t.mp(13, &zeros(8));
        t.add(M, "PORT_DESC request with 8 body bytes", m, BAD_LEN);
    }
    let m = t.mp_vendor(0x1234, 0, &[]);
    t.add(M, "multipart of vendor 0x1234", m, BAD_VENDOR);
    let m = t.mp_vendor(NX, 99, &[]);
    t.add(M, "Nicira multipart subtype 99", m, BAD_SUBTYPE);
    let m = t.mp(0xffff, &NX.to_be_bytes());
    t.add(M, "Nicira multipart without a subtype", m, BAD_LEN);
    if v == OF10 {
        let m = t.mp_vendor(ONF, 1870, &[]);
        t.add(M, "ONF multipart in OpenFlow 1.0", m, BAD_VENDOR);
        let m = t.mp(0xffff, &B::new().u32(NX).u32(9).0);
        t.add(M, "Nicira stats without the subtype padding", m, BAD_LEN);
        let m = t.mp(0xffff, &B::new().u32(NX).u32(99).0);
        t.add(
            M,
            "unknown Nicira stats without the subtype padding",
            m,
            BAD_LEN,
        );
    } else {
        let m = t.mp_vendor(NX, 9, &[]);
        t.add(M, "NXST_GROUP_FEATURES after OpenFlow 1.1", m, BAD_SUBTYPE);
        let m = t.mp(0xffff, &0x1234u32.to_be_bytes());
        t.add(
            M,
            "multipart of an unknown vendor without a subtype",
            m,
            BAD_LEN,
        );
    }
    if v >= OF14 {
        let m = t.mp_vendor(ONF, 1870, &[]);
        t.add(M, "ONFST_FLOW_MONITOR after OpenFlow 1.3", m, BAD_SUBTYPE);
    }
    // Bad matches in flow stats requests.
    if v != OF10 {
        let head = B::new()
            .u8(0)
            .zeros(3)
            .u32(0xffff_ffff)
            .u32(0xffff_ffff)
            .zeros(4)
            .u64(0)
            .u64(0);
        let twice = ofp_match(&[in_port(1), in_port(1)]);
        let m = t.mp(1, &head.clone().raw(&twice).0);
        t.add(
            Cat::Match,
            "FLOW_STATS request matching in_port twice",
            m,
            "OFPBMC_DUP_FIELD",
        );
        let field120 = ofp_match(&[oxm(120, &[0, 0, 0, 1])]);
        let m = t.mp(1, &head.clone().raw(&field120).0);
        t.add(
            Cat::Match,
            "FLOW_STATS request with OXM field 120",
            m,
            "OFPBMC_BAD_FIELD",
        );
        let m = t.mp(1, &head.u16(1).u16(64).zeros(4).0);
        let name = "FLOW_STATS request with a match longer than the message";
        t.add(Cat::Match, name, m, "OFPBMC_BAD_LEN");
    }
}

fn set_config(t: &mut Table) {
    let flags: &[u16] = if t.v == OF10 {
        &[0x8, 0x10, 0x8000, 0xfffc, 0xffff]
    } else {
        // OFPC_INVALID_TTL_TO_CONTROLLER (4) is OpenFlow 1.0-1.2 only.
        &[0x4, 0x7, 0x8, 0x10, 0x8000, 0xffff]
    };
    for &f in flags {
        let m = t.plain(9, &B::new().u16(f).u16(128).0);
        t.add(
            Cat::SetConfig,
            &format!("SET_CONFIG flags {f:#x}"),
            m,
            "OFPSCFC_BAD_FLAGS",
        );
    }
}

fn roles(t: &mut Table) {
    use Cat::Role as R;
    let v = t.v;
    for role in [3u32, 4, 0xffff_ffff] {
        let m = t.vendor(NX, 10, &role.to_be_bytes());
        t.add(
            R,
            &format!("NXT_ROLE_REQUEST role {role:#x}"),
            m,
            "OFPRRFC_BAD_ROLE",
        );
    }
    if v == OF10 {
        return;
    }
    for role in [4u32, 5, 0x8000_0000, 0xffff_ffff] {
        let m = t.plain(24, &B::new().u32(role).zeros(4).u64(0).0);
        t.add(
            R,
            &format!("ROLE_REQUEST role {role:#x}"),
            m,
            "OFPRRFC_BAD_ROLE",
        );
    }
    // A generation id older than the last primary's. Generation ids are
    // shared by all connections (the same process serves one version after
    // another), so each version starts above the last.
    let g = 1_000_000 * u64::from(v.0);
    let role = |r: u32, gen: u64| B::new().u32(r).zeros(4).u64(gen).0;
    let first = of(v.0, 24, t.step_xid(1), &role(2, g));
    let reset = of(v.0, 24, t.step_xid(2), &role(1, u64::MAX));
    let m = t.plain(24, &role(2, g - 1));
    t.add(
        R,
        "ROLE_REQUEST primary with a stale generation id",
        m,
        "OFPRRFC_STALE",
    )
    .switch("connmgr.c ofconn_set_primary_election_id")
    .before(first, true)
    .after(reset, true);
}

fn async_config(t: &mut Table) {
    use Cat::Async as A;
    let v = t.v;
    let prop = |ty: u16, len: u16, payload: &[u8]| B::new().u16(ty).u16(len).raw(payload).0;
    if v <= OF13 {
        let m = t.vendor(NX, 27, &prop(0, 6, &zeros(4)));
        t.add(
            A,
            "NXT_SET_ASYNC_CONFIG2 property of length 6",
            m,
            "OFPBPC_BAD_LEN",
        );
        let m = t.vendor(NX, 27, &prop(1, 16, &zeros(4)));
        t.add(
            A,
            "NXT_SET_ASYNC_CONFIG2 property overrunning the message",
            m,
            "OFPBPC_BAD_LEN",
        );
    } else {
        let m = t.plain(28, &prop(0, 6, &zeros(4)));
        t.add(A, "SET_ASYNC property of length 6", m, "OFPBPC_BAD_LEN");
        let m = t.plain(28, &prop(0, 12, &zeros(12)));
        t.add(A, "SET_ASYNC property of length 12", m, "OFPBPC_BAD_LEN");
        let m = t.plain(28, &prop(1, 4, &zeros(4)));
        t.add(A, "SET_ASYNC property of length 4", m, "OFPBPC_BAD_LEN");
        let m = t.plain(28, &prop(1, 2, &zeros(4)));
        t.add(A, "SET_ASYNC property of length 2", m, "OFPBPC_BAD_LEN");
        let m = t.plain(28, &prop(1, 16, &zeros(4)));
        t.add(
            A,
            "SET_ASYNC property overrunning the message",
            m,
            "OFPBPC_BAD_LEN",
        );
        let m = t.plain(28, &prop(12, 8, &zeros(4)));
        t.add(
            A,
            "SET_ASYNC property of unknown type 12",
            m,
            "OFPACFC_UNSUPPORTED",
        );
        // What the switch's strict decoding refuses (ovs-ofctl's is
        // loose): reasons a kind does not have, experimenter properties.
        const STRICT: &str = "ofp-connection.c ofputil_decode_set_async_config, loose=false";
        let m = t.plain(28, &prop(1, 8, &0x40u32.to_be_bytes()));
        t.add(
            A,
            "SET_ASYNC packet-in mask with reason 6",
            m,
            "OFPACFC_INVALID",
        )
        .switch(STRICT);
        let m = t.plain(28, &prop(9, 8, &0x1u32.to_be_bytes()));
        t.add(
            A,
            "SET_ASYNC table-status mask with reason 0",
            m,
            "OFPACFC_INVALID",
        )
        .switch(STRICT);
        let exp = |id: u32| prop(0xffff, 16, &B::new().u32(id).u32(1).u32(0).0);
        let m = t.plain(28, &exp(0));
        t.add(
            A,
            "SET_ASYNC experimenter property of id 0",
            m,
            "OFPBPC_BAD_EXPERIMENTER",
        )
        .switch(STRICT);
        let m = t.plain(28, &exp(NX));
        t.add(
            A,
            "SET_ASYNC Nicira experimenter property",
            m,
            "OFPBPC_BAD_EXP_TYPE",
        )
        .switch(STRICT);
    }
}

/// FLOW_MOD (and NXT_FLOW_MOD): bad matches, actions, instructions and
/// table ids.
fn flow_mods(t: &mut Table) {
    let v = t.v;
    // Nicira flow mods exist in every version.
    let nx = |t: &Table, nx_match: &[u8]| {
        let len = u16::try_from(nx_match.len()).expect("short");
        t.vendor(NX, 13, &nx_flow_mod(nx_match, len))
    };
    let nx_cases: Vec<(&str, Vec<u8>, &'static str)> = vec![
        (
            "matching in_port twice",
            nx(t, &[nxm_in_port(), nxm_in_port()].concat()),
            "OFPBMC_DUP_FIELD",
        ),
        (
            "matching tcp_dst alone",
            nx(t, &tlv(0, 10, false, 2, &[0, 80])),
            "OFPBMC_BAD_PREREQ",
        ),
        (
            "matching NXM field 0:120",
            nx(t, &tlv(0, 120, false, 2, &[0, 80])),
            "OFPBMC_BAD_FIELD",
        ),
        (
            "with a 4-byte in_port",
            nx(t, &tlv(0, 0, false, 4, &[0, 0, 0, 1])),
            "OFPBMC_BAD_FIELD",
        ),
        (
            "match_len past the end",
            t.vendor(NX, 13, &nx_flow_mod(&[], 64)),
            "OFPBMC_BAD_LEN",
        ),
    ];
    for (name, m, want) in nx_cases {
        t.add(Cat::Match, &format!("NXT_FLOW_MOD {name}"), m, want);
    }

    if v == OF10 {
        flow_mods10(t);
        return;
    }

    let fm = |t: &Table, table: u8, command: u8, flags: u16, rest: &[u8]| {
        t.plain(14, &flow_mod_head(table, command, flags).raw(rest).0)
    };

    // Bad OXM TLVs.
    use Cat::Match as Ma;
    let cases: Vec<(&str, Vec<u8>, &'static str)> = vec![
        (
            "in_port twice",
            ofp_match(&[in_port(1), in_port(1)]),
            "OFPBMC_DUP_FIELD",
        ),
        (
            "tcp_dst without ip_proto",
            ofp_match(&[oxm(14, &[0, 80])]),
            "OFPBMC_BAD_PREREQ",
        ),
        (
            "ipv4_src without eth_type",
            ofp_match(&[oxm(11, &[10, 0, 0, 1])]),
            "OFPBMC_BAD_PREREQ",
        ),
        (
            "vlan_pcp without vlan_vid",
            ofp_match(&[oxm(7, &[3])]),
            "OFPBMC_BAD_PREREQ",
        ),
        (
            "OXM field 127",
            ofp_match(&[oxm(127, &[0, 0, 0, 1])]),
            "OFPBMC_BAD_FIELD",
        ),
        (
            "OXM class 0x1234",
            ofp_match(&[tlv(0x1234, 1, false, 4, &[0, 0, 0, 1])]),
            "OFPBMC_BAD_FIELD",
        ),
        (
            "masked in_port",
            ofp_match(&[oxm_masked(0, &[0, 0, 0, 1, 0, 0, 0, 0xff])]),
            "OFPBMC_BAD_MASK",
        ),
        (
            "masked eth_type",
            ofp_match(&[oxm_masked(5, &[0x08, 0, 0xff, 0])]),
            "OFPBMC_BAD_MASK",
        ),
        (
            "OXM overrunning the match",
            ofp_match(&[tlv(0x8000, 0, false, 40, &[0, 0, 0, 1])]),
            "OFPBMC_BAD_LEN",
        ),
        (
            "match of length 2",
            B::new().u16(1).u16(2).zeros(4).0,
            "OFPBMC_BAD_LEN",
        ),
        (
            "match longer than the message",
            B::new().u16(1).u16(200).zeros(4).0,
            "OFPBMC_BAD_LEN",
        ),
        (
            "in_port of length 5",
            ofp_match(&[tlv(0x8000, 0, false, 5, &[0, 0, 0, 1, 0])]),
            "OFPBMC_BAD_FIELD",
        ),
        (
            "in_port of length 2",
            ofp_match(&[tlv(0x8000, 0, false, 2, &[0, 1])]),
            "OFPBMC_BAD_FIELD",
        ),
        (
            "short standard (type 0) match",
            B::new().u16(0).u16(4).zeros(4).0,
            "OFPBMC_BAD_LEN",
        ),
    ];
    for (name, m, want) in cases {
        let msg = fm(t, 0, 0, 0, &m);
        t.add(Ma, &format!("FLOW_MOD {name}"), msg, want);
    }

    // Bad action and instruction lists.
    use Cat::Actions as Ac;
    let port1 = ofp_match(&[in_port(1)]);
    let set_field = |f: Vec<u8>| {
        let len = u16::try_from((4 + f.len()).next_multiple_of(8)).expect("short");
        B::new().u16(25).u16(len).raw(&f).pad8().0
    };
    let cases: Vec<(&str, Vec<u8>, &'static str)> = vec![
        (
            "output action of length 0",
            apply(&B::new().u16(0).u16(0).zeros(4).0),
            "OFPBAC_BAD_LEN",
        ),
        (
            "output action of length 8",
            apply(&B::new().u16(0).u16(8).u32(2).0),
            "OFPBAC_BAD_LEN",
        ),
        (
            "output action overrunning the list",
            apply(&B::new().u16(0).u16(24).u32(2).u16(0).zeros(6).0),
            "OFPBAC_BAD_LEN",
        ),
        (
            "action type 0xee",
            apply(&B::new().u16(0xee).u16(8).zeros(4).0),
            "OFPBAC_BAD_TYPE",
        ),
        (
            "experimenter action of vendor 0x1234",
            apply(&B::new().u16(0xffff).u16(16).u32(0x1234).zeros(8).0),
            "OFPBAC_BAD_VENDOR",
        ),
        (
            "Nicira action subtype 0xfff",
            apply(&B::new().u16(0xffff).u16(16).u32(NX).u16(0xfff).zeros(6).0),
            "OFPBAC_BAD_VENDOR_TYPE",
        ),
        (
            "output to port 0xffffff00",
            apply(&output(0xffff_ff00)),
            "OFPBAC_BAD_OUT_PORT",
        ),
        (
            "instruction type 0x99",
            B::new().u16(0x99).u16(8).zeros(4).0,
            "OFPBIC_UNKNOWN_INST",
        ),
        (
            "instruction of length 4",
            B::new().u16(1).u16(4).zeros(4).0,
            "OFPBIC_BAD_LEN",
        ),
        (
            "apply-actions twice",
            [apply(&[]), apply(&[])].concat(),
            "OFPBIC_DUP_INST",
        ),
        (
            "set_field tcp_dst of length 4",
            apply(&set_field(oxm(14, &[0, 0, 0, 1]))),
            "OFPBAC_BAD_SET_LEN",
        ),
        (
            "set_field tcp_dst without ip_proto",
            apply(&set_field(oxm(14, &[0, 1]))),
            "OFPBAC_MATCH_INCONSISTENT",
        ),
    ];
    for (name, insts, want) in cases {
        let msg = fm(t, 0, 0, 0, &[port1.clone(), insts].concat());
        t.add(Ac, &format!("FLOW_MOD {name}"), msg, want);
    }

    // Bad table ids.
    use Cat::TableId as Ti;
    let goto = |table: u8| B::new().u16(1).u16(8).u8(table).zeros(3).0;
    let m = fm(t, 5, 0, 0, &[port1.clone(), goto(0)].concat());
    t.add(
        Ti,
        "FLOW_MOD in table 5 going to table 0",
        m,
        "OFPBIC_BAD_TABLE_ID",
    );
    let m = fm(t, 5, 0, 0, &[port1.clone(), goto(5)].concat());
    t.add(
        Ti,
        "FLOW_MOD in table 5 going to table 5",
        m,
        "OFPBIC_BAD_TABLE_ID",
    );
    for (command, name) in [(0, "add to"), (1, "modify in"), (2, "strict modify in")] {
        let m = fm(t, 255, command, 0, &port1);
        let name = format!("FLOW_MOD {name} table 255 (OFPTT_ALL)");
        t.add(Ti, &name, m, "OFPFMFC_BAD_TABLE_ID");
    }
    let m = fm(t, 254, 0, 0, &port1);
    t.add(Ti, "FLOW_MOD add to table 254", m, "OFPBRC_EPERM")
        .switch("ofproto.c add_flow_init: table 254 is OFTABLE_READONLY");

    // Bad commands and flags.
    let m = fm(t, 0, 9, 0, &port1);
    t.add(Cat::FlowMod, "FLOW_MOD command 9", m, "OFPFMFC_BAD_COMMAND");
    let m = fm(t, 0, 0, 0x8000, &port1);
    t.add(
        Cat::FlowMod,
        "FLOW_MOD flags 0x8000",
        m,
        "OFPFMFC_BAD_FLAGS",
    );
}

fn flow_mods10(t: &mut Table) {
    use Cat::Actions as Ac;
    let o = output10(2);
    let cases: Vec<(&str, Vec<u8>, &'static str)> = vec![
        (
            "action of length 4",
            B::new().u16(0).u16(4).zeros(4).0,
            "OFPBAC_BAD_LEN",
        ),
        (
            "output action of length 16",
            B::new().u16(0).u16(16).u16(2).u16(0).zeros(8).0,
            "OFPBAC_BAD_LEN",
        ),
        (
            "output action of length 0",
            B::new().u16(0).u16(0).u16(2).u16(0).0,
            "OFPBAC_BAD_LEN",
        ),
        (
            "output action overrunning the list",
            B::new().u16(0).u16(16).u16(2).u16(0).0,
            "OFPBAC_BAD_LEN",
        ),
        (
            "action type 0xee",
            B::new().u16(0xee).u16(8).zeros(4).0,
            "OFPBAC_BAD_TYPE",
        ),
        (
            "vendor action of vendor 0x1234",
            B::new().u16(0xffff).u16(8).u32(0x1234).0,
            "OFPBAC_BAD_VENDOR",
        ),
        (
            "Nicira action subtype 0xfff",
            B::new().u16(0xffff).u16(16).u32(NX).u16(0xfff).zeros(6).0,
            "OFPBAC_BAD_VENDOR_TYPE",
        ),
        (
            "output to port 0xff00",
            output10(0xff00),
            "OFPBAC_BAD_OUT_PORT",
        ),
        (
            "set_vlan_vid 0xffff",
            B::new().u16(1).u16(8).u16(0xffff).zeros(2).0,
            "OFPBAC_BAD_ARGUMENT",
        ),
        (
            "set_vlan_pcp 8",
            B::new().u16(2).u16(8).u8(8).zeros(3).0,
            "OFPBAC_BAD_ARGUMENT",
        ),
    ];
    for (name, actions, want) in cases {
        let m = t.plain(14, &flow_mod10(0, 0, &actions));
        t.add(Ac, &format!("FLOW_MOD {name}"), m, want);
    }
    let m = t.plain(14, &flow_mod10(9, 0, &o));
    t.add(Cat::FlowMod, "FLOW_MOD command 9", m, "OFPFMFC_BAD_COMMAND");
    let m = t.plain(14, &flow_mod10(0, 0x8000, &o));
    t.add(
        Cat::FlowMod,
        "FLOW_MOD flags 0x8000",
        m,
        "OFPFMFC_BAD_FLAGS",
    );
    let m = t.plain(14, &flow_mod10(254 << 8, 0, &o));
    let name = "FLOW_MOD naming table 254 without NXT_FLOW_MOD_TABLE_ID";
    t.add(Cat::TableId, name, m, "OFPFMFC_BAD_COMMAND")
        .switch("ofp-flow.c ofputil_decode_flow_mod: without TID the command is 0xfe00");
    let on = of(
        1,
        4,
        t.step_xid(1),
        &B::new().u32(NX).u32(15).u8(1).zeros(7).0,
    );
    let off = of(
        1,
        4,
        t.step_xid(2),
        &B::new().u32(NX).u32(15).u8(0).zeros(7).0,
    );
    let m = t.plain(14, &flow_mod10(254 << 8, 0, &o));
    let name = "FLOW_MOD add to table 254 with NXT_FLOW_MOD_TABLE_ID";
    t.add(Cat::TableId, name, m, "OFPBRC_EPERM")
        .switch("ofproto.c add_flow_init: table 254 is OFTABLE_READONLY")
        .before(on, false)
        .after(off, false);
}

fn packet_outs(t: &mut Table) {
    use Cat::PacketOut as P;
    let v = t.v;
    let po = |t: &Table, in_port: u32, actions_len: u16, rest: &[u8]| -> Vec<u8> {
        let body = match v {
            OF10 => B::new()
                .u32(0xffff_ffff)
                .u16(in_port as u16)
                .u16(actions_len),
            OF15 => B::new()
                .u32(0xffff_ffff)
                .u16(actions_len)
                .zeros(2)
                .raw(&ofp_match(&[oxm(0, &in_port.to_be_bytes())])),
            _ => B::new()
                .u32(0xffff_ffff)
                .u32(in_port)
                .u16(actions_len)
                .zeros(6),
        };
        t.plain(13, &body.raw(rest).0)
    };
    let (ctrl, out, bad_port) = if v == OF10 {
        (0xfffd, output10(2), 0xff80)
    } else {
        (0xffff_fffd, output(2), 0xffff_ff00)
    };
    let unknown = B::new().u16(0xee).u16(8).zeros(4).0;
    let len0 = B::new().u16(0).u16(0).zeros(4).0;
    let mut cases = vec![
        (
            "PACKET_OUT actions_len past the end",
            po(t, ctrl, 64, &out),
            BAD_LEN,
        ),
        (
            "PACKET_OUT action type 0xee",
            po(t, ctrl, 8, &unknown),
            "OFPBAC_BAD_TYPE",
        ),
        (
            "PACKET_OUT action of length 0",
            po(t, ctrl, 8, &len0),
            "OFPBAC_BAD_LEN",
        ),
    ];
    if v != OF10 {
        cases.push((
            "PACKET_OUT actions_len cutting an action",
            po(t, ctrl, 8, &[out.clone(), zeros(8)].concat()),
            "OFPBAC_BAD_LEN",
        ));
    }
    let bad_in_port = po(t, bad_port, out.len() as u16, &out);
    for (name, m, want) in cases {
        t.add(P, name, m, want);
    }
    t.add(
        P,
        "PACKET_OUT from a bad in_port",
        bad_in_port,
        "OFPBRC_BAD_PORT",
    );
}

fn group_mods(t: &mut Table) {
    use Cat::GroupMod as G;
    let v = t.v;
    let out = if v == OF10 { output10(2) } else { output(2) };
    let unknown = B::new().u16(0xee).u16(8).zeros(4).0;
    let al = out.len() as u16;
    if v == OF10 || v == OF15 {
        let gm = |t: &Table, body: Vec<u8>| {
            if v == OF10 {
                t.vendor(NX, 31, &body)
            } else {
                t.plain(15, &body)
            }
        };
        let b = bucket15(al, &out);
        let bl = b.len() as u16;
        let m = gm(t, group_mod15(9, 0, &b, bl));
        t.add(G, "GROUP_MOD command 9", m, "OFPGMFC_BAD_COMMAND");
        let m = gm(t, group_mod15(0, 9, &b, bl));
        t.add(G, "GROUP_MOD type 9", m, "OFPGMFC_BAD_TYPE");
        let m = gm(t, group_mod15(0, 0, &b, 64));
        t.add(G, "GROUP_MOD bucket array past the end", m, BAD_LEN);
        let bu = bucket15(8, &unknown);
        let m = gm(t, group_mod15(0, 0, &bu, bu.len() as u16));
        t.add(
            G,
            "GROUP_MOD bucket with action type 0xee",
            m,
            "OFPBAC_BAD_TYPE",
        );
        if v == OF15 {
            let bb = bucket15(64, &out);
            let m = gm(t, group_mod15(0, 0, &bb, bb.len() as u16));
            t.add(
                G,
                "GROUP_MOD bucket actions past the bucket",
                m,
                "OFPGMFC_BAD_BUCKET",
            );
        }
        return;
    }
    let gm = |t: &Table, command: u16, ty: u8, buckets: &[u8]| {
        t.plain(
            15,
            &B::new().u16(command).u8(ty).zeros(1).u32(1).raw(buckets).0,
        )
    };
    let b = bucket13(16 + al, &out);
    let m = gm(t, 9, 0, &b);
    t.add(G, "GROUP_MOD command 9", m, "OFPGMFC_BAD_COMMAND");
    let m = gm(t, 0, 9, &b);
    t.add(G, "GROUP_MOD type 9", m, "OFPGMFC_BAD_TYPE");
    let m = gm(t, 0, 0, &bucket13(64, &out));
    t.add(
        G,
        "GROUP_MOD bucket longer than the message",
        m,
        "OFPGMFC_BAD_BUCKET",
    );
    let m = gm(t, 0, 0, &[bucket13(8, &[]), zeros(8)].concat());
    t.add(G, "GROUP_MOD bucket of length 8", m, "OFPGMFC_BAD_BUCKET");
    let m = gm(t, 0, 0, &bucket13(24, &B::new().u16(0).u16(0).zeros(4).0));
    t.add(
        G,
        "GROUP_MOD bucket with an action of length 0",
        m,
        "OFPBAC_BAD_LEN",
    );
    let m = gm(t, 0, 0, &bucket13(24, &unknown));
    t.add(
        G,
        "GROUP_MOD bucket with action type 0xee",
        m,
        "OFPBAC_BAD_TYPE",
    );
    let m = gm(t, 0, 2, &[b.clone(), b.clone()].concat());
    t.add(
        G,
        "indirect GROUP_MOD with two buckets",
        m,
        "OFPGMFC_INVALID_GROUP",
    );
}

fn meter_mods(t: &mut Table) {
    use Cat::MeterMod as Me;
    if t.v == OF10 {
        return;
    }
    let mm = |t: &Table, command: u16, flags: u16, bands: &[u8]| {
        t.plain(29, &B::new().u16(command).u16(flags).u32(1).raw(bands).0)
    };
    let drop = band(1, 16);
    let m = mm(t, 9, 1, &drop);
    t.add(Me, "METER_MOD command 9", m, "OFPMMFC_BAD_COMMAND");
    let m = mm(t, 0, 3, &drop);
    t.add(Me, "METER_MOD both kbps and pktps", m, "OFPMMFC_BAD_FLAGS");
    let m = mm(t, 0, 1, &band(9, 16));
    t.add(Me, "METER_MOD band type 9", m, "OFPMMFC_BAD_BAND");
    let m = mm(t, 0, 1, &band(0xffff, 16));
    t.add(Me, "METER_MOD experimenter band", m, "OFPMMFC_BAD_BAND");
    let m = mm(t, 0, 1, &band(1, 8));
    t.add(Me, "METER_MOD band of length 8", m, BAD_LEN);
    let m = mm(t, 0, 1, &band(1, 24));
    t.add(Me, "METER_MOD band of length 24", m, BAD_LEN);
}

/// NXT_TLV_TABLE_MOD, decoded as `ofputil_decode_tlv_table_mod` does and
/// applied as `tun_metadata_table_mod` and `mf_vl_mff_map_mod_from_
/// tun_metadata` do (lib/tun-metadata.c, lib/meta-flow.c).
fn tlv_table(t: &mut Table) {
    use Cat::Tlv as T;
    let v = t.v;
    let map = |class: u16, ty: u8, len: u8, idx: u16| {
        B::new().u16(class).u8(ty).u8(len).u16(idx).zeros(2).0
    };
    let tlv_mod = |xid: u32, command: u16, maps: &[Vec<u8>]| {
        let body = B::new()
            .u32(NX)
            .u32(24)
            .u16(command)
            .zeros(6)
            .raw(&maps.concat())
            .0;
        of(v.0, 4, xid, &body)
    };
    let m = of(v.0, 4, 0, &B::new().u32(NX).u32(24).zeros(4).0);
    t.add(T, "NXT_TLV_TABLE_MOD of 4 body bytes", m, BAD_LEN);
    let m = of(v.0, 4, 0, &B::new().u32(NX).u32(24).zeros(12).0);
    t.add(T, "NXT_TLV_TABLE_MOD with half a map", m, BAD_LEN);
    let m = tlv_mod(t.x(), 3, &[map(1, 1, 4, 0)]);
    t.add(T, "NXT_TLV_TABLE_MOD command 3", m, "NXTTMFC_BAD_COMMAND");
    for (len, idx, want) in [
        (5u8, 0u16, "NXTTMFC_BAD_OPT_LEN"),
        (128, 0, "NXTTMFC_BAD_OPT_LEN"),
        (4, 64, "NXTTMFC_BAD_FIELD_IDX"),
        (4, 0xffff, "NXTTMFC_BAD_FIELD_IDX"),
    ] {
        let m = tlv_mod(t.x(), 0, &[map(1, 1, len, idx)]);
        t.add(
            T,
            &format!("NXT_TLV_TABLE_MOD map len {len} index {idx}"),
            m,
            want,
        );
    }
    // Maps are checked whatever the command, CLEAR included.
    let m = tlv_mod(t.x(), 2, &[map(1, 1, 6, 0)]);
    t.add(
        T,
        "NXT_TLV_TABLE_MOD CLEAR with a bad map",
        m,
        "NXTTMFC_BAD_OPT_LEN",
    );
    let m = of(v.0, 4, t.x(), &B::new().u32(NX).u32(25).zeros(8).0);
    t.add(T, "NXT_TLV_TABLE_REQUEST with a body", m, BAD_LEN);
    let reply = B::new().u32(NX).u32(26).u32(256).u16(64).zeros(10).0;
    let m = of(v.0, 4, t.x(), &reply);
    t.add(T, "NXT_TLV_TABLE_REPLY to the switch", m, BAD_TYPE)
        .switch(REPLY_TYPE);

    // What the table refuses: each case maps an option first and clears
    // the table after.
    let clear = |xid| tlv_mod(xid, 2, &[]);
    for (name, maps, first, want) in [
        (
            "NXT_TLV_TABLE_MOD index mapped already",
            vec![map(1, 2, 4, 0)],
            map(1, 1, 4, 0),
            "NXTTMFC_ALREADY_MAPPED",
        ),
        (
            "NXT_TLV_TABLE_MOD option mapped already",
            vec![map(1, 1, 4, 1)],
            map(1, 1, 4, 0),
            "NXTTMFC_DUP_ENTRY",
        ),
        (
            "NXT_TLV_TABLE_MOD past 256 option bytes",
            vec![map(2, 1, 124, 1), map(2, 2, 124, 2)],
            map(1, 1, 12, 0),
            "NXTTMFC_TABLE_FULL",
        ),
    ] {
        let (before, after) = (tlv_mod(t.step_xid(1), 0, &[first]), clear(t.step_xid(2)));
        let m = tlv_mod(t.x(), 0, &maps);
        t.add(T, name, m, want)
            .switch("tun-metadata.c tun_metadata_add_entry")
            .before(before, false)
            .after(after, false);
    }

    // A flow on an unmapped field; a mapping a flow uses cannot go.
    if v == OF10 {
        return;
    }
    let md0 = tlv(1, 40, false, 4, &[0, 0, 0, 7]);
    let flow = |xid: u32, command: u8| {
        of(
            v.0,
            14,
            xid,
            &flow_mod_head(0, command, 0)
                .raw(&ofp_match(std::slice::from_ref(&md0)))
                .0,
        )
    };
    let m = flow(t.x(), 0);
    t.add(
        T,
        "FLOW_MOD on an unmapped tun_metadata0",
        m,
        "NXFMFC_INVALID_TLV_FIELD",
    )
    .switch("nx-match.c nx_pull_header__: mf_vl_mff_invalid");
    let steps = [
        tlv_mod(t.step_xid(1), 0, &[map(1, 1, 4, 0)]),
        flow(t.step_xid(2), 0),
        flow(t.step_xid(3), 3),
        clear(t.step_xid(4)),
    ];
    let m = clear(t.x());
    t.add(
        T,
        "NXT_TLV_TABLE_MOD CLEAR under a flow",
        m,
        "NXTTMFC_INVALID_TLV_DEL",
    )
    .switch("meta-flow.c mf_vl_mff_map_clear")
    .before(steps[0].clone(), false)
    .before(steps[1].clone(), false)
    .after(steps[2].clone(), false)
    .after(steps[3].clone(), false);
    // The TLV table is the switch's: a secondary may not change it. (The
    // generation id must not be stale: a role case before set one.)
    let secondary = of(
        v.0,
        24,
        t.step_xid(1),
        &B::new().u32(3).zeros(4).u64(1 << 62).0,
    );
    let equal = of(
        v.0,
        24,
        t.step_xid(2),
        &B::new().u32(1).zeros(4).u64(u64::MAX).0,
    );
    let m = tlv_mod(t.x(), 0, &[map(1, 1, 4, 0)]);
    t.add(
        T,
        "NXT_TLV_TABLE_MOD from a secondary",
        m,
        "OFPBRC_IS_SECONDARY",
    )
    .switch("ofproto.c handle_tlv_table_mod: reject_secondary_controller")
    .before(secondary, true)
    .after(equal, true);
}

/// NXT_CT_FLUSH_ZONE (its padding is checked by ofproto.c
/// handle_nxt_ct_flush_zone) and NXT_CT_FLUSH (ofp-ct.c
/// ofp_ct_match_decode).
fn conntrack(t: &mut Table) {
    use Cat::Conntrack as C;
    let v = t.v;
    let flush = |body: &[u8]| of(v.0, 4, 0, &B::new().u32(NX).u32(32).raw(body).0);
    let zone = |body: &[u8]| of(v.0, 4, 0, &B::new().u32(NX).u32(29).raw(body).0);
    let prop = |ty: u16, len: u16, payload: &[u8]| B::new().u16(ty).u16(len).raw(payload).pad8().0;
    t.add(
        C,
        "NXT_CT_FLUSH_ZONE of 4 body bytes",
        zone(&zeros(4)),
        BAD_LEN,
    );
    t.add(
        C,
        "NXT_CT_FLUSH_ZONE of 16 body bytes",
        zone(&zeros(16)),
        BAD_LEN,
    );
    t.add(
        C,
        "NXT_CT_FLUSH_ZONE with nonzero padding",
        zone(&[0, 0, 1, 0, 0, 0, 0, 5]),
        "NXBRC_MUST_BE_ZERO",
    )
    .switch("ofproto.c handle_nxt_ct_flush_zone");
    t.add(C, "NXT_CT_FLUSH of 4 body bytes", flush(&zeros(4)), BAD_LEN);
    t.add(
        C,
        "NXT_CT_FLUSH of 12 body bytes",
        flush(&zeros(12)),
        BAD_LEN,
    );
    t.add(
        C,
        "NXT_CT_FLUSH with nonzero padding",
        flush(&[6, 0, 0, 0, 0, 0, 0, 1]),
        "NXBRC_MUST_BE_ZERO",
    );
    let head = zeros(8);
    let m = flush(&[head.clone(), prop(2, 5, &[0])].concat());
    t.add(
        C,
        "NXT_CT_FLUSH zone property of 1 byte",
        m,
        "OFPBPC_BAD_LEN",
    );
    let m = flush(&[head.clone(), B::new().u16(2).u16(16).u16(7).zeros(2).0].concat());
    t.add(
        C,
        "NXT_CT_FLUSH property overrunning the message",
        m,
        "OFPBPC_BAD_LEN",
    );
    let m = flush(&[head.clone(), B::new().u16(2).u16(2).zeros(4).0].concat());
    t.add(C, "NXT_CT_FLUSH property of length 2", m, "OFPBPC_BAD_LEN");
    let m = flush(&[head.clone(), prop(0xffff, 12, &B::new().u32(0).u32(1).0)].concat());
    t.add(
        C,
        "NXT_CT_FLUSH experimenter property 0",
        m,
        "OFPBPC_BAD_EXPERIMENTER",
    );
    let m = flush(&[head.clone(), prop(0, 6, &[0, 0])].concat());
    t.add(
        C,
        "NXT_CT_FLUSH tuple property without nested padding",
        m,
        "OFPBPC_BAD_LEN",
    );
    let v4 = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1];
    let v6 = [0x20u8, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let nested = [prop(0, 20, &v4), prop(1, 20, &v6)].concat();
    let len = u16::try_from(8 + nested.len()).expect("short");
    let tuple = B::new().u16(0).u16(len).zeros(4).raw(&nested).0;
    let m = flush(&[head.clone(), tuple].concat());
    t.add(
        C,
        "NXT_CT_FLUSH tuple with IPv4 and IPv6 addresses",
        m,
        "OFPBPC_BAD_VALUE",
    );
    let short = [prop(0, 12, &v4[..8])].concat();
    let len = u16::try_from(8 + short.len()).expect("short");
    let tuple = B::new().u16(0).u16(len).zeros(4).raw(&short).0;
    let m = flush(&[head, tuple].concat());
    t.add(
        C,
        "NXT_CT_FLUSH tuple with an 8-byte address",
        m,
        "OFPBPC_BAD_LEN",
    );
}

fn bundles(t: &mut Table) {
    use Cat::Bundle as Bu;
    let v = t.v;
    if v == OF10 {
        return;
    }
    let ctl = |xid: u32, id: u32, ty: u16, flags: u16| {
        let body = B::new().u32(id).u16(ty).u16(flags).0;
        if v == OF13 {
            of(4, 4, xid, &B::new().u32(ONF).u32(2300).raw(&body).0)
        } else {
            of(v.0, 33, xid, &body)
        }
    };
    let add = |xid: u32, id: u32, inner: &[u8]| {
        let body = B::new().u32(id).zeros(2).u16(0).raw(inner).0;
        if v == OF13 {
            of(4, 4, xid, &B::new().u32(ONF).u32(2301).raw(&body).0)
        } else {
            of(v.0, 34, xid, &body)
        }
    };
    let flow_mod = |xid: u32, fields: &[Vec<u8>]| {
        of(
            v.0,
            14,
            xid,
            &flow_mod_head(0, 0, 0).raw(&ofp_match(fields)).0,
        )
    };
    let x = t.x();
    let good = flow_mod(x, &[in_port(1)]);

    // What bundle decoding refuses (ofp-bundle.c ofputil_decode_bundle_add).
    let m = add(x, 1, &of(v.0, 2, x, &[]));
    t.add(Bu, "BUNDLE_ADD of an ECHO_REQUEST", m, "OFPBFC_MSG_UNSUP");
    let x = t.x();
    let m = add(x, 1, &of(v.0, 20, x, &[]));
    t.add(Bu, "BUNDLE_ADD of a BARRIER_REQUEST", m, "OFPBFC_MSG_UNSUP");
    let x = t.x();
    let m = add(x, 1, &of(v.0, 99, x, &[]));
    t.add(Bu, "BUNDLE_ADD of message type 99", m, "OFPBFC_MSG_UNSUP");
    let x = t.x();
    let m = add(x, 1, &flow_mod(x + 1000, &[in_port(1)]));
    t.add(
        Bu,
        "BUNDLE_ADD with another xid inside",
        m,
        "OFPBFC_MSG_BAD_XID",
    );
    let x = t.x();
    let mut inner = flow_mod(x, &[in_port(1)]);
    inner[0] = if v == OF13 { 5 } else { 4 };
    let m = add(x, 1, &inner);
    t.add(
        Bu,
        "BUNDLE_ADD with another version inside",
        m,
        "OFPBFC_BAD_VERSION",
    );
    let x = t.x();
    let mut inner = flow_mod(x, &[in_port(1)]);
    inner[2..4].copy_from_slice(&200u16.to_be_bytes());
    let m = add(x, 1, &inner);
    t.add(
        Bu,
        "BUNDLE_ADD inner length past the end",
        m,
        "OFPBFC_MSG_BAD_LEN",
    );
    let x = t.x();
    let mut inner = flow_mod(x, &[in_port(1)]);
    inner[2..4].copy_from_slice(&4u16.to_be_bytes());
    let m = add(x, 1, &inner);
    t.add(Bu, "BUNDLE_ADD inner length 4", m, "OFPBFC_MSG_BAD_LEN");
    let x = t.x();
    let m = add(x, 1, &[]);
    t.add(Bu, "BUNDLE_ADD with no message", m, "OFPBFC_MSG_BAD_LEN");
    let x = t.x();
    let m = add(x, 1, &flow_mod(x, &[in_port(1), in_port(1)]));
    t.add(
        Bu,
        "BUNDLE_ADD of a FLOW_MOD matching in_port twice",
        m,
        "OFPBMC_DUP_FIELD",
    );

    // What the switch refuses (ofproto.c handle_bundle_control, bundles.c).
    let x = t.x();
    let m = ctl(x, 1, 1, 0);
    t.add(Bu, "BUNDLE_CONTROL OPEN_REPLY", m, "OFPBFC_BAD_TYPE")
        .switch("ofproto.c handle_bundle_control: reply types");
    let x = t.x();
    let m = ctl(x, 0x77, 4, 0);
    t.add(
        Bu,
        "BUNDLE_CONTROL COMMIT of an unknown bundle",
        m,
        "OFPBFC_BAD_ID",
    )
    .switch("ofproto.c do_bundle_commit: no such bundle");
    let x = t.x();
    let m = ctl(x, 0x77, 2, 0);
    t.add(
        Bu,
        "BUNDLE_CONTROL CLOSE of an unknown bundle",
        m,
        "OFPBFC_BAD_ID",
    )
    .switch("bundles.c ofp_bundle_close: no such bundle");
    let x = t.x();
    let m = ctl(x, 0x77, 6, 0);
    t.add(
        Bu,
        "BUNDLE_CONTROL DISCARD of an unknown bundle",
        m,
        "OFPBFC_BAD_ID",
    )
    .switch("bundles.c ofp_bundle_discard: no such bundle");
    let x = t.x();
    let s1 = t.step_xid(1);
    let m = ctl(x, 5, 0, 0);
    t.add(
        Bu,
        "BUNDLE_CONTROL OPEN of an open bundle",
        m,
        "OFPBFC_BAD_ID",
    )
    .switch("bundles.c ofp_bundle_open: bundle exists")
    .before(ctl(s1, 5, 0, 0), true);
    let x = t.x();
    let s1 = t.step_xid(1);
    let m = ctl(x, 6, 4, 0);
    t.add(
        Bu,
        "BUNDLE_CONTROL COMMIT with other flags than OPEN",
        m,
        "OFPBFC_BAD_FLAGS",
    )
    .switch("ofproto.c do_bundle_commit: flags differ")
    .before(ctl(s1, 6, 0, 1), true);
    let x = t.x();
    let (s1, s2) = (t.step_xid(1), t.step_xid(2));
    let m = ctl(x, 7, 2, 0);
    t.add(
        Bu,
        "BUNDLE_CONTROL CLOSE of a closed bundle",
        m,
        "OFPBFC_BUNDLE_CLOSED",
    )
    .switch("bundles.c ofp_bundle_close: already closed")
    .before(ctl(s1, 7, 0, 0), true)
    .before(ctl(s2, 7, 2, 0), true);
    let x = t.x();
    let (s1, s2) = (t.step_xid(1), t.step_xid(2));
    let mut inner = good.clone();
    inner[4..8].copy_from_slice(&x.to_be_bytes());
    let m = add(x, 8, &inner);
    t.add(
        Bu,
        "BUNDLE_ADD to a closed bundle",
        m,
        "OFPBFC_BUNDLE_CLOSED",
    )
    .switch("bundles.c ofp_bundle_add_message: closed")
    .before(ctl(s1, 8, 0, 0), true)
    .before(ctl(s2, 8, 2, 0), true);

    // Commit of a bundle whose flow mod fails when applied: the flow mod's
    // error, for its BUNDLE_ADD_MESSAGE, then MSG_FAILED for the commit
    // (ofproto.c do_bundle_commit).
    let x = t.x();
    let s1 = t.step_xid(1);
    let group77 = B::new().u16(22).u16(8).u32(77).0;
    let inner = of(
        v.0,
        14,
        s1,
        &flow_mod_head(0, 0, 0)
            .raw(&ofp_match(&[in_port(2)]))
            .raw(&apply(&group77))
            .0,
    );
    let failing_add = add(s1, 9, &inner);
    let m = ctl(x, 9, 4, 0);
    t.add(
        Bu,
        "BUNDLE_CONTROL COMMIT of a bundle whose flow mod fails",
        m,
        "OFPBFC_MSG_FAILED",
    )
    .switch("ofproto.c do_bundle_commit: the failing message's error, then MSG_FAILED")
    .before(failing_add.clone(), false)
    .error_first(s1, "OFPBAC_BAD_OUT_GROUP", failing_add);
    // An atomic bundle may not hold a port mod: Open vSwitch cannot take it
    // back (MSG_FAILED for the port mod, then for the commit).
    let x = t.x();
    let s1 = t.step_xid(1);
    let port_mod = if v == OF13 {
        of(
            4,
            16,
            s1,
            &B::new()
                .u32(1)
                .zeros(4)
                .raw(&[2, 0, 0, 0, 0, 1])
                .zeros(2)
                .u32(1)
                .u32(1)
                .u32(0)
                .zeros(4)
                .0,
        )
    } else {
        of(
            v.0,
            16,
            s1,
            &B::new()
                .u32(1)
                .zeros(4)
                .raw(&[2, 0, 0, 0, 0, 1])
                .zeros(2)
                .u32(1)
                .u32(1)
                .0,
        )
    };
    let atomic_add = {
        let body = B::new().u32(10).zeros(2).u16(1).raw(&port_mod).0;
        if v == OF13 {
            of(4, 4, s1, &B::new().u32(ONF).u32(2301).raw(&body).0)
        } else {
            of(v.0, 34, s1, &body)
        }
    };
    let m = ctl(x, 10, 4, 1);
    t.add(
        Bu,
        "BUNDLE_CONTROL COMMIT of an atomic bundle with a PORT_MOD",
        m,
        "OFPBFC_MSG_FAILED",
    )
    .switch("ofproto.c do_bundle_commit: port mods are not atomic")
    .before(atomic_add.clone(), false)
    .error_first(s1, "OFPBFC_MSG_FAILED", atomic_add);
    // Checked when added (ofproto.c add_flow_init: read-only table).
    let x = t.x();
    let inner = of(
        v.0,
        14,
        x,
        &flow_mod_head(254, 0, 0).raw(&ofp_match(&[in_port(1)])).0,
    );
    let m = add(x, 11, &inner);
    t.add(
        Bu,
        "BUNDLE_ADD of a FLOW_MOD to table 254",
        m,
        "OFPBRC_EPERM",
    )
    .switch("ofproto.c add_flow_init: table 254 is read-only");
    let x = t.x();
    let m = add(x, 12, &of(v.0, 10, x, &zeros(16)));
    t.add(Bu, "BUNDLE_ADD of a PACKET_IN", m, "OFPBFC_MSG_UNSUP");
    let x = t.x();
    let m = add(x, 12, &of(v.0, 6, x, &zeros(24)));
    t.add(Bu, "BUNDLE_ADD of a FEATURES_REPLY", m, "OFPBFC_MSG_UNSUP");
    // Other flags than the bundle was opened with: it is discarded.
    let x = t.x();
    let s1 = t.step_xid(1);
    let mut inner = good.clone();
    inner[4..8].copy_from_slice(&x.to_be_bytes());
    let body = B::new().u32(13).zeros(2).u16(2).raw(&inner).0;
    let m = if v == OF13 {
        of(4, 4, x, &B::new().u32(ONF).u32(2301).raw(&body).0)
    } else {
        of(v.0, 34, x, &body)
    };
    t.add(
        Bu,
        "BUNDLE_ADD with other flags than OPEN",
        m,
        "OFPBFC_BAD_FLAGS",
    )
    .switch("bundles.c ofp_bundle_add_message: flags differ")
    .before(ctl(s1, 13, 0, 1), true);
    // Not a request type at all. Open vSwitch's handle_bundle_control has
    // no case for it and answers with an uninitialised reply type; oxvs
    // answers OFPBFC_BAD_TYPE as OpenFlow 1.4 (7.3.9.2) says.
    let x = t.x();
    let m = ctl(x, 14, 8, 0);
    t.add(Bu, "BUNDLE_CONTROL of type 8", m, "OFPBFC_BAD_TYPE")
        .switch("OpenFlow 1.4 7.3.9.2 (Open vSwitch: undefined reply)");
}

/// Flow monitor requests and cancels (NXST_FLOW_MONITOR in 1.0,
/// ONFST_FLOW_MONITOR in 1.3, OFPMP_FLOW_MONITOR in 1.4+). A monitor a
/// case creates is cancelled right after it, so that no flow update turns
/// up in a later case.
fn monitors(t: &mut Table) {
    use Cat::Monitor as Mo;
    let v = t.v;
    // One request entry: id, flags (NX/ONF or OpenFlow 1.4 bits), an
    // all-zero padding byte to spoil, and the 1.4 command.
    let entry = |id: u32, flags: u16, pad: u8, command: u8| -> Vec<u8> {
        if v == OF10 {
            B::new()
                .u32(id)
                .u16(flags)
                .u16(0xffff)
                .u16(0)
                .u8(0xff)
                .u8(pad)
                .zeros(4)
                .0
        } else if v == OF13 {
            B::new()
                .u32(id)
                .u16(flags)
                .u16(4)
                .u32(0xffff_ffff)
                .u8(0xff)
                .u8(pad)
                .zeros(2)
                .raw(&ofp_match(&[]))
                .0
        } else {
            B::new()
                .u32(id)
                .u32(0xffff_ffff)
                .u32(0xffff_ffff)
                .u16(flags)
                .u8(0xff)
                .u8(command)
                .raw(&ofp_match(&[]))
                .0
        }
    };
    let request = |t: &Table, body: &[u8]| {
        if v == OF10 {
            t.mp_vendor(NX, 2, body)
        } else if v == OF13 {
            t.mp_vendor(ONF, 1870, body)
        } else {
            t.mp(16, body)
        }
    };
    let with_xid = |mut m: Vec<u8>, xid: u32| {
        m[4..8].copy_from_slice(&xid.to_be_bytes());
        m
    };
    // Cancels monitor `id` (1.4+: a DELETE request, which gets a reply).
    let cancel = |t: &Table, id: u32, xid: u32| -> (Vec<u8>, bool) {
        let m = if v == OF10 {
            t.vendor(NX, 21, &id.to_be_bytes())
        } else if v == OF13 {
            t.vendor(ONF, 1870, &id.to_be_bytes())
        } else {
            request(t, &entry(id, 0, 0, 2))
        };
        (with_xid(m, xid), v >= OF14)
    };

    // What decoding refuses (ofp-monitor.c ofputil_decode_flow_monitor_request).
    let m = request(t, &entry(1, 0x1, 0, 0));
    t.add(
        Mo,
        "FLOW_MONITOR request for no event",
        m,
        "OFPMOFC_BAD_FLAGS",
    );
    let m = request(t, &entry(1, 0x82, 0, 0));
    t.add(
        Mo,
        "FLOW_MONITOR request with flag 0x80",
        m,
        "OFPMOFC_BAD_FLAGS",
    );
    if v >= OF14 {
        let m = request(t, &entry(1, 0x22, 0, 0));
        t.add(
            Mo,
            "FLOW_MONITOR request with NO_ABBREV",
            m,
            "OFPMOFC_BAD_FLAGS",
        );
    } else {
        let m = request(t, &entry(1, 0x2, 1, 0));
        t.add(
            Mo,
            "FLOW_MONITOR request with padding not zero",
            m,
            "NXBRC_MUST_BE_ZERO",
        );
    }
    let m = request(t, &entry(1, 0x2, 0, 0)[..8]);
    t.add(Mo, "FLOW_MONITOR request entry of 8 bytes", m, BAD_LEN);

    // What the switch refuses (ofproto.c handle_flow_monitor_request,
    // connmgr.c ofmonitor_create, flow_monitor_delete).
    let x = t.x();
    let (s1, s2) = (t.step_xid(1), t.step_xid(2));
    let first = with_xid(request(t, &entry(7, 0x2, 0, 0)), s1);
    let m = request(t, &entry(7, 0x2, 0, 0));
    let (c, reply) = cancel(t, 7, s2);
    t.add(
        Mo,
        "FLOW_MONITOR request for a monitor id in use",
        m,
        "OFPMOFC_MONITOR_EXISTS",
    )
    .switch("connmgr.c ofmonitor_create: id exists")
    .before(first, true)
    .after(c, reply);
    let _ = x;
    let x = t.x();
    let (m, _) = cancel(t, 0x99, x);
    t.add(
        Mo,
        "FLOW_MONITOR cancel of an unknown monitor",
        m,
        "OFPMOFC_UNKNOWN_MONITOR",
    )
    .switch("ofproto.c flow_monitor_delete: no such monitor");
}

// ---------------------------------------------------------------------------
// The client side of a connection.

/// A parsed OFPT_ERROR.
#[derive(Debug)]
struct ErrorReply {
    version: u8,
    xid: u32,
    triple: Triple,
    data: Vec<u8>,
}

struct Conn {
    s: UnixStream,
    v: V,
}

fn read_msg(s: &mut UnixStream) -> Result<Vec<u8>, String> {
    let mut m = vec![0u8; 8];
    s.read_exact(&mut m)
        .map_err(|e| format!("reading a header: {e}"))?;
    let len = usize::from(u16::from_be_bytes([m[2], m[3]]));
    if len < 8 {
        return Err(format!("the switch sent a header of length {len}"));
    }
    m.resize(len, 0);
    s.read_exact(&mut m[8..])
        .map_err(|e| format!("reading a body: {e}"))?;
    Ok(m)
}

fn connect(sw: &Switch) -> UnixStream {
    let s = UnixStream::connect(&sw.sock).expect("connect to the switch");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    s
}

impl Conn {
    /// Connects and negotiates `v` with a plain hello in `v`.
    fn open(sw: &Switch, v: V) -> Conn {
        let mut s = connect(sw);
        let hello = read_msg(&mut s).expect("the switch's hello");
        assert_eq!(hello[1], 0, "the switch speaks first with HELLO");
        s.write_all(&of(v.0, 0, 1, &[])).expect("send hello");
        let mut c = Conn { s, v };
        c.echo(2, b"hello").expect("echo after the hello exchange");
        c
    }

    fn send(&mut self, m: &[u8]) -> Result<(), String> {
        self.s.write_all(m).map_err(|e| format!("send: {e}"))
    }

    fn recv(&mut self) -> Result<Vec<u8>, String> {
        read_msg(&mut self.s)
    }

    fn echo(&mut self, xid: u32, payload: &[u8]) -> Result<(), String> {
        self.send(&of(self.v.0, 2, xid, payload))?;
        let r = self.recv()?;
        if r[0] != self.v.0 || r[1] != 3 || r[4..8] != xid.to_be_bytes() || r[8..] != *payload {
            return Err(format!("expected ECHO_REPLY xid {xid:#x}, got {}", hex(&r)));
        }
        Ok(())
    }

    fn step(&mut self, s: &Step) -> Result<(), String> {
        self.send(&s.msg)?;
        if s.reply {
            let r = self.recv()?;
            if r[1] == 1 {
                return Err(format!("step {} was refused: {}", hex(&s.msg), hex(&r)));
            }
        }
        Ok(())
    }

    fn error(&self, r: &[u8]) -> Result<ErrorReply, String> {
        if r.len() < 12 || r[1] != 1 {
            return Err(format!("expected OFPT_ERROR, got {}", hex(r)));
        }
        let u16_at = |i: usize| u16::from_be_bytes([r[i], r[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
        let (ty, code) = (u16_at(8), u16_at(10));
        let (triple, data) = if self.v == OF10 && ty == 0xb0c2 && code == 0 && r.len() >= 20 {
            ((u32_at(12), u16_at(16), u16_at(18)), &r[20..])
        } else if self.v != OF10 && ty == 0xffff && r.len() >= 16 {
            ((u32_at(12), code, 0), &r[16..])
        } else {
            ((0, ty, code), &r[12..])
        };
        Ok(ErrorReply {
            version: r[0],
            xid: u32_at(4),
            triple,
            data: data.to_vec(),
        })
    }

    /// Runs one case: the steps before, the message and an echo right
    /// behind it (so that a message accepted without an error shows up as
    /// the echo reply coming first), the error, the echo reply, and the
    /// steps after.
    fn check(&mut self, c: &Case, n: u32) -> Result<(), String> {
        for s in &c.before {
            self.step(s)?;
        }
        let echo_xid = c.xid ^ 0x4000_0000;
        let payload = n.to_be_bytes();
        self.send(&[c.msg.clone(), of(self.v.0, 2, echo_xid, &payload)].concat())?;
        for (xid, want, msg) in &c.first {
            let r = self.recv()?;
            let e = self.error(&r)?;
            let want_triple = expected(want, c.v);
            if e.xid != *xid || e.triple != want_triple || e.data != msg[..msg.len().min(64)] {
                return Err(format!(
                    "expected first {want} {want_triple:?} with xid {xid:#x} for {}, got {}",
                    hex(msg),
                    hex(&r)
                ));
            }
        }
        let r = self.recv()?;
        if r[1] == 3 && r[4..8] == echo_xid.to_be_bytes() {
            return Err("no error: the message was accepted".to_string());
        }
        let e = self.error(&r)?;
        let want = expected(c.want, c.v);
        let data = &c.msg[..c.msg.len().min(64)];
        if e.version != self.v.0 {
            return Err(format!("error in version {:#04x}: {}", e.version, hex(&r)));
        }
        if e.xid != c.xid {
            return Err(format!("error with xid {:#x}, want {:#x}", e.xid, c.xid));
        }
        if e.triple != want {
            return Err(format!(
                "got (vendor, type, code) {:?}, want {want:?} ({}); reply {}",
                e.triple,
                c.want,
                hex(&r)
            ));
        }
        if e.data != data {
            return Err(format!(
                "error data {} is not the first {} bytes of the message",
                hex(&e.data),
                data.len()
            ));
        }
        let r = self.recv().map_err(|e| format!("after the error: {e}"))?;
        if r[0] != self.v.0 || r[1] != 3 || r[4..8] != echo_xid.to_be_bytes() || r[8..] != payload {
            return Err(format!(
                "after the error: expected ECHO_REPLY xid {echo_xid:#x}, got {}",
                hex(&r)
            ));
        }
        for s in &c.after {
            self.step(s)?;
        }
        Ok(())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs `cases` of one version over one connection (a new one after a
/// failure, so that one failure does not hide the others). Returns the
/// failures.
fn run(sw: &Switch, v: V, cases: &[&Case]) -> Vec<String> {
    let mut conn = Conn::open(sw, v);
    let mut failures = Vec::new();
    let verbose = std::env::var_os("MALFORMED_VERBOSE").is_some();
    for (n, c) in (0u32..).zip(cases) {
        match conn.check(c, n) {
            Ok(()) if verbose => println!("pass: {}", c.name),
            Ok(()) => {}
            Err(e) => {
                failures.push(format!("{}: {e}", c.name));
                conn = Conn::open(sw, v);
            }
        }
    }
    failures
}

fn summary(cases: &[&Case]) -> String {
    let mut cats: Vec<(Cat, usize)> = Vec::new();
    for c in cases {
        match cats.iter_mut().find(|(k, _)| *k == c.cat) {
            Some((_, n)) => *n += 1,
            None => cats.push((c.cat, 1)),
        }
    }
    cats.sort();
    cats.iter()
        .map(|(k, n)| format!("{k:?} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_all(label: &str) -> usize {
    let sw = start();
    let mut failures = Vec::new();
    let mut total = 0;
    for v in VERSIONS {
        let all = cases(v);
        let picked: Vec<&Case> = all.iter().collect();
        let f = run(&sw, v, &picked);
        println!(
            "{}: {} {label} cases, {} passed, echo answered after each ({})",
            v.name(),
            picked.len(),
            picked.len() - f.len(),
            summary(&picked)
        );
        total += picked.len();
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} of {total} {label} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    total
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn malformed_messages_get_ovs_errors_and_the_connection_survives() {
    let total = run_all("malformed");
    assert!(total >= 100, "only {total} cases");
}

/// Framing-level garbage cannot be answered: the connection is dropped
/// without a reply, as Open vSwitch's vconn-stream.c does (EPROTO for a
/// length below 8; EOF inside a message).
#[test]
fn garbage_framing_closes_the_connection() {
    let sw = start();
    for v in VERSIONS {
        let mut n = 0;
        for len in 0u16..8 {
            let mut c = Conn::open(&sw, v);
            let m = B::new().u8(v.0).u8(2).u16(len).u32(9).zeros(8).0;
            c.send(&m).expect("send");
            expect_closed(&mut c.s, &format!("{} length {len}", v.name()));
            n += 1;
        }
        // A stream that ends inside a header, and one inside a body.
        for (what, bytes) in [
            ("header", vec![v.0, 2, 0]),
            ("body", of(v.0, 2, 9, &zeros(40))[..30].to_vec()),
        ] {
            let mut c = Conn::open(&sw, v);
            c.send(&bytes).expect("send");
            c.s.shutdown(std::net::Shutdown::Write).expect("shutdown");
            expect_closed(&mut c.s, &format!("{} end inside a {what}", v.name()));
            n += 1;
        }
        println!(
            "{}: {n} framing cases, each closed without a reply",
            v.name()
        );
    }
}

fn expect_closed(s: &mut UnixStream, what: &str) {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(k) => panic!("{what}: got {} instead of a close", hex(&buf[..k])),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: {e} instead of a close"),
    }
}

/// Every expected error that `ovs-ofctl ofp-print` can see is the one it
/// prints, for every case (pending and known bugs included).
#[test]
fn ofp_print_agrees_with_every_expected_error() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for v in VERSIONS {
        for c in cases(v) {
            if c.oracle != Oracle::OfpPrint {
                continue;
            }
            let out = Command::new("ovs-ofctl")
                .arg("ofp-print")
                .arg(hex(&c.msg))
                .output()
                .expect("ovs-ofctl must be installed (apt openvswitch-common)");
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            let got = text.split("decode error: ").nth(1).map(|rest| {
                rest.chars()
                    .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                    .collect::<String>()
            });
            if got.as_deref() != Some(c.want) {
                wrong.push(format!(
                    "{}: ovs-ofctl says {got:?}, table says {}",
                    c.name, c.want
                ));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    println!("ovs-ofctl ofp-print agrees on {checked} cases");
}

/// The spellings in [`ERRORS`] are what `ovs-ofctl print-error` says.
#[test]
fn error_spellings_match_ovs_print_error() {
    for (name, spellings) in ERRORS {
        let out = Command::new("ovs-ofctl")
            .args(["print-error", name])
            .output()
            .expect("ovs-ofctl must be installed (apt openvswitch-common)");
        let text = String::from_utf8_lossy(&out.stdout);
        for (i, label) in ["1.0", "1.3", "1.4", "1.5"].into_iter().enumerate() {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("OpenFlow {label}:")));
            let want = spellings[i].map(|(vendor, ty, code)| {
                let vendor = if vendor == 0 {
                    "0".to_string()
                } else {
                    format!("{vendor:#x}")
                };
                format!("OpenFlow {label}: vendor {vendor}, type {ty}, code {code}")
            });
            assert_eq!(line, want.as_deref(), "{name} in OpenFlow {label}");
        }
    }
}
