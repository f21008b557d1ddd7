//! The raw-message table: every wire variant of every OpenFlow message, the
//! versions it exists in, its header form and the body lengths it allows.
//!
//! It is the single source of truth for header decoding and length checks,
//! as `enum ofpraw` is in Open vSwitch's `ofp-msgs.h`.
//!
//! A message with several wire variants (FEATURES_REPLY in OpenFlow 1.0 and
//! 1.3, ROLE_REQUEST and NXT_ROLE_REQUEST, ...) has one [`RawMsg`] per
//! variant; [`super::Message`] merges them into one semantic variant.

use crate::ofp::error::{BadRequest, OfpError, NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::ofp::Version;

/// OFPT_VENDOR / OFPT_EXPERIMENTER: the same number in every version.
pub const OFPT_EXPERIMENTER: u8 = 4;
/// The multipart (stats) `type` that introduces a vendor id.
pub const OFPST_EXPERIMENTER: u16 = 0xffff;

/// Whether a multipart message is a request or a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    Request,
    Reply,
}

impl Dir {
    /// The `ofp_header.type` of a multipart message in `version`.
    pub fn msg_type(self, version: Version) -> u8 {
        match (version, self) {
            (Version::Of10, Dir::Request) => 16,
            (Version::Of10, Dir::Reply) => 17,
            (_, Dir::Request) => 18,
            (_, Dir::Reply) => 19,
        }
    }

    /// The direction `msg_type` names in `version`, if it is multipart.
    pub fn from_msg_type(version: Version, msg_type: u8) -> Option<Dir> {
        [Dir::Request, Dir::Reply]
            .into_iter()
            .find(|d| d.msg_type(version) == msg_type)
    }
}

/// How a header names a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// `ofp_header.type` alone.
    Plain(u8),
    /// OFPT_EXPERIMENTER with a vendor id and a 32-bit subtype.
    Vendor(u32, u32),
    /// A multipart message of a standard `type`.
    Stat(Dir, u16),
    /// A multipart message of type OFPST_EXPERIMENTER with a vendor id and
    /// a 32-bit subtype.
    VendorStat(Dir, u32, u32),
}

impl Form {
    /// Bytes of header (OpenFlow header, multipart header, vendor words)
    /// before the body, in `version`.
    pub fn header_len(self, version: Version) -> usize {
        match (self, version) {
            (Form::Plain(_), _) => 8,
            (Form::Vendor(..), _) => 16,
            (Form::Stat(..), Version::Of10) => 12,
            (Form::Stat(..), _) => 16,
            // OpenFlow 1.0 Nicira stats pad the subtype to 64 bits.
            (Form::VendorStat(..), _) => 24,
        }
    }
}

/// How long a body may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// Exactly the minimum.
    None,
    /// The minimum plus any number of bytes.
    Any,
    /// The minimum plus a multiple of this many bytes.
    Multiple(usize),
}

/// One wire variant.
#[derive(Clone, Copy, Debug)]
pub struct RawInfo {
    pub raw: RawMsg,
    /// Open vSwitch's name for it, e.g. `"OFPT_HELLO"`.
    pub name: &'static str,
    /// First and last `ofp_header.version` byte it exists in.
    pub min_version: u8,
    pub max_version: u8,
    pub form: Form,
    /// Shortest body, after [`Form::header_len`].
    pub min_body: usize,
    pub extra: Extra,
}

impl RawInfo {
    pub fn exists_in(&self, version: Version) -> bool {
        (self.min_version..=self.max_version).contains(&version.wire())
    }

    /// Checks a body length against the table.
    pub fn check_len(&self, body_len: usize) -> Result<(), OfpError> {
        let ok = match self.extra {
            Extra::None => body_len == self.min_body,
            Extra::Any => body_len >= self.min_body,
            Extra::Multiple(n) => {
                body_len >= self.min_body && (body_len - self.min_body).is_multiple_of(n)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(BadRequest::BadLen.into())
        }
    }
}

const ALL: (u8, u8) = (0x01, 0xff);
const V10: (u8, u8) = (0x01, 0x01);
const V10_11: (u8, u8) = (0x01, 0x02);
const V10_12: (u8, u8) = (0x01, 0x03);
const V10_13: (u8, u8) = (0x01, 0x04);
const V10_14: (u8, u8) = (0x01, 0x05);
const V10_UP: (u8, u8) = (0x01, 0x06);
const V11_UP: (u8, u8) = (0x02, 0x06);
/// OpenFlow 1.1 and 1.2 only: kept so that the table mirrors the protocol,
/// though oxvs never speaks those versions.
const V11_12_ONLY: (u8, u8) = (0x02, 0x03);
const V11_13: (u8, u8) = (0x02, 0x04);
const V11_14: (u8, u8) = (0x02, 0x05);
const V12_UP: (u8, u8) = (0x03, 0x06);
const V13: (u8, u8) = (0x04, 0x04);
const V13_14: (u8, u8) = (0x04, 0x05);
const V13_UP: (u8, u8) = (0x04, 0x06);
const V14_UP: (u8, u8) = (0x05, 0x06);
const V15_UP: (u8, u8) = (0x06, 0x06);

use Dir::{Reply, Request};
use Extra::{Any, Multiple};
use Form::{Plain, Stat, Vendor, VendorStat};

const NX: u32 = NX_VENDOR_ID;
const ONF: u32 = ONF_VENDOR_ID;

/// Builds [`RawMsg`] and [`RAW_TABLE`] from one list.
macro_rules! raw_table {
    ($($raw:ident $name:literal $versions:ident $form:expr, $min:expr, $extra:expr;)*) => {
        /// One wire variant of an OpenFlow message (Open vSwitch's
        /// `OFPRAW_*`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum RawMsg {
            $($raw,)*
        }

        /// Every wire variant oxvs recognises.
        pub const RAW_TABLE: &[RawInfo] = &[
            $(RawInfo {
                raw: RawMsg::$raw,
                name: $name,
                min_version: $versions.0,
                max_version: $versions.1,
                form: $form,
                min_body: $min,
                extra: $extra,
            },)*
        ];
    };
}

raw_table! {
    // Immutable messages: any version, so that a HELLO announcing a newer
    // version still decodes.
    Hello "OFPT_HELLO" ALL Plain(0), 0, Any;
    Error "OFPT_ERROR" ALL Plain(1), 4, Any;
    EchoRequest "OFPT_ECHO_REQUEST" ALL Plain(2), 0, Any;
    EchoReply "OFPT_ECHO_REPLY" ALL Plain(3), 0, Any;

    FeaturesRequest "OFPT_FEATURES_REQUEST" V10_UP Plain(5), 0, Extra::None;
    Of10FeaturesReply "OFPT_FEATURES_REPLY" V10 Plain(6), 24, Multiple(48);
    Of11FeaturesReply "OFPT_FEATURES_REPLY" V11_12_ONLY Plain(6), 24, Multiple(64);
    Of13FeaturesReply "OFPT_FEATURES_REPLY" V13_UP Plain(6), 24, Extra::None;
    GetConfigRequest "OFPT_GET_CONFIG_REQUEST" V10_UP Plain(7), 0, Extra::None;
    GetConfigReply "OFPT_GET_CONFIG_REPLY" V10_UP Plain(8), 4, Extra::None;
    SetConfig "OFPT_SET_CONFIG" V10_UP Plain(9), 4, Extra::None;

    Of10PacketIn "OFPT_PACKET_IN" V10 Plain(10), 10, Any;
    Of13PacketIn "OFPT_PACKET_IN" V13_UP Plain(10), 16, Any;
    NxtPacketIn "NXT_PACKET_IN" V10_UP Vendor(NX, 17), 24, Any;
    NxtPacketIn2 "NXT_PACKET_IN2" V10_UP Vendor(NX, 30), 0, Multiple(8);

    Of10FlowRemoved "OFPT_FLOW_REMOVED" V10 Plain(11), 80, Extra::None;
    Of11FlowRemoved "OFPT_FLOW_REMOVED" V11_14 Plain(11), 40, Multiple(8);
    Of15FlowRemoved "OFPT_FLOW_REMOVED" V15_UP Plain(11), 16, Multiple(8);
    NxtFlowRemoved "NXT_FLOW_REMOVED" V10_UP Vendor(NX, 14), 40, Multiple(8);

    Of10PortStatus "OFPT_PORT_STATUS" V10 Plain(12), 8 + 48, Extra::None;
    Of11PortStatus "OFPT_PORT_STATUS" V11_13 Plain(12), 8 + 64, Extra::None;
    Of14PortStatus "OFPT_PORT_STATUS" V14_UP Plain(12), 8 + 40, Multiple(8);

    Of10PacketOut "OFPT_PACKET_OUT" V10 Plain(13), 8, Any;
    Of11PacketOut "OFPT_PACKET_OUT" V11_14 Plain(13), 16, Any;
    Of15PacketOut "OFPT_PACKET_OUT" V15_UP Plain(13), 8, Any;

    Of10FlowMod "OFPT_FLOW_MOD" V10 Plain(14), 64, Multiple(8);
    Of11FlowMod "OFPT_FLOW_MOD" V11_UP Plain(14), 40, Multiple(8);
    NxtFlowMod "NXT_FLOW_MOD" V10_UP Vendor(NX, 13), 32, Multiple(8);

    NxtGroupMod "NXT_GROUP_MOD" V10 Vendor(NX, 31), 16, Multiple(8);
    Of11GroupMod "OFPT_GROUP_MOD" V11_14 Plain(15), 8, Multiple(8);
    Of15GroupMod "OFPT_GROUP_MOD" V15_UP Plain(15), 16, Multiple(8);

    Of10PortMod "OFPT_PORT_MOD" V10 Plain(15), 24, Extra::None;
    Of11PortMod "OFPT_PORT_MOD" V11_13 Plain(16), 32, Extra::None;
    Of14PortMod "OFPT_PORT_MOD" V14_UP Plain(16), 24, Multiple(8);

    Of11TableMod "OFPT_TABLE_MOD" V11_13 Plain(17), 8, Extra::None;
    Of14TableMod "OFPT_TABLE_MOD" V14_UP Plain(17), 8, Multiple(8);

    Of10BarrierRequest "OFPT_BARRIER_REQUEST" V10 Plain(18), 0, Extra::None;
    Of11BarrierRequest "OFPT_BARRIER_REQUEST" V11_UP Plain(20), 0, Extra::None;
    Of10BarrierReply "OFPT_BARRIER_REPLY" V10 Plain(19), 0, Extra::None;
    Of11BarrierReply "OFPT_BARRIER_REPLY" V11_UP Plain(21), 0, Extra::None;

    Of10QueueGetConfigRequest "OFPT_QUEUE_GET_CONFIG_REQUEST" V10 Plain(20), 4, Extra::None;
    Of11QueueGetConfigRequest "OFPT_QUEUE_GET_CONFIG_REQUEST" V11_13 Plain(22), 8, Extra::None;
    Of10QueueGetConfigReply "OFPT_QUEUE_GET_CONFIG_REPLY" V10 Plain(21), 8, Multiple(8);
    Of11QueueGetConfigReply "OFPT_QUEUE_GET_CONFIG_REPLY" V11_13 Plain(23), 8, Multiple(8);

    Of12RoleRequest "OFPT_ROLE_REQUEST" V12_UP Plain(24), 16, Extra::None;
    NxtRoleRequest "NXT_ROLE_REQUEST" V10_UP Vendor(NX, 10), 4, Extra::None;
    Of12RoleReply "OFPT_ROLE_REPLY" V12_UP Plain(25), 16, Extra::None;
    NxtRoleReply "NXT_ROLE_REPLY" V10_UP Vendor(NX, 11), 4, Extra::None;

    Of13GetAsyncRequest "OFPT_GET_ASYNC_REQUEST" V13 Plain(26), 0, Extra::None;
    Of14GetAsyncRequest "OFPT_GET_ASYNC_REQUEST" V14_UP Plain(26), 0, Extra::None;
    Of13GetAsyncReply "OFPT_GET_ASYNC_REPLY" V13 Plain(27), 24, Extra::None;
    Of14GetAsyncReply "OFPT_GET_ASYNC_REPLY" V14_UP Plain(27), 0, Multiple(8);
    Of13SetAsync "OFPT_SET_ASYNC" V13 Plain(28), 24, Extra::None;
    NxtSetAsyncConfig "NXT_SET_ASYNC_CONFIG" V10_UP Vendor(NX, 19), 24, Extra::None;
    NxtSetAsyncConfig2 "NXT_SET_ASYNC_CONFIG2" V10_13 Vendor(NX, 27), 0, Multiple(8);
    Of14SetAsync "OFPT_SET_ASYNC" V14_UP Plain(28), 0, Multiple(8);

    Of13MeterMod "OFPT_METER_MOD" V13_UP Plain(29), 8, Multiple(8);

    Onft13RoleStatus "ONFT_ROLE_STATUS" V13 Vendor(ONF, 1911), 16, Multiple(8);
    Of14RoleStatus "OFPT_ROLE_STATUS" V14_UP Plain(30), 16, Multiple(8);
    Of14TableStatus "OFPT_TABLE_STATUS" V14_UP Plain(31), 8, Multiple(8);

    NxtRequestForward "NXT_REQUESTFORWARD" V10_12 Vendor(NX, 132), 8, Multiple(8);
    Onft13RequestForward "ONFT_REQUESTFORWARD" V13 Vendor(ONF, 2350), 8, Multiple(8);
    Of14RequestForward "OFPT_REQUESTFORWARD" V14_UP Plain(32), 8, Multiple(8);

    Of14BundleControl "OFPT_BUNDLE_CONTROL" V14_UP Plain(33), 8, Multiple(8);
    Onft13BundleControl "ONFT_BUNDLE_CONTROL" V13 Vendor(ONF, 2300), 8, Multiple(8);
    Of14BundleAddMessage "OFPT_BUNDLE_ADD_MESSAGE" V14_UP Plain(34), 8, Any;
    Onft13BundleAddMessage "ONFT_BUNDLE_ADD_MESSAGE" V13 Vendor(ONF, 2301), 8, Any;

    // Multipart (stats) messages.
    DescRequest "OFPST_DESC request" V10_UP Stat(Request, 0), 0, Extra::None;
    DescReply "OFPST_DESC reply" V10_UP Stat(Reply, 0), 1056, Extra::None;

    Of10FlowStatsRequest "OFPST_FLOW request" V10 Stat(Request, 1), 44, Extra::None;
    Of11FlowStatsRequest "OFPST_FLOW request" V11_UP Stat(Request, 1), 32, Multiple(8);
    NxstFlowRequest "NXST_FLOW request" V10 VendorStat(Request, NX, 0), 8, Multiple(8);
    Of10FlowStatsReply "OFPST_FLOW reply" V10 Stat(Reply, 1), 0, Any;
    Of13FlowStatsReply "OFPST_FLOW reply" V13_14 Stat(Reply, 1), 0, Any;
    Of15FlowStatsReply "OFPST_FLOW reply" V15_UP Stat(Reply, 1), 0, Any;
    NxstFlowReply "NXST_FLOW reply" V10 VendorStat(Reply, NX, 0), 0, Any;

    Of10AggregateRequest "OFPST_AGGREGATE request" V10 Stat(Request, 2), 44, Extra::None;
    Of11AggregateRequest "OFPST_AGGREGATE request" V11_14 Stat(Request, 2), 32, Multiple(8);
    Of15AggregateRequest "OFPST_AGGREGATE request" V15_UP Stat(Request, 2), 32, Multiple(8);
    NxstAggregateRequest "NXST_AGGREGATE request" V10 VendorStat(Request, NX, 1), 8, Multiple(8);
    AggregateReply "OFPST_AGGREGATE reply" V10_14 Stat(Reply, 2), 24, Extra::None;
    Of15AggregateReply "OFPST_AGGREGATE reply" V15_UP Stat(Reply, 2), 0, Any;
    NxstAggregateReply "NXST_AGGREGATE reply" V10 VendorStat(Reply, NX, 1), 24, Extra::None;

    TableStatsRequest "OFPST_TABLE request" V10_UP Stat(Request, 3), 0, Extra::None;
    Of10TableStatsReply "OFPST_TABLE reply" V10 Stat(Reply, 3), 0, Multiple(64);
    Of13TableStatsReply "OFPST_TABLE reply" V13_UP Stat(Reply, 3), 0, Multiple(24);

    Of10PortStatsRequest "OFPST_PORT request" V10 Stat(Request, 4), 8, Extra::None;
    Of11PortStatsRequest "OFPST_PORT request" V11_UP Stat(Request, 4), 8, Extra::None;
    Of10PortStatsReply "OFPST_PORT reply" V10 Stat(Reply, 4), 0, Multiple(104);
    Of13PortStatsReply "OFPST_PORT reply" V13 Stat(Reply, 4), 0, Multiple(112);
    Of14PortStatsReply "OFPST_PORT reply" V14_UP Stat(Reply, 4), 0, Multiple(8);

    Of10QueueStatsRequest "OFPST_QUEUE request" V10 Stat(Request, 5), 8, Extra::None;
    Of11QueueStatsRequest "OFPST_QUEUE request" V11_UP Stat(Request, 5), 8, Extra::None;
    Of10QueueStatsReply "OFPST_QUEUE reply" V10 Stat(Reply, 5), 0, Multiple(32);
    Of13QueueStatsReply "OFPST_QUEUE reply" V13 Stat(Reply, 5), 0, Multiple(40);
    Of14QueueStatsReply "OFPST_QUEUE reply" V14_UP Stat(Reply, 5), 0, Multiple(8);

    NxstGroupRequest "NXST_GROUP request" V10 VendorStat(Request, NX, 7), 8, Extra::None;
    Of11GroupRequest "OFPST_GROUP request" V11_UP Stat(Request, 6), 8, Extra::None;
    NxstGroupReply "NXST_GROUP reply" V10 VendorStat(Reply, NX, 7), 0, Multiple(8);
    Of13GroupReply "OFPST_GROUP reply" V13_UP Stat(Reply, 6), 0, Multiple(8);

    NxstGroupDescRequest "NXST_GROUP_DESC request" V10 VendorStat(Request, NX, 8), 8, Extra::None;
    Of11GroupDescRequest "OFPST_GROUP_DESC request" V11_14 Stat(Request, 7), 0, Extra::None;
    Of15GroupDescRequest "OFPST_GROUP_DESC request" V15_UP Stat(Request, 7), 8, Extra::None;
    NxstGroupDescReply "NXST_GROUP_DESC reply" V10 VendorStat(Reply, NX, 8), 0, Multiple(8);
    Of11GroupDescReply "OFPST_GROUP_DESC reply" V11_UP Stat(Reply, 7), 0, Multiple(8);

    NxstGroupFeaturesRequest "NXST_GROUP_FEATURES request" V10_11 VendorStat(Request, NX, 9), 0, Extra::None;
    Of12GroupFeaturesRequest "OFPST_GROUP_FEATURES request" V12_UP Stat(Request, 8), 0, Extra::None;
    NxstGroupFeaturesReply "NXST_GROUP_FEATURES reply" V10_11 VendorStat(Reply, NX, 9), 40, Extra::None;
    Of12GroupFeaturesReply "OFPST_GROUP_FEATURES reply" V12_UP Stat(Reply, 8), 40, Extra::None;

    MeterStatsRequest "OFPST_METER request" V13_UP Stat(Request, 9), 8, Extra::None;
    MeterStatsReply "OFPST_METER reply" V13_UP Stat(Reply, 9), 0, Multiple(8);
    MeterConfigRequest "OFPST_METER_CONFIG request" V13_UP Stat(Request, 10), 8, Extra::None;
    MeterConfigReply "OFPST_METER_CONFIG reply" V13_UP Stat(Reply, 10), 0, Multiple(8);
    MeterFeaturesRequest "OFPST_METER_FEATURES request" V13_UP Stat(Request, 11), 0, Extra::None;
    MeterFeaturesReply "OFPST_METER_FEATURES reply" V13_UP Stat(Reply, 11), 16, Extra::None;

    TableFeaturesRequest "OFPST_TABLE_FEATURES request" V13_UP Stat(Request, 12), 0, Multiple(8);
    TableFeaturesReply "OFPST_TABLE_FEATURES reply" V13_UP Stat(Reply, 12), 64, Multiple(8);
    TableDescRequest "OFPST_TABLE_DESC request" V14_UP Stat(Request, 14), 0, Extra::None;
    TableDescReply "OFPST_TABLE_DESC reply" V14_UP Stat(Reply, 14), 8, Multiple(8);

    Of10PortDescRequest "OFPST_PORT_DESC request" V10_14 Stat(Request, 13), 0, Extra::None;
    Of15PortDescRequest "OFPST_PORT_DESC request" V15_UP Stat(Request, 13), 8, Extra::None;
    Of10PortDescReply "OFPST_PORT_DESC reply" V10 Stat(Reply, 13), 0, Multiple(48);
    Of11PortDescReply "OFPST_PORT_DESC reply" V11_13 Stat(Reply, 13), 0, Multiple(64);
    Of14PortDescReply "OFPST_PORT_DESC reply" V14_UP Stat(Reply, 13), 0, Multiple(8);

    QueueDescRequest "OFPST_QUEUE_DESC request" V14_UP Stat(Request, 15), 8, Extra::None;
    QueueDescReply "OFPST_QUEUE_DESC reply" V14_UP Stat(Reply, 15), 0, Multiple(8);

    Of14FlowMonitorRequest "OFPST_FLOW_MONITOR request" V14_UP Stat(Request, 16), 0, Multiple(8);
    Onfst13FlowMonitorRequest "ONFST_FLOW_MONITOR request" V13 VendorStat(Request, ONF, 1870), 0, Multiple(8);
    NxstFlowMonitorRequest "NXST_FLOW_MONITOR request" V10_12 VendorStat(Request, NX, 2), 0, Multiple(8);
    Of14FlowMonitorReply "OFPST_FLOW_MONITOR reply" V14_UP Stat(Reply, 16), 0, Multiple(8);
    Onfst13FlowMonitorReply "ONFST_FLOW_MONITOR reply" V13 VendorStat(Reply, ONF, 1870), 0, Multiple(8);
    NxstFlowMonitorReply "NXST_FLOW_MONITOR reply" V10_12 VendorStat(Reply, NX, 2), 0, Multiple(8);

    Onft13FlowMonitorCancel "ONFT_FLOW_MONITOR_CANCEL" V13 Vendor(ONF, 1870), 4, Extra::None;
    NxtFlowMonitorCancel "NXT_FLOW_MONITOR_CANCEL" V10_12 Vendor(NX, 21), 4, Extra::None;
    Onft13FlowMonitorPaused "ONFT_FLOW_MONITOR_PAUSED" V13 Vendor(ONF, 1871), 0, Extra::None;
    NxtFlowMonitorPaused "NXT_FLOW_MONITOR_PAUSED" V10_12 Vendor(NX, 22), 0, Extra::None;
    Onft13FlowMonitorResumed "ONFT_FLOW_MONITOR_RESUMED" V13 Vendor(ONF, 1872), 0, Extra::None;
    NxtFlowMonitorResumed "NXT_FLOW_MONITOR_RESUMED" V10_12 Vendor(NX, 23), 0, Extra::None;

    // Nicira extensions with no standard counterpart.
    NxtSetFlowFormat "NXT_SET_FLOW_FORMAT" V10 Vendor(NX, 12), 4, Extra::None;
    NxtFlowModTableId "NXT_FLOW_MOD_TABLE_ID" V10_UP Vendor(NX, 15), 8, Extra::None;
    NxtSetPacketInFormat "NXT_SET_PACKET_IN_FORMAT" V10_UP Vendor(NX, 16), 4, Extra::None;
    NxtFlowAge "NXT_FLOW_AGE" V10_UP Vendor(NX, 18), 0, Extra::None;
    NxtSetControllerId "NXT_SET_CONTROLLER_ID" V10_UP Vendor(NX, 20), 8, Extra::None;
    NxtTlvTableMod "NXT_TLV_TABLE_MOD" V10_UP Vendor(NX, 24), 8, Multiple(8);
    NxtTlvTableRequest "NXT_TLV_TABLE_REQUEST" V10_UP Vendor(NX, 25), 0, Extra::None;
    NxtTlvTableReply "NXT_TLV_TABLE_REPLY" V10_UP Vendor(NX, 26), 16, Multiple(8);
    NxtResume "NXT_RESUME" V10_UP Vendor(NX, 28), 0, Multiple(8);
    NxtCtFlushZone "NXT_CT_FLUSH_ZONE" V10_UP Vendor(NX, 29), 8, Extra::None;
    NxtCtFlush "NXT_CT_FLUSH" V10_UP Vendor(NX, 32), 8, Multiple(8);
    NxstIpfixBridgeRequest "NXST_IPFIX_BRIDGE request" V10_UP VendorStat(Request, NX, 3), 0, Extra::None;
    NxstIpfixBridgeReply "NXST_IPFIX_BRIDGE reply" V10_UP VendorStat(Reply, NX, 3), 88, Extra::None;
    NxstIpfixFlowRequest "NXST_IPFIX_FLOW request" V10_UP VendorStat(Request, NX, 4), 0, Extra::None;
    NxstIpfixFlowReply "NXST_IPFIX_FLOW reply" V10_UP VendorStat(Reply, NX, 4), 0, Multiple(88);
}

impl RawMsg {
    /// The table row for this variant.
    pub fn info(self) -> &'static RawInfo {
        // Every variant has a row: the macro builds both from one list.
        let found = RAW_TABLE.iter().find(|i| i.raw == self);
        found.unwrap_or(&RAW_TABLE[0])
    }

    /// The experimenter id and subtype of a vendor message variant.
    pub fn vendor(self) -> Option<(u32, u32)> {
        match self.info().form {
            Form::Vendor(vendor, subtype) => Some((vendor, subtype)),
            _ => None,
        }
    }
}

/// The variant that `form` names in `version`, if any.
pub fn lookup(version: Version, form: Form) -> Option<&'static RawInfo> {
    RAW_TABLE
        .iter()
        .find(|i| i.form == form && i.exists_in(version))
}

/// Whether the table knows a vendor id at all.
pub fn known_vendor(vendor: u32) -> bool {
    vendor == NX || vendor == ONF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_raw_has_one_row() {
        for (i, r) in RAW_TABLE.iter().enumerate() {
            assert!(RAW_TABLE[..i].iter().all(|o| o.raw != r.raw), "{:?}", r.raw);
            assert_eq!(r.raw.info().raw, r.raw);
        }
    }

    #[test]
    fn no_two_rows_claim_one_header() {
        for v in Version::ALL {
            for (i, r) in RAW_TABLE.iter().enumerate() {
                if !r.exists_in(v) {
                    continue;
                }
                let clash = RAW_TABLE[..i]
                    .iter()
                    .find(|o| o.exists_in(v) && o.form == r.form);
                assert!(
                    clash.is_none(),
                    "{:?} and {:?} in {v:?}",
                    clash.map(|c| c.raw),
                    r.raw
                );
            }
        }
    }

    #[test]
    fn header_lengths() {
        assert_eq!(Stat(Request, 0).header_len(Version::Of10), 12);
        assert_eq!(Stat(Request, 0).header_len(Version::Of13), 16);
        assert_eq!(VendorStat(Reply, NX, 9).header_len(Version::Of10), 24);
        assert_eq!(Vendor(NX, 10).header_len(Version::Of15), 16);
    }
}
