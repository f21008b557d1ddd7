//! The OpenFlow message codec and one connection's session on arbitrary
//! bytes.
//!
//! - `decode` must not panic, whatever the bytes.
//! - A message that decodes must encode again in its version without
//!   panicking; where the message kind round-trips (see [`round_trips`]), the
//!   encoding must decode to the same semantic message and xid. Bytes need
//!   not match: decoding drops padding and bits a version ignores.
//! - A message the message layer leaves raw (FLOW_MOD, PACKET_OUT, flow
//!   stats, GROUP_MOD, METER_MOD, ...) goes through the flow and group
//!   message decoders, and the bytes as a whole through the action and
//!   instruction decoders of every version: none may panic.
//! - The same bytes, framed by their length fields, are fed to an
//!   `OfSession` after a synthetic hello in the version of the first byte:
//!   it must not panic, and everything it sends must be a whole message
//!   (length field = length) in the negotiated version.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use oxvs_ofproto::ofconn::{OfSession, SwitchView};
use oxvs_ofproto::ofp::error::OfpError;
use oxvs_ofproto::ofp::flow_msg::{
    self, AggregateStats, FlowMod, FlowStats, FlowStatsRequest, PacketOut,
};
use oxvs_ofproto::ofp::message::{
    decode, encode, Message, MpReply, Port, PortConfig, PortFeatures, PortNo, PortState, PortStats,
    TableStats,
};
use oxvs_ofproto::ofp::Version;
use oxvs_ofproto::ofp::{action, group_msg, instruction};
use oxvs_ofproto::server::{Framer, Output, Session};

/// A switch with two ports that accepts every flow mod and packet-out.
struct View;

impl SwitchView for View {
    fn datapath_id(&self) -> u64 {
        1
    }
    fn ports(&self) -> Vec<Port> {
        [1u32, 0xffff_fffe]
            .into_iter()
            .map(|n| Port {
                port_no: PortNo(n),
                hw_addr: [2, 0, 0, 0, 0, n as u8],
                name: format!("p{n}"),
                config: PortConfig(0),
                state: PortState(PortState::LIVE),
                curr: PortFeatures(0),
                advertised: PortFeatures(0),
                supported: PortFeatures(0),
                peer: PortFeatures(0),
                curr_speed: 0,
                max_speed: 0,
                props: Vec::new(),
            })
            .collect()
    }
    fn port_stats(&self, p: PortNo) -> Vec<PortStats> {
        if p == PortNo::ANY || p == PortNo(1) {
            vec![PortStats {
                port_no: PortNo(1),
                ..PortStats::default()
            }]
        } else {
            Vec::new()
        }
    }
    fn table_stats(&self) -> Vec<TableStats> {
        vec![TableStats {
            table_id: 0,
            name: "table0".into(),
            wildcards: 0,
            max_entries: 1,
            active_count: 0,
            lookup_count: 0,
            matched_count: 0,
        }]
    }
    fn sync(&self) {}
    fn flow_mod(&self, _: &FlowMod) -> Result<(), OfpError> {
        Ok(())
    }
    fn flow_stats(&self, _: &FlowStatsRequest) -> Result<Vec<FlowStats>, OfpError> {
        Ok(Vec::new())
    }
    fn aggregate(&self, _: &FlowStatsRequest) -> Result<AggregateStats, OfpError> {
        Ok(AggregateStats::default())
    }
    fn packet_out(&self, _: &PacketOut) -> Result<(), OfpError> {
        Ok(())
    }
}

/// Message kinds whose decode(encode(m)) == m was checked (by reading the
/// codec and by running this target). Left out: anything carrying a port,
/// table or switch description (FEATURES_REPLY with OpenFlow 1.0 ports,
/// PORT_STATUS, PORT_DESC, TABLE_STATS and DESC replies), because names are
/// fixed-size NUL-padded byte fields that decode lossily into `String` (a
/// name with invalid UTF-8 or bytes after a NUL comes back different; the
/// fuzzer finds such names within seconds).
fn round_trips(m: &Message) -> bool {
    match m {
        Message::MultipartReply(r) => matches!(
            r.body,
            MpReply::PortStats(_)
                | MpReply::QueueStats(_)
                | MpReply::GroupFeatures(_)
                | MpReply::MeterFeatures(_)
        ),
        Message::FeaturesReply(_) | Message::PortStatus(_) => false,
        _ => matches!(
            m,
            Message::Hello(_)
                | Message::Error(_)
                | Message::EchoRequest(_)
                | Message::EchoReply(_)
                | Message::Experimenter(_)
                | Message::FeaturesRequest
                | Message::GetConfigRequest
                | Message::GetConfigReply(_)
                | Message::SetConfig(_)
                | Message::PortMod(_)
                | Message::BarrierRequest
                | Message::BarrierReply
                | Message::RoleRequest(_)
                | Message::RoleReply(_)
                | Message::GetAsyncRequest
                | Message::GetAsyncReply(_)
                | Message::SetAsync(_)
                | Message::SetFlowFormat(_)
                | Message::SetPacketInFormat(_)
                | Message::FlowModTableId(_)
                | Message::MultipartRequest(_)
                | Message::RoleStatus(_)
                | Message::TlvTableMod(_)
                | Message::TlvTableRequest
                | Message::TlvTableReply(_)
                | Message::CtFlushZone(_)
                | Message::CtFlush(_)
                | Message::Unparsed(_)
        ),
    }
}

fn codec(data: &[u8]) {
    // Action and instruction lists on their own, in every version.
    for v in Version::ALL {
        let _ = action::decode(v, data);
        let _ = instruction::decode(v, data);
    }
    let Ok((header, msg)) = decode(data) else {
        return;
    };
    // HELLO decodes in any version; only supported ones encode.
    let Some(version) = Version::from_wire(header.version) else {
        return;
    };
    if let Message::Unparsed(u) = &msg {
        for tid in [false, true] {
            let _ = flow_msg::decode(version, u, tid);
        }
        let _ = group_msg::decode(version, u);
    }
    let Ok(bytes) = encode(&msg, version, header.xid) else {
        return;
    };
    assert_eq!(
        usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        bytes.len(),
        "length field of the re-encoding"
    );
    if !round_trips(&msg) {
        return;
    }
    match decode(&bytes) {
        Ok((h, again)) => {
            assert_eq!(h.xid, header.xid, "xid");
            assert_eq!(h.version, header.version, "version");
            assert_eq!(again, msg, "decode(encode(m)) != m for {}", hex(data));
        }
        Err(e) => panic!(
            "re-encoding of {msg:?} does not decode ({e}): {} from {}",
            hex(&bytes),
            hex(data)
        ),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Everything a session sends is a whole message in `version` (HELLO and
/// the hello-failure error may use another version).
fn check_output(out: &Output, version: Option<Version>) {
    for m in &out.send {
        assert!(m.len() >= 8, "short message {}", hex(m));
        assert_eq!(
            usize::from(u16::from_be_bytes([m[2], m[3]])),
            m.len(),
            "length field of {}",
            hex(m)
        );
        if let Some(v) = version {
            if m[1] != 0 {
                assert_eq!(m[0], v.wire(), "version of {}", hex(m));
            }
        }
    }
}

fn session(data: &[u8]) {
    // Negotiate the version of the first message (or one picked by its
    // first byte), so that a single well-formed message is a useful input
    // for both halves of this target.
    let Some(&first) = data.first() else {
        return;
    };
    let version = Version::from_wire(first).unwrap_or(Version::ALL[usize::from(first % 4)]);
    let mut s = OfSession::new(Arc::new(View), Version::ALL.to_vec(), Some(5_000));
    check_output(&s.open(0), None);
    let hello = [version.wire(), 0, 0, 8, 0, 0, 0, 1];
    let out = s.message(&hello, 0);
    assert!(!out.close, "hello in {version:?} refused");
    assert_eq!(s.version(), Some(version));
    let mut framer = Framer::default();
    framer.push(data);
    let mut now = 0;
    while let Ok(Some(m)) = framer.next_message() {
        now += 1_000;
        let out = s.message(&m, now);
        check_output(&out, Some(version));
        check_output(&s.tick(now + 500), Some(version));
        if out.close {
            break;
        }
    }
    s.closed();
}

fuzz_target!(|data: &[u8]| {
    codec(data);
    session(data);
});
