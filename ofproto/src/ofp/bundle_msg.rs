//! Bundles: OFPT_BUNDLE_CONTROL and OFPT_BUNDLE_ADD_MESSAGE (OpenFlow 1.4+)
//! and their OpenFlow 1.3 spelling as ONF extensions (ONFT_BUNDLE_CONTROL
//! 2300, ONFT_BUNDLE_ADD_MESSAGE 2301), which is what `ovs-ofctl -O
//! OpenFlow13 --bundle` sends. One semantic type each, whatever the version.
//!
//! Both bodies start with `struct ofp14_bundle_ctrl_msg` (bundle id, type,
//! flags). A control message may carry properties after it, which Open
//! vSwitch ignores and so do we (they are kept, not interpreted). An add
//! message carries the embedded message and, after it, optional properties;
//! the embedded message is checked by [`BundleAdd::message`] against the
//! outer header, in the order and with the errors of Open vSwitch's
//! `ofputil_decode_bundle_add`.

use super::codec::{Reader, Writer};
use super::error::{BadRequest, BundleFailed, OfpError};
use super::Header;

/// OFPBF_ATOMIC: all or nothing.
pub const OFPBF_ATOMIC: u16 = 1 << 0;
/// OFPBF_ORDERED: in the order added.
pub const OFPBF_ORDERED: u16 = 1 << 1;

/// OFPBCT_*: what a bundle control message asks or answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BundleCtrlType {
    OpenRequest,
    OpenReply,
    CloseRequest,
    CloseReply,
    CommitRequest,
    CommitReply,
    DiscardRequest,
    DiscardReply,
    /// A number OpenFlow does not define, kept as sent.
    Unknown(u16),
}

impl BundleCtrlType {
    pub fn from_wire(t: u16) -> BundleCtrlType {
        use BundleCtrlType::*;
        match t {
            0 => OpenRequest,
            1 => OpenReply,
            2 => CloseRequest,
            3 => CloseReply,
            4 => CommitRequest,
            5 => CommitReply,
            6 => DiscardRequest,
            7 => DiscardReply,
            n => Unknown(n),
        }
    }

    pub fn wire(self) -> u16 {
        use BundleCtrlType::*;
        match self {
            OpenRequest => 0,
            OpenReply => 1,
            CloseRequest => 2,
            CloseReply => 3,
            CommitRequest => 4,
            CommitReply => 5,
            DiscardRequest => 6,
            DiscardReply => 7,
            Unknown(n) => n,
        }
    }

    /// The reply that answers this request (None for replies and unknown
    /// types).
    pub fn reply(self) -> Option<BundleCtrlType> {
        use BundleCtrlType::*;
        match self {
            OpenRequest => Some(OpenReply),
            CloseRequest => Some(CloseReply),
            CommitRequest => Some(CommitReply),
            DiscardRequest => Some(DiscardReply),
            _ => None,
        }
    }
}

/// OFPT_BUNDLE_CONTROL / ONFT_BUNDLE_CONTROL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BundleCtrl {
    pub bundle_id: u32,
    pub ctrl_type: BundleCtrlType,
    /// OFPBF_* bits, as sent (Open vSwitch only compares them between the
    /// messages of one bundle).
    pub flags: u16,
    /// Properties (`ofp_bundle_prop_*`), kept raw and not interpreted.
    pub props: Vec<u8>,
}

impl BundleCtrl {
    /// Decodes the body after the OpenFlow (and experimenter) header; the
    /// raw-message table has checked that it is 8 bytes plus a multiple
    /// of 8.
    pub fn decode(r: &mut Reader<'_>) -> Result<BundleCtrl, OfpError> {
        let short = |_| OfpError::BadRequest(BadRequest::BadLen);
        let bundle_id = r.u32().map_err(short)?;
        let ctrl_type = BundleCtrlType::from_wire(r.u16().map_err(short)?);
        let flags = r.u16().map_err(short)?;
        let props = r.bytes(r.remaining()).map_err(short)?.to_vec();
        Ok(BundleCtrl {
            bundle_id,
            ctrl_type,
            flags,
            props,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.bundle_id)
            .u16(self.ctrl_type.wire())
            .u16(self.flags)
            .bytes(&self.props);
    }
}

/// OFPT_BUNDLE_ADD_MESSAGE / ONFT_BUNDLE_ADD_MESSAGE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BundleAdd {
    pub bundle_id: u32,
    pub flags: u16,
    /// The embedded message, then any properties, as sent: see
    /// [`BundleAdd::message`].
    pub data: Vec<u8>,
}

impl BundleAdd {
    pub fn decode(r: &mut Reader<'_>) -> Result<BundleAdd, OfpError> {
        let short = |_| OfpError::BadRequest(BadRequest::BadLen);
        let bundle_id = r.u32().map_err(short)?;
        // The `type` field of ofp14_bundle_ctrl_msg is padding here.
        r.skip(2).map_err(short)?;
        let flags = r.u16().map_err(short)?;
        let data = r.bytes(r.remaining()).map_err(short)?.to_vec();
        Ok(BundleAdd {
            bundle_id,
            flags,
            data,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.bundle_id)
            .u16(0)
            .u16(self.flags)
            .bytes(&self.data);
    }

    /// The embedded message, checked against the message `outer` that
    /// carried it, as Open vSwitch checks it: fewer than 8 bytes is
    /// OFPBFC_MSG_BAD_LEN; another version OFPBFC_BAD_VERSION; a length
    /// below 8 or past the end OFPBFC_MSG_BAD_LEN; another xid
    /// OFPBFC_MSG_BAD_XID. Bytes after it (properties) are ignored.
    pub fn message(&self, outer: &Header) -> Result<&[u8], OfpError> {
        let bad_len = OfpError::BundleFailed(BundleFailed::MsgBadLen);
        let inner = Header::parse(&self.data).map_err(|_| bad_len)?;
        if inner.version != outer.version {
            return Err(OfpError::BundleFailed(BundleFailed::BadVersion));
        }
        let len = usize::from(inner.length);
        if len < Header::LEN || len > self.data.len() {
            return Err(bad_len);
        }
        if inner.xid != outer.xid {
            return Err(OfpError::BundleFailed(BundleFailed::MsgBadXid));
        }
        Ok(&self.data[..len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u8, xid: u32) -> Header {
        Header {
            version,
            msg_type: 34,
            length: 0,
            xid,
        }
    }

    #[test]
    fn control_round_trips_and_keeps_unknown_types() {
        let c = BundleCtrl {
            bundle_id: 0x1234,
            ctrl_type: BundleCtrlType::Unknown(9),
            flags: OFPBF_ATOMIC | OFPBF_ORDERED,
            props: vec![0xff, 0xff, 0, 8, 0, 0, 0, 1],
        };
        let mut w = Writer::new();
        c.encode(&mut w);
        assert_eq!(&w.as_slice()[..8], [0, 0, 0x12, 0x34, 0, 9, 0, 3]);
        let back = BundleCtrl::decode(&mut Reader::new(w.as_slice()));
        assert_eq!(back, Ok(c));
        for t in 0..8 {
            assert_eq!(BundleCtrlType::from_wire(t).wire(), t);
        }
        assert_eq!(
            BundleCtrlType::CommitRequest.reply(),
            Some(BundleCtrlType::CommitReply)
        );
        assert_eq!(BundleCtrlType::CommitReply.reply(), None);
    }

    #[test]
    fn embedded_message_checks_in_ovs_order() {
        let echo = [5, 2, 0, 8, 0, 0, 0, 7];
        let add = |data: &[u8]| BundleAdd {
            bundle_id: 1,
            flags: 0,
            data: data.to_vec(),
        };
        let fail = |e| Err(OfpError::BundleFailed(e));
        let outer = header(5, 7);
        // Properties after the message are ignored.
        let with_props = [&echo[..], &[0u8; 8]].concat();
        assert_eq!(add(&with_props).message(&outer), Ok(&echo[..]));
        assert_eq!(
            add(&echo[..7]).message(&outer),
            fail(BundleFailed::MsgBadLen)
        );
        assert_eq!(
            add(&echo).message(&header(4, 7)),
            fail(BundleFailed::BadVersion)
        );
        let mut long = echo;
        long[3] = 9;
        assert_eq!(add(&long).message(&outer), fail(BundleFailed::MsgBadLen));
        let mut tiny = echo;
        tiny[3] = 4;
        assert_eq!(add(&tiny).message(&outer), fail(BundleFailed::MsgBadLen));
        // The length is checked before the xid.
        assert_eq!(
            add(&long).message(&header(5, 8)),
            fail(BundleFailed::MsgBadLen)
        );
        assert_eq!(
            add(&echo).message(&header(5, 8)),
            fail(BundleFailed::MsgBadXid)
        );
    }

    #[test]
    fn add_round_trips() {
        let a = BundleAdd {
            bundle_id: 7,
            flags: OFPBF_ATOMIC,
            data: vec![4, 2, 0, 8, 0, 0, 0, 1],
        };
        let mut w = Writer::new();
        a.encode(&mut w);
        assert_eq!(w.len(), 16);
        assert_eq!(BundleAdd::decode(&mut Reader::new(w.as_slice())), Ok(a));
    }
}
