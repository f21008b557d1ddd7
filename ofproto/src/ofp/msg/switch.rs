//! Connection and switch-level messages: HELLO and version negotiation,
//! FEATURES_REPLY, switch configuration, controller roles, asynchronous
//! message configuration, and the Nicira flow-format and packet-in-format
//! switches.

use crate::ofp::codec::{Reader, Writer};
use crate::ofp::error::{
    BadProperty, HelloFailed, OfpError, RoleRequestFailed, SwitchConfigFailed,
};
use crate::ofp::Version;

use super::port::Port;
use super::prop::{parse_props, put_prop, put_props, Property};

/// OFPHET_VERSIONBITMAP.
pub const OFPHET_VERSIONBITMAP: u16 = 1;

/// One element of an OpenFlow 1.3+ HELLO.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HelloElement {
    /// Bit `n` of word `i` set means version `32 * i + n` is supported.
    VersionBitmap(Vec<u32>),
    /// An element type oxvs does not know (or a bitmap of no whole words),
    /// kept as sent.
    Unknown { ty: u16, data: Vec<u8> },
    /// The rest of the body from the first element that is shorter than
    /// its header or runs past the end. HELLO parsing never fails, as in
    /// Open vSwitch: the header version still counts.
    Malformed(Vec<u8>),
}

/// OFPT_HELLO. OpenFlow 1.0 HELLOs are empty; 1.3+ may list elements.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hello {
    pub elements: Vec<HelloElement>,
}

/// The versions a bitmap word 0 covers, as a set of [`Version`]s.
fn bitmap_of(versions: &[Version]) -> u32 {
    versions.iter().fold(0, |m, v| m | (1 << v.wire()))
}

impl Hello {
    /// The HELLO that offers `versions`, to be sent with the highest of
    /// them in its header. It carries a version bitmap only when the header
    /// version alone would not say the same (the set is not 1..=highest),
    /// as Open vSwitch does.
    pub fn offering(versions: &[Version]) -> Hello {
        let bitmap = bitmap_of(versions);
        let highest = versions.iter().max().map_or(0, |v| v.wire());
        let implied = if highest == 0 {
            0
        } else {
            ((1u32 << highest) - 1) << 1
        };
        if bitmap == implied {
            Hello::default()
        } else {
            Hello {
                elements: vec![HelloElement::VersionBitmap(vec![bitmap])],
            }
        }
    }

    /// The versions (as a bitmap of version numbers 1-31) the sender of
    /// this HELLO with `header_version` supports: its version bitmap if it
    /// sent a usable one, else every version up to the header's. A bitmap
    /// naming no version below 32 is ignored, as Open vSwitch ignores it.
    pub fn peer_versions(&self, header_version: u8) -> u32 {
        let mut allowed = match header_version {
            0 => 0,
            v if v >= 31 => u32::MAX - 1,
            v => ((1u32 << v) - 1) << 1,
        };
        for e in &self.elements {
            if let HelloElement::VersionBitmap(words) = e {
                let first = words.first().copied().unwrap_or(0) & !1;
                if first != 0 {
                    allowed = first;
                }
            }
        }
        allowed
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Hello, OfpError> {
        let mut elements = Vec::new();
        while !r.is_empty() {
            let rest = r.rest();
            let (ty, len) = match (r.u16(), r.u16()) {
                (Ok(ty), Ok(len)) => (ty, usize::from(len)),
                _ => (0, 0),
            };
            if len < 4 || len.next_multiple_of(8) - 4 > r.remaining() {
                elements.push(HelloElement::Malformed(rest.to_vec()));
                r.skip(r.remaining())?;
                break;
            }
            let data = r.bytes(len - 4)?;
            r.skip(len.next_multiple_of(8) - len)?;
            if ty == OFPHET_VERSIONBITMAP && !data.is_empty() && data.len() % 4 == 0 {
                let words = data
                    .chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                elements.push(HelloElement::VersionBitmap(words));
            } else {
                elements.push(HelloElement::Unknown {
                    ty,
                    data: data.to_vec(),
                });
            }
        }
        Ok(Hello { elements })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        for e in &self.elements {
            match e {
                HelloElement::VersionBitmap(words) => {
                    let data: Vec<u8> = words.iter().flat_map(|x| x.to_be_bytes()).collect();
                    put_prop(w, OFPHET_VERSIONBITMAP, &data);
                }
                HelloElement::Unknown { ty, data } => put_prop(w, *ty, data),
                HelloElement::Malformed(rest) => {
                    w.bytes(rest);
                }
            }
        }
    }
}

/// Picks the version to speak: the highest one both sides support.
/// `header_version` is the version byte of the peer's HELLO header. No
/// common version is HELLO_FAILED/INCOMPATIBLE.
pub fn negotiate(ours: &[Version], header_version: u8, hello: &Hello) -> Result<Version, OfpError> {
    let common = bitmap_of(ours) & hello.peer_versions(header_version);
    ours.iter()
        .copied()
        .filter(|v| common & (1 << v.wire()) != 0)
        .max()
        .ok_or(OfpError::HelloFailed(HelloFailed::Incompatible))
}

/// Switch capabilities (`OFPC_*`), in a version-free layout: STP (OpenFlow
/// 1.0) and GROUP_STATS (1.1+) share wire bit 3, so GROUP_STATS sits at
/// bit 4 here, as in Open vSwitch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(pub u32);

impl Capabilities {
    pub const FLOW_STATS: u32 = 1 << 0;
    pub const TABLE_STATS: u32 = 1 << 1;
    pub const PORT_STATS: u32 = 1 << 2;
    /// OpenFlow 1.0 only.
    pub const STP: u32 = 1 << 3;
    /// OpenFlow 1.1+ only.
    pub const GROUP_STATS: u32 = 1 << 4;
    pub const IP_REASM: u32 = 1 << 5;
    pub const QUEUE_STATS: u32 = 1 << 6;
    /// OpenFlow 1.0 (and 1.1) only.
    pub const ARP_MATCH_IP: u32 = 1 << 7;
    /// OpenFlow 1.2+.
    pub const PORT_BLOCKED: u32 = 1 << 8;
    /// OpenFlow 1.4+.
    pub const BUNDLES: u32 = 1 << 9;
    /// OpenFlow 1.4+.
    pub const FLOW_MONITORING: u32 = 1 << 10;

    const COMMON: u32 = Self::FLOW_STATS
        | Self::TABLE_STATS
        | Self::PORT_STATS
        | Self::IP_REASM
        | Self::QUEUE_STATS;
    const WIRE_BIT3: u32 = 1 << 3;

    /// Bits at the same position here and on the wire in `version`.
    fn same_bits(version: Version) -> u32 {
        match version {
            Version::Of10 => Self::COMMON | Self::ARP_MATCH_IP,
            Version::Of13 => Self::COMMON | Self::PORT_BLOCKED,
            Version::Of14 | Version::Of15 => {
                Self::COMMON | Self::PORT_BLOCKED | Self::BUNDLES | Self::FLOW_MONITORING
            }
        }
    }

    /// The bit wire bit 3 means in `version`.
    fn bit3(version: Version) -> u32 {
        match version {
            Version::Of10 => Self::STP,
            _ => Self::GROUP_STATS,
        }
    }

    /// Every bit `version` can carry.
    pub fn valid(version: Version) -> u32 {
        Self::same_bits(version) | Self::bit3(version)
    }

    /// Decodes; bits `version` does not define are dropped.
    pub fn from_wire(version: Version, v: u32) -> Capabilities {
        let mut c = v & Self::same_bits(version);
        if v & Self::WIRE_BIT3 != 0 {
            c |= Self::bit3(version);
        }
        Capabilities(c)
    }

    /// Encodes; bits `version` cannot carry are dropped.
    pub fn to_wire(self, version: Version) -> u32 {
        let mut v = self.0 & Self::same_bits(version);
        if self.0 & Self::bit3(version) != 0 {
            v |= Self::WIRE_BIT3;
        }
        v
    }
}

/// OFPT_FEATURES_REPLY.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SwitchFeatures {
    pub datapath_id: u64,
    pub n_buffers: u32,
    pub n_tables: u8,
    /// OpenFlow 1.3+: which auxiliary connection this is (0 = main).
    pub auxiliary_id: u8,
    pub capabilities: Capabilities,
    /// OpenFlow 1.0 only: the bitmap of supported `OFPAT10_*` action types,
    /// in OpenFlow 1.0 numbering (the action codec owns the meaning).
    pub actions: u32,
    /// OpenFlow 1.0 only: the ports. Later versions list them in a
    /// port-description reply instead, so encoding drops them.
    pub ports: Vec<Port>,
}

impl SwitchFeatures {
    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<SwitchFeatures, OfpError> {
        let mut f = SwitchFeatures {
            datapath_id: r.u64()?,
            n_buffers: r.u32()?,
            n_tables: r.u8()?,
            ..SwitchFeatures::default()
        };
        let aux = r.u8()?;
        r.skip(2)?;
        f.capabilities = Capabilities::from_wire(version, r.u32()?);
        let actions = r.u32()?;
        if version == Version::Of10 {
            f.actions = actions;
            while !r.is_empty() {
                f.ports.push(Port::decode(version, r)?);
            }
        } else {
            f.auxiliary_id = aux;
        }
        Ok(f)
    }

    pub(crate) fn encode(&self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        let of10 = version == Version::Of10;
        w.u64(self.datapath_id)
            .u32(self.n_buffers)
            .u8(self.n_tables);
        w.u8(if of10 { 0 } else { self.auxiliary_id }).zeros(2);
        w.u32(self.capabilities.to_wire(version));
        w.u32(if of10 { self.actions } else { 0 });
        if of10 {
            for p in &self.ports {
                p.encode(version, w)?;
            }
        }
        Ok(())
    }
}

/// What the switch does with IP fragments (`OFPC_FRAG_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FragHandling {
    #[default]
    Normal,
    Drop,
    Reassemble,
    /// Open vSwitch's extension: match on fragment fields.
    NxMatch,
}

/// The body of GET_CONFIG_REPLY and SET_CONFIG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SwitchConfig {
    pub frag: FragHandling,
    /// OFPC_INVALID_TTL_TO_CONTROLLER: OpenFlow 1.0 only (1.3 dropped it).
    pub invalid_ttl_to_controller: bool,
    /// Bytes of a missed packet to send to the controller.
    pub miss_send_len: u16,
}

impl Default for SwitchConfig {
    fn default() -> SwitchConfig {
        SwitchConfig {
            frag: FragHandling::Normal,
            invalid_ttl_to_controller: false,
            miss_send_len: 128,
        }
    }
}

const OFPC_FRAG_MASK: u16 = 3;
const OFPC_INVALID_TTL_TO_CONTROLLER: u16 = 1 << 2;

impl SwitchConfig {
    /// Decodes. `strict` (SET_CONFIG) rejects flags the version does not
    /// define with SWITCH_CONFIG_FAILED/BAD_FLAGS, as Open vSwitch does;
    /// GET_CONFIG_REPLY ignores them.
    pub(crate) fn decode(
        version: Version,
        r: &mut Reader<'_>,
        strict: bool,
    ) -> Result<SwitchConfig, OfpError> {
        let flags = r.u16()?;
        let miss_send_len = r.u16()?;
        let mut valid = OFPC_FRAG_MASK;
        if version == Version::Of10 {
            valid |= OFPC_INVALID_TTL_TO_CONTROLLER;
        }
        if strict && flags & !valid != 0 {
            return Err(SwitchConfigFailed::BadFlags.into());
        }
        let frag = match flags & OFPC_FRAG_MASK {
            0 => FragHandling::Normal,
            1 => FragHandling::Drop,
            2 => FragHandling::Reassemble,
            _ => FragHandling::NxMatch,
        };
        let invalid_ttl_to_controller =
            version == Version::Of10 && flags & OFPC_INVALID_TTL_TO_CONTROLLER != 0;
        Ok(SwitchConfig {
            frag,
            invalid_ttl_to_controller,
            miss_send_len,
        })
    }

    pub(crate) fn encode(&self, version: Version, w: &mut Writer) {
        let mut flags = match self.frag {
            FragHandling::Normal => 0,
            FragHandling::Drop => 1,
            FragHandling::Reassemble => 2,
            FragHandling::NxMatch => 3,
        };
        if self.invalid_ttl_to_controller && version == Version::Of10 {
            flags |= OFPC_INVALID_TTL_TO_CONTROLLER;
        }
        w.u16(flags).u16(self.miss_send_len);
    }
}

/// A controller's role (`OFPCR_ROLE_*`; Nicira's OTHER is EQUAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Only in requests: report the role without changing it. Nicira's
    /// OpenFlow 1.0 request cannot say this.
    NoChange,
    Equal,
    Primary,
    Secondary,
}

impl Role {
    fn wire(self) -> u32 {
        match self {
            Role::NoChange => 0,
            Role::Equal => 1,
            Role::Primary => 2,
            Role::Secondary => 3,
        }
    }

    fn from_wire(v: u32) -> Option<Role> {
        match v {
            0 => Some(Role::NoChange),
            1 => Some(Role::Equal),
            2 => Some(Role::Primary),
            3 => Some(Role::Secondary),
            _ => None,
        }
    }
}

/// ROLE_REQUEST and ROLE_REPLY, standard (OpenFlow 1.2+) or Nicira
/// (NXT_ROLE_REQUEST/REPLY, which carry no generation id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoleMsg {
    pub role: Role,
    /// The primary-election generation; `None` is `u64::MAX` on the wire.
    pub generation_id: Option<u64>,
}

impl RoleMsg {
    pub(crate) fn decode_std(r: &mut Reader<'_>) -> Result<RoleMsg, OfpError> {
        let role = Role::from_wire(r.u32()?).ok_or(RoleRequestFailed::BadRole)?;
        r.skip(4)?;
        let g = r.u64()?;
        Ok(RoleMsg {
            role,
            generation_id: (g != u64::MAX).then_some(g),
        })
    }

    pub(crate) fn encode_std(&self, w: &mut Writer) {
        w.u32(self.role.wire())
            .zeros(4)
            .u64(self.generation_id.unwrap_or(u64::MAX));
    }

    /// Nicira roles are the standard ones minus one (no NOCHANGE).
    pub(crate) fn decode_nx(r: &mut Reader<'_>) -> Result<RoleMsg, OfpError> {
        let v = r.u32()?;
        let role = match v {
            0..=2 => Role::from_wire(v + 1),
            _ => None,
        };
        let role = role.ok_or(RoleRequestFailed::BadRole)?;
        Ok(RoleMsg {
            role,
            generation_id: None,
        })
    }

    pub(crate) fn encode_nx(&self, w: &mut Writer) -> Result<(), OfpError> {
        match self.role {
            Role::NoChange => Err(RoleRequestFailed::BadRole.into()),
            r => {
                w.u32(r.wire() - 1);
                Ok(())
            }
        }
    }
}

/// Why a controller's role changed (`OFPCRR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoleStatusReason {
    /// OFPCRR_MASTER_REQUEST: another controller asked to be primary.
    PrimaryRequest,
    /// OFPCRR_CONFIG: the switch's configuration changed it.
    Config,
    /// OFPCRR_EXPERIMENTER.
    Experimenter,
    /// Anything else, kept as sent.
    Unknown(u8),
}

impl RoleStatusReason {
    pub fn wire(self) -> u8 {
        match self {
            RoleStatusReason::PrimaryRequest => 0,
            RoleStatusReason::Config => 1,
            RoleStatusReason::Experimenter => 2,
            RoleStatusReason::Unknown(v) => v,
        }
    }

    pub fn from_wire(v: u8) -> RoleStatusReason {
        match v {
            0 => RoleStatusReason::PrimaryRequest,
            1 => RoleStatusReason::Config,
            2 => RoleStatusReason::Experimenter,
            v => RoleStatusReason::Unknown(v),
        }
    }
}

/// OFPT_ROLE_STATUS (OpenFlow 1.4+) or ONFT_ROLE_STATUS (1.3): the switch
/// tells a controller its role changed. OpenFlow 1.0 has no such message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoleStatus {
    pub role: Role,
    pub reason: RoleStatusReason,
    /// The switch's primary-election generation; `None` is `u64::MAX` on
    /// the wire (none defined yet).
    pub generation_id: Option<u64>,
    /// Properties, kept as sent.
    pub props: Vec<Property>,
}

impl RoleStatus {
    /// A role outside OFPCR_ROLE_* is ROLE_REQUEST_FAILED/BAD_ROLE, as
    /// Open vSwitch decodes it.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<RoleStatus, OfpError> {
        let role = Role::from_wire(r.u32()?).ok_or(RoleRequestFailed::BadRole)?;
        let reason = RoleStatusReason::from_wire(r.u8()?);
        r.skip(3)?;
        let g = r.u64()?;
        let props = parse_props(r)?
            .into_iter()
            .map(|(ty, data)| Property {
                ty,
                data: data.to_vec(),
            })
            .collect();
        Ok(RoleStatus {
            role,
            reason,
            generation_id: (g != u64::MAX).then_some(g),
            props,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u32(self.role.wire())
            .u8(self.reason.wire())
            .zeros(3)
            .u64(self.generation_id.unwrap_or(u64::MAX));
        put_props(w, &self.props);
    }
}

/// Which asynchronous messages a controller wants, for one message kind:
/// a bitmap of reasons for when it is primary or equal, and one for when
/// it is secondary. `None` leaves that half unchanged (OpenFlow 1.4+
/// properties may omit it; OpenFlow 1.3 always sends both, and encodes
/// `None` as 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsyncMasks {
    pub primary: Option<u32>,
    pub secondary: Option<u32>,
}

/// A packet-in mask with the internal table-miss bits set as its NO_MATCH
/// bit says (OFPR_EXPLICIT_MISS = 6; OFPR_IMPLICIT_MISS = 7, before 1.3).
fn with_miss_bits(mask: u32, version: Version) -> u32 {
    let mask = mask & !(0b11 << 6);
    if mask & 1 == 0 {
        mask
    } else if version < Version::Of13 {
        mask | 0b11 << 6
    } else {
        mask | 1 << 6
    }
}

/// The kinds of asynchronous message an [`AsyncConfig`] filters, in its
/// property-type order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncKind {
    PacketIn = 0,
    PortStatus = 1,
    FlowRemoved = 2,
    RoleStatus = 3,
    TableStatus = 4,
    RequestForward = 5,
}

/// GET_ASYNC_REPLY, SET_ASYNC and Nicira's NXT_SET_ASYNC_CONFIG(2).
/// OpenFlow 1.3 and NXT_SET_ASYNC_CONFIG carry only packet-in, port-status
/// and flow-removed masks; OpenFlow 1.4+ carries any subset of all six.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsyncConfig {
    pub packet_in: AsyncMasks,
    pub port_status: AsyncMasks,
    pub flow_removed: AsyncMasks,
    pub role_status: AsyncMasks,
    pub table_status: AsyncMasks,
    pub requestforward: AsyncMasks,
    /// OpenFlow 1.4+ properties of other types (experimenter ones
    /// included), kept as sent.
    pub other: Vec<Property>,
}

impl AsyncConfig {
    /// The six kinds in property-type order (OFPACPT_*: kind `i` is type
    /// `2i` for secondary and `2i + 1` for primary).
    fn kinds(&self) -> [&AsyncMasks; 6] {
        [
            &self.packet_in,
            &self.port_status,
            &self.flow_removed,
            &self.role_status,
            &self.table_status,
            &self.requestforward,
        ]
    }

    fn kinds_mut(&mut self) -> [&mut AsyncMasks; 6] {
        [
            &mut self.packet_in,
            &mut self.port_status,
            &mut self.flow_removed,
            &mut self.role_status,
            &mut self.table_status,
            &mut self.requestforward,
        ]
    }

    /// What a connection starts with (Open vSwitch's
    /// `ofputil_async_cfg_default`): a primary or equal controller gets
    /// packet-ins for every reason but an invalid TTL, and flow-removeds
    /// for every reason `version` has; every role gets port-status; role,
    /// table status and requestforward are off until asked for.
    pub fn default_for(version: Version) -> AsyncConfig {
        let masks = |primary, secondary| AsyncMasks {
            primary: Some(primary),
            secondary: Some(secondary),
        };
        // OFPR_NO_MATCH, ACTION, ACTION_SET, GROUP, PACKET_OUT, and the
        // internal table-miss reasons that go with NO_MATCH.
        let pin = with_miss_bits(0b11_1011, version);
        let removed = match version {
            Version::Of10 => 0b111,
            Version::Of13 => 0b1111,
            _ => 0b11_1111,
        };
        AsyncConfig {
            packet_in: masks(pin, 0),
            port_status: masks(0b111, 0b111),
            flow_removed: masks(removed, 0),
            role_status: masks(0, 0),
            table_status: masks(0, 0),
            requestforward: masks(0, 0),
            other: Vec::new(),
        }
    }

    /// `update` (a SET_ASYNC in `version`) applied over this configuration:
    /// OpenFlow 1.4+ properties may leave kinds and roles out, which keep
    /// their masks. As in Open vSwitch, asking for NO_MATCH packet-ins
    /// also asks for those of table-miss rules (and before 1.3 of plain
    /// misses), which are kept as internal reasons 6 and 7.
    pub fn merged(&self, update: &AsyncConfig, version: Version) -> AsyncConfig {
        let mut c = self.clone();
        for (m, u) in c.kinds_mut().into_iter().zip(update.kinds()) {
            m.primary = u.primary.or(m.primary);
            m.secondary = u.secondary.or(m.secondary);
        }
        for m in [&mut c.packet_in.primary, &mut c.packet_in.secondary]
            .into_iter()
            .flatten()
        {
            *m = with_miss_bits(*m, version);
        }
        c
    }

    /// What GET_ASYNC_REPLY says in `version`: the reasons that version
    /// has (the internal ones, and before 1.4 its later packet-in
    /// reasons, left out), as Open vSwitch's `encode_async_mask`.
    pub fn on_wire(&self, version: Version) -> AsyncConfig {
        let mut c = self.clone();
        let allowed = if version >= Version::Of14 { 0x3f } else { 0x7 };
        for m in [&mut c.packet_in.primary, &mut c.packet_in.secondary]
            .into_iter()
            .flatten()
        {
            *m &= allowed;
        }
        c
    }

    /// Whether a connection in `role` receives a message of `kind` for
    /// `reason` (a bit number below 32).
    pub fn allows(&self, kind: AsyncKind, reason: u8, secondary: bool) -> bool {
        let m = self.kinds()[kind as usize];
        let mask = if secondary { m.secondary } else { m.primary };
        reason < 32 && mask.unwrap_or(0) & (1 << reason) != 0
    }

    /// Whether the 24-byte layout says all of this: both masks of the three
    /// legacy kinds and nothing else.
    pub fn fits_masks(&self) -> bool {
        let full = |m: &AsyncMasks| m.primary.is_some() && m.secondary.is_some();
        let none = |m: &AsyncMasks| m.primary.is_none() && m.secondary.is_none();
        full(&self.packet_in)
            && full(&self.port_status)
            && full(&self.flow_removed)
            && none(&self.role_status)
            && none(&self.table_status)
            && none(&self.requestforward)
            && self.other.is_empty()
    }

    /// The 24-byte OpenFlow 1.3 / NXT_SET_ASYNC_CONFIG layout.
    pub(crate) fn decode_masks(r: &mut Reader<'_>) -> Result<AsyncConfig, OfpError> {
        let mut c = AsyncConfig::default();
        for m in [&mut c.packet_in, &mut c.port_status, &mut c.flow_removed] {
            m.primary = Some(r.u32()?);
            m.secondary = Some(r.u32()?);
        }
        Ok(c)
    }

    pub(crate) fn encode_masks(&self, w: &mut Writer) {
        for m in [&self.packet_in, &self.port_status, &self.flow_removed] {
            w.u32(m.primary.unwrap_or(0)).u32(m.secondary.unwrap_or(0));
        }
    }

    /// The OpenFlow 1.4+ property layout. A known property whose payload
    /// is not one 32-bit mask is BAD_PROPERTY/BAD_LEN.
    pub(crate) fn decode_props(r: &mut Reader<'_>) -> Result<AsyncConfig, OfpError> {
        let mut c = AsyncConfig::default();
        for (ty, data) in parse_props(r)? {
            let i = usize::from(ty / 2);
            if i >= 6 {
                c.other.push(Property {
                    ty,
                    data: data.to_vec(),
                });
                continue;
            }
            let data: [u8; 4] = data.try_into().map_err(|_| BadProperty::BadLen)?;
            let mask = Some(u32::from_be_bytes(data));
            let kinds = c.kinds_mut();
            if ty % 2 == 0 {
                kinds[i].secondary = mask;
            } else {
                kinds[i].primary = mask;
            }
        }
        Ok(c)
    }

    pub(crate) fn encode_props(&self, w: &mut Writer) {
        for (i, m) in self.kinds().into_iter().enumerate() {
            let base = 2 * i as u16;
            if let Some(s) = m.secondary {
                put_prop(w, base, &s.to_be_bytes());
            }
            if let Some(p) = m.primary {
                put_prop(w, base + 1, &p.to_be_bytes());
            }
        }
        put_props(w, &self.other);
    }
}

/// NXT_SET_FLOW_FORMAT's argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowFormat {
    /// NXFF_OPENFLOW10: standard OpenFlow 1.0 matches.
    OpenFlow10,
    /// NXFF_NXM: Nicira extended matches.
    Nxm,
    /// Anything else, kept so the connection can refuse it.
    Unknown(u32),
}

impl FlowFormat {
    pub fn wire(self) -> u32 {
        match self {
            FlowFormat::OpenFlow10 => 0,
            FlowFormat::Nxm => 2,
            FlowFormat::Unknown(v) => v,
        }
    }

    pub fn from_wire(v: u32) -> FlowFormat {
        match v {
            0 => FlowFormat::OpenFlow10,
            2 => FlowFormat::Nxm,
            v => FlowFormat::Unknown(v),
        }
    }
}

/// NXT_SET_PACKET_IN_FORMAT's argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketInFormat {
    /// NXPIF_STANDARD: the version's own OFPT_PACKET_IN.
    Standard,
    /// NXPIF_NXT_PACKET_IN.
    Nxt,
    /// NXPIF_NXT_PACKET_IN2.
    Nxt2,
    /// Anything else, kept so the connection can refuse it.
    Unknown(u32),
}

impl PacketInFormat {
    pub fn wire(self) -> u32 {
        match self {
            PacketInFormat::Standard => 0,
            PacketInFormat::Nxt => 1,
            PacketInFormat::Nxt2 => 2,
            PacketInFormat::Unknown(v) => v,
        }
    }

    pub fn from_wire(v: u32) -> PacketInFormat {
        match v {
            0 => PacketInFormat::Standard,
            1 => PacketInFormat::Nxt,
            2 => PacketInFormat::Nxt2,
            v => PacketInFormat::Unknown(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Version; 4] = Version::ALL;

    #[test]
    fn offering_adds_a_bitmap_only_when_needed() {
        assert_eq!(Hello::offering(&[Version::Of10]), Hello::default());
        let h = Hello::offering(&ALL);
        assert_eq!(
            h.elements,
            vec![HelloElement::VersionBitmap(vec![0b111_0010])]
        );
    }

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        // A plain OpenFlow 1.3 HELLO offers 1.0 through 1.3.
        assert_eq!(negotiate(&ALL, 4, &Hello::default()), Ok(Version::Of13));
        assert_eq!(
            negotiate(&[Version::Of10], 6, &Hello::default()),
            Ok(Version::Of10)
        );
        let h = Hello::offering(&[Version::Of10, Version::Of14]);
        assert_eq!(negotiate(&ALL, 5, &h), Ok(Version::Of14));
        assert_eq!(
            negotiate(&[Version::Of13, Version::Of15], 5, &h),
            Err(HelloFailed::Incompatible.into())
        );
        // Only OpenFlow 1.1 and 1.2: nothing in common.
        let h = Hello {
            elements: vec![HelloElement::VersionBitmap(vec![0b1100])],
        };
        assert_eq!(
            negotiate(&ALL, 3, &h),
            Err(HelloFailed::Incompatible.into())
        );
        // An empty bitmap is ignored: the header version decides.
        let h = Hello {
            elements: vec![HelloElement::VersionBitmap(vec![1])],
        };
        assert_eq!(negotiate(&ALL, 1, &h), Ok(Version::Of10));
    }

    #[test]
    fn capabilities_bit3_differs_by_version() {
        let c = Capabilities(Capabilities::FLOW_STATS | Capabilities::GROUP_STATS);
        assert_eq!(c.to_wire(Version::Of13), 0b1001);
        assert_eq!(Capabilities::from_wire(Version::Of13, 0b1001), c);
        assert_eq!(
            Capabilities::from_wire(Version::Of10, 0b1001).0,
            Capabilities::FLOW_STATS | Capabilities::STP
        );
    }
}
