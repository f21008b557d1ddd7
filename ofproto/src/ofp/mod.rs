//! The OpenFlow wire codec: OpenFlow 1.0, 1.3, 1.4 and 1.5 plus the Nicira
//! and ONF extensions that `ovs-ofctl` and ovn-controller use.
//!
//! One semantic type per message, match, action and error, whatever the
//! version: decoders take `(version, bytes)` and produce the semantic type;
//! encoders take the semantic type and a version. Nothing here does I/O.
//!
//! - [`codec`]: bounded readers and writers.
//! - [`field`]: the match fields (OXM and NXM ids, widths, prerequisites).
//! - [`matching`]: `Match`, and its OXM, NXM and OpenFlow 1.0 encodings.
//! - [`action`], [`instruction`]: actions (standard and Nicira) and
//!   OpenFlow 1.1+ instructions.
//! - [`error`]: `OfpError` and its (type, code) for each version.
//! - [`message`]: every message.
//! - [`bundle_msg`]: bundle control and add messages.
//! - [`monitor_msg`]: flow monitor requests, updates and cancels.

pub mod action;
pub mod bundle_msg;
pub mod codec;
pub mod error;
pub mod field;
pub mod flow_msg;
pub mod group_msg;
pub mod instruction;
pub mod matching;
pub mod message;
pub mod monitor_msg;

/// An OpenFlow protocol version this switch speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Of10,
    Of13,
    Of14,
    Of15,
}

impl Version {
    /// All supported versions, oldest first.
    pub const ALL: [Version; 4] = [Version::Of10, Version::Of13, Version::Of14, Version::Of15];

    /// The `ofp_header.version` byte.
    pub fn wire(self) -> u8 {
        match self {
            Version::Of10 => 0x01,
            Version::Of13 => 0x04,
            Version::Of14 => 0x05,
            Version::Of15 => 0x06,
        }
    }

    /// The version of a header byte, if supported (1.1 and 1.2 are not).
    pub fn from_wire(v: u8) -> Option<Version> {
        match v {
            0x01 => Some(Version::Of10),
            0x04 => Some(Version::Of13),
            0x05 => Some(Version::Of14),
            0x06 => Some(Version::Of15),
            _ => None,
        }
    }

    /// The name `ovs-ofctl -O` uses.
    pub fn name(self) -> &'static str {
        match self {
            Version::Of10 => "OpenFlow10",
            Version::Of13 => "OpenFlow13",
            Version::Of14 => "OpenFlow14",
            Version::Of15 => "OpenFlow15",
        }
    }
}

/// The 8-byte header every message starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The raw version byte (may be one this switch does not speak).
    pub version: u8,
    pub msg_type: u8,
    /// Whole message length, header included.
    pub length: u16,
    pub xid: u32,
}

impl Header {
    pub const LEN: usize = 8;

    /// Reads a header from the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Header, codec::CodecError> {
        let mut r = codec::Reader::new(b);
        Ok(Header {
            version: r.u8()?,
            msg_type: r.u8()?,
            length: r.u16()?,
            xid: r.u32()?,
        })
    }

    pub fn emit(&self, w: &mut codec::Writer) {
        w.u8(self.version)
            .u8(self.msg_type)
            .u16(self.length)
            .u32(self.xid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip() {
        for v in Version::ALL {
            assert_eq!(Version::from_wire(v.wire()), Some(v));
        }
        assert_eq!(Version::from_wire(2), None);
        assert_eq!(Version::from_wire(3), None);
    }

    #[test]
    fn header_round_trip() {
        let h = Header {
            version: 4,
            msg_type: 2,
            length: 8,
            xid: 0xdead_beef,
        };
        let mut w = codec::Writer::new();
        h.emit(&mut w);
        assert_eq!(Header::parse(w.as_slice()), Ok(h));
        assert!(Header::parse(&[4, 2, 0]).is_err());
    }
}
