//! Ports as OpenFlow describes them: port numbers, port descriptions (in
//! FEATURES_REPLY, PORT_STATUS and port-description replies), PORT_MOD and
//! port statistics, each one semantic type over the OpenFlow 1.0 (16-bit
//! ports, 48-byte descriptions), 1.3 (32-bit ports, 64 bytes) and 1.4+
//! (length-prefixed, property-based) layouts.

use crate::ofp::codec::{Reader, Writer};
use crate::ofp::error::{BadProperty, BadRequest, OfpError};
use crate::ofp::Version;

use super::prop::{get_str, parse_props, put_prop, put_props, put_str, Property};

/// An OpenFlow 1.1+ (32-bit) port number. OpenFlow 1.0's 16-bit numbers map
/// onto it as Open vSwitch maps them: 0..0xff00 unchanged, the reserved
/// 0xff00..=0xffff to 0xffffff00..=0xffffffff (so OFPP_NONE becomes
/// OFPP_ANY).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortNo(pub u32);

impl PortNo {
    /// Highest number a physical port may have, plus one.
    pub const MAX: PortNo = PortNo(0xffff_ff00);
    pub const UNSET: PortNo = PortNo(0xffff_fff7);
    pub const IN_PORT: PortNo = PortNo(0xffff_fff8);
    pub const TABLE: PortNo = PortNo(0xffff_fff9);
    pub const NORMAL: PortNo = PortNo(0xffff_fffa);
    pub const FLOOD: PortNo = PortNo(0xffff_fffb);
    pub const ALL: PortNo = PortNo(0xffff_fffc);
    pub const CONTROLLER: PortNo = PortNo(0xffff_fffd);
    pub const LOCAL: PortNo = PortNo(0xffff_fffe);
    /// OFPP_ANY (OpenFlow 1.0's OFPP_NONE): no port, or all ports.
    pub const ANY: PortNo = PortNo(0xffff_ffff);

    /// The 32-bit number for an OpenFlow 1.0 port number.
    pub fn from_of10(p: u16) -> PortNo {
        if p >= 0xff00 {
            PortNo(u32::from(p) + 0xffff_0000)
        } else {
            PortNo(u32::from(p))
        }
    }

    /// The OpenFlow 1.0 number, if OpenFlow 1.0 can express this port.
    pub fn to_of10(self) -> Option<u16> {
        if self.0 < 0xff00 {
            u16::try_from(self.0).ok()
        } else if self.0 >= Self::MAX.0 {
            u16::try_from(self.0 - 0xffff_0000).ok()
        } else {
            None
        }
    }

    pub(crate) fn get(version: Version, r: &mut Reader<'_>) -> Result<PortNo, OfpError> {
        Ok(match version {
            Version::Of10 => PortNo::from_of10(r.u16()?),
            _ => PortNo(r.u32()?),
        })
    }

    /// Writes the number in `version`'s width; a number OpenFlow 1.0 cannot
    /// express is BAD_PORT.
    pub(crate) fn put(self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        match version {
            Version::Of10 => {
                w.u16(
                    self.to_of10()
                        .ok_or(OfpError::BadRequest(BadRequest::BadPort))?,
                );
            }
            _ => {
                w.u32(self.0);
            }
        }
        Ok(())
    }
}

/// Port configuration bits (`OFPPC_*`), at their wire positions. NO_STP,
/// NO_RECV_STP and NO_FLOOD exist in OpenFlow 1.0 only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortConfig(pub u32);

impl PortConfig {
    pub const PORT_DOWN: u32 = 1 << 0;
    pub const NO_STP: u32 = 1 << 1;
    pub const NO_RECV: u32 = 1 << 2;
    pub const NO_RECV_STP: u32 = 1 << 3;
    pub const NO_FLOOD: u32 = 1 << 4;
    pub const NO_FWD: u32 = 1 << 5;
    pub const NO_PACKET_IN: u32 = 1 << 6;

    /// The bits `version` defines; others are dropped on decode and encode,
    /// as Open vSwitch does.
    pub fn valid(version: Version) -> u32 {
        let common = Self::PORT_DOWN | Self::NO_RECV | Self::NO_FWD | Self::NO_PACKET_IN;
        match version {
            Version::Of10 => common | Self::NO_STP | Self::NO_RECV_STP | Self::NO_FLOOD,
            _ => common,
        }
    }

    pub fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }
}

/// Port state bits (`OFPPS_*`). LINK_DOWN everywhere; BLOCKED and LIVE in
/// OpenFlow 1.1+; the 2-bit spanning-tree state (bits 8-9) in 1.0 only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortState(pub u32);

impl PortState {
    pub const LINK_DOWN: u32 = 1 << 0;
    pub const BLOCKED: u32 = 1 << 1;
    pub const LIVE: u32 = 1 << 2;
    pub const STP_LISTEN: u32 = 0;
    pub const STP_LEARN: u32 = 1 << 8;
    pub const STP_FORWARD: u32 = 2 << 8;
    pub const STP_BLOCK: u32 = 3 << 8;
    pub const STP_MASK: u32 = 3 << 8;

    /// The bits `version` defines.
    pub fn valid(version: Version) -> u32 {
        match version {
            Version::Of10 => Self::LINK_DOWN | Self::STP_MASK,
            _ => Self::LINK_DOWN | Self::BLOCKED | Self::LIVE,
        }
    }

    pub fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }
}

/// Port feature bits in the OpenFlow 1.1+ layout (`OFPPF_*`): speeds in bits
/// 0-10, then medium, autonegotiation and pause in bits 11-15. OpenFlow 1.0
/// lacks 40G, 100G, 1T and OTHER and keeps the last five bits at 7-11.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortFeatures(pub u32);

impl PortFeatures {
    pub const F_10MB_HD: u32 = 1 << 0;
    pub const F_10MB_FD: u32 = 1 << 1;
    pub const F_100MB_HD: u32 = 1 << 2;
    pub const F_100MB_FD: u32 = 1 << 3;
    pub const F_1GB_HD: u32 = 1 << 4;
    pub const F_1GB_FD: u32 = 1 << 5;
    pub const F_10GB_FD: u32 = 1 << 6;
    pub const F_40GB_FD: u32 = 1 << 7;
    pub const F_100GB_FD: u32 = 1 << 8;
    pub const F_1TB_FD: u32 = 1 << 9;
    pub const OTHER: u32 = 1 << 10;
    pub const COPPER: u32 = 1 << 11;
    pub const FIBER: u32 = 1 << 12;
    pub const AUTONEG: u32 = 1 << 13;
    pub const PAUSE: u32 = 1 << 14;
    pub const PAUSE_ASYM: u32 = 1 << 15;

    /// The bits `version` can carry.
    pub fn valid(version: Version) -> u32 {
        match version {
            Version::Of10 => 0x7f | 0xf800,
            _ => 0xffff,
        }
    }

    fn from_wire(version: Version, v: u32) -> PortFeatures {
        match version {
            Version::Of10 => PortFeatures((v & 0x7f) | ((v & 0xf80) << 4)),
            _ => PortFeatures(v & 0xffff),
        }
    }

    fn to_wire(self, version: Version) -> u32 {
        match version {
            Version::Of10 => (self.0 & 0x7f) | ((self.0 & 0xf800) >> 4),
            _ => self.0 & 0xffff,
        }
    }

    /// The fastest speed listed, in kbps (0 if none): how OpenFlow 1.0
    /// ports, which carry no speed fields, get `curr_speed` and `max_speed`.
    pub fn speed_kbps(self) -> u32 {
        let f = self.0;
        let any = |bits: u32| f & bits != 0;
        if any(Self::F_1TB_FD) {
            1_000_000_000
        } else if any(Self::F_100GB_FD) {
            100_000_000
        } else if any(Self::F_40GB_FD) {
            40_000_000
        } else if any(Self::F_10GB_FD) {
            10_000_000
        } else if any(Self::F_1GB_HD | Self::F_1GB_FD) {
            1_000_000
        } else if any(Self::F_100MB_HD | Self::F_100MB_FD) {
            100_000
        } else if any(Self::F_10MB_HD | Self::F_10MB_FD) {
            10_000
        } else {
            0
        }
    }
}

/// OpenFlow 1.4+ port description property types.
const OFPPDPT_ETHERNET: u16 = 0;
/// Length of the Ethernet port-description property, header included.
const ETHERNET_PROP_LEN: usize = 32;

/// A port description.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Port {
    pub port_no: PortNo,
    pub hw_addr: [u8; 6],
    /// At most 15 bytes go on the wire.
    pub name: String,
    pub config: PortConfig,
    pub state: PortState,
    pub curr: PortFeatures,
    pub advertised: PortFeatures,
    pub supported: PortFeatures,
    pub peer: PortFeatures,
    /// Current and maximum bitrate in kbps. OpenFlow 1.0 has no such fields:
    /// decoding derives them from `curr` and `supported`, encoding drops them.
    pub curr_speed: u32,
    pub max_speed: u32,
    /// OpenFlow 1.4+ properties other than Ethernet (optical,
    /// experimenter), kept as sent.
    pub props: Vec<Property>,
}

impl Port {
    /// Wire length of one description in `version` (OpenFlow 1.4+: with the
    /// Ethernet property and the kept properties).
    pub fn wire_len(&self, version: Version) -> usize {
        match version {
            Version::Of10 => 48,
            Version::Of13 => 64,
            _ => {
                40 + ETHERNET_PROP_LEN
                    + self
                        .props
                        .iter()
                        .map(|p| (4 + p.data.len()).next_multiple_of(8))
                        .sum::<usize>()
            }
        }
    }

    /// Reads one description.
    pub fn decode(version: Version, r: &mut Reader<'_>) -> Result<Port, OfpError> {
        match version {
            Version::Of10 => {
                let port_no = PortNo::get(version, r)?;
                let hw_addr = r.array()?;
                let name = get_str(r, 16)?;
                let config = PortConfig(r.u32()? & PortConfig::valid(version));
                let state = PortState(r.u32()? & PortState::valid(version));
                let curr = PortFeatures::from_wire(version, r.u32()?);
                let advertised = PortFeatures::from_wire(version, r.u32()?);
                let supported = PortFeatures::from_wire(version, r.u32()?);
                let peer = PortFeatures::from_wire(version, r.u32()?);
                Ok(Port {
                    port_no,
                    hw_addr,
                    name,
                    config,
                    state,
                    curr,
                    advertised,
                    supported,
                    peer,
                    curr_speed: curr.speed_kbps(),
                    max_speed: supported.speed_kbps(),
                    props: Vec::new(),
                })
            }
            Version::Of13 => {
                let port_no = PortNo::get(version, r)?;
                r.skip(4)?;
                let hw_addr = r.array()?;
                r.skip(2)?;
                let name = get_str(r, 16)?;
                Ok(Port {
                    port_no,
                    hw_addr,
                    name,
                    config: PortConfig(r.u32()? & PortConfig::valid(version)),
                    state: PortState(r.u32()? & PortState::valid(version)),
                    curr: PortFeatures::from_wire(version, r.u32()?),
                    advertised: PortFeatures::from_wire(version, r.u32()?),
                    supported: PortFeatures::from_wire(version, r.u32()?),
                    peer: PortFeatures::from_wire(version, r.u32()?),
                    curr_speed: r.u32()?,
                    max_speed: r.u32()?,
                    props: Vec::new(),
                })
            }
            Version::Of14 | Version::Of15 => {
                let port_no = PortNo::get(version, r)?;
                let len = usize::from(r.u16()?);
                if len < 40 || len - 6 > r.remaining() {
                    return Err(BadRequest::BadLen.into());
                }
                // The 6 bytes read so far belong to this description.
                let mut body = r.sub(len - 6)?;
                body.skip(2)?;
                let hw_addr = body.array()?;
                body.skip(2)?;
                let name = get_str(&mut body, 16)?;
                let mut port = Port {
                    port_no,
                    hw_addr,
                    name,
                    config: PortConfig(body.u32()? & PortConfig::valid(version)),
                    state: PortState(body.u32()? & PortState::valid(version)),
                    ..Port::default()
                };
                for (ty, data) in parse_props(&mut body)? {
                    if ty == OFPPDPT_ETHERNET {
                        if data.len() != ETHERNET_PROP_LEN - 4 {
                            return Err(BadProperty::BadLen.into());
                        }
                        let mut e = Reader::new(data);
                        e.skip(4)?;
                        port.curr = PortFeatures::from_wire(version, e.u32()?);
                        port.advertised = PortFeatures::from_wire(version, e.u32()?);
                        port.supported = PortFeatures::from_wire(version, e.u32()?);
                        port.peer = PortFeatures::from_wire(version, e.u32()?);
                        port.curr_speed = e.u32()?;
                        port.max_speed = e.u32()?;
                    } else {
                        port.props.push(Property {
                            ty,
                            data: data.to_vec(),
                        });
                    }
                }
                Ok(port)
            }
        }
    }

    /// Writes one description.
    pub fn encode(&self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        let config = self.config.0 & PortConfig::valid(version);
        let state = self.state.0 & PortState::valid(version);
        match version {
            Version::Of10 => {
                self.port_no.put(version, w)?;
                w.bytes(&self.hw_addr);
                put_str(w, &self.name, 16);
                w.u32(config).u32(state);
                for f in [self.curr, self.advertised, self.supported, self.peer] {
                    w.u32(f.to_wire(version));
                }
            }
            Version::Of13 => {
                self.port_no.put(version, w)?;
                w.zeros(4).bytes(&self.hw_addr).zeros(2);
                put_str(w, &self.name, 16);
                w.u32(config).u32(state);
                for f in [self.curr, self.advertised, self.supported, self.peer] {
                    w.u32(f.to_wire(version));
                }
                w.u32(self.curr_speed).u32(self.max_speed);
            }
            Version::Of14 | Version::Of15 => {
                let len = u16::try_from(self.wire_len(version))
                    .map_err(|_| OfpError::BadRequest(BadRequest::BadLen))?;
                self.port_no.put(version, w)?;
                w.u16(len).zeros(2).bytes(&self.hw_addr).zeros(2);
                put_str(w, &self.name, 16);
                w.u32(config).u32(state);
                let mut e = Writer::new();
                e.zeros(4);
                for f in [self.curr, self.advertised, self.supported, self.peer] {
                    e.u32(f.to_wire(version));
                }
                e.u32(self.curr_speed).u32(self.max_speed);
                put_prop(w, OFPPDPT_ETHERNET, e.as_slice());
                put_props(w, &self.props);
            }
        }
        Ok(())
    }
}

/// Why a PORT_STATUS was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortReason {
    Add,
    Delete,
    Modify,
}

impl PortReason {
    pub fn wire(self) -> u8 {
        match self {
            PortReason::Add => 0,
            PortReason::Delete => 1,
            PortReason::Modify => 2,
        }
    }

    fn from_wire(v: u8) -> Option<PortReason> {
        match v {
            0 => Some(PortReason::Add),
            1 => Some(PortReason::Delete),
            2 => Some(PortReason::Modify),
            _ => None,
        }
    }
}

/// OFPT_PORT_STATUS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortStatus {
    pub reason: PortReason,
    pub desc: Port,
}

impl PortStatus {
    /// An unknown reason is NXBRC_BAD_REASON, as in Open vSwitch.
    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<PortStatus, OfpError> {
        let reason = PortReason::from_wire(r.u8()?).ok_or(BadRequest::BadReason)?;
        r.skip(7)?;
        let desc = Port::decode(version, r)?;
        r.expect_empty()?;
        Ok(PortStatus { reason, desc })
    }

    pub(crate) fn encode(&self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        w.u8(self.reason.wire()).zeros(7);
        self.desc.encode(version, w)
    }
}

/// OpenFlow 1.4+ PORT_MOD property types.
const OFPPMPT_ETHERNET: u16 = 0;

/// OFPT_PORT_MOD.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortMod {
    pub port_no: PortNo,
    /// Must match the port's address; a sanity check.
    pub hw_addr: [u8; 6],
    /// New values of the bits in `mask`. Decoding clears bits outside
    /// `mask`, as Open vSwitch does.
    pub config: PortConfig,
    pub mask: PortConfig,
    /// Features to advertise; zero leaves them unchanged.
    pub advertise: PortFeatures,
    /// OpenFlow 1.4+ properties other than Ethernet, kept as sent.
    pub props: Vec<Property>,
}

impl PortMod {
    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<PortMod, OfpError> {
        let valid = PortConfig::valid(version);
        let mut pm = PortMod {
            port_no: PortNo::get(version, r)?,
            ..PortMod::default()
        };
        if version != Version::Of10 {
            r.skip(4)?;
        }
        pm.hw_addr = r.array()?;
        if version != Version::Of10 {
            r.skip(2)?;
        }
        let config = r.u32()?;
        pm.mask = PortConfig(r.u32()? & valid);
        pm.config = PortConfig(config & pm.mask.0);
        match version {
            Version::Of10 | Version::Of13 => {
                pm.advertise = PortFeatures::from_wire(version, r.u32()?);
                r.skip(4)?;
            }
            Version::Of14 | Version::Of15 => {
                for (ty, data) in parse_props(r)? {
                    if ty == OFPPMPT_ETHERNET {
                        let data: [u8; 4] = data.try_into().map_err(|_| BadProperty::BadLen)?;
                        pm.advertise = PortFeatures::from_wire(version, u32::from_be_bytes(data));
                    } else {
                        pm.props.push(Property {
                            ty,
                            data: data.to_vec(),
                        });
                    }
                }
            }
        }
        r.expect_empty()?;
        Ok(pm)
    }

    pub(crate) fn encode(&self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        let valid = PortConfig::valid(version);
        let mask = self.mask.0 & valid;
        self.port_no.put(version, w)?;
        if version != Version::Of10 {
            w.zeros(4);
        }
        w.bytes(&self.hw_addr);
        if version != Version::Of10 {
            w.zeros(2);
        }
        w.u32(self.config.0 & mask).u32(mask);
        match version {
            Version::Of10 | Version::Of13 => {
                w.u32(self.advertise.to_wire(version)).zeros(4);
            }
            Version::Of14 | Version::Of15 => {
                if self.advertise.0 != 0 {
                    put_prop(
                        w,
                        OFPPMPT_ETHERNET,
                        &self.advertise.to_wire(version).to_be_bytes(),
                    );
                }
                put_props(w, &self.props);
            }
        }
        Ok(())
    }
}

/// OpenFlow 1.4+ port statistics property types.
const OFPPSPT_ETHERNET: u16 = 0;

/// Statistics of one port. A counter the switch does not keep is
/// `u64::MAX`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortStats {
    pub port_no: PortNo,
    /// How long the port has existed, `(seconds, nanoseconds)`; OpenFlow 1.0
    /// cannot say (and `(u32::MAX, _)` on the wire means the same).
    pub duration: Option<(u32, u32)>,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_frame_err: u64,
    pub rx_over_err: u64,
    pub rx_crc_err: u64,
    pub collisions: u64,
    /// OpenFlow 1.4+ properties other than Ethernet (e.g. Intel's RFC 2819
    /// counters), kept as sent.
    pub props: Vec<Property>,
}

impl Default for PortStats {
    fn default() -> PortStats {
        PortStats {
            port_no: PortNo(0),
            duration: None,
            rx_packets: 0,
            tx_packets: 0,
            rx_bytes: 0,
            tx_bytes: 0,
            rx_dropped: 0,
            tx_dropped: 0,
            rx_errors: 0,
            tx_errors: 0,
            rx_frame_err: 0,
            rx_over_err: 0,
            rx_crc_err: 0,
            collisions: 0,
            props: Vec::new(),
        }
    }
}

fn get_duration(r: &mut Reader<'_>) -> Result<Option<(u32, u32)>, OfpError> {
    let sec = r.u32()?;
    let nsec = r.u32()?;
    Ok((sec != u32::MAX).then_some((sec, nsec)))
}

fn put_duration(w: &mut Writer, d: Option<(u32, u32)>) {
    let (sec, nsec) = d.unwrap_or((u32::MAX, u32::MAX));
    w.u32(sec).u32(nsec);
}

impl PortStats {
    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<PortStats, OfpError> {
        let mut s = PortStats::default();
        let mut r14;
        let r = match version {
            Version::Of10 => {
                s.port_no = PortNo::get(version, r)?;
                r.skip(6)?;
                r
            }
            Version::Of13 => {
                s.port_no = PortNo::get(version, r)?;
                r.skip(4)?;
                r
            }
            Version::Of14 | Version::Of15 => {
                let len = usize::from(r.u16()?);
                if len < 80 || len - 2 > r.remaining() {
                    return Err(BadRequest::BadLen.into());
                }
                r14 = r.sub(len - 2)?;
                r14.skip(2)?;
                s.port_no = PortNo::get(version, &mut r14)?;
                s.duration = get_duration(&mut r14)?;
                &mut r14
            }
        };
        s.rx_packets = r.u64()?;
        s.tx_packets = r.u64()?;
        s.rx_bytes = r.u64()?;
        s.tx_bytes = r.u64()?;
        s.rx_dropped = r.u64()?;
        s.tx_dropped = r.u64()?;
        s.rx_errors = r.u64()?;
        s.tx_errors = r.u64()?;
        match version {
            Version::Of10 | Version::Of13 => {
                s.rx_frame_err = r.u64()?;
                s.rx_over_err = r.u64()?;
                s.rx_crc_err = r.u64()?;
                s.collisions = r.u64()?;
                if version == Version::Of13 {
                    s.duration = get_duration(r)?;
                }
            }
            Version::Of14 | Version::Of15 => {
                s.rx_frame_err = u64::MAX;
                s.rx_over_err = u64::MAX;
                s.rx_crc_err = u64::MAX;
                s.collisions = u64::MAX;
                for (ty, data) in parse_props(r)? {
                    if ty == OFPPSPT_ETHERNET {
                        if data.len() != 36 {
                            return Err(BadProperty::BadLen.into());
                        }
                        let mut e = Reader::new(data);
                        e.skip(4)?;
                        s.rx_frame_err = e.u64()?;
                        s.rx_over_err = e.u64()?;
                        s.rx_crc_err = e.u64()?;
                        s.collisions = e.u64()?;
                    } else {
                        s.props.push(Property {
                            ty,
                            data: data.to_vec(),
                        });
                    }
                }
            }
        }
        Ok(s)
    }

    pub(crate) fn encode(&self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        let m = w.mark();
        match version {
            Version::Of10 => {
                self.port_no.put(version, w)?;
                w.zeros(6);
            }
            Version::Of13 => {
                self.port_no.put(version, w)?;
                w.zeros(4);
            }
            Version::Of14 | Version::Of15 => {
                w.u16(0).zeros(2);
                self.port_no.put(version, w)?;
                put_duration(w, self.duration);
            }
        }
        for c in [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
        ] {
            w.u64(c);
        }
        let ether = [
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ];
        match version {
            Version::Of10 | Version::Of13 => {
                for c in ether {
                    w.u64(c);
                }
                if version == Version::Of13 {
                    put_duration(w, self.duration);
                }
            }
            Version::Of14 | Version::Of15 => {
                let mut e = Writer::new();
                e.zeros(4);
                for c in ether {
                    e.u64(c);
                }
                put_prop(w, OFPPSPT_ETHERNET, e.as_slice());
                put_props(w, &self.props);
                let len = u16::try_from(w.since(m))
                    .map_err(|_| OfpError::BadRequest(BadRequest::BadLen))?;
                w.patch_u16(m, 0, len);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of10_port_numbers_map_like_ovs() {
        assert_eq!(PortNo::from_of10(0xfffe), PortNo::LOCAL);
        assert_eq!(PortNo::from_of10(0xffff), PortNo::ANY);
        assert_eq!(PortNo::from_of10(0xff00), PortNo::MAX);
        assert_eq!(PortNo::from_of10(7), PortNo(7));
        assert_eq!(PortNo::LOCAL.to_of10(), Some(0xfffe));
        assert_eq!(PortNo(0xff00).to_of10(), None);
        assert_eq!(PortNo(0x1_0000).to_of10(), None);
    }

    #[test]
    fn of10_features_move_medium_bits() {
        let f = PortFeatures(PortFeatures::F_1GB_FD | PortFeatures::COPPER | PortFeatures::AUTONEG);
        let wire = f.to_wire(Version::Of10);
        assert_eq!(wire, (1 << 5) | (1 << 7) | (1 << 9));
        assert_eq!(PortFeatures::from_wire(Version::Of10, wire), f);
        assert_eq!(f.speed_kbps(), 1_000_000);
    }

    #[test]
    fn port_round_trips_in_each_layout() {
        let port = Port {
            port_no: PortNo(3),
            hw_addr: [0, 1, 2, 3, 4, 5],
            name: "eth3".into(),
            config: PortConfig(PortConfig::PORT_DOWN),
            state: PortState(PortState::LINK_DOWN),
            curr: PortFeatures(PortFeatures::F_10GB_FD),
            supported: PortFeatures(PortFeatures::F_10GB_FD),
            curr_speed: 10_000_000,
            max_speed: 10_000_000,
            ..Port::default()
        };
        for v in Version::ALL {
            let mut w = Writer::new();
            port.encode(v, &mut w).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(w.len(), port.wire_len(v));
            let mut r = Reader::new(w.as_slice());
            assert_eq!(Port::decode(v, &mut r), Ok(port.clone()), "{v:?}");
            assert!(r.is_empty());
        }
    }
}
