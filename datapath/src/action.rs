//! Datapath actions: what a megaflow does to the packets that hit it.
//!
//! These are the datapath's own actions (Open vSwitch's `OVS_ACTION_ATTR_*`),
//! not OpenFlow's: `ofproto`'s xlate compiles OpenFlow into them. Action
//! lists are shared (`Arc`) between the megaflows that use them.

use std::sync::Arc;

/// A datapath port number.
pub type PortNo = u32;

/// A shared, immutable action list.
pub type Actions = Arc<[Action]>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send a copy of the packet out of a port.
    Output(PortNo),
    /// Send the packet to userspace (an upcall of kind `Action`) with the
    /// given cookie; ofproto gives the cookie its meaning.
    Userspace { userdata: u64 },
    /// Rewrite header fields (bits set in the mask only), fixing checksums.
    Set(SetHeader),
    /// Push an 802.1Q / 802.1ad tag in front of the current ethertype.
    PushVlan { tpid: u16, tci: u16 },
    /// Remove the outermost VLAN tag.
    PopVlan,
    /// Look the packet up again with this recirc_id.
    Recirc(u32),
    /// Fill dp_hash with a hash of the 5-tuple and `basis`.
    Hash { basis: u32 },
    /// Run the nested actions on a copy of the packet.
    Clone(Actions),
    /// Run the nested actions on a copy with the given probability
    /// (`u32::MAX` = always).
    Sample { probability: u32, actions: Actions },
    /// Cut the packet to at most this many bytes for the next output only
    /// (OpenFlow's `output(port=P,max_len=N)`).
    Trunc(u32),
    /// Run the packet through a meter; it stops here if a band drops it.
    Meter(Arc<crate::meter::Meter>),
    /// Drop the packet (explicit; an empty list drops too).
    Drop,
}

/// A masked rewrite of one header. A field whose mask is zero is left alone;
/// an unmasked set has all-ones masks (see the `*_exact` constructors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetHeader {
    Ethernet {
        value: EthernetSet,
        mask: EthernetSet,
    },
    /// Outermost VLAN TCI (VID and PCP); no-op on an untagged frame.
    Vlan {
        tci: u16,
        mask: u16,
    },
    Ipv4 {
        value: Ipv4Set,
        mask: Ipv4Set,
    },
    Ipv6 {
        value: Ipv6Set,
        mask: Ipv6Set,
    },
    Tcp {
        value: L4PortsSet,
        mask: L4PortsSet,
    },
    Udp {
        value: L4PortsSet,
        mask: L4PortsSet,
    },
    /// ICMPv4 type and code.
    Icmp {
        value: IcmpSet,
        mask: IcmpSet,
    },
    /// Packet metadata (skb mark).
    SkbMark {
        value: u32,
        mask: u32,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EthernetSet {
    pub src: [u8; 6],
    pub dst: [u8; 6],
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv4Set {
    pub src: u32,
    pub dst: u32,
    pub tos: u8,
    pub ttl: u8,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv6Set {
    pub src: u128,
    pub dst: u128,
    pub tclass: u8,
    pub hlimit: u8,
    /// Flow label (20 bits).
    pub label: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L4PortsSet {
    pub src: u16,
    pub dst: u16,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IcmpSet {
    pub icmp_type: u8,
    pub code: u8,
}

impl SetHeader {
    /// Sets both MACs.
    pub fn ethernet_exact(src: [u8; 6], dst: [u8; 6]) -> SetHeader {
        SetHeader::Ethernet {
            value: EthernetSet { src, dst },
            mask: EthernetSet {
                src: [0xff; 6],
                dst: [0xff; 6],
            },
        }
    }

    /// Sets every IPv4 field.
    pub fn ipv4_exact(value: Ipv4Set) -> SetHeader {
        SetHeader::Ipv4 {
            value,
            mask: Ipv4Set {
                src: u32::MAX,
                dst: u32::MAX,
                tos: 0xff,
                ttl: 0xff,
            },
        }
    }

    /// Sets both TCP ports.
    pub fn tcp_exact(src: u16, dst: u16) -> SetHeader {
        SetHeader::Tcp {
            value: L4PortsSet { src, dst },
            mask: L4PortsSet {
                src: 0xffff,
                dst: 0xffff,
            },
        }
    }

    /// Sets both UDP ports.
    pub fn udp_exact(src: u16, dst: u16) -> SetHeader {
        SetHeader::Udp {
            value: L4PortsSet { src, dst },
            mask: L4PortsSet {
                src: 0xffff,
                dst: 0xffff,
            },
        }
    }
}
