//! The continuation of a paused pipeline (`controller(pause)`): the
//! properties an NXT_PACKET_IN2 nests in NXPINT_CONTINUATION and an
//! NXT_RESUME brings back, in Open vSwitch's NXCPT_* layout
//! (`ofputil_put_packet_in_private` and `ofputil_decode_packet_in_private`
//! in `lib/ofp-packet.c`).
//!
//! [`super::PacketIn`] keeps the continuation as opaque bytes, as
//! controllers must; only the switch reads it, with [`Continuation`].
//! Its actions are encoded in the connection's OpenFlow version (as Open
//! vSwitch does), so the bytes differ per connection and an NXT_RESUME is
//! decoded in the version it came in.

use crate::ofp::action::{self, Action};
use crate::ofp::codec::{Reader, Writer};
use crate::ofp::error::{BadProperty, OfpError};
use crate::ofp::flow_msg::action_err;
use crate::ofp::Version;

use super::prop::{parse_props, put_prop, unknown_experimenter};

/// NXCPT_* (`enum nx_continuation_prop_type`, lib/ofp-packet.c).
pub mod nxcpt {
    pub const BRIDGE: u16 = 0x8000;
    pub const STACK: u16 = 0x8001;
    pub const MIRRORS: u16 = 0x8002;
    pub const CONNTRACKED: u16 = 0x8003;
    pub const TABLE_ID: u16 = 0x8004;
    pub const COOKIE: u16 = 0x8005;
    pub const ACTIONS: u16 = 0x8006;
    pub const ACTION_SET: u16 = 0x8007;
    pub const ODP_PORT: u16 = 0x8008;
}

/// Largest NXCPT_STACK value (`sizeof(union mf_subvalue)`).
const MAX_STACK_VALUE: usize = 128;

/// Where a paused pipeline goes on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Continuation {
    /// The bridge that paused (all zeros: none given).
    pub bridge: [u8; 16],
    /// The action stack's values, top first (NXCPT_STACK, one each).
    pub stack: Vec<Vec<u8>>,
    /// Mirrors the packet was already sent to.
    pub mirrors: u32,
    /// Whether the packet went through conntrack.
    pub conntracked: bool,
    /// The actions left to run, innermost rule first, each with the table
    /// and cookie of the rule they belong to (what OVS's `unroll_xlate`
    /// restores for packet-ins they send).
    pub frames: Vec<Frame>,
    /// The action set (OpenFlow 1.1+ write_actions) so far.
    pub action_set: Vec<Action>,
    /// The datapath port the packet came in on (0: not given).
    pub odp_port: u32,
}

/// The actions one rule still had to run when the pipeline paused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Frame {
    pub table_id: u8,
    pub cookie: u64,
    pub actions: Vec<Action>,
}

fn prop_len() -> OfpError {
    OfpError::BadProperty(BadProperty::BadLen)
}

fn u32_of(p: &[u8]) -> Result<u32, OfpError> {
    let b: [u8; 4] = p.try_into().map_err(|_| prop_len())?;
    Ok(u32::from_be_bytes(b))
}

/// A nested property's payload: its content starts 8 bytes into the
/// property, after 4 bytes of padding.
fn nested(p: &[u8]) -> Result<&[u8], OfpError> {
    p.get(4..).ok_or_else(prop_len)
}

fn put_nested(w: &mut Writer, ty: u16, content: &[u8]) {
    put_prop(w, ty, &[&[0u8; 4][..], content].concat());
}

fn put_u64(w: &mut Writer, ty: u16, v: u64) {
    // A 64-bit property is padded so that its value starts 8 bytes in.
    let mut b = [0u8; 12];
    b[4..].copy_from_slice(&v.to_be_bytes());
    put_prop(w, ty, &b);
}

impl Continuation {
    /// Decodes the properties nested in NXPINT_CONTINUATION, whose actions
    /// are in `version`'s encoding. Errors as Open vSwitch's (not loose):
    /// a bad property length OFPBPC_BAD_LEN, an unknown property
    /// OFPBPC_BAD_TYPE, actions that do not decode their OFPBAC_* error.
    pub fn decode(version: Version, bytes: &[u8]) -> Result<Continuation, OfpError> {
        let mut c = Continuation::default();
        // As OVS: each NXCPT_ACTIONS belongs to the table and cookie the
        // last NXCPT_TABLE_ID and NXCPT_COOKIE gave (0 before any).
        let (mut table_id, mut cookie) = (0u8, 0u64);
        for (ty, p) in parse_props(&mut Reader::new(bytes))? {
            match ty {
                nxcpt::BRIDGE => c.bridge = p.try_into().map_err(|_| prop_len())?,
                nxcpt::STACK => {
                    if p.len() > MAX_STACK_VALUE {
                        return Err(prop_len());
                    }
                    c.stack.push(p.to_vec());
                }
                nxcpt::MIRRORS => c.mirrors = u32_of(p)?,
                nxcpt::CONNTRACKED => c.conntracked = true,
                // OVS reads an 8-bit property's first byte, whatever follows.
                nxcpt::TABLE_ID => table_id = *p.first().ok_or_else(prop_len)?,
                nxcpt::COOKIE => {
                    let b: [u8; 8] = nested(p)?.try_into().map_err(|_| prop_len())?;
                    cookie = u64::from_be_bytes(b);
                }
                nxcpt::ACTIONS => {
                    let actions = action::decode(version, nested(p)?).map_err(action_err)?;
                    // An empty one runs nothing (OVS's is a lone
                    // `unroll_xlate`); keeping none keeps encode its inverse.
                    if !actions.is_empty() {
                        c.frames.push(Frame {
                            table_id,
                            cookie,
                            actions,
                        });
                    }
                }
                nxcpt::ACTION_SET => {
                    c.action_set = action::decode(version, nested(p)?).map_err(action_err)?
                }
                nxcpt::ODP_PORT => c.odp_port = u32_of(p)?,
                0xffff => return Err(unknown_experimenter(p)),
                _ => return Err(BadProperty::BadType.into()),
            }
        }
        Ok(c)
    }

    /// Encodes the properties, in Open vSwitch's order, with actions in
    /// `version`'s encoding. A frame with no actions is left out (OVS
    /// writes no empty NXCPT_ACTIONS), and so are its table and cookie.
    pub fn encode(&self, version: Version) -> Result<Vec<u8>, OfpError> {
        let mut w = Writer::new();
        if self.bridge != [0; 16] {
            put_prop(&mut w, nxcpt::BRIDGE, &self.bridge);
        }
        for s in &self.stack {
            put_prop(&mut w, nxcpt::STACK, s);
        }
        if self.mirrors != 0 {
            put_prop(&mut w, nxcpt::MIRRORS, &self.mirrors.to_be_bytes());
        }
        if self.conntracked {
            put_prop(&mut w, nxcpt::CONNTRACKED, &[]);
        }
        let (mut table_id, mut cookie) = (0u8, 0u64);
        for f in self.frames.iter().filter(|f| !f.actions.is_empty()) {
            if f.table_id != table_id {
                put_prop(&mut w, nxcpt::TABLE_ID, &[f.table_id]);
                table_id = f.table_id;
            }
            if f.cookie != cookie {
                put_u64(&mut w, nxcpt::COOKIE, f.cookie);
                cookie = f.cookie;
            }
            let acts = action::encode_to_vec(&f.actions, version).map_err(action_err)?;
            put_nested(&mut w, nxcpt::ACTIONS, &acts);
        }
        if !self.action_set.is_empty() {
            let acts = action::encode_to_vec(&self.action_set, version).map_err(action_err)?;
            put_nested(&mut w, nxcpt::ACTION_SET, &acts);
        }
        if self.odp_port != 0 {
            put_prop(&mut w, nxcpt::ODP_PORT, &self.odp_port.to_be_bytes());
        }
        Ok(w.into_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_their_table_and_cookie() {
        let c = Continuation {
            bridge: [7; 16],
            frames: vec![
                Frame {
                    table_id: 0,
                    cookie: 0,
                    actions: vec![Action::output(2)],
                },
                Frame {
                    table_id: 3,
                    cookie: 9,
                    actions: vec![Action::output(3)],
                },
            ],
            odp_port: 4,
            ..Continuation::default()
        };
        for v in Version::ALL {
            let b = c.encode(v).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(Continuation::decode(v, &b), Ok(c.clone()), "{v:?}");
        }
    }

    #[test]
    fn an_empty_actions_property_runs_nothing() {
        let b = [0x80, 0x06, 0, 8, 0, 0, 0, 0];
        assert_eq!(
            Continuation::decode(Version::Of13, &b),
            Ok(Continuation::default())
        );
    }

    #[test]
    fn bad_properties_are_refused() {
        let v = Version::Of13;
        // A bridge id of 4 bytes, an unknown NXCPT type, a short cookie.
        for (b, e) in [
            (&[0x80u8, 0, 0, 8, 0, 0, 0, 0][..], BadProperty::BadLen),
            (&[0x80, 0x20, 0, 4, 0, 0, 0, 0], BadProperty::BadType),
            (&[0x80, 0x05, 0, 8, 0, 0, 0, 0], BadProperty::BadLen),
        ] {
            assert_eq!(Continuation::decode(v, b), Err(e.into()), "{b:?}");
        }
    }
}
