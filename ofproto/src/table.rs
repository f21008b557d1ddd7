//! OpenFlow flow tables: what a flow_mod does to them (add, modify, delete,
//! strict and loose, cookies, out_port/out_group filters, overlap checks,
//! counter resets), flow timeouts, and the counters OpenFlow reports.
//!
//! Independent of the wire: a flow_mod arrives here as a [`FlowModSpec`]
//! whose match is already in pipeline words, and the actions type `A` is
//! whatever the OpenFlow layer uses (it only has to say where it outputs).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::classifier::{Classifier, Rule};
use crate::flow::{FlowWords, FLOW_WORDS};
use crate::ofp::error::OfpError;
use crate::ofp::field::Field;
use crate::ofp::matching::Match;
use crate::tlv::{options_cover, options_overlap, same_options, tun_metadata_index, TunTable};

/// Number of tables (OpenFlow's 0..=254; 255 means "all").
pub const N_TABLES: usize = 255;
/// `table_id` meaning every table (OFPTT_ALL).
pub const ALL_TABLES: u8 = 0xff;

/// What the table layer needs to know of an action list.
pub trait ActionSet: Send + Sync {
    /// True if the actions may send to OpenFlow port `port`.
    fn outputs_to(&self, port: u32) -> bool;
    /// True if the actions use group `group`.
    fn uses_group(&self, group: u32) -> bool;
    /// Calls `f` with every field the actions read or write (which
    /// `tun_metadata` mappings they need).
    fn for_each_field(&self, _f: &mut dyn FnMut(Field)) {}
}

/// flow_mod flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowFlags {
    pub send_flow_rem: bool,
    pub check_overlap: bool,
    pub reset_counts: bool,
    pub no_pkt_counts: bool,
    pub no_byt_counts: bool,
}

/// Counters of a flow entry, fed by the revalidator from datapath stats.
#[derive(Debug, Default)]
pub struct EntryStats {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Bridge clock (ms) of the last packet, for idle timeouts.
    pub used_ms: AtomicU64,
}

impl EntryStats {
    pub fn add(&self, packets: u64, bytes: u64, now_ms: u64) {
        if packets > 0 {
            self.packets.fetch_add(packets, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            self.used_ms.fetch_max(now_ms, Ordering::Relaxed);
        }
    }
}

/// One flow entry.
#[derive(Debug)]
pub struct FlowEntry<A> {
    pub table_id: u8,
    /// The match as the controller gave it, for dumps and flow-removed.
    pub matched: Match,
    pub cookie: AtomicU64,
    /// Replaced by modify; readers load it without locking.
    pub actions: ArcSwap<A>,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub importance: u16,
    pub flags: FlowFlags,
    pub created_ms: u64,
    pub stats: EntryStats,
}

impl<A> FlowEntry<A> {
    /// A copy of this entry (counters as they are now), for putting a rule
    /// back into a table.
    fn duplicate(&self) -> FlowEntry<A> {
        FlowEntry {
            table_id: self.table_id,
            matched: self.matched.clone(),
            cookie: AtomicU64::new(self.cookie.load(Ordering::Relaxed)),
            actions: ArcSwap::new(self.actions.load_full()),
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            importance: self.importance,
            flags: self.flags,
            created_ms: self.created_ms,
            stats: EntryStats {
                packets: AtomicU64::new(self.stats.packets.load(Ordering::Relaxed)),
                bytes: AtomicU64::new(self.stats.bytes.load(Ordering::Relaxed)),
                used_ms: AtomicU64::new(self.stats.used_ms.load(Ordering::Relaxed)),
            },
        }
    }
}

/// Whether a rule of this priority is hidden from OpenFlow (Open vSwitch's
/// `rule_is_hidden`): the switch's own flows, such as fail-open's, sit
/// above every priority a controller can give, and no controller sees,
/// counts, changes or deletes them.
pub fn is_hidden(priority: u32) -> bool {
    priority > u32::from(u16::MAX)
}

/// Why a rule's time is up at `now_ms`, if it is (the hard timeout first).
fn due_reason<A>(e: &FlowEntry<A>, now_ms: u64) -> Option<RemovedReason> {
    let hard = e.hard_timeout != 0 && now_ms >= e.created_ms + e.hard_timeout as u64 * 1000;
    let used = e.stats.used_ms.load(Ordering::Relaxed);
    let idle = e.idle_timeout != 0 && now_ms >= used + e.idle_timeout as u64 * 1000;
    if hard {
        Some(RemovedReason::HardTimeout)
    } else if idle {
        Some(RemovedReason::IdleTimeout)
    } else {
        None
    }
}

/// A rule of a table: match, priority, entry.
pub type TableRule<A> = Arc<Rule<FlowEntry<A>, FLOW_WORDS>>;

/// One change a flow_mod made to a table, with what it takes to undo it
/// ([`FlowTables::undo`]): how a bundle that fails halfway is taken back,
/// and what flow monitors are told.
#[derive(Debug)]
pub enum FlowChange<A> {
    /// `rule` was added; `replaced` is the identical rule it replaced.
    Added {
        rule: TableRule<A>,
        replaced: Option<TableRule<A>>,
    },
    /// `rule` was removed (its entry as it was then).
    Removed(TableRule<A>),
    /// `rule`'s actions became its current ones; `actions` were the old
    /// ones, and `counts` the packet and byte counters if the modify reset
    /// them.
    Modified {
        rule: TableRule<A>,
        actions: Arc<A>,
        counts: Option<(u64, u64)>,
    },
}

impl<A> Clone for FlowChange<A> {
    fn clone(&self) -> Self {
        match self {
            FlowChange::Added { rule, replaced } => FlowChange::Added {
                rule: rule.clone(),
                replaced: replaced.clone(),
            },
            FlowChange::Removed(r) => FlowChange::Removed(r.clone()),
            FlowChange::Modified {
                rule,
                actions,
                counts,
            } => FlowChange::Modified {
                rule: rule.clone(),
                actions: actions.clone(),
                counts: *counts,
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowModCommand {
    Add,
    Modify,
    ModifyStrict,
    Delete,
    DeleteStrict,
}

/// A flow_mod, decoded and with its match in pipeline words.
#[derive(Clone, Debug)]
pub struct FlowModSpec<A> {
    pub command: FlowModCommand,
    pub table_id: u8,
    pub priority: u32,
    /// The match, and the same as pipeline words.
    pub matched: Match,
    pub key: FlowWords,
    pub mask: FlowWords,
    pub cookie: u64,
    /// For modify/delete: which cookies select (0 = any).
    pub cookie_mask: u64,
    pub out_port: Option<u32>,
    pub out_group: Option<u32>,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub importance: u16,
    pub flags: FlowFlags,
    pub actions: Arc<A>,
}

impl<A> FlowModSpec<A> {
    /// A flow_mod matching every packet, at `priority` in `table_id`, with
    /// no cookie, timeout, filter or flag (the switch's own flows: a new
    /// bridge's NORMAL flow, fail-open's).
    pub fn match_all(
        command: FlowModCommand,
        table_id: u8,
        priority: u32,
        actions: Arc<A>,
    ) -> FlowModSpec<A> {
        FlowModSpec {
            command,
            table_id,
            priority,
            matched: Match::new(),
            key: [0u64; FLOW_WORDS],
            mask: [0u64; FLOW_WORDS],
            cookie: 0,
            cookie_mask: 0,
            out_port: None,
            out_group: None,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            flags: FlowFlags::default(),
            actions,
        }
    }
}

/// Why a flow_mod was refused (the OpenFlow layer maps these to errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowModError {
    #[error("a flow of the same priority overlaps (check_overlap)")]
    Overlap,
    #[error("table id {0} does not exist")]
    BadTableId(u8),
    #[error("table {0} is full")]
    TableFull(u8),
    /// A `tun_metadata` field the TLV table does not map.
    #[error("tun_metadata field not mapped in the TLV table")]
    InvalidTlvField,
}

/// Why a flow left its table (OFPRR_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovedReason {
    IdleTimeout,
    HardTimeout,
    Delete,
}

/// What a flow_mod did: flows that went (with why), how many it added or
/// changed, and each change in the order made.
#[derive(Debug)]
pub struct FlowModResult<A> {
    pub removed: Vec<(TableRule<A>, RemovedReason)>,
    pub changed: usize,
    pub changes: Vec<FlowChange<A>>,
}

/// Counters of one table.
#[derive(Debug, Default)]
pub struct TableCounters {
    pub lookups: AtomicU64,
    pub matched: AtomicU64,
}

/// All tables of a bridge.
pub struct FlowTables<A> {
    tables: Vec<Classifier<FlowEntry<A>, FLOW_WORDS>>,
    pub counters: Vec<TableCounters>,
    /// Most flows per table.
    pub max_flows: usize,
    /// What `tun_metadataN` means. It lives with the flows, under the same
    /// lock, because each depends on the other: a flow may use a field
    /// only while it is mapped, and a mapping may go only while no flow
    /// uses it.
    tun: TunTable,
}

impl<A: ActionSet> Default for FlowTables<A> {
    fn default() -> Self {
        FlowTables::new()
    }
}

impl<A: ActionSet> FlowTables<A> {
    pub fn new() -> FlowTables<A> {
        FlowTables {
            tables: (0..N_TABLES).map(|_| Classifier::new()).collect(),
            counters: (0..N_TABLES).map(|_| TableCounters::default()).collect(),
            max_flows: 1_000_000,
            tun: TunTable::default(),
        }
    }

    /// The TLV table.
    pub fn tun_table(&self) -> &TunTable {
        &self.tun
    }

    /// Applies an NXT_TLV_TABLE_MOD (see [`crate::tlv`]): a mapping some
    /// flow's match or actions use cannot go.
    pub fn tlv_table_mod(&mut self, m: &crate::ofp::message::TlvTableMod) -> Result<(), OfpError> {
        let mut used = 0u64;
        for c in &self.tables {
            for r in c.iter() {
                let mut note = |f: Field| {
                    if let Some(n) = tun_metadata_index(f) {
                        used |= 1 << n;
                    }
                };
                for e in r.value.matched.entries() {
                    note(e.field);
                }
                r.value.actions.load().for_each_field(&mut note);
            }
        }
        self.tun = self.tun.apply(m, |n| used & (1 << n) != 0)?;
        Ok(())
    }

    /// `fm` with its match's `tun_metadata` values fitted to their
    /// options; InvalidTlvField if it uses (in its match, or in the actions
    /// of an add or modify) a field the TLV table does not map.
    fn fitted(&self, fm: &FlowModSpec<A>) -> Result<Option<FlowModSpec<A>>, FlowModError> {
        let mut bad = false;
        fm.actions.for_each_field(&mut |f| {
            bad |= self.tun.check_field(f).is_err();
        });
        if bad {
            return Err(FlowModError::InvalidTlvField);
        }
        self.fitted_match(&fm.matched).map(|m| {
            m.map(|matched| FlowModSpec {
                command: fm.command,
                table_id: fm.table_id,
                priority: fm.priority,
                matched,
                key: fm.key,
                mask: fm.mask,
                cookie: fm.cookie,
                cookie_mask: fm.cookie_mask,
                out_port: fm.out_port,
                out_group: fm.out_group,
                idle_timeout: fm.idle_timeout,
                hard_timeout: fm.hard_timeout,
                importance: fm.importance,
                flags: fm.flags,
                actions: fm.actions.clone(),
            })
        })
    }

    /// `m` fitted to the TLV table, if it matches `tun_metadata` at all.
    fn fitted_match(&self, m: &Match) -> Result<Option<Match>, FlowModError> {
        if !m
            .entries()
            .iter()
            .any(|e| tun_metadata_index(e.field).is_some())
        {
            return Ok(None);
        }
        self.tun
            .fit_match(m)
            .map(Some)
            .map_err(|_| FlowModError::InvalidTlvField)
    }

    /// Flows in table `t`.
    pub fn len(&self, t: u8) -> usize {
        self.tables.get(t as usize).map_or(0, |c| c.len())
    }

    /// The rules of table `t` OpenFlow sees (hidden ones left out).
    pub fn visible_len(&self, t: u8) -> usize {
        self.tables.get(t as usize).map_or(0, |c| {
            c.len() - c.iter().filter(|r| is_hidden(r.priority)).count()
        })
    }

    pub fn total(&self) -> usize {
        self.tables.iter().map(|c| c.len()).sum()
    }

    /// The best rule of table `t` for `flow`; wildcards accumulate in `wc`.
    pub fn lookup(&self, t: u8, flow: &FlowWords, wc: &mut FlowWords) -> Option<&TableRule<A>> {
        let table = self.tables.get(t as usize)?;
        let r = table.lookup(flow, wc);
        if let Some(c) = self.counters.get(t as usize) {
            c.lookups.fetch_add(1, Ordering::Relaxed);
            if r.is_some() {
                c.matched.fetch_add(1, Ordering::Relaxed);
            }
        }
        r
    }

    fn table_ids(&self, t: u8) -> Result<std::ops::Range<usize>, FlowModError> {
        match t {
            ALL_TABLES => Ok(0..N_TABLES),
            t if (t as usize) < N_TABLES => Ok(t as usize..t as usize + 1),
            t => Err(FlowModError::BadTableId(t)),
        }
    }

    /// Rules selected by a non-strict (or, with `strict`, strict) match
    /// plus cookie and out_port/out_group filters, as flow_mod modify and
    /// delete and the flow/aggregate stats requests select them. `matched`
    /// is the match `key`/`mask` come from (its `tun_metadata` values are
    /// not in the words).
    #[allow(clippy::too_many_arguments)]
    pub fn select(
        &self,
        table_id: u8,
        strict: bool,
        priority: u32,
        matched: &Match,
        key: &FlowWords,
        mask: &FlowWords,
        cookie: u64,
        cookie_mask: u64,
        out_port: Option<u32>,
        out_group: Option<u32>,
    ) -> Result<Vec<TableRule<A>>, FlowModError> {
        let fitted = self.fitted_match(matched)?;
        let matched = fitted.as_ref().unwrap_or(matched);
        let mut v = Vec::new();
        for t in self.table_ids(table_id)? {
            let c = &self.tables[t];
            let candidates: Vec<&TableRule<A>> = if strict {
                c.find_exact_by(priority, key, mask, |e| same_options(&e.matched, matched))
                    .into_iter()
                    .collect()
            } else {
                c.iter_loose(key, mask)
                    .filter(|r| options_cover(&r.value.matched, matched))
                    .collect()
            };
            for r in candidates {
                let e = &r.value;
                // Hidden rules are the switch's own: only a caller naming a
                // priority OpenFlow cannot say (above 16 bits) sees them.
                if is_hidden(r.priority) && !is_hidden(priority) {
                    continue;
                }
                if e.cookie.load(Ordering::Relaxed) & cookie_mask != cookie & cookie_mask {
                    continue;
                }
                let acts = e.actions.load();
                if out_port.is_some_and(|p| !acts.outputs_to(p))
                    || out_group.is_some_and(|g| !acts.uses_group(g))
                {
                    continue;
                }
                v.push(r.clone());
            }
        }
        Ok(v)
    }

    /// The rules a modify or delete selects (strict or loose as its command
    /// says), with the out_port/out_group filters when `filters`.
    fn selected(
        &self,
        fm: &FlowModSpec<A>,
        filters: bool,
    ) -> Result<Vec<TableRule<A>>, FlowModError> {
        let strict = matches!(
            fm.command,
            FlowModCommand::ModifyStrict | FlowModCommand::DeleteStrict
        );
        self.select(
            fm.table_id,
            strict,
            fm.priority,
            &fm.matched,
            &fm.key,
            &fm.mask,
            fm.cookie,
            fm.cookie_mask,
            fm.out_port.filter(|_| filters),
            fm.out_group.filter(|_| filters),
        )
    }

    /// Applies a flow_mod at time `now_ms`.
    pub fn apply(
        &mut self,
        fm: &FlowModSpec<A>,
        now_ms: u64,
    ) -> Result<FlowModResult<A>, FlowModError> {
        use FlowModCommand::*;
        let fitted = self.fitted(fm)?;
        let fm = fitted.as_ref().unwrap_or(fm);
        match fm.command {
            Add => self.add(fm, fm.table_id, now_ms),
            Modify | ModifyStrict => {
                // Modifies ignore out_port/out_group (OpenFlow 1.3, 7.3.4.2).
                let hits = self.selected(fm, false)?;
                if hits.is_empty() {
                    // OpenFlow 1.0-1.3: a modify that matches nothing adds
                    // (Open vSwitch keeps that behaviour in every version).
                    if fm.cookie_mask == 0 {
                        // "Every table" (OpenFlow 1.0) adds to table 0.
                        let t = if fm.table_id == ALL_TABLES {
                            0
                        } else {
                            fm.table_id
                        };
                        return self.add(fm, t, now_ms);
                    }
                    return Ok(FlowModResult {
                        removed: Vec::new(),
                        changed: 0,
                        changes: Vec::new(),
                    });
                }
                let mut changes = Vec::with_capacity(hits.len());
                for r in &hits {
                    let old = r.value.actions.swap(fm.actions.clone());
                    let counts = fm.flags.reset_counts.then(|| {
                        (
                            r.value.stats.packets.swap(0, Ordering::Relaxed),
                            r.value.stats.bytes.swap(0, Ordering::Relaxed),
                        )
                    });
                    changes.push(FlowChange::Modified {
                        rule: r.clone(),
                        actions: old,
                        counts,
                    });
                }
                Ok(FlowModResult {
                    removed: Vec::new(),
                    changed: hits.len(),
                    changes,
                })
            }
            Delete | DeleteStrict => {
                let hits = self.selected(fm, true)?;
                let mut removed = Vec::with_capacity(hits.len());
                let mut changes = Vec::with_capacity(hits.len());
                for r in hits {
                    if let Some(gone) = self.tables[r.value.table_id as usize].remove_by(
                        r.priority,
                        &r.key,
                        &r.mask,
                        |e| same_options(&e.matched, &r.value.matched),
                    ) {
                        changes.push(FlowChange::Removed(gone.clone()));
                        removed.push((gone, RemovedReason::Delete));
                    }
                }
                let n = removed.len();
                Ok(FlowModResult {
                    removed,
                    changed: n,
                    changes,
                })
            }
        }
    }

    fn add(
        &mut self,
        fm: &FlowModSpec<A>,
        t: u8,
        now_ms: u64,
    ) -> Result<FlowModResult<A>, FlowModError> {
        let Some(table) = self.tables.get_mut(t as usize) else {
            return Err(FlowModError::BadTableId(t));
        };
        let same = |e: &FlowEntry<A>| same_options(&e.matched, &fm.matched);
        let old = table
            .find_exact_by(fm.priority, &fm.key, &fm.mask, same)
            .cloned();
        // An identical flow is replaced, not an overlap (OVS does the same).
        if fm.flags.check_overlap
            && old.is_none()
            && table
                .find_overlap_by(fm.priority, &fm.key, &fm.mask, |e| {
                    options_overlap(&e.matched, &fm.matched)
                })
                .is_some()
        {
            return Err(FlowModError::Overlap);
        }
        if old.is_none() && table.len() >= self.max_flows {
            return Err(FlowModError::TableFull(t));
        }
        let entry = FlowEntry {
            table_id: t,
            matched: fm.matched.clone(),
            cookie: AtomicU64::new(fm.cookie),
            actions: ArcSwap::new(fm.actions.clone()),
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            importance: fm.importance,
            flags: fm.flags,
            created_ms: now_ms,
            stats: EntryStats::default(),
        };
        // Replacing an identical flow keeps its counters unless reset_counts.
        if let Some(old) = &old {
            if !fm.flags.reset_counts {
                let s = &old.value.stats;
                entry
                    .stats
                    .packets
                    .store(s.packets.load(Ordering::Relaxed), Ordering::Relaxed);
                entry
                    .stats
                    .bytes
                    .store(s.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        entry.stats.used_ms.store(now_ms, Ordering::Relaxed);
        let replaced = table.insert_by(fm.priority, &fm.key, &fm.mask, entry, same);
        let changes = table
            .find_exact_by(fm.priority, &fm.key, &fm.mask, same)
            .map(|rule| FlowChange::Added {
                rule: rule.clone(),
                replaced,
            })
            .into_iter()
            .collect();
        Ok(FlowModResult {
            removed: Vec::new(),
            changed: 1,
            changes,
        })
    }

    /// Takes back one change (changes are undone newest first). A rule is
    /// found again by table, priority and match, so that undoing works
    /// whatever later changes (already undone) did to it.
    pub fn undo(&mut self, change: FlowChange<A>) {
        match change {
            FlowChange::Added { rule, replaced } => {
                let Some(table) = self.tables.get_mut(rule.value.table_id as usize) else {
                    return;
                };
                let same = |e: &FlowEntry<A>| same_options(&e.matched, &rule.value.matched);
                table.remove_by(rule.priority, &rule.key, &rule.mask, same);
                if let Some(old) = replaced {
                    table.insert_by(
                        old.priority,
                        &old.key,
                        &old.mask,
                        old.value.duplicate(),
                        same,
                    );
                }
            }
            FlowChange::Removed(rule) => {
                if let Some(table) = self.tables.get_mut(rule.value.table_id as usize) {
                    table.insert_by(
                        rule.priority,
                        &rule.key,
                        &rule.mask,
                        rule.value.duplicate(),
                        |e| same_options(&e.matched, &rule.value.matched),
                    );
                }
            }
            FlowChange::Modified {
                rule,
                actions,
                counts,
            } => {
                let Some(table) = self.tables.get(rule.value.table_id as usize) else {
                    return;
                };
                let same = |e: &FlowEntry<A>| same_options(&e.matched, &rule.value.matched);
                if let Some(cur) = table.find_exact_by(rule.priority, &rule.key, &rule.mask, same) {
                    cur.value.actions.store(actions);
                    if let Some((packets, bytes)) = counts {
                        cur.value.stats.packets.store(packets, Ordering::Relaxed);
                        cur.value.stats.bytes.store(bytes, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Removes flows whose idle or hard timeout passed at `now_ms`.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(TableRule<A>, RemovedReason)> {
        let doomed = self.due(now_ms);
        self.remove_due(doomed, now_ms)
    }

    /// The rules whose timeout has passed at `now_ms` (a walk that needs
    /// only read access, so that translations go on meanwhile).
    pub fn due(&self, now_ms: u64) -> Vec<(TableRule<A>, RemovedReason)> {
        let mut doomed = Vec::new();
        for c in &self.tables {
            for r in c.iter() {
                if let Some(why) = due_reason(&r.value, now_ms) {
                    doomed.push((r.clone(), why));
                }
            }
        }
        doomed
    }

    /// Removes the rules [`FlowTables::due`] found, those still there and
    /// still due (a flow_mod or traffic may have come in between).
    pub fn remove_due(
        &mut self,
        doomed: Vec<(TableRule<A>, RemovedReason)>,
        now_ms: u64,
    ) -> Vec<(TableRule<A>, RemovedReason)> {
        let mut out = Vec::with_capacity(doomed.len());
        for (r, _) in doomed {
            if let Some(gone) =
                self.tables[r.value.table_id as usize].remove_by(r.priority, &r.key, &r.mask, |e| {
                    same_options(&e.matched, &r.value.matched) && due_reason(e, now_ms).is_some()
                })
            {
                if let Some(why) = due_reason(&gone.value, now_ms) {
                    out.push((gone, why));
                }
            }
        }
        out
    }

    /// Every rule of table `t` (or all tables).
    pub fn rules(&self, t: u8) -> Vec<TableRule<A>> {
        match self.table_ids(t) {
            Ok(ids) => ids.flat_map(|i| self.tables[i].iter().cloned()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::put;
    use crate::ofp::field::Field;

    /// Test actions: the ports they output to.
    #[derive(Debug, PartialEq)]
    struct Outs(Vec<u32>);
    impl ActionSet for Outs {
        fn outputs_to(&self, port: u32) -> bool {
            self.0.contains(&port)
        }
        fn uses_group(&self, _: u32) -> bool {
            false
        }
    }

    fn m(fields: &[(Field, u128)]) -> (FlowWords, FlowWords) {
        let (mut k, mut mk) = ([0u64; FLOW_WORDS], [0u64; FLOW_WORDS]);
        for (f, v) in fields {
            put(&mut k, *f, *v).unwrap_or_else(|e| panic!("{e}"));
            put(&mut mk, *f, u128::MAX).unwrap_or_else(|e| panic!("{e}"));
        }
        (k, mk)
    }

    fn fm(
        cmd: FlowModCommand,
        prio: u32,
        fields: &[(Field, u128)],
        outs: Vec<u32>,
    ) -> FlowModSpec<Outs> {
        let (key, mask) = m(fields);
        FlowModSpec {
            command: cmd,
            table_id: 0,
            priority: prio,
            matched: Match::new(),
            key,
            mask,
            cookie: 0,
            cookie_mask: 0,
            out_port: None,
            out_group: None,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            flags: FlowFlags::default(),
            actions: Arc::new(Outs(outs)),
        }
    }

    #[test]
    fn add_modify_delete_loose_and_strict() {
        use FlowModCommand::*;
        let mut t = FlowTables::<Outs>::new();
        t.apply(&fm(Add, 10, &[(Field::InPort, 1)], vec![2]), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        t.apply(
            &fm(
                Add,
                20,
                &[(Field::InPort, 1), (Field::EthType, 0x800)],
                vec![3],
            ),
            0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        t.apply(&fm(Add, 10, &[(Field::InPort, 2)], vec![1]), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.len(0), 3);
        // Loose modify on in_port=1 changes both in_port=1 flows.
        let r = t
            .apply(&fm(Modify, 0, &[(Field::InPort, 1)], vec![9]), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.changed, 2);
        // Strict modify touches only the exact match and priority.
        let r = t
            .apply(&fm(ModifyStrict, 10, &[(Field::InPort, 1)], vec![7]), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.changed, 1);
        let (flow, _) = m(&[(Field::InPort, 1)]);
        let mut wc = [0u64; FLOW_WORDS];
        let hit = t
            .lookup(0, &flow, &mut wc)
            .map(|r| r.value.actions.load_full());
        assert_eq!(hit.as_deref(), Some(&Outs(vec![7])));
        // Delete with out_port filter only removes flows that output there.
        let mut d = fm(Delete, 0, &[], vec![]);
        d.out_port = Some(1);
        let r = t.apply(&d, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.removed.len(), 1);
        assert_eq!(t.len(0), 2);
        // Delete strict needs the exact priority.
        assert_eq!(
            t.apply(&fm(DeleteStrict, 11, &[(Field::InPort, 1)], vec![]), 0)
                .map(|r| r.changed),
            Ok(0)
        );
        assert_eq!(
            t.apply(&fm(DeleteStrict, 10, &[(Field::InPort, 1)], vec![]), 0)
                .map(|r| r.changed),
            Ok(1)
        );
        // Delete all, every table.
        let mut all = fm(Delete, 0, &[], vec![]);
        all.table_id = ALL_TABLES;
        assert_eq!(t.apply(&all, 0).map(|r| r.changed), Ok(1));
        assert_eq!(t.total(), 0);
    }

    #[test]
    fn hidden_rules_are_seen_and_changed_only_by_their_own_priority() {
        use FlowModCommand::*;
        let mut t = FlowTables::<Outs>::new();
        let hidden = 0xf0_f0f0;
        for (prio, out) in [(hidden, 1), (100, 2)] {
            t.apply(&fm(Add, prio, &[], vec![out]), 0)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!((t.len(0), t.visible_len(0)), (2, 1));
        let seen = |t: &FlowTables<Outs>, prio| {
            t.select(
                0,
                false,
                prio,
                &Match::new(),
                &[0; FLOW_WORDS],
                &[0; FLOW_WORDS],
                0,
                0,
                None,
                None,
            )
            .map(|v| v.iter().map(|r| r.priority).collect::<Vec<_>>())
        };
        assert_eq!(seen(&t, 0), Ok(vec![100]), "a dump leaves it out");
        // A controller's delete-all leaves it; the switch's strict delete
        // by its priority removes it.
        let mut all = fm(Delete, 0, &[], vec![]);
        all.table_id = ALL_TABLES;
        assert_eq!(t.apply(&all, 0).map(|r| r.changed), Ok(1));
        assert_eq!(t.len(0), 1);
        assert_eq!(
            t.apply(&fm(DeleteStrict, hidden, &[], vec![]), 0)
                .map(|r| r.changed),
            Ok(1)
        );
        assert_eq!(t.total(), 0);
    }

    #[test]
    fn cookies_overlap_and_modify_that_adds() {
        use FlowModCommand::*;
        let mut t = FlowTables::<Outs>::new();
        let mut a = fm(Add, 5, &[(Field::InPort, 1)], vec![2]);
        a.cookie = 0xaa;
        t.apply(&a, 0).unwrap_or_else(|e| panic!("{e}"));
        let mut b = fm(Add, 5, &[(Field::EthType, 0x800)], vec![2]);
        b.flags.check_overlap = true;
        assert_eq!(t.apply(&b, 0).err(), Some(FlowModError::Overlap));
        b.priority = 6;
        assert!(t.apply(&b, 0).is_ok());
        let mut d = fm(Delete, 0, &[], vec![]);
        d.cookie = 0xbb;
        d.cookie_mask = u64::MAX;
        assert_eq!(
            t.apply(&d, 0).map(|r| r.changed),
            Ok(0),
            "cookie does not match"
        );
        d.cookie = 0xaa;
        assert_eq!(t.apply(&d, 0).map(|r| r.changed), Ok(1));
        // A modify that selects nothing adds the flow.
        assert_eq!(
            t.apply(&fm(Modify, 3, &[(Field::InPort, 4)], vec![1]), 0)
                .map(|r| r.changed),
            Ok(1)
        );
        assert_eq!(t.len(0), 2);
        let mut bad = fm(Add, 1, &[], vec![]);
        bad.table_id = 255;
        assert_eq!(t.apply(&bad, 0).err(), Some(FlowModError::BadTableId(255)));
    }

    #[test]
    fn timeouts_expire_with_their_reason() {
        use FlowModCommand::*;
        let mut t = FlowTables::<Outs>::new();
        let mut idle = fm(Add, 1, &[(Field::InPort, 1)], vec![]);
        idle.idle_timeout = 10;
        let mut hard = fm(Add, 1, &[(Field::InPort, 2)], vec![]);
        hard.hard_timeout = 5;
        t.apply(&idle, 0).unwrap_or_else(|e| panic!("{e}"));
        t.apply(&hard, 0).unwrap_or_else(|e| panic!("{e}"));
        assert!(t.expire(4_999).is_empty());
        let gone = t.expire(5_000);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1, RemovedReason::HardTimeout);
        // Traffic at 8 s keeps the idle flow until 18 s.
        t.rules(0)[0].value.stats.add(1, 60, 8_000);
        assert!(t.expire(17_999).is_empty());
        assert_eq!(
            t.expire(18_000).first().map(|g| g.1),
            Some(RemovedReason::IdleTimeout)
        );
        assert_eq!(t.total(), 0);
    }

    /// Every rule as (table, priority, key, actions, packets).
    fn snapshot(t: &FlowTables<Outs>) -> Vec<(u8, u32, FlowWords, Vec<u32>, u64)> {
        let mut v: Vec<_> = t
            .rules(ALL_TABLES)
            .iter()
            .map(|r| {
                (
                    r.value.table_id,
                    r.priority,
                    r.key,
                    r.value.actions.load().0.clone(),
                    r.value.stats.packets.load(Ordering::Relaxed),
                )
            })
            .collect();
        v.sort_by_key(|a| (a.0, a.1, a.2));
        v
    }

    #[test]
    fn undo_takes_back_every_change_newest_first() {
        use FlowModCommand::*;
        let mut t = FlowTables::<Outs>::new();
        for (p, port) in [(10, 1), (20, 2), (30, 3)] {
            t.apply(&fm(Add, p, &[(Field::InPort, port)], vec![port as u32]), 0)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for r in t.rules(0) {
            r.value.stats.add(5, 300, 1);
        }
        let before = snapshot(&t);
        let mut log = Vec::new();
        let mut run = |t: &mut FlowTables<Outs>, f: FlowModSpec<Outs>| {
            let r = t.apply(&f, 2).unwrap_or_else(|e| panic!("{e}"));
            log.extend(r.changes);
        };
        // Modify (resetting counters), then delete the modified rule, then
        // add it back differently, replace another, add a new one, delete
        // everything.
        let mut m = fm(ModifyStrict, 10, &[(Field::InPort, 1)], vec![9]);
        m.flags.reset_counts = true;
        run(&mut t, m);
        run(&mut t, fm(DeleteStrict, 10, &[(Field::InPort, 1)], vec![]));
        run(&mut t, fm(Add, 10, &[(Field::InPort, 1)], vec![7]));
        run(&mut t, fm(Add, 20, &[(Field::InPort, 2)], vec![8]));
        run(&mut t, fm(Add, 40, &[(Field::InPort, 4)], vec![4]));
        run(&mut t, fm(Modify, 0, &[], vec![6]));
        run(&mut t, fm(Delete, 0, &[], vec![]));
        assert_eq!(t.total(), 0);
        assert!(log.len() >= 12, "{}", log.len());
        for c in log.into_iter().rev() {
            t.undo(c);
        }
        assert_eq!(snapshot(&t), before);
    }

    /// A flow_mod whose match is `tun_metadata0` = `value` (under `mask`).
    fn fm_tun(cmd: FlowModCommand, value: &[u8], mask: Option<&[u8]>) -> FlowModSpec<Outs> {
        use crate::ofp::field::Value;
        let mut matched = Match::new();
        matched
            .insert(
                Field::TunMetadata0,
                Value::from_slice(value),
                mask.map(Value::from_slice),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let (key, mask) = crate::flow::match_words(&matched).unwrap_or_else(|e| panic!("{e}"));
        FlowModSpec {
            matched,
            key,
            mask,
            ..fm(cmd, 5, &[], vec![1])
        }
    }

    fn map_tun0(t: &mut FlowTables<Outs>, len: u8) {
        use crate::ofp::message::{TlvMap, TlvTableCommand, TlvTableMod};
        let m = TlvTableMod {
            command: TlvTableCommand::Add,
            mappings: vec![TlvMap {
                option_class: 0xffff,
                option_type: 0,
                option_len: len,
                index: 0,
            }],
        };
        t.tlv_table_mod(&m).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn tun_metadata_flows_need_a_mapping_and_differ_by_value() {
        use FlowModCommand::*;
        let mut t: FlowTables<Outs> = FlowTables::new();
        assert_eq!(
            t.apply(&fm_tun(Add, &[1], None), 0).err(),
            Some(FlowModError::InvalidTlvField)
        );
        map_tun0(&mut t, 4);
        for v in [
            &[1u8][..],
            &[2],
            &[0, 0, 0, 1],
            &[0x12, 0x34, 0x56, 0x78, 0x90],
        ] {
            t.apply(&fm_tun(Add, v, None), 0)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // 1 and 00000001 are one flow once fitted to 4 bytes; the 5-byte
        // value keeps its first 4.
        assert_eq!(t.len(0), 3);
        let stored: Vec<Vec<u8>> = t
            .rules(0)
            .iter()
            .filter_map(|r| r.value.matched.get(Field::TunMetadata0))
            .map(|e| e.value.as_slice().to_vec())
            .collect();
        assert!(stored.contains(&vec![0x12, 0x34, 0x56, 0x78]), "{stored:?}");
        // A flow on tun_metadata0 never matches a packet: none carries
        // Geneve options yet.
        let mut wc = [0u64; FLOW_WORDS];
        assert!(t.lookup(0, &[0u64; FLOW_WORDS], &mut wc).is_none());
        // Loose selection looks at the values too.
        let q = fm_tun(Delete, &[0x10, 0, 0, 0], Some(&[0xf0, 0, 0, 0]));
        let hits = t
            .select(0, false, 0, &q.matched, &q.key, &q.mask, 0, 0, None, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hits.len(), 1);
        // A mapping in use stays; strict delete takes one value only, and
        // undoing it puts that flow back.
        let clear = crate::ofp::message::TlvTableMod {
            command: crate::ofp::message::TlvTableCommand::Clear,
            mappings: vec![],
        };
        assert!(t.tlv_table_mod(&clear).is_err());
        let done = t
            .apply(&fm_tun(DeleteStrict, &[0, 0, 0, 2], None), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((done.removed.len(), t.len(0)), (1, 2));
        for c in done.changes.into_iter().rev() {
            t.undo(c);
        }
        assert_eq!(t.len(0), 3);
        t.apply(&fm_tun(Delete, &[0], Some(&[0])), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.len(0), 0);
        assert!(t.tlv_table_mod(&clear).is_ok());
    }

    #[test]
    fn replacing_an_identical_flow_keeps_counters_unless_reset() {
        use FlowModCommand::*;
        let mut t = FlowTables::<Outs>::new();
        t.apply(&fm(Add, 1, &[(Field::InPort, 1)], vec![2]), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        t.rules(0)[0].value.stats.add(3, 180, 1);
        t.apply(&fm(Add, 1, &[(Field::InPort, 1)], vec![3]), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.rules(0)[0].value.stats.packets.load(Ordering::Relaxed), 3);
        let mut r = fm(Add, 1, &[(Field::InPort, 1)], vec![3]);
        r.flags.reset_counts = true;
        t.apply(&r, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.rules(0)[0].value.stats.packets.load(Ordering::Relaxed), 0);
        assert_eq!(t.len(0), 1);
    }
}
