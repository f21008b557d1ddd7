//! Nicira switch-management extensions without a standard counterpart:
//! the TLV (Geneve option) table that gives `tun_metadataN` its meaning
//! (NXT_TLV_TABLE_MOD, NXT_TLV_TABLE_REQUEST/REPLY), and the conntrack
//! flushes (NXT_CT_FLUSH_ZONE, NXT_CT_FLUSH).
//!
//! Layouts and checks follow Open vSwitch 3.1 (`include/openflow/
//! nicira-ext.h`, `lib/ofp-match.c` for the TLV table, `lib/ofp-ct.c` for
//! NXT_CT_FLUSH): the decoders refuse exactly what OVS's refuse, with the
//! same errors, so that a controller sees the same answers.

use std::net::Ipv6Addr;

use crate::ofp::codec::{Reader, Writer};
use crate::ofp::error::{BadProperty, BadRequest, OfpError, TlvTableModFailed};

use super::prop::{parse_props, put_prop};

/// The most `tun_metadata` fields a switch maps (OVS's
/// TUN_METADATA_NUM_OPTS): tun_metadata0 to tun_metadata63.
pub const TLV_MAX_FIELDS: u16 = 64;
/// Bytes of option data all mappings share (OVS's
/// TUN_METADATA_TOT_OPT_SIZE).
pub const TLV_MAX_OPTION_SPACE: u32 = 256;
/// The longest one option may be (OVS's TLV_MAX_OPT_SIZE: Geneve's 5-bit
/// length in 4-byte words).
pub const TLV_MAX_OPT_LEN: u8 = 124;

/// One `struct nx_tlv_map`: option (class, type, length) <->
/// `tun_metadata<index>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlvMap {
    pub option_class: u16,
    pub option_type: u8,
    /// Bytes of option data (a multiple of 4, at most 124).
    pub option_len: u8,
    /// N of `tun_metadataN`.
    pub index: u16,
}

impl TlvMap {
    /// Reads one map. Its length must be a multiple of 4 no larger than
    /// 124 (NXTTMFC_BAD_OPT_LEN) and its index below `max_fields`
    /// (NXTTMFC_BAD_FIELD_IDX), checked in that order as OVS does.
    fn decode(r: &mut Reader<'_>, max_fields: u16) -> Result<TlvMap, OfpError> {
        let option_class = r.u16()?;
        let option_type = r.u8()?;
        let option_len = r.u8()?;
        let index = r.u16()?;
        r.skip(2)?;
        if option_len % 4 != 0 || option_len > TLV_MAX_OPT_LEN {
            return Err(TlvTableModFailed::BadOptLen.into());
        }
        if index >= max_fields {
            return Err(TlvTableModFailed::BadFieldIdx.into());
        }
        Ok(TlvMap {
            option_class,
            option_type,
            option_len,
            index,
        })
    }

    fn encode(&self, w: &mut Writer) {
        w.u16(self.option_class)
            .u8(self.option_type)
            .u8(self.option_len)
            .u16(self.index)
            .zeros(2);
    }
}

fn decode_maps(r: &mut Reader<'_>, max_fields: u16) -> Result<Vec<TlvMap>, OfpError> {
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(TlvMap::decode(r, max_fields)?);
    }
    Ok(v)
}

/// `enum nx_tlv_table_mod_command`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlvTableCommand {
    /// NXTTMC_ADD: new mappings (each index and each option at most once).
    Add,
    /// NXTTMC_DELETE: drop the mappings of these indexes (unmapped ones
    /// are ignored).
    Delete,
    /// NXTTMC_CLEAR: drop every mapping (the maps sent are ignored).
    Clear,
}

impl TlvTableCommand {
    fn wire(self) -> u16 {
        match self {
            TlvTableCommand::Add => 0,
            TlvTableCommand::Delete => 1,
            TlvTableCommand::Clear => 2,
        }
    }
}

/// NXT_TLV_TABLE_MOD.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlvTableMod {
    pub command: TlvTableCommand,
    pub mappings: Vec<TlvMap>,
}

impl TlvTableMod {
    /// A command above CLEAR is NXTTMFC_BAD_COMMAND; the maps are checked
    /// as [`TlvMap`] says, also for CLEAR (OVS decodes them all the same).
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<TlvTableMod, OfpError> {
        let command = match r.u16()? {
            0 => TlvTableCommand::Add,
            1 => TlvTableCommand::Delete,
            2 => TlvTableCommand::Clear,
            _ => return Err(TlvTableModFailed::BadCommand.into()),
        };
        r.skip(6)?;
        Ok(TlvTableMod {
            command,
            mappings: decode_maps(r, TLV_MAX_FIELDS)?,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u16(self.command.wire()).zeros(6);
        for m in &self.mappings {
            m.encode(w);
        }
    }
}

/// NXT_TLV_TABLE_REPLY: the switch's limits and its mappings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlvTableReply {
    pub max_option_space: u32,
    pub max_fields: u16,
    pub mappings: Vec<TlvMap>,
}

impl TlvTableReply {
    /// The maps' indexes must be below the reply's own `max_fields`.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<TlvTableReply, OfpError> {
        let max_option_space = r.u32()?;
        let max_fields = r.u16()?;
        r.skip(10)?;
        Ok(TlvTableReply {
            max_option_space,
            max_fields,
            mappings: decode_maps(r, max_fields)?,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u32(self.max_option_space).u16(self.max_fields).zeros(10);
        for m in &self.mappings {
            m.encode(w);
        }
    }
}

/// One direction of a connection for NXT_CT_FLUSH (`struct ofp_ct_tuple`):
/// zero fields are "any". Addresses are IPv6, IPv4 ones mapped
/// (`::ffff:a.b.c.d`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtTuple {
    pub src: Option<Ipv6Addr>,
    pub dst: Option<Ipv6Addr>,
    pub src_port: u16,
    pub dst_port: u16,
    pub icmp_id: u16,
    pub icmp_type: u8,
    pub icmp_code: u8,
}

// NXT_CT_FLUSH property types (`enum nx_ct_flush_tlv_type`).
const NXT_CT_ORIG_TUPLE: u16 = 0;
const NXT_CT_REPLY_TUPLE: u16 = 1;
const NXT_CT_ZONE_ID: u16 = 2;
const NXT_CT_MARK: u16 = 3;
const NXT_CT_MARK_MASK: u16 = 4;
const NXT_CT_LABELS: u16 = 5;
const NXT_CT_LABELS_MASK: u16 = 6;
// Nested tuple properties (`enum nx_ct_flush_tuple_tlv_type`).
const NXT_CT_TUPLE_SRC: u16 = 0;
const NXT_CT_TUPLE_DST: u16 = 1;
const NXT_CT_TUPLE_SRC_PORT: u16 = 2;
const NXT_CT_TUPLE_DST_PORT: u16 = 3;
const NXT_CT_TUPLE_ICMP_ID: u16 = 4;
const NXT_CT_TUPLE_ICMP_TYPE: u16 = 5;
const NXT_CT_TUPLE_ICMP_CODE: u16 = 6;
/// A property type from which on the header carries an experimenter id.
const PROP_EXPERIMENTER: u16 = 0xffff;

fn is_icmp(ip_proto: u8) -> bool {
    ip_proto == 1 || ip_proto == 58
}

/// The address family an address says: 4 for a mapped IPv4 address, 6
/// otherwise, none for `::`.
fn family(a: &Ipv6Addr) -> Option<u8> {
    if a.is_unspecified() {
        None
    } else if a.to_ipv4_mapped().is_some() {
        Some(4)
    } else {
        Some(6)
    }
}

/// NXT_CT_FLUSH: flush the conntrack entries of `zone` (all zones if
/// `None`) whose tuples match. Every part is optional; NXT_CT_FLUSH_ZONE
/// is the same with only a zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtFlush {
    pub zone: Option<u16>,
    /// 0: any protocol.
    pub ip_proto: u8,
    pub orig: CtTuple,
    pub reply: CtTuple,
    /// ct_mark value and mask (Open vSwitch 3.2's NXT_CT_MARK and
    /// NXT_CT_MARK_MASK; mask 0: any mark).
    pub mark: (u32, u32),
    /// ct_label value and mask (NXT_CT_LABELS, NXT_CT_LABELS_MASK).
    pub labels: (u128, u128),
}

/// The payload of a property or nested property, for a value of `n`
/// bytes: OVS takes any payload at least that long.
fn at_least(data: &[u8], n: usize) -> Result<&[u8], OfpError> {
    data.get(..n).ok_or(BadProperty::BadLen.into())
}

/// Properties as OVS's `ofpprop_pull` reads them: [`parse_props`], plus
/// its checks of experimenter property headers (12 bytes at least, a
/// nonzero experimenter id). Their content is not looked at: like any
/// unknown property, OVS skips them.
fn ct_props<'a>(r: &mut Reader<'a>) -> Result<Vec<(u16, &'a [u8])>, OfpError> {
    let props = parse_props(r)?;
    for (ty, data) in &props {
        if *ty == PROP_EXPERIMENTER {
            let id = at_least(data, 8)?;
            if id[..4] == [0, 0, 0, 0] {
                return Err(BadProperty::BadExperimenter.into());
            }
        }
    }
    Ok(props)
}

impl CtTuple {
    /// A nested tuple property's payload (4 bytes of padding, then
    /// properties). An address of the other family than one seen before
    /// in the message is OFPBPC_BAD_VALUE.
    fn decode_nested(
        data: &[u8],
        family_seen: &mut Option<u8>,
    ) -> Result<(CtTuple, [u16; 2]), OfpError> {
        let inner = data.get(4..).ok_or(BadProperty::BadLen)?;
        let mut t = CtTuple::default();
        // Open vSwitch keeps a tuple's ports and ICMP fields in two shared
        // 16-bit words (src_port = icmp_id; dst_port = icmp_code << 8 |
        // icmp_type): the last property written wins, and the protocol
        // says how to read them.
        let mut words = [0u16; 2];
        for (ty, p) in ct_props(&mut Reader::new(inner))? {
            let u16_of = |p: &[u8]| -> Result<u16, OfpError> {
                let b = at_least(p, 2)?;
                Ok(u16::from_be_bytes([b[0], b[1]]))
            };
            match ty {
                NXT_CT_TUPLE_SRC | NXT_CT_TUPLE_DST => {
                    let b: [u8; 16] = at_least(p, 16)?
                        .try_into()
                        .map_err(|_| BadProperty::BadLen)?;
                    let a = Ipv6Addr::from(b);
                    let f = family(&a);
                    if let (Some(seen), Some(f)) = (*family_seen, f) {
                        if seen != f {
                            return Err(BadProperty::BadValue.into());
                        }
                    }
                    // As OVS: the last address read sets the family, `::`
                    // included.
                    *family_seen = f;
                    let a = f.map(|_| a);
                    if ty == NXT_CT_TUPLE_SRC {
                        t.src = a;
                    } else {
                        t.dst = a;
                    }
                }
                NXT_CT_TUPLE_SRC_PORT | NXT_CT_TUPLE_ICMP_ID => words[0] = u16_of(p)?,
                NXT_CT_TUPLE_DST_PORT => words[1] = u16_of(p)?,
                NXT_CT_TUPLE_ICMP_TYPE => {
                    words[1] = (words[1] & 0xff00) | u16::from(at_least(p, 1)?[0])
                }
                NXT_CT_TUPLE_ICMP_CODE => {
                    words[1] = (words[1] & 0x00ff) | u16::from(at_least(p, 1)?[0]) << 8
                }
                _ => {}
            }
        }
        Ok((t, words))
    }

    /// The tuple with its two shared words read as `ip_proto` reads them:
    /// ICMP's id, type and code, or every other protocol's ports.
    fn with_words(self, words: [u16; 2], ip_proto: u8) -> CtTuple {
        if is_icmp(ip_proto) {
            CtTuple {
                icmp_id: words[0],
                icmp_type: (words[1] & 0xff) as u8,
                icmp_code: (words[1] >> 8) as u8,
                ..self
            }
        } else {
            CtTuple {
                src_port: words[0],
                dst_port: words[1],
                ..self
            }
        }
    }

    /// Writes the tuple as OVS's `ofp_ct_tuple_encode` does: addresses
    /// when set; for ICMP the id, type and code always, otherwise the ports
    /// when nonzero; nothing at all for an empty tuple.
    fn encode(&self, w: &mut Writer, ty: u16, ip_proto: u8) {
        let mut n = Writer::new();
        for (t, a) in [(NXT_CT_TUPLE_SRC, self.src), (NXT_CT_TUPLE_DST, self.dst)] {
            if let Some(a) = a.filter(|a| !a.is_unspecified()) {
                put_prop(&mut n, t, &a.octets());
            }
        }
        if is_icmp(ip_proto) {
            // 16-bit values go out in 8-byte properties, as OVS's
            // ofpprop_put_be16 pads them; 8-bit ones in 5-byte ones.
            put_prop(
                &mut n,
                NXT_CT_TUPLE_ICMP_ID,
                &[&self.icmp_id.to_be_bytes()[..], &[0, 0]].concat(),
            );
            put_prop(&mut n, NXT_CT_TUPLE_ICMP_TYPE, &[self.icmp_type]);
            put_prop(&mut n, NXT_CT_TUPLE_ICMP_CODE, &[self.icmp_code]);
        } else {
            for (t, p) in [
                (NXT_CT_TUPLE_SRC_PORT, self.src_port),
                (NXT_CT_TUPLE_DST_PORT, self.dst_port),
            ] {
                if p != 0 {
                    put_prop(&mut n, t, &[&p.to_be_bytes()[..], &[0, 0]].concat());
                }
            }
        }
        if !n.is_empty() {
            put_prop(w, ty, &[&[0u8; 4][..], n.as_slice()].concat());
        }
    }
}

impl CtFlush {
    /// NXT_CT_FLUSH_ZONE's body: six zero bytes (else NXBRC_MUST_BE_ZERO,
    /// as OVS's handler answers) and the zone.
    pub(crate) fn decode_zone(r: &mut Reader<'_>) -> Result<CtFlush, OfpError> {
        if r.bytes(6)?.iter().any(|b| *b != 0) {
            return Err(BadRequest::MustBeZero.into());
        }
        Ok(CtFlush {
            zone: Some(r.u16()?),
            ..CtFlush::default()
        })
    }

    pub(crate) fn encode_zone(&self, w: &mut Writer) {
        w.zeros(6).u16(self.zone.unwrap_or(0));
    }

    /// Whether NXT_CT_FLUSH_ZONE says all of this (a zone and nothing
    /// else).
    pub fn is_zone_only(&self) -> bool {
        self.zone.is_some()
            && self.ip_proto == 0
            && self.orig == CtTuple::default()
            && self.reply == CtTuple::default()
            && self.mark.1 == 0
            && self.labels.1 == 0
    }

    /// NXT_CT_FLUSH's body, checked as OVS's `ofp_ct_match_decode`: the
    /// padding must be zero (NXBRC_MUST_BE_ZERO), properties must be well
    /// formed (OFPBPC_BAD_LEN, BAD_EXPERIMENTER), tuple addresses of one
    /// family (OFPBPC_BAD_VALUE); unknown properties are skipped.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<CtFlush, OfpError> {
        let ip_proto = r.u8()?;
        if r.bytes(7)?.iter().any(|b| *b != 0) {
            return Err(BadRequest::MustBeZero.into());
        }
        let mut f = CtFlush {
            ip_proto,
            ..CtFlush::default()
        };
        let mut family_seen = None;
        let (mut mark, mut mark_mask, mut labels, mut labels_mask) = (None, None, None, None);
        for (ty, data) in ct_props(r)? {
            match ty {
                NXT_CT_ORIG_TUPLE => {
                    let (t, w) = CtTuple::decode_nested(data, &mut family_seen)?;
                    f.orig = t.with_words(w, ip_proto);
                }
                NXT_CT_REPLY_TUPLE => {
                    let (t, w) = CtTuple::decode_nested(data, &mut family_seen)?;
                    f.reply = t.with_words(w, ip_proto);
                }
                NXT_CT_ZONE_ID => {
                    let b = at_least(data, 2)?;
                    f.zone = Some(u16::from_be_bytes([b[0], b[1]]));
                }
                NXT_CT_MARK => mark = Some(be_u32(data)?),
                NXT_CT_MARK_MASK => mark_mask = Some(be_u32(data)?),
                NXT_CT_LABELS => labels = Some(be_u128(data)?),
                NXT_CT_LABELS_MASK => labels_mask = Some(be_u128(data)?),
                _ => {}
            }
        }
        // A value without a mask is exact; a zero mask says nothing, so
        // the value goes too (it could not be sent back).
        let mark_mask = mark_mask.unwrap_or(if mark.is_some() { u32::MAX } else { 0 });
        if mark_mask != 0 {
            f.mark = (mark.unwrap_or(0), mark_mask);
        }
        let labels_mask = labels_mask.unwrap_or(if labels.is_some() { u128::MAX } else { 0 });
        if labels_mask != 0 {
            f.labels = (labels.unwrap_or(0), labels_mask);
        }
        Ok(f)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u8(self.ip_proto).zeros(7);
        self.orig.encode(w, NXT_CT_ORIG_TUPLE, self.ip_proto);
        self.reply.encode(w, NXT_CT_REPLY_TUPLE, self.ip_proto);
        if let Some(z) = self.zone {
            put_prop(w, NXT_CT_ZONE_ID, &[&z.to_be_bytes()[..], &[0, 0]].concat());
        }
        // As Open vSwitch's ofp_ct_match_encode: the value when the mask
        // says anything, the mask when it is not all-ones.
        let (m, mm) = self.mark;
        if mm != 0 {
            put_prop(w, NXT_CT_MARK, &m.to_be_bytes());
            if mm != u32::MAX {
                put_prop(w, NXT_CT_MARK_MASK, &mm.to_be_bytes());
            }
        }
        let (l, lm) = self.labels;
        if lm != 0 {
            put_prop(w, NXT_CT_LABELS, &l.to_be_bytes());
            if lm != u128::MAX {
                put_prop(w, NXT_CT_LABELS_MASK, &lm.to_be_bytes());
            }
        }
    }
}

fn be_u32(data: &[u8]) -> Result<u32, OfpError> {
    let b = at_least(data, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be_u128(data: &[u8]) -> Result<u128, OfpError> {
    let b: [u8; 16] = at_least(data, 16)?
        .try_into()
        .map_err(|_| BadProperty::BadLen)?;
    Ok(u128::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(b: &[u8]) -> Reader<'_> {
        Reader::new(b)
    }

    #[test]
    fn tlv_table_mod_round_trips_and_checks_like_ovs() {
        let m = TlvTableMod {
            command: TlvTableCommand::Add,
            mappings: vec![
                TlvMap {
                    option_class: 0xffff,
                    option_type: 0,
                    option_len: 4,
                    index: 0,
                },
                TlvMap {
                    option_class: 0x0102,
                    option_type: 0x80,
                    option_len: 124,
                    index: 63,
                },
            ],
        };
        let mut w = Writer::new();
        m.encode(&mut w);
        assert_eq!(
            &w.as_slice()[..16],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 4, 0, 0, 0, 0]
        );
        assert_eq!(TlvTableMod::decode(&mut rd(w.as_slice())), Ok(m));
        let bad = |b: &[u8]| TlvTableMod::decode(&mut rd(b));
        assert_eq!(
            bad(&[0, 3, 0, 0, 0, 0, 0, 0]),
            Err(TlvTableModFailed::BadCommand.into())
        );
        let with_map =
            |len: u8, idx: u8| bad(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, len, 0, idx, 0, 0]);
        assert_eq!(with_map(5, 0), Err(TlvTableModFailed::BadOptLen.into()));
        assert_eq!(with_map(128, 0), Err(TlvTableModFailed::BadOptLen.into()));
        assert_eq!(with_map(4, 64), Err(TlvTableModFailed::BadFieldIdx.into()));
        // Length first, as OVS checks it.
        assert_eq!(with_map(6, 64), Err(TlvTableModFailed::BadOptLen.into()));
        assert!(with_map(0, 63).is_ok(), "a 0-byte option is allowed");
    }

    #[test]
    fn tlv_table_reply_checks_its_own_max_fields() {
        let r = TlvTableReply {
            max_option_space: 256,
            max_fields: 2,
            mappings: vec![TlvMap {
                option_class: 1,
                option_type: 2,
                option_len: 8,
                index: 1,
            }],
        };
        let mut w = Writer::new();
        r.encode(&mut w);
        assert_eq!(w.len(), 24);
        assert_eq!(TlvTableReply::decode(&mut rd(w.as_slice())), Ok(r));
        let mut b = w.into_vec();
        b[21] = 2;
        assert_eq!(
            TlvTableReply::decode(&mut rd(&b)),
            Err(TlvTableModFailed::BadFieldIdx.into())
        );
    }

    #[test]
    fn ct_flush_zone_needs_zero_padding() {
        let f = CtFlush::decode_zone(&mut rd(&[0, 0, 0, 0, 0, 0, 0, 5]));
        assert_eq!(
            f,
            Ok(CtFlush {
                zone: Some(5),
                ..CtFlush::default()
            })
        );
        assert_eq!(
            CtFlush::decode_zone(&mut rd(&[0, 0, 0, 1, 0, 0, 0, 5])),
            Err(BadRequest::MustBeZero.into())
        );
    }

    #[test]
    fn ct_flush_round_trips_as_ovs_encodes_it() {
        let v4 = |a: [u8; 4]| Some(std::net::Ipv4Addr::from(a).to_ipv6_mapped());
        let f = CtFlush {
            zone: Some(7),
            ip_proto: 6,
            orig: CtTuple {
                src: v4([10, 0, 0, 1]),
                dst: v4([10, 0, 0, 2]),
                src_port: 1,
                dst_port: 2,
                ..CtTuple::default()
            },
            reply: CtTuple::default(),
            ..CtFlush::default()
        };
        let mut w = Writer::new();
        f.encode(&mut w);
        // Header, orig (8 + 2 * 24 + 2 * 8), zone (8); the empty reply
        // tuple is left out.
        assert_eq!(w.len(), 8 + 72 + 8);
        assert_eq!(CtFlush::decode(&mut rd(w.as_slice())), Ok(f.clone()));

        // Open vSwitch 3.2's mark and labels: an exact mark is its value
        // alone (8), a masked label value and mask (24 each).
        let marked = CtFlush {
            mark: (5, u32::MAX),
            labels: (1 << 64 | 7, u128::MAX >> 1),
            ..f
        };
        let mut w = Writer::new();
        marked.encode(&mut w);
        assert_eq!(w.len(), 8 + 72 + 8 + 8 + 24 + 24);
        assert_eq!(CtFlush::decode(&mut rd(w.as_slice())), Ok(marked));
        // A zero mask says nothing: its value is dropped.
        let mut w = Writer::new();
        w.zeros(8);
        put_prop(&mut w, NXT_CT_MARK, &9u32.to_be_bytes());
        put_prop(&mut w, NXT_CT_MARK_MASK, &[0; 4]);
        assert_eq!(
            CtFlush::decode(&mut rd(w.as_slice())),
            Ok(CtFlush::default())
        );

        let icmp = CtFlush {
            zone: None,
            ip_proto: 1,
            orig: CtTuple {
                src: v4([10, 0, 0, 1]),
                icmp_id: 5,
                ..CtTuple::default()
            },
            reply: CtTuple {
                dst: v4([10, 0, 0, 1]),
                ..CtTuple::default()
            },
            ..CtFlush::default()
        };
        let mut w = Writer::new();
        icmp.encode(&mut w);
        assert_eq!(CtFlush::decode(&mut rd(w.as_slice())), Ok(icmp));
    }

    #[test]
    fn ct_flush_reads_ports_and_icmp_fields_as_one_as_ovs_does() {
        // ip_proto 32 with an ICMP code in the reply tuple (found by the
        // mutation proptest): as in Open vSwitch's union, the code is the
        // high byte of the destination port.
        let mut n = Writer::new();
        put_prop(&mut n, NXT_CT_TUPLE_SRC_PORT, &[0, 9, 0, 0]);
        put_prop(&mut n, NXT_CT_TUPLE_ICMP_CODE, &[1]);
        let mut w = Writer::new();
        w.u8(32).zeros(7);
        put_prop(
            &mut w,
            NXT_CT_REPLY_TUPLE,
            &[&[0u8; 4][..], n.as_slice()].concat(),
        );
        let f = CtFlush::decode(&mut rd(w.as_slice()));
        let want = CtTuple {
            src_port: 9,
            dst_port: 0x100,
            ..CtTuple::default()
        };
        assert_eq!(f.as_ref().map(|f| f.reply), Ok(want));
        let Ok(f) = f else { return };
        let mut again = Writer::new();
        f.encode(&mut again);
        assert_eq!(CtFlush::decode(&mut rd(again.as_slice())), Ok(f));
    }

    #[test]
    fn ct_flush_refuses_what_ovs_refuses() {
        let dec = |b: &[u8]| CtFlush::decode(&mut rd(b));
        assert_eq!(
            dec(&[6, 0, 0, 0, 0, 0, 0, 1]),
            Err(BadRequest::MustBeZero.into())
        );
        // A zone property too short for its value.
        assert_eq!(
            dec(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 5, 7, 0, 0, 0]),
            Err(BadProperty::BadLen.into())
        );
        // A property running past the end.
        assert_eq!(
            dec(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 16, 0, 7, 0, 0]),
            Err(BadProperty::BadLen.into())
        );
        // Experimenter 0.
        assert_eq!(
            dec(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
            Err(BadProperty::BadExperimenter.into())
        );
        // Unknown properties are skipped.
        assert_eq!(
            dec(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 8, 1, 2, 3, 4]),
            Ok(CtFlush::default())
        );
        // An IPv4 source and an IPv6 destination.
        let mut w = Writer::new();
        w.zeros(8);
        let mut n = Writer::new();
        put_prop(
            &mut n,
            NXT_CT_TUPLE_SRC,
            &std::net::Ipv4Addr::new(1, 2, 3, 4)
                .to_ipv6_mapped()
                .octets(),
        );
        put_prop(&mut n, NXT_CT_TUPLE_DST, &Ipv6Addr::LOCALHOST.octets());
        put_prop(
            &mut w,
            NXT_CT_ORIG_TUPLE,
            &[&[0u8; 4][..], n.as_slice()].concat(),
        );
        assert_eq!(dec(w.as_slice()), Err(BadProperty::BadValue.into()));
    }
}
