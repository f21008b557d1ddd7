//! xlate: runs a packet's flow through a bridge's OpenFlow tables and
//! produces the datapath actions and the megaflow mask.
//!
//! Two flows are tracked, as in Open vSwitch: `flow`, the pipeline's view
//! (set-field changes it at once), and `base`, what the packet looks like
//! after the datapath actions emitted so far. Before anything leaves the
//! bridge, [`Xlate::commit`] emits the set/push/pop actions that turn `base`
//! into `flow`. Every bit the pipeline reads (classifier lookups, NORMAL,
//! dec_ttl, commit's protocol checks) goes into `wc`, whose datapath part is
//! the megaflow mask.
//!
//! A select group hashing on dp_hash, and `controller(pause)`, freeze the
//! pipeline: translation stops, and the callers add what they had left to
//! run to the frozen state as the stack unwinds. The first recirculates
//! into it; the second sends it to the controller, and NXT_RESUME brings
//! it back to [`Xlate::resume`].

use oxvs_datapath::action::{EthernetSet, Ipv4Set, Ipv6Set, L4PortsSet, SetHeader};
use oxvs_datapath::flow_key::{hash_words, mac_to_bytes, FlowKey, VLAN_PRESENT};
use oxvs_datapath::Action as DpAction;

use crate::flow::{from_key, get, key_part, put, FlowWords, FLOW_WORDS};
use crate::ofp::action::{port, Action, SubField};
use crate::ofp::field::Field;
use crate::ofp::message::FragHandling;
use crate::table::{ActionSet, FlowTables, TableRule};

/// OFPPC_* port config bits xlate honours.
const PC_PORT_DOWN: u32 = 1 << 0;
const PC_NO_RECV: u32 = 1 << 2;
const PC_NO_FLOOD: u32 = 1 << 4;
const PC_NO_FWD: u32 = 1 << 5;

/// Nested resubmits and gotos past which a translation stops (OVS: 64).
const MAX_DEPTH: usize = 64;

/// An OpenFlow action list as a flow entry holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfActions(pub Vec<Action>);

impl ActionSet for OfActions {
    fn outputs_to(&self, p: u32) -> bool {
        fn walk(acts: &[Action], p: u32) -> bool {
            acts.iter().any(|a| match a {
                Action::Output { port, .. } | Action::OutputTrunc { port, .. } => *port == p,
                Action::Enqueue { port, .. } => *port == p,
                Action::WriteActions(v) | Action::Clone(v) => walk(v, p),
                _ => false,
            })
        }
        walk(&self.0, p)
    }

    fn uses_group(&self, g: u32) -> bool {
        fn walk(acts: &[Action], g: u32) -> bool {
            acts.iter().any(|a| match a {
                Action::Group(x) => *x == g,
                Action::WriteActions(v) | Action::Clone(v) => walk(v, g),
                _ => false,
            })
        }
        walk(&self.0, g)
    }

    fn for_each_field(&self, f: &mut dyn FnMut(crate::ofp::field::Field)) {
        for a in &self.0 {
            a.for_each_field(f);
        }
    }
}

/// What xlate needs from the bridge besides the tables.
pub trait PortMap {
    /// The OpenFlow port of a datapath port.
    fn ofp_port(&self, dp_port: u32) -> Option<u32>;
    /// The datapath port of an OpenFlow port.
    fn dp_port(&self, ofp_port: u32) -> Option<u32>;
    /// Every OpenFlow port of the bridge (for flood/all), sorted.
    fn all_ports(&self) -> Vec<u32>;
    /// OFPPC_* config bits of an OpenFlow port (port-mod), 0 by default.
    fn config(&self, _ofp_port: u32) -> u32 {
        0
    }
    /// The userspace-action cookie that turns into this packet-in when the
    /// datapath sends the packet up.
    fn controller(&self, spec: PacketInSpec) -> u64;
    /// Whether a table miss goes to the controllers (some controller that
    /// takes table-miss packet-ins is connected).
    fn packet_in_on_miss(&self) -> bool {
        false
    }
    /// The NORMAL action: outputs (OpenFlow ports, with the VLAN tag each
    /// needs: None untagged) for a frame of this flow; reads and marks the
    /// fields it consults in `wc`.
    fn normal(&self, flow: &FlowWords, wc: &mut FlowWords) -> Vec<(u32, Option<u16>)>;
    /// The bridge's groups, meters and recirculation states (None: the
    /// bridge has none, `group` actions do nothing).
    fn groups(&self) -> Option<&crate::group::GroupState> {
        None
    }
    /// What the bridge does with IP fragments (OFPT_SET_CONFIG).
    fn frag_handling(&self) -> FragHandling {
        FragHandling::Normal
    }
}

/// Packet-in reasons (OFPR_*), with Open vSwitch's internal ones for a
/// table-miss rule's packet-in, which go out as the version says.
pub mod reason {
    pub const NO_MATCH: u8 = 0;
    pub const ACTION: u8 = 1;
    pub const INVALID_TTL: u8 = 2;
    pub const ACTION_SET: u8 = 3;
    pub const GROUP: u8 = 4;
    pub const PACKET_OUT: u8 = 5;
    /// A table-miss rule sent it: NO_MATCH from OpenFlow 1.3 on, ACTION
    /// before.
    pub const EXPLICIT_MISS: u8 = 6;
    /// No rule matched and the version sends misses to the controller
    /// (OpenFlow 1.0): NO_MATCH.
    pub const IMPLICIT_MISS: u8 = 7;
}

/// How a packet sent to the controller is reported.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketInSpec {
    pub reason: u8,
    pub table_id: u8,
    pub cookie: u64,
    pub max_len: u16,
    /// The controller action's userdata (only NXT_PACKET_IN2 carries it).
    pub userdata: Vec<u8>,
    /// The pipeline fields of [`PACKET_IN_METADATA`] that were nonzero at
    /// the controller action (in_port aside), for the packet-in's match.
    pub metadata: Vec<(Field, u128)>,
    /// The connections it goes to: those with this controller id.
    pub controller_id: u16,
    /// `controller(pause)`: where the pipeline goes on when a controller
    /// sends the packet back with NXT_RESUME (the frozen state's `actions`
    /// are empty: what is left is in its `outer` segments and action set).
    pub pause: Option<crate::group::Frozen>,
}

/// The fields a packet-in's match reports when nonzero, as Open vSwitch's
/// `flow_get_metadata`: tunnel, metadata, registers, mark, conntrack. A
/// controller (OVN's, say) reads its logical datapath and ports there.
pub const PACKET_IN_METADATA: [Field; 27] = [
    Field::TunnelId,
    Field::TunSrc,
    Field::TunDst,
    Field::TunIpv6Src,
    Field::TunIpv6Dst,
    Field::Metadata,
    Field::Reg0,
    Field::Reg1,
    Field::Reg2,
    Field::Reg3,
    Field::Reg4,
    Field::Reg5,
    Field::Reg6,
    Field::Reg7,
    Field::Reg8,
    Field::Reg9,
    Field::Reg10,
    Field::Reg11,
    Field::Reg12,
    Field::Reg13,
    Field::Reg14,
    Field::Reg15,
    Field::PktMark,
    Field::CtState,
    Field::CtZone,
    Field::CtMark,
    Field::CtLabel,
];

/// The result of a translation.
#[derive(Debug)]
pub struct Translation {
    pub mask: FlowKey,
    pub actions: Vec<DpAction>,
    /// Every rule the packet matched on the way (their counters get the
    /// megaflow's traffic).
    pub rules: Vec<TableRule<OfActions>>,
    /// Every group and meter the packet went through (their counters get
    /// the megaflow's traffic too).
    pub groups: Vec<crate::group::GroupUse>,
}

pub struct Xlate<'a, A: PortMap> {
    tables: &'a FlowTables<OfActions>,
    ports: &'a A,
    flow: FlowWords,
    base: FlowKey,
    wc: FlowWords,
    in_dp_port: u32,
    out: Vec<DpAction>,
    action_set: Vec<Action>,
    rules: Vec<TableRule<OfActions>>,
    depth: usize,
    exit: bool,
    /// Table and cookie of the rule whose actions are running (packet-in).
    cur_table: u8,
    cur_cookie: u64,
    /// Whether that rule is a table-miss rule (priority 0, matching
    /// everything): its packet-ins say "no match" (OFPR_EXPLICIT_MISS).
    cur_miss: bool,
    /// What an output to CONTROLLER reports as its reason here: ACTION,
    /// or inside a packet-out, a group or the action set, those.
    output_reason: u8,
    groups: Vec<crate::group::GroupUse>,
    /// A frozen state being completed while the stack unwinds.
    pending: Option<Pending>,
}

/// A frozen state being completed while the stack unwinds, and where the
/// action that names it waits in `out`: a `recirc` (a select group), or a
/// userspace action (`controller(pause)`, whose packet-in spec it is).
struct Pending {
    state: crate::group::Frozen,
    at: usize,
    pause: Option<PacketInSpec>,
}

fn mark(wc: &mut FlowWords, f: Field) {
    let _ = put(wc, f, u128::MAX);
}

fn getf(flow: &FlowWords, f: Field) -> u128 {
    get(flow, f).unwrap_or(0)
}

impl<'a, A: PortMap> Xlate<'a, A> {
    /// Translates a packet with datapath key `key` entering the pipeline.
    pub fn run(tables: &'a FlowTables<OfActions>, ports: &'a A, key: &FlowKey) -> Translation {
        Self::start(tables, ports, key, None)
    }

    /// Translates a packet-out: `actions` run on the packet instead of a
    /// table-0 lookup (a `resubmit` or `output:TABLE` still reaches the
    /// tables). `in_ofp` is the packet-out's in_port (None: none given).
    pub fn run_actions(
        tables: &'a FlowTables<OfActions>,
        ports: &'a A,
        key: &FlowKey,
        in_ofp: Option<u32>,
        actions: &[Action],
    ) -> Translation {
        Self::start(tables, ports, key, Some((in_ofp, actions)))
    }

    /// Translates a packet a controller sent back with NXT_RESUME, as
    /// Open vSwitch's `xlate_resume`: the pipeline fields come from the
    /// message's metadata (`in_ofp` and `metadata`, which the controller may
    /// have changed: OVN's pinctrl writes its answers into registers), the
    /// rest from the continuation: `frames`, innermost rule first, each run
    /// with its rule's table and cookie, then the action set.
    pub fn resume(
        tables: &'a FlowTables<OfActions>,
        ports: &'a A,
        key: &FlowKey,
        in_ofp: u32,
        metadata: &[(Field, u128)],
        frames: &[crate::ofp::message::ContinuationFrame],
        action_set: &[Action],
    ) -> Translation {
        let (mut x, mask) = Self::new(tables, ports, key);
        let _ = put(&mut x.flow, Field::InPort, in_ofp as u128);
        for (f, v) in metadata {
            let _ = put(&mut x.flow, *f, *v);
        }
        x.action_set = action_set.to_vec();
        for (n, f) in frames.iter().enumerate() {
            if x.exit {
                // Paused again: the frames not run yet go on after the
                // next resume, with the in_port the flow has now (each
                // frame's own changes are actions in it).
                let in_ofp = getf(&x.flow, Field::InPort) as u32;
                if let Some(p) = &mut x.pending {
                    p.state
                        .outer
                        .extend(frames[n..].iter().map(|f| crate::group::Segment {
                            table: f.table_id,
                            cookie: f.cookie,
                            in_ofp,
                            actions: f.actions.clone(),
                        }));
                }
                break;
            }
            x.cur_table = f.table_id;
            x.cur_cookie = f.cookie;
            x.actions(&f.actions, f.table_id);
        }
        x.finish(mask)
    }

    /// A translation of `key` with nothing run yet, and the megaflow mask
    /// every translation starts from.
    fn new(tables: &'a FlowTables<OfActions>, ports: &'a A, key: &FlowKey) -> (Self, FlowKey) {
        let x = Xlate {
            tables,
            ports,
            flow: from_key(key),
            base: *key,
            wc: [0u64; FLOW_WORDS],
            in_dp_port: key.in_port(),
            out: Vec::new(),
            action_set: Vec::new(),
            rules: Vec::new(),
            depth: 0,
            exit: false,
            cur_table: 0,
            cur_cookie: 0,
            cur_miss: false,
            output_reason: reason::ACTION,
            groups: Vec::new(),
            pending: None,
        };
        // What every megaflow matches, as Open vSwitch's xlate_wc_init: the
        // ethertype (and for IP the fragment bits) always, so that a
        // megaflow says what kind of packet it is for; TC flower, which
        // cannot say "untagged, any ethertype", depends on it.
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(u32::MAX);
        mask.set_recirc_id(u32::MAX);
        mask.set_eth_type(u16::MAX);
        if matches!(key.eth_type(), 0x0800 | 0x86dd) {
            mask.set_nw_frag(
                oxvs_datapath::flow_key::FRAG_ANY | oxvs_datapath::flow_key::FRAG_LATER,
            );
        }
        (x, mask)
    }

    fn start(
        tables: &'a FlowTables<OfActions>,
        ports: &'a A,
        key: &FlowKey,
        packet_out: Option<(Option<u32>, &[Action])>,
    ) -> Translation {
        let (mut x, mask) = Self::new(tables, ports, key);
        match packet_out {
            Some((in_ofp, actions)) => {
                let _ = put(
                    &mut x.flow,
                    Field::InPort,
                    in_ofp.unwrap_or(port::LOCAL) as u128,
                );
                x.output_reason = reason::PACKET_OUT;
                x.actions(actions, 0);
            }
            // A recirculated packet resumes the pipeline where a select
            // group froze it; an id nobody froze drops.
            None if key.recirc_id() != 0 => {
                let Some(st) = ports.groups().and_then(|g| g.thaw(key.recirc_id())) else {
                    return Translation {
                        mask,
                        actions: Vec::new(),
                        rules: Vec::new(),
                        groups: Vec::new(),
                    };
                };
                let _ = put(&mut x.flow, Field::InPort, st.in_ofp as u128);
                st.restore(&mut x.flow);
                x.action_set = st.action_set.clone();
                x.cur_table = st.table;
                x.cur_cookie = st.cookie;
                x.actions(&st.actions, st.table);
                // Then what the enclosing rules had left, innermost first.
                for (n, seg) in st.outer.iter().enumerate() {
                    if x.exit {
                        if let Some(p) = &mut x.pending {
                            p.state.outer.extend(st.outer[n..].iter().cloned());
                        }
                        break;
                    }
                    let _ = put(&mut x.flow, Field::InPort, seg.in_ofp as u128);
                    x.cur_table = seg.table;
                    x.cur_cookie = seg.cookie;
                    x.actions(&seg.actions, seg.table);
                }
            }
            None => match ports.ofp_port(key.in_port()) {
                // OFPPC_PORT_DOWN or OFPPC_NO_RECV: the port takes nothing in.
                Some(p) if ports.config(p) & (PC_PORT_DOWN | PC_NO_RECV) != 0 => {
                    return Translation {
                        mask,
                        actions: Vec::new(),
                        rules: Vec::new(),
                        groups: Vec::new(),
                    };
                }
                Some(p) => {
                    let _ = put(&mut x.flow, Field::InPort, p as u128);
                    x.table(0, true);
                }
                None => {
                    return Translation {
                        mask,
                        actions: Vec::new(),
                        rules: Vec::new(),
                        groups: Vec::new(),
                    }
                }
            },
        }
        x.finish(mask)
    }

    /// Runs the action set unless the pipeline stopped, completes any
    /// frozen state, and gives the result.
    fn finish(mut self, mut mask: FlowKey) -> Translation {
        self.finish_freeze();
        if !self.exit {
            let set = std::mem::take(&mut self.action_set);
            if self.output_reason == reason::ACTION {
                self.output_reason = reason::ACTION_SET;
            }
            self.actions(&sort_action_set(set), 0);
            self.finish_freeze();
        }
        let wc = key_part(&self.wc);
        for i in 0..wc.words.len() {
            mask.words[i] |= wc.words[i];
        }
        Translation {
            mask,
            actions: self.out,
            rules: self.rules,
            groups: self.groups,
        }
    }

    /// Looks `flow` up in table `t` and runs the winning rule's actions.
    ///
    /// A miss drops, unless the lookup `may_packet_in` (the pipeline's
    /// first lookup, or a goto_table; not a resubmit) and a controller
    /// wants misses (one that speaks OpenFlow 1.0, whose table-miss sends
    /// to the controller; from 1.3 on a controller installs a table-miss
    /// rule instead, a rule like any other), as Open vSwitch's miss rule.
    fn table(&mut self, t: u8, may_packet_in: bool) {
        if self.depth >= MAX_DEPTH || self.exit {
            return;
        }
        self.depth += 1;
        let rule = self.lookup(t);
        let saved = (self.cur_table, self.cur_cookie, self.cur_miss);
        if let Some(r) = rule {
            let acts = r.value.actions.load_full();
            self.rules.push(r.clone());
            self.cur_table = t;
            self.cur_cookie = r.value.cookie.load(std::sync::atomic::Ordering::Relaxed);
            self.cur_miss = r.priority == 0 && r.value.matched.is_catchall();
            self.actions(&acts.0, t);
        } else if may_packet_in && self.ports.packet_in_on_miss() {
            // Open vSwitch's internal miss rule (cookie 0), which for the
            // default miss behaviour does not look at the port's
            // OFPPC_NO_PACKET_IN.
            self.cur_table = t;
            self.cur_cookie = 0;
            self.cur_miss = false;
            self.controller(reason::IMPLICIT_MISS, u16::MAX, &[], false, 0);
        }
        (self.cur_table, self.cur_cookie, self.cur_miss) = saved;
        self.depth -= 1;
    }

    /// The rule of table `t` for the packet, with the bridge's fragment
    /// handling, as Open vSwitch's `rule_dpif_lookup_from_table`: outside
    /// nx-match mode a fragment is looked up as if it had no L4 ports
    /// (normal) or matches nothing and is dropped (drop). The megaflow
    /// always matches the fragment bits (see [`Xlate::start`]), so it holds
    /// for fragments only.
    fn lookup(&mut self, t: u8) -> Option<TableRule<OfActions>> {
        let frag = getf(&self.flow, Field::IpFrag) as u8 & oxvs_datapath::flow_key::FRAG_ANY != 0;
        let ip = matches!(getf(&self.flow, Field::EthType), 0x0800 | 0x86dd);
        if !(frag && ip) {
            return self.tables.lookup(t, &self.flow, &mut self.wc).cloned();
        }
        match self.ports.frag_handling() {
            FragHandling::NxMatch => self.tables.lookup(t, &self.flow, &mut self.wc).cloned(),
            FragHandling::Drop => None,
            // Reassembly is refused when asked for (as by OVS's userspace
            // datapath), so it never gets here; were it to, normal is the
            // closest.
            FragHandling::Normal | FragHandling::Reassemble => {
                let ports = (
                    getf(&self.flow, Field::TcpSrc),
                    getf(&self.flow, Field::TcpDst),
                );
                let _ = put(&mut self.flow, Field::TcpSrc, 0);
                let _ = put(&mut self.flow, Field::TcpDst, 0);
                let r = self.tables.lookup(t, &self.flow, &mut self.wc).cloned();
                let _ = put(&mut self.flow, Field::TcpSrc, ports.0);
                let _ = put(&mut self.flow, Field::TcpDst, ports.1);
                r
            }
        }
    }

    fn actions(&mut self, acts: &[Action], table: u8) {
        let mut goto = None;
        for (i, a) in acts.iter().enumerate() {
            if self.exit {
                // Frozen below: the rest of this list runs after thawing.
                self.unroll(&acts[i..], table, goto);
                return;
            }
            match a {
                Action::Group(g) => {
                    // A missing group ends this action list (as in OVS);
                    // a freeze ends the translation.
                    if !self.group(*g, table) {
                        if self.exit {
                            self.unroll(&acts[i + 1..], table, goto);
                        }
                        return;
                    }
                }
                Action::Output {
                    port: port::CONTROLLER,
                    max_len,
                } => self.controller(self.output_reason, *max_len, &[], false, 0),
                Action::Controller(c) => {
                    self.controller(c.reason, c.max_len, &c.userdata, c.pause, c.controller_id)
                }
                Action::Output { port, .. } => self.output(*port),
                Action::OutputTrunc { port, max_len } => {
                    self.commit();
                    self.out.push(DpAction::Trunc(*max_len));
                    self.output(*port);
                }
                Action::OutputReg { src, .. } => {
                    // A 16-bit port number, as Open vSwitch's output_reg
                    // (larger values output nothing).
                    let p = self.read_subfield(src);
                    if let Ok(p) = u16::try_from(p) {
                        self.output(crate::ofp::matching::port_from_u16(p));
                    }
                }
                Action::Enqueue { port, .. } => self.output(*port),
                Action::SetField(sf) => {
                    let v = sf.value.to_u128().unwrap_or(0);
                    let m = sf.mask.to_u128().unwrap_or(u128::MAX);
                    self.set_masked(sf.field, v, m);
                }
                Action::RegMove { src, dst, .. } => {
                    let v = self.read_subfield(src);
                    self.write_subfield(dst, v);
                }
                Action::SetTunnel { id, .. } => {
                    self.set_masked(Field::TunnelId, *id as u128, u128::MAX)
                }
                Action::PushVlan(_) => {
                    // A new tag copies the old one's VID/PCP, or is 0.
                    mark(&mut self.wc, Field::VlanTci);
                    let tci = getf(&self.flow, Field::VlanTci) as u16;
                    let _ = put(&mut self.flow, Field::VlanTci, (tci | VLAN_PRESENT) as u128);
                }
                Action::PopVlan { .. } => {
                    // Whether a tag was there decides what commit emits.
                    mark(&mut self.wc, Field::VlanTci);
                    let _ = put(&mut self.flow, Field::VlanTci, 0);
                }
                Action::SetVlanVid {
                    vid,
                    push_vlan_if_needed,
                    ..
                } => {
                    mark(&mut self.wc, Field::VlanTci);
                    let tci = getf(&self.flow, Field::VlanTci) as u16;
                    if tci & VLAN_PRESENT != 0 || *push_vlan_if_needed {
                        let new = (tci & 0xe000) | VLAN_PRESENT | (vid & 0x0fff);
                        let _ = put(&mut self.flow, Field::VlanTci, new as u128);
                    }
                }
                Action::SetVlanPcp {
                    pcp,
                    push_vlan_if_needed,
                    ..
                } => {
                    mark(&mut self.wc, Field::VlanTci);
                    let tci = getf(&self.flow, Field::VlanTci) as u16;
                    if tci & VLAN_PRESENT != 0 || *push_vlan_if_needed {
                        let new = (tci & 0x0fff) | VLAN_PRESENT | ((*pcp as u16 & 7) << 13);
                        let _ = put(&mut self.flow, Field::VlanTci, new as u128);
                    }
                }
                Action::DecTtl { .. } => {
                    mark(&mut self.wc, Field::EthType);
                    mark(&mut self.wc, Field::NwTtl);
                    let et = getf(&self.flow, Field::EthType);
                    if et != 0x0800 && et != 0x86dd {
                        continue;
                    }
                    let ttl = getf(&self.flow, Field::NwTtl);
                    if ttl <= 1 {
                        // Expired: the packet stops here (no packet-in yet).
                        self.exit = true;
                        return;
                    }
                    let _ = put(&mut self.flow, Field::NwTtl, ttl - 1);
                }
                Action::Resubmit {
                    in_port, table: t, ..
                } => {
                    let saved = getf(&self.flow, Field::InPort);
                    if *in_port != port::IN_PORT {
                        let _ = put(&mut self.flow, Field::InPort, *in_port as u128);
                    }
                    self.table(t.unwrap_or(table), false);
                    let _ = put(&mut self.flow, Field::InPort, saved);
                }
                Action::Clone(inner) => {
                    let (flow, base, set) = (self.flow, self.base, self.action_set.clone());
                    self.actions(inner, table);
                    self.finish_freeze();
                    self.flow = flow;
                    self.base = base;
                    self.action_set = set;
                    self.exit = false;
                    // Undo the clone's header changes on the real packet.
                    self.force_commit_from(base);
                }
                Action::WriteMetadata { value, mask } => {
                    let cur = getf(&self.flow, Field::Metadata) as u64;
                    let new = (cur & !mask) | (value & mask);
                    let _ = put(&mut self.flow, Field::Metadata, new as u128);
                }
                Action::ClearActions => self.action_set.clear(),
                Action::WriteActions(v) => self.action_set.extend(v.iter().cloned()),
                Action::GotoTable(t) => goto = Some(*t),
                Action::Exit => {
                    self.exit = true;
                    return;
                }
                // The datapath's meter action rate-limits; the counter
                // gets the packets that reached the meter.
                Action::Meter(m) => {
                    let ports: &A = self.ports;
                    if let Some((c, dp)) = ports.groups().and_then(|g| g.meter(*m)) {
                        self.groups.push(crate::group::GroupUse::Meter(c));
                        self.out.push(DpAction::Meter(dp));
                    }
                }
                Action::Note(_) | Action::SetQueue(_) | Action::PopQueue => {}
                // Typed sets that have a set-field meaning.
                other => {
                    if let Some(sf) = other.to_set_field() {
                        let v = sf.value.to_u128().unwrap_or(0);
                        let m = sf.mask.to_u128().unwrap_or(u128::MAX);
                        self.set_masked(sf.field, v, m);
                    } else if let Action::SetL4SrcPort { port: p, .. } = other {
                        self.set_l4(true, *p);
                    } else if let Action::SetL4DstPort { port: p, .. } = other {
                        self.set_l4(false, *p);
                    } else {
                        // Flow mods with actions the switch cannot execute are
                        // refused when installed (see `unsupported`); anything
                        // else reaching here is a no-op.
                        tracing::debug!(action = ?other, "action not executed");
                    }
                }
            }
        }
        if let Some(t) = goto {
            if self.exit {
                self.unroll(&[], table, Some(t));
            } else {
                self.table(t, true);
            }
        }
    }

    fn set_l4(&mut self, src: bool, p: u16) {
        mark(&mut self.wc, Field::IpProto);
        let f = if src { Field::TcpSrc } else { Field::TcpDst };
        self.set_masked(f, p as u128, u128::MAX);
    }

    /// Sets bits of a field. The bits set are also matched: whether commit
    /// emits a rewrite depends on their old value (as in Open vSwitch, which
    /// unwildcards every field a set_field writes).
    fn set_masked(&mut self, f: Field, v: u128, m: u128) {
        if f == Field::InPort {
            // Written in its 16-bit form (see `action_value`).
            let cur = self.action_value(f);
            let new = ((cur & !m) | (v & m)) as u16;
            let _ = put(
                &mut self.flow,
                f,
                u128::from(crate::ofp::matching::port_from_u16(new)),
            );
            mark(&mut self.wc, f);
            return;
        }
        let cur = getf(&self.flow, f);
        let _ = put(&mut self.flow, f, (cur & !m) | (v & m));
        let w = getf(&self.wc, f);
        let _ = put(&mut self.wc, f, w | m);
    }

    fn read_subfield(&mut self, sf: &SubField) -> u128 {
        if sf.field == Field::InPort {
            mark(&mut self.wc, Field::InPort);
        } else {
            let _ = put(&mut self.wc, sf.field, field_mask(sf));
        }
        (self.action_value(sf.field) >> sf.ofs) & ones(sf.n_bits)
    }

    fn write_subfield(&mut self, sf: &SubField, v: u128) {
        let m = field_mask(sf);
        self.set_masked(sf.field, v << sf.ofs, m);
    }

    /// A field's value as actions see it: `in_port` is the 16-bit
    /// NXM_OF_IN_PORT (reserved ports 0xff00 and up), as in Open vSwitch,
    /// while the pipeline keeps 32-bit port numbers.
    fn action_value(&self, f: Field) -> u128 {
        let v = getf(&self.flow, f);
        if f == Field::InPort {
            u128::from(crate::ofp::matching::port_to_u16(v as u32).unwrap_or(u16::MAX))
        } else {
            v
        }
    }

    /// Sends the packet, as `flow` now describes it, to OpenFlow port `p`.
    fn output(&mut self, p: u32) {
        let in_ofp = getf(&self.flow, Field::InPort) as u32;
        match p {
            port::IN_PORT => self.emit_output(self.in_dp_port),
            port::FLOOD | port::ALL => {
                let skip =
                    if p == port::FLOOD { PC_NO_FLOOD } else { 0 } | PC_PORT_DOWN | PC_NO_FWD;
                for q in self.ports.all_ports() {
                    if q != in_ofp && self.ports.config(q) & skip == 0 {
                        if let Some(d) = self.ports.dp_port(q) {
                            self.emit_output(d);
                        }
                    }
                }
            }
            port::NORMAL => {
                let outs = self.ports.normal(&self.flow, &mut self.wc);
                let flooding = outs.len() > 1;
                let saved = getf(&self.flow, Field::VlanTci);
                for (q, tag) in outs {
                    let tci = match tag {
                        Some(v) => (saved as u16 & 0xe000) | VLAN_PRESENT | v,
                        None => 0,
                    };
                    let _ = put(&mut self.flow, Field::VlanTci, tci as u128);
                    // NO_FLOOD matters only when NORMAL floods.
                    let skip = PC_PORT_DOWN | PC_NO_FWD | if flooding { PC_NO_FLOOD } else { 0 };
                    if self.ports.config(q) & skip != 0 {
                        continue;
                    }
                    if let Some(d) = self.ports.dp_port(q) {
                        self.emit_output(d);
                    }
                }
                let _ = put(&mut self.flow, Field::VlanTci, saved);
            }
            // A packet-out's output:TABLE runs the packet through the tables.
            port::TABLE if self.depth == 0 => self.table(0, true),
            // No packet-in yet: a send to the controller is dropped.
            port::CONTROLLER | port::TABLE | port::ANY => {}
            q if q == in_ofp => {} // OpenFlow never sends back out of the input port implicitly.
            q if self.ports.config(q) & (PC_PORT_DOWN | PC_NO_FWD) != 0 => {}
            q => {
                if let Some(d) = self.ports.dp_port(q) {
                    self.emit_output(d);
                }
            }
        }
    }

    /// Sends the packet, as it is now, to the controllers. With `pause`
    /// the translation stops here, as Open vSwitch's freezing: the
    /// userspace action ends the datapath actions (so every packet of the
    /// megaflow goes up), and the packet-in carries the frozen state, which
    /// the callers complete with what they had left to run as the stack
    /// unwinds ([`Self::unroll`], then [`Self::finish_freeze`]).
    fn controller(
        &mut self,
        reason: u8,
        max_len: u16,
        userdata: &[u8],
        pause: bool,
        controller_id: u16,
    ) {
        self.commit();
        let reason = if reason == reason::ACTION && self.cur_miss {
            reason::EXPLICIT_MISS
        } else {
            reason
        };
        // Whether a field is reported depends on its value, so the
        // megaflow must know all of it (registers and metadata start at
        // zero for every packet and are not in the datapath key; tunnel,
        // mark and conntrack fields are).
        let metadata = PACKET_IN_METADATA
            .iter()
            .filter_map(|&f| {
                mark(&mut self.wc, f);
                let v = getf(&self.flow, f);
                (v != 0).then_some((f, v))
            })
            .collect();
        let spec = PacketInSpec {
            reason,
            table_id: self.cur_table,
            cookie: self.cur_cookie,
            max_len,
            userdata: userdata.to_vec(),
            metadata,
            controller_id,
            pause: None,
        };
        // A state already frozen (a select group's) ends the translation
        // before any pause can run, so `pending` is free here.
        if pause && self.pending.is_none() {
            let state = crate::group::Frozen {
                table: self.cur_table,
                cookie: self.cur_cookie,
                in_ofp: getf(&self.flow, Field::InPort) as u32,
                meta: crate::group::Frozen::meta_of(&self.flow),
                actions: Vec::new(),
                outer: Vec::new(),
                action_set: self.action_set.clone(),
            };
            self.pending = Some(Pending {
                state,
                at: self.out.len(),
                pause: Some(spec),
            });
            self.out.push(DpAction::Userspace { userdata: 0 });
            self.exit = true;
            return;
        }
        let id = self.ports.controller(spec);
        self.out.push(DpAction::Userspace { userdata: id });
    }

    fn emit_output(&mut self, dp: u32) {
        self.commit();
        self.out.push(DpAction::Output(dp));
    }

    /// Emits the datapath actions that make the packet (`base`) look like
    /// `flow`.
    fn commit(&mut self) {
        let target = key_part(&self.flow);
        let mut base = self.base;
        self.commit_vlan(&mut base, &target);
        self.commit_eth(&mut base, &target);
        self.commit_l3_l4(&mut base, &target);
        self.base = base;
    }

    /// After a clone, the datapath packet must look like `old` again.
    fn force_commit_from(&mut self, old: FlowKey) {
        let flow = self.flow;
        self.flow = from_key(&old);
        // `base` is what the clone left; commit back towards `old`.
        self.commit();
        self.flow = flow;
    }

    fn commit_vlan(&mut self, base: &mut FlowKey, t: &FlowKey) {
        let (b, n) = (base.vlan_tci(), t.vlan_tci());
        if b == n {
            return;
        }
        mark(&mut self.wc, Field::VlanTci);
        let wire = |tci: u16| tci & !VLAN_PRESENT;
        match (b & VLAN_PRESENT != 0, n & VLAN_PRESENT != 0) {
            (false, true) => self.out.push(DpAction::PushVlan {
                tpid: 0x8100,
                tci: wire(n),
            }),
            (true, false) => self.out.push(DpAction::PopVlan),
            (true, true) => self.out.push(DpAction::Set(SetHeader::Vlan {
                tci: wire(n),
                mask: !VLAN_PRESENT,
            })),
            (false, false) => {}
        }
        base.set_vlan_tci(n);
    }

    fn commit_eth(&mut self, base: &mut FlowKey, t: &FlowKey) {
        let (ds, dd) = (base.eth_src() ^ t.eth_src(), base.eth_dst() ^ t.eth_dst());
        if ds == 0 && dd == 0 {
            return;
        }
        // Values carry only their masked bits, so that the action list
        // depends on nothing the megaflow does not match.
        let (ms, md) = (mask_of(ds), mask_of(dd));
        self.out.push(DpAction::Set(SetHeader::Ethernet {
            value: EthernetSet {
                src: mac_to_bytes(t.eth_src() & ms),
                dst: mac_to_bytes(t.eth_dst() & md),
            },
            mask: EthernetSet {
                src: mac_to_bytes(ms),
                dst: mac_to_bytes(md),
            },
        }));
        base.set_eth_src(t.eth_src());
        base.set_eth_dst(t.eth_dst());
    }

    fn commit_l3_l4(&mut self, base: &mut FlowKey, t: &FlowKey) {
        // Words 10.. hold L3 and L4; nothing changed there, nothing to read.
        if base.words[10..] == t.words[10..] {
            return;
        }
        mark(&mut self.wc, Field::EthType);
        match t.eth_type() {
            0x0800 => {
                let d = (
                    base.nw_src() ^ t.nw_src(),
                    base.nw_dst() ^ t.nw_dst(),
                    base.nw_tos() ^ t.nw_tos(),
                    base.nw_ttl() ^ t.nw_ttl(),
                );
                if d != (0, 0, 0, 0) {
                    let mask = Ipv4Set {
                        src: mask_of32(d.0),
                        dst: mask_of32(d.1),
                        tos: if d.2 != 0 { 0xff } else { 0 },
                        ttl: if d.3 != 0 { 0xff } else { 0 },
                    };
                    let value = Ipv4Set {
                        src: t.nw_src() & mask.src,
                        dst: t.nw_dst() & mask.dst,
                        tos: t.nw_tos() & mask.tos,
                        ttl: t.nw_ttl() & mask.ttl,
                    };
                    self.out
                        .push(DpAction::Set(SetHeader::Ipv4 { value, mask }));
                }
            }
            0x86dd => {
                let d = (
                    base.ipv6_src() ^ t.ipv6_src(),
                    base.ipv6_dst() ^ t.ipv6_dst(),
                    base.nw_tos() ^ t.nw_tos(),
                    base.nw_ttl() ^ t.nw_ttl(),
                    base.ipv6_label() ^ t.ipv6_label(),
                );
                if d != (0, 0, 0, 0, 0) {
                    let m128 = |x: u128| if x != 0 { u128::MAX } else { 0 };
                    let mask = Ipv6Set {
                        src: m128(d.0),
                        dst: m128(d.1),
                        tclass: if d.2 != 0 { 0xff } else { 0 },
                        hlimit: if d.3 != 0 { 0xff } else { 0 },
                        label: if d.4 != 0 { 0x000f_ffff } else { 0 },
                    };
                    let value = Ipv6Set {
                        src: t.ipv6_src() & mask.src,
                        dst: t.ipv6_dst() & mask.dst,
                        tclass: t.nw_tos() & mask.tclass,
                        hlimit: t.nw_ttl() & mask.hlimit,
                        label: t.ipv6_label() & mask.label,
                    };
                    self.out
                        .push(DpAction::Set(SetHeader::Ipv6 { value, mask }));
                }
            }
            _ => {}
        }
        let (ds, dd) = (base.tp_src() ^ t.tp_src(), base.tp_dst() ^ t.tp_dst());
        if ds != 0 || dd != 0 {
            mark(&mut self.wc, Field::IpProto);
            let mask = L4PortsSet {
                src: if ds != 0 { 0xffff } else { 0 },
                dst: if dd != 0 { 0xffff } else { 0 },
            };
            let value = L4PortsSet {
                src: t.tp_src() & mask.src,
                dst: t.tp_dst() & mask.dst,
            };
            match t.nw_proto() {
                6 => self.out.push(DpAction::Set(SetHeader::Tcp { value, mask })),
                17 => self.out.push(DpAction::Set(SetHeader::Udp { value, mask })),
                _ => {}
            }
        }
        base.words[10..].copy_from_slice(&t.words[10..]);
    }
}

/// Groups (see [`crate::group`]): ALL and INDIRECT run every bucket, FF
/// the first live one, SELECT the one its selection method picks. A
/// bucket's actions run as an action set, on a copy of the flow (as OVS's
/// `xlate_group_bucket` does): the flow after the group is the flow before.
impl<A: PortMap> Xlate<'_, A> {
    /// Runs group `id`. False if the action list must stop: the group does
    /// not exist, or the translation froze (then `exit` is set, and the
    /// callers unroll what they had left into the frozen state).
    fn group(&mut self, id: u32, table: u8) -> bool {
        use crate::group::{GroupUse, Selection};
        use crate::ofp::group_msg::GroupType;
        let ports: &A = self.ports;
        let Some(gs) = ports.groups() else {
            return false;
        };
        let Some(g) = gs.group(id) else {
            tracing::debug!(group = id, "output to nonexistent group");
            return false;
        };
        if self.depth >= MAX_DEPTH {
            return true;
        }
        // Every port the bridge has is live (no link state here).
        let live = |p: u32| ports.dp_port(p).is_some();
        let pick = match g.group_type {
            GroupType::All | GroupType::Indirect => {
                for b in &g.buckets {
                    self.bucket(&b.actions, table);
                }
                self.groups.push(GroupUse::Group {
                    group: g.clone(),
                    bucket: None,
                });
                return true;
            }
            GroupType::FastFailover => gs.first_live(&g, &live, 0),
            GroupType::Select => match &g.selection {
                Selection::DpHash { basis, mask, map } => {
                    let dp_hash = key_part(&self.flow).dp_hash();
                    if dp_hash == 0 {
                        // Not hashed yet (a fresh packet always has 0, so
                        // the megaflow may as well say so).
                        self.mark_dp_hash(u32::MAX);
                        self.freeze_for_hash(id, table, *basis);
                        return false;
                    }
                    self.mark_dp_hash(*mask);
                    // From the packet's hash value on, the first live bucket.
                    (0..=*mask)
                        .filter_map(|i| map.get((dp_hash.wrapping_add(i) & mask) as usize))
                        .copied()
                        .find(|b| {
                            g.buckets
                                .get(*b)
                                .is_some_and(|bk| gs.bucket_is_live(&g, bk, &live, 0))
                        })
                }
                Selection::Hash => {
                    let basis = self.hash_fields(&g.props);
                    gs.best_live(&g, basis, &live)
                }
                Selection::Default | Selection::None => {
                    let basis = self.symmetric_l4_hash();
                    gs.best_live(&g, basis, &live)
                }
            },
        };
        if let Some(i) = pick {
            if let Some(b) = g.buckets.get(i) {
                self.bucket(&b.actions, table);
            }
            self.groups.push(GroupUse::Group {
                group: g.clone(),
                bucket: Some(i),
            });
        }
        true
    }

    /// Runs one bucket on a copy of the flow and action set.
    fn bucket(&mut self, acts: &[Action], table: u8) {
        let list = crate::group::bucket_action_list(acts);
        let (flow, set, why) = (self.flow, self.action_set.clone(), self.output_reason);
        if why != reason::PACKET_OUT {
            self.output_reason = reason::GROUP;
        }
        self.depth += 1;
        self.actions(&list, table);
        self.finish_freeze();
        self.depth -= 1;
        self.flow = flow;
        self.action_set = set;
        self.output_reason = why;
        // A bucket that exits (or freezes) does not end what follows the
        // group action.
        self.exit = false;
    }

    fn mark_dp_hash(&mut self, mask: u32) {
        let mut m = FlowKey::ZERO;
        m.set_dp_hash(mask);
        for (w, b) in self.wc.iter_mut().zip(m.words.iter()) {
            *w |= *b;
        }
    }

    /// Stops here: the packet gets its dp_hash and recirculates, and the
    /// recirculated packet resumes with the group action, then whatever the
    /// unwinding callers add ([`Self::unroll`]). The recirculation id is
    /// filled in by [`Self::finish_freeze`] once the state is complete.
    fn freeze_for_hash(&mut self, id: u32, table: u8, basis: u32) {
        self.commit();
        let state = crate::group::Frozen {
            table,
            cookie: self.cur_cookie,
            in_ofp: getf(&self.flow, Field::InPort) as u32,
            meta: crate::group::Frozen::meta_of(&self.flow),
            actions: vec![Action::Group(id)],
            outer: Vec::new(),
            action_set: self.action_set.clone(),
        };
        self.out.push(DpAction::Hash { basis });
        self.pending = Some(Pending {
            state,
            at: self.out.len(),
            pause: None,
        });
        self.out.push(DpAction::Recirc(0));
        self.exit = true;
    }

    /// While a frozen state is pending, adds what a frame still had to run
    /// (`rest`, then its pending goto) in that frame's context.
    fn unroll(&mut self, rest: &[Action], table: u8, goto: Option<u8>) {
        let in_ofp = getf(&self.flow, Field::InPort) as u32;
        let cookie = self.cur_cookie;
        if let Some(Pending { state: st, .. }) = &mut self.pending {
            let mut actions = rest.to_vec();
            actions.extend(goto.map(Action::GotoTable));
            if !actions.is_empty() {
                st.outer.push(crate::group::Segment {
                    table,
                    cookie,
                    in_ofp,
                    actions,
                });
            }
        }
    }

    /// Completes a pending frozen state: allocates (or finds) its
    /// recirculation id and writes it into the `recirc` action, or, for a
    /// pause, interns the packet-in that carries it and writes that into
    /// the userspace action.
    fn finish_freeze(&mut self) {
        let Some(Pending { state, at, pause }) = self.pending.take() else {
            return;
        };
        let ports: &A = self.ports;
        let action = match pause {
            Some(spec) => DpAction::Userspace {
                userdata: ports.controller(PacketInSpec {
                    pause: Some(state),
                    ..spec
                }),
            },
            None => DpAction::Recirc(ports.groups().map_or(0, |g| g.freeze(state))),
        };
        if let Some(a) = self.out.get_mut(at) {
            *a = action;
        }
    }

    /// `selection_method=hash`: a hash of the group's fields, masked, each
    /// read only if its prerequisites hold.
    fn hash_fields(&mut self, props: &crate::ofp::group_msg::GroupProps) -> u32 {
        let mut basis = hash_words(&[props.selection_method_param]) as u32;
        for (f, m) in &props.fields {
            let pre = f.prereq();
            if !pre.eth_types().is_empty() {
                mark(&mut self.wc, Field::EthType);
                let et = getf(&self.flow, Field::EthType) as u16;
                if !pre.eth_types().contains(&et) {
                    continue;
                }
            }
            if let Some(p) = pre.ip_proto() {
                mark(&mut self.wc, Field::IpProto);
                if getf(&self.flow, Field::IpProto) as u8 != p {
                    continue;
                }
            }
            let mask = m.to_u128().unwrap_or(u128::MAX);
            let v = getf(&self.flow, *f) & mask;
            basis = hash_words(&[u64::from(basis), v as u64, (v >> 64) as u64]) as u32;
            let w = getf(&self.wc, *f);
            let _ = put(&mut self.wc, *f, w | mask);
        }
        basis
    }

    /// OVS's `flow_hash_symmetric_l4` (both directions of a connection
    /// hash alike), with the fields it reads in the megaflow.
    fn symmetric_l4_hash(&mut self) -> u32 {
        for f in [Field::EthSrc, Field::EthDst, Field::EthType, Field::VlanVid] {
            mark(&mut self.wc, f);
        }
        let g = |x: &Self, f: Field| getf(&x.flow, f);
        let mut words = vec![
            (g(self, Field::EthSrc) ^ g(self, Field::EthDst)) as u64,
            (g(self, Field::EthType) as u64) << 16 | g(self, Field::VlanVid) as u64,
        ];
        let et = g(self, Field::EthType);
        let (src, dst) = match et {
            0x0800 => (Field::Ipv4Src, Field::Ipv4Dst),
            0x86dd => (Field::Ipv6Src, Field::Ipv6Dst),
            _ => return hash_words(&words) as u32,
        };
        for f in [src, dst, Field::IpProto] {
            mark(&mut self.wc, f);
        }
        let a = g(self, src) ^ g(self, dst);
        words.extend([a as u64, (a >> 64) as u64]);
        let proto = g(self, Field::IpProto);
        words.push(proto as u64);
        if matches!(proto, 6 | 17 | 132) {
            mark(&mut self.wc, Field::TcpSrc);
            mark(&mut self.wc, Field::TcpDst);
            words.push((g(self, Field::TcpSrc) ^ g(self, Field::TcpDst)) as u64);
        }
        hash_words(&words) as u32
    }
}

fn mask_of(diff: u64) -> u64 {
    if diff != 0 {
        (1u64 << 48) - 1
    } else {
        0
    }
}

fn mask_of32(diff: u32) -> u32 {
    if diff != 0 {
        u32::MAX
    } else {
        0
    }
}

fn ones(bits: u16) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn field_mask(sf: &SubField) -> u128 {
    ones(sf.n_bits) << sf.ofs
}

/// OpenFlow's action-set execution order (1.3, 5.10): everything that
/// changes the packet first, then group or output.
fn sort_action_set(set: Vec<Action>) -> Vec<Action> {
    let (outs, rest): (Vec<Action>, Vec<Action>) = set
        .into_iter()
        .partition(|a| matches!(a, Action::Output { .. } | Action::Group(_)));
    // Only the last output of the set counts, as only one output is kept.
    rest.into_iter().chain(outs.into_iter().last()).collect()
}

/// The reason a flow's actions cannot be executed by this switch, if any:
/// flow_mods carrying them are refused instead of silently misbehaving.
pub fn unsupported(acts: &[Action]) -> Option<&'static str> {
    acts.iter().find_map(|a| match a {
        Action::Ct(_) | Action::CtClear | Action::Nat(_) => Some("ct"),
        Action::Learn(_) => Some("learn"),
        Action::Conjunction { .. } => Some("conjunction"),
        Action::Multipath(_) => Some("multipath"),
        Action::Bundle(_) => Some("bundle"),
        Action::Sample(_) => Some("sample"),
        Action::StackPush(_) | Action::StackPop(_) => Some("stack"),
        Action::PushMpls(_) | Action::PopMpls(_) => Some("mpls"),
        Action::CheckPktLarger { .. } => Some("check_pkt_larger"),
        Action::Encap(_) | Action::Decap { .. } | Action::DecNshTtl => Some("encap"),
        Action::WriteActions(v) | Action::Clone(v) => unsupported(v),
        _ => None,
    })
}
