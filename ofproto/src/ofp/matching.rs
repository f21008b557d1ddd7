//! `Match`: what a flow matches on, as one version-free set of fields, with
//! its three wire encodings (OXM, NXM, OpenFlow 1.0 `ofp_match`) and the
//! `ovs-ofctl` text syntax.
//!
//! A [`Match`] holds each field at most once, in one canonical form, so that
//! two matches meaning the same thing compare equal whatever they were
//! decoded from:
//!
//! - `vlan_vid`/`vlan_pcp` (OXM) are stored as `vlan_tci` (NXM), as OVS does:
//!   OFPVID_PRESENT is the TCI's CFI bit, so the 13-bit OXM value is the
//!   low 13 bits of the TCI.
//! - `nw_tos` (NXM, the DSCP bits of the TOS byte) is stored as `ip_dscp`.
//! - `xregN`/`xxregN` are stored as the 32-bit `regN` they overlay.
//! - `in_port` is an OpenFlow 1.1+ 32-bit port; NXM and OpenFlow 1.0 carry
//!   16 bits, with 0xff00.. standing for 0xffffff00...
//! - Masks: `None` means exact; an all-zero mask removes the field; value
//!   bits outside the mask are cleared. `ct_state`, `tun_flags` and
//!   `ip_frag` keep only the mask bits OVS keeps (8, 1 and 2), which is why
//!   an exact `ct_state` is written with mask 0xff; a `tcp_flags` mask
//!   covering its 12 bits, or `ip_frag`'s 2, is exact.
//!
//! Decoders follow OVS's `nx_pull_raw` (strict mode): entries are checked in
//! wire order, so a prerequisite must come before the field that needs it.
//! Encoders write fields in the order OVS's `nx_put_raw` does, so our bytes
//! equal `ovs-ofctl`'s.

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::OnceLock;

use super::codec::{Reader, Writer};
use super::field::{port_is_valid, Encoding, Field, HeaderError, Prereq, TlvHeader, Value};
use super::Version;

/// The OpenFlow 1.2+ `OFPET_BAD_MATCH` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BadMatchCode {
    BadType = 0,
    BadLen = 1,
    BadTag = 2,
    BadDlAddrMask = 3,
    BadNwAddrMask = 4,
    BadWildcards = 5,
    BadField = 6,
    BadValue = 7,
    BadMask = 8,
    BadPrereq = 9,
    DupField = 10,
    Eperm = 11,
}

impl BadMatchCode {
    /// The code within `OFPET_BAD_MATCH` (type 4 in OpenFlow 1.1+).
    pub fn code(self) -> u16 {
        self as u16
    }

    /// OVS's name for it, as `ovs-ofctl` prints it.
    pub fn name(self) -> &'static str {
        match self {
            BadMatchCode::BadType => "OFPBMC_BAD_TYPE",
            BadMatchCode::BadLen => "OFPBMC_BAD_LEN",
            BadMatchCode::BadTag => "OFPBMC_BAD_TAG",
            BadMatchCode::BadDlAddrMask => "OFPBMC_BAD_DL_ADDR_MASK",
            BadMatchCode::BadNwAddrMask => "OFPBMC_BAD_NW_ADDR_MASK",
            BadMatchCode::BadWildcards => "OFPBMC_BAD_WILDCARDS",
            BadMatchCode::BadField => "OFPBMC_BAD_FIELD",
            BadMatchCode::BadValue => "OFPBMC_BAD_VALUE",
            BadMatchCode::BadMask => "OFPBMC_BAD_MASK",
            BadMatchCode::BadPrereq => "OFPBMC_BAD_PREREQ",
            BadMatchCode::DupField => "OFPBMC_DUP_FIELD",
            BadMatchCode::Eperm => "OFPBMC_EPERM",
        }
    }
}

/// Why a match could not be decoded, built, encoded or parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatchError {
    /// `ofp_match.type` is not OFPMT_OXM.
    #[error("unsupported match type {0}")]
    BadType(u16),
    /// A length that does not fit: truncated entries, a match length past
    /// the message, a value of the wrong width for its field.
    #[error("bad match length: {0}")]
    BadLen(&'static str),
    /// A field oxvs does not know (or, in NXM, a cookie where none may be).
    #[error("unknown match field {0}")]
    BadField(TlvHeader),
    /// Value bits set where the mask is 0.
    #[error("value has bits outside its mask ({0:?})")]
    BadWildcards(Option<Field>),
    /// A value the field cannot take.
    #[error("{0}: bad value")]
    BadValue(Field),
    /// A mask on a field that cannot be masked (or a mask of the wrong width).
    #[error("{0}: field cannot be masked this way")]
    BadMask(Field),
    /// The field needs another (e.g. `tcp_dst` needs `ip_proto=6`).
    #[error("{0}: prerequisites not met")]
    BadPrereq(Field),
    /// The field (or one overlapping it) appears twice.
    #[error("{0}: duplicate field")]
    DupField(Field),
    /// The NXM cookie pseudo-field appears twice.
    #[error("duplicate NXM cookie")]
    DupCookie,
    /// OXM was asked for in a version without it (OpenFlow 1.0).
    #[error("{0:?} has no OXM matches")]
    NoOxm(Version),
    /// The match cannot be written in the requested encoding.
    #[error("{field} cannot be expressed in {encoding}")]
    Unrepresentable {
        field: Field,
        encoding: &'static str,
    },
    /// Bad `ovs-ofctl` syntax.
    #[error("{0}")]
    Syntax(String),
}

impl MatchError {
    /// The OpenFlow error this decode error answers with; `None` for errors
    /// that never come from the wire (encoding and syntax errors).
    pub fn code(&self) -> Option<BadMatchCode> {
        Some(match self {
            MatchError::BadType(_) => BadMatchCode::BadType,
            MatchError::BadLen(_) => BadMatchCode::BadLen,
            MatchError::BadField(_) => BadMatchCode::BadField,
            MatchError::BadWildcards(_) => BadMatchCode::BadWildcards,
            MatchError::BadValue(_) => BadMatchCode::BadValue,
            MatchError::BadMask(_) => BadMatchCode::BadMask,
            MatchError::BadPrereq(_) => BadMatchCode::BadPrereq,
            MatchError::DupField(_) | MatchError::DupCookie => BadMatchCode::DupField,
            MatchError::Unrepresentable { .. } | MatchError::NoOxm(_) | MatchError::Syntax(_) => {
                return None
            }
        })
    }
}

fn syntax(msg: impl Into<String>) -> MatchError {
    MatchError::Syntax(msg.into())
}

/// One matched field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub field: Field,
    /// Big-endian, as wide as the field; bits outside the mask are 0.
    pub value: Value,
    /// `None`: exact match. Never all-zero.
    pub mask: Option<Value>,
}

impl Entry {
    /// The mask, with exact spelled out as all-ones.
    pub fn mask_or_ones(&self) -> Value {
        self.mask
            .clone()
            .unwrap_or_else(|| Value::ones(self.value.len()))
    }

    fn value_u128(&self) -> u128 {
        self.value.to_u128().unwrap_or(0)
    }

    fn mask_u128(&self) -> u128 {
        self.mask_or_ones().to_u128().unwrap_or(0)
    }
}

/// The NXM cookie pseudo-field allowed in NXT_FLOW_MOD and NXST_FLOW
/// requests: match flows whose cookie, masked, equals `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NxmCookie {
    pub value: u64,
    pub mask: u64,
}

/// A flow match: each field at most once, sorted by [`Field`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Match {
    entries: Vec<Entry>,
}

// ct_state bits (OVS's CS_*).
pub const CS_NEW: u32 = 0x01;
pub const CS_ESTABLISHED: u32 = 0x02;
pub const CS_RELATED: u32 = 0x04;
pub const CS_REPLY_DIR: u32 = 0x08;
pub const CS_INVALID: u32 = 0x10;
pub const CS_TRACKED: u32 = 0x20;
pub const CS_SRC_NAT: u32 = 0x40;
pub const CS_DST_NAT: u32 = 0x80;

/// `vlan_tci` CFI bit, which OXM calls OFPVID_PRESENT.
pub const VLAN_CFI: u16 = 0x1000;

/// One piece of a field after conversion to canonical form: it sets `mask`
/// bits of `field`, and owns `footprint` bits of it for duplicate checks
/// (OVS's `mf_is_all_wild`), which may be wider than `mask`.
struct Part {
    field: Field,
    value: u128,
    mask: u128,
    footprint: u128,
}

fn ones(bytes: usize) -> u128 {
    if bytes >= 16 {
        u128::MAX
    } else {
        (1u128 << (bytes * 8)) - 1
    }
}

/// OpenFlow 1.0/NXM 16-bit port to the 32-bit space.
pub fn port_from_u16(p: u16) -> u32 {
    if p >= 0xff00 {
        0xffff_0000 | u32::from(p)
    } else {
        u32::from(p)
    }
}

/// 32-bit port to 16 bits, if it has a 16-bit form.
pub fn port_to_u16(p: u32) -> Option<u16> {
    if p < 0xff00 {
        Some(p as u16)
    } else if p >= 0xffff_ff00 {
        Some((p & 0xffff) as u16)
    } else {
        None
    }
}

impl Match {
    /// The match-everything match.
    pub fn new() -> Match {
        Match::default()
    }

    pub fn is_catchall(&self) -> bool {
        self.entries.is_empty()
    }

    /// The matched fields, sorted by [`Field`].
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, field: Field) -> Option<&Entry> {
        self.find(field).ok().and_then(|i| self.entries.get(i))
    }

    fn find(&self, field: Field) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.field.cmp(&field))
    }

    /// Removes a field (as stored: pass the canonical field, e.g. `VlanTci`).
    pub fn remove(&mut self, field: Field) {
        if let Ok(i) = self.find(field) {
            self.entries.remove(i);
        }
    }

    /// Adds `field` matching `value` under `mask` (`None`: exact), checking
    /// it as a decoder does: width, value and mask validity, value bits
    /// outside the mask, and overlap with what is already there. Does not
    /// check prerequisites; see [`Match::check_prereqs`].
    ///
    /// `value` (and `mask`) must be as wide as the field, or for
    /// `tun_metadata` 1..=124 bytes; `in_port` is the 32-bit form.
    pub fn insert(
        &mut self,
        field: Field,
        value: Value,
        mask: Option<Value>,
    ) -> Result<(), MatchError> {
        self.check_entry(field, &value, mask.as_ref())?;
        self.insert_unchecked_dup(field, value, mask, true)
    }

    /// Like [`Match::insert`], but replaces whatever the field overlaps
    /// instead of failing with `DupField`.
    pub fn set(
        &mut self,
        field: Field,
        value: Value,
        mask: Option<Value>,
    ) -> Result<(), MatchError> {
        self.check_entry(field, &value, mask.as_ref())?;
        self.insert_unchecked_dup(field, value, mask, false)
    }

    /// Sets an integer field (up to 16 bytes wide) from integers.
    pub fn set_int(
        &mut self,
        field: Field,
        value: u128,
        mask: Option<u128>,
    ) -> Result<(), MatchError> {
        let n = field.bytes();
        if n > 16 || (value & !ones(n)) != 0 || mask.is_some_and(|m| m & !ones(n) != 0) {
            return Err(MatchError::BadValue(field));
        }
        let mask = mask.map(|m| Value::from_u128(m, n));
        self.set(
            field,
            Value::from_u128(
                value & mask.as_ref().and_then(Value::to_u128).unwrap_or(u128::MAX),
                n,
            ),
            mask,
        )
    }

    /// An integer field's value and mask (all-ones when exact).
    pub fn get_int(&self, field: Field) -> Option<(u128, u128)> {
        let e = self.get(field)?;
        Some((e.value.to_u128()?, e.mask_or_ones().to_u128()?))
    }

    /// Replaces variable-length `field` (a `tun_metadataN`) with `value`
    /// under `mask` as the flow tables keep it: fitted to the width of the
    /// option it is mapped to, which may be 0 (a match on the option being
    /// there). The caller fits both to one width; value bits outside the
    /// mask are cleared, an all-ones mask is exact.
    pub fn put_fitted(&mut self, field: Field, value: Value, mask: Option<Value>) {
        if !field.info().variable {
            return;
        }
        // A 0-byte option can only be matched for being there, which is
        // what a zero mask says.
        let mask = match mask {
            _ if value.is_empty() => Some(value.clone()),
            Some(m) if m.len() == value.len() && !m.is_all_ones() => Some(m),
            _ => None,
        };
        let value = match &mask {
            Some(m) => value.and(m),
            None => value,
        };
        match self.find(field) {
            Ok(i) => self.entries[i] = Entry { field, value, mask },
            Err(i) => self.entries.insert(i, Entry { field, value, mask }),
        }
    }

    fn check_entry(
        &self,
        field: Field,
        value: &Value,
        mask: Option<&Value>,
    ) -> Result<(), MatchError> {
        let info = field.info();
        let width_ok = if info.variable {
            // What an NXM/OXM header can say (OVS takes any width and the
            // switch fits it to the field's option).
            value.len() <= usize::from(u8::MAX)
        } else {
            value.len() == usize::from(info.bytes)
        };
        if !width_ok {
            return Err(MatchError::BadLen("value width does not fit the field"));
        }
        if let Some(m) = mask {
            if m.len() != value.len() || !field.is_mask_valid(m.as_slice()) {
                return Err(MatchError::BadMask(field));
            }
            if value
                .as_slice()
                .iter()
                .zip(m.as_slice())
                .any(|(v, m)| v & !m != 0)
            {
                return Err(MatchError::BadWildcards(Some(field)));
            }
        }
        if !field.is_value_valid(value.as_slice()) {
            return Err(MatchError::BadValue(field));
        }
        Ok(())
    }

    fn insert_unchecked_dup(
        &mut self,
        field: Field,
        value: Value,
        mask: Option<Value>,
        fail_on_dup: bool,
    ) -> Result<(), MatchError> {
        // Variable-length fields (tun_metadata) are stored as they come,
        // zero masks included: a tun_metadata match with a zero mask still
        // asks for the option to be there (OVS's `mf_set`).
        if field.info().variable {
            if let Ok(i) = self.find(field) {
                if fail_on_dup {
                    return Err(MatchError::DupField(field));
                }
                self.entries.remove(i);
            }
            let mask = mask.filter(|m| m.is_empty() || !m.is_all_ones());
            let value = match &mask {
                Some(m) => value.and(m),
                None => value,
            };
            let i = self.find(field).unwrap_or_else(|i| i);
            self.entries.insert(i, Entry { field, value, mask });
            return Ok(());
        }
        let v = value.to_u128().ok_or(MatchError::BadValue(field))?;
        let m = match &mask {
            Some(m) => m.to_u128().ok_or(MatchError::BadMask(field))?,
            None => ones(field.bytes()),
        };
        let parts = canonical_parts(field, v, m);
        if fail_on_dup {
            for p in &parts {
                if let Some(e) = self.get(p.field) {
                    if e.mask_u128() & p.footprint != 0 {
                        return Err(MatchError::DupField(field));
                    }
                }
            }
        }
        for p in parts {
            let (old_v, old_m) = match self.get(p.field) {
                Some(e) => (e.value_u128() & !p.footprint, e.mask_u128() & !p.footprint),
                None => (0, 0),
            };
            self.put_canonical(p.field, old_v | (p.value & p.mask), old_m | p.mask);
        }
        Ok(())
    }

    /// Stores a canonical field, applying OVS's narrower masks.
    fn put_canonical(&mut self, field: Field, value: u128, mask: u128) {
        let n = field.bytes();
        let full = ones(n);
        let mask = mask & full;
        let (mask, exact) = match field {
            Field::CtState => (mask & 0xff, false),
            Field::TunFlags => (mask & 0x1, false),
            Field::IpFrag => (mask & 0x3, mask & 0x3 == 0x3),
            Field::IpDscp => (mask & 0x3f, mask & 0x3f == 0x3f),
            // Packets never have the top 4 bits set, so OVS's 12-bit mask is
            // exact (and its printed names then read back the same).
            Field::TcpFlags => (mask & 0x0fff, mask & 0x0fff == 0x0fff),
            _ => (mask, mask == full),
        };
        let pos = self.find(field);
        if mask == 0 {
            if let Ok(i) = pos {
                self.entries.remove(i);
            }
            return;
        }
        let entry = Entry {
            field,
            value: Value::from_u128(value & mask, n),
            mask: if exact {
                None
            } else {
                Some(Value::from_u128(mask, n))
            },
        };
        match pos {
            Ok(i) => self.entries[i] = entry,
            Err(i) => self.entries.insert(i, entry),
        }
    }

    /// Whether `p` holds for this match, judged as OVS does: a field not
    /// matched counts as 0.
    pub fn prereq_ok(&self, p: Prereq) -> bool {
        let val = |f: Field| self.get(f).map_or(0, Entry::value_u128);
        let eth = val(Field::EthType) as u16;
        let proto = val(Field::IpProto) as u8;
        let ip_any = eth == 0x0800 || eth == 0x86dd;
        let not_later = val(Field::IpFrag) & 0x2 == 0;
        let icmp6 = eth == 0x86dd && proto == 58;
        let nd = |ty: &[u8]| {
            icmp6 && val(Field::Icmpv6Code) == 0 && ty.contains(&(val(Field::Icmpv6Type) as u8))
        };
        match p {
            Prereq::None => true,
            Prereq::Ethernet => val(Field::PacketType) == 0,
            Prereq::VlanVid => val(Field::VlanTci) as u16 & VLAN_CFI != 0,
            Prereq::Tcp | Prereq::Udp | Prereq::Sctp => {
                ip_any && Some(proto) == p.ip_proto() && not_later
            }
            Prereq::Icmpv4 => eth == 0x0800 && proto == 1,
            Prereq::Icmpv6 => icmp6,
            Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => nd(p.icmpv6_types()),
            Prereq::CtValid => {
                let (v, m) = self
                    .get(Field::CtState)
                    .map_or((0, 0), |e| (e.value_u128() as u32, e.mask_u128() as u32));
                let valid =
                    CS_NEW | CS_ESTABLISHED | CS_RELATED | CS_REPLY_DIR | CS_SRC_NAT | CS_DST_NAT;
                v & valid != 0
                    || (v & CS_TRACKED != 0 && m & CS_INVALID != 0 && v & CS_INVALID == 0)
            }
            Prereq::InPort => self.get(Field::InPort).is_some(),
            Prereq::Arp | Prereq::Ipv4 | Prereq::Ipv6 | Prereq::IpAny | Prereq::Mpls => {
                p.eth_types().contains(&eth)
            }
        }
    }

    /// Checks every field's prerequisites against the whole match (in any
    /// order, unlike decoding, which checks in wire order).
    pub fn check_prereqs(&self) -> Result<(), MatchError> {
        for e in &self.entries {
            let mut prereqs = vec![e.field.prereq()];
            // vlan_tci stands for vlan_vid/vlan_pcp too; a PCP match needs a tag.
            if e.field == Field::VlanTci
                && e.mask_u128() as u16 & 0xe000 != 0
                && e.value_u128() as u16 & VLAN_CFI != 0
            {
                prereqs.push(Prereq::VlanVid);
            }
            for p in prereqs {
                if !self.prereq_ok(p) {
                    return Err(MatchError::BadPrereq(e.field));
                }
            }
        }
        Ok(())
    }

    // Typed helpers for the fields most callers need.

    /// `in_port`, as an OpenFlow 1.1+ port number.
    pub fn in_port(&self) -> Option<u32> {
        self.get_int(Field::InPort).map(|(v, _)| v as u32)
    }

    pub fn set_in_port(&mut self, port: u32) -> Result<(), MatchError> {
        self.set_int(Field::InPort, port.into(), None)
    }

    pub fn eth_type(&self) -> Option<u16> {
        self.get_int(Field::EthType).map(|(v, _)| v as u16)
    }

    pub fn set_eth_type(&mut self, t: u16) -> Result<(), MatchError> {
        self.set_int(Field::EthType, t.into(), None)
    }

    pub fn ip_proto(&self) -> Option<u8> {
        self.get_int(Field::IpProto).map(|(v, _)| v as u8)
    }

    pub fn set_ip_proto(&mut self, p: u8) -> Result<(), MatchError> {
        self.set_int(Field::IpProto, p.into(), None)
    }

    /// An Ethernet address field (`EthSrc`, `EthDst`, `ArpSha`, ...).
    pub fn mac(&self, field: Field) -> Option<([u8; 6], [u8; 6])> {
        let (v, m) = self.get_int(field)?;
        let b = |x: u128| {
            let a = x.to_be_bytes();
            let mut o = [0u8; 6];
            o.copy_from_slice(&a[10..]);
            o
        };
        Some((b(v), b(m)))
    }

    pub fn set_mac(
        &mut self,
        field: Field,
        mac: [u8; 6],
        mask: Option<[u8; 6]>,
    ) -> Result<(), MatchError> {
        let m = mask.map(Value::from);
        let v = Value::from(mac);
        let v = match &m {
            Some(m) => v.and(m),
            None => v,
        };
        self.set(field, v, m)
    }

    /// An IPv4 address field and its mask.
    pub fn ipv4(&self, field: Field) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let (v, m) = self.get_int(field)?;
        Some((Ipv4Addr::from(v as u32), Ipv4Addr::from(m as u32)))
    }

    pub fn set_ipv4(
        &mut self,
        field: Field,
        addr: Ipv4Addr,
        mask: Option<Ipv4Addr>,
    ) -> Result<(), MatchError> {
        self.set_int(
            field,
            u32::from(addr).into(),
            mask.map(|m| u32::from(m).into()),
        )
    }

    /// An IPv6 address field and its mask.
    pub fn ipv6(&self, field: Field) -> Option<(Ipv6Addr, Ipv6Addr)> {
        let (v, m) = self.get_int(field)?;
        Some((Ipv6Addr::from(v), Ipv6Addr::from(m)))
    }

    pub fn set_ipv6(
        &mut self,
        field: Field,
        addr: Ipv6Addr,
        mask: Option<Ipv6Addr>,
    ) -> Result<(), MatchError> {
        self.set_int(field, u128::from(addr), mask.map(u128::from))
    }

    /// `regN` value and mask.
    pub fn reg(&self, n: usize) -> Option<(u32, u32)> {
        let (v, m) = self.get_int(Field::reg(n)?)?;
        Some((v as u32, m as u32))
    }

    pub fn set_reg(&mut self, n: usize, value: u32, mask: Option<u32>) -> Result<(), MatchError> {
        let f = Field::reg(n).ok_or_else(|| syntax(format!("no register {n}")))?;
        self.set_int(f, value.into(), mask.map(u128::from))
    }

    pub fn metadata(&self) -> Option<(u64, u64)> {
        self.get_int(Field::Metadata)
            .map(|(v, m)| (v as u64, m as u64))
    }

    pub fn set_metadata(&mut self, value: u64, mask: Option<u64>) -> Result<(), MatchError> {
        self.set_int(Field::Metadata, value.into(), mask.map(u128::from))
    }

    pub fn tun_id(&self) -> Option<(u64, u64)> {
        self.get_int(Field::TunnelId)
            .map(|(v, m)| (v as u64, m as u64))
    }

    pub fn set_tun_id(&mut self, value: u64, mask: Option<u64>) -> Result<(), MatchError> {
        self.set_int(Field::TunnelId, value.into(), mask.map(u128::from))
    }

    /// `vlan_tci` value and mask (see the module docs for `vlan_vid`).
    pub fn vlan_tci(&self) -> Option<(u16, u16)> {
        self.get_int(Field::VlanTci)
            .map(|(v, m)| (v as u16, m as u16))
    }

    pub fn set_vlan_tci(&mut self, value: u16, mask: Option<u16>) -> Result<(), MatchError> {
        self.set_int(Field::VlanTci, value.into(), mask.map(u128::from))
    }

    /// `ct_state` bits (`CS_*`) and mask.
    pub fn ct_state(&self) -> Option<(u32, u32)> {
        self.get_int(Field::CtState)
            .map(|(v, m)| (v as u32, m as u32))
    }

    pub fn set_ct_state(&mut self, value: u32, mask: u32) -> Result<(), MatchError> {
        self.set_int(Field::CtState, (value & mask).into(), Some(mask.into()))
    }

    /// A 16-bit transport field (`TcpDst`, `UdpSrc`, ...).
    pub fn set_u16(
        &mut self,
        field: Field,
        value: u16,
        mask: Option<u16>,
    ) -> Result<(), MatchError> {
        self.set_int(field, value.into(), mask.map(u128::from))
    }
}

/// Splits a wire field into the canonical fields it sets.
fn canonical_parts(field: Field, v: u128, m: u128) -> Vec<Part> {
    let one = |field, value, mask, footprint| Part {
        field,
        value,
        mask,
        footprint,
    };
    match field {
        Field::VlanVid => vec![one(Field::VlanTci, v, m & 0x1fff, 0x1fff)],
        // Matching a PCP implies a tag is present, so OVS sets CFI too.
        Field::VlanPcp => vec![one(
            Field::VlanTci,
            (v << 13) | u128::from(VLAN_CFI),
            0xf000,
            0xe000,
        )],
        Field::NwTos => vec![one(Field::IpDscp, v >> 2, 0x3f, 0x3f)],
        Field::IpDscp => vec![one(Field::IpDscp, v, 0x3f, 0x3f)],
        _ => {
            let (first, count, width) = match field {
                f if (Field::Xreg0..=Field::Xreg7).contains(&f) => {
                    (2 * (f as usize - Field::Xreg0 as usize), 2, 32)
                }
                f if (Field::Xxreg0..=Field::Xxreg3).contains(&f) => {
                    (4 * (f as usize - Field::Xxreg0 as usize), 4, 32)
                }
                _ => return vec![one(field, v, m, ones(field.bytes()))],
            };
            // The first register holds the most significant bits.
            (0..count)
                .filter_map(|k| {
                    let shift = width * (count - 1 - k);
                    let reg = Field::reg(first + k)?;
                    Some(one(
                        reg,
                        (v >> shift) & 0xffff_ffff,
                        (m >> shift) & 0xffff_ffff,
                        0xffff_ffff,
                    ))
                })
                .collect()
        }
    }
}

/// NXM_NX_COOKIE: class 1, field 30.
const COOKIE_CLASS: u16 = 0x0001;
const COOKIE_FIELD: u8 = 30;

fn header_error(e: HeaderError) -> MatchError {
    match e {
        HeaderError::Truncated => MatchError::BadLen("truncated entry header"),
        HeaderError::BadLen(_) => MatchError::BadLen("entry length does not fit its field"),
        HeaderError::Unknown(h) => MatchError::BadField(h),
    }
}

impl Match {
    /// Decodes a bare sequence of NXM/OXM entries (an `nx_match`, or the
    /// body of an OXM `ofp_match` without header or padding).
    pub fn decode_entries(b: &[u8]) -> Result<Match, MatchError> {
        Ok(decode_tlvs(b, false)?.0)
    }

    /// Decodes an `nx_match` of exactly `b.len()` bytes (the caller strips
    /// the padding to 8 that follows it).
    pub fn decode_nxm(b: &[u8]) -> Result<Match, MatchError> {
        Match::decode_entries(b)
    }

    /// Decodes an `nx_match` that may carry the NXM cookie pseudo-field
    /// (NXT_FLOW_MOD, NXST_FLOW and NXST_AGGREGATE requests).
    pub fn decode_nxm_with_cookie(b: &[u8]) -> Result<(Match, Option<NxmCookie>), MatchError> {
        decode_tlvs(b, true)
    }

    /// Takes an `nx_match` of `match_len` bytes and its padding to 8 from
    /// `r`, as a message body holds it (OVS's `nx_pull_match`); the cookie
    /// pseudo-field is accepted when `allow_cookie`.
    pub fn pull_nxm(
        r: &mut Reader<'_>,
        match_len: usize,
        allow_cookie: bool,
    ) -> Result<(Match, Option<NxmCookie>), MatchError> {
        let padded = match_len.div_ceil(8) * 8;
        if padded > r.remaining() {
            return Err(MatchError::BadLen("nx_match longer than the message"));
        }
        let b = r
            .bytes(match_len)
            .map_err(|_| MatchError::BadLen("nx_match truncated"))?;
        r.skip(padded - match_len)
            .map_err(|_| MatchError::BadLen("nx_match padding truncated"))?;
        decode_tlvs(b, allow_cookie)
    }

    /// Appends this match as an `nx_match` and returns its length before
    /// padding (`match_len`); the caller pads to 8.
    pub fn encode_nxm(&self, w: &mut Writer) -> Result<usize, MatchError> {
        self.encode_nxm_with_cookie(None, w)
    }

    /// Like [`Match::encode_nxm`], with the cookie pseudo-field last, where
    /// OVS puts it (a zero mask writes nothing).
    pub fn encode_nxm_with_cookie(
        &self,
        cookie: Option<NxmCookie>,
        w: &mut Writer,
    ) -> Result<usize, MatchError> {
        let start = w.mark();
        self.encode_entries(Encoding::Nxm, w)?;
        if let Some(c) = cookie.filter(|c| c.mask != 0) {
            let masked = c.mask != u64::MAX;
            let h = TlvHeader {
                class: COOKIE_CLASS,
                field: COOKIE_FIELD,
                hasmask: masked,
                length: if masked { 16 } else { 8 },
                experimenter: None,
            };
            h.emit(w);
            w.u64(c.value & c.mask);
            if masked {
                w.u64(c.mask);
            }
        }
        Ok(w.since(start))
    }

    /// Decodes an OpenFlow 1.2+ `ofp_match` (type OFPMT_OXM) from the
    /// start of `r`, consuming its padding to a multiple of 8.
    pub fn decode_oxm(r: &mut Reader<'_>) -> Result<Match, MatchError> {
        if r.remaining() < 4 {
            return Err(MatchError::BadLen("ofp_match header truncated"));
        }
        let ty = r
            .u16()
            .map_err(|_| MatchError::BadLen("ofp_match header truncated"))?;
        let len = usize::from(
            r.u16()
                .map_err(|_| MatchError::BadLen("ofp_match header truncated"))?,
        );
        // OFPMT_STANDARD (OpenFlow 1.1's fixed 88-byte match) of another
        // length is BAD_LEN, as in OVS's `ofputil_pull_ofp11_match`; one of
        // the right length would be decoded there, and is BAD_TYPE here
        // (no controller of OpenFlow 1.2+ sends it).
        if ty == 0 && len != 88 {
            return Err(MatchError::BadLen("OFPMT_STANDARD match not 88 bytes"));
        }
        if ty != 1 {
            return Err(MatchError::BadType(ty));
        }
        if len < 4 {
            return Err(MatchError::BadLen("ofp_match length below 4"));
        }
        let padded = len.div_ceil(8) * 8;
        if padded - 4 > r.remaining() {
            return Err(MatchError::BadLen("ofp_match longer than the message"));
        }
        let body = r
            .bytes(len - 4)
            .map_err(|_| MatchError::BadLen("ofp_match body truncated"))?;
        r.skip(padded - len)
            .map_err(|_| MatchError::BadLen("ofp_match padding truncated"))?;
        Match::decode_entries(body)
    }

    /// Appends this match as an OpenFlow `version` `ofp_match` (OXM),
    /// padded to a multiple of 8.
    pub fn encode_oxm(&self, version: Version, w: &mut Writer) -> Result<(), MatchError> {
        if version == Version::Of10 {
            return Err(MatchError::NoOxm(version));
        }
        let start = w.mark();
        w.u16(1).u16(0);
        self.encode_entries(Encoding::Oxm(version), w)?;
        let len = w.since(start);
        let len16 =
            u16::try_from(len).map_err(|_| MatchError::BadLen("match longer than 65535 bytes"))?;
        w.patch_u16(start, 2, len16);
        w.pad_from(start, 8);
        Ok(())
    }

    /// Appends the entries alone, in OVS's order, choosing headers for `enc`.
    pub fn encode_entries(&self, enc: Encoding, w: &mut Writer) -> Result<(), MatchError> {
        for (field, value, mask) in self.wire_entries(enc)? {
            // OXM always carries in_port as the 32-bit OXM_OF_IN_PORT, even
            // for OpenFlow 1.0 (NXT_PACKET_IN2 metadata), where the version
            // would otherwise pick the 16-bit NXM header: OVS's
            // `nx_put_raw` writes MFF_IN_PORT_OXM whenever it writes OXM.
            let enc_for = match (field, enc) {
                (Field::InPort, Encoding::Oxm(_)) => Encoding::Oxm(Version::Of13),
                _ => enc,
            };
            let header = field
                .header_for(enc_for)
                .ok_or(MatchError::Unrepresentable {
                    field,
                    encoding: match enc {
                        Encoding::Nxm => "NXM",
                        Encoding::Oxm(_) => "OXM",
                    },
                })?;
            let width = value.len();
            let len8 = u8::try_from(width)
                .map_err(|_| MatchError::BadLen("value wider than 255 bytes"))?;
            header.tlv(mask.is_some(), len8).emit(w);
            w.bytes(value.as_slice());
            if let Some(m) = &mask {
                w.bytes(m.as_slice());
            }
        }
        Ok(())
    }

    /// The entries to write for `enc`, as (wire field, value, mask), in
    /// OVS's `nx_put_raw` order.
    fn wire_entries(
        &self,
        enc: Encoding,
    ) -> Result<Vec<(Field, Value, Option<Value>)>, MatchError> {
        let oxm = matches!(enc, Encoding::Oxm(_));
        let unrep = |field| MatchError::Unrepresentable {
            field,
            encoding: if oxm { "OXM" } else { "NXM" },
        };
        let mut sorted: Vec<&Entry> = self.entries.iter().collect();
        sorted.sort_by_key(|e| wire_rank(e.field));
        let mut out = Vec::with_capacity(sorted.len() + 1);
        let exact_or = |v: u128, m: u128, n: usize| {
            if m == ones(n) {
                (Value::from_u128(v, n), None)
            } else {
                (Value::from_u128(v, n), Some(Value::from_u128(m, n)))
            }
        };
        let mut regs_done = false;
        for e in sorted {
            let (v, m) = (e.value_u128(), e.mask_u128());
            match e.field {
                Field::InPort if !oxm => {
                    let p = port_to_u16(v as u32).ok_or(unrep(Field::InPort))?;
                    out.push((Field::InPort, Value::from(p), None));
                }
                Field::VlanTci if oxm => {
                    let (v, m) = (v as u16, m as u16);
                    let (vid, vid_mask) = (v & 0x1fff, m & 0x1fff);
                    let pcp_mask = m & 0xe000;
                    if vid_mask != 0 {
                        let mask = (vid_mask != 0x1fff).then(|| Value::from(vid_mask));
                        out.push((Field::VlanVid, Value::from(vid), mask));
                    }
                    // "No tag" makes the PCP bits moot: OXM says just
                    // OFPVID_NONE, as OVS does (so 0x0000/0xffff comes back
                    // as 0x0000/0x1fff). Otherwise OXM can only say "this
                    // PCP, on a tagged packet".
                    let no_tag = m & VLAN_CFI != 0 && vid & VLAN_CFI == 0;
                    if pcp_mask != 0 && !no_tag {
                        if pcp_mask != 0xe000 || vid & VLAN_CFI == 0 || m & VLAN_CFI == 0 {
                            return Err(unrep(Field::VlanPcp));
                        }
                        out.push((Field::VlanPcp, Value::from((v >> 13) as u8), None));
                    }
                }
                Field::IpDscp if !oxm => {
                    out.push((Field::NwTos, Value::from((v as u8) << 2), None))
                }
                f if (Field::Reg0..=Field::Reg15).contains(&f)
                    && enc == Encoding::Oxm(Version::Of15) =>
                {
                    // OpenFlow 1.5 has 64-bit packet registers; OVS writes
                    // every register pair as one.
                    if regs_done {
                        continue;
                    }
                    regs_done = true;
                    for i in 0..8 {
                        let get = |k| {
                            Field::reg(2 * i + k)
                                .and_then(|f| self.get(f))
                                .map_or((0u128, 0u128), |e| (e.value_u128(), e.mask_u128()))
                        };
                        let ((hv, hm), (lv, lm)) = (get(0), get(1));
                        let (xv, xm) = ((hv << 32) | lv, (hm << 32) | lm);
                        if xm != 0 {
                            let (val, mask) = exact_or(xv, xm, 8);
                            let f = Field::xreg(i).ok_or(unrep(f))?;
                            out.push((f, val, mask));
                        }
                    }
                }
                // OVS keeps these masked even when all bits are matched.
                _ => out.push((e.field, e.value.clone(), e.mask.clone())),
            }
        }
        Ok(out)
    }
}

fn decode_tlvs(b: &[u8], allow_cookie: bool) -> Result<(Match, Option<NxmCookie>), MatchError> {
    let mut m = Match::new();
    let mut cookie: Option<NxmCookie> = None;
    let mut r = Reader::new(b);
    while !r.is_empty() {
        let h = TlvHeader::parse(&mut r).map_err(header_error)?;
        // NXM_NX_COOKIE shares class and field with NXM_NX_MPLS_TTL; the
        // length tells them apart, as in OVS.
        let is_cookie = h.class == COOKIE_CLASS
            && h.field == COOKIE_FIELD
            && h.experimenter.is_none()
            && h.length == if h.hasmask { 16 } else { 8 };
        // Like OVS, an unknown header still has its payload checked for
        // length and mask consistency before BAD_FIELD is reported.
        let looked_up = if is_cookie {
            Err(HeaderError::Unknown(h))
        } else {
            h.lookup()
        };
        let payload = r
            .bytes(h.payload_len())
            .map_err(|_| MatchError::BadLen("entry payload truncated"))?;
        let (value, mask) = if h.hasmask {
            if payload.len() % 2 != 0 {
                return Err(MatchError::BadLen("masked entry with odd payload"));
            }
            let (v, m) = payload.split_at(payload.len() / 2);
            (v, Some(m))
        } else {
            (payload, None)
        };
        if let Some(mk) = mask {
            if value.iter().zip(mk).any(|(v, m)| v & !m != 0) {
                // Even for an unknown field OVS reports this first.
                return Err(MatchError::BadWildcards(looked_up.ok().map(|x| x.0)));
            }
        }
        if is_cookie && allow_cookie {
            if value.len() != 8 {
                return Err(MatchError::BadLen("NXM cookie must be 8 bytes"));
            }
            if cookie.is_some() {
                return Err(MatchError::DupCookie);
            }
            let be = |s: &[u8]| s.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
            cookie = Some(NxmCookie {
                value: be(value),
                mask: mask.map_or(u64::MAX, be),
            });
            continue;
        }
        // A known field of the wrong width is no field OVS knows
        // (`nxm_field_by_header` finds none): BAD_FIELD, not BAD_LEN.
        let (field, header, _width) = looked_up.map_err(|e| match e {
            HeaderError::BadLen(h) => MatchError::BadField(h),
            e => header_error(e),
        })?;
        if let Some(mk) = mask {
            if !field.is_mask_valid(mk) {
                return Err(MatchError::BadMask(field));
            }
        }
        // NXM's 16-bit in_port: widen to the 32-bit space first.
        let (value, mask) = if field == Field::InPort && header.len == 2 {
            let p = u16::from_be_bytes([value[0], value[1]]);
            let wide = |p: u16| Value::from(port_from_u16(p));
            (
                wide(p),
                mask.map(|mk| {
                    if mk == [0xff, 0xff] {
                        Value::ones(4)
                    } else {
                        Value::zeros(4)
                    }
                }),
            )
        } else {
            (Value::from_slice(value), mask.map(Value::from_slice))
        };
        if !field.is_value_valid(value.as_slice()) {
            return Err(MatchError::BadValue(field));
        }
        if !m.prereq_ok(field.prereq()) {
            return Err(MatchError::BadPrereq(field));
        }
        m.insert_unchecked_dup(field, value, mask, true)?;
    }
    Ok((m, cookie))
}

/// Position of each canonical field in OVS's `nx_put_raw` order.
fn wire_rank(f: Field) -> u16 {
    static RANK: OnceLock<Vec<u16>> = OnceLock::new();
    let rank = RANK.get_or_init(|| rank_table(&wire_order()));
    rank.get(f as usize).copied().unwrap_or(u16::MAX)
}

fn rank_table(order: &[Field]) -> Vec<u16> {
    let mut rank = vec![u16::MAX; Field::all().count()];
    for (i, f) in order.iter().enumerate() {
        if let Some(r) = rank.get_mut(*f as usize) {
            *r = i as u16;
        }
    }
    rank
}

fn all_of(first: Field, count: usize) -> impl Iterator<Item = Field> {
    Field::all().skip(first as usize).take(count)
}

fn wire_order() -> Vec<Field> {
    use Field::*;
    let mut o = vec![
        PacketType,
        DpHash,
        RecircId,
        ConjId,
        InPort,
        InPhyPort,
        ActsetOutput,
    ];
    o.extend([
        EthSrc, EthDst, EthType, VlanTci, MplsTc, MplsBos, MplsTtl, MplsLabel,
    ]);
    o.extend([
        Ipv4Src, Ipv4Dst, Ipv6Src, Ipv6Dst, IpFrag, IpDscp, IpEcn, NwTtl, Ipv6Flabel, Ipv6Exthdr,
    ]);
    o.extend([
        IpProto, TcpSrc, TcpDst, TcpFlags, UdpSrc, UdpDst, SctpSrc, SctpDst,
    ]);
    o.extend([
        Icmpv4Type, Icmpv4Code, Icmpv6Type, Icmpv6Code, NdTarget, NdSll, NdTll,
    ]);
    o.extend([ArpOp, ArpSpa, ArpTpa, ArpSha, ArpTha]);
    o.extend([
        TunnelId,
        TunFlags,
        TunSrc,
        TunDst,
        TunIpv6Src,
        TunIpv6Dst,
        TunGbpId,
        TunGbpFlags,
    ]);
    o.extend(all_of(TunMetadata0, 64));
    o.extend(all_of(Reg0, 16));
    o.extend([
        PktMark, CtState, CtZone, CtMark, CtLabel, CtNwSrc, CtIpv6Src, CtNwDst, CtIpv6Dst,
    ]);
    o.extend([CtNwProto, CtTpSrc, CtTpDst, Metadata]);
    o
}

// OpenFlow 1.0 `ofp_match` wildcard bits.
const OFPFW10_IN_PORT: u32 = 1 << 0;
const OFPFW10_DL_VLAN: u32 = 1 << 1;
const OFPFW10_DL_SRC: u32 = 1 << 2;
const OFPFW10_DL_DST: u32 = 1 << 3;
const OFPFW10_DL_TYPE: u32 = 1 << 4;
const OFPFW10_NW_PROTO: u32 = 1 << 5;
const OFPFW10_TP_SRC: u32 = 1 << 6;
const OFPFW10_TP_DST: u32 = 1 << 7;
const OFPFW10_NW_SRC_SHIFT: u32 = 8;
const OFPFW10_NW_DST_SHIFT: u32 = 14;
const OFPFW10_DL_VLAN_PCP: u32 = 1 << 20;
const OFPFW10_NW_TOS: u32 = 1 << 21;
const OFPFW10_ALL: u32 = (1 << 22) - 1;
/// `dl_vlan` value meaning "no 802.1Q header".
const OFP10_VLAN_NONE: u16 = 0xffff;

/// The netmask for an OpenFlow 1.0 wildcard bit count (32+ wildcards all).
fn wcbits_to_netmask(bits: u32) -> u32 {
    let bits = bits & 0x3f;
    if bits < 32 {
        u32::MAX << bits
    } else {
        0
    }
}

impl Match {
    /// The size of an OpenFlow 1.0 `ofp_match`.
    pub const OF10_LEN: usize = 40;

    /// Decodes an OpenFlow 1.0 `ofp_match`. Fields whose prerequisites the
    /// match does not meet are dropped, as OpenFlow 1.0 says they are
    /// ignored (OVS's `ofputil_normalize_match` does the same).
    pub fn decode_of10(r: &mut Reader<'_>) -> Result<Match, MatchError> {
        let b: [u8; 40] = r
            .array()
            .map_err(|_| MatchError::BadLen("ofp_match (1.0) truncated"))?;
        let mut r = Reader::new(&b);
        let short = |_| MatchError::BadLen("ofp_match (1.0) truncated");
        let wc = r.u32().map_err(short)? & OFPFW10_ALL;
        let in_port = r.u16().map_err(short)?;
        let dl_src: [u8; 6] = r.array().map_err(short)?;
        let dl_dst: [u8; 6] = r.array().map_err(short)?;
        let dl_vlan = r.u16().map_err(short)?;
        let dl_vlan_pcp = r.u8().map_err(short)?;
        r.skip(1).map_err(short)?;
        let dl_type = r.u16().map_err(short)?;
        let nw_tos = r.u8().map_err(short)?;
        let nw_proto = r.u8().map_err(short)?;
        r.skip(2).map_err(short)?;
        let nw_src = r.u32().map_err(short)?;
        let nw_dst = r.u32().map_err(short)?;
        let tp_src = r.u16().map_err(short)?;
        let tp_dst = r.u16().map_err(short)?;

        let mut m = Match::new();
        let matched = |bit: u32| wc & bit == 0;
        // None of these can fail: every value is in range by construction.
        let put = |m: &mut Match, f: Field, v: u128, mask: Option<u128>| {
            let _ = m.set_int(f, v, mask);
        };
        if matched(OFPFW10_IN_PORT) {
            put(&mut m, Field::InPort, port_from_u16(in_port).into(), None);
        }
        if matched(OFPFW10_DL_SRC) {
            put(&mut m, Field::EthSrc, mac_u128(dl_src), None);
        }
        if matched(OFPFW10_DL_DST) {
            put(&mut m, Field::EthDst, mac_u128(dl_dst), None);
        }
        // VLAN, as OVS translates it.
        if matched(OFPFW10_DL_VLAN) && dl_vlan == OFP10_VLAN_NONE {
            put(&mut m, Field::VlanTci, 0, None);
        } else {
            let mut mask = 0u16;
            if matched(OFPFW10_DL_VLAN_PCP) {
                mask |= 0xe000 | VLAN_CFI;
            }
            if matched(OFPFW10_DL_VLAN) {
                mask |= 0x0fff | VLAN_CFI;
            }
            let tci = (dl_vlan & 0x0fff) | ((u16::from(dl_vlan_pcp) << 13) & 0xe000) | VLAN_CFI;
            if mask != 0 {
                put(
                    &mut m,
                    Field::VlanTci,
                    (tci & mask).into(),
                    Some(mask.into()),
                );
            }
        }
        if matched(OFPFW10_DL_TYPE) {
            put(&mut m, Field::EthType, dl_type.into(), None);
        }
        let eth = m.eth_type();
        // OpenFlow 1.0 defines the network and transport fields for IPv4
        // and ARP only (OVS sends IPv6 ones over NXM).
        let is_ip = eth == Some(0x0800);
        let is_arp = eth == Some(0x0806) || eth == Some(0x8035);
        if matched(OFPFW10_NW_TOS) && is_ip {
            put(&mut m, Field::IpDscp, (nw_tos >> 2).into(), None);
        }
        if matched(OFPFW10_NW_PROTO) {
            if is_ip {
                put(&mut m, Field::IpProto, nw_proto.into(), None);
            } else if is_arp {
                put(&mut m, Field::ArpOp, nw_proto.into(), None);
            }
        }
        let (src_f, dst_f) = if is_arp {
            (Field::ArpSpa, Field::ArpTpa)
        } else {
            (Field::Ipv4Src, Field::Ipv4Dst)
        };
        if is_ip || is_arp {
            for (f, addr, shift) in [
                (src_f, nw_src, OFPFW10_NW_SRC_SHIFT),
                (dst_f, nw_dst, OFPFW10_NW_DST_SHIFT),
            ] {
                let mask = wcbits_to_netmask(wc >> shift);
                if mask != 0 {
                    put(&mut m, f, (addr & mask).into(), Some(mask.into()));
                }
            }
        }
        let tp = if !is_ip || !matched(OFPFW10_NW_PROTO) {
            None
        } else {
            match nw_proto {
                6 => Some((Field::TcpSrc, Field::TcpDst)),
                17 => Some((Field::UdpSrc, Field::UdpDst)),
                132 => Some((Field::SctpSrc, Field::SctpDst)),
                1 => Some((Field::Icmpv4Type, Field::Icmpv4Code)),
                _ => None,
            }
        };
        if let Some((sf, df)) = tp {
            let icmp = sf.bytes() == 1;
            for (f, v, bit) in [(sf, tp_src, OFPFW10_TP_SRC), (df, tp_dst, OFPFW10_TP_DST)] {
                // ICMP type and code ride in the low byte of the port fields.
                if matched(bit) && (!icmp || v <= 0xff) {
                    put(&mut m, f, v.into(), None);
                }
            }
        }
        Ok(m)
    }

    /// Appends this match as an OpenFlow 1.0 `ofp_match` (40 bytes). Fails
    /// if it matches anything OpenFlow 1.0 cannot say: other fields, masks
    /// other than CIDR on IPv4 addresses, partial VLAN masks.
    pub fn encode_of10(&self, w: &mut Writer) -> Result<(), MatchError> {
        let unrep = |field| MatchError::Unrepresentable {
            field,
            encoding: "OpenFlow 1.0",
        };
        // OVS writes 32 (not 63) for a wildcarded address; match its bytes.
        let mut wc = (OFPFW10_ALL & !(0xfff << OFPFW10_NW_SRC_SHIFT))
            | (32 << OFPFW10_NW_SRC_SHIFT)
            | (32 << OFPFW10_NW_DST_SHIFT);
        let mut in_port = 0u16;
        let (mut dl_src, mut dl_dst) = ([0u8; 6], [0u8; 6]);
        let (mut dl_vlan, mut dl_vlan_pcp, mut dl_type) = (0u16, 0u8, 0u16);
        let (mut nw_tos, mut nw_proto) = (0u8, 0u8);
        let (mut nw_src, mut nw_dst, mut tp_src, mut tp_dst) = (0u32, 0u32, 0u16, 0u16);
        let cidr_bits = |m: u32| -> Option<u32> {
            let wild = m.trailing_zeros().min(32);
            (wcbits_to_netmask(wild) == m).then_some(wild)
        };
        for e in &self.entries {
            let (v, m) = (e.value_u128(), e.mask_u128());
            let exact = e.mask.is_none();
            let need_exact = |f| if exact { Ok(()) } else { Err(unrep(f)) };
            match e.field {
                Field::InPort => {
                    in_port = port_to_u16(v as u32).ok_or(unrep(Field::InPort))?;
                    wc &= !OFPFW10_IN_PORT;
                }
                Field::EthSrc => {
                    need_exact(e.field)?;
                    dl_src = u128_mac(v);
                    wc &= !OFPFW10_DL_SRC;
                }
                Field::EthDst => {
                    need_exact(e.field)?;
                    dl_dst = u128_mac(v);
                    wc &= !OFPFW10_DL_DST;
                }
                Field::VlanTci => {
                    let (v, m) = (v as u16, m as u16);
                    if m & VLAN_CFI != 0 && v & VLAN_CFI == 0 {
                        // Only "no tag" is expressible without a tag.
                        if m != 0xffff && m != VLAN_CFI {
                            return Err(unrep(e.field));
                        }
                        dl_vlan = OFP10_VLAN_NONE;
                        wc &= !OFPFW10_DL_VLAN;
                    } else {
                        let (vid_m, pcp_m) = (m & 0x0fff, m & 0xe000);
                        if m & VLAN_CFI == 0
                            || !(vid_m == 0 || vid_m == 0x0fff)
                            || !(pcp_m == 0 || pcp_m == 0xe000)
                        {
                            return Err(unrep(e.field));
                        }
                        if vid_m != 0 {
                            dl_vlan = v & 0x0fff;
                            wc &= !OFPFW10_DL_VLAN;
                        }
                        if pcp_m != 0 {
                            dl_vlan_pcp = (v >> 13) as u8;
                            wc &= !OFPFW10_DL_VLAN_PCP;
                        }
                    }
                }
                Field::EthType => {
                    dl_type = v as u16;
                    wc &= !OFPFW10_DL_TYPE;
                }
                Field::IpDscp => {
                    nw_tos = (v as u8) << 2;
                    wc &= !OFPFW10_NW_TOS;
                }
                Field::IpProto | Field::ArpOp => {
                    nw_proto = u8::try_from(v).map_err(|_| unrep(e.field))?;
                    wc &= !OFPFW10_NW_PROTO;
                }
                Field::Ipv4Src | Field::ArpSpa => {
                    let bits = cidr_bits(m as u32).ok_or(unrep(e.field))?;
                    nw_src = v as u32;
                    wc = (wc & !(0x3f << OFPFW10_NW_SRC_SHIFT)) | (bits << OFPFW10_NW_SRC_SHIFT);
                }
                Field::Ipv4Dst | Field::ArpTpa => {
                    let bits = cidr_bits(m as u32).ok_or(unrep(e.field))?;
                    nw_dst = v as u32;
                    wc = (wc & !(0x3f << OFPFW10_NW_DST_SHIFT)) | (bits << OFPFW10_NW_DST_SHIFT);
                }
                Field::TcpSrc
                | Field::UdpSrc
                | Field::SctpSrc
                | Field::Icmpv4Type
                | Field::Icmpv6Type => {
                    need_exact(e.field)?;
                    tp_src = v as u16;
                    wc &= !OFPFW10_TP_SRC;
                }
                Field::TcpDst
                | Field::UdpDst
                | Field::SctpDst
                | Field::Icmpv4Code
                | Field::Icmpv6Code => {
                    need_exact(e.field)?;
                    tp_dst = v as u16;
                    wc &= !OFPFW10_TP_DST;
                }
                f => return Err(unrep(f)),
            }
        }
        let mut o = Writer::new();
        o.u32(wc).u16(in_port).bytes(&dl_src).bytes(&dl_dst);
        o.u16(dl_vlan)
            .u8(dl_vlan_pcp)
            .zeros(1)
            .u16(dl_type)
            .u8(nw_tos)
            .u8(nw_proto)
            .zeros(2);
        o.u32(nw_src).u32(nw_dst).u16(tp_src).u16(tp_dst);
        // Whatever the decoder would drop or read differently (a field
        // without its prerequisites, a VLAN mask 1.0 has no words for)
        // cannot be said in OpenFlow 1.0.
        let back = Match::decode_of10(&mut Reader::new(o.as_slice()))?;
        if let Some(e) = self.entries.iter().find(|e| back.get(e.field) != Some(*e)) {
            return Err(unrep(e.field));
        }
        w.bytes(o.as_slice());
        Ok(())
    }
}

fn mac_u128(m: [u8; 6]) -> u128 {
    m.iter().fold(0u128, |a, &b| (a << 8) | u128::from(b))
}

fn u128_mac(v: u128) -> [u8; 6] {
    let b = v.to_be_bytes();
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[10..]);
    m
}

const CT_STATE_NAMES: &[(u32, &str)] = &[
    (CS_NEW, "new"),
    (CS_ESTABLISHED, "est"),
    (CS_RELATED, "rel"),
    (CS_REPLY_DIR, "rpl"),
    (CS_INVALID, "inv"),
    (CS_TRACKED, "trk"),
    (CS_SRC_NAT, "snat"),
    (CS_DST_NAT, "dnat"),
];

const TCP_FLAG_NAMES: &[(u32, &str)] = &[
    (0x001, "fin"),
    (0x002, "syn"),
    (0x004, "rst"),
    (0x008, "psh"),
    (0x010, "ack"),
    (0x020, "urg"),
    (0x040, "ece"),
    (0x080, "cwr"),
    (0x100, "ns"),
    (0x200, "[200]"),
    (0x400, "[400]"),
    (0x800, "[800]"),
];

/// Public tunnel flags (the only ones NXM carries).
const TUN_FLAG_NAMES: &[(u32, &str)] = &[(0x1, "oam")];

const PORT_NAMES: &[(u32, &str)] = &[
    (0xffff_fff7, "UNSET"),
    (0xffff_fff8, "IN_PORT"),
    (0xffff_fff9, "TABLE"),
    (0xffff_fffa, "NORMAL"),
    (0xffff_fffb, "FLOOD"),
    (0xffff_fffc, "ALL"),
    (0xffff_fffd, "CONTROLLER"),
    (0xffff_fffe, "LOCAL"),
    (0xffff_ffff, "ANY"),
];

/// C's `%#x`: no prefix for 0.
fn c_hex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

/// OVS's `ds_put_hex`: 0x and the bytes without leading zeros, or "0".
fn ds_hex(b: &[u8]) -> String {
    match b.iter().position(|&x| x != 0) {
        None => "0".into(),
        Some(i) => {
            let mut s = format!("{:#x}", b[i]);
            for x in &b[i + 1..] {
                let _ = write!(s, "{x:02x}");
            }
            s
        }
    }
}

/// Every byte, so a tun_metadata value keeps its width through text.
fn full_hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn fmt_port(p: u32) -> String {
    match PORT_NAMES.iter().find(|(n, _)| *n == p) {
        Some((_, name)) => (*name).into(),
        None => match port_to_u16(p) {
            Some(p16) => p16.to_string(),
            None => p.to_string(),
        },
    }
}

fn fmt_mac(v: u128) -> String {
    let m = u128_mac(v);
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn fmt_ipv4_masked(v: u32, m: u32) -> String {
    let mut s = Ipv4Addr::from(v).to_string();
    if m != u32::MAX {
        if m.leading_ones() + m.trailing_zeros() == 32 {
            let _ = write!(s, "/{}", m.leading_ones());
        } else {
            let _ = write!(s, "/{}", Ipv4Addr::from(m));
        }
    }
    s
}

/// An IPv6 address the way glibc's `inet_ntop` writes it (Rust's `Display`
/// differs for IPv4-compatible addresses).
fn fmt_ipv6(v: u128) -> String {
    let w: Vec<u16> = (0..8).map(|i| (v >> (112 - 16 * i)) as u16).collect();
    // The longest run of zero words, at least two long; the first on ties.
    let (mut best, mut cur) = ((0usize, 0usize), (0usize, 0usize));
    for (i, &x) in w.iter().enumerate() {
        if x == 0 {
            if cur.1 == 0 {
                cur.0 = i;
            }
            cur.1 += 1;
            if cur.1 > best.1 {
                best = cur;
            }
        } else {
            cur.1 = 0;
        }
    }
    if best.1 < 2 {
        best = (usize::MAX, 0);
    }
    let mut s = String::new();
    let mut i = 0;
    while i < 8 {
        if i == best.0 {
            s.push(':');
            if i == 0 {
                s.push(':');
            }
            i += best.1;
            // ::a.b.c.d and ::ffff:a.b.c.d keep the IPv4 part dotted.
            if i == 6 && best.0 == 0 && (best.1 == 6 || (best.1 == 5 && w[5] == 0xffff)) {
                let _ = write!(s, "{}", Ipv4Addr::from(v as u32));
                return s;
            }
            continue;
        }
        if i == 6 && best.0 == 0 && best.1 == 5 && w[5] == 0xffff {
            let _ = write!(s, "{}", Ipv4Addr::from(v as u32));
            return s;
        }
        let _ = write!(s, "{:x}", w[i]);
        if i < 7 {
            s.push(':');
        }
        i += 1;
    }
    s
}

fn fmt_ipv6_masked(v: u128, m: u128) -> String {
    let mut s = fmt_ipv6(v);
    if m != u128::MAX {
        if m.leading_ones() + m.trailing_zeros() == 128 {
            let _ = write!(s, "/{}", m.leading_ones());
        } else {
            let _ = write!(s, "/{}", fmt_ipv6(m));
        }
    }
    s
}

/// OVS's `format_flags_masked`.
fn fmt_flags(names: &[(u32, &str)], v: u32, m: u32, max: u32) -> String {
    let name = |bit: u32| names.iter().find(|(b, _)| *b == bit).map(|(_, n)| *n);
    if m == max {
        if v == 0 {
            return "0".into();
        }
        let mut parts = Vec::new();
        let mut bad = 0;
        for i in 0..32 {
            let bit = 1u32 << i;
            if v & bit != 0 {
                match name(bit) {
                    Some(n) => parts.push(n.to_string()),
                    None => bad |= bit,
                }
            }
        }
        if bad != 0 {
            parts.push(format!("{bad:#x}"));
        }
        return parts.join("|");
    }
    if m == 0 {
        return "0/0".into();
    }
    let mut s = String::new();
    for i in 0..32 {
        let bit = 1u32 << i;
        if m & bit != 0 {
            s.push(if v & bit != 0 { '+' } else { '-' });
            s.push_str(name(bit).unwrap_or("[Unknown]"));
        }
    }
    s
}

/// `format_be16_masked`: decimal when exact.
fn fmt_dec_masked(v: u128, m: u128, n: usize) -> String {
    if m == ones(n) {
        v.to_string()
    } else {
        format!("{v:#x}/{m:#x}")
    }
}

fn hex_masked(v: u128, m: u128, n: usize) -> String {
    if m == ones(n) {
        c_hex(v)
    } else {
        format!("{}/{}", c_hex(v), c_hex(m))
    }
}

/// The shorthand OVS prints for an eth_type (and ip_proto), and whether it
/// stands for the ip_proto too.
fn shorthand(eth: Option<u16>, proto: Option<u8>) -> Option<(&'static str, bool)> {
    let by_proto = |names: [&'static str; 5]| match proto {
        Some(1) if names[0] == "icmp" => (names[0], true),
        Some(58) if names[0] == "icmp6" => (names[0], true),
        Some(6) => (names[1], true),
        Some(17) => (names[2], true),
        Some(132) => (names[3], true),
        _ => (names[4], false),
    };
    Some(match eth? {
        0x0800 => by_proto(["icmp", "tcp", "udp", "sctp", "ip"]),
        0x86dd => by_proto(["icmp6", "tcp6", "udp6", "sctp6", "ipv6"]),
        0x0806 => ("arp", false),
        0x8035 => ("rarp", false),
        0x8847 => ("mpls", false),
        0x8848 => ("mplsm", false),
        _ => return None,
    })
}

/// Where each field prints, following OVS's `match_format`.
fn display_order() -> (Vec<Field>, Vec<Field>) {
    use Field::*;
    let head = vec![
        PktMark,
        RecircId,
        DpHash,
        ConjId,
        ActsetOutput,
        CtState,
        CtZone,
        CtMark,
        CtLabel,
        CtNwSrc,
        CtIpv6Src,
        CtNwDst,
        CtIpv6Dst,
        CtNwProto,
        CtTpSrc,
        CtTpDst,
        PacketType,
    ];
    let mut tail: Vec<Field> = all_of(Reg0, 16).collect();
    tail.extend([
        TunnelId,
        TunSrc,
        TunDst,
        TunIpv6Src,
        TunIpv6Dst,
        TunGbpId,
        TunGbpFlags,
        TunFlags,
    ]);
    tail.extend(all_of(TunMetadata0, 64));
    tail.extend([
        Metadata, InPort, InPhyPort, VlanTci, EthSrc, EthDst, EthType,
    ]);
    tail.extend([
        Ipv6Src, Ipv6Dst, Ipv6Flabel, Ipv6Exthdr, ArpSpa, ArpTpa, Ipv4Src, Ipv4Dst, IpProto, ArpOp,
    ]);
    tail.extend([
        ArpSha, ArpTha, IpDscp, IpEcn, NwTtl, MplsLabel, MplsTc, MplsTtl, MplsBos, IpFrag,
    ]);
    tail.extend([
        Icmpv4Type, Icmpv4Code, Icmpv6Type, Icmpv6Code, NdTarget, NdSll, NdTll,
    ]);
    tail.extend([TcpSrc, TcpDst, UdpSrc, UdpDst, SctpSrc, SctpDst, TcpFlags]);
    (head, tail)
}

impl Match {
    fn fmt_entry(&self, e: &Entry, out: &mut Vec<String>) {
        let f = e.field;
        // A tun_metadata match on the option's presence alone.
        if f.info().variable && e.mask.as_ref().is_some_and(Value::is_zero) {
            out.push(f.info().match_name.to_string());
            return;
        }
        let n = e.value.len();
        let (v, m) = (e.value_u128(), e.mask_u128());
        let name = f.info().match_name;
        let s = match f {
            Field::InPort | Field::ActsetOutput | Field::InPhyPort => fmt_port(v as u32),
            Field::EthSrc
            | Field::EthDst
            | Field::ArpSha
            | Field::ArpTha
            | Field::NdSll
            | Field::NdTll => {
                if e.mask.is_none() {
                    fmt_mac(v)
                } else {
                    format!("{}/{}", fmt_mac(v), fmt_mac(m))
                }
            }
            Field::Ipv4Src
            | Field::Ipv4Dst
            | Field::ArpSpa
            | Field::ArpTpa
            | Field::TunSrc
            | Field::TunDst
            | Field::CtNwSrc
            | Field::CtNwDst => fmt_ipv4_masked(v as u32, m as u32),
            Field::Ipv6Src
            | Field::Ipv6Dst
            | Field::NdTarget
            | Field::TunIpv6Src
            | Field::TunIpv6Dst
            | Field::CtIpv6Src
            | Field::CtIpv6Dst => fmt_ipv6_masked(v, m),
            Field::EthType => format!("{v:#06x}"),
            Field::VlanTci => {
                let (v, m) = (v as u16, m as u16);
                let (vid_m, pcp_m) = (m & 0x0fff, m & 0xe000);
                if m & VLAN_CFI != 0
                    && v & VLAN_CFI != 0
                    && (vid_m == 0 || vid_m == 0x0fff)
                    && (pcp_m == 0 || pcp_m == 0xe000)
                    && (vid_m != 0 || pcp_m != 0)
                {
                    if vid_m != 0 {
                        out.push(format!("dl_vlan={}", v & 0x0fff));
                    }
                    if pcp_m != 0 {
                        out.push(format!("dl_vlan_pcp={}", v >> 13));
                    }
                    return;
                } else if m == 0xffff {
                    return out.push(format!("vlan_tci={v:#06x}"));
                } else {
                    return out.push(format!("vlan_tci={v:#06x}/{m:#06x}"));
                }
            }
            Field::IpDscp => (v << 2).to_string(),
            Field::Ipv6Flabel => {
                if e.mask.is_none() {
                    format!("{v:#07x}")
                } else {
                    format!("{v:#07x}/{m:#07x}")
                }
            }
            Field::IpFrag => {
                let s = match (m & 3, v & 3) {
                    (3, 0) => "no",
                    (3, 1) => "first",
                    (3, 3) => "later",
                    (3, _) => "<error>",
                    (1, 1) => "yes",
                    (1, _) => "no",
                    (2, 2) => "later",
                    (_, _) => "not_later",
                };
                s.into()
            }
            Field::CtState => fmt_flags(CT_STATE_NAMES, v as u32, m as u32 & 0xff, 0xff),
            Field::TcpFlags => fmt_flags(TCP_FLAG_NAMES, v as u32 & 0xfff, m as u32 & 0xfff, 0xfff),
            // OVS's maximum mask here covers private flags NXM never
            // carries, so a tun_flags match always prints as +/- flags.
            Field::TunFlags => fmt_flags(TUN_FLAG_NAMES, v as u32, m as u32, 0xf),
            Field::PacketType => {
                if v == 0 && e.mask.is_none() {
                    return;
                }
                format!("({},{:#x})", v >> 16, v & 0xffff)
            }
            Field::CtLabel => {
                let mut s = ds_hex(e.value.as_slice());
                if let Some(mk) = &e.mask {
                    let _ = write!(s, "/{}", ds_hex(mk.as_slice()));
                }
                s
            }
            Field::TunGbpFlags => hex_masked(v, m, n),
            _ if f.info().variable => {
                let mut s = full_hex(e.value.as_slice());
                if let Some(mk) = &e.mask {
                    let _ = write!(s, "/{}", full_hex(mk.as_slice()));
                }
                s
            }
            Field::PktMark
            | Field::RecircId
            | Field::DpHash
            | Field::CtMark
            | Field::TunnelId
            | Field::Metadata
            | Field::Ipv6Exthdr => hex_masked(v, m, n),
            f if (Field::Reg0..=Field::Reg15).contains(&f) => hex_masked(v, m, n),
            // Everything else is a small integer: decimal when exact.
            _ => fmt_dec_masked(v, m, n),
        };
        out.push(format!("{name}={s}"));
    }
}

impl fmt::Display for Match {
    /// The match in `ovs-ofctl` syntax, fields in the order it prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        static ORDER: OnceLock<(Vec<Field>, Vec<Field>)> = OnceLock::new();
        let (head, tail) = ORDER.get_or_init(display_order);
        let short = shorthand(self.eth_type(), self.ip_proto());
        let mut out = Vec::new();
        for &fld in head {
            if let Some(e) = self.get(fld) {
                self.fmt_entry(e, &mut out);
            }
        }
        if let Some((s, _)) = short {
            out.push(s.to_string());
        }
        for &fld in tail {
            let consumed = match fld {
                Field::EthType => short.is_some(),
                Field::IpProto => short.is_some_and(|(_, p)| p),
                _ => false,
            };
            if consumed {
                continue;
            }
            if let Some(e) = self.get(fld) {
                self.fmt_entry(e, &mut out);
            }
        }
        f.write_str(&out.join(","))
    }
}

fn parse_u128(s: &str) -> Result<u128, MatchError> {
    let s = s.trim();
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u128::from_str_radix(h, 16),
        None => s.parse::<u128>(),
    };
    r.map_err(|_| syntax(format!("{s}: not a number")))
}

/// `VALUE[/MASK]` as integers that fit in `bytes`.
fn parse_int_masked(s: &str, bytes: usize) -> Result<(u128, Option<u128>), MatchError> {
    let (v, m) = match s.split_once('/') {
        Some((v, m)) => (parse_u128(v)?, Some(parse_u128(m)?)),
        None => (parse_u128(s)?, None),
    };
    if v & !ones(bytes) != 0 || m.is_some_and(|m| m & !ones(bytes) != 0) {
        return Err(syntax(format!(
            "{s}: value too large for a {bytes}-byte field"
        )));
    }
    Ok((v, m))
}

fn parse_mac(s: &str) -> Result<u128, MatchError> {
    let bytes: Vec<&str> = s.split(':').collect();
    if bytes.len() != 6 {
        return Err(syntax(format!("{s}: not an Ethernet address")));
    }
    let mut v = 0u128;
    for b in bytes {
        let x = u8::from_str_radix(b, 16)
            .map_err(|_| syntax(format!("{s}: not an Ethernet address")))?;
        v = (v << 8) | u128::from(x);
    }
    Ok(v)
}

fn parse_ipv4_masked(s: &str) -> Result<(u128, Option<u128>), MatchError> {
    let bad = || syntax(format!("{s}: not an IPv4 address"));
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let a = u32::from(Ipv4Addr::from_str(a).map_err(|_| bad())?);
    let m = match m {
        None => None,
        Some(m) => Some(match m.parse::<u32>() {
            Ok(bits) if bits <= 32 => wcbits_to_netmask(32 - bits),
            Ok(_) => return Err(bad()),
            Err(_) => u32::from(Ipv4Addr::from_str(m).map_err(|_| bad())?),
        }),
    };
    Ok((a.into(), m.map(u128::from)))
}

fn parse_ipv6_masked(s: &str) -> Result<(u128, Option<u128>), MatchError> {
    let bad = || syntax(format!("{s}: not an IPv6 address"));
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let a = u128::from(Ipv6Addr::from_str(a).map_err(|_| bad())?);
    let m = match m {
        None => None,
        Some(m) => Some(match m.parse::<u32>() {
            Ok(0) => 0,
            Ok(bits) if bits <= 128 => u128::MAX << (128 - bits),
            Ok(_) => return Err(bad()),
            Err(_) => u128::from(Ipv6Addr::from_str(m).map_err(|_| bad())?),
        }),
    };
    Ok((a, m))
}

fn parse_port(s: &str) -> Result<u32, MatchError> {
    let up = s.to_ascii_uppercase();
    if up == "NONE" {
        return Ok(0xffff_ffff);
    }
    if let Some((p, _)) = PORT_NAMES.iter().find(|(_, n)| *n == up) {
        return Ok(*p);
    }
    let n = parse_u128(s)?;
    let p = if n <= 0xffff {
        port_from_u16(n as u16)
    } else {
        u32::try_from(n).map_err(|_| syntax(format!("{s}: bad port")))?
    };
    if !port_is_valid(p) {
        return Err(syntax(format!("{s}: bad port")));
    }
    Ok(p)
}

/// `+a-b`, `a|b`, or `VALUE[/MASK]`; `all` is the mask for `a|b`.
fn parse_flags(
    s: &str,
    names: &[(u32, &str)],
    all: u32,
) -> Result<(u128, Option<u128>), MatchError> {
    let bit = |n: &str| {
        names
            .iter()
            .find(|(_, name)| *name == n)
            .map(|(b, _)| *b)
            .ok_or_else(|| syntax(format!("{n}: unknown flag")))
    };
    if s.starts_with('+') || s.starts_with('-') {
        let (mut v, mut m) = (0u32, 0u32);
        let mut rest = s;
        while let Some(sign) = rest.chars().next() {
            let body = &rest[1..];
            let end = body.find(['+', '-']).unwrap_or(body.len());
            let b = bit(&body[..end])?;
            if m & b != 0 {
                return Err(syntax(format!("{s}: flag given twice")));
            }
            m |= b;
            if sign == '+' {
                v |= b;
            }
            rest = &body[end..];
        }
        return Ok((v.into(), Some(m.into())));
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_int_masked(s, 4);
    }
    let mut v = 0u32;
    for n in s.split('|') {
        v |= bit(n)?;
    }
    Ok((v.into(), Some(all.into())))
}

/// Keys that depend on the protocol, resolved once eth_type and ip_proto
/// are known (OVS's flow has one `tp_src` for TCP, UDP, SCTP and ICMP).
fn resolve_key(
    key: &str,
    eth: Option<u16>,
    proto: Option<u8>,
) -> Result<Option<Field>, MatchError> {
    let arp = matches!(eth, Some(0x0806) | Some(0x8035));
    let v6 = eth == Some(0x86dd);
    let tp = |src: bool| -> Result<Option<Field>, MatchError> {
        let f = match (proto, v6) {
            (Some(6), _) => [Field::TcpSrc, Field::TcpDst],
            (Some(17), _) => [Field::UdpSrc, Field::UdpDst],
            (Some(132), _) => [Field::SctpSrc, Field::SctpDst],
            (Some(1), false) => [Field::Icmpv4Type, Field::Icmpv4Code],
            (Some(58), true) => [Field::Icmpv6Type, Field::Icmpv6Code],
            _ => {
                return Err(MatchError::BadPrereq(if src {
                    Field::TcpSrc
                } else {
                    Field::TcpDst
                }))
            }
        };
        Ok(Some(f[usize::from(!src)]))
    };
    Ok(match key {
        "nw_src" | "ip_src" if arp => Some(Field::ArpSpa),
        "nw_dst" | "ip_dst" if arp => Some(Field::ArpTpa),
        "nw_proto" | "ip_proto" if arp => Some(Field::ArpOp),
        "tp_src" | "tcp_src" | "udp_src" | "sctp_src" => tp(true)?,
        "tp_dst" | "tcp_dst" | "udp_dst" | "sctp_dst" => tp(false)?,
        "icmp_type" | "icmpv6_type" => Some(if v6 {
            Field::Icmpv6Type
        } else {
            Field::Icmpv4Type
        }),
        "icmp_code" | "icmpv6_code" => Some(if v6 {
            Field::Icmpv6Code
        } else {
            Field::Icmpv4Code
        }),
        "in_port_oxm" => Some(Field::InPort),
        "ip_frag" => Some(Field::IpFrag),
        _ => Field::from_name(key),
    })
}

fn shorthand_fields(key: &str) -> Option<(u16, Option<u8>)> {
    Some(match key {
        "ip" | "ipv4" => (0x0800, None),
        "icmp" => (0x0800, Some(1)),
        "tcp" => (0x0800, Some(6)),
        "udp" => (0x0800, Some(17)),
        "sctp" => (0x0800, Some(132)),
        "ipv6" => (0x86dd, None),
        "icmp6" => (0x86dd, Some(58)),
        "tcp6" => (0x86dd, Some(6)),
        "udp6" => (0x86dd, Some(17)),
        "sctp6" => (0x86dd, Some(132)),
        "arp" => (0x0806, None),
        "rarp" => (0x8035, None),
        "mpls" => (0x8847, None),
        "mplsm" => (0x8848, None),
        _ => return None,
    })
}

impl Match {
    fn parse_assign(
        &mut self,
        key: &str,
        val: &str,
        eth: Option<u16>,
        proto: Option<u8>,
    ) -> Result<(), MatchError> {
        let bad_val = |f: Field, e: MatchError| match e {
            MatchError::Syntax(s) => syntax(format!("{key}: {s}")),
            MatchError::BadValue(_) => syntax(format!("{key}={val}: bad value for {f}")),
            other => other,
        };
        let (field, v, m): (Field, u128, Option<u128>) = match key {
            "dl_vlan" => {
                let vid = parse_u128(val)?;
                if vid == 0xffff {
                    (Field::VlanTci, 0, None)
                } else if vid > 0x0fff {
                    return Err(syntax(format!("dl_vlan={val}: VLAN id out of range")));
                } else {
                    (Field::VlanVid, vid | u128::from(VLAN_CFI), None)
                }
            }
            "dl_vlan_pcp" => (Field::VlanPcp, parse_u128(val)?, None),
            "nw_tos" => (
                Field::IpDscp,
                (parse_int_masked(val, 1)?.0 & 0xfc) >> 2,
                None,
            ),
            "nw_ecn" | "ip_ecn" => (Field::IpEcn, parse_int_masked(val, 1)?.0, None),
            "nw_frag" | "ip_frag" => {
                let (v, m) = match val {
                    // As in OVS, "no" and "later" mean the two-bit forms.
                    "no" => (0, 3),
                    "yes" => (1, 1),
                    "first" => (1, 3),
                    "later" => (3, 3),
                    "not_later" => (0, 2),
                    _ => {
                        let (v, m) = parse_int_masked(val, 1)?;
                        (v, m.unwrap_or(3))
                    }
                };
                (Field::IpFrag, v, Some(m))
            }
            "ct_state" => {
                let (v, m) = parse_flags(val, CT_STATE_NAMES, 0xff)?;
                (Field::CtState, v, m)
            }
            "tcp_flags" => {
                let (v, m) = parse_flags(val, TCP_FLAG_NAMES, 0x0fff)?;
                (Field::TcpFlags, v, m)
            }
            "tun_flags" => {
                let (v, m) = parse_flags(val, TUN_FLAG_NAMES, 0x1)?;
                (Field::TunFlags, v, m)
            }
            "packet_type" => {
                let inner = val
                    .strip_prefix('(')
                    .and_then(|s| s.strip_suffix(')'))
                    .ok_or_else(|| syntax(format!("packet_type={val}: expected (NS,TYPE)")))?;
                let (ns, ty) = inner
                    .split_once(',')
                    .ok_or_else(|| syntax("packet_type: expected (NS,TYPE)"))?;
                let (ns, ty) = (parse_u128(ns)?, parse_u128(ty)?);
                if ns > 0xffff || ty > 0xffff {
                    return Err(syntax(format!("packet_type={val}: out of range")));
                }
                (Field::PacketType, (ns << 16) | ty, None)
            }
            _ => {
                let field = resolve_key(key, eth, proto)?
                    .ok_or_else(|| syntax(format!("{key}: unknown field")))?;
                let n = field.bytes();
                let (v, m) = match field {
                    Field::InPort | Field::ActsetOutput | Field::InPhyPort => {
                        (parse_port(val)?.into(), None)
                    }
                    Field::EthSrc
                    | Field::EthDst
                    | Field::ArpSha
                    | Field::ArpTha
                    | Field::NdSll
                    | Field::NdTll => match val.split_once('/') {
                        Some((a, mk)) => (parse_mac(a)?, Some(parse_mac(mk)?)),
                        None => (parse_mac(val)?, None),
                    },
                    Field::Ipv4Src
                    | Field::Ipv4Dst
                    | Field::ArpSpa
                    | Field::ArpTpa
                    | Field::TunSrc
                    | Field::TunDst
                    | Field::CtNwSrc
                    | Field::CtNwDst => parse_ipv4_masked(val)?,
                    Field::Ipv6Src
                    | Field::Ipv6Dst
                    | Field::NdTarget
                    | Field::TunIpv6Src
                    | Field::TunIpv6Dst
                    | Field::CtIpv6Src
                    | Field::CtIpv6Dst => parse_ipv6_masked(val)?,
                    f if f.info().variable => return self.parse_varlen(f, val),
                    _ => parse_int_masked(val, n)?,
                };
                (field, v, m)
            }
        };
        if m.is_some() && !field.is_maskable() && m != Some(ones(field.bytes())) {
            return Err(syntax(format!("{key}: field does not support masking")));
        }
        let n = field.bytes();
        // As in ovs-ofctl, value bits outside the mask are dropped.
        let v = v & m.unwrap_or(u128::MAX);
        let value = Value::from_u128(v, n);
        let mask = m.map(|m| Value::from_u128(m, n));
        self.check_entry(field, &value, mask.as_ref())
            .map_err(|e| bad_val(field, e))?;
        self.insert_unchecked_dup(field, value, mask, true)
    }

    /// `tun_metadataN=0xHEX[/0xHEX]`: as many bytes as hex digits say.
    fn parse_varlen(&mut self, field: Field, val: &str) -> Result<(), MatchError> {
        let bytes = |s: &str| -> Result<Value, MatchError> {
            let h = s
                .strip_prefix("0x")
                .ok_or_else(|| syntax(format!("{field}: expected 0x hex")))?;
            let h = if h.len() % 2 == 1 {
                format!("0{h}")
            } else {
                h.to_string()
            };
            let mut out = Vec::with_capacity(h.len() / 2);
            for i in (0..h.len()).step_by(2) {
                let b = h.get(i..i + 2).and_then(|x| u8::from_str_radix(x, 16).ok());
                out.push(b.ok_or_else(|| syntax(format!("{field}: bad hex")))?);
            }
            Ok(Value::from_slice(&out))
        };
        let (v, m) = match val.split_once('/') {
            Some((v, m)) => (bytes(v)?, Some(bytes(m)?)),
            None => (bytes(val)?, None),
        };
        let v = match &m {
            Some(m) if m.len() == v.len() => v.and(m),
            Some(_) => return Err(syntax(format!("{field}: mask and value differ in width"))),
            None => v,
        };
        self.check_entry(field, &v, m.as_ref())?;
        self.insert_unchecked_dup(field, v, m, true)
    }
}

/// Splits at commas outside parentheses (`packet_type=(1,0x800)`).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl FromStr for Match {
    type Err = MatchError;

    /// Parses a match in `ovs-ofctl` syntax (`tcp,in_port=1,tp_dst=80`).
    /// Unlike `ovs-ofctl`, which drops a field whose prerequisites are
    /// missing with a warning, this fails with `BadPrereq`; a field given
    /// twice fails with `DupField`.
    fn from_str(s: &str) -> Result<Match, MatchError> {
        let mut kv = Vec::new();
        for tok in split_top_level(s) {
            let tok = tok.trim();
            if tok.is_empty() {
                continue;
            }
            match tok.split_once('=') {
                Some((k, v)) => kv.push((k.trim(), Some(v.trim()))),
                None => kv.push((tok, None)),
            }
        }
        let mut m = Match::new();
        // First the fields that decide what the others mean.
        for (k, v) in &kv {
            match (k, v) {
                (k, None) => {
                    let (eth, proto) = shorthand_fields(k)
                        .ok_or_else(|| syntax(format!("{k}: unknown keyword")))?;
                    m.insert_unchecked_dup(Field::EthType, Value::from(eth), None, true)?;
                    if let Some(p) = proto {
                        m.insert_unchecked_dup(Field::IpProto, Value::from(p), None, true)?;
                    }
                }
                (&"dl_type" | &"eth_type", Some(v)) => m.parse_assign("dl_type", v, None, None)?,
                _ => {}
            }
        }
        let eth = m.eth_type();
        for (k, v) in &kv {
            if let (&"nw_proto" | &"ip_proto", Some(v)) = (k, v) {
                m.parse_assign(k, v, eth, None)?;
            }
        }
        let proto = m.ip_proto();
        for (k, v) in &kv {
            match (k, v) {
                (_, None) | (&"dl_type" | &"eth_type" | &"nw_proto" | &"ip_proto", _) => {}
                (k, Some(v)) => m.parse_assign(k, v, eth, proto)?,
            }
        }
        m.check_prereqs()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Match {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn oxm(m: &Match, v: Version) -> Vec<u8> {
        let mut w = Writer::new();
        m.encode_oxm(v, &mut w).unwrap_or_else(|e| panic!("{e}"));
        w.into_vec()
    }

    #[test]
    fn oxm_vlan_vid_and_pcp_become_one_tci() {
        // OXM_OF_VLAN_VID(1005), OXM_OF_VLAN_PCP(3)
        let b = [
            0x80, 0x00, 0x0c, 0x02, 0x10, 0x05, 0x80, 0x00, 0x0e, 0x01, 0x03,
        ];
        let m = Match::decode_entries(&b).expect("decode");
        assert_eq!(m.vlan_tci(), Some((0x7005, 0xffff)));
        assert_eq!(m.to_string(), "dl_vlan=5,dl_vlan_pcp=3");
        let mut w = Writer::new();
        m.encode_entries(Encoding::Oxm(Version::Of13), &mut w)
            .expect("encode");
        assert_eq!(w.as_slice(), &b);
        // PCP first is a missing prerequisite; VID twice a duplicate.
        let pcp_first = [
            0x80, 0x00, 0x0e, 0x01, 0x03, 0x80, 0x00, 0x0c, 0x02, 0x10, 0x05,
        ];
        assert_eq!(
            Match::decode_entries(&pcp_first),
            Err(MatchError::BadPrereq(Field::VlanPcp))
        );
        let twice = [
            0x80, 0x00, 0x0c, 0x02, 0x10, 0x05, 0x80, 0x00, 0x0c, 0x02, 0x10, 0x05,
        ];
        assert_eq!(
            Match::decode_entries(&twice),
            Err(MatchError::DupField(Field::VlanVid))
        );
    }

    #[test]
    fn nw_tos_and_ip_dscp_are_one_field() {
        let nxm = [
            0x00, 0x00, 0x06, 0x02, 0x08, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x10,
        ];
        let oxm = [
            0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, 0x80, 0x00, 0x10, 0x01, 0x04,
        ];
        let a = Match::decode_entries(&nxm).expect("nxm");
        assert_eq!(Match::decode_entries(&oxm), Ok(a.clone()));
        assert_eq!(a.get_int(Field::IpDscp), Some((4, 0xff)));
        assert_eq!(a.to_string(), "ip,nw_tos=16");
        assert_eq!(parse("ip,ip_dscp=4"), a);
    }

    #[test]
    fn xregs_are_stored_as_regs() {
        let mut m = Match::new();
        m.insert(Field::Xreg1, Value::from(0x0000_0001_0000_0002u64), None)
            .expect("xreg");
        assert_eq!(m.reg(2), Some((1, u32::MAX)));
        assert_eq!(m.reg(3), Some((2, u32::MAX)));
        // Overlapping reg and xreg: duplicate, even through a zero mask.
        let mut m2 = m.clone();
        assert_eq!(
            m2.insert(Field::Reg3, Value::from(0u32), Some(Value::from(0u32))),
            Err(MatchError::DupField(Field::Reg3))
        );
        // OpenFlow 1.5 writes the pair as one packet register; 1.3 as two
        // NXM registers.
        let o15 = oxm(&m, Version::Of15);
        assert_eq!(&o15[4..8], &[0x80, 0x01, 0x02, 0x08]);
        assert_eq!(o15.len(), 16);
        let o13 = oxm(&m, Version::Of13);
        assert_eq!(&o13[4..8], &[0x00, 0x01, 0x04, 0x04]);
        // A half-matched pair keeps its other half wildcarded.
        let half = parse("reg1=5");
        let o15 = oxm(&half, Version::Of15);
        assert_eq!(
            &o15[4..24],
            &[0x80, 0x01, 0x01, 0x10, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(Match::decode_oxm(&mut Reader::new(&o15)), Ok(half));
    }

    #[test]
    fn narrow_masks_follow_ovs() {
        let m = parse("ct_state=new|trk");
        assert_eq!(m.ct_state(), Some((0x21, 0xff)));
        assert_eq!(
            m.get(Field::CtState).and_then(|e| e.mask.clone()),
            Some(Value::from(0xffu32))
        );
        let m = parse("tcp,tcp_flags=0x012");
        assert_eq!(m.get(Field::TcpFlags).map(|e| e.mask.is_none()), Some(true));
        assert_eq!(m.to_string(), "tcp,tcp_flags=syn|ack");
        let m = parse("ip,nw_frag=first");
        assert_eq!(m.get(Field::IpFrag).map(|e| e.mask.is_none()), Some(true));
        let m = parse("tun_flags=+oam");
        assert_eq!(m.get_int(Field::TunFlags), Some((1, 1)));
    }

    #[test]
    fn value_bits_outside_mask_and_bad_masks() {
        let mut m = Match::new();
        let r = m.insert(
            Field::Ipv4Src,
            Value::from(0x0a00_0001u32),
            Some(Value::from(0xffff_ff00u32)),
        );
        assert_eq!(r, Err(MatchError::BadWildcards(Some(Field::Ipv4Src))));
        let r = m.insert(Field::IpProto, Value::from(6u8), Some(Value::from(0x0fu8)));
        assert_eq!(r, Err(MatchError::BadMask(Field::IpProto)));
        let r = m.insert(Field::Ipv4Src, Value::from(1u16), None);
        assert_eq!(r.map_err(|e| e.code()), Err(Some(BadMatchCode::BadLen)));
        // A zero mask matches nothing and stores nothing.
        m.insert(Field::Ipv4Src, Value::from(0u32), Some(Value::from(0u32)))
            .expect("zero mask");
        assert!(m.is_catchall());
    }

    #[test]
    fn prerequisites() {
        let ok = |s: &str| s.parse::<Match>().map(|_| ()).map_err(|e| e.code());
        assert_eq!(ok("tcp,tp_dst=80"), Ok(()));
        assert_eq!(ok("ip,tcp_flags=+syn"), Err(Some(BadMatchCode::BadPrereq)));
        assert_eq!(ok("ct_state=+trk+est,ct_nw_proto=6"), Ok(()));
        assert_eq!(ok("ct_state=+trk-inv,ct_nw_proto=6"), Ok(()));
        assert_eq!(
            ok("ct_state=+trk,ct_nw_proto=6"),
            Err(Some(BadMatchCode::BadPrereq))
        );
        assert_eq!(ok("icmp6,icmp_type=135,nd_sll=00:00:00:00:00:01"), Ok(()));
        assert_eq!(
            ok("icmp6,icmp_type=136,nd_sll=00:00:00:00:00:01"),
            Err(Some(BadMatchCode::BadPrereq))
        );
        assert_eq!(
            ok("icmp6,icmp_type=136,icmp_code=1,nd_target=::1"),
            Err(Some(BadMatchCode::BadPrereq))
        );
        assert_eq!(ok("mpls,mpls_label=5"), Ok(()));
        assert_eq!(ok("in_port=1,in_phy_port=2"), Ok(()));
        assert_eq!(ok("in_phy_port=2"), Err(Some(BadMatchCode::BadPrereq)));
        assert_eq!(
            ok("tcp,nw_frag=later,tp_dst=80"),
            Err(Some(BadMatchCode::BadPrereq))
        );
        // tp_src means what the protocol says.
        assert_eq!(
            parse("udp,tp_src=53").get_int(Field::UdpSrc),
            Some((53, 0xffff))
        );
        assert_eq!(
            parse("icmp,tp_src=8").get_int(Field::Icmpv4Type),
            Some((8, 0xff))
        );
        assert_eq!(
            parse("icmp6,icmp_type=128").get_int(Field::Icmpv6Type),
            Some((128, 0xff))
        );
        assert_eq!(
            parse("arp,nw_dst=1.2.3.4").ipv4(Field::ArpTpa).map(|x| x.0),
            Some(Ipv4Addr::new(1, 2, 3, 4))
        );
    }

    #[test]
    fn fields_ovs_lacks_round_trip() {
        for s in [
            "in_port=1,in_phy_port=2",
            "ipv6,ipv6_exthdr=0x1/0x1ff",
            "packet_type=(1,0x806)",
            "tun_metadata0=0x0102",
            "tun_metadata63=0x000102/0x00ffff",
            "tun_metadata5=0x01020304050607080910111213141516171819",
        ] {
            let m = parse(s);
            assert_eq!(m.to_string(), s);
            let mut w = Writer::new();
            m.encode_nxm(&mut w).expect("nxm");
            assert_eq!(Match::decode_nxm(w.as_slice()), Ok(m.clone()), "{s}");
            for v in [Version::Of13, Version::Of15] {
                assert_eq!(
                    Match::decode_oxm(&mut Reader::new(&oxm(&m, v))),
                    Ok(m.clone()),
                    "{s}"
                );
            }
        }
        assert_eq!(
            parse("tun_metadata5=0x01020304050607080910111213141516171819").entries()[0]
                .value
                .len(),
            19
        );
    }

    #[test]
    fn in_port_widths() {
        let m = parse("in_port=LOCAL");
        assert_eq!(m.in_port(), Some(0xffff_fffe));
        let mut w = Writer::new();
        m.encode_nxm(&mut w).expect("nxm");
        assert_eq!(w.as_slice(), &[0, 0, 0, 2, 0xff, 0xfe]);
        assert_eq!(
            &oxm(&m, Version::Of13)[4..12],
            &[0x80, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(Match::decode_nxm(w.as_slice()), Ok(m));
        assert_eq!(port_to_u16(0x1_0000), None);
        assert_eq!(port_from_u16(0xff00), 0xffff_ff00);
        assert_eq!(parse("in_port=65280").to_string(), "in_port=65280");
    }

    #[test]
    fn ipv6_text_like_inet_ntop() {
        for (s, want) in [
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("::1.2.3.4", "::1.2.3.4"),
            ("2001:db8::1", "2001:db8::1"),
            ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),
            ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
            ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
            ("fe80::1:2", "fe80::1:2"),
        ] {
            let a = u128::from(Ipv6Addr::from_str(s).expect("addr"));
            assert_eq!(fmt_ipv6(a), want, "{s}");
        }
        assert_eq!(
            fmt_ipv6_masked(0x2001_0db8 << 96, u128::MAX << 96),
            "2001:db8::/32"
        );
    }

    #[test]
    fn helpers_and_errors() {
        let mut m = Match::new();
        m.set_eth_type(0x0800).expect("eth");
        m.set_ip_proto(17).expect("proto");
        m.set_ipv4(
            Field::Ipv4Dst,
            Ipv4Addr::new(10, 0, 0, 0),
            Some(Ipv4Addr::new(255, 0, 0, 0)),
        )
        .expect("ip");
        m.set_u16(Field::UdpDst, 53, None).expect("udp");
        m.set_mac(
            Field::EthSrc,
            [0, 1, 2, 3, 4, 5],
            Some([0xff, 0xff, 0xff, 0, 0, 0]),
        )
        .expect("mac");
        m.set_reg(2, 7, None).expect("reg");
        m.set_metadata(1, Some(0xf)).expect("metadata");
        m.set_tun_id(9, None).expect("tun_id");
        m.set_ct_state(CS_TRACKED | CS_ESTABLISHED, CS_TRACKED | CS_ESTABLISHED)
            .expect("ct");
        m.set_in_port(3).expect("port");
        m.set_ipv6(Field::TunIpv6Dst, Ipv6Addr::LOCALHOST, None)
            .expect("v6");
        assert_eq!(m.check_prereqs(), Ok(()));
        assert_eq!(
            m.to_string(),
            "ct_state=+est+trk,udp,reg2=0x7,tun_id=0x9,tun_ipv6_dst=::1,metadata=0x1/0xf,in_port=3,\
             dl_src=00:01:02:00:00:00/ff:ff:ff:00:00:00,nw_dst=10.0.0.0/8,tp_dst=53"
        );
        assert_eq!(parse(&m.to_string()), m);
        assert_eq!(
            m.mac(Field::EthSrc),
            Some(([0, 1, 2, 0, 0, 0], [0xff, 0xff, 0xff, 0, 0, 0]))
        );
        assert_eq!(m.metadata(), Some((1, 0xf)));
        assert_eq!(m.tun_id(), Some((9, u64::MAX)));
        m.remove(Field::UdpDst);
        assert_eq!(m.get(Field::UdpDst), None);
        assert!(m.set_reg(16, 1, None).is_err());
        assert_eq!(MatchError::DupCookie.code(), Some(BadMatchCode::DupField));
        assert_eq!(syntax("x").code(), None);
        assert_eq!(BadMatchCode::DupField.code(), 10);
        assert_eq!(BadMatchCode::BadPrereq.name(), "OFPBMC_BAD_PREREQ");
    }

    #[test]
    fn no_tag_in_oxm() {
        let m = parse("dl_vlan=0xffff");
        assert_eq!(m.to_string(), "vlan_tci=0x0000");
        let b = oxm(&m, Version::Of13);
        assert_eq!(&b[..10], &[0, 1, 0, 10, 0x80, 0, 0x0c, 2, 0, 0]);
        let back = Match::decode_oxm(&mut Reader::new(&b)).expect("decode");
        assert_eq!(back.vlan_tci(), Some((0, 0x1fff)));
    }

    #[test]
    fn pull_nxm_takes_the_padding() {
        let b = [0, 0, 0, 2, 0, 1, 0, 0, 9];
        let mut r = Reader::new(&b);
        let (m, c) = Match::pull_nxm(&mut r, 6, false).expect("pull");
        assert_eq!((m.in_port(), c, r.remaining()), (Some(1), None, 1));
        let mut r = Reader::new(&b[..7]);
        assert_eq!(
            Match::pull_nxm(&mut r, 6, false).map_err(|e| e.code()),
            Err(Some(BadMatchCode::BadLen))
        );
        assert_eq!(
            Match::new().encode_oxm(Version::Of10, &mut Writer::new()),
            Err(MatchError::NoOxm(Version::Of10))
        );
    }

    #[test]
    fn of10_wildcards_and_vlan_none() {
        let m = parse("dl_vlan=0xffff");
        assert_eq!(m.vlan_tci(), Some((0, 0xffff)));
        let mut w = Writer::new();
        m.encode_of10(&mut w).expect("of10");
        let b = w.into_vec();
        assert_eq!(&b[0..4], &[0x00, 0x38, 0x20, 0xfd]);
        assert_eq!(&b[18..20], &[0xff, 0xff]);
        assert_eq!(Match::decode_of10(&mut Reader::new(&b)), Ok(m));
        // Inapplicable fields are ignored, as OpenFlow 1.0 says.
        let mut b = [0u8; 40];
        b[0..4].copy_from_slice(&(OFPFW10_ALL & !OFPFW10_TP_DST & !OFPFW10_NW_TOS).to_be_bytes());
        b[38] = 80;
        assert_eq!(Match::decode_of10(&mut Reader::new(&b)), Ok(Match::new()));
    }
}
