//! Packet-ins, switch to controller, in all four wire forms as one
//! [`PacketIn`]: OpenFlow 1.0 and 1.3+ OFPT_PACKET_IN, Nicira's
//! NXT_PACKET_IN (an NXM match) and NXT_PACKET_IN2 (properties, after Open
//! vSwitch's `ofputil_decode_packet_in` and
//! `ofputil_encode_packet_in_private` in `lib/ofp-packet.c`).
//!
//! Which form goes out is the connection's choice (NXT_SET_PACKET_IN_FORMAT),
//! not the version's, so a [`PacketIn`] carries its [`PacketInFormat`].
//! Encoding a form drops what it cannot carry, as Open vSwitch does: only
//! NXT_PACKET_IN2 has userdata, a continuation and a 32-bit full length;
//! OpenFlow 1.0's form has no table id, cookie or metadata besides
//! `in_port`.

use crate::ofp::codec::{Reader, Writer};
use crate::ofp::error::{BadMatch, BadProperty, BadRequest, OfpError};
use crate::ofp::field::{Encoding, Prereq};
use crate::ofp::flow_msg::match_err;
use crate::ofp::matching::{port_from_u16, port_to_u16, Match};
use crate::ofp::Version;

use super::prop::{parse_props, put_prop, unknown_experimenter};
use super::raw::RawMsg;
use super::switch::PacketInFormat;

/// NXPINT_* (`enum nx_packet_in2_prop_type`, nicira-ext.h).
pub mod nxpint {
    pub const PACKET: u16 = 0;
    pub const FULL_LEN: u16 = 1;
    pub const BUFFER_ID: u16 = 2;
    pub const TABLE_ID: u16 = 3;
    pub const COOKIE: u16 = 4;
    pub const REASON: u16 = 5;
    pub const METADATA: u16 = 6;
    pub const USERDATA: u16 = 7;
    pub const CONTINUATION: u16 = 8;
}

/// OFPT_PACKET_IN's buffer id for a packet the switch did not buffer.
pub const NO_BUFFER: u32 = u32::MAX;
/// The cookie of a packet-in that names no flow (OVS's `OVS_BE64_MAX`).
pub const NO_COOKIE: u64 = u64::MAX;

/// A packet sent to the controller, whatever its wire form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketIn {
    /// The wire form: the version's OFPT_PACKET_IN, NXT_PACKET_IN or
    /// NXT_PACKET_IN2.
    pub format: PacketInFormat,
    /// OFPR_* as sent: 0 no match (table miss), 1 action, 2 invalid TTL,
    /// 3-5 (OpenFlow 1.4+) action set, group, packet-out.
    pub reason: u8,
    /// The table of the flow that sent it (0 in OpenFlow 1.0's form).
    pub table_id: u8,
    /// The flow's cookie; [`NO_COOKIE`] when the form has none.
    pub cookie: u64,
    /// [`NO_BUFFER`] unless the switch buffered the packet.
    pub buffer_id: u32,
    /// The packet's pipeline fields (`in_port`, registers, `metadata`,
    /// tunnel and conntrack fields) as exact or masked match entries: only
    /// fields with no prerequisite, as Open vSwitch's `flow_get_metadata`
    /// fills it. OpenFlow 1.0's form carries `in_port` alone.
    pub metadata: Match,
    /// The frame, possibly cut short.
    pub data: Vec<u8>,
    /// Length of the whole frame (16 bits on the wire except in
    /// NXT_PACKET_IN2; larger values are written as 65535).
    pub total_len: u32,
    /// NXT_PACKET_IN2 only: the controller action's `userdata`.
    pub userdata: Vec<u8>,
    /// NXT_PACKET_IN2 only: the switch's private state for NXT_RESUME (the
    /// properties nested in NXPINT_CONTINUATION), opaque to controllers.
    pub continuation: Vec<u8>,
}

impl Default for PacketIn {
    fn default() -> PacketIn {
        PacketIn {
            format: PacketInFormat::Standard,
            reason: 0,
            table_id: 0,
            cookie: NO_COOKIE,
            buffer_id: NO_BUFFER,
            metadata: Match::new(),
            data: Vec::new(),
            total_len: 0,
            userdata: Vec::new(),
            continuation: Vec::new(),
        }
    }
}

fn bad_len() -> OfpError {
    OfpError::BadRequest(BadRequest::BadLen)
}

fn prop_len() -> OfpError {
    OfpError::BadProperty(BadProperty::BadLen)
}

/// Packet-in metadata holds pipeline fields only. A field with a
/// prerequisite (a packet header field) is refused: Open vSwitch never
/// sends one, and such fields are the ones whose encodings are not
/// one-to-one (`vlan_tci` against OXM's `vlan_vid`/`vlan_pcp`), so keeping
/// them out keeps decode and encode exact inverses.
fn check_metadata(m: &Match) -> Result<(), OfpError> {
    if m.entries().iter().any(|e| e.field.prereq() != Prereq::None) {
        return Err(OfpError::BadMatch(BadMatch::BadField));
    }
    Ok(())
}

fn u16_len(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

impl PacketIn {
    /// The wire variant this packet-in goes out as in `version`; an
    /// unknown format is OFPBRC_EPERM (what NXT_SET_PACKET_IN_FORMAT says
    /// of it).
    pub(crate) fn raw(&self, version: Version) -> Result<RawMsg, OfpError> {
        Ok(match self.format {
            PacketInFormat::Standard if version == Version::Of10 => RawMsg::Of10PacketIn,
            PacketInFormat::Standard => RawMsg::Of13PacketIn,
            PacketInFormat::Nxt => RawMsg::NxtPacketIn,
            PacketInFormat::Nxt2 => RawMsg::NxtPacketIn2,
            PacketInFormat::Unknown(_) => return Err(BadRequest::EPerm.into()),
        })
    }

    /// Decodes the body of `raw`, one of the four packet-in variants.
    pub(crate) fn decode(raw: RawMsg, r: &mut Reader<'_>) -> Result<PacketIn, OfpError> {
        let mut pi = PacketIn::default();
        match raw {
            RawMsg::Of10PacketIn => {
                pi.buffer_id = r.u32()?;
                pi.total_len = u32::from(r.u16()?);
                pi.metadata
                    .set_in_port(port_from_u16(r.u16()?))
                    .map_err(match_err)?;
                pi.reason = r.u8()?;
                r.skip(1)?;
            }
            RawMsg::Of13PacketIn | RawMsg::NxtPacketIn => {
                pi.buffer_id = r.u32()?;
                pi.total_len = u32::from(r.u16()?);
                pi.reason = r.u8()?;
                pi.table_id = r.u8()?;
                pi.cookie = r.u64()?;
                if raw == RawMsg::NxtPacketIn {
                    pi.format = PacketInFormat::Nxt;
                    let match_len = usize::from(r.u16()?);
                    r.skip(6)?;
                    pi.metadata = Match::pull_nxm(r, match_len, false).map_err(match_err)?.0;
                } else {
                    pi.metadata = Match::decode_oxm(r).map_err(match_err)?;
                }
                check_metadata(&pi.metadata)?;
                r.skip(2)?;
            }
            // NXT_RESUME's body is NXT_PACKET_IN2's (OVS decodes both with
            // `decode_nx_packet_in2`).
            RawMsg::NxtPacketIn2 | RawMsg::NxtResume => {
                pi.format = PacketInFormat::Nxt2;
                pi.total_len = 0;
                pi.decode_props(r)?;
                // As `decode_nx_packet_in2`: a packet is required, and a
                // full length (0: not given) may not be below it.
                let len = u32::try_from(pi.data.len()).map_err(|_| bad_len())?;
                if pi.data.is_empty() || (pi.total_len != 0 && pi.total_len < len) {
                    return Err(bad_len());
                }
                if pi.total_len == 0 {
                    pi.total_len = len;
                }
                return Ok(pi);
            }
            _ => return Err(BadRequest::BadType.into()),
        }
        pi.data = r.bytes(r.remaining())?.to_vec();
        Ok(pi)
    }

    /// NXT_PACKET_IN2's properties. Unknown ones are refused, as Open
    /// vSwitch refuses them when not decoding loosely (OFPBPC_BAD_TYPE, or
    /// for an experimenter property BAD_EXP_TYPE); a repeated one replaces
    /// the earlier, as there.
    fn decode_props(&mut self, r: &mut Reader<'_>) -> Result<(), OfpError> {
        for (ty, p) in parse_props(r)? {
            let u32_of = |p: &[u8]| -> Result<u32, OfpError> {
                let b: [u8; 4] = p.try_into().map_err(|_| prop_len())?;
                Ok(u32::from_be_bytes(b))
            };
            // 8-bit properties may be longer than a byte, as Open vSwitch
            // is forgiving there (`ofpprop_parse_u8`).
            let u8_of = |p: &[u8]| p.first().copied().ok_or_else(prop_len);
            match ty {
                nxpint::PACKET => self.data = p.to_vec(),
                nxpint::FULL_LEN => self.total_len = u32_of(p)?,
                nxpint::BUFFER_ID => self.buffer_id = u32_of(p)?,
                nxpint::TABLE_ID => self.table_id = u8_of(p)?,
                nxpint::COOKIE => {
                    // A 64-bit property is padded to start 8 bytes in.
                    let b: [u8; 12] = p.try_into().map_err(|_| prop_len())?;
                    let mut c = [0u8; 8];
                    c.copy_from_slice(&b[4..]);
                    self.cookie = u64::from_be_bytes(c);
                }
                nxpint::REASON => self.reason = u8_of(p)?,
                nxpint::METADATA => {
                    let m = Match::decode_entries(p).map_err(match_err)?;
                    check_metadata(&m)?;
                    self.metadata = m;
                }
                nxpint::USERDATA => self.userdata = p.to_vec(),
                nxpint::CONTINUATION => {
                    // Nested properties start 8 bytes into the property.
                    self.continuation = p.get(4..).ok_or_else(prop_len)?.to_vec();
                }
                0xffff => return Err(unknown_experimenter(p)),
                _ => return Err(BadProperty::BadType.into()),
            }
        }
        Ok(())
    }

    /// Writes the body of [`PacketIn::raw`]'s variant.
    pub(crate) fn encode(&self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        check_metadata(&self.metadata)?;
        match self.raw(version)? {
            RawMsg::Of10PacketIn => {
                // OVS writes in_port 0 when the metadata has none.
                let port = self.metadata.in_port().unwrap_or(0);
                let port = port_to_u16(port).ok_or(BadRequest::BadPort)?;
                w.u32(self.buffer_id)
                    .u16(u16_len(self.total_len))
                    .u16(port)
                    .u8(self.reason)
                    .u8(0)
                    .bytes(&self.data);
            }
            RawMsg::Of13PacketIn | RawMsg::NxtPacketIn => {
                w.u32(self.buffer_id)
                    .u16(u16_len(self.total_len))
                    .u8(self.reason)
                    .u8(self.table_id)
                    .u64(self.cookie);
                if self.format == PacketInFormat::Nxt {
                    let len_at = w.mark();
                    w.u16(0).zeros(6);
                    let n = self.metadata.encode_nxm(w).map_err(match_err)?;
                    w.zeros(n.next_multiple_of(8) - n);
                    w.patch_u16(len_at, 0, u16::try_from(n).map_err(|_| bad_len())?);
                } else {
                    self.metadata.encode_oxm(version, w).map_err(match_err)?;
                }
                w.zeros(2).bytes(&self.data);
            }
            _ => self.encode_props(version, w)?,
        }
        Ok(())
    }

    /// An NXT_RESUME's body: the properties of NXT_PACKET_IN2, whatever
    /// `format` says. Open vSwitch's `ofputil_encode_resume` writes no
    /// buffer id or userdata, but its decoder reads them, so they are
    /// written when set, for decode and encode to stay inverses.
    pub(crate) fn encode_resume(&self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        check_metadata(&self.metadata)?;
        self.encode_props(version, w)
    }

    /// NXT_PACKET_IN2's properties, in Open vSwitch's order
    /// (`ofputil_put_packet_in_private`, then userdata).
    fn encode_props(&self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        put_prop(w, nxpint::PACKET, &self.data);
        if usize::try_from(self.total_len).ok() != Some(self.data.len()) {
            put_prop(w, nxpint::FULL_LEN, &self.total_len.to_be_bytes());
        }
        // Open vSwitch never buffers, so never writes this; it reads it.
        if self.buffer_id != NO_BUFFER {
            put_prop(w, nxpint::BUFFER_ID, &self.buffer_id.to_be_bytes());
        }
        put_prop(w, nxpint::TABLE_ID, &[self.table_id]);
        if self.cookie != NO_COOKIE {
            let mut c = [0u8; 12];
            c[4..].copy_from_slice(&self.cookie.to_be_bytes());
            put_prop(w, nxpint::COOKIE, &c);
        }
        put_prop(w, nxpint::REASON, &[self.reason]);
        let mut m = Writer::new();
        self.metadata
            .encode_entries(Encoding::Oxm(version), &mut m)
            .map_err(match_err)?;
        put_prop(w, nxpint::METADATA, m.as_slice());
        if !self.continuation.is_empty() {
            let nested = [&[0u8; 4][..], &self.continuation].concat();
            put_prop(w, nxpint::CONTINUATION, &nested);
        }
        if !self.userdata.is_empty() {
            put_prop(w, nxpint::USERDATA, &self.userdata);
        }
        Ok(())
    }
}
