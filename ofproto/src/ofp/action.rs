//! OpenFlow actions: one [`Action`] type for every OpenFlow version, its wire
//! codecs (OpenFlow 1.0, 1.3, 1.4, 1.5, Nicira and ONF extensions) and the
//! text syntax `ovs-ofctl` prints and parses.
//!
//! # Model
//!
//! [`Action`] follows Open vSwitch's `struct ofpact`: one variant per
//! semantic operation, whatever wire form it arrived in. Three consequences
//! are deliberate, because they are what `ovs-ofctl` and `ovs-vswitchd` do:
//!
//! - OpenFlow 1.0's typed set actions (`set_dl_src`, `set_nw_tos`,
//!   `set_tp_src`, `set_vlan_vid`, ...) decode into their own variants
//!   ([`Action::SetEthSrc`], [`Action::SetL4SrcPort`], ...), not into
//!   [`Action::SetField`]. OVS keeps them apart because they print
//!   differently (`mod_dl_src:` against `set_field:..->eth_src`) and some
//!   differ in meaning: `mod_vlan_vid` pushes a tag when there is none, and
//!   `mod_tp_src` sets whichever of TCP/UDP/SCTP the packet carries. They
//!   encode as Set-Field in OpenFlow 1.2+ and as themselves in 1.0, exactly
//!   as OVS does; [`Action::to_set_field`] gives the equivalent Set-Field
//!   where one exists. NXAST_REG_LOAD decodes into [`Action::SetField`] with
//!   a mask, as in OVS.
//! - Where OVS remembers which wire form an action came in (`ofpact.raw`) in
//!   order to print or re-encode it the same way, the variant carries a
//!   small `form` hint (e.g. [`SetFieldForm::RegLoad`] prints `load:`).
//! - OpenFlow 1.1+ instructions are items of the same ordered list
//!   ([`Action::Meter`], [`Action::ClearActions`], [`Action::WriteActions`],
//!   [`Action::WriteMetadata`], [`Action::GotoTable`]), so that one flow_mod
//!   type serves every version. [`super::instruction`] converts between such
//!   a list and the OpenFlow 1.1+ instruction encoding; in OpenFlow 1.0 the
//!   list is the action list, with `goto_table` sent as `resubmit(,N)` and
//!   `write_metadata` as NXAST_WRITE_METADATA, as OVS does.
//!
//! Unknown or unsupported actions are rejected with the OpenFlow error OVS
//! returns (there is no "unknown action" variant: OVS refuses such flows;
//! copy_ttl_in/out, which OVS does not implement, are OFPBAC_BAD_TYPE).
//! Decoding checks what OVS checks when it decodes. The checks that need
//! the flow's match (field prerequisites, OVS's `inconsistent_match`) are
//! [`check`], which the flow table runs as OVS runs
//! `ofpacts_check_consistency`; it also records the match facts encoding
//! needs ([`annotate`] records only those).
//!
//! # Where oxvs differs from OVS 3.1 on purpose
//!
//! - An unknown field in a set_field is OFPBAC_BAD_SET_TYPE; OVS answers
//!   BAD_SET_LEN or BAD_SET_TYPE depending on which bucket of its header
//!   hash table the unknown header falls in.
//! - In OpenFlow 1.0 a partial set_field (`set_field:10.0.0.0/8->ip_src`)
//!   is sent as NXAST_REG_LOAD, keeping its mask; OVS sends `set_nw_src`,
//!   which sets the whole field.
//! - OVS has a separate 32-bit `in_port_oxm` field that actions can name by
//!   the OXM_OF_IN_PORT header; here in_port is always OVS's 16-bit NXM
//!   field in actions, so subfields of OXM_OF_IN_PORT beyond 16 bits fail.
//! - `in_phy_port` and `ipv6_exthdr`, which the match table has but OVS
//!   does not, are unknown fields to actions, as they are to OVS.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::codec::{Mark, Reader, Writer};
use super::field::{self, Field, TlvHeader, Value};
use super::Version;

// ---------------------------------------------------------------------------
// Errors.

/// OFPET_BAD_ACTION codes (and the Nicira NXBAC_* codes OVS uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BadActionCode {
    BadType,
    BadLen,
    /// OFPBAC_BAD_VENDOR (BAD_EXPERIMENTER in OpenFlow 1.1+).
    BadExperimenter,
    /// OFPBAC_BAD_VENDOR_TYPE (BAD_EXP_TYPE in OpenFlow 1.1+).
    BadExpType,
    BadOutPort,
    BadArgument,
    EPerm,
    TooMany,
    BadQueue,
    BadOutGroup,
    MatchInconsistent,
    UnsupportedOrder,
    BadTag,
    BadSetType,
    BadSetLen,
    BadSetArgument,
    BadSetMask,
    BadMeter,
    /// NXBAC_MUST_BE_ZERO.
    NxMustBeZero,
    /// NXBAC_BAD_CONJUNCTION.
    NxBadConjunction,
    /// NXBAC_BAD_HEADER_TYPE.
    NxBadHeaderType,
    /// NXBAC_UNKNOWN_ED_PROP.
    NxUnknownEdProp,
    /// NXBAC_BAD_ED_PROP.
    NxBadEdProp,
}

impl BadActionCode {
    /// Open vSwitch's name for the error (`ovs-ofctl print-error` takes it).
    pub fn name(self) -> &'static str {
        use BadActionCode::*;
        match self {
            BadType => "OFPBAC_BAD_TYPE",
            BadLen => "OFPBAC_BAD_LEN",
            BadExperimenter => "OFPBAC_BAD_VENDOR",
            BadExpType => "OFPBAC_BAD_VENDOR_TYPE",
            BadOutPort => "OFPBAC_BAD_OUT_PORT",
            BadArgument => "OFPBAC_BAD_ARGUMENT",
            EPerm => "OFPBAC_EPERM",
            TooMany => "OFPBAC_TOO_MANY",
            BadQueue => "OFPBAC_BAD_QUEUE",
            BadOutGroup => "OFPBAC_BAD_OUT_GROUP",
            MatchInconsistent => "OFPBAC_MATCH_INCONSISTENT",
            UnsupportedOrder => "OFPBAC_UNSUPPORTED_ORDER",
            BadTag => "OFPBAC_BAD_TAG",
            BadSetType => "OFPBAC_BAD_SET_TYPE",
            BadSetLen => "OFPBAC_BAD_SET_LEN",
            BadSetArgument => "OFPBAC_BAD_SET_ARGUMENT",
            BadSetMask => "OFPBAC_BAD_SET_MASK",
            BadMeter => "OFPBAC_BAD_METER",
            NxMustBeZero => "NXBAC_MUST_BE_ZERO",
            NxBadConjunction => "NXBAC_BAD_CONJUNCTION",
            NxBadHeaderType => "NXBAC_BAD_HEADER_TYPE",
            NxUnknownEdProp => "NXBAC_UNKNOWN_ED_PROP",
            NxBadEdProp => "NXBAC_BAD_ED_PROP",
        }
    }
}

/// OFPET_BAD_INSTRUCTION codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BadInstructionCode {
    UnknownInst,
    UnsupInst,
    BadTableId,
    UnsupMetadata,
    UnsupMetadataMask,
    BadExperimenter,
    BadExpType,
    BadLen,
    EPerm,
    DupInst,
}

impl BadInstructionCode {
    pub fn name(self) -> &'static str {
        use BadInstructionCode::*;
        match self {
            UnknownInst => "OFPBIC_UNKNOWN_INST",
            UnsupInst => "OFPBIC_UNSUP_INST",
            BadTableId => "OFPBIC_BAD_TABLE_ID",
            UnsupMetadata => "OFPBIC_UNSUP_METADATA",
            UnsupMetadataMask => "OFPBIC_UNSUP_METADATA_MASK",
            BadExperimenter => "OFPBIC_BAD_EXPERIMENTER",
            BadExpType => "OFPBIC_BAD_EXP_TYPE",
            BadLen => "OFPBIC_BAD_LEN",
            EPerm => "OFPBIC_EPERM",
            DupInst => "OFPBIC_DUP_INST",
        }
    }
}

/// Errors from other OpenFlow error types that action decoding can raise,
/// because OVS raises them there too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OtherCode {
    /// OFPBRC_BAD_LEN: an action list whose length is not a multiple of 8.
    RequestBadLen,
    /// NXBRC_MUST_BE_ZERO: a reserved field of a Nicira action is nonzero.
    RequestMustBeZero,
    /// OFPBMC_BAD_LEN: a truncated NXM/OXM header inside an action.
    MatchBadLen,
    /// OFPBMC_BAD_FIELD: an unknown NXM/OXM header inside an action.
    MatchBadField,
    /// OFPBMC_BAD_MASK: a masked header where none is allowed.
    MatchBadMask,
    /// OFPBMC_BAD_WILDCARDS: a set_field value with bits outside its mask.
    MatchBadWildcards,
    /// OFPBPC_BAD_LEN: a malformed property (NXAST_CONTROLLER2).
    PropBadLen,
    /// OFPBPC_BAD_TYPE: an unknown property.
    PropBadType,
    /// OFPBPC_BAD_EXP_TYPE: an unknown experimenter property.
    PropBadExpType,
    /// OFPBPC_BAD_EXPERIMENTER: an experimenter property with id 0.
    PropBadExperimenter,
    /// OFPMMFC_INVALID_METER: meter id 0 or above OFPM_MAX (found by
    /// [`check`], not by decoding).
    InvalidMeter,
}

impl OtherCode {
    pub fn name(self) -> &'static str {
        use OtherCode::*;
        match self {
            RequestBadLen => "OFPBRC_BAD_LEN",
            RequestMustBeZero => "NXBRC_MUST_BE_ZERO",
            MatchBadLen => "OFPBMC_BAD_LEN",
            MatchBadField => "OFPBMC_BAD_FIELD",
            MatchBadMask => "OFPBMC_BAD_MASK",
            MatchBadWildcards => "OFPBMC_BAD_WILDCARDS",
            PropBadLen => "OFPBPC_BAD_LEN",
            PropBadType => "OFPBPC_BAD_TYPE",
            PropBadExpType => "OFPBPC_BAD_EXP_TYPE",
            PropBadExperimenter => "OFPBPC_BAD_EXPERIMENTER",
            InvalidMeter => "OFPMMFC_INVALID_METER",
        }
    }
}

/// Why actions (or instructions) could not be decoded, checked or encoded.
///
/// Decoding errors carry the OpenFlow error Open vSwitch would send for the
/// same bytes; [`ActionError::ofperr_name`] gives its OVS name, which
/// `error::OfpError::from_name` maps to the wire for any version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// OFPET_BAD_ACTION.
    #[error("{}: {reason}", .code.name())]
    BadAction { code: BadActionCode, reason: String },
    /// OFPET_BAD_INSTRUCTION.
    #[error("{}: {reason}", .code.name())]
    BadInstruction {
        code: BadInstructionCode,
        reason: String,
    },
    /// Another OpenFlow error type (bad request, bad match, bad property).
    #[error("{}: {reason}", .code.name())]
    Other { code: OtherCode, reason: String },
    /// The action exists but this version has no way to say it (OVS refuses
    /// such flows when it parses them, e.g. `push_vlan` in OpenFlow 1.0).
    #[error("{what} cannot be encoded in {}", .version.name())]
    Unencodable {
        what: &'static str,
        version: Version,
    },
}

impl ActionError {
    /// Open vSwitch's name for the OpenFlow error, e.g. `OFPBAC_BAD_LEN`;
    /// `None` for [`ActionError::Unencodable`], which is a local failure.
    pub fn ofperr_name(&self) -> Option<&'static str> {
        match self {
            ActionError::BadAction { code, .. } => Some(code.name()),
            ActionError::BadInstruction { code, .. } => Some(code.name()),
            ActionError::Other { code, .. } => Some(code.name()),
            ActionError::Unencodable { .. } => None,
        }
    }

    /// The OpenFlow error to send back for this one (`None` for
    /// [`ActionError::Unencodable`]).
    pub fn ofp_error(&self) -> Option<super::error::OfpError> {
        self.ofperr_name()
            .and_then(super::error::OfpError::from_name)
    }
}

pub(crate) fn bad(code: BadActionCode, reason: impl Into<String>) -> ActionError {
    ActionError::BadAction {
        code,
        reason: reason.into(),
    }
}

pub(crate) fn bad_inst(code: BadInstructionCode, reason: impl Into<String>) -> ActionError {
    ActionError::BadInstruction {
        code,
        reason: reason.into(),
    }
}

fn other(code: OtherCode, reason: impl Into<String>) -> ActionError {
    ActionError::Other {
        code,
        reason: reason.into(),
    }
}

fn bad_len(reason: impl Into<String>) -> ActionError {
    bad(BadActionCode::BadLen, reason)
}

fn bad_arg(reason: impl Into<String>) -> ActionError {
    bad(BadActionCode::BadArgument, reason)
}

fn must_be_zero(what: &str) -> ActionError {
    other(
        OtherCode::RequestMustBeZero,
        format!("{what}: reserved bytes are nonzero"),
    )
}

/// Why a string is not valid `ovs-ofctl` action syntax.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn perr(msg: impl Into<String>) -> ParseError {
    ParseError(msg.into())
}

// ---------------------------------------------------------------------------
// Ports.

/// OpenFlow port numbers, in the OpenFlow 1.1+ 32-bit space that every
/// [`Action`] uses. OpenFlow 1.0's 16-bit reserved ports (0xff00 and up) map
/// to 0xffffff00 and up, as OVS maps them (`ofputil_port_from_ofp11`).
pub mod port {
    /// Ports below this are physical or logical ports.
    pub const MAX: u32 = 0xffff_ff00;
    /// Only meaningful as an `actset_output` value.
    pub const UNSET: u32 = 0xffff_fff7;
    pub const IN_PORT: u32 = 0xffff_fff8;
    pub const TABLE: u32 = 0xffff_fff9;
    pub const NORMAL: u32 = 0xffff_fffa;
    pub const FLOOD: u32 = 0xffff_fffb;
    pub const ALL: u32 = 0xffff_fffc;
    pub const CONTROLLER: u32 = 0xffff_fffd;
    pub const LOCAL: u32 = 0xffff_fffe;
    /// OFPP_ANY (OFPP_NONE in OpenFlow 1.0).
    pub const ANY: u32 = 0xffff_ffff;

    const OF10_MAX: u16 = 0xff00;
    const OFFSET: u32 = 0xffff_0000;

    /// The port an OpenFlow 1.0 (or NXM 16-bit) port number means.
    pub fn from_of10(p: u16) -> u32 {
        if p < OF10_MAX {
            u32::from(p)
        } else {
            u32::from(p) + OFFSET
        }
    }

    /// The 16-bit form of `p`, if it has one (ports 0xff00..0xffffff00 do
    /// not).
    pub fn to_of10(p: u32) -> Option<u16> {
        if p < u32::from(OF10_MAX) {
            Some(p as u16)
        } else if p >= MAX {
            Some((p - OFFSET) as u16)
        } else {
            None
        }
    }

    /// Whether an OpenFlow 1.1+ wire port number is one OVS accepts.
    pub fn is_valid(p: u32) -> bool {
        to_of10(p).is_some()
    }

    /// OVS's `ofpact_check_output_port` (with no limit on physical ports):
    /// physical ports and the reserved ports an output may name.
    pub fn is_valid_output(p: u32) -> bool {
        matches!(
            p,
            IN_PORT | TABLE | NORMAL | FLOOD | ALL | CONTROLLER | LOCAL
        ) || p < MAX
    }

    /// The name OVS prints for a reserved port.
    pub fn name(p: u32) -> Option<&'static str> {
        Some(match p {
            UNSET => "UNSET",
            IN_PORT => "IN_PORT",
            TABLE => "TABLE",
            NORMAL => "NORMAL",
            FLOOD => "FLOOD",
            ALL => "ALL",
            CONTROLLER => "CONTROLLER",
            LOCAL => "LOCAL",
            ANY => "ANY",
            _ => return None,
        })
    }

    /// `ovs-ofctl`'s rendering: a reserved name, else the number as OVS's
    /// 16-bit port space has it.
    pub fn format(p: u32) -> String {
        match name(p) {
            Some(n) => n.to_string(),
            None => match to_of10(p) {
                Some(q) => q.to_string(),
                None => p.to_string(),
            },
        }
    }

    /// Parses a port as `ovs-ofctl` does (`ofputil_port_from_string`): a
    /// decimal number (16-bit, or a 32-bit reserved number) or a reserved
    /// port name in any case (`none` meaning ANY).
    pub fn parse(s: &str) -> Option<u32> {
        if s.starts_with('-') {
            return None;
        }
        // str_to_uint(s, 10): strtoll with C's leading spaces and sign.
        if let Some(v) = super::c_strtoll(s, 10) {
            if v < 0 || v > i128::from(u32::MAX) {
                return None;
            }
            let v = v as u64;
            if v <= 0xffff {
                return Some(from_of10(v as u16));
            }
            if v < u64::from(MAX) || v > u64::from(u32::MAX) {
                return None;
            }
            return Some(v as u32);
        }
        let names = [
            ("IN_PORT", IN_PORT),
            ("TABLE", TABLE),
            ("NORMAL", NORMAL),
            ("FLOOD", FLOOD),
            ("ALL", ALL),
            ("CONTROLLER", CONTROLLER),
            ("LOCAL", LOCAL),
            ("ANY", ANY),
            ("UNSET", UNSET),
            ("NONE", ANY),
        ];
        names
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|&(_, p)| p)
    }
}

// ---------------------------------------------------------------------------
// Fields as actions see them.
//
// OVS counts a few fields differently from the match table: its `in_port`
// is the 16-bit NXM field, `vlan_vid` has 12 bits (the OFPVID_PRESENT bit
// is outside the subfield range) and `ct_state` is a 32-bit field. Subfield
// ranges (`NXM_OF_IN_PORT[]`) and set-field widths follow OVS here.

/// Width in bits of a field, as subfields count it (OVS's `mf_field.n_bits`).
pub fn field_bits(f: Field) -> u16 {
    match f {
        Field::InPort => 16,
        Field::VlanVid => 12,
        Field::CtState => 32,
        _ => f.info().bits,
    }
}

/// Width in bytes of a field's value in a set-field or load action.
pub fn field_bytes(f: Field) -> usize {
    match f {
        Field::InPort => 2,
        _ => f.bytes(),
    }
}

/// Whether actions may write the field (OVS's `mf_field.writable`).
pub fn is_writable(f: Field) -> bool {
    use Field::*;
    !matches!(
        f,
        InPhyPort
            | EthType
            | IpProto
            | IpFrag
            | MplsBos
            | TcpFlags
            | ActsetOutput
            | PacketType
            | Ipv6Exthdr
            | ConjId
            | DpHash
            | RecircId
            | CtState
            | CtZone
            | CtNwProto
            | CtNwSrc
            | CtNwDst
            | CtIpv6Src
            | CtIpv6Dst
            | CtTpSrc
            | CtTpDst
    )
}

fn value_valid(f: Field, v: &[u8]) -> bool {
    match f {
        Field::InPort => v.len() == 2,
        _ => f.is_value_valid(v),
    }
}

/// The header OVS names a field by in NXM contexts and in subfield syntax
/// (`nxm_field_by_mf_id(id, 0)`): the first one listed.
fn nxm_hdr(f: Field) -> Option<&'static field::Header> {
    f.info().headers.first()
}

/// The header OVS writes for a field in OpenFlow `v` (`mf_oxm_header`): the
/// last one whose version allows it, NXM headers counting as oldest, else
/// the first.
fn oxm_hdr(f: Field, v: Version) -> Option<&'static field::Header> {
    // Actions write OVS's 16-bit in_port, which only has the NXM header.
    if f == Field::InPort {
        return nxm_hdr(f);
    }
    let hs = f.info().headers;
    let mut best = hs.first()?;
    for h in hs.iter().skip(1) {
        if h.since.is_none_or(|s| s <= v) {
            best = h;
        }
    }
    Some(best)
}

/// The 32-bit NXM header of a field, if it has one (experimenter OXM fields
/// do not). Used where the wire has a 32-bit field id.
fn nxm32(f: Field) -> Option<u32> {
    let h = nxm_hdr(f)?;
    if h.is_experimenter() {
        None
    } else {
        Some(h.tlv(false, h.len).to_u32())
    }
}

/// Writes a field's header with no value (`nx_put_mff_header`).
fn put_header(w: &mut Writer, f: Field, v: Option<Version>) -> Result<(), ActionError> {
    let h = match v {
        None => nxm_hdr(f),
        Some(v) => oxm_hdr(f, v),
    }
    .ok_or(ActionError::Unencodable {
        what: "a field with no wire header",
        version: Version::Of10,
    })?;
    h.tlv(false, h.len).emit(w);
    Ok(())
}

/// A field named by a 32-bit NXM header (`mf_from_nxm_header`): unknown
/// headers are OFPBAC_BAD_SET_TYPE.
fn field_from_nxm32(h: u32) -> Result<Field, ActionError> {
    let t = TlvHeader::from_u32(h);
    if t.class == field::class::EXPERIMENTER {
        return Err(bad(
            BadActionCode::BadSetType,
            format!("experimenter field {t} in a 32-bit header"),
        ));
    }
    lookup_header(&t).ok_or_else(|| bad(BadActionCode::BadSetType, format!("unknown field {t}")))
}

/// The field a header names, as OVS's `nxm_field_by_header` finds it: a
/// masked header by its exact form, then by class, field and experimenter
/// with the length's low 7 bits ignored; a fixed-width field must then have
/// its own length, a variable-length one (tun_metadata) any.
/// Whether OVS knows the field at all: the match table also has two
/// OpenFlow 1.3 fields OVS never implemented, which actions may not name.
fn ovs_knows(f: Field) -> bool {
    !matches!(f, Field::InPhyPort | Field::Ipv6Exthdr)
}

fn lookup_header(t: &TlvHeader) -> Option<Field> {
    let exp = t.header_len() - 4;
    let payload = usize::from(t.length).saturating_sub(exp);
    let exact = if t.hasmask { payload / 2 } else { payload } + exp;
    if exact >= 0x80 {
        return None;
    }
    let (f, hdr) = Field::from_id(t.id()).filter(|(f, _)| ovs_knows(*f))?;
    if f.info().variable || exact == usize::from(hdr.len) + exp {
        Some(f)
    } else {
        None
    }
}

/// Reads a field header with no value (`nx_pull_header`), as reg_move,
/// stack, output_reg2 and check_pkt_larger carry them. Errors are the match
/// errors OVS returns there.
fn pull_header(r: &mut Reader<'_>) -> Result<Field, ActionError> {
    let t =
        TlvHeader::parse(r).map_err(|_| other(OtherCode::MatchBadLen, "truncated field header"))?;
    let f = lookup_header(&t)
        .ok_or_else(|| other(OtherCode::MatchBadField, format!("unknown field {t}")))?;
    if t.hasmask {
        return Err(other(
            OtherCode::MatchBadMask,
            format!("masked field {t} not allowed here"),
        ));
    }
    Ok(f)
}

/// One NXM/OXM entry with its value and, when allowed, mask, as set_field
/// and reg_load2 carry them (`nx_pull_entry` for actions). Returns the field,
/// the header it came with, its value and its mask (all-ones if unmasked),
/// both as wide as [`field_bytes`].
fn pull_entry(
    r: &mut Reader<'_>,
    allow_mask: bool,
) -> Result<(Field, &'static field::Header, Value, Value), ActionError> {
    let t =
        TlvHeader::parse(r).map_err(|_| other(OtherCode::MatchBadLen, "truncated field header"))?;
    let payload_len = t.payload_len();
    let width = if t.hasmask {
        payload_len / 2
    } else {
        payload_len
    };
    // OVS looks masked headers up by their exact form, and by a key that
    // keeps the top bit of the length: an exact length of 128 or more names
    // no field at all.
    let exact_len = width + t.header_len() - 4;
    // And it reports a wrong length only for a nonzero one.
    let (f, hdr) = match Field::from_id(t.id()).filter(|(f, _)| ovs_knows(*f)) {
        Some(x) if exact_len < 0x80 && (exact_len > 0 || x.0.info().variable) => x,
        _ => return Err(bad(BadActionCode::BadSetType, format!("unknown field {t}"))),
    };
    let info = f.info();
    if !info.variable && width != usize::from(hdr.len) {
        return Err(bad(
            BadActionCode::BadSetLen,
            format!("field {t} has the wrong length"),
        ));
    }
    let payload = r
        .bytes(payload_len)
        .map_err(|_| other(OtherCode::MatchBadLen, format!("field {t} is truncated")))?;
    // A variable-length value longer than the field keeps its first bytes,
    // as OVS's copy_entry_value does.
    let keep = width.min(usize::from(hdr.len));
    let (v, rest) = payload.split_at(width);
    let m = &rest[..width.min(rest.len())];
    if t.hasmask && v.iter().zip(m).any(|(v, m)| v & !m != 0) {
        return Err(other(
            OtherCode::MatchBadWildcards,
            format!("value of {t} has bits outside its mask"),
        ));
    }
    if t.hasmask && !allow_mask {
        return Err(other(
            OtherCode::MatchBadMask,
            format!("masked {t} not allowed here"),
        ));
    }
    let n = if f == Field::InPort {
        usize::from(hdr.len)
    } else {
        field_bytes(f)
    };
    let value = right_align(&v[..keep], n);
    let mask = if t.hasmask {
        right_align(&m[..keep.min(m.len())], n)
    } else {
        Value::ones(n)
    };
    Ok((f, hdr, value, mask))
}

fn right_align(b: &[u8], n: usize) -> Value {
    if b.len() >= n {
        Value::from_slice(&b[b.len() - n..])
    } else {
        let mut v = vec![0u8; n - b.len()];
        v.extend_from_slice(b);
        Value::from_slice(&v)
    }
}

/// Writes an NXM/OXM entry (`nx_put_entry`): variable-length fields take
/// the shortest width that keeps their value and mask.
fn put_entry(
    w: &mut Writer,
    f: Field,
    v: Option<Version>,
    value: &Value,
    mask: &Value,
) -> Result<(), ActionError> {
    let h = match v {
        None => nxm_hdr(f),
        Some(v) => oxm_hdr(f, v),
    }
    .ok_or(ActionError::Unencodable {
        what: "a field with no wire header",
        version: Version::Of10,
    })?;
    let masked = !mask.is_all_ones();
    let n = value.len();
    // The bytes of `b` from its `len`th last, zero-extended on the left if
    // `b` is shorter (a caller's mask of the wrong width).
    let tail = |b: &[u8], len: usize| -> Vec<u8> {
        let mut v = vec![0u8; len.saturating_sub(b.len())];
        v.extend_from_slice(&b[b.len().saturating_sub(len)..]);
        v
    };
    let significant = |b: &[u8]| b.len() - b.iter().take_while(|&&x| x == 0).count();
    let len = if f.info().variable {
        let vl = significant(value.as_slice());
        if masked {
            vl.max(significant(mask.as_slice()))
        } else {
            vl
        }
    } else {
        n
    };
    h.tlv(masked, len as u8).emit(w);
    w.bytes(&tail(value.as_slice(), len));
    if masked {
        w.bytes(&tail(mask.as_slice(), len));
    }
    Ok(())
}

/// `bits` bits of a field, starting `ofs` bits from its least significant
/// end, as `NXM_NX_REG0[0..15]` writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubField {
    pub field: Field,
    pub ofs: u16,
    pub n_bits: u16,
}

impl SubField {
    /// The whole of `field`.
    pub fn whole(field: Field) -> SubField {
        SubField {
            field,
            ofs: 0,
            n_bits: field_bits(field),
        }
    }

    pub fn is_whole(&self) -> bool {
        self.ofs == 0 && self.n_bits == field_bits(self.field)
    }

    /// OVS's `mf_check_src`, without a match: the range lies in the field.
    pub fn check_src(&self) -> Result<(), ActionError> {
        let width = field_bits(self.field);
        if self.n_bits == 0 {
            return Err(bad(
                BadActionCode::BadSetLen,
                format!("zero-bit subfield of {}", self.field),
            ));
        }
        if self.ofs >= width || u32::from(self.ofs) + u32::from(self.n_bits) > u32::from(width) {
            return Err(bad(
                BadActionCode::BadSetLen,
                format!(
                    "bits {}+{} exceed the {width}-bit field {}",
                    self.ofs, self.n_bits, self.field
                ),
            ));
        }
        Ok(())
    }

    /// OVS's `mf_check_dst`, without a match: also the field is writable.
    pub fn check_dst(&self) -> Result<(), ActionError> {
        self.check_src()?;
        if !is_writable(self.field) {
            return Err(bad(
                BadActionCode::BadSetArgument,
                format!("{} is not writable", self.field),
            ));
        }
        Ok(())
    }

    /// The 16-bit `ofs_nbits` encoding of NXAST_REG_LOAD and friends.
    fn ofs_nbits(&self) -> u16 {
        (self.ofs << 6) | (self.n_bits.wrapping_sub(1) & 0x3f)
    }

    fn from_ofs_nbits(field: Field, v: u16) -> SubField {
        SubField {
            field,
            ofs: v >> 6,
            n_bits: (v & 0x3f) + 1,
        }
    }

    /// Parses the front of `s` (`mf_parse_subfield__`), returning the rest.
    fn parse_prefix(s: &str) -> Result<(SubField, &str), ParseError> {
        let name_len = s.find(['[', '-']).unwrap_or(s.len());
        let name = &s[..name_len];
        let field = Field::from_header_name(name)
            .map(|(f, _, _)| f)
            .or_else(|| Field::from_name(name))
            .filter(|f| ovs_knows(*f))
            .ok_or_else(|| perr(format!("{s}: unknown field `{name}'")))?;
        let width = field_bits(field);
        let mut rest = &s[name_len..];
        let (mut start, mut end) = (0u32, u32::from(width).saturating_sub(1));
        if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| {
                perr(format!(
                    "{s}: syntax error expecting [] or [<bit>] or [<start>..<end>]"
                ))
            })?;
            let inner = &r[..close];
            let syntax = || {
                perr(format!(
                    "{s}: syntax error expecting [] or [<bit>] or [<start>..<end>]"
                ))
            };
            if inner.is_empty() {
            } else if let Some((a, b)) = inner.split_once("..") {
                start = a.trim().parse().map_err(|_| syntax())?;
                end = b.trim().parse().map_err(|_| syntax())?;
            } else {
                start = inner.trim().parse().map_err(|_| syntax())?;
                end = start;
            }
            rest = &r[close + 1..];
        }
        if start > end {
            return Err(perr(format!(
                "{s}: starting bit {start} is after ending bit {end}"
            )));
        }
        if start >= u32::from(width) {
            return Err(perr(format!(
                "{s}: starting bit {start} is not valid because field is only {width} bits wide"
            )));
        }
        if end >= u32::from(width) {
            return Err(perr(format!(
                "{s}: ending bit {end} is not valid because field is only {width} bits wide"
            )));
        }
        Ok((
            SubField {
                field,
                ofs: start as u16,
                n_bits: (end - start + 1) as u16,
            },
            rest,
        ))
    }
}

impl fmt::Display for SubField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match nxm_hdr(self.field) {
            Some(h) => f.write_str(h.name)?,
            None => f.write_str(self.field.name())?,
        }
        if self.is_whole() {
            f.write_str("[]")
        } else if self.n_bits == 1 {
            write!(f, "[{}]", self.ofs)
        } else {
            // A zero-bit subfield (only a learn spec can carry one) prints
            // as OVS prints it, end before start.
            let end = i64::from(self.ofs) + i64::from(self.n_bits) - 1;
            write!(f, "[{}..{end}]", self.ofs)
        }
    }
}

impl FromStr for SubField {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<SubField, ParseError> {
        let (sf, rest) = SubField::parse_prefix(s)?;
        if !rest.is_empty() {
            return Err(perr(format!(
                "{s}: unexpected input following field syntax"
            )));
        }
        Ok(sf)
    }
}

// ---------------------------------------------------------------------------
// Field values in text (OVS's `mf_format` and `mf_parse`).

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Dec,
    Hex,
    Eth,
    Ipv4,
    Ipv6,
    Port16,
    Port32,
    TunFlags,
}

fn style(f: Field) -> Style {
    use Field::*;
    match f {
        InPort => Style::Port16,
        InPhyPort | ActsetOutput => Style::Port32,
        EthSrc | EthDst | ArpSha | ArpTha | NdSll | NdTll => Style::Eth,
        Ipv4Src | Ipv4Dst | ArpSpa | ArpTpa | TunSrc | TunDst | CtNwSrc | CtNwDst => Style::Ipv4,
        Ipv6Src | Ipv6Dst | NdTarget | TunIpv6Src | TunIpv6Dst | CtIpv6Src | CtIpv6Dst => {
            Style::Ipv6
        }
        TunFlags => Style::TunFlags,
        VlanVid | VlanPcp | IpDscp | NwTos | IpEcn | IpProto | NwTtl | TcpSrc | TcpDst | UdpSrc
        | UdpDst | SctpSrc | SctpDst | Icmpv4Type | Icmpv4Code | Icmpv6Type | Icmpv6Code
        | ArpOp | MplsLabel | MplsTc | MplsBos | MplsTtl | TunGbpId | ConjId | RecircId
        | CtNwProto | CtTpSrc | CtTpDst => Style::Dec,
        // Hexadecimal in OVS; also the fallback for the flag fields (ct_state,
        // tcp_flags, ip_frag, packet_type) that OVS prints by name, which only
        // a learn action's immediate match can carry.
        _ => Style::Hex,
    }
}

/// `ds_put_hex`: `0x` and the value without leading zeros, or `0`.
fn put_hex(out: &mut String, b: &[u8]) {
    let mut started = false;
    for &x in b {
        if started {
            out.push_str(&format!("{x:02x}"));
        } else if x != 0 {
            out.push_str(&format!("0x{x:x}"));
            started = true;
        }
    }
    if !started {
        out.push('0');
    }
}

fn hex_string(b: &[u8]) -> String {
    let mut s = String::new();
    put_hex(&mut s, b);
    s
}

fn be_uint(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
}

fn cidr_bits(mask: &[u8]) -> Option<u32> {
    let ones: u32 = mask.iter().map(|b| b.count_ones()).sum();
    let total = mask.len() * 8;
    for i in 0..total {
        let bit = mask[i / 8] & (0x80 >> (i % 8)) != 0;
        if bit != ((i as u32) < ones) {
            return None;
        }
    }
    Some(ones)
}

fn fmt_mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ipv6_of(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    let n = b.len().min(16);
    a[16 - n..].copy_from_slice(&b[b.len() - n..]);
    Ipv6Addr::from(a)
}

fn ipv4_of(b: &[u8]) -> Ipv4Addr {
    let mut a = [0u8; 4];
    let n = b.len().min(4);
    a[4 - n..].copy_from_slice(&b[b.len() - n..]);
    Ipv4Addr::from(a)
}

/// A field value (and mask, `None` meaning exact) as OVS prints it.
fn format_value(f: Field, value: &[u8], mask: Option<&[u8]>) -> String {
    let mask = match mask {
        Some(m) if m.iter().all(|&b| b == 0) => return "ANY".to_string(),
        Some(m) if m.iter().all(|&b| b == 0xff) => None,
        m => m,
    };
    let mut s = String::new();
    match (style(f), mask) {
        (Style::Port16, None) => s.push_str(&port::format(port::from_of10(be_uint(value) as u16))),
        (Style::Port32, None) => s.push_str(&port::format(be_uint(value) as u32)),
        (Style::Dec | Style::Port16 | Style::Port32, m) => {
            s.push_str(&(be_uint(value) as u64).to_string());
            if let Some(m) = m {
                s.push('/');
                put_hex(&mut s, m);
            }
        }
        (Style::Hex, m) => {
            put_hex(&mut s, value);
            if let Some(m) = m {
                s.push('/');
                put_hex(&mut s, m);
            }
        }
        (Style::Eth, m) => {
            s.push_str(&fmt_mac(value));
            if let Some(m) = m {
                s.push('/');
                s.push_str(&fmt_mac(m));
            }
        }
        (Style::Ipv4, m) => {
            s.push_str(&ipv4_of(value).to_string());
            if let Some(m) = m {
                match cidr_bits(m) {
                    Some(n) => s.push_str(&format!("/{n}")),
                    None => s.push_str(&format!("/{}", ipv4_of(m))),
                }
            }
        }
        (Style::Ipv6, m) => {
            s.push_str(&ipv6_of(value).to_string());
            if let Some(m) = m {
                match cidr_bits(m) {
                    Some(n) => s.push_str(&format!("/{n}")),
                    None => s.push_str(&format!("/{}", ipv6_of(m))),
                }
            }
        }
        (Style::TunFlags, m) => {
            // Only the OAM bit is public (FLOW_TNL_PUB_F_MASK).
            let v = be_uint(value) as u32;
            let m = m.map_or(1, |m| be_uint(m) as u32 & 1);
            if m == 1 {
                if v == 0 {
                    s.push('0');
                } else {
                    let mut parts = Vec::new();
                    if v & 1 != 0 {
                        parts.push("oam".to_string());
                    }
                    if v & !1 != 0 {
                        parts.push(format!("0x{:x}", v & !1));
                    }
                    s.push_str(&parts.join("|"));
                }
            } else if m == 0 {
                s.push_str("0/0");
            }
        }
    }
    s
}

/// OVS's `parse_int_string`: `0x` hex of any length that fits, or a C
/// integer (decimal, or octal with a leading 0), into `width` big-endian
/// bytes. Returns the bytes and the unparsed rest.
fn parse_int_prefix(s: &str, width: usize) -> Result<(Vec<u8>, &str), String> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        let n = hex.bytes().take_while(|b| b.is_ascii_hexdigit()).count();
        let digits = hex[..n].trim_start_matches('0');
        if digits.len().div_ceil(2) > width {
            return Err(format!("{s}: value too large for {width}-byte field"));
        }
        let mut out = vec![0u8; width];
        for (i, c) in digits.bytes().rev().enumerate() {
            let d = (c as char).to_digit(16).unwrap_or(0) as u8;
            let idx = width - 1 - i / 2;
            out[idx] |= if i % 2 == 0 { d } else { d << 4 };
        }
        return Ok((out, &hex[n..]));
    }
    let (v, rest) = parse_c_uint(s).ok_or_else(|| format!("{s}: cannot parse integer"))?;
    if width < 16 && v >> (width * 8) != 0 {
        return Err(format!("{s}: value too large for {width}-byte field"));
    }
    let b = v.to_be_bytes();
    let mut out = vec![0u8; width];
    let n = width.min(16);
    out[width - n..].copy_from_slice(&b[16 - n..]);
    Ok((out, rest))
}

/// strtoull with base 0 on the front of `s`: decimal, `0x` hex or
/// leading-0 octal. Returns the value and the rest.
fn parse_c_uint(s: &str) -> Option<(u128, &str)> {
    let (radix, body) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.starts_with('0') && s.len() > 1 && s.as_bytes()[1].is_ascii_digit() {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let n = body
        .bytes()
        .take_while(|b| (*b as char).is_digit(radix))
        .count();
    if n == 0 {
        return if radix == 8 || (radix == 10 && s.starts_with('0')) {
            Some((0, &s[1..]))
        } else {
            None
        };
    }
    let v = u128::from_str_radix(&body[..n], radix).ok()?;
    Some((v, &body[n..]))
}

fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// C's `strtoll`/`strtoull` over all of `s` (OVS's `str_to_*` helpers):
/// leading white space, a sign, then digits in `base` (0: by C prefix).
/// `None` if no digits, trailing text or overflow past 64 bits.
fn c_strtoll(s: &str, base: u32) -> Option<i128> {
    let t = s.trim_start_matches(is_c_space);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let hex_prefix = |t: &str| {
        (t.starts_with("0x") || t.starts_with("0X"))
            && t.as_bytes().get(2).is_some_and(u8::is_ascii_hexdigit)
    };
    let (radix, body) = match base {
        0 if hex_prefix(t) => (16, &t[2..]),
        0 if t.starts_with('0') => (8, t),
        0 => (10, t),
        16 if hex_prefix(t) => (16, &t[2..]),
        b => (b, t),
    };
    let n = body
        .bytes()
        .take_while(|b| (*b as char).is_digit(radix))
        .count();
    if n == 0 || n != body.len() {
        return None;
    }
    let v = u128::from_str_radix(body, radix).ok()?;
    if v > u128::from(u64::MAX) {
        return None;
    }
    Some(if neg { -(v as i128) } else { v as i128 })
}

/// `str_to_u8`/`str_to_u16`: a C `int` in range.
fn parse_small(s: &str, what: &str, max: i128) -> Result<i128, ParseError> {
    match c_strtoll(s, 0) {
        Some(v) if (0..=max).contains(&v) => Ok(v),
        _ => Err(perr(format!("invalid {what} \"{s}\""))),
    }
}

fn parse_u8(s: &str, what: &str) -> Result<u8, ParseError> {
    parse_small(s, what, 0xff).map(|v| v as u8)
}

fn parse_u16(s: &str, what: &str) -> Result<u16, ParseError> {
    parse_small(s, what, 0xffff).map(|v| v as u16)
}

/// `str_to_u64`: C's `strtoull`, where a minus sign wraps.
fn parse_u64(s: &str) -> Result<u64, ParseError> {
    if s.is_empty() {
        return Err(perr("missing required numeric argument"));
    }
    c_strtoll(s, 0)
        .map(|v| v as u64)
        .ok_or_else(|| perr(format!("invalid numeric format {s}")))
}

/// `str_to_u32`: C's `strtoul` stored in 32 bits, so larger values wrap
/// as they do in OVS.
fn parse_u32(s: &str) -> Result<u32, ParseError> {
    parse_u64(s).map(|v| v as u32)
}

/// OVS's `ovs_scan` integer conversion at the front of `s`: spaces, a sign,
/// `0x` for hex, digits (wrapping, as C's narrow conversions store them).
fn scan_int(s: &str, base: u32) -> Option<(u64, &str)> {
    let t = s.trim_start_matches(is_c_space);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, t) = if (base == 0 || base == 16) && (t.starts_with("0x") || t.starts_with("0X")) {
        (16, &t[2..])
    } else if base == 0 {
        (if t.starts_with('0') { 8 } else { 10 }, t)
    } else {
        (base, t)
    };
    let n = t
        .bytes()
        .take_while(|b| (*b as char).is_digit(radix))
        .count();
    if n == 0 {
        return None;
    }
    let v = t[..n].bytes().fold(0u64, |acc, b| {
        acc.wrapping_mul(u64::from(radix))
            .wrapping_add(u64::from((b as char).to_digit(radix).unwrap_or(0)))
    });
    Some((if neg { v.wrapping_neg() } else { v }, &t[n..]))
}

/// `ETH_ADDR_SCAN_FMT`: six `%hhx` separated by colons.
fn scan_mac(s: &str) -> Option<([u8; 6], &str)> {
    let mut m = [0u8; 6];
    let mut rest = s;
    for (i, x) in m.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(':')?;
        }
        let (v, r) = scan_int(rest, 16)?;
        *x = v as u8;
        rest = r;
    }
    Some((m, rest))
}

/// `IP_SCAN_FMT`: four `%hhu` separated by dots.
fn scan_ipv4(s: &str) -> Option<([u8; 4], &str)> {
    let mut a = [0u8; 4];
    let mut rest = s;
    for (i, x) in a.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('.')?;
        }
        let (v, r) = scan_int(rest, 10)?;
        *x = v as u8;
        rest = r;
    }
    Some((a, rest))
}

/// C's `atoi`: leading decimal digits, 0 if none.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let n = body.bytes().take_while(|b| b.is_ascii_digit()).count();
    let v: i64 = body[..n].parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// A whole Ethernet address, as `mf_from_ethernet_string` scans one.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    match scan_mac(s)? {
        (m, "") => Some(m),
        _ => None,
    }
}

fn prefix_mask(bits: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let lo = (i * 8) as u32;
            if bits >= lo + 8 {
                0xff
            } else if bits <= lo {
                0
            } else {
                0xffu8 << (8 - (bits - lo))
            }
        })
        .collect()
}

/// A field value and mask from text (`mf_parse`), both [`field_bytes`]
/// wide.
fn parse_value(f: Field, s: &str) -> Result<(Value, Value), ParseError> {
    let n = field_bytes(f);
    if s == "*" {
        return Ok((Value::zeros(n), Value::zeros(n)));
    }
    let err = |what: &str| perr(format!("{s}: invalid {what} for {}", f.name()));
    match style(f) {
        Style::Dec | Style::Hex => {
            let (v, rest) = parse_int_prefix(s, n).map_err(perr)?;
            let m = match rest.strip_prefix('/') {
                Some(ms) => {
                    let (m, rest) = parse_int_prefix(ms, n).map_err(perr)?;
                    if !rest.is_empty() {
                        return Err(perr(format!("{s}: bad syntax for {} mask", f.name())));
                    }
                    m
                }
                None if rest.is_empty() => vec![0xff; n],
                None => return Err(perr(format!("{s}: bad syntax for {} value", f.name()))),
            };
            Ok((Value::from_slice(&v), Value::from_slice(&m)))
        }
        Style::Port16 => {
            let p = port::parse(s)
                .and_then(port::to_of10)
                .ok_or_else(|| err("port"))?;
            Ok((Value::from(p), Value::ones(2)))
        }
        Style::Port32 => {
            let p = port::parse(s).ok_or_else(|| err("port"))?;
            Ok((Value::from(p), Value::ones(4)))
        }
        Style::Eth => {
            let (v, m) = match s.split_once('/') {
                Some((v, m)) => (parse_mac(v), parse_mac(m)),
                None => (parse_mac(s), Some([0xff; 6])),
            };
            match (v, m) {
                (Some(v), Some(m)) => Ok((Value::from(v), Value::from(m))),
                _ => Err(perr(format!("{s}: invalid Ethernet address"))),
            }
        }
        Style::Ipv4 => {
            // ip_parse_masked: IP/IP, IP/prefix or IP, scanned as %hhu.
            let (ip, rest) = scan_ipv4(s).ok_or_else(|| err("IP address"))?;
            let mask = match rest.strip_prefix('/') {
                None if rest.is_empty() => vec![0xff; 4],
                None => return Err(err("IP address")),
                Some(m) => match scan_ipv4(m) {
                    Some((m, "")) => m.to_vec(),
                    _ => match scan_int(m, 10) {
                        Some((bits, "")) if (bits as i32) >= 0 && (bits as i32) <= 32 => {
                            prefix_mask(bits as u32, 4)
                        }
                        _ => return Err(err("IP mask")),
                    },
                },
            };
            Ok((Value::from_slice(&ip), Value::from_slice(&mask)))
        }
        Style::Ipv6 => {
            let (a, m) = s.split_once('/').map_or((s, None), |(a, m)| (a, Some(m)));
            let ip: Ipv6Addr = a.parse().map_err(|_| err("IPv6 address"))?;
            let mask = match m {
                None => vec![0xff; 16],
                Some(m) => match m.parse::<Ipv6Addr>() {
                    Ok(m) => m.octets().to_vec(),
                    Err(_) => match m.parse::<u32>() {
                        Ok(bits) if bits <= 128 => prefix_mask(bits, 16),
                        _ => return Err(err("IPv6 mask")),
                    },
                },
            };
            Ok((Value::from_slice(&ip.octets()), Value::from_slice(&mask)))
        }
        Style::TunFlags => {
            let mut v = 0u16;
            for part in s.split('|') {
                if part.eq_ignore_ascii_case("oam") {
                    v |= 1;
                } else {
                    v |= parse_u16(part, "tunnel flags")?;
                }
            }
            Ok((Value::from(v), Value::ones(2)))
        }
    }
}

// ---------------------------------------------------------------------------
// The action types.

/// How a [`SetField`] came in, which is how OVS prints and re-encodes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SetFieldForm {
    /// OFPAT_SET_FIELD or `set_field:` text: printed as `set_field:`, sent as
    /// Set-Field where the version allows the mask.
    #[default]
    SetField,
    /// NXAST_REG_LOAD or `load:` text: printed as `load:`, sent as
    /// NXAST_REG_LOAD in OpenFlow 1.0-1.4.
    RegLoad,
    /// NXAST_REG_LOAD2: printed as `set_field:`, sent as NXAST_REG_LOAD2 in
    /// OpenFlow 1.0-1.4.
    RegLoad2,
}

/// Sets the bits of `field` that `mask` selects to those of `value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SetField {
    pub field: Field,
    /// [`field_bytes`] wide.
    pub value: Value,
    /// As wide as `value`; all-ones to set the whole field.
    pub mask: Value,
    pub form: SetFieldForm,
}

impl SetField {
    /// Sets the whole field. `value` must be [`field_bytes`] wide.
    pub fn new(field: Field, value: Value) -> SetField {
        let mask = Value::ones(value.len());
        SetField {
            field,
            value,
            mask,
            form: SetFieldForm::SetField,
        }
    }

    /// `load:value->dst`: sets the bits of a subfield, as NXAST_REG_LOAD.
    pub fn load(dst: SubField, value: u128) -> SetField {
        let n = field_bytes(dst.field);
        let mut v = vec![0u8; n];
        let mut m = vec![0u8; n];
        for i in 0..usize::from(dst.n_bits) {
            let bit = usize::from(dst.ofs) + i;
            if bit >= n * 8 {
                break;
            }
            let byte = n - 1 - bit / 8;
            m[byte] |= 1 << (bit % 8);
            if i < 128 && (value >> i) & 1 == 1 {
                v[byte] |= 1 << (bit % 8);
            }
        }
        SetField {
            field: dst.field,
            value: Value::from_slice(&v),
            mask: Value::from_slice(&m),
            form: SetFieldForm::RegLoad,
        }
    }

    pub fn is_whole(&self) -> bool {
        self.mask.is_all_ones()
    }

    /// The contiguous runs of mask bits, at most 64 bits each, with their
    /// values: the NXAST_REG_LOAD actions OVS splits this into
    /// (`next_load_segment`).
    pub fn load_segments(&self) -> Vec<(SubField, u64)> {
        let n_bits = usize::from(field_bits(self.field));
        let m = self.mask.as_slice();
        let v = self.value.as_slice();
        let bit = |b: &[u8], i: usize| -> bool {
            i < b.len() * 8 && b[b.len() - 1 - i / 8] & (1 << (i % 8)) != 0
        };
        let mut out = Vec::new();
        let mut i = 0;
        while i < n_bits {
            if !bit(m, i) {
                i += 1;
                continue;
            }
            let start = i;
            let mut value = 0u64;
            while i < n_bits && i - start < 64 && bit(m, i) {
                if bit(v, i) {
                    value |= 1 << (i - start);
                }
                i += 1;
            }
            out.push((
                SubField {
                    field: self.field,
                    ofs: start as u16,
                    n_bits: (i - start) as u16,
                },
                value,
            ));
        }
        out
    }
}

/// Where a `ct` action takes its zone from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtZone {
    Imm(u16),
    /// A 16-bit subfield.
    Field(SubField),
}

/// NXAST_CT: send the packet through the connection tracker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ct {
    /// `CT_COMMIT`, `CT_FORCE`; other bits are kept as they came.
    pub flags: u16,
    pub zone: CtZone,
    /// Table to resubmit to afterwards (`None`: no recirculation, 255 on the
    /// wire).
    pub table: Option<u8>,
    /// Application-layer gateway: 0, 21 (ftp) or 69 (tftp).
    pub alg: u16,
    /// Nested actions: [`Action::Nat`] and set-fields of `ct_mark` and
    /// `ct_label`.
    pub actions: Vec<Action>,
}

impl Ct {
    pub const COMMIT: u16 = 1 << 0;
    pub const FORCE: u16 = 1 << 1;
}

/// The address range of a `nat` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatAddrs {
    None,
    V4 {
        min: Ipv4Addr,
        max: Option<Ipv4Addr>,
    },
    V6 {
        min: Ipv6Addr,
        max: Option<Ipv6Addr>,
    },
}

/// NXAST_NAT (only inside `ct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nat {
    /// `Nat::SRC`, `DST`, `PERSISTENT`, `PROTO_HASH`, `PROTO_RANDOM`.
    pub flags: u16,
    pub addrs: NatAddrs,
    /// Port range; only meaningful with an address range.
    pub ports: Option<(u16, Option<u16>)>,
}

impl Nat {
    pub const SRC: u16 = 1 << 0;
    pub const DST: u16 = 1 << 1;
    pub const PERSISTENT: u16 = 1 << 2;
    pub const PROTO_HASH: u16 = 1 << 3;
    pub const PROTO_RANDOM: u16 = 1 << 4;
    const ALL: u16 = 0x1f;
}

/// Which wire action a [`Controller`] came as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ControllerForm {
    #[default]
    Controller,
    /// NXAST_CONTROLLER2 (properties); also chosen whenever userdata, pause
    /// or a meter is present.
    Controller2,
}

/// NXAST_CONTROLLER / NXAST_CONTROLLER2: send to controllers with options
/// that OFPAT_OUTPUT to CONTROLLER cannot carry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Controller {
    pub max_len: u16,
    pub controller_id: u16,
    /// OFPR_* (1 = action).
    pub reason: u8,
    pub userdata: Vec<u8>,
    pub pause: bool,
    /// 0 = no meter.
    pub meter_id: u32,
    pub form: ControllerForm,
}

impl Default for Controller {
    fn default() -> Controller {
        Controller {
            max_len: u16::MAX,
            controller_id: 0,
            reason: 1,
            userdata: Vec::new(),
            pause: false,
            meter_id: 0,
            form: ControllerForm::Controller,
        }
    }
}

/// Flow fields hashed by `bundle` and `multipath` (NX_HASH_FIELDS_*).
pub mod hash_fields {
    pub const ETH_SRC: u16 = 0;
    pub const SYMMETRIC_L4: u16 = 1;
    pub const SYMMETRIC_L3L4: u16 = 2;
    pub const SYMMETRIC_L3L4_UDP: u16 = 3;
    pub const NW_SRC: u16 = 4;
    pub const NW_DST: u16 = 5;
    pub const SYMMETRIC_L3: u16 = 6;

    pub(super) const NAMES: [&str; 7] = [
        "eth_src",
        "symmetric_l4",
        "symmetric_l3l4",
        "symmetric_l3l4+udp",
        "nw_src",
        "nw_dst",
        "symmetric_l3",
    ];

    pub fn name(f: u16) -> &'static str {
        NAMES.get(usize::from(f)).copied().unwrap_or("<unknown>")
    }

    pub fn is_valid(f: u16) -> bool {
        usize::from(f) < NAMES.len()
    }
}

/// NXAST_BUNDLE and NXAST_BUNDLE_LOAD: choose a member port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bundle {
    /// [`hash_fields`].
    pub fields: u16,
    pub basis: u16,
    /// `Bundle::ACTIVE_BACKUP` or `Bundle::HRW`.
    pub algorithm: u16,
    pub members: Vec<u32>,
    /// `bundle_load`: where to store the choice; `None` for `bundle`.
    pub dst: Option<SubField>,
}

impl Bundle {
    pub const ACTIVE_BACKUP: u16 = 0;
    pub const HRW: u16 = 1;
    /// OVS's BUNDLE_MAX_MEMBERS.
    pub const MAX_MEMBERS: usize = 2048;
}

/// NXAST_MULTIPATH: hash the flow and store a link number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Multipath {
    pub fields: u16,
    pub basis: u16,
    /// `Multipath::MODULO_N`, `HASH_THRESHOLD`, `HRW` or `ITER_HASH`.
    pub algorithm: u16,
    /// Number of links minus 1.
    pub max_link: u16,
    pub arg: u32,
    pub dst: SubField,
}

impl Multipath {
    pub const MODULO_N: u16 = 0;
    pub const HASH_THRESHOLD: u16 = 1;
    pub const HRW: u16 = 2;
    pub const ITER_HASH: u16 = 3;
}

/// Which packets a `sample` action observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SampleDirection {
    #[default]
    Default,
    Ingress,
    Egress,
}

/// Which NXAST_SAMPLE version a [`Sample`] came as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SampleForm {
    #[default]
    Sample,
    Sample2,
    Sample3,
}

/// NXAST_SAMPLE{,2,3}: sample packets to IPFIX collectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sample {
    /// Packets sampled out of 65535; never 0.
    pub probability: u16,
    pub collector_set_id: u32,
    pub obs_domain_id: u32,
    pub obs_point_id: u32,
    /// [`port::ANY`] for none.
    pub sampling_port: u32,
    pub direction: SampleDirection,
    pub form: SampleForm,
}

/// The source of a learn spec.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LearnSrc {
    /// `n_bits` bits of a field of the packet, from bit `ofs`.
    Field { field: Field, ofs: u16 },
    /// A constant, big-endian, `ceil(n_bits / 8)` bytes.
    Immediate(Vec<u8>),
}

/// What a learn spec does with its source bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LearnDst {
    /// Match on `n_bits` bits of a field in the learned flow.
    Match { field: Field, ofs: u16 },
    /// Load them into a field (an action of the learned flow).
    Load { field: Field, ofs: u16 },
    /// Output to the port they name (a field source only).
    Output,
}

/// One flow_mod_spec of a learn action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LearnSpec {
    /// Bits copied (1..=1023 on the wire).
    pub n_bits: u16,
    pub src: LearnSrc,
    pub dst: LearnDst,
}

/// Which NXAST_LEARN version a [`Learn`] came as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LearnForm {
    #[default]
    Learn,
    /// NXAST_LEARN2; also chosen whenever `limit` or `result_dst` is set.
    Learn2,
}

/// NXAST_LEARN / NXAST_LEARN2: add or modify a flow built from the packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Learn {
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub cookie: u64,
    /// `Learn::SEND_FLOW_REM`, `DELETE_LEARNED`, `WRITE_RESULT`.
    pub flags: u16,
    pub table: u8,
    pub fin_idle_timeout: u16,
    pub fin_hard_timeout: u16,
    /// Maximum learned flows (0: unlimited).
    pub limit: u32,
    /// Where to write whether learning succeeded (one bit).
    pub result_dst: Option<SubField>,
    pub specs: Vec<LearnSpec>,
    pub form: LearnForm,
}

impl Learn {
    pub const SEND_FLOW_REM: u16 = 1 << 0;
    pub const DELETE_LEARNED: u16 = 1 << 1;
    pub const WRITE_RESULT: u16 = 1 << 2;
}

impl Default for Learn {
    fn default() -> Learn {
        Learn {
            idle_timeout: 0,
            hard_timeout: 0,
            priority: 0x8000,
            cookie: 0,
            flags: 0,
            table: 1,
            fin_idle_timeout: 0,
            fin_hard_timeout: 0,
            limit: 0,
            result_dst: None,
            specs: Vec::new(),
            form: LearnForm::Learn,
        }
    }
}

/// An encap/decap property (only NSH ones exist).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EdProp {
    NshMdType(u8),
    NshTlv {
        class: u16,
        ty: u8,
        value: Vec<u8>,
        /// The bytes after the value up to its 8-byte boundary, as they came
        /// (OVS keeps and resends them); empty means zeros.
        padding: Vec<u8>,
    },
}

/// NXAST_ENCAP: push a header of another packet type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Encap {
    /// Header size in bytes, 0 for unspecified.
    pub hdr_size: u16,
    /// The new packet type (`packet_type::ETHERNET`, `NSH`, `MPLS`, `MPLS_MC`).
    pub packet_type: u32,
    pub props: Vec<EdProp>,
}

/// Packet types (namespace << 16 | type) that encap and decap name.
pub mod packet_type {
    pub const ETHERNET: u32 = 0x0000_0000;
    pub const NSH: u32 = 0x0001_894f;
    pub const MPLS: u32 = 0x0001_8847;
    pub const MPLS_MC: u32 = 0x0001_8848;
    /// decap's default: the next protocol of the removed header.
    pub const USE_NEXT_PROTO: u32 = 0x0000_fffe;
}

/// Which wire action a [`Action::Resubmit`] came as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ResubmitForm {
    /// NXAST_RESUBMIT_TABLE (or _CT).
    #[default]
    Table,
    /// NXAST_RESUBMIT, which has no table; kept only while the table is the
    /// current one.
    Port,
}

/// Which wire action a [`Action::RegMove`] came as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RegMoveForm {
    /// NXAST_REG_MOVE (OpenFlow 1.0-1.4), OFPAT_COPY_FIELD (1.5).
    #[default]
    Nx,
    /// The ONF copy-field extension of OpenFlow 1.3.
    OnfCopyField,
}

/// An action, or an OpenFlow 1.1+ instruction, in Open vSwitch's terms.
/// Ports are OpenFlow 1.1+ 32-bit numbers ([`port`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    // Output.
    /// OFPAT_OUTPUT. `max_len` matters only for [`port::CONTROLLER`].
    Output {
        port: u32,
        max_len: u16,
    },
    /// NXAST_OUTPUT_TRUNC: output a packet truncated to `max_len` bytes.
    OutputTrunc {
        port: u32,
        max_len: u32,
    },
    /// NXAST_OUTPUT_REG{,2}: output to the port a subfield holds.
    OutputReg {
        src: SubField,
        max_len: u16,
        reg2: bool,
    },
    Group(u32),
    Controller(Controller),
    /// OpenFlow 1.0 OFPAT_ENQUEUE (set_queue, output, pop_queue in 1.1+).
    Enqueue {
        port: u32,
        queue: u32,
    },
    SetQueue(u32),
    /// NXAST_POP_QUEUE: back to the queue the packet came with.
    PopQueue,
    Bundle(Bundle),

    // VLAN.
    /// OpenFlow 1.0 set_vlan_vid (`mod_vlan_vid`: pushes a tag if none,
    /// `push_vlan_if_needed`) or 1.1's (`set_vlan_vid`: does not).
    /// `flow_has_vlan` is what [`annotate`] learned from the match.
    SetVlanVid {
        vid: u16,
        push_vlan_if_needed: bool,
        flow_has_vlan: bool,
    },
    SetVlanPcp {
        pcp: u8,
        push_vlan_if_needed: bool,
        flow_has_vlan: bool,
    },
    /// OpenFlow 1.0 strip_vlan or 1.1+ pop_vlan (`strip` picks the name it
    /// prints as).
    PopVlan {
        strip: bool,
    },
    /// Push a tag with this TPID (0x8100 or 0x88a8).
    PushVlan(u16),

    // OpenFlow 1.0-style typed sets (see the module docs).
    SetEthSrc([u8; 6]),
    SetEthDst([u8; 6]),
    SetIpv4Src(Ipv4Addr),
    SetIpv4Dst(Ipv4Addr),
    /// `mod_nw_tos`: the DSCP bits, as the TOS byte holds them (low 2 bits 0).
    SetIpDscp(u8),
    SetIpEcn(u8),
    SetIpTtl(u8),
    /// `mod_tp_src`: whichever L4 protocol the packet has. `flow_ip_proto` is
    /// what [`annotate`] learned from the match (0: unknown).
    SetL4SrcPort {
        port: u16,
        flow_ip_proto: u8,
    },
    SetL4DstPort {
        port: u16,
        flow_ip_proto: u8,
    },
    SetMplsLabel(u32),
    SetMplsTc(u8),
    SetMplsTtl(u8),
    DecMplsTtl,
    PushMpls(u16),
    PopMpls(u16),
    /// Decrement the IP TTL; at 0 send to these controller ids. `cnt_ids`:
    /// came as (prints as) NXAST_DEC_TTL_CNT_IDS.
    DecTtl {
        ids: Vec<u16>,
        cnt_ids: bool,
    },

    // Fields.
    SetField(SetField),
    RegMove {
        src: SubField,
        dst: SubField,
        form: RegMoveForm,
    },
    StackPush(SubField),
    StackPop(SubField),
    /// NXAST_SET_TUNNEL{,64}; `wide`: came as (prints as) set_tunnel64.
    SetTunnel {
        id: u64,
        wide: bool,
    },
    DeleteField(Field),

    // Nicira control.
    FinTimeout {
        idle_timeout: u16,
        hard_timeout: u16,
    },
    /// Search `table` (`None`: the current table) with in_port `in_port`
    /// ([`port::IN_PORT`]: unchanged); `ct`: with the conntrack original
    /// tuple.
    Resubmit {
        in_port: u32,
        table: Option<u8>,
        ct: bool,
        form: ResubmitForm,
    },
    Learn(Learn),
    /// Clause `clause` (0-based) of `n_clauses` of conjunction `id`.
    Conjunction {
        id: u32,
        clause: u8,
        n_clauses: u8,
    },
    Multipath(Multipath),
    Note(Vec<u8>),
    Exit,
    Sample(Sample),
    Ct(Ct),
    CtClear,
    Nat(Nat),
    Clone(Vec<Action>),
    /// Set one bit: whether the packet is longer than `pkt_len` bytes.
    CheckPktLarger {
        pkt_len: u16,
        dst: SubField,
    },
    Encap(Encap),
    Decap {
        packet_type: u32,
    },
    DecNshTtl,

    // Instructions (actions in OpenFlow 1.0, see the module docs).
    /// A meter: an instruction in OpenFlow 1.3/1.4, an action in 1.5.
    Meter(u32),
    ClearActions,
    WriteActions(Vec<Action>),
    WriteMetadata {
        value: u64,
        mask: u64,
    },
    GotoTable(u8),
}

impl Action {
    /// Calls `f` with every field this action (and any it nests) reads or
    /// writes: what Open vSwitch collects into a flow's `tlv_bitmap` to
    /// know which `tun_metadata` mappings the flow depends on.
    pub fn for_each_field(&self, f: &mut dyn FnMut(Field)) {
        match self {
            Action::OutputReg { src, .. } => f(src.field),
            Action::Bundle(b) => {
                if let Some(d) = &b.dst {
                    f(d.field);
                }
            }
            Action::SetField(s) => f(s.field),
            Action::RegMove { src, dst, .. } => {
                f(src.field);
                f(dst.field);
            }
            Action::StackPush(s) | Action::StackPop(s) => f(s.field),
            Action::DeleteField(field) => f(*field),
            Action::Learn(l) => {
                if let Some(d) = &l.result_dst {
                    f(d.field);
                }
                for spec in &l.specs {
                    if let LearnSrc::Field { field, .. } = spec.src {
                        f(field);
                    }
                    match spec.dst {
                        LearnDst::Match { field, .. } | LearnDst::Load { field, .. } => f(field),
                        LearnDst::Output => {}
                    }
                }
            }
            Action::Multipath(m) => f(m.dst.field),
            Action::CheckPktLarger { dst, .. } => f(dst.field),
            Action::Ct(ct) => {
                if let CtZone::Field(z) = &ct.zone {
                    f(z.field);
                }
                for a in &ct.actions {
                    a.for_each_field(f);
                }
            }
            Action::Clone(v) | Action::WriteActions(v) => {
                for a in v {
                    a.for_each_field(f);
                }
            }
            _ => {}
        }
    }

    /// Output to `port`.
    pub fn output(port: u32) -> Action {
        Action::Output {
            port,
            max_len: if port == port::CONTROLLER {
                u16::MAX
            } else {
                0
            },
        }
    }

    /// The Set-Field equivalent of a typed set action, where there is one
    /// with the same meaning whatever the match (so not for `mod_vlan_vid`
    /// and `mod_tp_src`).
    pub fn to_set_field(&self) -> Option<SetField> {
        let sf = |f: Field, v: Value| Some(SetField::new(f, v));
        match self {
            Action::SetField(s) => Some(s.clone()),
            Action::SetEthSrc(m) => sf(Field::EthSrc, Value::from(*m)),
            Action::SetEthDst(m) => sf(Field::EthDst, Value::from(*m)),
            Action::SetIpv4Src(a) => sf(Field::Ipv4Src, Value::from(u32::from(*a))),
            Action::SetIpv4Dst(a) => sf(Field::Ipv4Dst, Value::from(u32::from(*a))),
            Action::SetIpDscp(d) => sf(Field::IpDscp, Value::from(*d >> 2)),
            Action::SetIpEcn(e) => sf(Field::IpEcn, Value::from(*e)),
            Action::SetIpTtl(t) => sf(Field::NwTtl, Value::from(*t)),
            Action::SetMplsLabel(l) => sf(Field::MplsLabel, Value::from(*l)),
            Action::SetMplsTc(t) => sf(Field::MplsTc, Value::from(*t)),
            Action::SetMplsTtl(t) => sf(Field::MplsTtl, Value::from(*t)),
            Action::SetTunnel { id, .. } => sf(Field::TunnelId, Value::from(*id)),
            _ => None,
        }
    }

    /// Which OpenFlow 1.1+ instruction this item belongs to.
    pub fn instruction_kind(&self, version: Version) -> InstructionKind {
        match self {
            Action::Meter(_) if version < Version::Of15 => InstructionKind::Meter,
            Action::ClearActions => InstructionKind::ClearActions,
            Action::WriteActions(_) => InstructionKind::WriteActions,
            Action::WriteMetadata { .. } => InstructionKind::WriteMetadata,
            Action::GotoTable(_) => InstructionKind::GotoTable,
            _ => InstructionKind::ApplyActions,
        }
    }

    /// OVS's name for the action type (`ofpact_name`), for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Output { .. } => "output",
            Action::OutputTrunc { .. } => "output_trunc",
            Action::OutputReg { .. } => "output_reg",
            Action::Group(_) => "group",
            Action::Controller(_) => "controller",
            Action::Enqueue { .. } => "enqueue",
            Action::SetQueue(_) => "set_queue",
            Action::PopQueue => "pop_queue",
            Action::Bundle(_) => "bundle",
            Action::SetVlanVid { .. } => "set_vlan_vid",
            Action::SetVlanPcp { .. } => "set_vlan_pcp",
            Action::PopVlan { .. } => "strip_vlan",
            Action::PushVlan(_) => "push_vlan",
            Action::SetEthSrc(_) => "mod_dl_src",
            Action::SetEthDst(_) => "mod_dl_dst",
            Action::SetIpv4Src(_) => "mod_nw_src",
            Action::SetIpv4Dst(_) => "mod_nw_dst",
            Action::SetIpDscp(_) => "mod_nw_tos",
            Action::SetIpEcn(_) => "mod_nw_ecn",
            Action::SetIpTtl(_) => "mod_nw_ttl",
            Action::SetL4SrcPort { .. } => "mod_tp_src",
            Action::SetL4DstPort { .. } => "mod_tp_dst",
            Action::SetMplsLabel(_) => "set_mpls_label",
            Action::SetMplsTc(_) => "set_mpls_tc",
            Action::SetMplsTtl(_) => "set_mpls_ttl",
            Action::DecMplsTtl => "dec_mpls_ttl",
            Action::PushMpls(_) => "push_mpls",
            Action::PopMpls(_) => "pop_mpls",
            Action::DecTtl { .. } => "dec_ttl",
            Action::SetField(_) => "set_field",
            Action::RegMove { .. } => "move",
            Action::StackPush(_) => "push",
            Action::StackPop(_) => "pop",
            Action::SetTunnel { .. } => "set_tunnel",
            Action::DeleteField(_) => "delete_field",
            Action::FinTimeout { .. } => "fin_timeout",
            Action::Resubmit { .. } => "resubmit",
            Action::Learn(_) => "learn",
            Action::Conjunction { .. } => "conjunction",
            Action::Multipath(_) => "multipath",
            Action::Note(_) => "note",
            Action::Exit => "exit",
            Action::Sample(_) => "sample",
            Action::Ct(_) => "ct",
            Action::CtClear => "ct_clear",
            Action::Nat(_) => "nat",
            Action::Clone(_) => "clone",
            Action::CheckPktLarger { .. } => "check_pkt_larger",
            Action::Encap(_) => "encap",
            Action::Decap { .. } => "decap",
            Action::DecNshTtl => "dec_nsh_ttl",
            Action::Meter(_) => "meter",
            Action::ClearActions => "clear_actions",
            Action::WriteActions(_) => "write_actions",
            Action::WriteMetadata { .. } => "write_metadata",
            Action::GotoTable(_) => "goto_table",
        }
    }

    /// The field an action writes, if it writes one (`ofpact_get_mf_dst`).
    fn written_field(&self) -> Option<Field> {
        match self {
            Action::SetField(s) => Some(s.field),
            Action::RegMove { dst, .. } => Some(dst.field),
            _ => None,
        }
    }
}

/// The OpenFlow 1.1+ instructions, in the order an instruction list must
/// follow (OVS's `enum ovs_instruction_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstructionKind {
    Meter,
    ApplyActions,
    ClearActions,
    WriteActions,
    WriteMetadata,
    GotoTable,
}

impl InstructionKind {
    pub fn name(self) -> &'static str {
        match self {
            InstructionKind::Meter => "meter",
            InstructionKind::ApplyActions => "apply_actions",
            InstructionKind::ClearActions => "clear_actions",
            InstructionKind::WriteActions => "write_actions",
            InstructionKind::WriteMetadata => "write_metadata",
            InstructionKind::GotoTable => "goto_table",
        }
    }

    /// All six, in order.
    pub const ALL: [InstructionKind; 6] = [
        InstructionKind::Meter,
        InstructionKind::ApplyActions,
        InstructionKind::ClearActions,
        InstructionKind::WriteActions,
        InstructionKind::WriteMetadata,
        InstructionKind::GotoTable,
    ];

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

// ---------------------------------------------------------------------------
// Wire numbers.

/// OFPAT_VENDOR / OFPAT_EXPERIMENTER.
const OFPAT_VENDOR: u16 = 0xffff;
/// Nicira's vendor id.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;
/// The ONF's experimenter id.
pub const ONF_VENDOR_ID: u32 = 0x4f4e_4600;
/// Actions are padded to multiples of this.
const ALIGN: usize = 8;
/// The largest variable-length action.
const VAR: usize = 65536 - ALIGN;

/// Every wire form of an action OVS knows (its `enum ofp_raw_action_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Raw {
    Output10,
    Output11,
    SetVlanVid10,
    SetVlanPcp10,
    SetVlanVid11,
    SetVlanPcp11,
    PushVlan,
    StripVlan10,
    PopVlan11,
    SetDlSrc,
    SetDlDst,
    SetNwSrc,
    SetNwDst,
    SetNwTos,
    SetNwEcn,
    SetTpSrc,
    SetTpDst,
    Enqueue10,
    SetMplsLabel,
    SetMplsTc,
    SetMplsTtl,
    DecMplsTtl,
    PushMpls,
    PopMpls,
    SetQueue,
    Group,
    SetNwTtl,
    DecNwTtl,
    DecTtlCntIds,
    SetField12,
    SetField15,
    RegLoad,
    RegLoad2,
    CopyField15,
    OnfCopyField,
    RegMove,
    Meter15,
    Resubmit,
    ResubmitTable,
    ResubmitTableCt,
    SetTunnel,
    SetTunnel64,
    PopQueue,
    Note,
    Multipath,
    Bundle,
    BundleLoad,
    OutputReg,
    OutputReg2,
    Learn,
    Learn2,
    Exit,
    FinTimeout,
    Controller,
    Controller2,
    WriteMetadata,
    StackPush,
    StackPop,
    Sample,
    Sample2,
    Sample3,
    Conjunction,
    Ct,
    Nat,
    OutputTrunc,
    Clone,
    CtClear,
    Encap,
    Decap,
    DecNshTtl,
    CheckPktLarger,
    DeleteField,
    DebugSlow,
    DebugRecirc,
}

/// Who defines an action type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vendor {
    Std,
    Nx,
    Onf,
}

/// One row of the action table: a wire form in some versions, its type or
/// subtype, and its length range (OVS's `ofp-actions.c` raw table).
struct RawDef {
    raw: Raw,
    vendor: Vendor,
    ty: u16,
    /// Oldest and newest version with this form.
    from: Version,
    to: Version,
    min: usize,
    max: usize,
}

const fn d(
    raw: Raw,
    vendor: Vendor,
    ty: u16,
    from: Version,
    to: Version,
    min: usize,
    var: bool,
) -> RawDef {
    RawDef {
        raw,
        vendor,
        ty,
        from,
        to,
        min,
        max: if var { VAR } else { min },
    }
}

use Vendor::{Nx, Onf, Std};
use Version::{Of10 as V10, Of13 as V13, Of14 as V14, Of15 as V15};

/// Every action OVS decodes, per version. A standard action's header is 4
/// bytes and a Nicira/ONF one's 10, so an integer argument sits at offset 4
/// (standard) or 10/12/16 (Nicira, by its alignment).
const RAW_TABLE: &[RawDef] = &[
    d(Raw::Output10, Std, 0, V10, V10, 8, false),
    d(Raw::Output11, Std, 0, V13, V15, 16, false),
    d(Raw::SetVlanVid10, Std, 1, V10, V10, 8, false),
    d(Raw::SetVlanPcp10, Std, 2, V10, V10, 8, false),
    d(Raw::SetVlanVid11, Std, 1, V13, V15, 8, false),
    d(Raw::SetVlanPcp11, Std, 2, V13, V15, 8, false),
    d(Raw::PushVlan, Std, 17, V13, V15, 8, false),
    d(Raw::StripVlan10, Std, 3, V10, V10, 8, false),
    d(Raw::PopVlan11, Std, 18, V13, V15, 8, false),
    d(Raw::SetDlSrc, Std, 4, V10, V10, 16, false),
    d(Raw::SetDlSrc, Std, 3, V13, V15, 16, false),
    d(Raw::SetDlDst, Std, 5, V10, V10, 16, false),
    d(Raw::SetDlDst, Std, 4, V13, V15, 16, false),
    d(Raw::SetNwSrc, Std, 6, V10, V10, 8, false),
    d(Raw::SetNwSrc, Std, 5, V13, V15, 8, false),
    d(Raw::SetNwDst, Std, 7, V10, V10, 8, false),
    d(Raw::SetNwDst, Std, 6, V13, V15, 8, false),
    d(Raw::SetNwTos, Std, 8, V10, V10, 8, false),
    d(Raw::SetNwTos, Std, 7, V13, V15, 8, false),
    d(Raw::SetNwEcn, Std, 8, V13, V15, 8, false),
    d(Raw::SetTpSrc, Std, 9, V10, V15, 8, false),
    d(Raw::SetTpDst, Std, 10, V10, V15, 8, false),
    d(Raw::Enqueue10, Std, 11, V10, V10, 16, false),
    d(Raw::SetMplsLabel, Nx, 30, V10, V10, 16, false),
    d(Raw::SetMplsLabel, Std, 13, V13, V15, 8, false),
    d(Raw::SetMplsTc, Nx, 31, V10, V10, 16, false),
    d(Raw::SetMplsTc, Std, 14, V13, V15, 8, false),
    d(Raw::SetMplsTtl, Nx, 25, V10, V10, 16, false),
    d(Raw::SetMplsTtl, Std, 15, V13, V15, 8, false),
    d(Raw::DecMplsTtl, Nx, 26, V10, V10, 16, false),
    d(Raw::DecMplsTtl, Std, 16, V13, V15, 8, false),
    d(Raw::PushMpls, Nx, 23, V10, V10, 16, false),
    d(Raw::PushMpls, Std, 19, V13, V15, 8, false),
    d(Raw::PopMpls, Nx, 24, V10, V10, 16, false),
    d(Raw::PopMpls, Std, 20, V13, V15, 8, false),
    d(Raw::SetQueue, Nx, 4, V10, V10, 16, false),
    d(Raw::SetQueue, Std, 21, V13, V15, 8, false),
    d(Raw::Group, Nx, 40, V10, V10, 16, false),
    d(Raw::Group, Std, 22, V13, V15, 8, false),
    d(Raw::SetNwTtl, Std, 23, V13, V15, 8, false),
    d(Raw::DecNwTtl, Nx, 18, V10, V10, 16, false),
    d(Raw::DecNwTtl, Std, 24, V13, V15, 8, false),
    d(Raw::DecTtlCntIds, Nx, 21, V10, V15, 16, true),
    d(Raw::SetField12, Std, 25, V13, V14, 8, true),
    d(Raw::SetField15, Std, 25, V15, V15, 8, true),
    d(Raw::RegLoad, Nx, 7, V10, V14, 24, false),
    d(Raw::RegLoad2, Nx, 33, V10, V14, 16, true),
    d(Raw::CopyField15, Std, 28, V15, V15, 16, true),
    d(Raw::OnfCopyField, Onf, 3200, V13, V14, 24, true),
    d(Raw::RegMove, Nx, 6, V10, V14, 16, true),
    d(Raw::Meter15, Std, 29, V15, V15, 8, false),
    d(Raw::Resubmit, Nx, 1, V10, V15, 16, false),
    d(Raw::ResubmitTable, Nx, 14, V10, V15, 16, false),
    d(Raw::ResubmitTableCt, Nx, 44, V10, V15, 16, false),
    d(Raw::SetTunnel, Nx, 2, V10, V15, 16, false),
    d(Raw::SetTunnel64, Nx, 9, V10, V15, 24, false),
    d(Raw::PopQueue, Nx, 5, V10, V15, 16, false),
    d(Raw::Note, Nx, 8, V10, V15, 16, true),
    d(Raw::Multipath, Nx, 10, V10, V15, 32, false),
    d(Raw::Bundle, Nx, 12, V10, V15, 32, true),
    d(Raw::BundleLoad, Nx, 13, V10, V15, 32, true),
    d(Raw::OutputReg, Nx, 15, V10, V15, 24, false),
    d(Raw::OutputReg2, Nx, 32, V10, V15, 24, false),
    d(Raw::Learn, Nx, 16, V10, V15, 32, true),
    d(Raw::Learn2, Nx, 45, V10, V15, 40, true),
    d(Raw::Exit, Nx, 17, V10, V15, 16, false),
    d(Raw::FinTimeout, Nx, 19, V10, V15, 16, false),
    d(Raw::Controller, Nx, 20, V10, V15, 16, false),
    d(Raw::Controller2, Nx, 37, V10, V15, 16, true),
    d(Raw::WriteMetadata, Nx, 22, V10, V15, 32, false),
    d(Raw::StackPush, Nx, 27, V10, V15, 24, false),
    d(Raw::StackPop, Nx, 28, V10, V15, 24, false),
    d(Raw::Sample, Nx, 29, V10, V15, 24, false),
    d(Raw::Sample2, Nx, 38, V10, V15, 32, false),
    d(Raw::Sample3, Nx, 41, V10, V15, 32, false),
    d(Raw::Conjunction, Nx, 34, V10, V15, 16, false),
    d(Raw::Ct, Nx, 35, V10, V15, 24, true),
    d(Raw::Nat, Nx, 36, V10, V15, 16, true),
    d(Raw::OutputTrunc, Nx, 39, V10, V15, 16, false),
    d(Raw::Clone, Nx, 42, V10, V15, 16, true),
    d(Raw::CtClear, Nx, 43, V10, V15, 16, false),
    d(Raw::Encap, Nx, 46, V13, V15, 16, true),
    d(Raw::Decap, Nx, 47, V13, V15, 16, true),
    d(Raw::DecNshTtl, Nx, 48, V13, V15, 16, false),
    d(Raw::CheckPktLarger, Nx, 49, V10, V15, 24, true),
    d(Raw::DeleteField, Nx, 50, V10, V15, 24, false),
    d(Raw::DebugSlow, Nx, 254, V10, V15, 16, false),
    d(Raw::DebugRecirc, Nx, 255, V10, V15, 16, false),
];

fn raw_for_wire(v: Version, vendor: Vendor, ty: u16) -> Option<&'static RawDef> {
    RAW_TABLE
        .iter()
        .find(|r| r.vendor == vendor && r.ty == ty && r.from <= v && v <= r.to)
}

/// The form to send `raw` as in `v`. A Nicira-only action goes out in
/// every version, even one whose decoder does not know it (OVS's
/// `put_NXAST_*` take no version: it sends encap in OpenFlow 1.0, say).
fn raw_for_encode(v: Version, raw: Raw) -> Option<&'static RawDef> {
    RAW_TABLE
        .iter()
        .find(|r| r.raw == raw && r.from <= v && v <= r.to)
        .or_else(|| {
            let mut defs = RAW_TABLE.iter().filter(|r| r.raw == raw);
            let first = defs.next()?;
            (first.vendor == Vendor::Nx && defs.all(|r| r.vendor == Vendor::Nx)).then_some(first)
        })
}

// ---------------------------------------------------------------------------
// Decoding.

/// Bounds-safe big-endian reads at fixed offsets of one action. The action
/// table's minimum lengths make every offset used below present; reading
/// past the end yields zeros rather than a panic all the same.
#[derive(Clone, Copy)]
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(self, o: usize) -> u8 {
        self.0.get(o).copied().unwrap_or(0)
    }

    fn u16(self, o: usize) -> u16 {
        u16::from_be_bytes([self.u8(o), self.u8(o + 1)])
    }

    fn u32(self, o: usize) -> u32 {
        u32::from_be_bytes([self.u8(o), self.u8(o + 1), self.u8(o + 2), self.u8(o + 3)])
    }

    fn u64(self, o: usize) -> u64 {
        (u64::from(self.u32(o)) << 32) | u64::from(self.u32(o + 4))
    }

    fn from(self, o: usize) -> &'a [u8] {
        self.0.get(o..).unwrap_or(&[])
    }

    fn range(self, a: usize, b: usize) -> &'a [u8] {
        self.0.get(a..b.min(self.0.len())).unwrap_or(&[])
    }

    fn zero(self, a: usize, b: usize) -> bool {
        self.range(a, b).iter().all(|&x| x == 0)
    }
}

fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

/// Where a nested action list sits, for OVS's nesting rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outer {
    Top,
    Ct,
    Clone,
    WriteActions,
}

/// Instructions allowed in a plain action list (packet-out, group bucket).
pub(crate) const ALLOW_ACTIONS: u32 =
    (1 << InstructionKind::ApplyActions as u32) | (1 << InstructionKind::Meter as u32);
/// Every instruction (an OpenFlow 1.0 flow_mod's action list).
pub(crate) const ALLOW_ALL: u32 = (1 << 6) - 1;

/// Decodes an action list, as in a packet-out, a group bucket or an
/// OpenFlow 1.0 flow_mod (OVS's `ofpacts_pull_openflow_actions`): the length
/// must be a multiple of 8, every action must decode, and the list must obey
/// OVS's ordering and nesting rules. Meter may appear (OpenFlow 1.5).
pub fn decode(version: Version, bytes: &[u8]) -> Result<Vec<Action>, ActionError> {
    decode_list(version, bytes, ALLOW_ACTIONS, Outer::Top)
}

/// `ofpacts_pull_openflow_actions__`: decode and verify with the given
/// instructions allowed.
pub(crate) fn decode_list(
    version: Version,
    bytes: &[u8],
    allowed: u32,
    outer: Outer,
) -> Result<Vec<Action>, ActionError> {
    if !bytes.len().is_multiple_of(ALIGN) {
        return Err(other(
            OtherCode::RequestBadLen,
            format!("actions length {} is not a multiple of 8", bytes.len()),
        ));
    }
    let actions = decode_raw_list(version, bytes)?;
    verify(&actions, version, allowed, outer)?;
    Ok(actions)
}

/// `ofpacts_decode`: every action in `bytes`, with no list-level checks.
pub(crate) fn decode_raw_list(version: Version, bytes: &[u8]) -> Result<Vec<Action>, ActionError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (def, len) = decode_header(version, rest)?;
        let (this, next) = rest.split_at(len);
        decode_one(version, def.raw, Bytes(this), &mut out)?;
        rest = next;
    }
    Ok(out)
}

/// Identifies the action at the front of `b` and checks its length
/// (`ofpact_decode_raw` and `ofpact_pull_raw`).
fn decode_header(version: Version, b: &[u8]) -> Result<(&'static RawDef, usize), ActionError> {
    if b.len() < 8 {
        return Err(bad_len(format!(
            "{} bytes left, too short for an action header",
            b.len()
        )));
    }
    let h = Bytes(b);
    let ty = h.u16(0);
    let def = if ty == OFPAT_VENDOR {
        let vendor = h.u32(4);
        let v = match vendor {
            NX_VENDOR_ID => Vendor::Nx,
            ONF_VENDOR_ID => Vendor::Onf,
            _ => {
                return Err(bad(
                    BadActionCode::BadExperimenter,
                    format!("unknown vendor {vendor:#x}"),
                ))
            }
        };
        if b.len() < 16 {
            return Err(bad_len("vendor action shorter than its header"));
        }
        let sub = h.u16(8);
        raw_for_wire(version, v, sub).ok_or_else(|| {
            bad(
                BadActionCode::BadExpType,
                format!(
                    "unknown {} action for vendor {vendor:#x} and type {sub}",
                    version.name()
                ),
            )
        })?
    } else {
        raw_for_wire(version, Vendor::Std, ty).ok_or_else(|| {
            bad(
                BadActionCode::BadType,
                format!("unknown {} action type {ty}", version.name()),
            )
        })?
    };
    let len = usize::from(h.u16(2));
    if len > b.len() {
        return Err(bad_len(format!(
            "{:?} length {len} exceeds the {} bytes left",
            def.raw,
            b.len()
        )));
    }
    if len < def.min || len > def.max {
        return Err(bad_len(format!(
            "{:?} length {len} not in [{}, {}]",
            def.raw, def.min, def.max
        )));
    }
    if len % ALIGN != 0 {
        return Err(bad_len(format!(
            "{:?} length {len} is not a multiple of 8",
            def.raw
        )));
    }
    Ok((def, len))
}

fn mac_at(a: Bytes<'_>, o: usize) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, x) in m.iter_mut().enumerate() {
        *x = a.u8(o + i);
    }
    m
}

fn check_output_port(p: u32) -> Result<(), ActionError> {
    if port::is_valid_output(p) {
        Ok(())
    } else {
        Err(bad(
            BadActionCode::BadOutPort,
            format!("bad output port {}", port::format(p)),
        ))
    }
}

/// Decodes one action whose length is already checked.
fn decode_one(
    version: Version,
    raw: Raw,
    a: Bytes<'_>,
    out: &mut Vec<Action>,
) -> Result<(), ActionError> {
    let nx = |std_ofs: usize, nx_ofs: usize| {
        if a.u16(0) == OFPAT_VENDOR {
            nx_ofs
        } else {
            std_ofs
        }
    };
    let act = match raw {
        Raw::Output10 => {
            let p = port::from_of10(a.u16(4));
            check_output_port(p)?;
            Action::Output {
                port: p,
                max_len: a.u16(6),
            }
        }
        Raw::Output11 => {
            let p = a.u32(4);
            if !port::is_valid(p) {
                return Err(bad(
                    BadActionCode::BadOutPort,
                    format!("port {p:#x} out of range"),
                ));
            }
            check_output_port(p)?;
            Action::Output {
                port: p,
                max_len: a.u16(8),
            }
        }
        Raw::SetVlanVid10 | Raw::SetVlanVid11 => {
            let vid = a.u16(4);
            if vid & !0xfff != 0 {
                return Err(bad_arg(format!("VLAN VID {vid} out of range")));
            }
            Action::SetVlanVid {
                vid,
                push_vlan_if_needed: raw == Raw::SetVlanVid10,
                flow_has_vlan: false,
            }
        }
        Raw::SetVlanPcp10 | Raw::SetVlanPcp11 => {
            let pcp = a.u8(4);
            if pcp & !7 != 0 {
                return Err(bad_arg(format!("VLAN PCP {pcp} out of range")));
            }
            Action::SetVlanPcp {
                pcp,
                push_vlan_if_needed: raw == Raw::SetVlanPcp10,
                flow_has_vlan: false,
            }
        }
        Raw::PushVlan => {
            let tpid = a.u16(4);
            if tpid != 0x8100 && tpid != 0x88a8 {
                return Err(bad_arg(format!("push_vlan ethertype {tpid:#x}")));
            }
            Action::PushVlan(tpid)
        }
        Raw::StripVlan10 => Action::PopVlan { strip: true },
        Raw::PopVlan11 => Action::PopVlan { strip: false },
        Raw::SetDlSrc => Action::SetEthSrc(mac_at(a, 4)),
        Raw::SetDlDst => Action::SetEthDst(mac_at(a, 4)),
        Raw::SetNwSrc => Action::SetIpv4Src(Ipv4Addr::from(a.u32(4))),
        Raw::SetNwDst => Action::SetIpv4Dst(Ipv4Addr::from(a.u32(4))),
        Raw::SetNwTos => {
            let tos = a.u8(4);
            if tos & 0x03 != 0 {
                return Err(bad_arg(format!("TOS {tos} has ECN bits")));
            }
            Action::SetIpDscp(tos)
        }
        Raw::SetNwEcn => {
            let ecn = a.u8(4);
            if ecn & !3 != 0 {
                return Err(bad_arg(format!("ECN {ecn} out of range")));
            }
            Action::SetIpEcn(ecn)
        }
        Raw::SetTpSrc => Action::SetL4SrcPort {
            port: a.u16(4),
            flow_ip_proto: 0,
        },
        Raw::SetTpDst => Action::SetL4DstPort {
            port: a.u16(4),
            flow_ip_proto: 0,
        },
        Raw::Enqueue10 => {
            let p16 = a.u16(4);
            let p = port::from_of10(p16);
            if p16 >= 0xff00 && p != port::IN_PORT && p != port::LOCAL {
                return Err(bad(
                    BadActionCode::BadOutPort,
                    format!("enqueue to port {}", port::format(p)),
                ));
            }
            Action::Enqueue {
                port: p,
                queue: a.u32(12),
            }
        }
        Raw::SetMplsLabel => Action::SetMplsLabel(a.u32(nx(4, 12))),
        Raw::SetMplsTc => Action::SetMplsTc(a.u8(nx(4, 10))),
        Raw::SetMplsTtl => Action::SetMplsTtl(a.u8(nx(4, 10))),
        Raw::DecMplsTtl => Action::DecMplsTtl,
        Raw::PushMpls => {
            let et = a.u16(nx(4, 10));
            if et != 0x8847 && et != 0x8848 {
                return Err(bad_arg(format!("push_mpls ethertype {et:#x}")));
            }
            Action::PushMpls(et)
        }
        Raw::PopMpls => Action::PopMpls(a.u16(nx(4, 10))),
        Raw::SetQueue => Action::SetQueue(a.u32(nx(4, 12))),
        Raw::Group => Action::Group(a.u32(nx(4, 12))),
        Raw::SetNwTtl => Action::SetIpTtl(a.u8(4)),
        Raw::DecNwTtl => Action::DecTtl {
            ids: vec![0],
            cnt_ids: false,
        },
        Raw::DecTtlCntIds => {
            let n = usize::from(a.u16(10));
            if !a.zero(12, 16) {
                return Err(must_be_zero("dec_ttl_cnt_ids"));
            }
            let ids_size = a.0.len() - 16;
            if ids_size < n * 2 {
                return Err(bad_len(format!(
                    "dec_ttl_cnt_ids has room for {} of {n} controller ids",
                    ids_size / 2
                )));
            }
            let ids = (0..n).map(|i| a.u16(16 + 2 * i)).collect();
            Action::DecTtl { ids, cnt_ids: true }
        }
        Raw::SetField12 | Raw::SetField15 => decode_set_field(a, raw == Raw::SetField15)?,
        Raw::RegLoad => {
            let f = field_from_nxm32(a.u32(12))?;
            let dst = SubField::from_ofs_nbits(f, a.u16(10));
            dst.check_dst()?;
            let value = a.u64(16);
            if dst.n_bits < 64 && value >> dst.n_bits != 0 {
                return Err(bad_arg(format!(
                    "value {value:#x} does not fit in {} bits",
                    dst.n_bits
                )));
            }
            Action::SetField(SetField::load(dst, u128::from(value)))
        }
        Raw::RegLoad2 => {
            let mut r = Reader::new(a.from(10));
            let (f, hdr, value, mask) = pull_entry(&mut r, true)?;
            if !all_zero(r.rest()) {
                return Err(bad(
                    BadActionCode::BadSetArgument,
                    "reg_load2 has trailing bytes",
                ));
            }
            if !is_writable(f) {
                return Err(bad(
                    BadActionCode::BadSetArgument,
                    format!("{f} is not writable"),
                ));
            }
            let (value, mask) = in_port_to_nxm(f, hdr, value, mask)?;
            Action::SetField(SetField {
                field: f,
                value,
                mask,
                form: SetFieldForm::RegLoad2,
            })
        }
        Raw::CopyField15 => decode_copy_field(a, 4, 12, RegMoveForm::OnfCopyField)?,
        Raw::OnfCopyField => decode_copy_field(a, 12, 20, RegMoveForm::OnfCopyField)?,
        Raw::RegMove => decode_copy_field(a, 10, 16, RegMoveForm::Nx)?,
        Raw::Meter15 => Action::Meter(a.u32(4)),
        Raw::Resubmit => Action::Resubmit {
            in_port: port::from_of10(a.u16(10)),
            table: None,
            ct: false,
            form: ResubmitForm::Port,
        },
        Raw::ResubmitTable | Raw::ResubmitTableCt => {
            if !a.zero(13, 16) {
                return Err(bad_arg("resubmit padding is nonzero"));
            }
            let t = a.u8(12);
            Action::Resubmit {
                in_port: port::from_of10(a.u16(10)),
                table: if t == 255 { None } else { Some(t) },
                ct: raw == Raw::ResubmitTableCt,
                form: ResubmitForm::Table,
            }
        }
        Raw::SetTunnel => Action::SetTunnel {
            id: u64::from(a.u32(12)),
            wide: false,
        },
        Raw::SetTunnel64 => Action::SetTunnel {
            id: a.u64(16),
            wide: true,
        },
        Raw::PopQueue => Action::PopQueue,
        Raw::Note => Action::Note(a.from(10).to_vec()),
        Raw::Multipath => decode_multipath(a)?,
        Raw::Bundle | Raw::BundleLoad => decode_bundle(a, raw == Raw::BundleLoad)?,
        Raw::OutputReg => {
            if !a.zero(18, 24) {
                return Err(bad_arg("output_reg reserved bytes are nonzero"));
            }
            let f = field_from_nxm32(a.u32(12))?;
            let src = SubField::from_ofs_nbits(f, a.u16(10));
            src.check_src()?;
            Action::OutputReg {
                src,
                max_len: a.u16(16),
                reg2: false,
            }
        }
        Raw::OutputReg2 => {
            let mut r = Reader::new(a.from(14));
            let f = pull_header(&mut r)?;
            if !all_zero(r.rest()) {
                return Err(must_be_zero("output_reg2"));
            }
            let src = SubField::from_ofs_nbits(f, a.u16(10));
            src.check_src()?;
            Action::OutputReg {
                src,
                max_len: a.u16(12),
                reg2: true,
            }
        }
        Raw::Learn | Raw::Learn2 => decode_learn(a, raw == Raw::Learn2)?,
        Raw::Exit => Action::Exit,
        Raw::FinTimeout => Action::FinTimeout {
            idle_timeout: a.u16(10),
            hard_timeout: a.u16(12),
        },
        Raw::Controller => Action::Controller(Controller {
            max_len: a.u16(10),
            controller_id: a.u16(12),
            reason: a.u8(14),
            userdata: Vec::new(),
            pause: false,
            meter_id: 0,
            form: ControllerForm::Controller,
        }),
        Raw::Controller2 => decode_controller2(a)?,
        Raw::WriteMetadata => {
            if !a.zero(10, 16) {
                return Err(must_be_zero("write_metadata"));
            }
            Action::WriteMetadata {
                value: a.u64(16),
                mask: a.u64(24),
            }
        }
        Raw::StackPush | Raw::StackPop => {
            let mut r = Reader::new(a.range(12, 24));
            let f = pull_header(&mut r)?;
            let n_bits = r.u16().map_err(|_| must_be_zero("stack"))?;
            if !all_zero(r.rest()) {
                return Err(must_be_zero("stack"));
            }
            let sf = SubField {
                field: f,
                ofs: a.u16(10),
                n_bits,
            };
            if raw == Raw::StackPush {
                sf.check_src()?;
                Action::StackPush(sf)
            } else {
                sf.check_dst()?;
                Action::StackPop(sf)
            }
        }
        Raw::Sample | Raw::Sample2 | Raw::Sample3 => {
            let (sampling_port, direction, form) = match raw {
                Raw::Sample => (port::ANY, SampleDirection::Default, SampleForm::Sample),
                Raw::Sample2 => (
                    port::from_of10(a.u16(24)),
                    SampleDirection::Default,
                    SampleForm::Sample2,
                ),
                _ => {
                    if !a.zero(27, 32) {
                        return Err(must_be_zero("sample3"));
                    }
                    let dir = match a.u8(26) {
                        0 => SampleDirection::Default,
                        1 => SampleDirection::Ingress,
                        2 => SampleDirection::Egress,
                        d => return Err(bad_arg(format!("invalid sample direction {d}"))),
                    };
                    (port::from_of10(a.u16(24)), dir, SampleForm::Sample3)
                }
            };
            let probability = a.u16(10);
            if probability == 0 {
                return Err(bad_arg("sample probability is 0"));
            }
            Action::Sample(Sample {
                probability,
                collector_set_id: a.u32(12),
                obs_domain_id: a.u32(16),
                obs_point_id: a.u32(20),
                sampling_port,
                direction,
                form,
            })
        }
        Raw::Conjunction => {
            let (clause, n) = (a.u8(10), a.u8(11));
            if !(2..=64).contains(&n) || clause >= n {
                return Err(bad(
                    BadActionCode::NxBadConjunction,
                    format!("conjunction clause {clause} of {n}"),
                ));
            }
            Action::Conjunction {
                id: a.u32(12),
                clause,
                n_clauses: n,
            }
        }
        Raw::Ct => decode_ct(version, a)?,
        Raw::Nat => Action::Nat(decode_nat(a)?),
        Raw::OutputTrunc => {
            let max_len = a.u32(12);
            if max_len < 14 {
                return Err(bad_arg(format!(
                    "output_trunc max_len {max_len} is shorter than an Ethernet header"
                )));
            }
            Action::OutputTrunc {
                port: port::from_of10(a.u16(10)),
                max_len,
            }
        }
        Raw::Clone => Action::Clone(decode_list(
            version,
            a.from(16),
            1 << InstructionKind::ApplyActions as u32,
            Outer::Clone,
        )?),
        Raw::CtClear => Action::CtClear,
        Raw::Encap => decode_encap(a)?,
        Raw::Decap => {
            if a.0.len() > 16 {
                return Err(bad(
                    BadActionCode::NxUnknownEdProp,
                    "decap properties are not supported",
                ));
            }
            Action::Decap {
                packet_type: a.u32(12),
            }
        }
        Raw::DecNshTtl => Action::DecNshTtl,
        Raw::CheckPktLarger => {
            let mut r = Reader::new(a.from(14));
            let f = pull_header(&mut r)?;
            if !all_zero(r.rest()) {
                return Err(must_be_zero("check_pkt_larger"));
            }
            let dst = SubField {
                field: f,
                ofs: a.u16(12),
                n_bits: 1,
            };
            dst.check_dst()?;
            Action::CheckPktLarger {
                pkt_len: a.u16(10),
                dst,
            }
        }
        Raw::DeleteField => {
            let mut r = Reader::new(a.from(10));
            Action::DeleteField(pull_header(&mut r)?)
        }
        Raw::DebugSlow | Raw::DebugRecirc => {
            return Err(bad(
                BadActionCode::BadExpType,
                "debugging actions are disabled",
            ));
        }
    };
    out.push(act);
    Ok(())
}

/// OVS keeps OXM_OF_IN_PORT (32-bit) apart from the 16-bit NXM in_port that
/// actions write; a whole-field write of the former becomes the latter.
fn in_port_to_nxm(
    f: Field,
    hdr: &field::Header,
    value: Value,
    mask: Value,
) -> Result<(Value, Value), ActionError> {
    if f != Field::InPort || hdr.len == 2 {
        return Ok((value, mask));
    }
    if !mask.is_all_ones() {
        return Err(bad(
            BadActionCode::BadSetArgument,
            "partial write of OXM in_port",
        ));
    }
    let p = value.to_u64().and_then(|p| port::to_of10(p as u32));
    match p {
        Some(p) => Ok((Value::from(p), Value::ones(2))),
        None => Err(bad(BadActionCode::BadSetArgument, "in_port out of range")),
    }
}

fn decode_set_field(a: Bytes<'_>, may_mask: bool) -> Result<Action, ActionError> {
    let mut r = Reader::new(a.from(4));
    let (f, hdr, value, mask) = pull_entry(&mut r, may_mask).map_err(|e| match e {
        ActionError::Other {
            code: OtherCode::MatchBadMask,
            reason,
        } => bad(BadActionCode::BadSetMask, reason),
        e => e,
    })?;
    if !all_zero(r.rest()) {
        return Err(bad(
            BadActionCode::BadSetArgument,
            "set_field has trailing bytes",
        ));
    }
    if f == Field::InPort && hdr.class == field::class::OPENFLOW_BASIC {
        return Err(bad(
            BadActionCode::BadSetArgument,
            "OXM_OF_IN_PORT may not be set",
        ));
    }
    if !is_writable(f) {
        return Err(bad(
            BadActionCode::BadSetArgument,
            format!("{f} is not writable"),
        ));
    }
    let vlan_ok = f != Field::VlanVid
        || (value.as_slice().first().is_some_and(|b| b & 0x10 != 0)
            && mask.as_slice().first().is_some_and(|b| b & 0x10 != 0));
    if !value_valid(f, value.as_slice()) || !vlan_ok {
        return Err(bad(
            BadActionCode::BadSetArgument,
            format!("invalid value {value:?} for {f}"),
        ));
    }
    Ok(Action::SetField(SetField {
        field: f,
        value,
        mask,
        form: SetFieldForm::SetField,
    }))
}

/// NXAST_REG_MOVE, ONF copy-field and OFPAT_COPY_FIELD: `n_bits`,
/// `src_ofs`, `dst_ofs` from `ofs`, field headers from `hdrs`.
fn decode_copy_field(
    a: Bytes<'_>,
    ofs: usize,
    hdrs: usize,
    form: RegMoveForm,
) -> Result<Action, ActionError> {
    let n_bits = a.u16(ofs);
    let mut r = Reader::new(a.from(hdrs));
    let sf = pull_header(&mut r)?;
    let df = pull_header(&mut r)?;
    if !all_zero(r.rest()) {
        return Err(must_be_zero("move"));
    }
    let src = SubField {
        field: sf,
        ofs: a.u16(ofs + 2),
        n_bits,
    };
    let dst = SubField {
        field: df,
        ofs: a.u16(ofs + 4),
        n_bits,
    };
    src.check_src()?;
    dst.check_dst()?;
    Ok(Action::RegMove { src, dst, form })
}

fn log2_ceil(n: u32) -> u16 {
    if n <= 1 {
        0
    } else {
        (32 - (n - 1).leading_zeros()) as u16
    }
}

fn decode_multipath(a: Bytes<'_>) -> Result<Action, ActionError> {
    let f = field_from_nxm32(a.u32(28))?;
    let mp = Multipath {
        fields: a.u16(10),
        basis: a.u16(12),
        algorithm: a.u16(16),
        max_link: a.u16(18),
        arg: a.u32(20),
        dst: SubField::from_ofs_nbits(f, a.u16(26)),
    };
    if !hash_fields::is_valid(mp.fields) {
        return Err(bad_arg(format!(
            "unsupported multipath fields {}",
            mp.fields
        )));
    }
    if mp.algorithm > Multipath::ITER_HASH {
        return Err(bad_arg(format!(
            "unsupported multipath algorithm {}",
            mp.algorithm
        )));
    }
    if mp.dst.n_bits < log2_ceil(u32::from(mp.max_link) + 1) {
        return Err(bad_arg("multipath destination too narrow for its links"));
    }
    mp.dst.check_dst()?;
    Ok(Action::Multipath(mp))
}

fn decode_bundle(a: Bytes<'_>, load: bool) -> Result<Action, ActionError> {
    let algorithm = a.u16(10);
    let fields = a.u16(12);
    let basis = a.u16(14);
    let member_type = a.u32(16);
    let n = usize::from(a.u16(20));
    let mut error = None;
    if !hash_fields::is_valid(fields)
        || n > Bundle::MAX_MEMBERS
        || algorithm > Bundle::HRW
        || member_type != 0x0000_0002
    {
        error = Some(bad_arg(
            "bundle has unsupported fields, algorithm, member type or too many members",
        ));
    }
    if !a.zero(28, 32) {
        error = Some(bad_arg("bundle reserved bytes are nonzero"));
    }
    let dst = if load {
        let f = field_from_nxm32(a.u32(24))?;
        // OVS's decode_bundle stores the destination lookup's result over
        // the argument error found so far, so bundle_load does not check its
        // fields, algorithm, member type or reserved bytes. Be as lenient.
        error = None;
        let dst = SubField::from_ofs_nbits(f, a.u16(22));
        if dst.n_bits < 16 {
            error = Some(bad_arg(
                "bundle_load needs a destination of at least 16 bits",
            ));
        }
        Some(dst)
    } else {
        if a.u16(22) != 0 || a.u32(24) != 0 {
            error = Some(bad_arg("bundle has nonzero reserved fields"));
        }
        None
    };
    let members_size = a.0.len() - 32;
    let mut members = Vec::new();
    if members_size < n * 2 {
        error = Some(bad_len(format!(
            "bundle has room for {} of {n} members",
            members_size / 2
        )));
    } else {
        members = (0..n).map(|i| port::from_of10(a.u16(32 + 2 * i))).collect();
    }
    if let Some(e) = error {
        return Err(e);
    }
    let b = Bundle {
        fields,
        basis,
        algorithm,
        members,
        dst,
    };
    check_bundle(&b)?;
    Ok(Action::Bundle(b))
}

/// OVS's `bundle_check`.
fn check_bundle(b: &Bundle) -> Result<(), ActionError> {
    if let Some(dst) = b.dst {
        dst.check_dst()?;
    }
    for &p in &b.members {
        if p != port::ANY {
            check_output_port(p)?;
        }
        if p == port::CONTROLLER {
            return Err(bad(BadActionCode::BadOutPort, "bundle member CONTROLLER"));
        }
    }
    Ok(())
}

const LEARN_SRC_IMM: u16 = 1 << 13;
const LEARN_DST_MASK: u16 = 3 << 11;
const LEARN_DST_LOAD: u16 = 1 << 11;
const LEARN_DST_OUTPUT: u16 = 2 << 11;

fn decode_learn(a: Bytes<'_>, v2: bool) -> Result<Action, ActionError> {
    if v2 && a.u16(38) != 0 {
        return Err(bad(
            BadActionCode::NxMustBeZero,
            "learn2 padding is nonzero",
        ));
    }
    if a.u8(27) != 0 {
        return Err(bad_arg("learn padding is nonzero"));
    }
    let mut l = Learn {
        idle_timeout: a.u16(10),
        hard_timeout: a.u16(12),
        priority: a.u16(14),
        cookie: a.u64(16),
        flags: a.u16(24),
        table: a.u8(26),
        fin_idle_timeout: a.u16(28),
        fin_hard_timeout: a.u16(30),
        limit: 0,
        result_dst: None,
        specs: Vec::new(),
        form: if v2 {
            LearnForm::Learn2
        } else {
            LearnForm::Learn
        },
    };
    if l.table == 255 {
        return Err(bad_arg("learn to table 255"));
    }
    let mut specs_at = 32;
    if v2 {
        l.limit = a.u32(32);
        if l.flags & !(Learn::SEND_FLOW_REM | Learn::DELETE_LEARNED | Learn::WRITE_RESULT) != 0 {
            return Err(bad_arg(format!("unknown learn flags {:#x}", l.flags)));
        }
        let result_ofs = a.u16(36);
        specs_at = 40;
        if l.flags & Learn::WRITE_RESULT != 0 {
            let mut r = Reader::new(a.from(40));
            let f = pull_header(&mut r)?;
            if !is_writable(f) {
                return Err(bad(
                    BadActionCode::BadSetArgument,
                    format!("{f} is not writable"),
                ));
            }
            specs_at = 40 + r.position();
            l.result_dst = Some(SubField {
                field: f,
                ofs: result_ofs,
                n_bits: 1,
            });
        } else if result_ofs != 0 {
            return Err(bad_arg("learn2 result offset without result_dst"));
        }
    } else if l.flags & !(Learn::SEND_FLOW_REM | Learn::DELETE_LEARNED) != 0 {
        return Err(bad_arg(format!("unknown learn flags {:#x}", l.flags)));
    }
    l.specs = decode_learn_specs(a.from(specs_at))?;
    Ok(Action::Learn(l))
}

fn decode_learn_specs(b: &[u8]) -> Result<Vec<LearnSpec>, ActionError> {
    let mut specs = Vec::new();
    let mut r = Reader::new(b);
    while !r.is_empty() {
        let header = r.u16().map_err(|_| bad_len("truncated learn spec"))?;
        if header == 0 {
            break;
        }
        let imm = header & LEARN_SRC_IMM != 0;
        let dst_type = header & LEARN_DST_MASK;
        let n_bits = header & 0x3ff;
        let valid =
            dst_type == 0 || dst_type == LEARN_DST_LOAD || (dst_type == LEARN_DST_OUTPUT && !imm);
        if !valid {
            return Err(bad_arg(format!(
                "learn spec header {header:#06x} is invalid"
            )));
        }
        let src_len = if imm {
            2 * usize::from(n_bits).div_ceil(16)
        } else {
            6
        };
        let dst_len = if dst_type == LEARN_DST_OUTPUT { 0 } else { 6 };
        if r.remaining() < src_len + dst_len {
            return Err(bad_len("learn spec runs past the end of the action"));
        }
        let src = if imm {
            let p = r
                .bytes(src_len)
                .map_err(|_| bad_len("truncated learn spec"))?;
            let n = usize::from(n_bits).div_ceil(8);
            LearnSrc::Immediate(p[p.len() - n..].to_vec())
        } else {
            let h = r.u32().map_err(|_| bad_len("truncated learn spec"))?;
            let ofs = r.u16().map_err(|_| bad_len("truncated learn spec"))?;
            LearnSrc::Field {
                field: field_from_nxm32(h)?,
                ofs,
            }
        };
        let dst = if dst_type == LEARN_DST_OUTPUT {
            LearnDst::Output
        } else {
            let h = r.u32().map_err(|_| bad_len("truncated learn spec"))?;
            let ofs = r.u16().map_err(|_| bad_len("truncated learn spec"))?;
            let field = field_from_nxm32(h)?;
            if dst_type == LEARN_DST_LOAD {
                LearnDst::Load { field, ofs }
            } else {
                LearnDst::Match { field, ofs }
            }
        };
        specs.push(LearnSpec { n_bits, src, dst });
    }
    if !all_zero(r.rest()) {
        return Err(bad_arg("learn has nonzero bytes after its last spec"));
    }
    Ok(specs)
}

const NXAC2PT_MAX_LEN: u16 = 0;
const NXAC2PT_CONTROLLER_ID: u16 = 1;
const NXAC2PT_REASON: u16 = 2;
const NXAC2PT_USERDATA: u16 = 3;
const NXAC2PT_PAUSE: u16 = 4;
const NXAC2PT_METER_ID: u16 = 5;

fn prop_err(code: OtherCode, reason: &str) -> ActionError {
    other(code, format!("NXAST_CONTROLLER2: {reason}"))
}

fn decode_controller2(a: Bytes<'_>) -> Result<Action, ActionError> {
    if !a.zero(10, 16) {
        return Err(must_be_zero("controller2"));
    }
    let mut c = Controller {
        form: ControllerForm::Controller2,
        ..Controller::default()
    };
    let mut rest = a.from(16);
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(prop_err(OtherCode::PropBadLen, "truncated property"));
        }
        let p = Bytes(rest);
        let ty = p.u16(0);
        let len = usize::from(p.u16(2));
        let padded = len.div_ceil(8) * 8;
        if len < 4 || padded > rest.len() {
            return Err(prop_err(OtherCode::PropBadLen, "bad property length"));
        }
        if ty == 0xffff {
            if len < 12 {
                return Err(prop_err(
                    OtherCode::PropBadLen,
                    "short experimenter property",
                ));
            }
            if p.u32(4) == 0 {
                return Err(prop_err(OtherCode::PropBadExperimenter, "experimenter 0"));
            }
            return Err(prop_err(
                OtherCode::PropBadExpType,
                "unknown experimenter property",
            ));
        }
        let payload = &rest[4..len];
        let short = || prop_err(OtherCode::PropBadLen, "short property");
        match ty {
            NXAC2PT_MAX_LEN => {
                if payload.len() < 2 {
                    return Err(short());
                }
                c.max_len = Bytes(payload).u16(0);
            }
            NXAC2PT_CONTROLLER_ID => {
                if payload.len() < 2 {
                    return Err(short());
                }
                c.controller_id = Bytes(payload).u16(0);
            }
            NXAC2PT_REASON => {
                if payload.is_empty() {
                    return Err(short());
                }
                c.reason = payload[0];
            }
            NXAC2PT_USERDATA => c.userdata = payload.to_vec(),
            NXAC2PT_PAUSE => c.pause = true,
            NXAC2PT_METER_ID => {
                if payload.len() != 4 {
                    return Err(prop_err(OtherCode::PropBadLen, "meter_id must be 4 bytes"));
                }
                c.meter_id = Bytes(payload).u32(0);
            }
            _ => {
                return Err(prop_err(
                    OtherCode::PropBadType,
                    &format!("unknown property {ty}"),
                ))
            }
        }
        rest = &rest[padded..];
    }
    Ok(Action::Controller(c))
}

fn decode_ct(version: Version, a: Bytes<'_>) -> Result<Action, ActionError> {
    let flags = a.u16(10);
    if flags & Ct::FORCE != 0 && flags & Ct::COMMIT == 0 {
        return Err(bad_arg("ct force without commit"));
    }
    let zone_src = a.u32(12);
    let zone = if zone_src != 0 {
        let f = field_from_nxm32(zone_src)?;
        let sf = SubField::from_ofs_nbits(f, a.u16(16));
        sf.check_src()?;
        if sf.n_bits != 16 {
            return Err(bad(
                BadActionCode::BadSetLen,
                format!("ct zone of {} bits", sf.n_bits),
            ));
        }
        CtZone::Field(sf)
    } else {
        CtZone::Imm(a.u16(16))
    };
    let t = a.u8(18);
    let actions = decode_list(
        version,
        a.from(24),
        1 << InstructionKind::ApplyActions as u32,
        Outer::Ct,
    )?;
    if flags & Ct::COMMIT == 0
        && actions
            .iter()
            .any(|x| !matches!(x, Action::Nat(n) if n.flags == 0 && n.addrs == NatAddrs::None))
    {
        return Err(bad_arg("ct actions other than a bare nat need commit"));
    }
    Ok(Action::Ct(Ct {
        flags,
        zone,
        table: if t == 255 { None } else { Some(t) },
        alg: a.u16(22),
        actions,
    }))
}

const NAT_RANGE_IPV4_MIN: u16 = 1 << 0;
const NAT_RANGE_IPV4_MAX: u16 = 1 << 1;
const NAT_RANGE_IPV6_MIN: u16 = 1 << 2;
const NAT_RANGE_IPV6_MAX: u16 = 1 << 3;
const NAT_RANGE_PROTO_MIN: u16 = 1 << 4;
const NAT_RANGE_PROTO_MAX: u16 = 1 << 5;

fn decode_nat(a: Bytes<'_>) -> Result<Nat, ActionError> {
    let flags = a.u16(12);
    let present = a.u16(14);
    if flags & !Nat::ALL != 0
        || (flags & Nat::SRC != 0 && flags & Nat::DST != 0)
        || (flags & Nat::PROTO_HASH != 0 && flags & Nat::PROTO_RANDOM != 0)
    {
        return Err(bad_arg(format!("bad nat flags {flags:#x}")));
    }
    let mut r = Reader::new(a.from(16));
    let missing = || bad_arg("nat option missing");
    let mut addrs = NatAddrs::None;
    if present & NAT_RANGE_IPV4_MIN != 0 {
        if present & (NAT_RANGE_IPV6_MIN | NAT_RANGE_IPV6_MAX) != 0 {
            return Err(bad_arg("nat mixes IPv4 and IPv6"));
        }
        let min = r.u32().map_err(|_| missing())?;
        if min == 0 {
            return Err(bad_arg("nat IPv4 minimum is 0"));
        }
        let max = if present & NAT_RANGE_IPV4_MAX != 0 {
            let max = r.u32().map_err(|_| missing())?;
            if max < min {
                return Err(bad_arg("nat IPv4 range is reversed"));
            }
            Some(Ipv4Addr::from(max))
        } else {
            None
        };
        addrs = NatAddrs::V4 {
            min: Ipv4Addr::from(min),
            max,
        };
    } else if present & NAT_RANGE_IPV4_MAX != 0 {
        return Err(bad_arg("nat IPv4 maximum without minimum"));
    } else if present & NAT_RANGE_IPV6_MIN != 0 {
        let min = Ipv6Addr::from(r.array::<16>().map_err(|_| missing())?);
        if min.is_unspecified() {
            return Err(bad_arg("nat IPv6 minimum is ::"));
        }
        let max = if present & NAT_RANGE_IPV6_MAX != 0 {
            let max = Ipv6Addr::from(r.array::<16>().map_err(|_| missing())?);
            if max < min {
                return Err(bad_arg("nat IPv6 range is reversed"));
            }
            Some(max)
        } else {
            None
        };
        addrs = NatAddrs::V6 { min, max };
    } else if present & NAT_RANGE_IPV6_MAX != 0 {
        return Err(bad_arg("nat IPv6 maximum without minimum"));
    }
    let mut ports = None;
    if present & NAT_RANGE_PROTO_MIN != 0 {
        if addrs == NatAddrs::None {
            return Err(bad_arg("nat port range without addresses"));
        }
        let min = r.u16().map_err(|_| missing())?;
        if min == 0 {
            return Err(bad_arg("nat port minimum is 0"));
        }
        let max = if present & NAT_RANGE_PROTO_MAX != 0 {
            let max = r.u16().map_err(|_| missing())?;
            if max < min {
                return Err(bad_arg("nat port range is reversed"));
            }
            Some(max)
        } else {
            None
        };
        ports = Some((min, max));
    } else if present & NAT_RANGE_PROTO_MAX != 0 {
        return Err(bad_arg("nat port maximum without minimum"));
    }
    Ok(Nat {
        flags,
        addrs,
        ports,
    })
}

const EDPC_NSH: u16 = 4;
const EDPT_NSH_MD_TYPE: u8 = 1;
const EDPT_NSH_TLV: u8 = 2;

fn decode_encap(a: Bytes<'_>) -> Result<Action, ActionError> {
    let packet_type = a.u32(12);
    if ![
        packet_type::ETHERNET,
        packet_type::NSH,
        packet_type::MPLS,
        packet_type::MPLS_MC,
    ]
    .contains(&packet_type)
    {
        return Err(bad(
            BadActionCode::NxBadHeaderType,
            format!("encap of packet type {packet_type:#x}"),
        ));
    }
    let mut props = Vec::new();
    let mut rest = a.from(16);
    while !rest.is_empty() {
        let p = Bytes(rest);
        let (class, ty, len) = (p.u16(0), p.u8(2), usize::from(p.u8(3)));
        let padded = len.div_ceil(8) * 8;
        if rest.len() < 4 || len < 4 || padded > rest.len() {
            return Err(bad_len("bad encap property length"));
        }
        if class != EDPC_NSH {
            return Err(bad(
                BadActionCode::NxUnknownEdProp,
                format!("encap property class {class}"),
            ));
        }
        match ty {
            EDPT_NSH_MD_TYPE => {
                if len > 8 {
                    return Err(bad(BadActionCode::NxBadEdProp, "md_type property too long"));
                }
                props.push(EdProp::NshMdType(p.u8(4)));
            }
            EDPT_NSH_TLV => {
                let tlv_len = usize::from(p.u8(7));
                if len != 8 + tlv_len.div_ceil(8) * 8 {
                    return Err(bad(
                        BadActionCode::NxBadEdProp,
                        "NSH TLV property length mismatch",
                    ));
                }
                let padded = tlv_len.div_ceil(8) * 8;
                let padding = p.range(8 + tlv_len, 8 + padded);
                props.push(EdProp::NshTlv {
                    class: p.u16(4),
                    ty: p.u8(6),
                    value: p.range(8, 8 + tlv_len).to_vec(),
                    padding: if all_zero(padding) {
                        Vec::new()
                    } else {
                        padding.to_vec()
                    },
                });
            }
            _ => {
                return Err(bad(
                    BadActionCode::NxUnknownEdProp,
                    format!("encap NSH property type {ty}"),
                ))
            }
        }
        rest = &rest[padded..];
    }
    Ok(Action::Encap(Encap {
        hdr_size: a.u16(10),
        packet_type,
        props,
    }))
}

/// OVS's `ofpacts_verify`: instruction-like items in order, at most one of
/// each, only `allowed` ones; nesting rules inside ct, clone and
/// write_actions; conjunction only with note.
pub(crate) fn verify(
    actions: &[Action],
    version: Version,
    allowed: u32,
    outer: Outer,
) -> Result<(), ActionError> {
    let mut inst = InstructionKind::Meter;
    for (i, a) in actions.iter().enumerate() {
        if matches!(a, Action::Conjunction { .. }) {
            if let Some(x) = actions
                .iter()
                .find(|x| !matches!(x, Action::Conjunction { .. } | Action::Note(_)))
            {
                return Err(bad(
                    BadActionCode::NxBadConjunction,
                    format!("\"conjunction\" actions may be used along with \"note\" but not any other kind of action (such as the \"{}\" action used here)", x.name()),
                ));
            }
            return Ok(());
        }
        verify_nested(a, outer)?;
        let next = a.instruction_kind(version);
        let out_of_order = if inst == InstructionKind::ApplyActions {
            next < inst
        } else {
            next <= inst
        };
        if i > 0 && out_of_order {
            let msg = if next == inst {
                format!(
                    "duplicate {} instruction not allowed, for OpenFlow 1.1+ compatibility",
                    inst.name()
                )
            } else {
                format!(
                    "invalid instruction ordering: {} must appear before {}, for OpenFlow 1.1+ compatibility",
                    next.name(),
                    inst.name()
                )
            };
            return Err(bad(BadActionCode::UnsupportedOrder, msg));
        }
        if allowed & next.bit() == 0 {
            return Err(bad_inst(
                BadInstructionCode::UnsupInst,
                format!("{} instruction not allowed here", next.name()),
            ));
        }
        inst = next;
    }
    Ok(())
}

fn verify_nested(a: &Action, outer: Outer) -> Result<(), ActionError> {
    let field = a.written_field();
    let ct_field = matches!(field, Some(Field::CtMark | Field::CtLabel));
    if ct_field && outer != Outer::Ct {
        return Err(bad(
            BadActionCode::BadSetArgument,
            "cannot set CT fields outside of ct action",
        ));
    }
    if matches!(a, Action::Nat(_)) {
        if outer != Outer::Ct {
            return Err(bad(
                BadActionCode::BadSetArgument,
                "Cannot have NAT action outside of \"ct\" action",
            ));
        }
        return Ok(());
    }
    if outer != Outer::Top {
        if outer == Outer::Ct {
            match field {
                None => {
                    return Err(bad_arg(format!(
                        "ct action doesn't support nested action {}",
                        a.name()
                    )))
                }
                Some(f) if !ct_field => {
                    return Err(bad_arg(format!(
                        "ct action doesn't support nested modification of {f}"
                    )))
                }
                _ => {}
            }
        }
        if matches!(a, Action::Meter(_)) {
            return Err(bad_arg("meter cannot be nested"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Encoding.

/// Width of the integer argument of a simple action.
#[derive(Clone, Copy)]
enum Arg {
    None,
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
}

fn unencodable(what: &'static str, version: Version) -> ActionError {
    ActionError::Unencodable { what, version }
}

/// Starts an action of `def`'s form: its header, with the length patched
/// later by [`finish`].
fn start(w: &mut Writer, def: &RawDef) -> Mark {
    let m = w.mark();
    match def.vendor {
        Vendor::Std => {
            w.u16(def.ty).u16(0);
        }
        Vendor::Nx | Vendor::Onf => {
            let id = if def.vendor == Vendor::Nx {
                NX_VENDOR_ID
            } else {
                ONF_VENDOR_ID
            };
            w.u16(OFPAT_VENDOR).u16(0).u32(id).u16(def.ty);
        }
    }
    m
}

/// Pads an action to at least `min` bytes and a multiple of 8, and writes
/// its length.
fn finish(w: &mut Writer, m: Mark, min: usize) {
    let len = w.since(m);
    if len < min {
        w.zeros(min - len);
    }
    w.pad_from(m, ALIGN);
    let len = w.since(m);
    w.patch_u16(m, 2, len as u16);
}

fn def_for(v: Version, raw: Raw, what: &'static str) -> Result<&'static RawDef, ActionError> {
    raw_for_encode(v, raw).ok_or_else(|| unencodable(what, v))
}

/// A simple action: header, the argument at its aligned offset, zeros
/// (`ofpact_put_raw`).
fn put_raw(w: &mut Writer, v: Version, raw: Raw, arg: Arg) -> Result<(), ActionError> {
    let def = def_for(v, raw, "action")?;
    let m = start(w, def);
    let std = def.vendor == Vendor::Std;
    let at = |n: usize| if std { 4 } else { n };
    let pad_to = |w: &mut Writer, o: usize| {
        let cur = w.since(m);
        if o > cur {
            w.zeros(o - cur);
        }
    };
    match arg {
        Arg::None => {}
        Arg::U8(x) => {
            pad_to(w, at(10));
            w.u8(x);
        }
        Arg::U16(x) => {
            pad_to(w, at(10));
            w.u16(x);
        }
        Arg::U32(x) => {
            pad_to(w, at(12));
            w.u32(x);
        }
        Arg::U64(x) => {
            pad_to(w, at(16));
            w.u64(x);
        }
    }
    finish(w, m, def.min);
    Ok(())
}

/// The 16-bit form of a port for a 16-bit wire field.
fn port16(p: u32, v: Version) -> Result<u16, ActionError> {
    port::to_of10(p).ok_or_else(|| unencodable("a port outside the 16-bit port space", v))
}

/// Encodes an action list (OVS's `ofpacts_put_openflow_actions`), as for a
/// packet-out, a group bucket or an OpenFlow 1.0 flow_mod. Instructions are
/// encoded as OVS encodes them in an OpenFlow 1.0 action list (goto_table as
/// `resubmit(,N)`, write_metadata as NXAST_WRITE_METADATA, meter,
/// clear_actions and write_actions not at all); in OpenFlow 1.1+ they belong
/// in [`super::instruction::encode`], and here are an error (except meter,
/// an action in 1.5).
pub fn encode(actions: &[Action], version: Version, w: &mut Writer) -> Result<(), ActionError> {
    for a in actions {
        encode_one(a, version, w)?;
    }
    Ok(())
}

/// Encodes `actions` into a new buffer.
pub fn encode_to_vec(actions: &[Action], version: Version) -> Result<Vec<u8>, ActionError> {
    let mut w = Writer::new();
    encode(actions, version, &mut w)?;
    Ok(w.into_vec())
}

pub(crate) fn encode_one(a: &Action, v: Version, w: &mut Writer) -> Result<(), ActionError> {
    let v10 = v == Version::Of10;
    match a {
        Action::Output { port: p, max_len } => {
            if v10 {
                let def = def_for(v, Raw::Output10, "output")?;
                let m = start(w, def);
                w.u16(port16(*p, v)?).u16(*max_len);
                finish(w, m, def.min);
            } else {
                put_output11(w, v, *p, *max_len)?;
            }
        }
        Action::OutputTrunc { port: p, max_len } => {
            let def = def_for(v, Raw::OutputTrunc, "output_trunc")?;
            let m = start(w, def);
            w.u16(port16(*p, v)?).u32(*max_len);
            finish(w, m, def.min);
        }
        Action::OutputReg { src, max_len, reg2 } => match nxm32(src.field) {
            Some(h) if !reg2 => {
                let def = def_for(v, Raw::OutputReg, "output_reg")?;
                let m = start(w, def);
                w.u16(src.ofs_nbits()).u32(h).u16(*max_len);
                finish(w, m, def.min);
            }
            _ => {
                let def = def_for(v, Raw::OutputReg2, "output_reg2")?;
                let m = start(w, def);
                w.u16(src.ofs_nbits()).u16(*max_len);
                put_header(w, src.field, None)?;
                finish(w, m, def.min);
            }
        },
        Action::Group(g) => put_raw(w, v, Raw::Group, Arg::U32(*g))?,
        Action::Controller(c) => encode_controller(c, v, w)?,
        Action::Enqueue { port: p, queue } => {
            if v10 {
                let def = def_for(v, Raw::Enqueue10, "enqueue")?;
                let m = start(w, def);
                w.u16(port16(*p, v)?).zeros(6).u32(*queue);
                finish(w, m, def.min);
            } else {
                put_raw(w, v, Raw::SetQueue, Arg::U32(*queue))?;
                put_output11(w, v, *p, u16::MAX)?;
                put_raw(w, v, Raw::PopQueue, Arg::None)?;
            }
        }
        Action::SetQueue(q) => put_raw(w, v, Raw::SetQueue, Arg::U32(*q))?,
        Action::PopQueue => put_raw(w, v, Raw::PopQueue, Arg::None)?,
        Action::Bundle(b) => encode_bundle(b, v, w)?,
        Action::SetVlanVid {
            vid,
            push_vlan_if_needed,
            flow_has_vlan,
        } => {
            if v10 {
                put_raw(w, v, Raw::SetVlanVid10, Arg::U16(*vid))?;
            } else {
                if *push_vlan_if_needed && !flow_has_vlan {
                    put_raw(w, v, Raw::PushVlan, Arg::U16(0x8100))?;
                }
                put_set_field(w, v, Field::VlanVid, &Value::from(*vid | 0x1000))?;
            }
        }
        Action::SetVlanPcp {
            pcp,
            push_vlan_if_needed,
            flow_has_vlan,
        } => {
            if v10 {
                put_raw(w, v, Raw::SetVlanPcp10, Arg::U8(*pcp))?;
            } else {
                if *push_vlan_if_needed && !flow_has_vlan {
                    put_raw(w, v, Raw::PushVlan, Arg::U16(0x8100))?;
                }
                put_set_field(w, v, Field::VlanPcp, &Value::from(*pcp))?;
            }
        }
        Action::PopVlan { .. } => put_raw(
            w,
            v,
            if v10 {
                Raw::StripVlan10
            } else {
                Raw::PopVlan11
            },
            Arg::None,
        )?,
        // OpenFlow 1.0 has no push_vlan: a following set_vlan_vid pushes a
        // tag when there is none (OVS sends nothing for it either).
        Action::PushVlan(tpid) => {
            if !v10 {
                put_raw(w, v, Raw::PushVlan, Arg::U16(*tpid))?;
            }
        }
        Action::SetEthSrc(mac) | Action::SetEthDst(mac) => {
            let src = matches!(a, Action::SetEthSrc(_));
            if v10 {
                let def = def_for(
                    v,
                    if src { Raw::SetDlSrc } else { Raw::SetDlDst },
                    "set_dl_addr",
                )?;
                let m = start(w, def);
                w.bytes(mac);
                finish(w, m, def.min);
            } else {
                put_set_field(
                    w,
                    v,
                    if src { Field::EthSrc } else { Field::EthDst },
                    &Value::from(*mac),
                )?;
            }
        }
        Action::SetIpv4Src(ip) | Action::SetIpv4Dst(ip) => {
            let src = matches!(a, Action::SetIpv4Src(_));
            let x = u32::from(*ip);
            if v10 {
                put_raw(
                    w,
                    v,
                    if src { Raw::SetNwSrc } else { Raw::SetNwDst },
                    Arg::U32(x),
                )?;
            } else {
                put_set_field(
                    w,
                    v,
                    if src { Field::Ipv4Src } else { Field::Ipv4Dst },
                    &Value::from(x),
                )?;
            }
        }
        Action::SetIpDscp(tos) => {
            if v10 {
                put_raw(w, v, Raw::SetNwTos, Arg::U8(*tos))?;
            } else {
                put_set_field(w, v, Field::IpDscp, &Value::from(*tos >> 2))?;
            }
        }
        Action::SetIpEcn(ecn) => {
            if v10 {
                put_reg_load(w, v, SubField::whole(Field::IpEcn), u64::from(*ecn))?;
            } else {
                put_set_field(w, v, Field::IpEcn, &Value::from(*ecn))?;
            }
        }
        Action::SetIpTtl(ttl) => {
            if v10 {
                put_reg_load(w, v, SubField::whole(Field::NwTtl), u64::from(*ttl))?;
            } else {
                put_raw(w, v, Raw::SetNwTtl, Arg::U8(*ttl))?;
            }
        }
        Action::SetL4SrcPort {
            port: p,
            flow_ip_proto,
        }
        | Action::SetL4DstPort {
            port: p,
            flow_ip_proto,
        } => {
            let src = matches!(a, Action::SetL4SrcPort { .. });
            let field = match (flow_ip_proto, src) {
                (6, true) => Some(Field::TcpSrc),
                (6, false) => Some(Field::TcpDst),
                (17, true) => Some(Field::UdpSrc),
                (17, false) => Some(Field::UdpDst),
                (132, true) => Some(Field::SctpSrc),
                (132, false) => Some(Field::SctpDst),
                _ => None,
            };
            match field {
                Some(f) if !v10 => put_set_field(w, v, f, &Value::from(*p))?,
                _ => put_raw(
                    w,
                    v,
                    if src { Raw::SetTpSrc } else { Raw::SetTpDst },
                    Arg::U16(*p),
                )?,
            }
        }
        Action::SetMplsLabel(l) => {
            if v10 {
                put_raw(w, v, Raw::SetMplsLabel, Arg::U32(*l))?;
            } else {
                put_set_field(w, v, Field::MplsLabel, &Value::from(*l))?;
            }
        }
        Action::SetMplsTc(tc) => {
            if v10 {
                put_raw(w, v, Raw::SetMplsTc, Arg::U8(*tc))?;
            } else {
                put_set_field(w, v, Field::MplsTc, &Value::from(*tc))?;
            }
        }
        Action::SetMplsTtl(ttl) => put_raw(w, v, Raw::SetMplsTtl, Arg::U8(*ttl))?,
        Action::DecMplsTtl => put_raw(w, v, Raw::DecMplsTtl, Arg::None)?,
        Action::PushMpls(et) => put_raw(w, v, Raw::PushMpls, Arg::U16(*et))?,
        Action::PopMpls(et) => put_raw(w, v, Raw::PopMpls, Arg::U16(*et))?,
        Action::DecTtl { ids, cnt_ids } => {
            if *cnt_ids || ids.as_slice() != [0] {
                let def = def_for(v, Raw::DecTtlCntIds, "dec_ttl")?;
                let m = start(w, def);
                w.u16(ids.len() as u16).zeros(4);
                for id in ids {
                    w.u16(*id);
                }
                finish(w, m, def.min);
            } else {
                put_raw(w, v, Raw::DecNwTtl, Arg::None)?;
            }
        }
        Action::SetField(sf) => encode_set_field(sf, v, w)?,
        Action::RegMove { src, dst, form } => {
            if v >= Version::Of15 {
                let def = def_for(v, Raw::CopyField15, "copy_field")?;
                let m = start(w, def);
                w.u16(dst.n_bits).u16(src.ofs).u16(dst.ofs).zeros(2);
                put_header(w, src.field, Some(v))?;
                put_header(w, dst.field, Some(v))?;
                finish(w, m, 8);
            } else if v == Version::Of13 && *form == RegMoveForm::OnfCopyField {
                let def = def_for(v, Raw::OnfCopyField, "copy_field")?;
                let m = start(w, def);
                w.zeros(2)
                    .u16(dst.n_bits)
                    .u16(src.ofs)
                    .u16(dst.ofs)
                    .zeros(2);
                put_header(w, src.field, Some(v))?;
                put_header(w, dst.field, Some(v))?;
                finish(w, m, 8);
            } else {
                let def = def_for(v, Raw::RegMove, "move")?;
                let m = start(w, def);
                w.u16(dst.n_bits).u16(src.ofs).u16(dst.ofs);
                put_header(w, src.field, None)?;
                put_header(w, dst.field, None)?;
                finish(w, m, 8);
            }
        }
        Action::StackPush(sf) | Action::StackPop(sf) => {
            let raw = if matches!(a, Action::StackPush(_)) {
                Raw::StackPush
            } else {
                Raw::StackPop
            };
            let def = def_for(v, raw, "stack")?;
            let m = start(w, def);
            w.u16(sf.ofs);
            put_header(w, sf.field, None)?;
            w.u16(sf.n_bits);
            finish(w, m, def.min);
        }
        Action::SetTunnel { id, wide } => {
            if v10 {
                if *id <= u64::from(u32::MAX) && !wide {
                    put_raw(w, v, Raw::SetTunnel, Arg::U32(*id as u32))?;
                } else {
                    put_raw(w, v, Raw::SetTunnel64, Arg::U64(*id))?;
                }
            } else {
                put_set_field(w, v, Field::TunnelId, &Value::from(*id))?;
            }
        }
        Action::DeleteField(f) => {
            let def = def_for(v, Raw::DeleteField, "delete_field")?;
            let m = start(w, def);
            put_header(w, *f, None)?;
            finish(w, m, def.min);
        }
        Action::FinTimeout {
            idle_timeout,
            hard_timeout,
        } => {
            let def = def_for(v, Raw::FinTimeout, "fin_timeout")?;
            let m = start(w, def);
            w.u16(*idle_timeout).u16(*hard_timeout);
            finish(w, m, def.min);
        }
        Action::Resubmit {
            in_port,
            table,
            ct,
            form,
        } => {
            let p = port16(*in_port, v)?;
            if table.is_none() && *form == ResubmitForm::Port && !ct {
                put_raw(w, v, Raw::Resubmit, Arg::U16(p))?;
            } else {
                let raw = if *ct {
                    Raw::ResubmitTableCt
                } else {
                    Raw::ResubmitTable
                };
                let def = def_for(v, raw, "resubmit")?;
                let m = start(w, def);
                w.u16(p).u8(table.unwrap_or(255));
                finish(w, m, def.min);
            }
        }
        Action::Learn(l) => encode_learn(l, v, w)?,
        Action::Conjunction {
            id,
            clause,
            n_clauses,
        } => {
            let def = def_for(v, Raw::Conjunction, "conjunction")?;
            let m = start(w, def);
            w.u8(*clause).u8(*n_clauses).u32(*id);
            finish(w, m, def.min);
        }
        Action::Multipath(mp) => {
            let def = def_for(v, Raw::Multipath, "multipath")?;
            let h = nxm32(mp.dst.field)
                .ok_or_else(|| unencodable("multipath to an experimenter field", v))?;
            let m = start(w, def);
            w.u16(mp.fields)
                .u16(mp.basis)
                .zeros(2)
                .u16(mp.algorithm)
                .u16(mp.max_link)
                .u32(mp.arg)
                .zeros(2);
            w.u16(mp.dst.ofs_nbits()).u32(h);
            finish(w, m, def.min);
        }
        Action::Note(data) => {
            let def = def_for(v, Raw::Note, "note")?;
            let m = start(w, def);
            w.bytes(data);
            finish(w, m, def.min);
        }
        Action::Exit => put_raw(w, v, Raw::Exit, Arg::None)?,
        Action::Sample(s) => {
            let raw = if s.form == SampleForm::Sample3 || s.direction != SampleDirection::Default {
                Raw::Sample3
            } else if s.form == SampleForm::Sample2 || s.sampling_port != port::ANY {
                Raw::Sample2
            } else {
                Raw::Sample
            };
            let def = def_for(v, raw, "sample")?;
            let m = start(w, def);
            w.u16(s.probability)
                .u32(s.collector_set_id)
                .u32(s.obs_domain_id)
                .u32(s.obs_point_id);
            if raw != Raw::Sample {
                let dir = match s.direction {
                    SampleDirection::Default => 0,
                    SampleDirection::Ingress => 1,
                    SampleDirection::Egress => 2,
                };
                w.u16(port16(s.sampling_port, v)?).u8(dir);
            }
            finish(w, m, def.min);
        }
        Action::Ct(ct) => {
            let def = def_for(v, Raw::Ct, "ct")?;
            let m = start(w, def);
            w.u16(ct.flags);
            match ct.zone {
                CtZone::Imm(z) => {
                    w.u32(0).u16(z);
                }
                CtZone::Field(sf) => {
                    let h = nxm32(sf.field)
                        .ok_or_else(|| unencodable("ct zone from an experimenter field", v))?;
                    w.u32(h).u16(sf.ofs_nbits());
                }
            }
            w.u8(ct.table.unwrap_or(255)).zeros(3).u16(ct.alg);
            encode(&ct.actions, v, w)?;
            finish(w, m, def.min);
        }
        Action::CtClear => put_raw(w, v, Raw::CtClear, Arg::None)?,
        Action::Nat(nat) => encode_nat(nat, v, w)?,
        Action::Clone(actions) => {
            let def = def_for(v, Raw::Clone, "clone")?;
            let m = start(w, def);
            w.zeros(6);
            encode(actions, v, w)?;
            finish(w, m, def.min);
        }
        Action::CheckPktLarger { pkt_len, dst } => {
            let def = def_for(v, Raw::CheckPktLarger, "check_pkt_larger")?;
            let m = start(w, def);
            w.u16(*pkt_len).u16(dst.ofs);
            put_header(w, dst.field, None)?;
            finish(w, m, def.min);
        }
        Action::Encap(e) => {
            let def = def_for(v, Raw::Encap, "encap")?;
            let m = start(w, def);
            w.u16(e.hdr_size).u32(e.packet_type);
            for p in &e.props {
                match p {
                    EdProp::NshMdType(t) => {
                        w.u16(EDPC_NSH).u8(EDPT_NSH_MD_TYPE).u8(5).u8(*t).zeros(3);
                    }
                    EdProp::NshTlv {
                        class,
                        ty,
                        value,
                        padding,
                    } => {
                        let pad = value.len().div_ceil(8) * 8 - value.len();
                        w.u16(EDPC_NSH)
                            .u8(EDPT_NSH_TLV)
                            .u8((8 + value.len() + pad) as u8);
                        w.u16(*class).u8(*ty).u8(value.len() as u8).bytes(value);
                        let kept = &padding[..padding.len().min(pad)];
                        w.bytes(kept).zeros(pad - kept.len());
                    }
                }
            }
            finish(w, m, def.min);
        }
        Action::Decap { packet_type } => {
            let def = def_for(v, Raw::Decap, "decap")?;
            let m = start(w, def);
            w.zeros(2).u32(*packet_type);
            finish(w, m, def.min);
        }
        Action::DecNshTtl => put_raw(w, v, Raw::DecNshTtl, Arg::None)?,
        Action::Meter(id) => match v {
            Version::Of15 => put_raw(w, v, Raw::Meter15, Arg::U32(*id))?,
            // OpenFlow 1.0 has no meters; OVS drops them when it encodes.
            Version::Of10 => {}
            _ => return Err(unencodable("meter (an instruction) in an action list", v)),
        },
        Action::ClearActions | Action::WriteActions(_) => {
            // OpenFlow 1.0 has no action set; OVS drops these when it encodes.
            if !v10 {
                return Err(unencodable("an instruction in an action list", v));
            }
        }
        Action::WriteMetadata { value, mask } => {
            if !v10 {
                return Err(unencodable("an instruction in an action list", v));
            }
            let def = def_for(v, Raw::WriteMetadata, "write_metadata")?;
            let m = start(w, def);
            w.zeros(6).u64(*value).u64(*mask);
            finish(w, m, def.min);
        }
        Action::GotoTable(t) => {
            if !v10 {
                return Err(unencodable("an instruction in an action list", v));
            }
            let def = def_for(v, Raw::ResubmitTable, "goto_table")?;
            let m = start(w, def);
            w.u16(0xfff8).u8(*t);
            finish(w, m, def.min);
        }
    }
    Ok(())
}

fn put_output11(w: &mut Writer, v: Version, p: u32, max_len: u16) -> Result<(), ActionError> {
    let def = def_for(v, Raw::Output11, "output")?;
    let m = start(w, def);
    w.u32(p).u16(max_len);
    finish(w, m, def.min);
    Ok(())
}

/// OFPAT_SET_FIELD of a whole field (`put_set_field`).
fn put_set_field(w: &mut Writer, v: Version, f: Field, value: &Value) -> Result<(), ActionError> {
    let raw = if v >= Version::Of15 {
        Raw::SetField15
    } else {
        Raw::SetField12
    };
    let def = def_for(v, raw, "set_field")?;
    let m = start(w, def);
    put_entry(w, f, Some(v), value, &Value::ones(value.len()))?;
    finish(w, m, def.min);
    Ok(())
}

/// One NXAST_REG_LOAD.
fn put_reg_load(w: &mut Writer, v: Version, dst: SubField, value: u64) -> Result<(), ActionError> {
    let def = def_for(v, Raw::RegLoad, "reg_load")?;
    let h = nxm32(dst.field).ok_or_else(|| unencodable("reg_load of an experimenter field", v))?;
    let m = start(w, def);
    w.u16(dst.ofs_nbits()).u32(h).u64(value);
    finish(w, m, def.min);
    Ok(())
}

fn encode_set_field(sf: &SetField, v: Version, w: &mut Writer) -> Result<(), ActionError> {
    if v >= Version::Of15 {
        let def = def_for(v, Raw::SetField15, "set_field")?;
        let m = start(w, def);
        put_entry(w, sf.field, Some(v), &sf.value, &sf.mask)?;
        finish(w, m, def.min);
        Ok(())
    } else if sf.form != SetFieldForm::SetField {
        set_field_to_nxast(sf, v, w)
    } else if v == Version::Of10 {
        set_field_to_of10(sf, v, w)
    } else if sf.is_whole() {
        put_set_field(w, v, sf.field, &sf.value)
    } else {
        set_field_to_nxast(sf, v, w)
    }
}

/// NXAST_REG_LOAD2, or NXAST_REG_LOADs where they can say it.
fn set_field_to_nxast(sf: &SetField, v: Version, w: &mut Writer) -> Result<(), ActionError> {
    if sf.form == SetFieldForm::RegLoad2 || nxm32(sf.field).is_none() || sf.field.info().variable {
        let def = def_for(v, Raw::RegLoad2, "reg_load2")?;
        let m = start(w, def);
        put_entry(w, sf.field, None, &sf.value, &sf.mask)?;
        finish(w, m, def.min);
        Ok(())
    } else {
        for (dst, value) in sf.load_segments() {
            put_reg_load(w, v, dst, value)?;
        }
        Ok(())
    }
}

/// OpenFlow 1.0's own actions for whole-field sets it has, else Nicira's
/// (`set_field_to_legacy_openflow`).
fn set_field_to_of10(sf: &SetField, v: Version, w: &mut Writer) -> Result<(), ActionError> {
    if !sf.is_whole() {
        return set_field_to_nxast(sf, v, w);
    }
    let x = sf.value.to_u64().unwrap_or(0);
    match sf.field {
        Field::VlanTci => {
            if x & 0x1000 != 0 {
                put_raw(w, v, Raw::SetVlanVid10, Arg::U16((x & 0xfff) as u16))?;
                put_raw(w, v, Raw::SetVlanPcp10, Arg::U8((x >> 13) as u8))?;
            } else {
                put_raw(w, v, Raw::StripVlan10, Arg::None)?;
            }
        }
        Field::VlanVid => put_raw(w, v, Raw::SetVlanVid10, Arg::U16((x & 0xfff) as u16))?,
        Field::VlanPcp => put_raw(w, v, Raw::SetVlanPcp10, Arg::U8(x as u8))?,
        Field::EthSrc | Field::EthDst => {
            let raw = if sf.field == Field::EthSrc {
                Raw::SetDlSrc
            } else {
                Raw::SetDlDst
            };
            let def = def_for(v, raw, "set_dl_addr")?;
            let m = start(w, def);
            w.bytes(sf.value.as_slice());
            finish(w, m, def.min);
        }
        Field::Ipv4Src => put_raw(w, v, Raw::SetNwSrc, Arg::U32(x as u32))?,
        Field::Ipv4Dst => put_raw(w, v, Raw::SetNwDst, Arg::U32(x as u32))?,
        Field::NwTos => put_raw(w, v, Raw::SetNwTos, Arg::U8(x as u8))?,
        Field::IpDscp => put_raw(w, v, Raw::SetNwTos, Arg::U8((x as u8) << 2))?,
        Field::IpEcn => put_reg_load(w, v, SubField::whole(Field::IpEcn), x)?,
        Field::TcpSrc | Field::UdpSrc => put_raw(w, v, Raw::SetTpSrc, Arg::U16(x as u16))?,
        Field::TcpDst | Field::UdpDst => put_raw(w, v, Raw::SetTpDst, Arg::U16(x as u16))?,
        _ => set_field_to_nxast(sf, v, w)?,
    }
    Ok(())
}

fn encode_controller(c: &Controller, v: Version, w: &mut Writer) -> Result<(), ActionError> {
    if !c.userdata.is_empty() || c.pause || c.meter_id != 0 || c.form == ControllerForm::Controller2
    {
        let def = def_for(v, Raw::Controller2, "controller")?;
        let m = start(w, def);
        w.zeros(6);
        let prop = |w: &mut Writer, ty: u16, body: &[u8]| {
            let pm = w.mark();
            w.u16(ty).u16((4 + body.len()) as u16).bytes(body);
            w.pad_from(pm, ALIGN);
        };
        // OpenFlow gives 16-bit properties a length of 8; so does OVS.
        let u16_prop = |x: u16| {
            let b = x.to_be_bytes();
            [b[0], b[1], 0, 0]
        };
        if c.max_len != u16::MAX {
            prop(w, NXAC2PT_MAX_LEN, &u16_prop(c.max_len));
        }
        if c.controller_id != 0 {
            prop(w, NXAC2PT_CONTROLLER_ID, &u16_prop(c.controller_id));
        }
        if c.reason != 1 {
            prop(w, NXAC2PT_REASON, &[c.reason]);
        }
        if !c.userdata.is_empty() {
            prop(w, NXAC2PT_USERDATA, &c.userdata);
        }
        if c.pause {
            prop(w, NXAC2PT_PAUSE, &[]);
        }
        if c.meter_id != 0 {
            prop(w, NXAC2PT_METER_ID, &c.meter_id.to_be_bytes());
        }
        finish(w, m, def.min);
    } else {
        let def = def_for(v, Raw::Controller, "controller")?;
        let m = start(w, def);
        w.u16(c.max_len).u16(c.controller_id).u8(c.reason);
        finish(w, m, def.min);
    }
    Ok(())
}

fn encode_bundle(b: &Bundle, v: Version, w: &mut Writer) -> Result<(), ActionError> {
    let def = def_for(
        v,
        if b.dst.is_some() {
            Raw::BundleLoad
        } else {
            Raw::Bundle
        },
        "bundle",
    )?;
    let m = start(w, def);
    w.u16(b.algorithm)
        .u16(b.fields)
        .u16(b.basis)
        .u32(0x0000_0002)
        .u16(b.members.len() as u16);
    match b.dst {
        Some(dst) => {
            let h = nxm32(dst.field)
                .ok_or_else(|| unencodable("bundle_load to an experimenter field", v))?;
            w.u16(dst.ofs_nbits()).u32(h);
        }
        None => {
            w.u16(0).u32(0);
        }
    }
    w.zeros(4);
    for p in &b.members {
        w.u16(port16(*p, v)?);
    }
    finish(w, m, def.min);
    Ok(())
}

fn encode_learn(l: &Learn, v: Version, w: &mut Writer) -> Result<(), ActionError> {
    let v2 = l.form == LearnForm::Learn2 || l.limit != 0 || l.flags & Learn::WRITE_RESULT != 0;
    let def = def_for(v, if v2 { Raw::Learn2 } else { Raw::Learn }, "learn")?;
    let m = start(w, def);
    w.u16(l.idle_timeout)
        .u16(l.hard_timeout)
        .u16(l.priority)
        .u64(l.cookie)
        .u16(l.flags)
        .u8(l.table)
        .u8(0);
    w.u16(l.fin_idle_timeout).u16(l.fin_hard_timeout);
    if v2 {
        w.u32(l.limit).u16(l.result_dst.map_or(0, |d| d.ofs)).u16(0);
        if l.flags & Learn::WRITE_RESULT != 0 {
            let dst = l
                .result_dst
                .ok_or_else(|| unencodable("learn write_result without result_dst", v))?;
            put_header(w, dst.field, None)?;
        }
    }
    for s in &l.specs {
        let src_bit = if matches!(s.src, LearnSrc::Immediate(_)) {
            LEARN_SRC_IMM
        } else {
            0
        };
        let dst_bits = match s.dst {
            LearnDst::Match { .. } => 0,
            LearnDst::Load { .. } => LEARN_DST_LOAD,
            LearnDst::Output => LEARN_DST_OUTPUT,
        };
        w.u16((s.n_bits & 0x3ff) | src_bit | dst_bits);
        match &s.src {
            LearnSrc::Field { field, ofs } => {
                let h = nxm32(*field)
                    .ok_or_else(|| unencodable("learn from an experimenter field", v))?;
                w.u32(h).u16(*ofs);
            }
            LearnSrc::Immediate(bytes) => {
                let room = 2 * usize::from(s.n_bits).div_ceil(16);
                let n = bytes.len().min(room);
                w.zeros(room - n).bytes(&bytes[bytes.len() - n..]);
            }
        }
        if let LearnDst::Match { field, ofs } | LearnDst::Load { field, ofs } = s.dst {
            let h =
                nxm32(field).ok_or_else(|| unencodable("learn into an experimenter field", v))?;
            w.u32(h).u16(ofs);
        }
    }
    finish(w, m, def.min);
    Ok(())
}

fn encode_nat(n: &Nat, v: Version, w: &mut Writer) -> Result<(), ActionError> {
    let def = def_for(v, Raw::Nat, "nat")?;
    let m = start(w, def);
    w.zeros(2).u16(n.flags).u16(0);
    let mut present = 0u16;
    match n.addrs {
        NatAddrs::None => {}
        NatAddrs::V4 { min, max } => {
            if !min.is_unspecified() {
                w.u32(u32::from(min));
                present |= NAT_RANGE_IPV4_MIN;
            }
            if let Some(max) = max.filter(|a| !a.is_unspecified()) {
                w.u32(u32::from(max));
                present |= NAT_RANGE_IPV4_MAX;
            }
        }
        NatAddrs::V6 { min, max } => {
            if !min.is_unspecified() {
                w.bytes(&min.octets());
                present |= NAT_RANGE_IPV6_MIN;
            }
            if let Some(max) = max.filter(|a| !a.is_unspecified()) {
                w.bytes(&max.octets());
                present |= NAT_RANGE_IPV6_MAX;
            }
        }
    }
    if n.addrs != NatAddrs::None {
        if let Some((min, max)) = n.ports {
            if min != 0 {
                w.u16(min);
                present |= NAT_RANGE_PROTO_MIN;
            }
            if let Some(max) = max.filter(|&p| p != 0) {
                w.u16(max);
                present |= NAT_RANGE_PROTO_MAX;
            }
        }
    }
    w.patch_u16(m, 14, present);
    finish(w, m, def.min);
    Ok(())
}

// ---------------------------------------------------------------------------
// Text: how `ovs-ofctl dump-flows` prints actions.

fn hex_dots(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(".")
}

fn reason_name(r: u8) -> String {
    match r {
        0 => "no_match".into(),
        1 => "action".into(),
        2 => "invalid_ttl".into(),
        3 => "action_set".into(),
        4 => "group".into(),
        5 => "packet_out".into(),
        // OVS's internal explicit/implicit miss reasons print as nothing.
        6 | 7 => String::new(),
        r => r.to_string(),
    }
}

fn algorithm_name(a: u16, names: &[&'static str]) -> &'static str {
    names.get(usize::from(a)).copied().unwrap_or("<unknown>")
}

const MULTIPATH_ALGS: [&str; 4] = ["modulo_n", "hash_threshold", "hrw", "iter_hash"];
const BUNDLE_ALGS: [&str; 2] = ["active_backup", "hrw"];

/// A list of actions in `ovs-ofctl`'s syntax (`drop` when empty).
pub fn format_list(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "drop".to_string();
    }
    actions
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn format_nat(n: &Nat) -> String {
    let mut s = String::from("nat");
    if n.flags & (Nat::SRC | Nat::DST) == 0 {
        return s;
    }
    s.push('(');
    s.push_str(if n.flags & Nat::SRC != 0 {
        "src"
    } else {
        "dst"
    });
    if n.addrs != NatAddrs::None {
        s.push('=');
        let port_min = n.ports.map_or(0, |p| p.0);
        match n.addrs {
            NatAddrs::V4 { min, max } => {
                s.push_str(&min.to_string());
                if let Some(max) = max.filter(|m| !m.is_unspecified() && *m != min) {
                    s.push_str(&format!("-{max}"));
                }
            }
            NatAddrs::V6 { min, max } => {
                let br = |a: Ipv6Addr| {
                    if port_min != 0 {
                        format!("[{a}]")
                    } else {
                        a.to_string()
                    }
                };
                s.push_str(&br(min));
                if let Some(max) = max.filter(|m| !m.is_unspecified() && *m != min) {
                    s.push('-');
                    s.push_str(&br(max));
                }
            }
            NatAddrs::None => {}
        }
        if let Some((min, max)) = n.ports.filter(|p| p.0 != 0) {
            s.push_str(&format!(":{min}"));
            if let Some(max) = max.filter(|&m| m != 0 && m != min) {
                s.push_str(&format!("-{max}"));
            }
        }
        s.push(',');
        if n.flags & Nat::PERSISTENT != 0 {
            s.push_str("persistent,");
        }
        if n.flags & Nat::PROTO_HASH != 0 {
            s.push_str("hash,");
        }
        if n.flags & Nat::PROTO_RANDOM != 0 {
            s.push_str("random,");
        }
    }
    chomp(&mut s, ',');
    s.push(')');
    s
}

fn chomp(s: &mut String, c: char) {
    if s.ends_with(c) {
        s.pop();
    }
}

fn format_learn(l: &Learn) -> String {
    let mut s = format!("learn(table={}", l.table);
    if l.idle_timeout != 0 {
        s.push_str(&format!(",idle_timeout={}", l.idle_timeout));
    }
    if l.hard_timeout != 0 {
        s.push_str(&format!(",hard_timeout={}", l.hard_timeout));
    }
    if l.fin_idle_timeout != 0 {
        s.push_str(&format!(",fin_idle_timeout={}", l.fin_idle_timeout));
    }
    if l.fin_hard_timeout != 0 {
        s.push_str(&format!(",fin_hard_timeout={}", l.fin_hard_timeout));
    }
    if l.priority != 0x8000 {
        s.push_str(&format!(",priority={}", l.priority));
    }
    if l.flags & Learn::SEND_FLOW_REM != 0 {
        s.push_str(",send_flow_rem");
    }
    if l.flags & Learn::DELETE_LEARNED != 0 {
        s.push_str(",delete_learned");
    }
    if l.cookie != 0 {
        s.push_str(&format!(",cookie={:#x}", l.cookie));
    }
    if l.limit != 0 {
        s.push_str(&format!(",limit={}", l.limit));
    }
    if l.flags & Learn::WRITE_RESULT != 0 {
        if let Some(d) = l.result_dst {
            s.push_str(&format!(",result_dst={d}"));
        }
    }
    for spec in &l.specs {
        s.push(',');
        let n = spec.n_bits;
        match (&spec.src, spec.dst) {
            (LearnSrc::Immediate(imm), LearnDst::Match { field, ofs }) => {
                let dst = SubField {
                    field,
                    ofs,
                    n_bits: n,
                };
                if dst.is_whole() {
                    let v = right_align(imm, field_bytes(field));
                    s.push_str(&format!(
                        "{}={}",
                        field.name(),
                        format_value(field, v.as_slice(), None)
                    ));
                } else {
                    s.push_str(&format!("{dst}={}", hex_string(imm)));
                }
            }
            (
                LearnSrc::Field {
                    field: sfield,
                    ofs: sofs,
                },
                LearnDst::Match { field, ofs },
            ) => {
                s.push_str(
                    &SubField {
                        field,
                        ofs,
                        n_bits: n,
                    }
                    .to_string(),
                );
                if *sfield != field || *sofs != ofs {
                    s.push_str(&format!(
                        "={}",
                        SubField {
                            field: *sfield,
                            ofs: *sofs,
                            n_bits: n
                        }
                    ));
                }
            }
            (LearnSrc::Immediate(imm), LearnDst::Load { field, ofs }) => {
                s.push_str(&format!(
                    "load:{}->{}",
                    hex_string(imm),
                    SubField {
                        field,
                        ofs,
                        n_bits: n
                    }
                ));
            }
            (
                LearnSrc::Field {
                    field: sfield,
                    ofs: sofs,
                },
                LearnDst::Load { field, ofs },
            ) => {
                s.push_str(&format!(
                    "load:{}->{}",
                    SubField {
                        field: *sfield,
                        ofs: *sofs,
                        n_bits: n
                    },
                    SubField {
                        field,
                        ofs,
                        n_bits: n
                    }
                ));
            }
            (LearnSrc::Field { field, ofs }, LearnDst::Output) => {
                s.push_str(&format!(
                    "output:{}",
                    SubField {
                        field: *field,
                        ofs: *ofs,
                        n_bits: n
                    }
                ));
            }
            (LearnSrc::Immediate(_), LearnDst::Output) => {}
        }
    }
    s.push(')');
    s
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Output { port: p, max_len } => {
                if *p < 0xff00 {
                    f.write_str("output:")?;
                }
                f.write_str(&port::format(*p))?;
                if *p == port::CONTROLLER {
                    write!(f, ":{max_len}")?;
                }
                Ok(())
            }
            Action::OutputTrunc { port: p, max_len } => {
                write!(f, "output(port={},max_len={max_len})", port::format(*p))
            }
            Action::OutputReg { src, .. } => write!(f, "output:{src}"),
            Action::Group(g) => write!(f, "group:{g}"),
            Action::Controller(c) => {
                if c.reason == 1
                    && c.controller_id == 0
                    && c.userdata.is_empty()
                    && !c.pause
                    && c.meter_id == 0
                {
                    return write!(f, "CONTROLLER:{}", c.max_len);
                }
                let mut s = String::from("controller(");
                if c.reason != 1 {
                    s.push_str(&format!("reason={},", reason_name(c.reason)));
                }
                if c.max_len != u16::MAX {
                    s.push_str(&format!("max_len={},", c.max_len));
                }
                if c.controller_id != 0 {
                    s.push_str(&format!("id={},", c.controller_id));
                }
                if !c.userdata.is_empty() {
                    s.push_str(&format!("userdata={},", hex_dots(&c.userdata)));
                }
                if c.pause {
                    s.push_str("pause,");
                }
                if c.meter_id != 0 {
                    s.push_str(&format!("meter_id={},", c.meter_id));
                }
                chomp(&mut s, ',');
                s.push(')');
                f.write_str(&s)
            }
            Action::Enqueue { port: p, queue } => write!(f, "enqueue:{}:{queue}", port::format(*p)),
            Action::SetQueue(q) => write!(f, "set_queue:{q}"),
            Action::PopQueue => f.write_str("pop_queue"),
            Action::Bundle(b) => {
                let name = if b.dst.is_some() {
                    "bundle_load"
                } else {
                    "bundle"
                };
                write!(
                    f,
                    "{name}({},{},{},ofport,",
                    hash_fields::name(b.fields),
                    b.basis,
                    algorithm_name(b.algorithm, &BUNDLE_ALGS)
                )?;
                if let Some(d) = b.dst {
                    write!(f, "{d},")?;
                }
                let members: Vec<String> = b.members.iter().map(|p| port::format(*p)).collect();
                write!(f, "members:{})", members.join(","))
            }
            Action::SetVlanVid {
                vid,
                push_vlan_if_needed,
                ..
            } => {
                write!(
                    f,
                    "{}:{vid}",
                    if *push_vlan_if_needed {
                        "mod_vlan_vid"
                    } else {
                        "set_vlan_vid"
                    }
                )
            }
            Action::SetVlanPcp {
                pcp,
                push_vlan_if_needed,
                ..
            } => {
                write!(
                    f,
                    "{}:{pcp}",
                    if *push_vlan_if_needed {
                        "mod_vlan_pcp"
                    } else {
                        "set_vlan_pcp"
                    }
                )
            }
            Action::PopVlan { strip } => {
                f.write_str(if *strip { "strip_vlan" } else { "pop_vlan" })
            }
            Action::PushVlan(t) => write!(f, "push_vlan:{t:#x}"),
            Action::SetEthSrc(m) => write!(f, "mod_dl_src:{}", fmt_mac(m)),
            Action::SetEthDst(m) => write!(f, "mod_dl_dst:{}", fmt_mac(m)),
            Action::SetIpv4Src(a) => write!(f, "mod_nw_src:{a}"),
            Action::SetIpv4Dst(a) => write!(f, "mod_nw_dst:{a}"),
            Action::SetIpDscp(d) => write!(f, "mod_nw_tos:{d}"),
            Action::SetIpEcn(e) => write!(f, "mod_nw_ecn:{e}"),
            Action::SetIpTtl(t) => write!(f, "mod_nw_ttl:{t}"),
            Action::SetL4SrcPort { port: p, .. } => write!(f, "mod_tp_src:{p}"),
            Action::SetL4DstPort { port: p, .. } => write!(f, "mod_tp_dst:{p}"),
            Action::SetMplsLabel(l) => write!(f, "set_mpls_label({l})"),
            Action::SetMplsTc(t) => write!(f, "set_mpls_tc({t})"),
            Action::SetMplsTtl(t) => write!(f, "set_mpls_ttl({t})"),
            Action::DecMplsTtl => f.write_str("dec_mpls_ttl"),
            Action::PushMpls(e) => write!(f, "push_mpls:0x{e:04x}"),
            Action::PopMpls(e) => write!(f, "pop_mpls:0x{e:04x}"),
            Action::DecTtl { ids, cnt_ids } => {
                f.write_str("dec_ttl")?;
                if *cnt_ids {
                    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
                    write!(f, "({})", ids.join(","))?;
                }
                Ok(())
            }
            Action::SetField(sf) => {
                if sf.form == SetFieldForm::RegLoad {
                    let loads: Vec<String> = sf
                        .load_segments()
                        .iter()
                        .map(|(d, v)| {
                            if *v == 0 {
                                format!("load:0->{d}")
                            } else {
                                format!("load:{v:#x}->{d}")
                            }
                        })
                        .collect();
                    f.write_str(&loads.join(","))
                } else {
                    write!(
                        f,
                        "set_field:{}->{}",
                        format_value(sf.field, sf.value.as_slice(), Some(sf.mask.as_slice())),
                        sf.field.name()
                    )
                }
            }
            Action::RegMove { src, dst, .. } => write!(f, "move:{src}->{dst}"),
            Action::StackPush(sf) => write!(f, "push:{sf}"),
            Action::StackPop(sf) => write!(f, "pop:{sf}"),
            Action::SetTunnel { id, wide } => {
                let w = if *id > u64::from(u32::MAX) || *wide {
                    "64"
                } else {
                    ""
                };
                if *id == 0 {
                    write!(f, "set_tunnel{w}:0")
                } else {
                    write!(f, "set_tunnel{w}:{id:#x}")
                }
            }
            Action::DeleteField(fl) => write!(f, "delete_field:{}", fl.name()),
            Action::FinTimeout {
                idle_timeout,
                hard_timeout,
            } => {
                let mut s = String::from("fin_timeout(");
                if *idle_timeout != 0 {
                    s.push_str(&format!("idle_timeout={idle_timeout},"));
                }
                if *hard_timeout != 0 {
                    s.push_str(&format!("hard_timeout={hard_timeout},"));
                }
                chomp(&mut s, ',');
                s.push(')');
                f.write_str(&s)
            }
            Action::Resubmit {
                in_port, table, ct, ..
            } => {
                if *in_port != port::IN_PORT && table.is_none() {
                    return write!(f, "resubmit:{}", port::format(*in_port));
                }
                f.write_str("resubmit(")?;
                if *in_port != port::IN_PORT {
                    f.write_str(&port::format(*in_port))?;
                }
                f.write_str(",")?;
                if let Some(t) = table {
                    write!(f, "{t}")?;
                }
                if *ct {
                    f.write_str(",ct")?;
                }
                f.write_str(")")
            }
            Action::Learn(l) => f.write_str(&format_learn(l)),
            Action::Conjunction {
                id,
                clause,
                n_clauses,
            } => {
                write!(
                    f,
                    "conjunction({id},{}/{n_clauses})",
                    u16::from(*clause) + 1
                )
            }
            Action::Multipath(mp) => write!(
                f,
                "multipath({},{},{},{},{},{})",
                hash_fields::name(mp.fields),
                mp.basis,
                algorithm_name(mp.algorithm, &MULTIPATH_ALGS),
                u32::from(mp.max_link) + 1,
                mp.arg,
                mp.dst
            ),
            Action::Note(d) => write!(f, "note:{}", hex_dots(d)),
            Action::Exit => f.write_str("exit"),
            Action::Sample(s) => {
                write!(
                    f,
                    "sample(probability={},collector_set_id={},obs_domain_id={},obs_point_id={}",
                    s.probability, s.collector_set_id, s.obs_domain_id, s.obs_point_id
                )?;
                if s.sampling_port != port::ANY {
                    write!(f, ",sampling_port={}", port::format(s.sampling_port))?;
                }
                match s.direction {
                    SampleDirection::Ingress => f.write_str(",ingress")?,
                    SampleDirection::Egress => f.write_str(",egress")?,
                    SampleDirection::Default => {}
                }
                f.write_str(")")
            }
            Action::Ct(ct) => {
                let mut s = String::from("ct(");
                if ct.flags & Ct::COMMIT != 0 {
                    s.push_str("commit,");
                }
                if ct.flags & Ct::FORCE != 0 {
                    s.push_str("force,");
                }
                if let Some(t) = ct.table {
                    s.push_str(&format!("table={t},"));
                }
                match ct.zone {
                    CtZone::Field(sf) => s.push_str(&format!("zone={sf},")),
                    CtZone::Imm(z) if z != 0 => s.push_str(&format!("zone={z},")),
                    CtZone::Imm(_) => {}
                }
                let mut rest = ct.actions.as_slice();
                if let Some((Action::Nat(n), tail)) = rest.split_first() {
                    s.push_str(&format_nat(n));
                    s.push(',');
                    rest = tail;
                }
                if !rest.is_empty() {
                    s.push_str(&format!("exec({}),", format_list(rest)));
                }
                match ct.alg {
                    0 => {}
                    21 => s.push_str("alg=ftp,"),
                    69 => s.push_str("alg=tftp,"),
                    a => s.push_str(&format!("alg={a},")),
                }
                chomp(&mut s, ',');
                s.push(')');
                f.write_str(&s)
            }
            Action::CtClear => f.write_str("ct_clear"),
            Action::Nat(n) => f.write_str(&format_nat(n)),
            Action::Clone(a) => write!(f, "clone({})", format_list(a)),
            Action::CheckPktLarger { pkt_len, dst } => {
                write!(f, "check_pkt_larger({pkt_len})->{dst}")
            }
            Action::Encap(e) => {
                let name = match e.packet_type {
                    packet_type::ETHERNET => "ethernet",
                    packet_type::NSH => "nsh",
                    packet_type::MPLS => "mpls",
                    packet_type::MPLS_MC => "mpls_mc",
                    _ => "UNKNOWN",
                };
                write!(f, "encap({name}")?;
                if !e.props.is_empty() {
                    let props: Vec<String> = e
                        .props
                        .iter()
                        .map(|p| match p {
                            EdProp::NshMdType(t) => format!("md_type={t}"),
                            EdProp::NshTlv {
                                class, ty, value, ..
                            } => {
                                format!("tlv(0x{class:04x},{ty},{})", hex_string(value))
                            }
                        })
                        .collect();
                    write!(f, "({})", props.join(","))?;
                }
                f.write_str(")")
            }
            Action::Decap { packet_type: pt } => {
                if *pt == packet_type::USE_NEXT_PROTO {
                    f.write_str("decap()")
                } else {
                    // C's %#x prints 0 without the 0x.
                    let ty = pt & 0xffff;
                    let ty = if ty == 0 {
                        "0".to_string()
                    } else {
                        format!("{ty:#x}")
                    };
                    write!(f, "decap(packet_type(ns={},type={ty}))", pt >> 16)
                }
            }
            Action::DecNshTtl => f.write_str("dec_nsh_ttl"),
            Action::Meter(m) => write!(f, "meter:{m}"),
            Action::ClearActions => f.write_str("clear_actions"),
            Action::WriteActions(a) => write!(f, "write_actions({})", format_list(a)),
            Action::WriteMetadata { value, mask } => {
                if *value == 0 {
                    f.write_str("write_metadata:0")?;
                } else {
                    write!(f, "write_metadata:{value:#x}")?;
                }
                if *mask != u64::MAX {
                    if *mask == 0 {
                        f.write_str("/0")?;
                    } else {
                        write!(f, "/{mask:#x}")?;
                    }
                }
                Ok(())
            }
            Action::GotoTable(t) => write!(f, "goto_table:{t}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Text: how `ovs-ofctl add-flow` parses actions.

/// OVS's `parse_value`: the length of the value at the front of `s`, which
/// ends at one of `delims` outside parentheses.
fn value_len(s: &str, delims: &[u8]) -> usize {
    let b = s.as_bytes();
    let mut n = 0;
    while n < b.len() && !delims.contains(&b[n]) {
        if b[n] == b'(' {
            let mut level = 0;
            loop {
                match b.get(n) {
                    None => return n,
                    Some(b'(') => level += 1,
                    Some(b')') => level -= 1,
                    _ => {}
                }
                n += 1;
                if level <= 0 {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// OVS's `ofputil_parse_key_value`: the next `key`, `key:value`,
/// `key=value` or `key(value)` of a comma-separated list.
fn next_kv<'a>(s: &mut &'a str) -> Option<(&'a str, &'a str)> {
    const SPACE: &[u8] = b", \t\r\n";
    let t = s.trim_start_matches(|c: char| c.is_ascii() && SPACE.contains(&(c as u8)));
    if t.is_empty() {
        *s = t;
        return None;
    }
    let key_len = t
        .find([':', '=', '(', ',', ' ', '\t', '\r', '\n'])
        .unwrap_or(t.len());
    let key = &t[..key_len];
    let delim = t.as_bytes().get(key_len).copied();
    let after = &t[(key_len + usize::from(delim.is_some())).min(t.len())..];
    let delims: &[u8] = match delim {
        Some(b':') | Some(b'=') => SPACE,
        Some(b'(') => b")",
        _ => {
            *s = after;
            return Some((key, ""));
        }
    };
    let mut n = value_len(after, delims);
    let ab = after.as_bytes();
    if delim == Some(b'(')
        && ab.get(n) == Some(&b')')
        && ab.get(n + 1) == Some(&b'-')
        && ab.get(n + 2) == Some(&b'>')
    {
        n += value_len(&after[n..], SPACE);
    }
    let value = &after[..n];
    let skip = if n < after.len() { n + 1 } else { n };
    *s = &after[skip..];
    Some((key, value))
}

/// A C `strtok_r` over one string, for the positional syntaxes
/// (`bundle`, `multipath`, `enqueue`).
struct Tok<'a>(&'a str);

impl<'a> Tok<'a> {
    fn next(&mut self, delims: &str) -> Option<&'a str> {
        let s = self.0.trim_start_matches(|c| delims.contains(c));
        if s.is_empty() {
            self.0 = s;
            return None;
        }
        let end = s.find(|c| delims.contains(c)).unwrap_or(s.len());
        let tok = &s[..end];
        self.0 = if end < s.len() { &s[end + 1..] } else { "" };
        Some(tok)
    }
}

const MAX_DEPTH: usize = 100;

/// Parses an action list as `ovs-ofctl add-flow` takes it after
/// `actions=`: instructions (`goto_table`, `write_actions(...)`, ...) are
/// allowed, `drop` means none.
pub fn parse(s: &str) -> Result<Vec<Action>, ParseError> {
    parse_list(s, true, Outer::Top, 0)
}

/// Parses an action list where instructions are not allowed (packet-out,
/// group buckets).
pub fn parse_action_list(s: &str) -> Result<Vec<Action>, ParseError> {
    parse_list(s, false, Outer::Top, 0)
}

fn parse_list(
    s: &str,
    allow_instructions: bool,
    outer: Outer,
    depth: usize,
) -> Result<Vec<Action>, ParseError> {
    if depth >= MAX_DEPTH {
        return Err(perr("Action nested too deeply"));
    }
    let mut out = Vec::new();
    let mut drop = false;
    let mut rest = s;
    while let Some((key, value)) = next_kv(&mut rest) {
        let lk = key.to_ascii_lowercase();
        if lk == "drop" {
            drop = true;
            continue;
        }
        if lk == "apply_actions" {
            return Err(perr("apply_actions is the default instruction"));
        }
        if !parse_one(&lk, value, depth, &mut out)? {
            match port::parse(key) {
                Some(p) => out.push(Action::Output {
                    port: p,
                    max_len: 0,
                }),
                None => return Err(perr(format!("unknown action {key}"))),
            }
        }
    }
    if drop && !out.is_empty() {
        return Err(perr(
            "\"drop\" must not be accompanied by any other action or instruction",
        ));
    }
    let allowed = if allow_instructions {
        ALLOW_ALL
    } else {
        ALLOW_ACTIONS
    };
    verify(&out, Version::Of13, allowed, outer).map_err(|e| match e {
        ActionError::BadAction { reason, .. } | ActionError::BadInstruction { reason, .. } => {
            perr(reason)
        }
        e => perr(e.to_string()),
    })?;
    Ok(out)
}

/// `str_to_mac`, which ignores what follows the address.
fn parse_mac_arg(s: &str) -> Result<[u8; 6], ParseError> {
    scan_mac(s)
        .map(|(m, _)| m)
        .ok_or_else(|| perr(format!("invalid mac address {s}")))
}

fn parse_ip(s: &str) -> Result<Ipv4Addr, ParseError> {
    s.parse()
        .map_err(|_| perr(format!("{s}: could not convert to IP address")))
}

fn parse_table(s: &str) -> Result<u8, ParseError> {
    parse_u8(s, "table")
}

fn parse_hex_bytes(s: &str) -> Result<Vec<u8>, ()> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && b" .\t\r\n".contains(&b[i]) {
            i += 1;
        }
        match (b.get(i), b.get(i + 1)) {
            (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let v = (char::from(*h).to_digit(16).unwrap_or(0) << 4)
                    | char::from(*l).to_digit(16).unwrap_or(0);
                out.push(v as u8);
                i += 2;
            }
            _ => break,
        }
    }
    if i == b.len() {
        Ok(out)
    } else {
        Err(())
    }
}

fn subfield_with_nxm(s: &str, whole: &str) -> Result<SubField, ParseError> {
    let sf: SubField = s.parse()?;
    if nxm32(sf.field).is_none() {
        return Err(perr(format!(
            "{whole}: experimenter OXM field '{s}' not supported"
        )));
    }
    Ok(sf)
}

/// Parses one keyword action into `out`; `Ok(false)` if `key` is not an
/// action keyword.
fn parse_one(key: &str, v: &str, depth: usize, out: &mut Vec<Action>) -> Result<bool, ParseError> {
    let a = match key {
        "output" | "output_reg" => parse_output(v)?,
        "group" => Action::Group(parse_u32(v)?),
        "controller" => parse_controller(v)?,
        "enqueue" => {
            let mut t = Tok(v);
            let (p, q) =
                match (t.next(":q,"), t.0) {
                    (Some(p), q) if !q.is_empty() => (p, q),
                    _ => return Err(perr(
                        "\"enqueue\" syntax is \"enqueue:PORT:QUEUE\" or \"enqueue(PORT,QUEUE)\"",
                    )),
                };
            let p = port::parse(p).ok_or_else(|| perr(format!("{p}: enqueue to unknown port")))?;
            Action::Enqueue {
                port: p,
                queue: parse_u32(q)?,
            }
        }
        "bundle" => parse_bundle(v, false)?,
        "bundle_load" => parse_bundle(v, true)?,
        "set_field" => parse_set_field(v)?,
        "set_vlan_vid" | "mod_vlan_vid" => {
            let vid = parse_u16(v, "VLAN VID")?;
            if vid & !0xfff != 0 {
                return Err(perr(format!("{v}: not a valid VLAN VID")));
            }
            Action::SetVlanVid {
                vid,
                push_vlan_if_needed: key == "mod_vlan_vid",
                flow_has_vlan: false,
            }
        }
        "set_vlan_pcp" | "mod_vlan_pcp" => {
            let pcp = parse_u8(v, "VLAN PCP")?;
            if pcp & !7 != 0 {
                return Err(perr(format!("{v}: not a valid VLAN PCP")));
            }
            Action::SetVlanPcp {
                pcp,
                push_vlan_if_needed: key == "mod_vlan_pcp",
                flow_has_vlan: false,
            }
        }
        "strip_vlan" => Action::PopVlan { strip: true },
        "pop_vlan" => Action::PopVlan { strip: false },
        "push_vlan" => {
            let t = parse_u16(v, "ethertype")?;
            if t != 0x8100 && t != 0x88a8 {
                return Err(perr(format!("{v}: not a valid VLAN ethertype")));
            }
            Action::PushVlan(t)
        }
        "mod_dl_src" => Action::SetEthSrc(parse_mac_arg(v)?),
        "mod_dl_dst" => Action::SetEthDst(parse_mac_arg(v)?),
        "mod_nw_src" => Action::SetIpv4Src(parse_ip(v)?),
        "mod_nw_dst" => Action::SetIpv4Dst(parse_ip(v)?),
        "mod_nw_tos" => {
            let tos = parse_u8(v, "TOS")?;
            if tos & 0x03 != 0 {
                return Err(perr(format!("{v}: not a valid TOS")));
            }
            Action::SetIpDscp(tos)
        }
        "mod_nw_ecn" => {
            let ecn = parse_u8(v, "ECN")?;
            if ecn & !3 != 0 {
                return Err(perr(format!("{v}: not a valid ECN")));
            }
            Action::SetIpEcn(ecn)
        }
        "mod_nw_ttl" | "set_nw_ttl" => Action::SetIpTtl(parse_u8(v, "TTL")?),
        "mod_tp_src" => Action::SetL4SrcPort {
            port: parse_u16(v, "source port")?,
            flow_ip_proto: 0,
        },
        "mod_tp_dst" => Action::SetL4DstPort {
            port: parse_u16(v, "destination port")?,
            flow_ip_proto: 0,
        },
        "move" => {
            let (src, dst) = parse_move(v)?;
            Action::RegMove {
                src,
                dst,
                form: RegMoveForm::Nx,
            }
        }
        "push" => Action::StackPush(parse_stack(v)?),
        "pop" => Action::StackPop(parse_stack(v)?),
        "dec_ttl" => {
            if v.is_empty() {
                Action::DecTtl {
                    ids: vec![0],
                    cnt_ids: false,
                }
            } else {
                let mut t = Tok(v);
                let mut ids = Vec::new();
                while let Some(x) = t.next(", ") {
                    ids.push(atoi(x) as u16);
                }
                if ids.is_empty() {
                    return Err(perr(
                        "dec_ttl_cnt_ids: expected at least one controller id.",
                    ));
                }
                Action::DecTtl { ids, cnt_ids: true }
            }
        }
        "set_mpls_label" => {
            if v.is_empty() {
                return Err(perr("set_mpls_label: expected label."));
            }
            let l = parse_u32(v)?;
            if l & !0xfffff != 0 {
                return Err(perr(format!("{v}: not a valid MPLS label")));
            }
            Action::SetMplsLabel(l)
        }
        "set_mpls_tc" => {
            if v.is_empty() {
                return Err(perr("set_mpls_tc: expected tc."));
            }
            let tc = parse_u8(v, "MPLS TC")?;
            if tc & !7 != 0 {
                return Err(perr(format!("{v}: not a valid MPLS TC")));
            }
            Action::SetMplsTc(tc)
        }
        "set_mpls_ttl" => {
            if v.is_empty() {
                return Err(perr("set_mpls_ttl: expected ttl."));
            }
            Action::SetMplsTtl(parse_u8(v, "MPLS TTL")?)
        }
        "dec_mpls_ttl" => Action::DecMplsTtl,
        "push_mpls" => Action::PushMpls(parse_u16(v, "push_mpls")?),
        "pop_mpls" => Action::PopMpls(parse_u16(v, "pop_mpls")?),
        "dec_nsh_ttl" => Action::DecNshTtl,
        "delete_field" => Action::DeleteField(
            Field::from_header_name(v)
                .filter(|(_, _, w)| !w)
                .map(|(f, _, _)| f)
                .or_else(|| Field::from_name(v))
                .ok_or_else(|| perr(format!("unknown field `{v}'")))?,
        ),
        "encap" => parse_encap(v)?,
        "decap" => parse_decap(v)?,
        "set_tunnel" => Action::SetTunnel {
            id: parse_u64(v)?,
            wide: false,
        },
        "set_tunnel64" => Action::SetTunnel {
            id: parse_u64(v)?,
            wide: true,
        },
        "set_queue" => Action::SetQueue(parse_u32(v)?),
        "pop_queue" => Action::PopQueue,
        "fin_timeout" => {
            let (mut idle, mut hard) = (0, 0);
            let mut rest = v;
            while let Some((k, x)) = next_kv(&mut rest) {
                match k {
                    "idle_timeout" => idle = parse_u16(x, k)?,
                    "hard_timeout" => hard = parse_u16(x, k)?,
                    _ => return Err(perr(format!("invalid key '{k}' in 'fin_timeout' argument"))),
                }
            }
            Action::FinTimeout {
                idle_timeout: idle,
                hard_timeout: hard,
            }
        }
        "resubmit" => parse_resubmit(v)?,
        "learn" => parse_learn(v)?,
        "conjunction" => parse_conjunction(v)?,
        "multipath" => parse_multipath(v)?,
        "note" => {
            Action::Note(parse_hex_bytes(v).map_err(|_| perr("bad hex digit in `note' argument"))?)
        }
        "exit" => Action::Exit,
        "sample" => parse_sample(v)?,
        "ct" => parse_ct(v, depth)?,
        "ct_clear" => Action::CtClear,
        "nat" => Action::Nat(parse_nat(v)?),
        "clone" => Action::Clone(parse_list(v, false, Outer::Clone, depth + 1)?),
        "check_pkt_larger" => parse_check_pkt_larger(v)?,
        "meter" => Action::Meter(parse_u32(v)?),
        "clear_actions" => Action::ClearActions,
        "write_actions" => {
            Action::WriteActions(parse_list(v, false, Outer::WriteActions, depth + 1)?)
        }
        "write_metadata" => {
            let (val, mask) = match v.split_once('/') {
                Some((a, m)) => (parse_u64(a)?, parse_u64(m)?),
                None => (parse_u64(v)?, u64::MAX),
            };
            Action::WriteMetadata { value: val, mask }
        }
        "goto_table" => {
            Action::GotoTable(parse_table(v).map_err(|_| perr(format!("unknown table \"{v}\"")))?)
        }
        "load" => parse_load(v)?,
        "output_trunc" | "unroll_xlate" | "debug_recirc" | "debug_slow" => {
            return Err(perr(format!("unknown action {key}")));
        }
        _ => return Ok(false),
    };
    out.push(a);
    Ok(true)
}

fn parse_output(v: &str) -> Result<Action, ParseError> {
    if v.contains("port") && v.contains("max_len") {
        let (mut p, mut max_len) = (0u32, 0u32);
        let mut rest = v;
        while let Some((k, x)) = next_kv(&mut rest) {
            match k {
                "port" => {
                    p = port::parse(x)
                        .ok_or_else(|| perr(format!("output to unknown truncate port: {x}")))?;
                    if p >= 0xff00
                        && p != port::LOCAL
                        && p != port::IN_PORT
                        && p != port::from_of10(0xff00)
                    {
                        return Err(perr(format!("output to unsupported truncate port: {x}")));
                    }
                }
                "max_len" => {
                    max_len = parse_u32(x)?;
                    if max_len < 14 {
                        return Err(perr(format!(
                            "max_len {max_len} is less than the minimum value 14"
                        )));
                    }
                }
                _ => return Err(perr(format!("invalid key '{k}' in output_trunc argument"))),
            }
        }
        return Ok(Action::OutputTrunc { port: p, max_len });
    }
    if let Some(p) = port::parse(v) {
        return Ok(Action::output(p));
    }
    match v.parse::<SubField>() {
        Ok(src) => Ok(Action::OutputReg {
            src,
            max_len: u16::MAX,
            reg2: false,
        }),
        Err(_) => Err(perr(format!("{v}: output to unknown port"))),
    }
}

fn parse_controller(v: &str) -> Result<Action, ParseError> {
    let mut c = Controller::default();
    let mut userdata = None;
    if v.is_empty() {
    } else if v.bytes().all(|b| b.is_ascii_digit()) {
        c.max_len = parse_u16(v, "max_len")?;
    } else {
        let mut rest = v;
        while let Some((k, x)) = next_kv(&mut rest) {
            match k {
                "reason" => {
                    c.reason = (0u8..8)
                        .find(|&r| reason_name(r).eq_ignore_ascii_case(x))
                        .ok_or_else(|| perr(format!("unknown reason \"{x}\"")))?;
                }
                "max_len" => c.max_len = parse_u16(x, "max_len")?,
                "id" => c.controller_id = parse_u16(x, "id")?,
                "userdata" => {
                    userdata = Some(
                        parse_hex_bytes(x)
                            .map_err(|_| perr("bad hex digit in `controller' action `userdata'"))?,
                    )
                }
                "pause" => c.pause = true,
                "meter_id" => c.meter_id = parse_u32(x)?,
                _ => {
                    return Err(perr(format!(
                        "unknown key \"{k}\" parsing controller action"
                    )))
                }
            }
        }
    }
    if c.reason == 1 && c.controller_id == 0 && userdata.is_none() && !c.pause && c.meter_id == 0 {
        return Ok(Action::Output {
            port: port::CONTROLLER,
            max_len: c.max_len,
        });
    }
    c.userdata = userdata.unwrap_or_default();
    Ok(Action::Controller(c))
}

fn hash_fields_from(s: &str) -> Option<u16> {
    hash_fields::NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .map(|i| i as u16)
}

fn parse_bundle(v: &str, load: bool) -> Result<Action, ParseError> {
    let mut t = Tok(v);
    let fields = t.next(", ");
    let basis = t.next(", ");
    let algorithm = t.next(", ");
    let member_type = t.next(", ");
    let dst = if load { t.next(", ") } else { None };
    let delim = t.next(": ");
    let (Some(fields), Some(basis), Some(algorithm), Some(member_type), Some(delim)) =
        (fields, basis, algorithm, member_type, delim)
    else {
        return Err(perr(format!("{v}: not enough arguments to bundle action")));
    };
    if !delim.eq_ignore_ascii_case("members") && !delim.eq_ignore_ascii_case("slaves") {
        return Err(perr(format!(
            "{v}: missing member delimiter, expected `members', got `{delim}'"
        )));
    }
    let mut members = Vec::new();
    while let Some(m) = t.next(", []") {
        if members.len() >= Bundle::MAX_MEMBERS {
            break;
        }
        members.push(port::parse(m).ok_or_else(|| perr(format!("{m}: bad port number")))?);
    }
    let fields =
        hash_fields_from(fields).ok_or_else(|| perr(format!("{v}: unknown fields `{fields}'")))?;
    let algorithm = BUNDLE_ALGS
        .iter()
        .position(|a| a.eq_ignore_ascii_case(algorithm))
        .ok_or_else(|| perr(format!("{v}: unknown algorithm `{algorithm}'")))?
        as u16;
    if !member_type.eq_ignore_ascii_case("ofport") {
        return Err(perr(format!("{v}: unknown member_type `{member_type}'")));
    }
    let dst = match (load, dst) {
        (true, Some(d)) => Some(subfield_with_nxm(d, v)?),
        (true, None) => return Err(perr(format!("{v}: not enough arguments to bundle action"))),
        _ => None,
    };
    Ok(Action::Bundle(Bundle {
        fields,
        basis: atoi(basis) as u16,
        algorithm,
        members,
        dst,
    }))
}

fn parse_set_field(v: &str) -> Result<Action, ParseError> {
    let (value, key) = v
        .split_once("->")
        .ok_or_else(|| perr(format!("{v}: missing `->'")))?;
    if key.is_empty() {
        return Err(perr(format!("{v}: missing field name following `->'")));
    }
    let field = Field::from_name(key)
        .ok_or_else(|| perr(format!("{key} is not a valid OXM field name")))?;
    if !is_writable(field) {
        return Err(perr(format!("{key} is read-only")));
    }
    let (value, mask) = parse_value(field, value)?;
    if !value_valid(field, value.as_slice()) {
        return Err(perr(format!("{v} is not a valid value for field {key}")));
    }
    Ok(Action::SetField(SetField {
        field,
        value,
        mask,
        form: SetFieldForm::SetField,
    }))
}

fn parse_load(v: &str) -> Result<Action, ParseError> {
    let (value, key) = v
        .split_once("->")
        .ok_or_else(|| perr(format!("{v}: missing `->'")))?;
    if key.is_empty() {
        return Err(perr(format!("{v}: missing field name following `->'")));
    }
    let dst: SubField = key.parse()?;
    let n = field_bytes(dst.field);
    let (bytes, _) =
        parse_int_prefix(value, n).map_err(|_| perr(format!("{v}: cannot parse integer value")))?;
    let x = be_uint(&bytes);
    if n > 16 {
        return Err(perr(format!("{v}: cannot load into a {n}-byte field")));
    }
    if dst.n_bits < 128 && x >> dst.n_bits != 0 {
        return Err(perr(format!(
            "{v}: value {} does not fit into {} bits",
            hex_string(&bytes),
            dst.n_bits
        )));
    }
    Ok(Action::SetField(SetField::load(dst, x)))
}

fn parse_move(v: &str) -> Result<(SubField, SubField), ParseError> {
    let (src, rest) = SubField::parse_prefix(v)?;
    let rest = rest
        .strip_prefix("->")
        .ok_or_else(|| perr(format!("{v}: missing `->' following source")))?;
    let dst: SubField = rest.parse()?;
    if src.n_bits != dst.n_bits {
        return Err(perr(format!(
            "{v}: source field is {} bits wide but destination is {} bits wide",
            src.n_bits, dst.n_bits
        )));
    }
    Ok((src, dst))
}

fn parse_stack(v: &str) -> Result<SubField, ParseError> {
    let (sf, rest) = SubField::parse_prefix(v)?;
    if !rest.is_empty() {
        return Err(perr(format!(
            "{rest}: trailing garbage following push or pop"
        )));
    }
    Ok(sf)
}

fn parse_resubmit(v: &str) -> Result<Action, ParseError> {
    // strsep three times: anything after a third comma is ignored.
    let mut parts = v.split(',');
    let in_port = match parts.next() {
        Some(p) if !p.is_empty() => {
            port::parse(p).ok_or_else(|| perr(format!("{p}: resubmit to unknown port")))?
        }
        _ => port::IN_PORT,
    };
    let table = match parts.next() {
        Some(t) if !t.is_empty() => {
            let t = parse_table(t).map_err(|_| perr(format!("{t}: resubmit to unknown table")))?;
            if t == 255 {
                None
            } else {
                Some(t)
            }
        }
        _ => None,
    };
    let ct = match parts.next() {
        Some("ct") => true,
        Some(c) if !c.is_empty() => return Err(perr(format!("{c}: unknown parameter"))),
        _ => false,
    };
    if in_port == port::IN_PORT && table.is_none() {
        return Err(perr(
            "at least one \"in_port\" or \"table\" must be specified on resubmit",
        ));
    }
    Ok(Action::Resubmit {
        in_port,
        table,
        ct,
        form: ResubmitForm::Table,
    })
}

fn parse_conjunction(v: &str) -> Result<Action, ParseError> {
    // "%i , %hhu / %hhu %n", all of it.
    let syntax = || perr("\"conjunction\" syntax is \"conjunction(id,i/n)\"");
    let (id, r) = scan_int(v, 0).ok_or_else(syntax)?;
    let r = r
        .trim_start_matches(is_c_space)
        .strip_prefix(',')
        .ok_or_else(syntax)?;
    let (clause, r) = scan_int(r, 10).ok_or_else(syntax)?;
    let r = r
        .trim_start_matches(is_c_space)
        .strip_prefix('/')
        .ok_or_else(syntax)?;
    let (n, r) = scan_int(r, 10).ok_or_else(syntax)?;
    if !r.trim_start_matches(is_c_space).is_empty() {
        return Err(syntax());
    }
    let (id, clause, n) = (id as u32, clause as u8, n as u8);
    if n < 2 {
        return Err(perr("conjunction must have at least 2 clauses"));
    }
    if n > 64 {
        return Err(perr("conjunction must have at most 64 clauses"));
    }
    if clause < 1 {
        return Err(perr("clause index must be positive"));
    }
    if clause > n {
        return Err(perr(
            "clause index must be less than or equal to number of clauses",
        ));
    }
    Ok(Action::Conjunction {
        id,
        clause: clause - 1,
        n_clauses: n,
    })
}

fn parse_multipath(v: &str) -> Result<Action, ParseError> {
    let mut t = Tok(v);
    let parts: Vec<Option<&str>> = (0..6).map(|_| t.next(", ")).collect();
    let [Some(fields), Some(basis), Some(alg), Some(n_links), Some(arg), Some(dst)] = parts[..]
    else {
        return Err(perr(format!(
            "{v}: not enough arguments to multipath action"
        )));
    };
    let fields =
        hash_fields_from(fields).ok_or_else(|| perr(format!("{v}: unknown fields `{fields}'")))?;
    let algorithm = MULTIPATH_ALGS
        .iter()
        .position(|a| a.eq_ignore_ascii_case(alg))
        .ok_or_else(|| perr(format!("{v}: unknown algorithm `{alg}'")))? as u16;
    let n = atoi(n_links);
    if !(1..=65536).contains(&n) {
        return Err(perr(format!(
            "{v}: n_links {n} is not in valid range 1 to 65536"
        )));
    }
    let dst = subfield_with_nxm(dst, v)?;
    if dst.n_bits < 16 && n > 1i64 << dst.n_bits {
        return Err(perr(format!(
            "{v}: {}-bit destination field has {} possible values, less than specified n_links {n}",
            dst.n_bits,
            1u32 << dst.n_bits
        )));
    }
    Ok(Action::Multipath(Multipath {
        fields,
        basis: atoi(basis) as u16,
        algorithm,
        max_link: (n - 1) as u16,
        arg: atoi(arg) as u32,
        dst,
    }))
}

fn parse_sample(v: &str) -> Result<Action, ParseError> {
    let mut s = Sample {
        probability: 0,
        collector_set_id: 0,
        obs_domain_id: 0,
        obs_point_id: 0,
        sampling_port: port::ANY,
        direction: SampleDirection::Default,
        form: SampleForm::Sample,
    };
    let mut rest = v;
    while let Some((k, x)) = next_kv(&mut rest) {
        match k {
            "probability" => {
                s.probability = parse_u16(x, "probability")?;
                if s.probability == 0 {
                    return Err(perr(format!("invalid probability value \"{x}\"")));
                }
            }
            "collector_set_id" => s.collector_set_id = parse_u32(x)?,
            "obs_domain_id" => s.obs_domain_id = parse_u32(x)?,
            "obs_point_id" => s.obs_point_id = parse_u32(x)?,
            "sampling_port" => {
                s.sampling_port =
                    port::parse(x).ok_or_else(|| perr(format!("{x}: unknown port")))?
            }
            "ingress" => s.direction = SampleDirection::Ingress,
            "egress" => s.direction = SampleDirection::Egress,
            _ => return Err(perr(format!("invalid key \"{k}\" in \"sample\" argument"))),
        }
    }
    if s.probability == 0 {
        return Err(perr("non-zero \"probability\" must be specified on sample"));
    }
    Ok(Action::Sample(s))
}

fn parse_ct(v: &str, depth: usize) -> Result<Action, ParseError> {
    let mut ct = Ct {
        flags: 0,
        zone: CtZone::Imm(0),
        table: None,
        alg: 0,
        actions: Vec::new(),
    };
    let mut rest = v;
    while let Some((k, x)) = next_kv(&mut rest) {
        match k {
            "commit" => ct.flags |= Ct::COMMIT,
            "force" => ct.flags |= Ct::FORCE,
            "table" => {
                let t = parse_table(x).map_err(|_| perr(format!("unknown table {x}")))?;
                if t == 255 {
                    return Err(perr(format!("invalid table {t:#x}")));
                }
                ct.table = Some(t);
            }
            "zone" => {
                ct.zone = match parse_u16(x, "zone") {
                    Ok(z) => CtZone::Imm(z),
                    Err(_) => CtZone::Field(x.parse()?),
                }
            }
            "alg" => {
                ct.alg = match x {
                    "ftp" => 21,
                    "tftp" => 69,
                    _ => return Err(perr(format!("invalid conntrack helper \"{x}\""))),
                }
            }
            "nat" => ct.actions.push(Action::Nat(parse_nat(x)?)),
            "exec" => ct
                .actions
                .extend(parse_list(x, false, Outer::Ct, depth + 1)?),
            _ => return Err(perr(format!("invalid argument to \"ct\" action: `{k}'"))),
        }
    }
    if ct.flags & Ct::FORCE != 0 && ct.flags & Ct::COMMIT == 0 {
        return Err(perr("\"force\" flag requires \"commit\" flag."));
    }
    Ok(Action::Ct(ct))
}

/// `str_to_nat_range`: `ADDR[-ADDR][:PORT[-PORT]]`, IPv6 addresses in
/// brackets when a port follows. Scanned as OVS scans it, including its
/// quirk that an IPv6-looking string that is no address yields no range
/// rather than an error.
fn parse_nat_range(s: &str, nat: &mut Nat) -> Result<(), ParseError> {
    let err = || perr(format!("invalid nat range \"{s}\""));
    // `%46[0123456789abcdefABCDEF:.]`, optionally in brackets.
    fn v6_scan(s: &str) -> Option<(&str, &str)> {
        let set = |b: &u8| b.is_ascii_hexdigit() || *b == b':' || *b == b'.';
        let n = s.bytes().take(46).take_while(set).count();
        if n > 0 {
            return Some((&s[..n], &s[n..]));
        }
        let r = s.strip_prefix('[')?;
        let n = r.bytes().take(46).take_while(set).count();
        if n == 0 {
            return None;
        }
        Some((&r[..n], r[n..].strip_prefix(']')?))
    }
    let mut rest = s;
    if let Some((min, r)) = scan_ipv4(s) {
        rest = r;
        let min = Ipv4Addr::from(min);
        let mut max = None;
        if let Some(r) = rest.strip_prefix('-') {
            let (m, r) = scan_ipv4(r).ok_or_else(err)?;
            let m = Ipv4Addr::from(m);
            if m < min {
                return Err(err());
            }
            max = Some(m);
            rest = r;
        }
        nat.addrs = NatAddrs::V4 { min, max };
    } else if let Some((text, r)) = v6_scan(s) {
        rest = r;
        if let Ok(min) = text.parse::<Ipv6Addr>() {
            let mut max = None;
            if let Some(r) = rest.strip_prefix('-') {
                let (t, r) = v6_scan(r).ok_or_else(err)?;
                let m: Ipv6Addr = t.parse().map_err(|_| err())?;
                if m < min {
                    return Err(err());
                }
                max = Some(m);
                rest = r;
            }
            nat.addrs = NatAddrs::V6 { min, max };
        }
    }
    if nat.addrs != NatAddrs::None {
        if let Some(r) = rest.strip_prefix(':') {
            let (min, r) = scan_int(r, 10).ok_or_else(err)?;
            let min = min as u16;
            rest = r;
            let mut max = None;
            if let Some(r) = rest.strip_prefix('-') {
                let (m, r) = scan_int(r, 10).ok_or_else(err)?;
                let m = m as u16;
                if m < min {
                    return Err(err());
                }
                max = Some(m);
                rest = r;
            }
            nat.ports = Some((min, max));
        }
    }
    if !rest.is_empty() {
        let pos = s.len() - rest.len();
        return Err(perr(format!(
            "garbage ({rest}) after nat range \"{s}\" (pos: {pos})"
        )));
    }
    Ok(())
}

fn parse_nat(v: &str) -> Result<Nat, ParseError> {
    let mut nat = Nat {
        flags: 0,
        addrs: NatAddrs::None,
        ports: None,
    };
    let mut rest = v;
    while let Some((k, x)) = next_kv(&mut rest) {
        match k {
            "src" => {
                nat.flags |= Nat::SRC;
                parse_nat_range(x, &mut nat)?;
            }
            "dst" => {
                nat.flags |= Nat::DST;
                parse_nat_range(x, &mut nat)?;
            }
            "persistent" => nat.flags |= Nat::PERSISTENT,
            "hash" => nat.flags |= Nat::PROTO_HASH,
            "random" => nat.flags |= Nat::PROTO_RANDOM,
            _ => return Err(perr(format!("invalid key \"{k}\" in \"nat\" argument"))),
        }
    }
    if nat.flags & Nat::SRC != 0 && nat.flags & Nat::DST != 0 {
        return Err(perr("May only specify one of \"src\" or \"dst\"."));
    }
    if nat.flags & (Nat::SRC | Nat::DST) == 0 {
        if nat.flags != 0 {
            return Err(perr("Flags allowed only with \"src\" or \"dst\"."));
        }
        if nat.addrs != NatAddrs::None {
            return Err(perr("Range allowed only with \"src\" or \"dst\"."));
        }
    }
    if nat.flags & Nat::PROTO_HASH != 0 && nat.flags & Nat::PROTO_RANDOM != 0 {
        return Err(perr("Both \"hash\" and \"random\" are not allowed."));
    }
    Ok(nat)
}

fn parse_check_pkt_larger(v: &str) -> Result<Action, ParseError> {
    let (value, key) = v
        .split_once("->")
        .ok_or_else(|| perr(format!("{v}: missing `->'")))?;
    if key.is_empty() {
        return Err(perr(format!("{v}: missing field name following `->'")));
    }
    let value = value.strip_suffix(')').unwrap_or(value);
    let dst: SubField = key.parse()?;
    if dst.n_bits != 1 {
        return Err(perr("Only 1-bit destination field is allowed"));
    }
    let pkt_len = parse_u16(value, "packet length")?;
    Ok(Action::CheckPktLarger { pkt_len, dst })
}

fn parse_encap(v: &str) -> Result<Action, ParseError> {
    let mut rest = v;
    let (hdr, props_s) =
        next_kv(&mut rest).ok_or_else(|| perr(format!("Missing encap hdr: {v}")))?;
    let packet_type = match hdr {
        "ethernet" => packet_type::ETHERNET,
        "nsh" => packet_type::NSH,
        "mpls" => packet_type::MPLS,
        "mpls_mc" => packet_type::MPLS_MC,
        _ => return Err(perr(format!("Encap hdr not supported: {props_s}"))),
    };
    let mut props = Vec::new();
    let mut r = props_s;
    while let Some((k, x)) = next_kv(&mut r) {
        if hdr != "nsh" || (k != "md_type" && k != "tlv") {
            return Err(perr(format!("Invalid property: {k}")));
        }
        if x.is_empty() {
            return Err(perr("Value missing for encap property"));
        }
        if k == "md_type" {
            let t = parse_u8(x, "md_type")?;
            if !(1..=2).contains(&t) {
                return Err(perr("invalid md_type"));
            }
            props.push(EdProp::NshMdType(t));
        } else {
            let bad = || perr(format!("Invalid NSH TLV header: {x}"));
            // "0x%hx,%hhu,0x%251[0-9a-fA-F]"
            let scanned = (|| {
                let (class, r) = scan_int(x.strip_prefix("0x")?, 16)?;
                let (ty, r) = scan_int(r.strip_prefix(',')?, 10)?;
                let r = r.strip_prefix(",0x")?;
                let n = r
                    .bytes()
                    .take(251)
                    .take_while(u8::is_ascii_hexdigit)
                    .count();
                (n > 0).then_some((class as u16, ty as u8, &r[..n]))
            })();
            let Some((class, ty, val)) = scanned else {
                return Err(bad());
            };
            // Like OVS, take whole hex pairs and ignore what follows.
            let pairs = val.bytes().take_while(u8::is_ascii_hexdigit).count() / 2 * 2;
            let value = parse_hex_bytes(&val[..pairs]).map_err(|_| bad())?;
            props.push(EdProp::NshTlv {
                class,
                ty,
                value,
                padding: Vec::new(),
            });
        }
    }
    Ok(Action::Encap(Encap {
        hdr_size: 0,
        packet_type,
        props,
    }))
}

fn parse_decap(v: &str) -> Result<Action, ParseError> {
    let mut rest = v;
    let mut pt = packet_type::USE_NEXT_PROTO;
    if let Some((k, x)) = next_kv(&mut rest) {
        if k != "packet_type" {
            return Err(perr(format!("Invalid decap argument: {k}")));
        }
        let mut r = x;
        let ns = match next_kv(&mut r) {
            Some(("ns", n)) => parse_u16(n, "ns")?,
            _ => return Err(perr("Missing packet_type attribute ns")),
        };
        if ns >= 5 {
            return Err(perr(format!("Unsupported ns value: {ns}")));
        }
        let ty = match next_kv(&mut r) {
            Some(("type", t)) => parse_u16(t, "type")?,
            _ => return Err(perr("Missing packet_type attribute type")),
        };
        pt = (u32::from(ns) << 16) | u32::from(ty);
    }
    Ok(Action::Decap { packet_type: pt })
}

fn parse_learn(v: &str) -> Result<Action, ParseError> {
    let mut l = Learn::default();
    let mut rest = v;
    while let Some((k, x)) = next_kv(&mut rest) {
        match k {
            "table" => {
                let t = parse_table(x).map_err(|_| perr(format!("unknown table \"{x}\"")))?;
                if t == 255 {
                    return Err(perr(format!(
                        "{v}: table id 255 not valid for `learn' action"
                    )));
                }
                l.table = t;
            }
            "priority" => l.priority = atoi(x) as u16,
            "idle_timeout" => l.idle_timeout = atoi(x) as u16,
            "hard_timeout" => l.hard_timeout = atoi(x) as u16,
            "fin_idle_timeout" => l.fin_idle_timeout = atoi(x) as u16,
            "fin_hard_timeout" => l.fin_hard_timeout = atoi(x) as u16,
            "cookie" => l.cookie = parse_c_uint(x).map_or(0, |(c, _)| c as u64),
            "send_flow_rem" => l.flags |= Learn::SEND_FLOW_REM,
            "delete_learned" => l.flags |= Learn::DELETE_LEARNED,
            "limit" => l.limit = atoi(x) as u32,
            "result_dst" => {
                l.flags |= Learn::WRITE_RESULT;
                let d: SubField = x.parse()?;
                if !is_writable(d.field) {
                    return Err(perr(format!("{x} is read-only")));
                }
                if d.n_bits != 1 {
                    return Err(perr("result_dst in 'learn' action must be a single bit"));
                }
                l.result_dst = Some(d);
            }
            _ => l.specs.push(parse_learn_spec(v, k, x)?),
        }
    }
    Ok(Action::Learn(l))
}

/// The low `n_bits` bits of `bytes` (a value as wide as its field), as the
/// `ceil(n_bits / 8)` bytes a learn immediate keeps.
fn imm_bytes(bytes: &[u8], n_bits: u16) -> Vec<u8> {
    let n = usize::from(n_bits).div_ceil(8).min(bytes.len());
    bytes[bytes.len() - n..].to_vec()
}

fn parse_learn_spec(orig: &str, name: &str, value: &str) -> Result<LearnSpec, ParseError> {
    if let Ok(dst) = name.parse::<SubField>() {
        if nxm32(dst.field).is_none() {
            return Err(perr(format!(
                "{orig}: experimenter OXM field '{name}' not supported"
            )));
        }
        let n = dst.n_bits;
        let mdst = LearnDst::Match {
            field: dst.field,
            ofs: dst.ofs,
        };
        if value.is_empty() {
            return Ok(LearnSpec {
                n_bits: n,
                src: LearnSrc::Field {
                    field: dst.field,
                    ofs: dst.ofs,
                },
                dst: mdst,
            });
        }
        match value.parse::<SubField>() {
            Ok(src) => {
                if src.n_bits != n {
                    return Err(perr(format!(
                        "{orig}: bit widths of {name} ({}) and {value} ({}) differ",
                        src.n_bits, n
                    )));
                }
                Ok(LearnSpec {
                    n_bits: n,
                    src: LearnSrc::Field {
                        field: src.field,
                        ofs: src.ofs,
                    },
                    dst: mdst,
                })
            }
            Err(serr) => {
                let width = field_bytes(dst.field);
                let imm = if dst.is_whole() {
                    let (val, mask) = parse_value(dst.field, value).map_err(|e| {
                        perr(format!("{orig}: {name} value {value} cannot be parsed as a subfield ({serr}) or an immediate value ({e})"))
                    })?;
                    if !mask.is_all_ones() {
                        return Err(perr(format!("{value}: wildcards not allowed here")));
                    }
                    val.as_slice().to_vec()
                } else {
                    let (b, tail) =
                        parse_int_prefix(value, width).map_err(|e| perr(format!("{orig}: {e}")))?;
                    if !tail.is_empty() {
                        return Err(perr(format!("{orig}: cannot parse integer value")));
                    }
                    if n < 128 && be_uint(&b) >> n != 0 {
                        return Err(perr(format!(
                            "{orig}: value {} does not fit into {n} bits",
                            hex_string(&b)
                        )));
                    }
                    b
                };
                Ok(LearnSpec {
                    n_bits: n,
                    src: LearnSrc::Immediate(imm_bytes(&imm, n)),
                    dst: mdst,
                })
            }
        }
    } else if name == "load" {
        let (src_s, dst_s) = match value.find("->") {
            Some(0) => {
                return Err(perr(format!(
                    "{name}: missing source before `->' in `{value}'"
                )))
            }
            Some(i) => (&value[..i], &value[i + 2..]),
            None => return Err(perr(format!("{name}: missing `->' in `{value}'"))),
        };
        if let Ok((b, tail)) = parse_int_prefix(src_s, 128) {
            if !tail.is_empty() {
                return Err(perr(format!("{name}: garbage before `->' in `{value}'")));
            }
            let dst: SubField = dst_s.parse()?;
            if nxm32(dst.field).is_none() {
                return Err(perr(format!(
                    "{value}: experimenter OXM field '{dst_s}' not supported"
                )));
            }
            let x = be_uint(&b[b.len() - 16..]);
            if b[..b.len() - 16].iter().any(|&y| y != 0)
                || (dst.n_bits < 128 && x >> dst.n_bits != 0)
            {
                return Err(perr(format!(
                    "{value}: value does not fit into {} bits",
                    dst.n_bits
                )));
            }
            Ok(LearnSpec {
                n_bits: dst.n_bits,
                src: LearnSrc::Immediate(imm_bytes(&b, dst.n_bits)),
                dst: LearnDst::Load {
                    field: dst.field,
                    ofs: dst.ofs,
                },
            })
        } else {
            let (src, dst) = parse_move(value)?;
            Ok(LearnSpec {
                n_bits: src.n_bits,
                src: LearnSrc::Field {
                    field: src.field,
                    ofs: src.ofs,
                },
                dst: LearnDst::Load {
                    field: dst.field,
                    ofs: dst.ofs,
                },
            })
        }
    } else if name == "output" {
        let src: SubField = value.parse()?;
        Ok(LearnSpec {
            n_bits: src.n_bits,
            src: LearnSrc::Field {
                field: src.field,
                ofs: src.ofs,
            },
            dst: LearnDst::Output,
        })
    } else {
        Err(perr(format!("{orig}: unknown keyword {name}")))
    }
}

impl FromStr for Action {
    type Err = ParseError;

    /// Parses exactly one action (or instruction).
    fn from_str(s: &str) -> Result<Action, ParseError> {
        let mut v = parse(s)?;
        match v.len() {
            1 => Ok(v.remove(0)),
            0 => Err(perr(format!("{s}: no action"))),
            _ => Err(perr(format!("{s}: more than one action"))),
        }
    }
}

/// An action list with `ovs-ofctl`'s text form: [`parse`] and
/// [`format_list`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ActionList(pub Vec<Action>);

impl fmt::Display for ActionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_list(&self.0))
    }
}

impl FromStr for ActionList {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<ActionList, ParseError> {
        parse(s).map(ActionList)
    }
}

// ---------------------------------------------------------------------------
// Match context.

/// What the flow's match says that encoding some actions depends on, as
/// OVS's `ofpacts_check` records it: the IP protocol (for `mod_tp_src` in
/// OpenFlow 1.2+, which must pick tcp/udp/sctp_src) and whether a VLAN tag
/// is known to be present (for `mod_vlan_vid`, which needs a push_vlan in
/// OpenFlow 1.1+ only when there is no tag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatchContext {
    /// `ip_proto` if the match fixes it (0 otherwise).
    pub ip_proto: u8,
    /// The match requires a VLAN tag.
    pub has_vlan: bool,
}

/// Records `ctx` in the actions that need it, tracking VLAN pushes and pops
/// along the list as OVS does.
pub fn annotate(actions: &mut [Action], ctx: MatchContext) {
    let mut has_vlan = ctx.has_vlan;
    let mut ip_proto = ctx.ip_proto;
    annotate_list(actions, &mut has_vlan, &mut ip_proto);
}

fn annotate_list(actions: &mut [Action], has_vlan: &mut bool, ip_proto: &mut u8) {
    for a in actions {
        match a {
            Action::SetVlanVid { flow_has_vlan, .. } | Action::SetVlanPcp { flow_has_vlan, .. } => {
                *flow_has_vlan = *has_vlan;
                *has_vlan = true;
            }
            Action::PushVlan(_) => *has_vlan = true,
            Action::PopVlan { .. } => *has_vlan = false,
            Action::SetField(sf) if sf.field == Field::VlanTci => {
                *has_vlan = sf.value.as_slice().first().is_some_and(|b| b & 0x10 != 0);
            }
            Action::SetL4SrcPort { flow_ip_proto, .. }
            | Action::SetL4DstPort { flow_ip_proto, .. } => {
                *flow_ip_proto = *ip_proto;
            }
            Action::PushMpls(_) => *ip_proto = 0,
            Action::Clone(inner) => {
                let (mut v, mut p) = (*has_vlan, *ip_proto);
                annotate_list(inner, &mut v, &mut p);
            }
            Action::WriteActions(inner) => {
                let (mut v, mut p) = (*has_vlan, *ip_proto);
                annotate_list(inner, &mut v, &mut p);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Checking actions against a flow's match (OVS's `ofpacts_check`).

/// What [`check`] checks against besides the match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckParams {
    /// The version of the flow_mod: OpenFlow 1.0 tolerates actions that do
    /// not fit the match (OVS's `inconsistent_match`), later versions do not.
    pub version: Version,
    /// Output ports must be below this (or reserved); [`port::MAX`] for no
    /// limit.
    pub max_ports: u32,
    /// The table the flow goes in, if known: goto_table must go later.
    pub table_id: Option<u8>,
    /// The number of tables: goto_table must stay below.
    pub n_tables: u16,
}

impl CheckParams {
    pub fn new(version: Version) -> CheckParams {
        CheckParams {
            version,
            max_ports: port::MAX,
            table_id: None,
            n_tables: 255,
        }
    }
}

/// The flow as OVS's checks see it while walking the actions: the match,
/// with the header fields earlier actions changed.
#[derive(Clone, Copy)]
struct Walk<'a> {
    m: &'a super::matching::Match,
    packet_type: u32,
    dl_type: u16,
    nw_proto: u8,
    /// VLAN tags known present (OVS tracks two).
    vlans: u8,
    /// Some action does not fit the match (fatal beyond OpenFlow 1.0).
    inconsistent: bool,
}

const PT_ETH: u32 = 0;

impl Walk<'_> {
    fn val(&self, f: Field) -> u128 {
        match f {
            Field::EthType => u128::from(self.dl_type),
            Field::IpProto => u128::from(self.nw_proto),
            Field::PacketType => u128::from(self.packet_type),
            _ => self.m.get_int(f).map_or(0, |(v, _)| v),
        }
    }

    fn ip_any(&self) -> bool {
        self.dl_type == 0x0800 || self.dl_type == 0x86dd
    }

    /// `mf_are_prereqs_ok` on the walked flow.
    fn prereq(&self, p: field::Prereq) -> bool {
        use field::Prereq;
        let proto = self.nw_proto;
        let icmp6 = self.dl_type == 0x86dd && proto == 58;
        let nd = |types: &[u8]| {
            icmp6
                && self.val(Field::Icmpv6Code) == 0
                && types.contains(&(self.val(Field::Icmpv6Type) as u8))
        };
        match p {
            Prereq::None => true,
            Prereq::Ethernet => self.packet_type == PT_ETH,
            Prereq::VlanVid => self.vlans > 0,
            Prereq::Tcp | Prereq::Udp | Prereq::Sctp => {
                self.ip_any() && Some(proto) == p.ip_proto() && self.val(Field::IpFrag) & 2 == 0
            }
            Prereq::Icmpv4 => self.dl_type == 0x0800 && proto == 1,
            Prereq::Icmpv6 => icmp6,
            Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => nd(p.icmpv6_types()),
            Prereq::CtValid | Prereq::InPort => self.m.prereq_ok(p),
            Prereq::Arp | Prereq::Ipv4 | Prereq::Ipv6 | Prereq::IpAny | Prereq::Mpls => {
                p.eth_types().contains(&self.dl_type)
            }
        }
    }

    /// `mf_check_src`/`mf_check_dst` with the match.
    fn subfield(&self, sf: &SubField, dst: bool) -> Result<(), ActionError> {
        if dst {
            sf.check_dst()?;
        } else {
            sf.check_src()?;
        }
        if !self.prereq(sf.field.prereq()) {
            return Err(bad(
                BadActionCode::MatchInconsistent,
                format!(
                    "{} field {} lacks correct prerequisites",
                    if dst { "destination" } else { "source" },
                    sf.field
                ),
            ));
        }
        Ok(())
    }

    fn output_port(&self, p: u32, max_ports: u32) -> Result<(), ActionError> {
        check_output_port(p)?;
        if p < port::MAX && p >= max_ports {
            return Err(bad(
                BadActionCode::BadOutPort,
                format!("port {p} is beyond the switch's ports"),
            ));
        }
        Ok(())
    }
}

fn inconsistent(what: &str) -> ActionError {
    bad(
        BadActionCode::MatchInconsistent,
        format!("{what} does not fit the flow's match"),
    )
}

/// Checks `actions` against the flow's match as OVS does before it accepts
/// a flow (`ofpacts_check_consistency`): prerequisites of fields that
/// actions read or write (OFPBAC_MATCH_INCONSISTENT), output ports, meter
/// and table ids, and in OpenFlow 1.1+ every action that needs something the
/// match does not promise (an IP action on a non-IP flow, say). Also
/// records what encoding later needs, as [`annotate`] does.
pub fn check(
    actions: &mut [Action],
    m: &super::matching::Match,
    p: &CheckParams,
) -> Result<(), ActionError> {
    let vlan = m.vlan_tci().is_some_and(|(v, _)| v & 0x1000 != 0);
    let mut w = Walk {
        m,
        packet_type: m
            .get_int(Field::PacketType)
            .map_or(PT_ETH, |(v, _)| v as u32),
        dl_type: m.eth_type().unwrap_or(0),
        nw_proto: m.ip_proto().unwrap_or(0),
        vlans: u8::from(vlan),
        inconsistent: false,
    };
    check_list(actions, &mut w, p)?;
    if w.inconsistent && p.version != Version::Of10 {
        return Err(inconsistent("an action"));
    }
    Ok(())
}

fn check_list(
    actions: &mut [Action],
    w: &mut Walk<'_>,
    p: &CheckParams,
) -> Result<(), ActionError> {
    for a in actions {
        check_one(a, w, p)?;
    }
    Ok(())
}

fn check_one(a: &mut Action, w: &mut Walk<'_>, p: &CheckParams) -> Result<(), ActionError> {
    let need = |w: &mut Walk<'_>, ok: bool| {
        if !ok {
            w.inconsistent = true;
        }
    };
    match a {
        Action::Output { port: o, .. } => w.output_port(*o, p.max_ports)?,
        Action::OutputTrunc { port: o, .. } => w.output_port(*o, p.max_ports)?,
        Action::Enqueue { port: o, .. }
            if *o >= p.max_ports.min(0xff00) && *o != port::IN_PORT && *o != port::LOCAL =>
        {
            return Err(bad(
                BadActionCode::BadOutPort,
                format!("enqueue to port {}", port::format(*o)),
            ));
        }
        Action::OutputReg { src, .. } => w.subfield(src, false)?,
        Action::Bundle(b) => {
            check_bundle(b)?;
            if let Some(d) = &b.dst {
                w.subfield(d, true)?;
            }
            for &m in &b.members {
                if m != port::ANY {
                    w.output_port(m, p.max_ports)?;
                }
            }
        }
        Action::SetVlanVid {
            push_vlan_if_needed,
            flow_has_vlan,
            ..
        }
        | Action::SetVlanPcp {
            push_vlan_if_needed,
            flow_has_vlan,
            ..
        } => {
            *flow_has_vlan = w.vlans > 0;
            need(w, *flow_has_vlan || *push_vlan_if_needed);
            w.vlans = w.vlans.max(1);
        }
        Action::PopVlan { .. } => {
            need(w, w.vlans > 0);
            w.vlans = w.vlans.saturating_sub(1);
        }
        Action::PushVlan(_) => {
            if w.vlans >= 2 {
                return Err(bad(BadActionCode::BadTag, "too many VLAN headers"));
            }
            w.vlans += 1;
        }
        Action::SetIpv4Src(_) | Action::SetIpv4Dst(_) => need(w, w.dl_type == 0x0800),
        Action::SetIpDscp(_)
        | Action::SetIpEcn(_)
        | Action::SetIpTtl(_)
        | Action::DecTtl { .. } => need(w, w.ip_any()),
        Action::SetL4SrcPort { flow_ip_proto, .. } | Action::SetL4DstPort { flow_ip_proto, .. } => {
            let ok =
                w.ip_any() && w.val(Field::IpFrag) & 2 == 0 && matches!(w.nw_proto, 6 | 17 | 132);
            need(w, ok);
            *flow_ip_proto = w.nw_proto;
        }
        Action::SetMplsLabel(_)
        | Action::SetMplsTc(_)
        | Action::SetMplsTtl(_)
        | Action::DecMplsTtl => need(w, matches!(w.dl_type, 0x8847 | 0x8848)),
        Action::PushMpls(et) => {
            need(w, w.packet_type == PT_ETH);
            w.dl_type = *et;
            w.nw_proto = 0;
        }
        Action::PopMpls(et) => {
            need(
                w,
                w.packet_type == PT_ETH && matches!(w.dl_type, 0x8847 | 0x8848),
            );
            w.dl_type = *et;
        }
        Action::SetField(sf) => {
            if !w.prereq(sf.field.prereq()) || (sf.field == Field::VlanVid && w.vlans == 0) {
                return Err(bad(
                    BadActionCode::MatchInconsistent,
                    format!("set_field {} lacks correct prerequisites", sf.field),
                ));
            }
            if sf.field == Field::VlanTci {
                let cfi = sf.value.as_slice().first().is_some_and(|b| b & 0x10 != 0);
                w.vlans = if cfi { w.vlans.max(1) } else { 0 };
            }
        }
        Action::RegMove { src, dst, .. } => {
            w.subfield(src, false)?;
            w.subfield(dst, true)?;
        }
        Action::StackPush(sf) => w.subfield(sf, false)?,
        Action::StackPop(sf) => w.subfield(sf, true)?,
        Action::Multipath(mp) => w.subfield(&mp.dst, true)?,
        Action::DeleteField(f) if !f.info().variable => {
            return Err(bad_arg(format!(
                "delete_field of {f}, which is not a tun_metadata field"
            )));
        }
        Action::FinTimeout { .. } => need(w, w.nw_proto == 6),
        Action::Resubmit { ct: true, .. } if !w.m.prereq_ok(field::Prereq::CtValid) => {
            return Err(inconsistent("resubmit with the conntrack tuple"));
        }
        Action::Learn(l) => check_learn(l, w)?,
        Action::Ct(ct) => {
            let ct_invalid = w.m.ct_state().is_some_and(|(v, _)| v & 0x10 != 0);
            if !w.ip_any()
                || (ct_invalid && ct.flags & Ct::COMMIT != 0)
                || (ct.alg == 21 && w.nw_proto != 6)
                || (ct.alg == 69 && w.nw_proto != 17)
            {
                return Err(inconsistent("ct"));
            }
            if let CtZone::Field(z) = &ct.zone {
                w.subfield(z, false)?;
            } else {
                let mut sub = *w;
                check_list(&mut ct.actions, &mut sub, p)?;
                w.inconsistent |= sub.inconsistent;
            }
        }
        Action::Nat(n) => {
            let bad_af = match n.addrs {
                NatAddrs::V4 { .. } => w.dl_type != 0x0800,
                NatAddrs::V6 { .. } => w.dl_type != 0x86dd,
                NatAddrs::None => false,
            };
            if !w.ip_any() || bad_af {
                return Err(inconsistent("nat"));
            }
        }
        Action::Clone(inner) => {
            let mut sub = *w;
            check_list(inner, &mut sub, p)?;
            w.inconsistent |= sub.inconsistent;
        }
        Action::WriteActions(inner) => {
            // An action set's consistency cannot be judged, only its errors.
            let mut sub = *w;
            check_list(inner, &mut sub, p)?;
        }
        Action::Encap(e) => {
            w.packet_type = e.packet_type;
            if e.packet_type >> 16 == 1 {
                w.dl_type = e.packet_type as u16;
            }
            if !w.ip_any() {
                w.nw_proto = 0;
            }
        }
        Action::Decap { .. } => {
            if w.packet_type == PT_ETH {
                w.packet_type = (1 << 16) | u32::from(w.dl_type);
            } else {
                w.packet_type = u32::MAX;
                w.dl_type = 0xffff;
            }
        }
        Action::DecNshTtl => need(w, w.packet_type == packet_type::NSH || w.dl_type == 0x894f),
        Action::Meter(id) if *id == 0 || *id > 0xffff_0000 => {
            return Err(other(OtherCode::InvalidMeter, format!("meter {id}")));
        }
        Action::GotoTable(t)
            if p.table_id.is_some_and(|cur| *t <= cur) || u16::from(*t) >= p.n_tables =>
        {
            return Err(bad_inst(
                BadInstructionCode::BadTableId,
                format!("goto_table:{t}"),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// `mf_are_match_prereqs_ok` for a match whose values `val` gives (0 when
/// not matched) and whose ct_state mask is `ct_mask`.
fn prereq_on(p: field::Prereq, val: &dyn Fn(Field) -> u128, ct_mask: u128) -> bool {
    use field::Prereq;
    let eth = val(Field::EthType) as u16;
    let proto = val(Field::IpProto) as u8;
    let ip_any = eth == 0x0800 || eth == 0x86dd;
    let icmp6 = eth == 0x86dd && proto == 58;
    match p {
        Prereq::None => true,
        Prereq::Ethernet => val(Field::PacketType) == 0,
        Prereq::VlanVid => val(Field::VlanTci) as u16 & 0x1000 != 0,
        Prereq::Tcp | Prereq::Udp | Prereq::Sctp => {
            ip_any && Some(proto) == p.ip_proto() && val(Field::IpFrag) & 2 == 0
        }
        Prereq::Icmpv4 => eth == 0x0800 && proto == 1,
        Prereq::Icmpv6 => icmp6,
        Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => {
            icmp6
                && val(Field::Icmpv6Code) == 0
                && p.icmpv6_types().contains(&(val(Field::Icmpv6Type) as u8))
        }
        Prereq::CtValid => {
            let st = val(Field::CtState);
            st & 0xcf != 0 || (st & 0x20 != 0 && ct_mask & 0x10 != 0 && st & 0x10 == 0)
        }
        Prereq::InPort => val(Field::InPort) != 0,
        Prereq::Arp | Prereq::Ipv4 | Prereq::Ipv6 | Prereq::IpAny | Prereq::Mpls => {
            p.eth_types().contains(&eth)
        }
    }
}

/// OVS's `learn_check`: sources against the flow's match; match
/// destinations against the learned flow's match so far, which the
/// immediate match specs build.
fn check_learn(l: &Learn, w: &Walk<'_>) -> Result<(), ActionError> {
    // The learned flow's match so far: (field, value, mask) per immediate.
    let mut learned: Vec<(Field, u128, u128)> = Vec::new();
    for s in &l.specs {
        if let LearnSrc::Field { field, ofs } = s.src {
            w.subfield(
                &SubField {
                    field,
                    ofs,
                    n_bits: s.n_bits,
                },
                false,
            )?;
        }
        let val = |f: Field| {
            learned
                .iter()
                .filter(|(g, _, _)| *g == f)
                .fold(0u128, |acc, (_, v, _)| acc | v)
        };
        let ct_mask = learned
            .iter()
            .filter(|(g, _, _)| *g == Field::CtState)
            .fold(0u128, |acc, (_, _, m)| acc | m);
        let lw_ok = |f: Field| prereq_on(f.prereq(), &val, ct_mask);
        match s.dst {
            LearnDst::Match { field, ofs } => {
                let sf = SubField {
                    field,
                    ofs,
                    n_bits: s.n_bits,
                };
                sf.check_src()?;
                if !lw_ok(field) {
                    return Err(inconsistent(&format!("learned match on {field}")));
                }
                if let LearnSrc::Immediate(imm) = &s.src {
                    let v = be_uint(&imm[imm.len().saturating_sub(16)..]);
                    let v = if s.n_bits < 128 {
                        v & ((1u128 << s.n_bits) - 1)
                    } else {
                        v
                    };
                    let mask = if s.n_bits < 128 {
                        (1u128 << s.n_bits) - 1
                    } else {
                        u128::MAX
                    };
                    let shift = |x: u128| x.checked_shl(u32::from(ofs)).unwrap_or(0);
                    learned.push((field, shift(v), shift(mask)));
                }
            }
            LearnDst::Load { field, ofs } => {
                let sf = SubField {
                    field,
                    ofs,
                    n_bits: s.n_bits,
                };
                sf.check_dst()?;
                if !lw_ok(field) {
                    return Err(inconsistent(&format!("learned load into {field}")));
                }
            }
            LearnDst::Output => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofp::matching::Match;

    #[test]
    fn ports_map_between_of10_and_of11() {
        assert_eq!(port::from_of10(0xfff8), port::IN_PORT);
        assert_eq!(port::to_of10(port::LOCAL), Some(0xfffe));
        assert_eq!(port::to_of10(0x1_0000), None);
        assert_eq!(port::parse("in_port"), Some(port::IN_PORT));
        assert_eq!(port::parse("none"), Some(port::ANY));
        assert_eq!(port::parse("4294967288"), Some(port::IN_PORT));
        assert_eq!(port::parse("70000"), None);
        assert_eq!(port::format(port::from_of10(0xff00)), "65280");
    }

    #[test]
    fn subfields_print_and_parse_like_ovs() {
        let sf: SubField = "reg1[16..31]".parse().expect("parses");
        assert_eq!(sf.to_string(), "NXM_NX_REG1[16..31]");
        assert_eq!(
            "NXM_OF_IN_PORT[]"
                .parse::<SubField>()
                .expect("in_port")
                .n_bits,
            16
        );
        assert_eq!(
            "OXM_OF_VLAN_VID[]"
                .parse::<SubField>()
                .expect("vlan_vid")
                .n_bits,
            12
        );
        assert_eq!(
            "NXM_NX_REG0_W[3]"
                .parse::<SubField>()
                .expect("_W")
                .to_string(),
            "NXM_NX_REG0[3]"
        );
        assert!("reg0[31..32]".parse::<SubField>().is_err());
        assert!("reg0[5..4]".parse::<SubField>().is_err());
        assert!("reg0[]x".parse::<SubField>().is_err());
    }

    #[test]
    fn loads_split_into_64_bit_segments() {
        let dst: SubField = "xxreg0[10..80]".parse().expect("parses");
        let sf = SetField::load(dst, 0x12_3456_7890);
        let segs = sf.load_segments();
        assert_eq!(segs.len(), 2);
        assert_eq!(
            (segs[0].0.ofs, segs[0].0.n_bits, segs[0].1),
            (10, 64, 0x12_3456_7890)
        );
        assert_eq!((segs[1].0.ofs, segs[1].0.n_bits, segs[1].1), (74, 7, 0));
        assert_eq!(
            Action::SetField(sf).to_string(),
            "load:0x1234567890->NXM_NX_XXREG0[10..73],load:0->NXM_NX_XXREG0[74..80]"
        );
    }

    #[test]
    fn parse_rejects_what_ovs_ofctl_rejects() {
        for s in [
            "drop,output:1",
            "apply_actions(output:1)",
            "output:bogus",
            "resubmit(,)",
            "goto_table:1,output:2",
            "nat(src=10.0.0.1)",
            "ct(force)",
            "conjunction(1,3/2)",
            "set_field:1->eth_type",
            "load:0x100->NXM_NX_REG0[0..7]",
            "mod_nw_tos:3",
            "note:0g",
            "clone(goto_table:1)",
        ] {
            assert!(parse(s).is_err(), "{s} parsed");
        }
        assert_eq!(parse("drop").expect("drop"), Vec::new());
        assert_eq!(parse("").expect("empty"), Vec::new());
        assert_eq!(format_list(&[]), "drop");
    }

    #[test]
    fn check_catches_tables_and_meters() {
        let m = Match::new();
        let mut p = CheckParams::new(Version::Of13);
        p.table_id = Some(3);
        let mut a = parse("goto_table:2").expect("parses");
        let err = check(&mut a, &m, &p).expect_err("backwards goto");
        assert_eq!(err.ofperr_name(), Some("OFPBIC_BAD_TABLE_ID"));
        let mut a = parse("goto_table:4").expect("parses");
        assert!(check(&mut a, &m, &p).is_ok());
        let mut a = vec![Action::Meter(0)];
        assert_eq!(
            check(&mut a, &m, &p).err().and_then(|e| e.ofperr_name()),
            Some("OFPMMFC_INVALID_METER")
        );
        p.max_ports = 10;
        let mut a = parse("output:11").expect("parses");
        assert_eq!(
            check(&mut a, &m, &p).err().and_then(|e| e.ofperr_name()),
            Some("OFPBAC_BAD_OUT_PORT")
        );
    }

    #[test]
    fn check_annotates_for_encoding() {
        let m: Match = "tcp".parse().expect("match");
        let mut a = parse("mod_tp_src:80,mod_vlan_vid:5,mod_vlan_vid:6").expect("parses");
        check(&mut a, &m, &CheckParams::new(Version::Of13)).expect("consistent");
        assert!(matches!(
            a[0],
            Action::SetL4SrcPort {
                flow_ip_proto: 6,
                ..
            }
        ));
        assert!(matches!(
            a[1],
            Action::SetVlanVid {
                flow_has_vlan: false,
                ..
            }
        ));
        assert!(matches!(
            a[2],
            Action::SetVlanVid {
                flow_has_vlan: true,
                ..
            }
        ));
        let bytes = encode_to_vec(&a, Version::Of13).expect("encodes");
        // set_field tcp_src, then one push_vlan and two set_field vlan_vid.
        let back = decode(Version::Of13, &bytes).expect("decodes");
        assert_eq!(back.len(), 4);
        assert!(matches!(back[1], Action::PushVlan(0x8100)));
    }

    #[test]
    fn every_error_has_a_wire_form() {
        use BadActionCode as A;
        use BadInstructionCode as I;
        use OtherCode as O;
        let actions = [
            A::BadType,
            A::BadLen,
            A::BadExperimenter,
            A::BadExpType,
            A::BadOutPort,
            A::BadArgument,
            A::EPerm,
            A::TooMany,
            A::BadQueue,
            A::BadOutGroup,
            A::MatchInconsistent,
            A::UnsupportedOrder,
            A::BadTag,
            A::BadSetType,
            A::BadSetLen,
            A::BadSetArgument,
            A::BadSetMask,
            A::BadMeter,
            A::NxMustBeZero,
            A::NxBadConjunction,
            A::NxBadHeaderType,
            A::NxUnknownEdProp,
            A::NxBadEdProp,
        ];
        let insts = [
            I::UnknownInst,
            I::UnsupInst,
            I::BadTableId,
            I::UnsupMetadata,
            I::UnsupMetadataMask,
            I::BadExperimenter,
            I::BadExpType,
            I::BadLen,
            I::EPerm,
            I::DupInst,
        ];
        let others = [
            O::RequestBadLen,
            O::RequestMustBeZero,
            O::MatchBadLen,
            O::MatchBadField,
            O::MatchBadMask,
            O::MatchBadWildcards,
            O::PropBadLen,
            O::PropBadType,
            O::PropBadExpType,
            O::PropBadExperimenter,
            O::InvalidMeter,
        ];
        let errors = actions
            .iter()
            .map(|&code| bad(code, ""))
            .chain(insts.iter().map(|&code| bad_inst(code, "")))
            .chain(others.iter().map(|&code| other(code, "")));
        for e in errors {
            let name = e.ofperr_name().expect("named");
            let ofp = e
                .ofp_error()
                .unwrap_or_else(|| panic!("{name} not in the error table"));
            assert_eq!(ofp.name(), name);
        }
    }

    #[test]
    fn to_set_field_for_typed_sets() {
        let sf = Action::SetIpDscp(8).to_set_field().expect("dscp");
        assert_eq!((sf.field, sf.value.to_u64()), (Field::IpDscp, Some(2)));
        assert!(Action::SetL4SrcPort {
            port: 1,
            flow_ip_proto: 6
        }
        .to_set_field()
        .is_none());
    }
}
