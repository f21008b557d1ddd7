//! A bridge's group table, meter table and the frozen pipeline states of
//! select groups that recirculate.
//!
//! Groups follow Open vSwitch's `ofproto.c`: ADD refuses an existing id
//! (GROUP_EXISTS), MODIFY an unknown one (UNKNOWN_GROUP), DELETE removes
//! the group and every flow that uses it, OpenFlow 1.5's INSERT_BUCKET and
//! REMOVE_BUCKET rebuild the bucket list, and a group whose buckets would
//! reach itself through `group` actions is refused with OFPGMFC_LOOP (OVS
//! leaves loops to xlate's depth limit; we check them up front and say so
//! with the CHAINING_CHECKS capability). Each group keeps packet and byte
//! counters, per bucket too, credited by the revalidator from the megaflows
//! whose translation went through the group.
//!
//! Select groups use Open vSwitch's default selection method, `dp_hash`,
//! whenever the bucket weights fit in 256 hash values: the first
//! translation of a packet emits the datapath `hash` action and
//! `recirc(id)`, where `id` names a [`Frozen`] state (the pipeline metadata
//! and the actions still to run, starting with the group action itself);
//! the recirculated packet, with its dp_hash filled in and `recirc_id = id`
//! in its key, is translated again from that state, and the group picks its
//! bucket from a table indexed by `dp_hash & mask` (see [`Selection`]).
//! Otherwise (weights too uneven, or `selection_method=hash`) the bucket is
//! chosen in xlate from a hash of the flow's fields.
//!
//! Meters are kept, configured and dumped, and count the traffic of the
//! flows that use them; each has a datapath meter (token buckets) that the
//! megaflows' meter action runs packets through, so drop bands rate-limit
//! and count what they drop. DSCP-remark bands are refused
//! (OFPMMFC_BAD_BAND), as by Open vSwitch's userspace datapath.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use oxvs_datapath::flow_key::{hash_words, KEY_WORDS};
use parking_lot::{Mutex, RwLock};

use crate::bridge::Bridge;
use crate::flow::{FlowWords, FLOW_WORDS};
use crate::ofp::action::Action;
use crate::ofp::error::{BadRequest, OfpError};
use crate::ofp::flow_msg::{FlowMod, FlowModCommand};
use crate::ofp::group_msg::{
    BandStats, Bucket, BucketCounter, GroupCommand, GroupDesc, GroupMod, GroupProps, GroupStats,
    GroupType, MeterCommand, MeterConfig, MeterMod, MeterStats, BUCKET_ALL, BUCKET_FIRST,
    BUCKET_LAST, BUCKET_MAX, OFPG_ALL, OFPG_ANY, OFPG_MAX, OFPM_ALL, OFPM_CONTROLLER, OFPM_MAX,
    OFPM_SLOWPATH,
};
use crate::ofp::message::stats::{GroupFeatures, MeterFeatures};
use crate::ofp::Version;
use crate::table::{ALL_TABLES, N_TABLES};

/// Most hash values a dp_hash select group spreads its buckets over.
pub const MAX_SELECT_HASH_VALUES: u64 = 256;
/// Most bands a meter may have.
pub const MAX_BANDS: usize = 8;
/// Most meters.
pub const MAX_METERS: u32 = 1 << 18;
/// Group chains deeper than this are treated as loops.
const MAX_CHAIN: usize = 128;

fn err(name: &str) -> OfpError {
    OfpError::from_name(name).unwrap_or(OfpError::BadRequest(BadRequest::EPerm))
}

/// How a select group picks its bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Not a select group.
    None,
    /// Recirculate with a datapath hash of the packet's 5-tuple (`basis`),
    /// then take bucket `map[dp_hash & mask]` (or the next live one).
    DpHash {
        basis: u32,
        mask: u32,
        map: Vec<usize>,
    },
    /// Hash the group's `fields` (masked) in xlate.
    Hash,
    /// Hash the flow's symmetric L4 fields in xlate (OVS's fallback).
    Default,
}

/// Counters of a group or bucket.
#[derive(Debug, Default)]
pub struct Counter {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counter {
    fn add(&self, p: u64, b: u64) {
        self.packets.fetch_add(p, Ordering::Relaxed);
        self.bytes.fetch_add(b, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// One group, immutable once built (a modify replaces it).
#[derive(Debug)]
pub struct Group {
    pub id: u32,
    pub group_type: GroupType,
    pub buckets: Vec<Bucket>,
    pub props: GroupProps,
    pub selection: Selection,
    /// Bridge clock when the group was first added.
    pub created_ms: u64,
    pub counter: Counter,
    pub bucket_counters: Vec<Counter>,
}

impl Group {
    fn new(
        id: u32,
        group_type: GroupType,
        buckets: Vec<Bucket>,
        props: GroupProps,
        created_ms: u64,
    ) -> Group {
        let selection = selection_for(group_type, &buckets, &props);
        let bucket_counters = buckets.iter().map(|_| Counter::default()).collect();
        Group {
            id,
            group_type,
            buckets,
            props,
            selection,
            created_ms,
            counter: Counter::default(),
            bucket_counters,
        }
    }

    /// Group ids this group's buckets send packets to.
    fn targets(&self) -> Vec<u32> {
        let mut v = Vec::new();
        for b in &self.buckets {
            collect_groups(&b.actions, &mut v);
        }
        v
    }
}

fn collect_groups(acts: &[Action], out: &mut Vec<u32>) {
    for a in acts {
        match a {
            Action::Group(g) => out.push(*g),
            Action::WriteActions(v) | Action::Clone(v) => collect_groups(v, out),
            _ => {}
        }
    }
}

/// Whether `acts` (nested lists included) use meter `m`.
fn uses_meter(acts: &[Action], m: u32) -> bool {
    acts.iter().any(|a| match a {
        Action::Meter(x) => *x == m,
        Action::WriteActions(v) | Action::Clone(v) => uses_meter(v, m),
        _ => false,
    })
}

/// Open vSwitch's `group_set_selection_method`.
fn selection_for(t: GroupType, buckets: &[Bucket], props: &GroupProps) -> Selection {
    if t != GroupType::Select {
        return Selection::None;
    }
    match props.selection_method.as_str() {
        "" => match dp_hash_table(buckets, MAX_SELECT_HASH_VALUES) {
            Some((mask, map)) => Selection::DpHash {
                basis: 0,
                mask,
                map,
            },
            None => Selection::Default,
        },
        "dp_hash" => match dp_hash_table(buckets, 0) {
            Some((mask, map)) => Selection::DpHash {
                basis: props.selection_method_param as u32,
                mask,
                map,
            },
            None => Selection::Default,
        },
        _ if !props.fields.is_empty() => Selection::Hash,
        _ => Selection::Default,
    }
}

/// `group_setup_dp_hash_table`: the smallest power-of-two number of hash
/// values (16 to 256) that gives the lightest bucket at least one, handed
/// out to buckets by the Webster (Sainte-Laguë) method. None if the weights
/// need more values than allowed (`max_hash`, 0 for 256) or sum to zero.
pub fn dp_hash_table(buckets: &[Bucket], max_hash: u64) -> Option<(u32, Vec<usize>)> {
    if buckets.is_empty() {
        return None;
    }
    let total: u64 = buckets.iter().map(|b| u64::from(b.weight)).sum();
    if total == 0 {
        return None;
    }
    let min_weight = buckets
        .iter()
        .map(|b| b.weight)
        .filter(|w| *w > 0)
        .min()
        .map_or(1, u64::from);
    let min_slots = total.div_ceil(min_weight);
    let min_slots2 = min_slots.max((buckets.len() as u64 * 4).min(MAX_SELECT_HASH_VALUES));
    let n_hash = min_slots2.next_power_of_two().max(16);
    if n_hash > MAX_SELECT_HASH_VALUES || (max_hash != 0 && n_hash > max_hash) {
        return None;
    }
    let mut divisor = vec![1u64; buckets.len()];
    let mut value: Vec<f64> = buckets.iter().map(|b| f64::from(b.weight)).collect();
    let mut map = Vec::with_capacity(n_hash as usize);
    for _ in 0..n_hash {
        let mut winner = 0;
        for i in 1..buckets.len() {
            if value[i] > value[winner] {
                winner = i;
            }
        }
        divisor[winner] += 2;
        value[winner] = f64::from(buckets[winner].weight) / divisor[winner] as f64;
        map.push(winner);
    }
    Some(((n_hash - 1) as u32, map))
}

/// The pipeline state a recirculated packet resumes from: what OVS calls
/// a frozen state. A `controller(pause)` freezes one too, which its
/// packet-in carries to the controller as a continuation (see
/// `Bridge::upcall_action`). Packet headers are not in it (the recirculated packet
/// carries them, every pending change committed); what is: the OpenFlow
/// in_port, the pipeline-only words (registers, metadata, ...), the table
/// and cookie of the rule being executed, the actions left to run (the
/// group action first), what the callers of that rule had left to run
/// (`outer`, innermost first: the rest of a rule that resubmitted, a goto
/// still pending), and the action set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frozen {
    pub table: u8,
    pub cookie: u64,
    pub in_ofp: u32,
    /// `FlowWords[KEY_WORDS..]`.
    pub meta: Vec<u64>,
    pub actions: Vec<Action>,
    pub outer: Vec<Segment>,
    pub action_set: Vec<Action>,
}

/// Actions an enclosing rule still had to run when the pipeline froze,
/// with the context they run in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    pub table: u8,
    pub cookie: u64,
    pub in_ofp: u32,
    pub actions: Vec<Action>,
}

impl Frozen {
    /// The pipeline words `flow` should get on thaw (its key words stay).
    pub fn restore(&self, flow: &mut FlowWords) {
        for (i, w) in self.meta.iter().enumerate() {
            if let Some(slot) = flow.get_mut(KEY_WORDS + i) {
                *slot = *w;
            }
        }
    }

    /// The pipeline-only words of `flow`.
    pub fn meta_of(flow: &FlowWords) -> Vec<u64> {
        flow[KEY_WORDS..FLOW_WORDS].to_vec()
    }
}

/// Recirculation ids and the states they name. The same state always gets
/// the same id, so a megaflow translated again comes out identical.
#[derive(Default)]
struct RecircTable {
    by_state: HashMap<Arc<Frozen>, u32>,
    by_id: HashMap<u32, Arc<Frozen>>,
    next: u32,
}

/// What one translation used, for the revalidator to credit.
#[derive(Clone, Debug)]
pub enum GroupUse {
    /// A group and, unless every bucket ran, the bucket it chose.
    Group {
        group: Arc<Group>,
        bucket: Option<usize>,
    },
    /// A meter's input counter (meters count, they do not drop).
    Meter(Arc<Counter>),
}

/// Credits `packets`/`bytes` of one megaflow to the groups and meters it
/// used.
pub fn credit(uses: &[GroupUse], packets: u64, bytes: u64) {
    if packets == 0 && bytes == 0 {
        return;
    }
    for u in uses {
        let (group, bucket) = match u {
            GroupUse::Meter(c) => {
                c.add(packets, bytes);
                continue;
            }
            GroupUse::Group { group, bucket } => (group, bucket),
        };
        group.counter.add(packets, bytes);
        match bucket {
            Some(i) => {
                if let Some(c) = group.bucket_counters.get(*i) {
                    c.add(packets, bytes);
                }
            }
            None => {
                for c in &group.bucket_counters {
                    c.add(packets, bytes);
                }
            }
        }
    }
}

/// One meter.
#[derive(Debug)]
pub struct Meter {
    pub config: MeterConfig,
    pub created_ms: u64,
    /// Packets and bytes of the flows that use it (kept across modifies).
    pub counter: Arc<Counter>,
    /// The token buckets the datapath's meter action runs packets through.
    pub dp: Arc<oxvs_datapath::meter::Meter>,
}

/// What the datapath needs of a meter's configuration: its drop bands (the
/// only kind a meter_mod may have).
fn dp_spec(c: &MeterConfig) -> oxvs_datapath::meter::MeterSpec {
    use crate::ofp::group_msg::{meter_flags, BandType};
    oxvs_datapath::meter::MeterSpec {
        kbps: c.flags & meter_flags::PKTPS == 0,
        bands: c
            .bands
            .iter()
            .filter(|b| matches!(b.band_type, BandType::Drop))
            .map(|b| oxvs_datapath::meter::BandSpec {
                rate: b.rate,
                burst: b.burst_size,
            })
            .collect(),
    }
}

/// A bridge's groups, meters and recirculation states.
#[derive(Default)]
pub struct GroupState {
    groups: RwLock<BTreeMap<u32, Arc<Group>>>,
    meters: RwLock<BTreeMap<u32, Meter>>,
    recirc: Mutex<RecircTable>,
}

impl GroupState {
    /// The group with id `id`.
    pub fn group(&self, id: u32) -> Option<Arc<Group>> {
        self.groups.read().get(&id).cloned()
    }

    /// Every group, by id.
    pub fn groups(&self) -> Vec<Arc<Group>> {
        self.groups.read().values().cloned().collect()
    }

    pub fn has_meter(&self, id: u32) -> bool {
        self.meters.read().contains_key(&id)
    }

    /// The input counter and datapath meter of meter `id`.
    pub fn meter(&self, id: u32) -> Option<(Arc<Counter>, Arc<oxvs_datapath::meter::Meter>)> {
        self.meters
            .read()
            .get(&id)
            .map(|m| (m.counter.clone(), m.dp.clone()))
    }

    /// The recirculation id of `state`, allocated on first use.
    pub fn freeze(&self, state: Frozen) -> u32 {
        let mut t = self.recirc.lock();
        if let Some(id) = t.by_state.get(&state) {
            return *id;
        }
        t.next = t.next.wrapping_add(1).max(1);
        while t.by_id.contains_key(&t.next) {
            t.next = t.next.wrapping_add(1).max(1);
        }
        let id = t.next;
        let s = Arc::new(state);
        t.by_state.insert(s.clone(), id);
        t.by_id.insert(id, s);
        id
    }

    /// The state recirculation id `id` names.
    pub fn thaw(&self, id: u32) -> Option<Arc<Frozen>> {
        self.recirc.lock().by_id.get(&id).cloned()
    }

    /// Whether a group is live (fast failover watch_group): some bucket is.
    pub fn group_is_live(&self, id: u32, port_live: &dyn Fn(u32) -> bool, depth: usize) -> bool {
        match self.group(id) {
            Some(g) => self.first_live(&g, port_live, depth).is_some(),
            None => false,
        }
    }

    /// OVS's `bucket_is_alive`.
    pub fn bucket_is_live(
        &self,
        g: &Group,
        b: &Bucket,
        port_live: &dyn Fn(u32) -> bool,
        depth: usize,
    ) -> bool {
        use crate::ofp::action::port;
        if depth >= MAX_CHAIN {
            return false;
        }
        if g.group_type == GroupType::Select && b.weight == 0 {
            return false;
        }
        // A controller watch counts as live (OVS: while a controller is
        // connected).
        !b.has_liveness()
            || b.watch_port == port::CONTROLLER
            || (b.watch_port != port::ANY && port_live(b.watch_port))
            || (b.watch_group != OFPG_ANY
                && self.group_is_live(b.watch_group, port_live, depth + 1))
    }

    /// The first live bucket (fast failover).
    pub fn first_live(
        &self,
        g: &Group,
        port_live: &dyn Fn(u32) -> bool,
        depth: usize,
    ) -> Option<usize> {
        g.buckets
            .iter()
            .position(|b| self.bucket_is_live(g, b, port_live, depth))
    }

    /// OVS's `group_best_live_bucket`: the live bucket with the highest
    /// weighted score for hash `basis`.
    pub fn best_live(
        &self,
        g: &Group,
        basis: u32,
        port_live: &dyn Fn(u32) -> bool,
    ) -> Option<usize> {
        let mut best = None;
        let mut best_score = 0u64;
        for (i, b) in g.buckets.iter().enumerate() {
            if !self.bucket_is_live(g, b, port_live, 0) {
                continue;
            }
            let h = hash_words(&[u64::from(b.bucket_id), u64::from(basis)]) as u32;
            let score = u64::from(h & 0xffff) * u64::from(b.weight);
            if score >= best_score {
                best = Some(i);
                best_score = score;
            }
        }
        best
    }

    /// Whether adding `candidate` (replacing any group of its id) would let
    /// a group reach itself through bucket `group` actions.
    fn creates_loop(&self, table: &BTreeMap<u32, Arc<Group>>, candidate: &Group) -> bool {
        let targets_of = |id: u32| -> Vec<u32> {
            if id == candidate.id {
                candidate.targets()
            } else {
                table.get(&id).map(|g| g.targets()).unwrap_or_default()
            }
        };
        let mut stack: Vec<(u32, usize)> =
            candidate.targets().into_iter().map(|t| (t, 1)).collect();
        let mut seen = Vec::new();
        while let Some((id, depth)) = stack.pop() {
            if id == candidate.id || depth > MAX_CHAIN {
                return true;
            }
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            stack.extend(targets_of(id).into_iter().map(|t| (t, depth + 1)));
        }
        false
    }

    /// Applies a group_mod to the table. Returns the ids of deleted groups
    /// (their flows must go too).
    fn apply(&self, gm: &GroupMod, now_ms: u64) -> Result<Vec<u32>, OfpError> {
        let mut table = self.groups.write();
        let existing = table.get(&gm.group_id).cloned();
        let build = |buckets: Vec<Bucket>, t: GroupType, props: GroupProps, created| {
            Group::new(gm.group_id, t, buckets, props, created)
        };
        let new = match gm.command {
            GroupCommand::Delete => {
                let ids: Vec<u32> = if gm.group_id == OFPG_ALL {
                    table.keys().copied().collect()
                } else if existing.is_some() {
                    vec![gm.group_id]
                } else {
                    Vec::new()
                };
                for id in &ids {
                    table.remove(id);
                }
                return Ok(ids);
            }
            GroupCommand::Add => {
                if existing.is_some() {
                    return Err(err("OFPGMFC_GROUP_EXISTS"));
                }
                if gm.group_id > OFPG_MAX {
                    return Err(err("OFPGMFC_INVALID_GROUP"));
                }
                build(
                    number_buckets(&gm.buckets),
                    gm.group_type,
                    gm.props.clone(),
                    now_ms,
                )
            }
            GroupCommand::AddOrMod => {
                if gm.group_id > OFPG_MAX {
                    return Err(err("OFPGMFC_INVALID_GROUP"));
                }
                let created = existing.as_ref().map_or(now_ms, |g| g.created_ms);
                build(
                    number_buckets(&gm.buckets),
                    gm.group_type,
                    gm.props.clone(),
                    created,
                )
            }
            GroupCommand::Modify => {
                let Some(old) = existing else {
                    return Err(err("OFPGMFC_UNKNOWN_GROUP"));
                };
                build(
                    number_buckets(&gm.buckets),
                    gm.group_type,
                    gm.props.clone(),
                    old.created_ms,
                )
            }
            GroupCommand::InsertBucket | GroupCommand::RemoveBucket => {
                let Some(old) = existing else {
                    return Err(err("OFPGMFC_UNKNOWN_GROUP"));
                };
                let buckets = if gm.command == GroupCommand::InsertBucket {
                    insert_buckets(&old.buckets, &gm.buckets, gm.command_bucket_id)?
                } else {
                    remove_buckets(&old.buckets, gm.command_bucket_id)?
                };
                build(buckets, old.group_type, old.props.clone(), old.created_ms)
            }
        };
        if self.creates_loop(&table, &new) {
            return Err(err("OFPGMFC_LOOP"));
        }
        table.insert(new.id, Arc::new(new));
        Ok(Vec::new())
    }

    /// Applies a meter_mod (`handle_meter_mod`).
    fn apply_meter(&self, mm: &MeterMod, now_ms: u64) -> Result<Vec<u32>, OfpError> {
        let id = mm.meter.meter_id;
        if mm.command != MeterCommand::Delete {
            let virtual_ok = id == OFPM_SLOWPATH || id == OFPM_CONTROLLER;
            if id == 0 || (id > OFPM_MAX && !virtual_ok) {
                return Err(err("OFPMMFC_INVALID_METER"));
            }
            // In the order of Open vSwitch's dpif_netdev_meter_set, whose
            // meters have drop bands only.
            if mm.meter.flags & !0xf != 0 {
                return Err(err("OFPMMFC_BAD_FLAGS"));
            }
            if mm.meter.bands.len() > MAX_BANDS {
                return Err(err("OFPMMFC_OUT_OF_BANDS"));
            }
            if mm
                .meter
                .bands
                .iter()
                .any(|b| !matches!(b.band_type, crate::ofp::group_msg::BandType::Drop))
            {
                return Err(err("OFPMMFC_BAD_BAND"));
            }
        }
        let mut meters = self.meters.write();
        match mm.command {
            MeterCommand::Add => {
                if meters.contains_key(&id) {
                    return Err(err("OFPMMFC_METER_EXISTS"));
                }
                if meters.len() >= MAX_METERS as usize {
                    return Err(err("OFPMMFC_OUT_OF_METERS"));
                }
                let config = with_default_burst(&mm.meter);
                let dp = Arc::new(oxvs_datapath::meter::Meter::new(
                    id,
                    &dp_spec(&config),
                    now_ms,
                ));
                meters.insert(
                    id,
                    Meter {
                        config,
                        created_ms: now_ms,
                        counter: Arc::new(Counter::default()),
                        dp,
                    },
                );
                Ok(Vec::new())
            }
            MeterCommand::Modify => match meters.get_mut(&id) {
                Some(m) => {
                    m.config = with_default_burst(&mm.meter);
                    // In place: the megaflows that meter keep doing so.
                    m.dp.configure(&dp_spec(&m.config), now_ms);
                    Ok(Vec::new())
                }
                None => Err(err("OFPMMFC_UNKNOWN_METER")),
            },
            MeterCommand::Delete => {
                let gone: Vec<u32> = match id {
                    0 => Vec::new(),
                    OFPM_ALL => meters.keys().copied().collect(),
                    _ if meters.contains_key(&id) => vec![id],
                    _ => Vec::new(),
                };
                for g in &gone {
                    meters.remove(g);
                }
                Ok(gone)
            }
        }
    }
}

/// The userspace datapath sets a missing burst size to the rate.
fn with_default_burst(c: &MeterConfig) -> MeterConfig {
    let mut c = c.clone();
    for b in &mut c.bands {
        if b.burst_size == 0 {
            b.burst_size = b.rate;
        }
    }
    c
}

/// Buckets from a 1.1-1.4 group_mod are numbered by position; 1.5 ones
/// keep their ids.
fn number_buckets(buckets: &[Bucket]) -> Vec<Bucket> {
    let mut v = buckets.to_vec();
    for (i, b) in v.iter_mut().enumerate() {
        if b.bucket_id > BUCKET_MAX {
            b.bucket_id = i as u32;
        }
    }
    v
}

/// `copy_buckets_for_insert_bucket`.
fn insert_buckets(old: &[Bucket], new: &[Bucket], at: u32) -> Result<Vec<Bucket>, OfpError> {
    if at <= BUCKET_MAX && !old.iter().any(|b| b.bucket_id == at) {
        return Err(err("OFPGMFC_UNKNOWN_BUCKET"));
    }
    let new = number_new_buckets(old, new);
    let mut all: Vec<Bucket> = Vec::with_capacity(old.len() + new.len());
    match at {
        BUCKET_FIRST => {
            all.extend(new.iter().cloned());
            all.extend(old.iter().cloned());
        }
        BUCKET_LAST => {
            all.extend(old.iter().cloned());
            all.extend(new.iter().cloned());
        }
        _ => {
            for b in old {
                all.push(b.clone());
                if b.bucket_id == at {
                    all.extend(new.iter().cloned());
                }
            }
        }
    }
    for (i, b) in all.iter().enumerate() {
        if all[..i].iter().any(|o| o.bucket_id == b.bucket_id) {
            return Err(err("OFPGMFC_BUCKET_EXISTS"));
        }
    }
    Ok(all)
}

/// New buckets without an id get ids after the group's highest.
fn number_new_buckets(old: &[Bucket], new: &[Bucket]) -> Vec<Bucket> {
    let mut next = old
        .iter()
        .chain(new)
        .filter(|b| b.bucket_id <= BUCKET_MAX)
        .map(|b| b.bucket_id + 1)
        .max()
        .unwrap_or(0);
    new.iter()
        .map(|b| {
            let mut b = b.clone();
            if b.bucket_id > BUCKET_MAX {
                b.bucket_id = next;
                next += 1;
            }
            b
        })
        .collect()
}

/// `copy_buckets_for_remove_bucket`.
fn remove_buckets(old: &[Bucket], at: u32) -> Result<Vec<Bucket>, OfpError> {
    let skip = match at {
        BUCKET_ALL => return Ok(Vec::new()),
        BUCKET_FIRST => old.first().map(|b| b.bucket_id),
        BUCKET_LAST => old.last().map(|b| b.bucket_id),
        id => {
            if !old.iter().any(|b| b.bucket_id == id) {
                return Err(err("OFPGMFC_UNKNOWN_BUCKET"));
            }
            Some(id)
        }
    };
    Ok(old
        .iter()
        .filter(|b| Some(b.bucket_id) != skip)
        .cloned()
        .collect())
}

/// What this switch's groups support, in `version`'s action numbering.
pub fn group_features(version: Version) -> GroupFeatures {
    // OFPAT10: output .. set_tp_dst (bits 0-10). OFPAT11+: output,
    // push/pop VLAN, group, dec_nw_ttl, set_field.
    let acts = if version == Version::Of10 {
        0x7ff
    } else {
        [0u32, 17, 18, 22, 24, 25].iter().fold(0, |m, b| m | 1 << b)
    };
    GroupFeatures {
        types: 0xf,
        // SELECT_WEIGHT, SELECT_LIVENESS, CHAINING, CHAINING_CHECKS.
        capabilities: 0xf,
        max_groups: [OFPG_MAX; 4],
        actions: [acts; 4],
    }
}

/// What this switch's meters support: drop bands, enforced by the
/// datapath (as Open vSwitch's userspace datapath, which refuses
/// DSCP-remark bands too).
pub fn meter_features() -> MeterFeatures {
    MeterFeatures {
        max_meter: MAX_METERS,
        // OFPMBT_DROP.
        band_types: 1 << 1,
        capabilities: 0xf,
        max_bands: MAX_BANDS as u8,
        max_color: 0,
    }
}

fn duration(created_ms: u64, now_ms: u64) -> (u32, u32) {
    let d = now_ms.saturating_sub(created_ms);
    ((d / 1000) as u32, ((d % 1000) * 1_000_000) as u32)
}

impl Bridge {
    /// The bridge's groups, meters and recirculation states.
    pub fn group_state(&self) -> &GroupState {
        &self.groups
    }

    /// Applies an OpenFlow group_mod. Deleting a group deletes the flows
    /// that use it (as Open vSwitch does); forwarding may change, so every
    /// megaflow is revalidated.
    pub fn apply_group_mod(&self, gm: &GroupMod) -> Result<(), OfpError> {
        let deleted = self.groups.apply(gm, self.now_ms())?;
        for g in deleted {
            self.delete_flows_using(
                |acts| {
                    let mut v = Vec::new();
                    collect_groups(acts, &mut v);
                    v.contains(&g)
                },
                Some(g),
            );
        }
        self.bump_generation();
        Ok(())
    }

    /// Applies an OpenFlow meter_mod. Deleting a meter deletes the flows
    /// that use it.
    pub fn apply_meter_mod(&self, mm: &MeterMod) -> Result<(), OfpError> {
        let deleted = self.groups.apply_meter(mm, self.now_ms())?;
        for m in deleted {
            self.delete_flows_using(|acts| uses_meter(acts, m), None);
        }
        self.bump_generation();
        Ok(())
    }

    /// Deletes the flows whose actions satisfy `uses` (with `out_group`,
    /// by the flow_mod out_group filter).
    fn delete_flows_using(&self, uses: impl Fn(&[Action]) -> bool, out_group: Option<u32>) {
        let fm = |command, table_id, priority, matched, out_group| FlowMod {
            command,
            table_id,
            cookie: 0,
            cookie_mask: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            priority,
            buffer_id: u32::MAX,
            out_port: u32::MAX,
            out_group,
            flags: 0,
            importance: 0,
            matched,
            actions: Vec::new(),
        };
        if let Some(g) = out_group {
            let del = fm(
                FlowModCommand::Delete,
                ALL_TABLES,
                0,
                crate::ofp::matching::Match::new(),
                g,
            );
            if let Err(e) = self.apply_flow_mod(&del) {
                tracing::warn!(error = ?e, group = g, "deleting the flows of a group");
            }
            return;
        }
        let victims: Vec<(u8, u16, crate::ofp::matching::Match)> = {
            let t = self.tables();
            (0..(N_TABLES - 1) as u8)
                .flat_map(|i| t.rules(i))
                .filter(|r| uses(&r.value.actions.load().0))
                .map(|r| (r.value.table_id, r.priority as u16, r.value.matched.clone()))
                .collect()
        };
        for (table, prio, m) in victims {
            let del = fm(FlowModCommand::DeleteStrict, table, prio, m, u32::MAX);
            if let Err(e) = self.apply_flow_mod(&del) {
                tracing::warn!(error = ?e, "deleting the flows of a meter");
            }
        }
    }

    /// Group descriptions, for one group or [`OFPG_ALL`].
    pub fn group_descs(&self, group_id: u32) -> Vec<GroupDesc> {
        self.select_groups(group_id)
            .into_iter()
            .map(|g| GroupDesc {
                group_type: g.group_type,
                group_id: g.id,
                buckets: g.buckets.clone(),
                props: g.props.clone(),
            })
            .collect()
    }

    /// Group counters, for one group or [`OFPG_ALL`].
    pub fn group_stats(&self, group_id: u32) -> Vec<GroupStats> {
        let now = self.now_ms();
        let groups = self.select_groups(group_id);
        let tables = self.tables();
        let zero = [0u64; FLOW_WORDS];
        groups
            .into_iter()
            .map(|g| {
                let refs = tables
                    .select(
                        ALL_TABLES,
                        false,
                        0,
                        &crate::ofp::matching::Match::new(),
                        &zero,
                        &zero,
                        0,
                        0,
                        None,
                        Some(g.id),
                    )
                    .map_or(0, |v| v.len() as u32);
                let (packet_count, byte_count) = g.counter.get();
                let (duration_sec, duration_nsec) = duration(g.created_ms, now);
                GroupStats {
                    group_id: g.id,
                    ref_count: refs,
                    packet_count,
                    byte_count,
                    duration_sec,
                    duration_nsec,
                    buckets: g
                        .bucket_counters
                        .iter()
                        .map(|c| {
                            let (p, b) = c.get();
                            BucketCounter {
                                packet_count: p,
                                byte_count: b,
                            }
                        })
                        .collect(),
                }
            })
            .collect()
    }

    fn select_groups(&self, group_id: u32) -> Vec<Arc<Group>> {
        if group_id == OFPG_ALL {
            self.groups.groups()
        } else {
            self.groups.group(group_id).into_iter().collect()
        }
    }

    /// Meter configurations, for one meter or [`OFPM_ALL`]; an unknown
    /// meter is OFPMMFC_UNKNOWN_METER.
    pub fn meter_configs(&self, meter_id: u32) -> Result<Vec<MeterConfig>, OfpError> {
        let meters = self.groups.meters.read();
        if meter_id == OFPM_ALL {
            return Ok(meters.values().map(|m| m.config.clone()).collect());
        }
        meters
            .get(&meter_id)
            .map(|m| vec![m.config.clone()])
            .ok_or_else(|| err("OFPMMFC_UNKNOWN_METER"))
    }

    /// Meter counters: the traffic of the flows that use each meter (as
    /// the revalidator credits it). The datapath does not meter, so band
    /// counters stay at zero.
    pub fn meter_stats(&self, meter_id: u32) -> Result<Vec<MeterStats>, OfpError> {
        let now = self.now_ms();
        // Drop bands count what they dropped; a remark band counts nothing.
        let entry = |id: u32, m: &Meter| {
            let mut dropped = m.dp.band_stats().into_iter();
            let bands = m
                .config
                .bands
                .iter()
                .map(|b| match b.band_type {
                    crate::ofp::group_msg::BandType::Drop => {
                        let (packet_count, byte_count) = dropped.next().unwrap_or((0, 0));
                        BandStats {
                            packet_count,
                            byte_count,
                        }
                    }
                    _ => BandStats::default(),
                })
                .collect::<Vec<_>>();
            let (packet_in_count, byte_in_count) = m.counter.get();
            let (duration_sec, duration_nsec) = duration(m.created_ms, now);
            MeterStats {
                meter_id: id,
                // Counted below, outside the meters' lock.
                flow_count: 0,
                packet_in_count,
                byte_in_count,
                duration_sec,
                duration_nsec,
                bands,
            }
        };
        let mut list: Vec<MeterStats> = {
            let meters = self.groups.meters.read();
            if meter_id == OFPM_ALL {
                meters.iter().map(|(id, m)| entry(*id, m)).collect()
            } else {
                let m = meters
                    .get(&meter_id)
                    .ok_or_else(|| err("OFPMMFC_UNKNOWN_METER"))?;
                vec![entry(meter_id, m)]
            }
        };
        let rules: Vec<Vec<Action>> = {
            let t = self.tables();
            (0..(N_TABLES - 1) as u8)
                .flat_map(|i| t.rules(i))
                .map(|r| r.value.actions.load().0.clone())
                .collect()
        };
        for s in &mut list {
            s.flow_count = rules.iter().filter(|a| uses_meter(a, s.meter_id)).count() as u32;
        }
        Ok(list)
    }

    /// OFPBAC_BAD_OUT_GROUP if `acts` use a group this bridge lacks,
    /// OFPMMFC_INVALID_METER for a missing meter (`ofproto_check_ofpacts`).
    pub fn check_group_refs(&self, acts: &[Action]) -> Result<(), OfpError> {
        let mut gs = Vec::new();
        collect_groups(acts, &mut gs);
        if gs.iter().any(|g| self.groups.group(*g).is_none()) {
            return Err(err("OFPBAC_BAD_OUT_GROUP"));
        }
        fn meters(acts: &[Action], out: &mut Vec<u32>) {
            for a in acts {
                match a {
                    Action::Meter(m) => out.push(*m),
                    Action::WriteActions(v) | Action::Clone(v) => meters(v, out),
                    _ => {}
                }
            }
        }
        let mut ms = Vec::new();
        meters(acts, &mut ms);
        if ms.iter().any(|m| !self.groups.has_meter(*m)) {
            return Err(err("OFPMMFC_INVALID_METER"));
        }
        Ok(())
    }
}

/// Bucket actions run as an action set (OVS's `ofpacts_execute_action_set`):
/// the last of each single-slot action in the action-set order, then the
/// set-field-like actions in order, then the single highest-priority final
/// action (ct, ct_clear, resubmit, output, group). Without a final action
/// nothing runs.
pub fn bucket_action_list(acts: &[Action]) -> Vec<Action> {
    const SLOTS: usize = 9;
    let mut slots: [Option<&Action>; SLOTS] = Default::default();
    let mut sets: Vec<Action> = Vec::new();
    let mut fin: Option<(usize, &Action)> = None;
    for a in acts {
        let slot = match a {
            Action::PopVlan { .. } => Some(0),
            Action::PopMpls(_) => Some(1),
            Action::Decap { .. } => Some(2),
            Action::Encap(_) => Some(3),
            Action::PushMpls(_) => Some(4),
            Action::PushVlan(_) => Some(5),
            Action::DecTtl { .. } => Some(6),
            Action::DecMplsTtl => Some(7),
            Action::DecNshTtl => Some(8),
            _ => None,
        };
        if let Some(s) = slot {
            slots[s] = Some(a);
            continue;
        }
        let final_class = match a {
            Action::Ct(_) => Some(0),
            Action::CtClear => Some(1),
            Action::Resubmit { .. } => Some(2),
            Action::Output { .. } => Some(3),
            Action::Group(_) => Some(4),
            _ => None,
        };
        if let Some(c) = final_class {
            if fin.is_none_or(|(fc, _)| c >= fc) {
                fin = Some((c, a));
            }
            continue;
        }
        let is_set = matches!(
            a,
            Action::SetField(_)
                | Action::RegMove { .. }
                | Action::SetEthSrc(_)
                | Action::SetEthDst(_)
                | Action::SetIpDscp(_)
                | Action::SetIpEcn(_)
                | Action::SetIpTtl(_)
                | Action::SetIpv4Src(_)
                | Action::SetIpv4Dst(_)
                | Action::SetL4SrcPort { .. }
                | Action::SetL4DstPort { .. }
                | Action::SetMplsLabel(_)
                | Action::SetMplsTc(_)
                | Action::SetMplsTtl(_)
                | Action::SetQueue(_)
                | Action::SetTunnel { .. }
                | Action::SetVlanPcp { .. }
                | Action::SetVlanVid { .. }
        );
        if is_set {
            sets.push(a.clone());
        }
    }
    let Some((_, f)) = fin else {
        return Vec::new();
    };
    slots
        .iter()
        .flatten()
        .map(|a| (*a).clone())
        .chain(sets)
        .chain(std::iter::once(f.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(w: u16) -> Bucket {
        let mut b = Bucket::new(GroupType::Select, vec![Action::output(1)]);
        b.weight = w;
        b
    }

    #[test]
    fn webster_spreads_hash_values_by_weight() {
        let (mask, map) = dp_hash_table(&[bucket(1), bucket(3)], 256).unwrap_or_default();
        assert_eq!(mask, 15);
        assert_eq!(map.iter().filter(|i| **i == 1).count(), 12);
        assert_eq!(map.iter().filter(|i| **i == 0).count(), 4);
        // 1:1000 needs more than 256 values: fall back.
        assert!(dp_hash_table(&[bucket(1), bucket(1000)], 256).is_none());
        assert!(dp_hash_table(&[bucket(0), bucket(0)], 256).is_none());
        let b = [bucket(1), bucket(1000)];
        let g = Group::new(1, GroupType::Select, b.to_vec(), GroupProps::default(), 0);
        assert_eq!(g.selection, Selection::Default);
    }

    #[test]
    fn bucket_actions_run_as_an_action_set() {
        let acts =
            crate::ofp::action::parse("output:1,mod_dl_dst:02:00:00:00:00:09,pop_vlan,output:2")
                .unwrap_or_default();
        let v = bucket_action_list(&acts);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(matches!(v[0], Action::PopVlan { .. }));
        assert_eq!(v[2], Action::output(2));
        assert!(bucket_action_list(
            &crate::ofp::action::parse("mod_dl_dst:02:00:00:00:00:09").unwrap_or_default()
        )
        .is_empty());
    }

    #[test]
    fn loops_and_bucket_commands() {
        let s = GroupState::default();
        let gm = |id: u32, cmd, acts: &str| GroupMod {
            command: cmd,
            group_type: GroupType::All,
            group_id: id,
            command_bucket_id: BUCKET_ALL,
            buckets: vec![Bucket::new(
                GroupType::All,
                crate::ofp::action::parse(acts).unwrap_or_default(),
            )],
            props: GroupProps::default(),
        };
        assert_eq!(s.apply(&gm(1, GroupCommand::Add, "group:2"), 0), Ok(vec![]));
        assert_eq!(s.apply(&gm(2, GroupCommand::Add, "group:3"), 0), Ok(vec![]));
        assert_eq!(
            s.apply(&gm(3, GroupCommand::Add, "group:1"), 0),
            Err(err("OFPGMFC_LOOP"))
        );
        assert_eq!(
            s.apply(&gm(1, GroupCommand::Add, "output:1"), 0),
            Err(err("OFPGMFC_GROUP_EXISTS"))
        );
        assert_eq!(
            s.apply(&gm(9, GroupCommand::Modify, "output:1"), 0),
            Err(err("OFPGMFC_UNKNOWN_GROUP"))
        );
        assert_eq!(
            s.apply(&gm(2, GroupCommand::Modify, "group:2"), 0),
            Err(err("OFPGMFC_LOOP"))
        );
        let mut ins = gm(1, GroupCommand::InsertBucket, "output:5");
        ins.command_bucket_id = BUCKET_FIRST;
        assert_eq!(s.apply(&ins, 0), Ok(vec![]));
        let g = s.group(1).unwrap_or_else(|| panic!("group 1"));
        assert_eq!(g.buckets.len(), 2);
        assert_eq!(g.buckets[0].actions, vec![Action::output(5)]);
        assert_eq!(g.buckets[0].bucket_id, 1);
        let mut rm = gm(1, GroupCommand::RemoveBucket, "");
        rm.buckets.clear();
        rm.command_bucket_id = 0;
        assert_eq!(s.apply(&rm, 0), Ok(vec![]));
        let g = s.group(1).unwrap_or_else(|| panic!("group 1"));
        assert_eq!(g.buckets.len(), 1);
        assert_eq!(g.buckets[0].bucket_id, 1);
        let mut del = gm(OFPG_ALL, GroupCommand::Delete, "");
        del.buckets.clear();
        assert_eq!(s.apply(&del, 0), Ok(vec![1, 2]));
        assert!(s.groups().is_empty());
    }

    #[test]
    fn frozen_states_get_stable_ids() {
        let s = GroupState::default();
        let f = Frozen {
            table: 0,
            cookie: 0,
            in_ofp: 1,
            meta: vec![0; FLOW_WORDS - KEY_WORDS],
            actions: vec![Action::Group(1)],
            outer: Vec::new(),
            action_set: Vec::new(),
        };
        let a = s.freeze(f.clone());
        assert_ne!(a, 0);
        assert_eq!(s.freeze(f.clone()), a);
        let mut g = f.clone();
        g.in_ofp = 2;
        assert_ne!(s.freeze(g), a);
        assert_eq!(s.thaw(a).as_deref(), Some(&f));
        assert!(s.thaw(999).is_none());
    }
}
