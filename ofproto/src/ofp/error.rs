//! OpenFlow errors: [`OfpError`] names every error OpenFlow 1.0-1.5 and the
//! Open vSwitch extensions define, and knows its wire encoding per version.
//!
//! One table (built by `ofp_errors!` below) is the single source of truth,
//! as `enum ofperr` is in Open vSwitch's `ofp-errors.h`: each error lists how
//! OpenFlow 1.0, 1.3, 1.4 and 1.5 spell it. Three spellings exist:
//!
//! - a standard `(type, code)` pair;
//! - in OpenFlow 1.0, Open vSwitch's Nicira vendor error: type `NXET_VENDOR`
//!   (0xb0c2), code `NXVC_VENDOR_ERROR` (0), then `{vendor, type, code}` at
//!   the start of the data;
//! - in OpenFlow 1.2+, an experimenter error: type 0xffff, code `exp_type`,
//!   then the experimenter id at the start of the data.
//!
//! An error a version cannot spell goes out as `NXBRC_UNENCODABLE_ERROR`,
//! as Open vSwitch does.

use std::fmt;

use super::codec::{CodecError, Reader, Writer};
use super::Version;

/// Nicira's vendor (experimenter) id.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;
/// The Open Networking Foundation's experimenter id.
pub const ONF_VENDOR_ID: u32 = 0x4f4e_4600;
/// The error type Open vSwitch uses for vendor errors in OpenFlow 1.0.
pub const NXET_VENDOR: u16 = 0xb0c2;
/// The only code defined under [`NXET_VENDOR`].
pub const NXVC_VENDOR_ERROR: u16 = 0;
/// OFPET_EXPERIMENTER (OpenFlow 1.2+).
pub const OFPET_EXPERIMENTER: u16 = 0xffff;

/// How many bytes of the offending message an error reply carries.
pub const REPLY_DATA_LEN: usize = 64;

/// One error as a given version spells it on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// A standard `(type, code)` pair.
    Standard { ty: u16, code: u16 },
    /// OpenFlow 1.0's Nicira vendor error: sent as `(NXET_VENDOR,
    /// NXVC_VENDOR_ERROR)` followed by `vendor`, `ty` and `code`.
    Vendor { vendor: u32, ty: u16, code: u16 },
    /// An experimenter error: sent as `(0xffff, exp_type)` followed by the
    /// experimenter id.
    Experimenter { experimenter: u32, exp_type: u16 },
}

impl WireError {
    /// The `(type, code)` pair in the `ofp_error_msg` header.
    pub fn type_code(self) -> (u16, u16) {
        match self {
            WireError::Standard { ty, code } => (ty, code),
            WireError::Vendor { .. } => (NXET_VENDOR, NXVC_VENDOR_ERROR),
            WireError::Experimenter { exp_type, .. } => (OFPET_EXPERIMENTER, exp_type),
        }
    }

    /// Writes `type`, `code` and any vendor or experimenter words.
    pub fn emit(self, w: &mut Writer) {
        let (ty, code) = self.type_code();
        w.u16(ty).u16(code);
        match self {
            WireError::Standard { .. } => {}
            WireError::Vendor { vendor, ty, code } => {
                w.u32(vendor).u16(ty).u16(code);
            }
            WireError::Experimenter { experimenter, .. } => {
                w.u32(experimenter);
            }
        }
    }

    /// Reads `type`, `code` and, for the vendor and experimenter forms, the
    /// words that follow. A vendor or experimenter header too short for
    /// those words is taken as a plain (unknown) standard pair, leaving the
    /// bytes as data, so that a malformed error is still reported.
    pub fn parse(r: &mut Reader<'_>) -> Result<WireError, CodecError> {
        let ty = r.u16()?;
        let code = r.u16()?;
        if ty == NXET_VENDOR && code == NXVC_VENDOR_ERROR && r.remaining() >= 8 {
            return Ok(WireError::Vendor {
                vendor: r.u32()?,
                ty: r.u16()?,
                code: r.u16()?,
            });
        }
        if ty == OFPET_EXPERIMENTER && r.remaining() >= 4 {
            return Ok(WireError::Experimenter {
                experimenter: r.u32()?,
                exp_type: code,
            });
        }
        Ok(WireError::Standard { ty, code })
    }
}

const fn of(ty: u16, code: u16) -> Option<WireError> {
    Some(WireError::Standard { ty, code })
}

const fn nx10(ty: u16, code: u16) -> Option<WireError> {
    Some(WireError::Vendor {
        vendor: NX_VENDOR_ID,
        ty,
        code,
    })
}

const fn nx(exp_type: u16) -> Option<WireError> {
    Some(WireError::Experimenter {
        experimenter: NX_VENDOR_ID,
        exp_type,
    })
}

const fn onf(exp_type: u16) -> Option<WireError> {
    Some(WireError::Experimenter {
        experimenter: ONF_VENDOR_ID,
        exp_type,
    })
}

/// Not defined in that version.
const NA: Option<WireError> = None;

/// One row of the error table.
struct Row {
    err: OfpError,
    /// The Open vSwitch name (`ovs-ofctl print-error` takes it).
    name: &'static str,
    /// The spelling in OpenFlow 1.0, 1.3, 1.4 and 1.5.
    wire: [Option<WireError>; 4],
}

fn slot(v: Version) -> usize {
    match v {
        Version::Of10 => 0,
        Version::Of13 => 1,
        Version::Of14 => 2,
        Version::Of15 => 3,
    }
}

/// Builds one enum per error type, [`OfpError`] over them, and the table.
macro_rules! ofp_errors {
    ($($(#[$gm:meta])* $group:ident {
        $($var:ident = $name:literal [$v10:expr, $v13:expr, $v14:expr, $v15:expr],)*
    })*) => {
        $(
            $(#[$gm])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            #[non_exhaustive]
            pub enum $group {
                $($var,)*
            }

            impl From<$group> for OfpError {
                fn from(e: $group) -> OfpError {
                    OfpError::$group(e)
                }
            }
        )*

        /// A semantic OpenFlow error, whatever the version; grouped by
        /// OpenFlow error type.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum OfpError {
            $($group($group),)*
        }

        /// Every error, in Open vSwitch's order: when one version spells two
        /// errors the same way, decoding picks the earlier one.
        const TABLE: &[Row] = &[
            $($(Row {
                err: OfpError::$group($group::$var),
                name: $name,
                wire: [$v10, $v13, $v14, $v15],
            },)*)*
        ];
    };
}

ofp_errors! {
        /// OFPET_HELLO_FAILED: the handshake failed.
        HelloFailed {
            Incompatible = "OFPHFC_INCOMPATIBLE" [of(0, 0), of(0, 0), of(0, 0), of(0, 0)],
            EPerm = "OFPHFC_EPERM" [of(0, 1), of(0, 1), of(0, 1), of(0, 1)],
        }
        /// OFPET_BAD_REQUEST: the message itself is malformed or unsupported (plus the Nicira NXBRC_* codes).
        BadRequest {
            BadVersion = "OFPBRC_BAD_VERSION" [of(1, 0), of(1, 0), of(1, 0), of(1, 0)],
            BadType = "OFPBRC_BAD_TYPE" [of(1, 1), of(1, 1), of(1, 1), of(1, 1)],
            BadMultipart = "OFPBRC_BAD_STAT" [of(1, 2), of(1, 2), of(1, 2), of(1, 2)],
            BadExperimenter = "OFPBRC_BAD_VENDOR" [of(1, 3), of(1, 3), of(1, 3), of(1, 3)],
            BadExpType = "OFPBRC_BAD_SUBTYPE" [of(1, 4), of(1, 4), of(1, 4), of(1, 4)],
            EPerm = "OFPBRC_EPERM" [of(1, 5), of(1, 5), of(1, 5), of(1, 5)],
            BadLen = "OFPBRC_BAD_LEN" [of(1, 6), of(1, 6), of(1, 6), of(1, 6)],
            BufferEmpty = "OFPBRC_BUFFER_EMPTY" [of(1, 7), of(1, 7), of(1, 7), of(1, 7)],
            BufferUnknown = "OFPBRC_BUFFER_UNKNOWN" [of(1, 8), of(1, 8), of(1, 8), of(1, 8)],
            BadTableId = "OFPBRC_BAD_TABLE_ID" [nx10(1, 512), of(1, 9), of(1, 9), of(1, 9)],
            IsSlave = "OFPBRC_IS_SECONDARY" [of(1, 5), of(1, 10), of(1, 10), of(1, 10)],
            BadPort = "OFPBRC_BAD_PORT" [nx10(1, 514), of(1, 11), of(1, 11), of(1, 11)],
            BadPacket = "OFPBRC_BAD_PACKET" [NA, of(1, 12), of(1, 12), of(1, 12)],
            MultipartBufferOverflow = "OFPBRC_MULTIPART_BUFFER_OVERFLOW" [NA, of(1, 13), of(1, 13), of(1, 13)],
            MultipartRequestTimeout = "OFPBRC_MULTIPART_REQUEST_TIMEOUT" [NA, onf(2640), of(1, 14), of(1, 14)],
            MultipartReplyTimeout = "OFPBRC_MULTIPART_REPLY_TIMEOUT" [NA, onf(2641), of(1, 15), of(1, 15)],
            MultipartBadSched = "OFPBRC_MULTIPART_BAD_SCHED" [NA, NA, NA, of(1, 16)],
            PipelineFieldsOnly = "OFPBRC_PIPELINE_FIELDS_ONLY" [NA, NA, NA, of(1, 17)],
            Unknown = "OFPBRC_UNKNOWN" [NA, NA, NA, of(1, 18)],
            NxmInvalid = "NXBRC_NXM_INVALID" [nx10(1, 256), nx(2), nx(2), nx(2)],
            NxmBadType = "NXBRC_NXM_BAD_TYPE" [nx10(1, 257), nx(3), nx(3), nx(3)],
            MustBeZero = "NXBRC_MUST_BE_ZERO" [nx10(1, 515), nx(4), nx(4), nx(4)],
            BadReason = "NXBRC_BAD_REASON" [nx10(1, 516), nx(5), nx(5), nx(5)],
            FmBadEvent = "NXBRC_FM_BAD_EVENT" [nx10(1, 520), nx(9), nx(9), nx(9)],
            UnencodableError = "NXBRC_UNENCODABLE_ERROR" [nx10(1, 521), nx(10), nx(10), nx(10)],
        }
        /// OFPET_BAD_ACTION: an action list is wrong (plus the Nicira NXBAC_* codes).
        BadAction {
            BadType = "OFPBAC_BAD_TYPE" [of(2, 0), of(2, 0), of(2, 0), of(2, 0)],
            BadLen = "OFPBAC_BAD_LEN" [of(2, 1), of(2, 1), of(2, 1), of(2, 1)],
            BadExperimenter = "OFPBAC_BAD_VENDOR" [of(2, 2), of(2, 2), of(2, 2), of(2, 2)],
            BadExpType = "OFPBAC_BAD_VENDOR_TYPE" [of(2, 3), of(2, 3), of(2, 3), of(2, 3)],
            BadOutPort = "OFPBAC_BAD_OUT_PORT" [of(2, 4), of(2, 4), of(2, 4), of(2, 4)],
            BadArgument = "OFPBAC_BAD_ARGUMENT" [of(2, 5), of(2, 5), of(2, 5), of(2, 5)],
            EPerm = "OFPBAC_EPERM" [of(2, 6), of(2, 6), of(2, 6), of(2, 6)],
            TooMany = "OFPBAC_TOO_MANY" [of(2, 7), of(2, 7), of(2, 7), of(2, 7)],
            BadQueue = "OFPBAC_BAD_QUEUE" [of(2, 8), of(2, 8), of(2, 8), of(2, 8)],
            BadOutGroup = "OFPBAC_BAD_OUT_GROUP" [nx10(2, 9), of(2, 9), of(2, 9), of(2, 9)],
            MatchInconsistent = "OFPBAC_MATCH_INCONSISTENT" [nx10(1, 522), of(2, 10), of(2, 10), of(2, 10)],
            UnsupportedOrder = "OFPBAC_UNSUPPORTED_ORDER" [NA, of(2, 11), of(2, 11), of(2, 11)],
            BadTag = "OFPBAC_BAD_TAG" [NA, of(2, 12), of(2, 12), of(2, 12)],
            BadSetType = "OFPBAC_BAD_SET_TYPE" [nx10(1, 523), of(2, 13), of(2, 13), of(2, 13)],
            BadSetLen = "OFPBAC_BAD_SET_LEN" [nx10(1, 524), of(2, 14), of(2, 14), of(2, 14)],
            BadSetArgument = "OFPBAC_BAD_SET_ARGUMENT" [nx10(1, 525), of(2, 15), of(2, 15), of(2, 15)],
            BadSetMask = "OFPBAC_BAD_SET_MASK" [NA, onf(4250), onf(4250), of(2, 16)],
            BadMeter = "OFPBAC_BAD_METER" [NA, NA, NA, of(2, 17)],
            MustBeZero = "NXBAC_MUST_BE_ZERO" [nx10(2, 256), nx(11), nx(11), nx(11)],
            BadConjunction = "NXBAC_BAD_CONJUNCTION" [nx10(2, 526), nx(15), nx(15), nx(15)],
            BadHeaderType = "NXBAC_BAD_HEADER_TYPE" [NA, nx(39), nx(39), nx(39)],
            UnknownEdProp = "NXBAC_UNKNOWN_ED_PROP" [NA, nx(40), nx(40), nx(40)],
            BadEdProp = "NXBAC_BAD_ED_PROP" [NA, nx(41), nx(41), nx(41)],
            CtDatapathSupport = "NXBAC_CT_DATAPATH_SUPPORT" [nx10(1, 265), nx(42), nx(42), nx(42)],
        }
        /// OFPET_BAD_INSTRUCTION: an instruction list is wrong (OpenFlow 1.1+).
        BadInstruction {
            UnknownInst = "OFPBIC_UNKNOWN_INST" [NA, of(3, 0), of(3, 0), of(3, 0)],
            UnsupInst = "OFPBIC_UNSUP_INST" [nx10(2, 257), of(3, 1), of(3, 1), of(3, 1)],
            BadTableId = "OFPBIC_BAD_TABLE_ID" [NA, of(3, 2), of(3, 2), of(3, 2)],
            UnsupMetadata = "OFPBIC_UNSUP_METADATA" [NA, of(3, 3), of(3, 3), of(3, 3)],
            UnsupMetadataMask = "OFPBIC_UNSUP_METADATA_MASK" [NA, of(3, 4), of(3, 4), of(3, 4)],
            BadExperimenter = "OFPBIC_BAD_EXPERIMENTER" [NA, of(3, 5), of(3, 5), of(3, 5)],
            BadExpType = "OFPBIC_BAD_EXP_TYPE" [NA, of(3, 6), of(3, 6), of(3, 6)],
            BadLen = "OFPBIC_BAD_LEN" [NA, of(3, 7), of(3, 7), of(3, 7)],
            EPerm = "OFPBIC_EPERM" [NA, of(3, 8), of(3, 8), of(3, 8)],
            DupInst = "OFPBIC_DUP_INST" [NA, onf(2600), of(3, 9), of(3, 9)],
        }
        /// OFPET_BAD_MATCH: a match is wrong (plus NXBMC_CT_DATAPATH_SUPPORT).
        BadMatch {
            BadType = "OFPBMC_BAD_TYPE" [NA, of(4, 0), of(4, 0), of(4, 0)],
            BadLen = "OFPBMC_BAD_LEN" [NA, of(4, 1), of(4, 1), of(4, 1)],
            BadTag = "OFPBMC_BAD_TAG" [NA, of(4, 2), of(4, 2), of(4, 2)],
            BadDlAddrMask = "OFPBMC_BAD_DL_ADDR_MASK" [NA, of(4, 3), of(4, 3), of(4, 3)],
            BadNwAddrMask = "OFPBMC_BAD_NW_ADDR_MASK" [NA, of(4, 4), of(4, 4), of(4, 4)],
            BadWildcards = "OFPBMC_BAD_WILDCARDS" [nx10(1, 262), of(4, 5), of(4, 5), of(4, 5)],
            BadField = "OFPBMC_BAD_FIELD" [nx10(0, 263), of(4, 6), of(4, 6), of(4, 6)],
            BadValue = "OFPBMC_BAD_VALUE" [nx10(1, 258), of(4, 7), of(4, 7), of(4, 7)],
            BadMask = "OFPBMC_BAD_MASK" [nx10(1, 259), of(4, 8), of(4, 8), of(4, 8)],
            BadPrereq = "OFPBMC_BAD_PREREQ" [nx10(1, 260), of(4, 9), of(4, 9), of(4, 9)],
            DupField = "OFPBMC_DUP_FIELD" [nx10(1, 261), of(4, 10), of(4, 10), of(4, 10)],
            EPerm = "OFPBMC_EPERM" [NA, of(4, 11), of(4, 11), of(4, 11)],
            CtDatapathSupport = "NXBMC_CT_DATAPATH_SUPPORT" [nx10(1, 264), nx(43), nx(43), nx(43)],
        }
        /// OFPET_FLOW_MOD_FAILED (type 3 in OpenFlow 1.0, 5 later).
        FlowModFailed {
            Unknown = "OFPFMFC_UNKNOWN" [NA, of(5, 0), of(5, 0), of(5, 0)],
            TableFull = "OFPFMFC_TABLE_FULL" [of(3, 0), of(5, 1), of(5, 1), of(5, 1)],
            BadTableId = "OFPFMFC_BAD_TABLE_ID" [NA, of(5, 2), of(5, 2), of(5, 2)],
            Overlap = "OFPFMFC_OVERLAP" [of(3, 1), of(5, 3), of(5, 3), of(5, 3)],
            EPerm = "OFPFMFC_EPERM" [of(3, 2), of(5, 4), of(5, 4), of(5, 4)],
            BadTimeout = "OFPFMFC_BAD_TIMEOUT" [NA, of(5, 5), of(5, 5), of(5, 5)],
            BadEmergTimeout = "OFPFMFC_BAD_EMERG_TIMEOUT" [of(3, 3), NA, NA, NA],
            BadCommand = "OFPFMFC_BAD_COMMAND" [of(3, 4), of(5, 6), of(5, 6), of(5, 6)],
            BadFlags = "OFPFMFC_BAD_FLAGS" [nx10(3, 258), of(5, 7), of(5, 7), of(5, 7)],
            CantSync = "OFPFMFC_CANT_SYNC" [NA, NA, of(5, 8), of(5, 8)],
            BadPriority = "OFPFMFC_BAD_PRIORITY" [NA, onf(2360), of(5, 9), of(5, 9)],
            IsSync = "OFPFMFC_IS_SYNC" [NA, NA, of(5, 10), of(5, 10)],
            Unsupported = "OFPFMFC_UNSUPPORTED" [of(3, 5), NA, NA, NA],
            Hardware = "NXFMFC_HARDWARE" [nx10(5, 256), nx(12), nx(12), nx(12)],
            NxBadTableId = "NXFMFC_BAD_TABLE_ID" [nx10(5, 257), nx(13), nx(13), nx(13)],
            InvalidTlvField = "NXFMFC_INVALID_TLV_FIELD" [nx10(1, 536), nx(37), nx(37), nx(37)],
        }
        /// OFPET_GROUP_MOD_FAILED (a Nicira vendor error in OpenFlow 1.0).
        GroupModFailed {
            GroupExists = "OFPGMFC_GROUP_EXISTS" [nx10(6, 0), of(6, 0), of(6, 0), of(6, 0)],
            InvalidGroup = "OFPGMFC_INVALID_GROUP" [nx10(6, 1), of(6, 1), of(6, 1), of(6, 1)],
            WeightUnsupported = "OFPGMFC_WEIGHT_UNSUPPORTED" [nx10(6, 2), of(6, 2), of(6, 2), of(6, 2)],
            OutOfGroups = "OFPGMFC_OUT_OF_GROUPS" [nx10(6, 3), of(6, 3), of(6, 3), of(6, 3)],
            OutOfBuckets = "OFPGMFC_OUT_OF_BUCKETS" [nx10(6, 4), of(6, 4), of(6, 4), of(6, 4)],
            ChainingUnsupported = "OFPGMFC_CHAINING_UNSUPPORTED" [nx10(6, 5), of(6, 5), of(6, 5), of(6, 5)],
            WatchUnsupported = "OFPGMFC_WATCH_UNSUPPORTED" [nx10(6, 6), of(6, 6), of(6, 6), of(6, 6)],
            Loop = "OFPGMFC_LOOP" [nx10(6, 7), of(6, 7), of(6, 7), of(6, 7)],
            UnknownGroup = "OFPGMFC_UNKNOWN_GROUP" [nx10(6, 8), of(6, 8), of(6, 8), of(6, 8)],
            ChainedGroup = "OFPGMFC_CHAINED_GROUP" [nx10(6, 9), of(6, 9), of(6, 9), of(6, 9)],
            BadType = "OFPGMFC_BAD_TYPE" [nx10(6, 10), of(6, 10), of(6, 10), of(6, 10)],
            BadCommand = "OFPGMFC_BAD_COMMAND" [nx10(6, 11), of(6, 11), of(6, 11), of(6, 11)],
            BadBucket = "OFPGMFC_BAD_BUCKET" [nx10(6, 12), of(6, 12), of(6, 12), of(6, 12)],
            BadWatch = "OFPGMFC_BAD_WATCH" [nx10(6, 13), of(6, 13), of(6, 13), of(6, 13)],
            EPerm = "OFPGMFC_EPERM" [nx10(6, 14), of(6, 14), of(6, 14), of(6, 14)],
            UnknownBucket = "OFPGMFC_UNKNOWN_BUCKET" [nx10(6, 15), NA, NA, of(6, 15)],
            BucketExists = "OFPGMFC_BUCKET_EXISTS" [nx10(6, 16), NA, NA, of(6, 16)],
        }
        /// OFPET_PORT_MOD_FAILED (type 4 in OpenFlow 1.0, 7 later).
        PortModFailed {
            BadPort = "OFPPMFC_BAD_PORT" [of(4, 0), of(7, 0), of(7, 0), of(7, 0)],
            BadHwAddr = "OFPPMFC_BAD_HW_ADDR" [of(4, 1), of(7, 1), of(7, 1), of(7, 1)],
            BadConfig = "OFPPMFC_BAD_CONFIG" [NA, of(7, 2), of(7, 2), of(7, 2)],
            BadAdvertise = "OFPPMFC_BAD_ADVERTISE" [NA, of(7, 3), of(7, 3), of(7, 3)],
            EPerm = "OFPPMFC_EPERM" [NA, of(7, 4), of(7, 4), of(7, 4)],
        }
        /// OFPET_TABLE_MOD_FAILED.
        TableModFailed {
            BadTable = "OFPTMFC_BAD_TABLE" [NA, of(8, 0), of(8, 0), of(8, 0)],
            BadConfig = "OFPTMFC_BAD_CONFIG" [NA, of(8, 1), of(8, 1), of(8, 1)],
            EPerm = "OFPTMFC_EPERM" [NA, of(8, 2), of(8, 2), of(8, 2)],
        }
        /// OFPET_QUEUE_OP_FAILED (type 5 in OpenFlow 1.0, 9 later).
        QueueOpFailed {
            BadPort = "OFPQOFC_BAD_PORT" [of(5, 0), of(9, 0), of(9, 0), of(9, 0)],
            BadQueue = "OFPQOFC_BAD_QUEUE" [of(5, 1), of(9, 1), of(9, 1), of(9, 1)],
            EPerm = "OFPQOFC_EPERM" [of(5, 2), of(9, 2), of(9, 2), of(9, 2)],
            QueueError = "NXQOFC_QUEUE_ERROR" [NA, NA, nx(23), nx(23)],
        }
        /// OFPET_SWITCH_CONFIG_FAILED.
        SwitchConfigFailed {
            BadFlags = "OFPSCFC_BAD_FLAGS" [NA, of(10, 0), of(10, 0), of(10, 0)],
            BadLen = "OFPSCFC_BAD_LEN" [NA, of(10, 1), of(10, 1), of(10, 1)],
            EPerm = "OFPSCFC_EPERM" [NA, of(10, 2), of(10, 2), of(10, 2)],
        }
        /// OFPET_ROLE_REQUEST_FAILED.
        RoleRequestFailed {
            Stale = "OFPRRFC_STALE" [NA, of(11, 0), of(11, 0), of(11, 0)],
            Unsup = "OFPRRFC_UNSUP" [NA, of(11, 1), of(11, 1), of(11, 1)],
            BadRole = "OFPRRFC_BAD_ROLE" [nx10(1, 513), of(11, 2), of(11, 2), of(11, 2)],
            IdUnsup = "OFPRRFC_ID_UNSUP" [NA, NA, NA, of(11, 3)],
            IdInUse = "OFPRRFC_ID_IN_USE" [NA, NA, NA, of(11, 4)],
        }
        /// OFPET_METER_MOD_FAILED.
        MeterModFailed {
            Unknown = "OFPMMFC_UNKNOWN" [NA, of(12, 0), of(12, 0), of(12, 0)],
            MeterExists = "OFPMMFC_METER_EXISTS" [NA, of(12, 1), of(12, 1), of(12, 1)],
            InvalidMeter = "OFPMMFC_INVALID_METER" [NA, of(12, 2), of(12, 2), of(12, 2)],
            UnknownMeter = "OFPMMFC_UNKNOWN_METER" [NA, of(12, 3), of(12, 3), of(12, 3)],
            BadCommand = "OFPMMFC_BAD_COMMAND" [NA, of(12, 4), of(12, 4), of(12, 4)],
            BadFlags = "OFPMMFC_BAD_FLAGS" [NA, of(12, 5), of(12, 5), of(12, 5)],
            BadRate = "OFPMMFC_BAD_RATE" [NA, of(12, 6), of(12, 6), of(12, 6)],
            BadBurst = "OFPMMFC_BAD_BURST" [NA, of(12, 7), of(12, 7), of(12, 7)],
            BadBand = "OFPMMFC_BAD_BAND" [NA, of(12, 8), of(12, 8), of(12, 8)],
            BadBandValue = "OFPMMFC_BAD_BAND_VALUE" [NA, of(12, 9), of(12, 9), of(12, 9)],
            OutOfMeters = "OFPMMFC_OUT_OF_METERS" [NA, of(12, 10), of(12, 10), of(12, 10)],
            OutOfBands = "OFPMMFC_OUT_OF_BANDS" [NA, of(12, 11), of(12, 11), of(12, 11)],
        }
        /// OFPET_TABLE_FEATURES_FAILED.
        TableFeaturesFailed {
            BadTable = "OFPTFFC_BAD_TABLE" [NA, of(13, 0), of(13, 0), of(13, 0)],
            BadMetadata = "OFPTFFC_BAD_METADATA" [NA, of(13, 1), of(13, 1), of(13, 1)],
            EPerm = "OFPTFFC_EPERM" [NA, of(13, 5), of(13, 5), of(13, 5)],
            BadCapa = "OFPTFFC_BAD_CAPA" [NA, NA, NA, of(13, 6)],
            BadMaxEnt = "OFPTFFC_BAD_MAX_ENT" [NA, NA, NA, of(13, 7)],
            BadFeatures = "OFPTFFC_BAD_FEATURES" [NA, NA, NA, of(13, 8)],
            BadCommand = "OFPTFFC_BAD_COMMAND" [NA, NA, NA, of(13, 9)],
            TooMany = "OFPTFFC_TOO_MANY" [NA, NA, NA, of(13, 10)],
            DupTable = "NXTFFC_DUP_TABLE" [NA, nx(44), nx(44), nx(44)],
        }
        /// OFPET_BAD_PROPERTY (OpenFlow 1.4+; OpenFlow 1.3 reuses TABLE_FEATURES_FAILED codes or ONF ids).
        BadProperty {
            BadType = "OFPBPC_BAD_TYPE" [nx10(13, 2), of(13, 2), of(14, 0), of(14, 0)],
            BadLen = "OFPBPC_BAD_LEN" [nx10(13, 3), of(13, 3), of(14, 1), of(14, 1)],
            BadValue = "OFPBPC_BAD_VALUE" [nx10(13, 4), of(13, 4), of(14, 2), of(14, 2)],
            TooMany = "OFPBPC_TOO_MANY" [nx10(14, 3), onf(4443), of(14, 3), of(14, 3)],
            DupType = "OFPBPC_DUP_TYPE" [nx10(14, 4), onf(4444), of(14, 4), of(14, 4)],
            BadExperimenter = "OFPBPC_BAD_EXPERIMENTER" [nx10(14, 5), onf(4445), of(14, 5), of(14, 5)],
            BadExpType = "OFPBPC_BAD_EXP_TYPE" [nx10(14, 6), onf(4446), of(14, 6), of(14, 6)],
            BadExpValue = "OFPBPC_BAD_EXP_VALUE" [nx10(14, 7), onf(4447), of(14, 7), of(14, 7)],
            EPerm = "OFPBPC_EPERM" [nx10(14, 8), onf(4448), of(14, 8), of(14, 8)],
        }
        /// OFPET_ASYNC_CONFIG_FAILED (an ONF experimenter error in OpenFlow 1.3).
        AsyncConfigFailed {
            Invalid = "OFPACFC_INVALID" [NA, onf(2370), of(15, 0), of(15, 0)],
            Unsupported = "OFPACFC_UNSUPPORTED" [NA, onf(2371), of(15, 1), of(15, 1)],
            EPerm = "OFPACFC_EPERM" [NA, onf(2372), of(15, 2), of(15, 2)],
        }
        /// OFPET_BUNDLE_FAILED (ONF experimenter errors in OpenFlow 1.3).
        BundleFailed {
            Unknown = "OFPBFC_UNKNOWN" [NA, onf(2300), of(17, 0), of(17, 0)],
            EPerm = "OFPBFC_EPERM" [NA, onf(2301), of(17, 1), of(17, 1)],
            BadId = "OFPBFC_BAD_ID" [NA, onf(2302), of(17, 2), of(17, 2)],
            BundleExist = "OFPBFC_BUNDLE_EXIST" [NA, onf(2303), of(17, 3), of(17, 3)],
            BundleClosed = "OFPBFC_BUNDLE_CLOSED" [NA, onf(2304), of(17, 4), of(17, 4)],
            OutOfBundles = "OFPBFC_OUT_OF_BUNDLES" [NA, onf(2305), of(17, 5), of(17, 5)],
            BadType = "OFPBFC_BAD_TYPE" [NA, onf(2306), of(17, 6), of(17, 6)],
            BadFlags = "OFPBFC_BAD_FLAGS" [NA, onf(2307), of(17, 7), of(17, 7)],
            MsgBadLen = "OFPBFC_MSG_BAD_LEN" [NA, onf(2308), of(17, 8), of(17, 8)],
            MsgBadXid = "OFPBFC_MSG_BAD_XID" [NA, onf(2309), of(17, 9), of(17, 9)],
            MsgUnsup = "OFPBFC_MSG_UNSUP" [NA, onf(2310), of(17, 10), of(17, 10)],
            MsgConflict = "OFPBFC_MSG_CONFLICT" [NA, onf(2311), of(17, 11), of(17, 11)],
            MsgTooMany = "OFPBFC_MSG_TOO_MANY" [NA, onf(2312), of(17, 12), of(17, 12)],
            MsgFailed = "OFPBFC_MSG_FAILED" [NA, onf(2313), of(17, 13), of(17, 13)],
            Timeout = "OFPBFC_TIMEOUT" [NA, onf(2314), of(17, 14), of(17, 14)],
            BundleInProgress = "OFPBFC_BUNDLE_IN_PROGRESS" [NA, onf(2315), of(17, 15), of(17, 15)],
            SchedNotSupported = "OFPBFC_SCHED_NOT_SUPPORTED" [NA, NA, NA, of(17, 16)],
            SchedFuture = "OFPBFC_SCHED_FUTURE" [NA, NA, NA, of(17, 17)],
            SchedPast = "OFPBFC_SCHED_PAST" [NA, NA, NA, of(17, 18)],
            BadVersion = "OFPBFC_BAD_VERSION" [NA, NA, nx(22), nx(22)],
        }
        /// OFPET_FLOW_MONITOR_FAILED (Nicira errors before OpenFlow 1.4).
        FlowMonitorFailed {
            Unknown = "OFPMOFC_UNKNOWN" [NA, NA, of(16, 0), of(16, 0)],
            MonitorExists = "OFPMOFC_MONITOR_EXISTS" [nx10(1, 517), nx(6), of(16, 1), of(16, 1)],
            InvalidMonitor = "OFPMOFC_INVALID_MONITOR" [NA, NA, of(16, 2), of(16, 2)],
            UnknownMonitor = "OFPMOFC_UNKNOWN_MONITOR" [nx10(1, 519), nx(8), of(16, 3), of(16, 3)],
            BadCommand = "OFPMOFC_BAD_COMMAND" [NA, NA, of(16, 4), of(16, 4)],
            BadFlags = "OFPMOFC_BAD_FLAGS" [nx10(1, 518), nx(7), of(16, 5), of(16, 5)],
            BadTableId = "OFPMOFC_BAD_TABLE_ID" [NA, NA, of(16, 6), of(16, 6)],
            BadOut = "OFPMOFC_BAD_OUT" [NA, NA, of(16, 7), of(16, 7)],
        }
        /// Nicira NXTTMFC_*: a TLV (Geneve option) table mod failed.
        TlvTableModFailed {
            BadCommand = "NXTTMFC_BAD_COMMAND" [nx10(1, 527), nx(16), nx(16), nx(16)],
            BadOptLen = "NXTTMFC_BAD_OPT_LEN" [nx10(1, 528), nx(17), nx(17), nx(17)],
            BadFieldIdx = "NXTTMFC_BAD_FIELD_IDX" [nx10(1, 529), nx(18), nx(18), nx(18)],
            TableFull = "NXTTMFC_TABLE_FULL" [nx10(1, 530), nx(19), nx(19), nx(19)],
            AlreadyMapped = "NXTTMFC_ALREADY_MAPPED" [nx10(1, 531), nx(20), nx(20), nx(20)],
            DupEntry = "NXTTMFC_DUP_ENTRY" [nx10(1, 532), nx(21), nx(21), nx(21)],
            InvalidTlvDel = "NXTTMFC_INVALID_TLV_DEL" [nx10(1, 537), nx(38), nx(38), nx(38)],
        }
        /// Nicira NXR_*: an NXT_RESUME could not be honoured.
        ResumeFailed {
            NotSupported = "NXR_NOT_SUPPORTED" [nx10(1, 533), nx(34), nx(34), nx(34)],
            Stale = "NXR_STALE" [nx10(1, 534), nx(35), nx(35), nx(35)],
        }
        /// Nicira NXST_*: a protocol is not configured.
        NxStatsFailed {
            NotConfigured = "NXST_NOT_CONFIGURED" [nx10(1, 535), nx(36), nx(36), nx(36)],
        }
}

impl OfpError {
    fn row(self) -> &'static Row {
        // Every variant has a row: the macro builds both from one list.
        let found = TABLE.iter().find(|r| r.err == self);
        found.unwrap_or(&TABLE[UNENCODABLE_ROW])
    }

    /// Every error the table knows, in table order.
    pub fn all() -> impl Iterator<Item = OfpError> {
        TABLE.iter().map(|r| r.err)
    }

    /// The Open vSwitch name, e.g. `"OFPBRC_BAD_LEN"`.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The error whose Open vSwitch name is `name`.
    pub fn from_name(name: &str) -> Option<OfpError> {
        TABLE.iter().find(|r| r.name == name).map(|r| r.err)
    }

    /// How `version` spells this error, or `None` if it has no spelling.
    pub fn wire_exact(self, version: Version) -> Option<WireError> {
        self.row().wire[slot(version)]
    }

    /// How to send this error in `version`: its own spelling, or
    /// `NXBRC_UNENCODABLE_ERROR` if `version` has none.
    pub fn wire(self, version: Version) -> WireError {
        self.wire_exact(version)
            .or(TABLE[UNENCODABLE_ROW].wire[slot(version)])
            .unwrap_or(WireError::Standard { ty: 1, code: 6 })
    }

    /// The `(type, code)` pair of the `ofp_error_msg` header in `version`.
    /// Vendor and experimenter errors give the outer pair (`(0xb0c2, 0)`
    /// and `(0xffff, exp_type)`); [`OfpError::wire`] has the rest.
    pub fn to_wire(self, version: Version) -> (u16, u16) {
        self.wire(version).type_code()
    }

    /// The error a standard `(type, code)` pair means in `version`.
    /// Vendor and experimenter errors need [`OfpError::from_wire_error`].
    pub fn from_wire(version: Version, ty: u16, code: u16) -> Option<OfpError> {
        OfpError::from_wire_error(version, WireError::Standard { ty, code })
    }

    /// The error `w` means in `version`, if the table has it.
    pub fn from_wire_error(version: Version, w: WireError) -> Option<OfpError> {
        let i = slot(version);
        TABLE.iter().find(|r| r.wire[i] == Some(w)).map(|r| r.err)
    }

    /// The data an error reply carries: the first [`REPLY_DATA_LEN`] bytes
    /// of the offending message.
    pub fn reply_data(offending: &[u8]) -> Vec<u8> {
        offending[..offending.len().min(REPLY_DATA_LEN)].to_vec()
    }
}

/// Where `NXBRC_UNENCODABLE_ERROR` sits in [`TABLE`].
const UNENCODABLE_ROW: usize = 26;

impl fmt::Display for OfpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for OfpError {}

/// A body or header that ends early, or runs on, is a length problem.
impl From<CodecError> for OfpError {
    fn from(_: CodecError) -> OfpError {
        OfpError::BadRequest(BadRequest::BadLen)
    }
}

/// What an error message says went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An error the table knows for the message's version.
    Known(OfpError),
    /// Anything else, kept as sent.
    Unknown(WireError),
}

/// The body of an OFPT_ERROR message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorMsg {
    pub error: ErrorKind,
    /// For most errors, the start of the offending message; for
    /// HELLO_FAILED, an ASCII explanation.
    pub data: Vec<u8>,
}

impl ErrorMsg {
    /// The reply to `offending` that reports `error`.
    pub fn reply(error: OfpError, offending: &[u8]) -> ErrorMsg {
        ErrorMsg {
            error: ErrorKind::Known(error),
            data: OfpError::reply_data(offending),
        }
    }

    /// A HELLO_FAILED-style error carrying an explanation.
    pub fn with_text(error: OfpError, text: &str) -> ErrorMsg {
        ErrorMsg {
            error: ErrorKind::Known(error),
            data: text.as_bytes().to_vec(),
        }
    }

    /// How this error is spelt in `version`.
    pub fn wire(&self, version: Version) -> WireError {
        match self.error {
            ErrorKind::Known(e) => e.wire(version),
            ErrorKind::Unknown(w) => w,
        }
    }

    /// Reads the body (after the OpenFlow header) of an error message.
    pub fn decode_body(version: Version, r: &mut Reader<'_>) -> Result<ErrorMsg, OfpError> {
        let w = WireError::parse(r)?;
        let error = match OfpError::from_wire_error(version, w) {
            Some(e) => ErrorKind::Known(e),
            None => ErrorKind::Unknown(w),
        };
        // Consume the data: the message decoder checks nothing is left.
        let data = r.bytes(r.remaining())?.to_vec();
        Ok(ErrorMsg { error, data })
    }

    /// Writes the body (after the OpenFlow header).
    pub fn encode_body(&self, version: Version, w: &mut Writer) {
        self.wire(version).emit(w);
        w.bytes(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unencodable_row_is_where_we_say() {
        assert_eq!(TABLE[UNENCODABLE_ROW].name, "NXBRC_UNENCODABLE_ERROR");
    }

    #[test]
    fn every_error_has_one_row_and_a_unique_name() {
        for (i, r) in TABLE.iter().enumerate() {
            assert!(
                TABLE[..i]
                    .iter()
                    .all(|o| o.err != r.err && o.name != r.name),
                "{}",
                r.name
            );
            assert_eq!(OfpError::from_name(r.name), Some(r.err));
        }
    }

    #[test]
    fn versions_differ_where_openflow_renumbered() {
        let e = OfpError::FlowModFailed(FlowModFailed::TableFull);
        assert_eq!(e.to_wire(Version::Of10), (3, 0));
        assert_eq!(e.to_wire(Version::Of13), (5, 1));
        let e = OfpError::BadRequest(BadRequest::IsSlave);
        assert_eq!(e.to_wire(Version::Of10), (1, 5));
        assert_eq!(e.to_wire(Version::Of13), (1, 10));
        // OpenFlow 1.0 (1,5) means EPERM first: the table order decides.
        assert_eq!(
            OfpError::from_wire(Version::Of10, 1, 5),
            Some(OfpError::BadRequest(BadRequest::EPerm))
        );
    }

    #[test]
    fn vendor_and_experimenter_spellings() {
        let e = OfpError::BadRequest(BadRequest::BadTableId);
        assert_eq!(
            e.wire(Version::Of10),
            WireError::Vendor {
                vendor: NX_VENDOR_ID,
                ty: 1,
                code: 512
            }
        );
        assert_eq!(e.to_wire(Version::Of10), (NXET_VENDOR, NXVC_VENDOR_ERROR));
        let e = OfpError::BundleFailed(BundleFailed::BadId);
        assert_eq!(
            e.wire(Version::Of13),
            WireError::Experimenter {
                experimenter: ONF_VENDOR_ID,
                exp_type: 2302
            }
        );
        assert_eq!(e.to_wire(Version::Of14), (17, 2));
    }

    #[test]
    fn errors_a_version_lacks_go_out_unencodable() {
        let e = OfpError::BadInstruction(BadInstruction::DupInst);
        assert_eq!(e.wire_exact(Version::Of10), None);
        assert_eq!(
            e.wire(Version::Of10),
            WireError::Vendor {
                vendor: NX_VENDOR_ID,
                ty: 1,
                code: 521
            }
        );
    }

    #[test]
    fn error_body_round_trips() {
        for v in Version::ALL {
            for e in OfpError::all() {
                let Some(wire) = e.wire_exact(v) else {
                    continue;
                };
                let msg = ErrorMsg::reply(e, &[1, 2, 3]);
                let mut w = Writer::new();
                msg.encode_body(v, &mut w);
                let got = ErrorMsg::decode_body(v, &mut Reader::new(w.as_slice()));
                let got = got.unwrap_or_else(|err| panic!("{err}"));
                assert_eq!(got.data, vec![1, 2, 3]);
                let ErrorKind::Known(d) = got.error else {
                    panic!("{e} unknown in {v:?}")
                };
                // Duplicated spellings decode to the first row.
                assert_eq!(d.wire_exact(v), Some(wire));
            }
        }
    }

    #[test]
    fn reply_data_is_capped() {
        assert_eq!(OfpError::reply_data(&[7; 100]).len(), REPLY_DATA_LEN);
        assert_eq!(OfpError::reply_data(&[7; 10]).len(), 10);
    }
}
