//! Every OpenFlow message as one semantic [`Message`], with [`decode`] and
//! [`encode`] over OpenFlow 1.0, 1.3, 1.4 and 1.5.
//!
//! Decoding goes through the raw-message table ([`raw`]): the header names a
//! wire variant (plain type, experimenter id and subtype, multipart type),
//! the table says whether that variant exists in the version and how long
//! its body may be, and only then does a body decoder run, on a reader
//! bounded to the body. Encoding picks the wire variant for the version and
//! writes the same header forms back.
//!
//! This pass decodes the messages that need no action codec, bundles
//! ([`super::bundle_msg`]), the Nicira TLV-table and conntrack flush
//! messages ([`nx`]) and packet-ins in all their forms ([`packet_in`]).
//! Messages the table knows but this pass
//! does not decode (FLOW_MOD, PACKET_OUT, FLOW_REMOVED,
//! GROUP_MOD, METER_MOD, TABLE_MOD, flow/aggregate/group/meter/
//! table-features multiparts, ...) come out as [`Message::Unparsed`] or, for
//! experimenter messages, [`Message::Experimenter`], for the decoders of
//! [`super::flow_msg`] and [`super::group_msg`].

use super::bundle_msg::{BundleAdd, BundleCtrl};
use super::codec::{Reader, Writer};
use super::error::{BadRequest, ErrorMsg, OfpError};
use super::{Header, Version};

#[path = "msg/continuation.rs"]
pub mod continuation;
#[path = "msg/nx.rs"]
pub mod nx;
#[path = "msg/packet_in.rs"]
pub mod packet_in;
#[path = "msg/port.rs"]
pub mod port;
#[path = "msg/prop.rs"]
pub mod prop;
#[path = "msg/raw.rs"]
pub mod raw;
#[path = "msg/stats.rs"]
pub mod stats;
#[path = "msg/switch.rs"]
pub mod switch;

pub use continuation::{Continuation, Frame as ContinuationFrame};
pub use nx::{CtFlush, CtTuple, TlvMap, TlvTableCommand, TlvTableMod, TlvTableReply};
pub use packet_in::PacketIn;
pub use port::{
    Port, PortConfig, PortFeatures, PortMod, PortNo, PortReason, PortState, PortStats, PortStatus,
};
pub use prop::Property;
pub use raw::{Dir, Form, RawInfo, RawMsg, RAW_TABLE};
pub use stats::{
    GroupFeatures, MeterFeatures, MpReply, MpRequest, MultipartReply, MultipartRequest, QueueStats,
    SwitchDesc, TableStats,
};
pub use switch::{
    negotiate, AsyncConfig, AsyncKind, AsyncMasks, Capabilities, FlowFormat, FragHandling, Hello,
    HelloElement, PacketInFormat, Role, RoleMsg, RoleStatus, RoleStatusReason, SwitchConfig,
    SwitchFeatures,
};

use raw::{lookup, OFPST_EXPERIMENTER, OFPT_EXPERIMENTER};
use stats::MORE;

/// Largest OpenFlow message.
pub const MAX_LEN: usize = u16::MAX as usize;

/// An experimenter (vendor) message kept raw: the 32-bit experimenter id,
/// the 32-bit subtype that follows it, and the rest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Experimenter {
    pub experimenter: u32,
    pub exp_type: u32,
    pub data: Vec<u8>,
}

/// A message the raw table knows but this pass does not decode: its wire
/// variant, multipart flags (0 for other messages) and the body after all
/// header words.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Unparsed {
    pub raw: RawMsg,
    pub flags: u16,
    pub body: Vec<u8>,
}

/// One OpenFlow message, whatever the version and wire variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Message {
    Hello(Hello),
    Error(ErrorMsg),
    EchoRequest(Vec<u8>),
    EchoReply(Vec<u8>),
    /// An experimenter message with no semantic decoder yet (decoding only
    /// yields Nicira and ONF subtypes the table lists; encoding takes any).
    Experimenter(Experimenter),
    FeaturesRequest,
    FeaturesReply(SwitchFeatures),
    GetConfigRequest,
    GetConfigReply(SwitchConfig),
    SetConfig(SwitchConfig),
    PortStatus(PortStatus),
    PortMod(PortMod),
    BarrierRequest,
    BarrierReply,
    /// OFPT_ROLE_REQUEST, or NXT_ROLE_REQUEST (how OpenFlow 1.0 sends it).
    RoleRequest(RoleMsg),
    RoleReply(RoleMsg),
    /// OFPT_ROLE_STATUS (1.4+) or ONFT_ROLE_STATUS (1.3).
    RoleStatus(RoleStatus),
    /// OpenFlow 1.3+.
    GetAsyncRequest,
    /// OpenFlow 1.3+. In 1.3 it carries only the three legacy kinds
    /// (absent masks go out as 0).
    GetAsyncReply(AsyncConfig),
    /// OFPT_SET_ASYNC, NXT_SET_ASYNC_CONFIG (OpenFlow 1.0's spelling) or
    /// NXT_SET_ASYNC_CONFIG2 (what 1.0 and 1.3 send when the 24-byte layout
    /// cannot say it all).
    SetAsync(AsyncConfig),
    /// NXT_SET_FLOW_FORMAT (OpenFlow 1.0 only).
    SetFlowFormat(FlowFormat),
    /// NXT_SET_PACKET_IN_FORMAT.
    SetPacketInFormat(PacketInFormat),
    /// NXT_FLOW_MOD_TABLE_ID: whether OpenFlow 1.0 flow mods carry a table
    /// id in the command's upper byte.
    FlowModTableId(bool),
    /// NXT_SET_CONTROLLER_ID: the connection's controller id, which
    /// `controller(id=N)` actions address packet-ins to (0 by default).
    SetControllerId(u16),
    /// OFPT_PACKET_IN, NXT_PACKET_IN or NXT_PACKET_IN2 (its `format` says
    /// which).
    PacketIn(PacketIn),
    /// NXT_RESUME: a controller sends a paused packet on, with the
    /// continuation an NXT_PACKET_IN2 gave it. Its body is NXT_PACKET_IN2's
    /// properties, so it is a [`PacketIn`] (`format` is `Nxt2`; the packet
    /// and metadata are what the controller wants the pipeline to go on
    /// with).
    Resume(PacketIn),
    MultipartRequest(MultipartRequest),
    MultipartReply(MultipartReply),
    /// OFPT_BUNDLE_CONTROL (1.4+) or ONFT_BUNDLE_CONTROL (1.3).
    BundleControl(BundleCtrl),
    /// OFPT_BUNDLE_ADD_MESSAGE (1.4+) or ONFT_BUNDLE_ADD_MESSAGE (1.3).
    BundleAdd(BundleAdd),
    /// NXT_TLV_TABLE_MOD: map Geneve options to `tun_metadataN` fields.
    TlvTableMod(TlvTableMod),
    /// NXT_TLV_TABLE_REQUEST.
    TlvTableRequest,
    /// NXT_TLV_TABLE_REPLY.
    TlvTableReply(TlvTableReply),
    /// NXT_CT_FLUSH_ZONE: flush one conntrack zone.
    CtFlushZone(u16),
    /// NXT_CT_FLUSH: flush conntrack entries by zone and tuples.
    CtFlush(CtFlush),
    /// A message the table knows whose body this pass does not decode.
    Unparsed(Unparsed),
}

/// The length of the message at the start of `buf`, once its header is
/// there: how a stream reader cuts messages apart.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    Header::parse(buf).ok().map(|h| usize::from(h.length))
}

fn bad_len() -> OfpError {
    OfpError::BadRequest(BadRequest::BadLen)
}

/// Decodes exactly one message.
///
/// Errors, as an OpenFlow switch reports them: a short header or a length
/// field that disagrees with `bytes` either way is BAD_LEN; a version other
/// than 1.0/1.3/1.4/1.5 is BAD_VERSION (except HELLO, which any version may
/// send); an unknown type BAD_TYPE, multipart type BAD_MULTIPART,
/// experimenter id BAD_EXPERIMENTER and experimenter subtype BAD_EXP_TYPE; a
/// body of a length the table does not allow BAD_LEN; and whatever the body
/// decoder finds wrong.
pub fn decode(bytes: &[u8]) -> Result<(Header, Message), OfpError> {
    let f = match frame(bytes)? {
        Framed::Hello(header, hello) => return Ok((header, Message::Hello(hello))),
        Framed::Known(f) => f,
    };
    let mut body = Reader::new(&bytes[f.hdr_len..]);
    let msg = decode_body(f.version, f.info, f.form, f.flags, &mut body)?;
    body.expect_empty()?;
    Ok((f.header, msg))
}

/// The header and wire variant of the message `bytes` holds, checked as
/// [`decode`] checks them (lengths, version, type, experimenter, multipart
/// type, body length from the table) without decoding the body: what Open
/// vSwitch's `ofptype_decode` does. A HELLO of a version oxvs does not
/// speak is [`RawMsg::Hello`].
pub fn peek(bytes: &[u8]) -> Result<(Header, RawMsg), OfpError> {
    Ok(match frame(bytes)? {
        Framed::Hello(h, _) => (h, RawMsg::Hello),
        Framed::Known(f) => (f.header, f.info.raw),
    })
}

/// A message whose header words were read and checked.
struct Frame {
    header: Header,
    version: Version,
    info: &'static RawInfo,
    form: Form,
    flags: u16,
    /// Where the body starts.
    hdr_len: usize,
}

enum Framed {
    /// A HELLO of a version this switch does not speak (decoded whole).
    Hello(Header, Hello),
    Known(Frame),
}

fn frame(bytes: &[u8]) -> Result<Framed, OfpError> {
    let header = Header::parse(bytes).map_err(|_| bad_len())?;
    let len = usize::from(header.length);
    if len < Header::LEN || len != bytes.len() {
        return Err(bad_len());
    }
    let Some(version) = Version::from_wire(header.version) else {
        if header.msg_type == 0 {
            let hello = Hello::decode(&mut Reader::new(&bytes[Header::LEN..]))?;
            return Ok(Framed::Hello(header, hello));
        }
        return Err(BadRequest::BadVersion.into());
    };

    let mut r = Reader::new(&bytes[Header::LEN..]);
    let mut flags = 0;
    // Each header form is checked whole before what it names is looked at,
    // in Open vSwitch's order (`ofphdrs_decode`): a vendor message shorter
    // than its 16-byte header is BAD_LEN whatever its vendor, and so on.
    let need = |n: usize| if len < n { Err(bad_len()) } else { Ok(()) };
    let form = if header.msg_type == OFPT_EXPERIMENTER {
        need(16)?;
        let vendor = r.u32()?;
        if !raw::known_vendor(vendor) {
            return Err(BadRequest::BadExperimenter.into());
        }
        Form::Vendor(vendor, r.u32()?)
    } else if let Some(dir) = Dir::from_msg_type(version, header.msg_type) {
        let of10 = version == Version::Of10;
        need(if of10 { 12 } else { 16 })?;
        let stat = r.u16()?;
        flags = r.u16()?;
        if !of10 {
            r.skip(4)?;
        }
        if stat == OFPST_EXPERIMENTER {
            // OpenFlow 1.0: the vendor, then (Nicira only) the subtype and
            // 4 bytes of padding; 1.1+: vendor and subtype together.
            need(if of10 { 16 } else { 24 })?;
            let vendor = r.u32()?;
            // OpenFlow 1.0 multiparts only ever had Nicira extensions.
            let known =
                raw::known_vendor(vendor) && (!of10 || vendor == super::error::NX_VENDOR_ID);
            if !known {
                return Err(BadRequest::BadExperimenter.into());
            }
            need(24)?;
            Form::VendorStat(dir, vendor, r.u32()?)
        } else {
            Form::Stat(dir, stat)
        }
    } else {
        Form::Plain(header.msg_type)
    };

    let info = lookup(version, form).ok_or(match form {
        Form::Plain(_) => BadRequest::BadType,
        Form::Stat(..) => BadRequest::BadMultipart,
        Form::Vendor(..) | Form::VendorStat(..) => BadRequest::BadExpType,
    })?;
    let hdr_len = form.header_len(version);
    if len < hdr_len {
        return Err(bad_len());
    }
    info.check_len(len - hdr_len)?;
    Ok(Framed::Known(Frame {
        header,
        version,
        info,
        form,
        flags,
        hdr_len,
    }))
}

/// Decodes every element of an array body.
fn many<T>(
    r: &mut Reader<'_>,
    mut one: impl FnMut(&mut Reader<'_>) -> Result<T, OfpError>,
) -> Result<Vec<T>, OfpError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(one(r)?);
    }
    Ok(out)
}

fn decode_body(
    version: Version,
    info: &RawInfo,
    form: Form,
    flags: u16,
    r: &mut Reader<'_>,
) -> Result<Message, OfpError> {
    use RawMsg as R;
    let v = version;
    let more = flags & MORE != 0;
    let req = |body| Ok(Message::MultipartRequest(MultipartRequest { more, body }));
    let rep = |body| Ok(Message::MultipartReply(MultipartReply { more, body }));
    match info.raw {
        R::Hello => Ok(Message::Hello(Hello::decode(r)?)),
        R::Error => Ok(Message::Error(ErrorMsg::decode_body(v, r)?)),
        R::EchoRequest => Ok(Message::EchoRequest(r.bytes(r.remaining())?.to_vec())),
        R::EchoReply => Ok(Message::EchoReply(r.bytes(r.remaining())?.to_vec())),
        R::FeaturesRequest => Ok(Message::FeaturesRequest),
        R::Of10FeaturesReply | R::Of13FeaturesReply => {
            Ok(Message::FeaturesReply(SwitchFeatures::decode(v, r)?))
        }
        R::GetConfigRequest => Ok(Message::GetConfigRequest),
        R::GetConfigReply => Ok(Message::GetConfigReply(SwitchConfig::decode(v, r, false)?)),
        R::SetConfig => Ok(Message::SetConfig(SwitchConfig::decode(v, r, true)?)),
        R::Of10PortStatus | R::Of11PortStatus | R::Of14PortStatus => {
            Ok(Message::PortStatus(PortStatus::decode(v, r)?))
        }
        R::Of10PortMod | R::Of11PortMod | R::Of14PortMod => {
            Ok(Message::PortMod(PortMod::decode(v, r)?))
        }
        R::Of10BarrierRequest | R::Of11BarrierRequest => Ok(Message::BarrierRequest),
        R::Of10BarrierReply | R::Of11BarrierReply => Ok(Message::BarrierReply),
        R::Of12RoleRequest => Ok(Message::RoleRequest(RoleMsg::decode_std(r)?)),
        R::NxtRoleRequest => Ok(Message::RoleRequest(RoleMsg::decode_nx(r)?)),
        R::Of12RoleReply => Ok(Message::RoleReply(RoleMsg::decode_std(r)?)),
        R::NxtRoleReply => Ok(Message::RoleReply(RoleMsg::decode_nx(r)?)),
        R::Of13GetAsyncRequest | R::Of14GetAsyncRequest => Ok(Message::GetAsyncRequest),
        R::Of13GetAsyncReply => Ok(Message::GetAsyncReply(AsyncConfig::decode_masks(r)?)),
        R::Of14GetAsyncReply => Ok(Message::GetAsyncReply(AsyncConfig::decode_props(r)?)),
        R::Of13SetAsync | R::NxtSetAsyncConfig => {
            Ok(Message::SetAsync(AsyncConfig::decode_masks(r)?))
        }
        R::Of14SetAsync | R::NxtSetAsyncConfig2 => {
            Ok(Message::SetAsync(AsyncConfig::decode_props(r)?))
        }
        R::NxtSetFlowFormat => Ok(Message::SetFlowFormat(FlowFormat::from_wire(r.u32()?))),
        R::NxtSetPacketInFormat => Ok(Message::SetPacketInFormat(PacketInFormat::from_wire(
            r.u32()?,
        ))),
        R::Of10PacketIn | R::Of13PacketIn | R::NxtPacketIn | R::NxtPacketIn2 => {
            Ok(Message::PacketIn(PacketIn::decode(info.raw, r)?))
        }
        R::NxtResume => Ok(Message::Resume(PacketIn::decode(info.raw, r)?)),
        R::NxtFlowModTableId => {
            let set = r.u8()? != 0;
            r.skip(7)?;
            Ok(Message::FlowModTableId(set))
        }
        R::NxtSetControllerId => {
            // Six zero bytes, as Open vSwitch's handler checks them.
            if r.bytes(6)?.iter().any(|b| *b != 0) {
                return Err(BadRequest::MustBeZero.into());
            }
            Ok(Message::SetControllerId(r.u16()?))
        }

        R::DescRequest => req(MpRequest::Desc),
        R::Of10PortDescRequest => req(MpRequest::PortDesc {
            port_no: PortNo::ANY,
        }),
        R::Of15PortDescRequest => {
            let port_no = PortNo::get(v, r)?;
            r.skip(4)?;
            req(MpRequest::PortDesc { port_no })
        }
        R::Of10PortStatsRequest | R::Of11PortStatsRequest => {
            let port_no = PortNo::get(v, r)?;
            r.skip(if v == Version::Of10 { 6 } else { 4 })?;
            req(MpRequest::PortStats { port_no })
        }
        R::TableStatsRequest => req(MpRequest::TableStats),
        R::Of10QueueStatsRequest | R::Of11QueueStatsRequest => {
            let mut port_no = PortNo::get(v, r)?;
            if v == Version::Of10 {
                r.skip(2)?;
                if port_no == PortNo::ALL {
                    port_no = PortNo::ANY;
                }
            }
            req(MpRequest::QueueStats {
                port_no,
                queue_id: r.u32()?,
            })
        }
        R::NxstGroupFeaturesRequest | R::Of12GroupFeaturesRequest => req(MpRequest::GroupFeatures),
        R::MeterFeaturesRequest => req(MpRequest::MeterFeatures),

        R::DescReply => rep(MpReply::Desc(SwitchDesc::decode(r)?)),
        R::Of10PortDescReply | R::Of11PortDescReply | R::Of14PortDescReply => {
            rep(MpReply::PortDesc(many(r, |r| Port::decode(v, r))?))
        }
        R::Of10PortStatsReply | R::Of13PortStatsReply | R::Of14PortStatsReply => {
            rep(MpReply::PortStats(many(r, |r| PortStats::decode(v, r))?))
        }
        R::Of10TableStatsReply | R::Of13TableStatsReply => {
            rep(MpReply::TableStats(many(r, |r| TableStats::decode(v, r))?))
        }
        R::Of10QueueStatsReply | R::Of13QueueStatsReply | R::Of14QueueStatsReply => {
            rep(MpReply::QueueStats(many(r, |r| QueueStats::decode(v, r))?))
        }
        R::NxstGroupFeaturesReply | R::Of12GroupFeaturesReply => {
            rep(MpReply::GroupFeatures(GroupFeatures::decode(r)?))
        }
        R::MeterFeaturesReply => rep(MpReply::MeterFeatures(MeterFeatures::decode(r)?)),

        R::Onft13RoleStatus | R::Of14RoleStatus => Ok(Message::RoleStatus(RoleStatus::decode(r)?)),
        R::NxtTlvTableMod => Ok(Message::TlvTableMod(TlvTableMod::decode(r)?)),
        R::NxtTlvTableRequest => Ok(Message::TlvTableRequest),
        R::NxtTlvTableReply => Ok(Message::TlvTableReply(TlvTableReply::decode(r)?)),
        R::NxtCtFlushZone => {
            let f = CtFlush::decode_zone(r)?;
            Ok(Message::CtFlushZone(f.zone.unwrap_or(0)))
        }
        R::NxtCtFlush => Ok(Message::CtFlush(CtFlush::decode(r)?)),

        R::Of14BundleControl | R::Onft13BundleControl => {
            Ok(Message::BundleControl(BundleCtrl::decode(r)?))
        }
        R::Of14BundleAddMessage | R::Onft13BundleAddMessage => {
            Ok(Message::BundleAdd(BundleAdd::decode(r)?))
        }

        raw => {
            let rest = r.bytes(r.remaining())?.to_vec();
            Ok(match form {
                Form::Vendor(experimenter, exp_type) => Message::Experimenter(Experimenter {
                    experimenter,
                    exp_type,
                    data: rest,
                }),
                _ => Message::Unparsed(Unparsed {
                    raw,
                    flags,
                    body: rest,
                }),
            })
        }
    }
}

/// The wire variant that carries `msg` in `version`. A message `version`
/// lacks is BAD_TYPE (BAD_MULTIPART for a multipart body).
fn raw_for(msg: &Message, version: Version) -> Result<RawMsg, OfpError> {
    use RawMsg as R;
    let of10 = version == Version::Of10;
    let pick = |v10: R, later: R| if of10 { v10 } else { later };
    let by_layout = |v10: R, v13: R, v14: R| match version {
        Version::Of10 => v10,
        Version::Of13 => v13,
        Version::Of14 | Version::Of15 => v14,
    };
    let missing = || OfpError::BadRequest(BadRequest::BadType);
    let missing_mp = || OfpError::BadRequest(BadRequest::BadMultipart);
    Ok(match msg {
        Message::Hello(_) => R::Hello,
        Message::Error(_) => R::Error,
        Message::EchoRequest(_) => R::EchoRequest,
        Message::EchoReply(_) => R::EchoReply,
        // Written without the table: any experimenter id may go out.
        Message::Experimenter(_) => return Err(missing()),
        Message::FeaturesRequest => R::FeaturesRequest,
        Message::FeaturesReply(_) => pick(R::Of10FeaturesReply, R::Of13FeaturesReply),
        Message::GetConfigRequest => R::GetConfigRequest,
        Message::GetConfigReply(_) => R::GetConfigReply,
        Message::SetConfig(_) => R::SetConfig,
        Message::PortStatus(_) => {
            by_layout(R::Of10PortStatus, R::Of11PortStatus, R::Of14PortStatus)
        }
        Message::PortMod(_) => by_layout(R::Of10PortMod, R::Of11PortMod, R::Of14PortMod),
        Message::BarrierRequest => pick(R::Of10BarrierRequest, R::Of11BarrierRequest),
        Message::BarrierReply => pick(R::Of10BarrierReply, R::Of11BarrierReply),
        Message::RoleRequest(_) => pick(R::NxtRoleRequest, R::Of12RoleRequest),
        Message::RoleReply(_) => pick(R::NxtRoleReply, R::Of12RoleReply),
        Message::GetAsyncRequest if of10 => return Err(missing()),
        Message::GetAsyncRequest => by_layout(
            R::Of13GetAsyncRequest,
            R::Of13GetAsyncRequest,
            R::Of14GetAsyncRequest,
        ),
        Message::GetAsyncReply(_) if of10 => return Err(missing()),
        Message::GetAsyncReply(_) => by_layout(
            R::Of13GetAsyncReply,
            R::Of13GetAsyncReply,
            R::Of14GetAsyncReply,
        ),
        // Before OpenFlow 1.4, a partial or extended configuration goes out
        // as Nicira's property-based NXT_SET_ASYNC_CONFIG2.
        Message::SetAsync(c) if version < Version::Of14 && !c.fits_masks() => R::NxtSetAsyncConfig2,
        Message::SetAsync(_) => by_layout(R::NxtSetAsyncConfig, R::Of13SetAsync, R::Of14SetAsync),
        Message::SetFlowFormat(_) => R::NxtSetFlowFormat,
        Message::SetPacketInFormat(_) => R::NxtSetPacketInFormat,
        Message::FlowModTableId(_) => R::NxtFlowModTableId,
        Message::SetControllerId(_) => R::NxtSetControllerId,
        Message::PacketIn(p) => p.raw(version)?,
        Message::Resume(_) => R::NxtResume,
        Message::MultipartRequest(m) => match &m.body {
            MpRequest::Desc => R::DescRequest,
            MpRequest::PortDesc { .. } if version == Version::Of15 => R::Of15PortDescRequest,
            MpRequest::PortDesc { .. } => R::Of10PortDescRequest,
            MpRequest::PortStats { .. } => pick(R::Of10PortStatsRequest, R::Of11PortStatsRequest),
            MpRequest::TableStats => R::TableStatsRequest,
            MpRequest::QueueStats { .. } => {
                pick(R::Of10QueueStatsRequest, R::Of11QueueStatsRequest)
            }
            MpRequest::GroupFeatures => {
                pick(R::NxstGroupFeaturesRequest, R::Of12GroupFeaturesRequest)
            }
            MpRequest::MeterFeatures if of10 => return Err(missing_mp()),
            MpRequest::MeterFeatures => R::MeterFeaturesRequest,
        },
        Message::MultipartReply(m) => match &m.body {
            MpReply::Desc(_) => R::DescReply,
            MpReply::PortDesc(_) => by_layout(
                R::Of10PortDescReply,
                R::Of11PortDescReply,
                R::Of14PortDescReply,
            ),
            MpReply::PortStats(_) => by_layout(
                R::Of10PortStatsReply,
                R::Of13PortStatsReply,
                R::Of14PortStatsReply,
            ),
            MpReply::TableStats(_) => pick(R::Of10TableStatsReply, R::Of13TableStatsReply),
            MpReply::QueueStats(_) => by_layout(
                R::Of10QueueStatsReply,
                R::Of13QueueStatsReply,
                R::Of14QueueStatsReply,
            ),
            MpReply::GroupFeatures(_) => pick(R::NxstGroupFeaturesReply, R::Of12GroupFeaturesReply),
            MpReply::MeterFeatures(_) if of10 => return Err(missing_mp()),
            MpReply::MeterFeatures(_) => R::MeterFeaturesReply,
        },
        Message::BundleControl(_) | Message::BundleAdd(_) if of10 => return Err(missing()),
        Message::BundleControl(_) if version == Version::Of13 => R::Onft13BundleControl,
        Message::BundleControl(_) => R::Of14BundleControl,
        Message::BundleAdd(_) if version == Version::Of13 => R::Onft13BundleAddMessage,
        Message::BundleAdd(_) => R::Of14BundleAddMessage,
        Message::RoleStatus(_) if of10 => return Err(missing()),
        Message::RoleStatus(_) if version == Version::Of13 => R::Onft13RoleStatus,
        Message::RoleStatus(_) => R::Of14RoleStatus,
        Message::TlvTableMod(_) => R::NxtTlvTableMod,
        Message::TlvTableRequest => R::NxtTlvTableRequest,
        Message::TlvTableReply(_) => R::NxtTlvTableReply,
        Message::CtFlushZone(_) => R::NxtCtFlushZone,
        Message::CtFlush(_) => R::NxtCtFlush,
        Message::Unparsed(u) => u.raw,
    })
}

/// Writes the OpenFlow header and the header words `form` needs, with a
/// zero length to patch later.
fn put_header(w: &mut Writer, version: Version, form: Form, xid: u32, flags: u16) {
    let msg_type = match form {
        Form::Plain(t) => t,
        Form::Vendor(..) => OFPT_EXPERIMENTER,
        Form::Stat(dir, _) | Form::VendorStat(dir, ..) => dir.msg_type(version),
    };
    w.u8(version.wire()).u8(msg_type).u16(0).u32(xid);
    let of10 = version == Version::Of10;
    match form {
        Form::Plain(_) => {}
        Form::Vendor(vendor, subtype) => {
            w.u32(vendor).u32(subtype);
        }
        Form::Stat(_, stat) => {
            w.u16(stat).u16(flags);
            if !of10 {
                w.zeros(4);
            }
        }
        Form::VendorStat(_, vendor, subtype) => {
            w.u16(OFPST_EXPERIMENTER).u16(flags);
            if !of10 {
                w.zeros(4);
            }
            w.u32(vendor).u32(subtype);
            if of10 {
                w.zeros(4);
            }
        }
    }
}

/// Encodes `msg` as `version` spells it, with transaction id `xid`.
///
/// Fails when `version` cannot carry the message (BAD_TYPE or
/// BAD_MULTIPART: e.g. GET_ASYNC or meter features in OpenFlow 1.0), or a
/// value in it (BAD_PORT for a port number OpenFlow 1.0 cannot express,
/// ROLE_REQUEST_FAILED/BAD_ROLE for NOCHANGE in a Nicira role request), or
/// when the result would exceed 65535 bytes (BAD_LEN: split multipart
/// replies first). Fields a version lacks (OpenFlow 1.0 ports in a 1.3
/// FEATURES_REPLY, a 1.3 auxiliary id in 1.0, ...) are dropped.
pub fn encode(msg: &Message, version: Version, xid: u32) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    if let Message::Experimenter(e) = msg {
        put_header(
            &mut w,
            version,
            Form::Vendor(e.experimenter, e.exp_type),
            xid,
            0,
        );
        w.bytes(&e.data);
        return finish(w, None);
    }
    let info = raw_for(msg, version)?.info();
    if !info.exists_in(version) {
        return Err(BadRequest::BadType.into());
    }
    let flags = match msg {
        Message::MultipartRequest(MultipartRequest { more, .. })
        | Message::MultipartReply(MultipartReply { more, .. }) => u16::from(*more) * MORE,
        Message::Unparsed(u) => u.flags,
        _ => 0,
    };
    put_header(&mut w, version, info.form, xid, flags);
    let body_start = w.len();
    encode_body(msg, version, &mut w)?;
    let body_len = w.len() - body_start;
    finish(w, Some((info, body_len)))
}

/// Patches the length in, after checking it against the limit and, for a
/// table variant, against the table.
fn finish(w: Writer, checked: Option<(&RawInfo, usize)>) -> Result<Vec<u8>, OfpError> {
    if let Some((info, body_len)) = checked {
        // Only raw bodies can break this; the encoders write valid lengths.
        info.check_len(body_len)?;
    }
    let len = u16::try_from(w.len()).map_err(|_| bad_len())?;
    let mut out = w.into_vec();
    if let Some(field) = out.get_mut(2..4) {
        field.copy_from_slice(&len.to_be_bytes());
    }
    Ok(out)
}

fn encode_body(msg: &Message, version: Version, w: &mut Writer) -> Result<(), OfpError> {
    let v = version;
    match msg {
        Message::Hello(h) => h.encode(w),
        Message::Error(e) => e.encode_body(v, w),
        Message::EchoRequest(d) | Message::EchoReply(d) => {
            w.bytes(d);
        }
        Message::Experimenter(e) => {
            w.bytes(&e.data);
        }
        Message::FeaturesRequest
        | Message::GetConfigRequest
        | Message::BarrierRequest
        | Message::BarrierReply
        | Message::GetAsyncRequest
        | Message::TlvTableRequest => {}
        Message::FeaturesReply(f) => f.encode(v, w)?,
        Message::GetConfigReply(c) | Message::SetConfig(c) => c.encode(v, w),
        Message::PortStatus(p) => p.encode(v, w)?,
        Message::PortMod(p) => p.encode(v, w)?,
        Message::RoleRequest(r) | Message::RoleReply(r) => {
            if v == Version::Of10 {
                r.encode_nx(w)?;
            } else {
                r.encode_std(w);
            }
        }
        Message::SetAsync(c) if v < Version::Of14 && !c.fits_masks() => c.encode_props(w),
        Message::GetAsyncReply(c) | Message::SetAsync(c) => match v {
            Version::Of10 | Version::Of13 => c.encode_masks(w),
            Version::Of14 | Version::Of15 => c.encode_props(w),
        },
        Message::SetFlowFormat(f) => {
            w.u32(f.wire());
        }
        Message::SetPacketInFormat(f) => {
            w.u32(f.wire());
        }
        Message::FlowModTableId(set) => {
            w.u8(u8::from(*set)).zeros(7);
        }
        Message::SetControllerId(id) => {
            w.zeros(6).u16(*id);
        }
        Message::PacketIn(p) => p.encode(v, w)?,
        Message::Resume(p) => p.encode_resume(v, w)?,
        Message::MultipartRequest(m) => match &m.body {
            MpRequest::Desc
            | MpRequest::TableStats
            | MpRequest::GroupFeatures
            | MpRequest::MeterFeatures => {}
            MpRequest::PortDesc { port_no } => {
                if v == Version::Of15 {
                    port_no.put(v, w)?;
                    w.zeros(4);
                }
            }
            MpRequest::PortStats { port_no } => {
                port_no.put(v, w)?;
                w.zeros(if v == Version::Of10 { 6 } else { 4 });
            }
            MpRequest::QueueStats { port_no, queue_id } => {
                if v == Version::Of10 {
                    let p = if *port_no == PortNo::ANY {
                        PortNo::ALL
                    } else {
                        *port_no
                    };
                    p.put(v, w)?;
                    w.zeros(2);
                } else {
                    port_no.put(v, w)?;
                }
                w.u32(*queue_id);
            }
        },
        Message::MultipartReply(m) => match &m.body {
            MpReply::Desc(d) => d.encode(w),
            MpReply::PortDesc(ports) => {
                for p in ports {
                    p.encode(v, w)?;
                }
            }
            MpReply::PortStats(stats) => {
                for s in stats {
                    s.encode(v, w)?;
                }
            }
            MpReply::TableStats(stats) => {
                for s in stats {
                    s.encode(v, w);
                }
            }
            MpReply::QueueStats(stats) => {
                for s in stats {
                    s.encode(v, w)?;
                }
            }
            MpReply::GroupFeatures(g) => g.encode(w),
            MpReply::MeterFeatures(m) => m.encode(w),
        },
        Message::BundleControl(c) => c.encode(w),
        Message::BundleAdd(a) => a.encode(w),
        Message::RoleStatus(st) => st.encode(w),
        Message::TlvTableMod(m) => m.encode(w),
        Message::TlvTableReply(m) => m.encode(w),
        Message::CtFlushZone(zone) => CtFlush {
            zone: Some(*zone),
            ..CtFlush::default()
        }
        .encode_zone(w),
        Message::CtFlush(f) => f.encode(w),
        Message::Unparsed(u) => {
            w.bytes(&u.body);
        }
    }
    Ok(())
}

impl Message {
    /// Whether `version` has a wire form for this message (values inside it
    /// may still be unencodable).
    pub fn exists_in(&self, version: Version) -> bool {
        match self {
            Message::Experimenter(_) => true,
            m => raw_for(m, version).is_ok_and(|r| r.info().exists_in(version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofp::error::{BadProperty, RoleRequestFailed};

    fn ok(msg: &Message, v: Version) -> Vec<u8> {
        encode(msg, v, 0x1234_5678).unwrap_or_else(|e| panic!("{msg:?} in {v:?}: {e}"))
    }

    #[test]
    fn echo_round_trips_in_every_version() {
        for v in Version::ALL {
            let m = Message::EchoRequest(vec![1, 2, 3]);
            let b = ok(&m, v);
            assert_eq!(b, [v.wire(), 2, 0, 11, 0x12, 0x34, 0x56, 0x78, 1, 2, 3]);
            let (h, d) = decode(&b).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((h.xid, d), (0x1234_5678, m));
        }
    }

    #[test]
    fn multipart_headers_differ_by_version() {
        let m = Message::MultipartRequest(MultipartRequest {
            more: false,
            body: MpRequest::Desc,
        });
        assert_eq!(
            ok(&m, Version::Of10),
            [1, 16, 0, 12, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]
        );
        assert_eq!(ok(&m, Version::Of13)[..4], [4, 18, 0, 16]);
        let m = Message::MultipartRequest(MultipartRequest {
            more: false,
            body: MpRequest::GroupFeatures,
        });
        let b = ok(&m, Version::Of10);
        assert_eq!(b.len(), 24);
        assert_eq!(b[8..12], [0xff, 0xff, 0, 0]);
        assert_eq!(decode(&b).map(|d| d.1), Ok(m));
    }

    #[test]
    fn lengths_that_lie_are_bad_len() {
        let b = ok(&Message::BarrierRequest, Version::Of13);
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(decode(&longer).map(|d| d.1), Err(bad_len()));
        assert_eq!(decode(&b[..7]).map(|d| d.1), Err(bad_len()));
        let mut short = b.clone();
        short[3] = 7;
        assert_eq!(decode(&short).map(|d| d.1), Err(bad_len()));
    }

    #[test]
    fn values_a_version_cannot_carry_fail_to_encode() {
        let nochange = Message::RoleRequest(RoleMsg {
            role: Role::NoChange,
            generation_id: None,
        });
        assert_eq!(
            encode(&nochange, Version::Of10, 0),
            Err(RoleRequestFailed::BadRole.into())
        );
        assert!(encode(&nochange, Version::Of13, 0).is_ok());
        assert_eq!(
            encode(&Message::GetAsyncRequest, Version::Of10, 0),
            Err(BadRequest::BadType.into())
        );
        let ps = Message::MultipartRequest(MultipartRequest {
            more: false,
            body: MpRequest::PortStats {
                port_no: PortNo(0x10000),
            },
        });
        assert_eq!(
            encode(&ps, Version::Of10, 0),
            Err(BadRequest::BadPort.into())
        );
    }

    #[test]
    fn async_properties_must_hold_one_mask() {
        // OFPT_SET_ASYNC (1.4) with a packet-in property of 6 payload bytes.
        let b = [
            5, 28, 0, 24, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(decode(&b).map(|d| d.1), Err(BadProperty::BadLen.into()));
    }

    #[test]
    fn unparsed_messages_keep_their_body() {
        // An OpenFlow 1.3 TABLE_MOD: table 1, config 0.
        let b = [4, 17, 0, 16, 0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0];
        let (_, m) = decode(&b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            m,
            Message::Unparsed(Unparsed {
                raw: RawMsg::Of11TableMod,
                flags: 0,
                body: b[8..].to_vec()
            })
        );
        assert_eq!(encode(&m, Version::Of13, 9), Ok(b.to_vec()));
    }
}
