//! Bundles (OpenFlow 1.4+, and the ONF extension of 1.3): one
//! connection's open bundles, what may go into one, and the commit that
//! applies a bundle all or nothing. No I/O and no clock: the session hands
//! in messages and the time.
//!
//! The semantics are Open vSwitch's (`ofproto/bundles.c`,
//! `ofproto.c:handle_bundle_*`, `do_bundle_commit`):
//!
//! - OPEN of a bundle that exists discards it and fails with BAD_ID;
//!   CLOSE, COMMIT and DISCARD of one that does not exist fail with
//!   BAD_ID; CLOSE of a closed bundle discards it (BUNDLE_CLOSED); CLOSE
//!   and COMMIT with other flags than the bundle's discard it (BAD_FLAGS).
//!   A commit discards the bundle whatever its outcome. An ADD to a bundle
//!   that does not exist opens it.
//! - An added message is decoded and checked when it is added (the checks
//!   of [`crate::ofp::bundle_msg::BundleAdd::message`], then MSG_UNSUP for
//!   a message that cannot be decoded or is not a flow mod, group mod, port
//!   mod or packet-out, then the message's own errors); a failing add
//!   leaves the bundle as it was. ADD to a closed bundle discards it
//!   (BUNDLE_CLOSED), with other flags than the bundle's too (BAD_FLAGS).
//! - Commit applies the messages in order. If one fails, every change is
//!   taken back, the error of that message goes out (with the xid and
//!   start of its BUNDLE_ADD_MESSAGE), then MSG_FAILED for the commit. Port
//!   mods are refused in atomic bundles (MSG_FAILED), as in Open vSwitch,
//!   whose port mods cannot be taken back. Packet-outs run once every
//!   table change succeeded (Open vSwitch translates each at its place in
//!   the bundle; here they all see the bundle's final tables).
//! - A bundle idle for [`IDLE_TIMEOUT_MS`] is discarded with TIMEOUT (sent
//!   with the message that opened it); closing the connection discards
//!   every bundle.
//!
//! Open vSwitch puts no limit on bundles. oxvs refuses a connection's
//! [`MAX_BUNDLES`]+1st open bundle (OUT_OF_BUNDLES) and messages beyond
//! [`MAX_BUNDLE_BYTES`] held in all its bundles (MSG_TOO_MANY), so that a
//! peer cannot exhaust memory.

use std::collections::BTreeMap;

use crate::bridge::Transaction;
use crate::ofconn::SwitchView;
use crate::ofp::bundle_msg::{BundleAdd, OFPBF_ATOMIC};
use crate::ofp::error::{BundleFailed, OfpError, NX_VENDOR_ID, REPLY_DATA_LEN};
use crate::ofp::flow_msg::{self, FlowMod, FlowMsg, PacketOut};
use crate::ofp::group_msg::{
    self, GroupCommand, GroupDesc, GroupMod, GroupMsg, BUCKET_ALL, OFPG_ALL,
};
use crate::ofp::message::{self, Message, PortConfig, PortFeatures, PortMod, RawMsg, Unparsed};
use crate::ofp::{Header, Version};

/// Bundles a connection may have open at once.
pub const MAX_BUNDLES: usize = 256;
/// Bytes of added messages all bundles of a connection may hold.
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;
/// A bundle nobody touched for this long is discarded (Open vSwitch's
/// default `bundle-idle-timeout`).
pub const IDLE_TIMEOUT_MS: u64 = 10_000;

/// A message a bundle can carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleOp {
    FlowMod(FlowMod),
    GroupMod(GroupMod),
    PortMod(PortMod),
    PacketOut(PacketOut),
}

/// Why a commit failed: the message at `index` failed with `error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitFailure {
    pub index: usize,
    pub error: OfpError,
}

/// The start of a message, with its xid: what an error about it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub xid: u32,
    pub head: Vec<u8>,
}

impl Origin {
    pub fn of(xid: u32, msg: &[u8]) -> Origin {
        Origin {
            xid,
            head: msg[..msg.len().min(REPLY_DATA_LEN)].to_vec(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    Closed,
}

struct Bundle {
    flags: u16,
    state: State,
    used_ms: u64,
    /// The message that opened the bundle (for TIMEOUT).
    origin: Origin,
    ops: Vec<BundleOp>,
    /// The BUNDLE_ADD_MESSAGE of each op (for its error at commit).
    origins: Vec<Origin>,
    bytes: usize,
}

/// A closed-for-business bundle, taken out for its commit.
#[derive(Debug)]
pub struct Committing {
    pub flags: u16,
    pub ops: Vec<BundleOp>,
    pub origins: Vec<Origin>,
}

/// One connection's bundles.
#[derive(Default)]
pub struct Bundles {
    open: BTreeMap<u32, Bundle>,
    bytes: usize,
}

fn fail(e: BundleFailed) -> OfpError {
    OfpError::BundleFailed(e)
}

impl Bundles {
    /// How many bundles exist.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    fn remove(&mut self, id: u32) -> Option<Bundle> {
        let b = self.open.remove(&id)?;
        self.bytes = self.bytes.saturating_sub(b.bytes);
        Some(b)
    }

    fn create(&mut self, id: u32, flags: u16, origin: Origin, now_ms: u64) -> Result<(), OfpError> {
        if self.open.len() >= MAX_BUNDLES {
            return Err(fail(BundleFailed::OutOfBundles));
        }
        self.open.insert(
            id,
            Bundle {
                flags,
                state: State::Open,
                used_ms: now_ms,
                origin,
                ops: Vec::new(),
                origins: Vec::new(),
                bytes: 0,
            },
        );
        Ok(())
    }

    /// OPEN_REQUEST.
    pub fn open(
        &mut self,
        id: u32,
        flags: u16,
        origin: Origin,
        now_ms: u64,
    ) -> Result<(), OfpError> {
        if self.remove(id).is_some() {
            return Err(fail(BundleFailed::BadId));
        }
        self.create(id, flags, origin, now_ms)
    }

    /// CLOSE_REQUEST.
    pub fn close(&mut self, id: u32, flags: u16, now_ms: u64) -> Result<(), OfpError> {
        let Some(b) = self.open.get_mut(&id) else {
            return Err(fail(BundleFailed::BadId));
        };
        if b.state == State::Closed {
            self.remove(id);
            return Err(fail(BundleFailed::BundleClosed));
        }
        if b.flags != flags {
            self.remove(id);
            return Err(fail(BundleFailed::BadFlags));
        }
        b.used_ms = now_ms;
        b.state = State::Closed;
        Ok(())
    }

    /// DISCARD_REQUEST.
    pub fn discard(&mut self, id: u32) -> Result<(), OfpError> {
        self.remove(id).map(|_| ()).ok_or(fail(BundleFailed::BadId))
    }

    /// Adds a decoded message (see [`decode_entry`]); `origin` is its
    /// BUNDLE_ADD_MESSAGE, `size` that message's length.
    pub fn add(
        &mut self,
        id: u32,
        flags: u16,
        op: BundleOp,
        origin: Origin,
        size: usize,
        now_ms: u64,
    ) -> Result<(), OfpError> {
        let exists = match self.open.get(&id) {
            None => false,
            Some(b) if b.state == State::Closed => {
                self.remove(id);
                return Err(fail(BundleFailed::BundleClosed));
            }
            Some(b) if b.flags != flags => {
                self.remove(id);
                return Err(fail(BundleFailed::BadFlags));
            }
            Some(_) => true,
        };
        if self.bytes + size > MAX_BUNDLE_BYTES {
            return Err(fail(BundleFailed::MsgTooMany));
        }
        if !exists {
            self.create(id, flags, origin.clone(), now_ms)?;
        }
        let Some(b) = self.open.get_mut(&id) else {
            return Err(fail(BundleFailed::BadId));
        };
        b.used_ms = now_ms;
        b.ops.push(op);
        b.origins.push(origin);
        b.bytes += size;
        self.bytes += size;
        Ok(())
    }

    /// COMMIT_REQUEST: takes the bundle out (it is gone whatever the
    /// commit's outcome).
    pub fn take(&mut self, id: u32, flags: u16) -> Result<Committing, OfpError> {
        let b = self.remove(id).ok_or(fail(BundleFailed::BadId))?;
        if b.flags != flags {
            return Err(fail(BundleFailed::BadFlags));
        }
        Ok(Committing {
            flags: b.flags,
            ops: b.ops,
            origins: b.origins,
        })
    }

    /// Discards the bundles idle for [`IDLE_TIMEOUT_MS`] at `now_ms`,
    /// returning the messages that opened them (each gets TIMEOUT).
    pub fn expire(&mut self, now_ms: u64) -> Vec<Origin> {
        let old: Vec<u32> = self
            .open
            .iter()
            .filter(|(_, b)| now_ms.saturating_sub(b.used_ms) >= IDLE_TIMEOUT_MS)
            .map(|(id, _)| *id)
            .collect();
        old.into_iter()
            .filter_map(|id| self.remove(id))
            .map(|b| b.origin)
            .collect()
    }

    /// Discards every bundle (the connection is gone).
    pub fn clear(&mut self) {
        self.open.clear();
        self.bytes = 0;
    }
}

/// Decodes the message a BUNDLE_ADD_MESSAGE carries, as Open vSwitch's
/// `handle_bundle_add` does: the checks of [`BundleAdd::message`]; then
/// OFPBFC_MSG_UNSUP for a message whose header does not decode or that is
/// not a flow mod, group mod, port mod or packet-out; then the message's
/// own decoding errors. `outer` is the header of the add message.
pub fn decode_entry(
    version: Version,
    outer: &Header,
    add: &BundleAdd,
    flow_mod_table_id: bool,
) -> Result<BundleOp, OfpError> {
    let inner = add.message(outer)?;
    let unsup = fail(BundleFailed::MsgUnsup);
    let (_, raw) = message::peek(inner).map_err(|_| unsup)?;
    let bundlable = matches!(
        raw,
        RawMsg::Of11FlowMod
            | RawMsg::NxtFlowMod
            | RawMsg::Of11GroupMod
            | RawMsg::Of15GroupMod
            | RawMsg::NxtGroupMod
            | RawMsg::Of11PortMod
            | RawMsg::Of14PortMod
            | RawMsg::Of11PacketOut
            | RawMsg::Of15PacketOut
    );
    if !bundlable {
        return Err(unsup);
    }
    let (_, m) = message::decode(inner)?;
    let u = match m {
        Message::PortMod(pm) => return Ok(BundleOp::PortMod(pm)),
        Message::Unparsed(u) => u,
        Message::Experimenter(e) if e.experimenter == NX_VENDOR_ID => Unparsed {
            raw,
            flags: 0,
            body: e.data,
        },
        _ => return Err(unsup),
    };
    if let Some(g) = group_msg::decode(version, &u) {
        return match g? {
            GroupMsg::GroupMod(gm) => Ok(BundleOp::GroupMod(gm)),
            _ => Err(unsup),
        };
    }
    match flow_msg::decode(version, &u, flow_mod_table_id) {
        Some(Ok(FlowMsg::FlowMod(fm))) => Ok(BundleOp::FlowMod(fm)),
        Some(Ok(FlowMsg::PacketOut(po))) => Ok(BundleOp::PacketOut(po)),
        Some(Err(e)) => Err(e),
        _ => Err(unsup),
    }
}

/// How to take back a change a transaction does not log (groups, port
/// configuration).
enum Undo {
    /// Put these groups back as they were (None: there was none).
    Groups(Vec<(u32, Option<GroupDesc>)>),
    Port(PortMod),
}

/// Applies a bundle's messages through `view`, all or nothing (see the
/// module docs); what [`SwitchView::commit_bundle`] does unless a view
/// knows better.
///
/// Flow table changes run in a [`Transaction`], so that no packet, dump or
/// other connection sees half of them and they can be taken back. Groups
/// and port configuration are saved before each change and put back on
/// failure (a group put back has its counters reset).
pub fn commit<V: SwitchView + ?Sized>(
    view: &V,
    ops: &[BundleOp],
    flags: u16,
) -> Result<(), CommitFailure> {
    let Some(txn) = Transaction::begin() else {
        return Err(CommitFailure {
            index: 0,
            error: fail(BundleFailed::BundleInProgress),
        });
    };
    let mut undo: Vec<(usize, Undo)> = Vec::new();
    let mut failure = None;
    for (index, op) in ops.iter().enumerate() {
        let mark = txn.mark();
        let r = match op {
            BundleOp::FlowMod(fm) => view.flow_mod(fm),
            BundleOp::GroupMod(gm) => {
                let ids = if gm.group_id == OFPG_ALL {
                    view.group_descs(OFPG_ALL)
                        .into_iter()
                        .map(|d| (d.group_id, Some(d)))
                        .collect()
                } else {
                    vec![(
                        gm.group_id,
                        view.group_descs(gm.group_id).into_iter().next(),
                    )]
                };
                let r = view.group_mod(gm);
                if r.is_ok() {
                    undo.push((mark, Undo::Groups(ids)));
                }
                r
            }
            // Open vSwitch cannot take a port mod back, so an atomic
            // bundle may not have one.
            BundleOp::PortMod(_) if flags & OFPBF_ATOMIC != 0 => Err(fail(BundleFailed::MsgFailed)),
            BundleOp::PortMod(pm) => {
                let before = view.ports().into_iter().find(|p| p.port_no == pm.port_no);
                // Every controller hears of it (the bundle's sender too).
                let r = view.port_mod(pm, None);
                if let (Ok(()), Some(p)) = (&r, before) {
                    undo.push((
                        mark,
                        Undo::Port(PortMod {
                            port_no: p.port_no,
                            hw_addr: p.hw_addr,
                            config: PortConfig(p.config.0 & pm.mask.0),
                            mask: pm.mask,
                            advertise: PortFeatures(0),
                            props: Vec::new(),
                        }),
                    ));
                }
                r
            }
            // Run below, once every table change succeeded.
            BundleOp::PacketOut(_) => Ok(()),
        };
        if let Err(error) = r {
            failure = Some(CommitFailure { index, error });
            break;
        }
    }
    if failure.is_none() {
        for (index, op) in ops.iter().enumerate() {
            if let BundleOp::PacketOut(po) = op {
                if let Err(error) = view.packet_out(po) {
                    failure = Some(CommitFailure { index, error });
                    break;
                }
            }
        }
    }
    let Some(failure) = failure else {
        txn.commit();
        return Ok(());
    };
    for (mark, u) in undo.into_iter().rev() {
        txn.rollback_to(mark);
        let result = match u {
            Undo::Groups(groups) => groups.into_iter().try_for_each(|(id, desc)| {
                view.group_mod(&match desc {
                    Some(d) => GroupMod {
                        command: GroupCommand::AddOrMod,
                        group_type: d.group_type,
                        group_id: id,
                        command_bucket_id: BUCKET_ALL,
                        buckets: d.buckets,
                        props: d.props,
                    },
                    None => GroupMod {
                        command: GroupCommand::Delete,
                        group_type: crate::ofp::group_msg::GroupType::All,
                        group_id: id,
                        command_bucket_id: BUCKET_ALL,
                        buckets: Vec::new(),
                        props: Default::default(),
                    },
                })
            }),
            Undo::Port(pm) => view.port_mod(&pm, None),
        };
        if let Err(e) = result {
            tracing::error!(error = ?e, "a failed bundle could not be taken back entirely");
        }
    }
    // Dropping the transaction takes back the remaining flow changes.
    drop(txn);
    Err(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(n: u8) -> Origin {
        Origin::of(u32::from(n), &[n; 80])
    }

    fn op() -> BundleOp {
        BundleOp::PacketOut(PacketOut {
            buffer_id: u32::MAX,
            in_port: 1,
            actions: Vec::new(),
            data: Vec::new(),
        })
    }

    #[test]
    fn lifecycle_as_open_vswitch() {
        let mut b = Bundles::default();
        let e = |x| Err(fail(x));
        assert_eq!(b.close(1, 0, 0), e(BundleFailed::BadId));
        assert_eq!(b.discard(1), e(BundleFailed::BadId));
        assert!(matches!(
            b.take(1, 0),
            Err(OfpError::BundleFailed(BundleFailed::BadId))
        ));
        assert_eq!(b.open(1, 3, origin(1), 0), Ok(()));
        // Opening it again discards it.
        assert_eq!(b.open(1, 3, origin(1), 0), e(BundleFailed::BadId));
        assert!(b.is_empty());
        // An add opens a bundle; other flags discard it.
        assert_eq!(b.add(2, 1, op(), origin(2), 16, 0), Ok(()));
        assert_eq!(b.add(2, 1, op(), origin(3), 16, 0), Ok(()));
        assert_eq!(
            b.add(2, 3, op(), origin(4), 16, 0),
            e(BundleFailed::BadFlags)
        );
        assert!(b.is_empty());
        // Closed: adds and a second close discard it.
        b.open(3, 0, origin(5), 0).ok();
        assert_eq!(b.close(3, 0, 0), Ok(()));
        assert_eq!(
            b.add(3, 0, op(), origin(6), 16, 0),
            e(BundleFailed::BundleClosed)
        );
        assert!(b.is_empty());
        b.open(3, 0, origin(5), 0).ok();
        b.close(3, 0, 0).ok();
        assert_eq!(b.close(3, 0, 0), e(BundleFailed::BundleClosed));
        // Close with other flags discards it.
        b.open(4, 1, origin(5), 0).ok();
        assert_eq!(b.close(4, 0, 0), e(BundleFailed::BadFlags));
        assert!(b.is_empty());
        // Commit takes it out, with its messages and their origins.
        b.open(5, 1, origin(7), 0).ok();
        b.add(5, 1, op(), origin(8), 16, 0).ok();
        let c = b.take(5, 1).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((c.ops.len(), c.origins[0].xid), (1, 8));
        assert_eq!(c.origins[0].head.len(), REPLY_DATA_LEN);
        assert!(b.is_empty());
        // Commit with other flags: gone too.
        b.open(6, 1, origin(7), 0).ok();
        assert!(matches!(
            b.take(6, 0),
            Err(OfpError::BundleFailed(BundleFailed::BadFlags))
        ));
        assert!(b.is_empty());
    }

    #[test]
    fn limits_and_idle_timeout() {
        let mut b = Bundles::default();
        for id in 0..MAX_BUNDLES as u32 {
            assert_eq!(b.open(id, 0, origin(1), 0), Ok(()));
        }
        assert_eq!(
            b.open(9999, 0, origin(1), 0),
            Err(fail(BundleFailed::OutOfBundles))
        );
        assert_eq!(
            b.add(9999, 0, op(), origin(1), 16, 0),
            Err(fail(BundleFailed::OutOfBundles))
        );
        b.clear();
        assert_eq!(
            b.add(1, 0, op(), origin(1), MAX_BUNDLE_BYTES + 1, 0),
            Err(fail(BundleFailed::MsgTooMany))
        );
        b.clear();
        b.open(1, 0, origin(1), 0).ok();
        b.open(2, 0, origin(2), 5_000).ok();
        assert!(b.expire(9_999).is_empty());
        let gone = b.expire(10_000);
        assert_eq!(gone.iter().map(|o| o.xid).collect::<Vec<_>>(), [1]);
        // Using a bundle keeps it alive.
        b.add(2, 0, op(), origin(3), 16, 14_000).ok();
        assert!(b.expire(20_000).is_empty());
        assert_eq!(b.expire(24_000).len(), 1);
        assert!(b.is_empty());
    }
}
