//! Flow monitors: a connection asks to hear about the flows that match a
//! criterion (NXST_FLOW_MONITOR, ONFST_FLOW_MONITOR, OFPMP_FLOW_MONITOR);
//! it gets the flows there now, then an update for every flow added,
//! removed or modified, as Open vSwitch sends them (`connmgr.c`
//! `ofmonitor_report`, `ofproto.c` `handle_flow_monitor_request`):
//!
//! - a monitor selects by table, out_port (the flow's actions, or its old
//!   actions for a modify, output there), out_group and a loose match (the
//!   flow's match is at least as specific as the monitor's);
//! - a flow matching several monitors of a connection is reported once,
//!   with the union of their flags; actions are included if one asks;
//! - a change the connection made itself is reported as one abbreviated
//!   update (the xid of its request) per batch of changes, unless a
//!   monitor has OFPFMF_ONLY_OWN (Open vSwitch's "own changes in full");
//! - a modify is reported only if it changed the actions; an add that
//!   replaces an identical flow is reported as added.
//!
//! The [`MonitorHub`] of a bridge receives every flow table change (the
//! bridge publishes them, after the change or after its bundle commits);
//! each [`MonitorSub`] (one per connection that has monitors) keeps its
//! monitors and the updates not sent yet. Updates go out when the
//! connection's session flushes them, or at once through the connection's
//! outbound queue when the session has one.
//!
//! Not done: pausing (OFPFME_PAUSED/RESUMED) when a connection falls
//! behind. Instead a connection holds at most [`MAX_PENDING`] unsent
//! updates; beyond that they are dropped and logged.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::flow::{match_words, FlowWords};
use crate::ofp::error::{BadRequest, FlowMonitorFailed, OfpError};
use crate::ofp::message::{encode, Message, Unparsed};
use crate::ofp::monitor_msg::{
    encode_update, flags, reply_raw, FlowMonitorRequest, FlowUpdate, FlowUpdateFull, UpdateEvent,
};
use crate::ofp::Version;
use crate::table::{ActionSet, TableRule};
use crate::xlate::OfActions;

/// Unsent updates a connection may hold.
pub const MAX_PENDING: usize = 100_000;
/// Monitors a connection may have.
pub const MAX_MONITORS: usize = 4096;

/// Who asked for a change: a connection and the xid of its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requester {
    pub conn: u64,
    pub xid: u32,
}

thread_local! {
    static REQUESTER: Cell<Option<Requester>> = const { Cell::new(None) };
}

/// Runs `f` with `r` as the requester of the flow table changes it makes
/// on this thread (for abbreviated updates).
pub fn with_requester<R>(r: Requester, f: impl FnOnce() -> R) -> R {
    let old = REQUESTER.with(|c| c.replace(Some(r)));
    let out = f();
    REQUESTER.with(|c| c.set(old));
    out
}

/// The requester of changes made now on this thread, if any.
pub fn requester() -> Option<Requester> {
    REQUESTER.with(|c| c.get())
}

/// A flow table change to report.
#[derive(Clone, Debug)]
pub struct FlowEvent {
    pub event: UpdateEvent,
    /// OFPRR_* for a removal.
    pub reason: u8,
    /// The flow (as it is now; as it was, if removed).
    pub rule: TableRule<OfActions>,
    /// A modify's old actions.
    pub old_actions: Option<Arc<OfActions>>,
    pub requester: Option<Requester>,
}

/// One monitor.
#[derive(Clone, Debug)]
struct Monitor {
    flags: u16,
    out_port: Option<u32>,
    out_group: Option<u32>,
    table_id: u8,
    key: FlowWords,
    mask: FlowWords,
}

impl Monitor {
    fn selects(&self, ev: &FlowEvent) -> bool {
        let r = &ev.rule;
        let e = &r.value;
        if crate::table::is_hidden(r.priority)
            || (self.table_id != 0xff && self.table_id != e.table_id)
        {
            return false;
        }
        let acts = e.actions.load();
        if let Some(p) = self.out_port {
            let old = ev.old_actions.as_ref().is_some_and(|a| a.outputs_to(p));
            if !acts.outputs_to(p) && !old {
                return false;
            }
        }
        if self.out_group.is_some_and(|g| !acts.uses_group(g)) {
            return false;
        }
        // Loose match: the flow is at least as specific as the monitor.
        (0..self.mask.len()).all(|i| {
            r.mask[i] & self.mask[i] == self.mask[i] && r.key[i] & self.mask[i] == self.key[i]
        })
    }
}

struct SubState {
    version: Option<Version>,
    monitors: BTreeMap<u32, Monitor>,
    pending: Vec<FlowUpdate>,
    dropped: usize,
}

/// One connection's monitors and unsent updates.
pub struct MonitorSub {
    conn: u64,
    state: Mutex<SubState>,
    /// The connection's outbound queue, for sending updates at once.
    tx: Option<mpsc::Sender<Vec<u8>>>,
}

impl MonitorSub {
    pub fn new(conn: u64, tx: Option<mpsc::Sender<Vec<u8>>>) -> Arc<MonitorSub> {
        Arc::new(MonitorSub {
            conn,
            state: Mutex::new(SubState {
                version: None,
                monitors: BTreeMap::new(),
                pending: Vec::new(),
                dropped: 0,
            }),
            tx,
        })
    }

    pub fn set_version(&self, v: Version) {
        self.state.lock().version = Some(v);
    }

    pub fn is_empty(&self) -> bool {
        self.state.lock().monitors.is_empty()
    }

    pub fn contains(&self, id: u32) -> bool {
        self.state.lock().monitors.contains_key(&id)
    }

    /// Adds monitor `rq.id` (which must not exist).
    pub fn add(&self, rq: &FlowMonitorRequest) -> Result<(), OfpError> {
        let mut st = self.state.lock();
        if st.monitors.contains_key(&rq.id) {
            return Err(OfpError::FlowMonitorFailed(
                FlowMonitorFailed::MonitorExists,
            ));
        }
        if st.monitors.len() >= MAX_MONITORS {
            return Err(OfpError::FlowMonitorFailed(
                FlowMonitorFailed::InvalidMonitor,
            ));
        }
        let (key, mask) = match_words(&rq.matched).map_err(|_| {
            OfpError::from_name("OFPBMC_BAD_FIELD")
                .unwrap_or(OfpError::BadRequest(BadRequest::EPerm))
        })?;
        let any = |p: u32| (p != u32::MAX).then_some(p);
        st.monitors.insert(
            rq.id,
            Monitor {
                flags: rq.flags,
                out_port: any(rq.out_port),
                out_group: any(rq.out_group),
                table_id: rq.table_id,
                key,
                mask,
            },
        );
        Ok(())
    }

    /// Removes monitor `id`; OFPMOFC_UNKNOWN_MONITOR if there is none.
    pub fn remove(&self, id: u32) -> Result<(), OfpError> {
        self.state
            .lock()
            .monitors
            .remove(&id)
            .map(|_| ())
            .ok_or(OfpError::FlowMonitorFailed(
                FlowMonitorFailed::UnknownMonitor,
            ))
    }

    /// Queues the updates `events` call for; with an outbound queue, and
    /// unless this connection is the one making the change (its session
    /// sends them after its reply), sends them at once.
    pub fn offer(&self, events: &[FlowEvent]) {
        {
            let mut st = self.state.lock();
            if st.monitors.is_empty() {
                return;
            }
            let mut abbreviated = false;
            for ev in events {
                let want = match ev.event {
                    UpdateEvent::Added | UpdateEvent::Initial => flags::ADD,
                    UpdateEvent::Removed => flags::REMOVED,
                    UpdateEvent::Modified => flags::MODIFY,
                };
                let f = st
                    .monitors
                    .values()
                    .filter(|m| m.flags & want != 0 && m.selects(ev))
                    .fold(0, |acc, m| acc | m.flags);
                if f == 0 {
                    continue;
                }
                let own = ev.requester.filter(|r| r.conn == self.conn);
                let update = match own {
                    Some(r) if f & flags::ONLY_OWN == 0 => {
                        if abbreviated {
                            continue;
                        }
                        abbreviated = true;
                        FlowUpdate::Abbrev { xid: r.xid }
                    }
                    _ => FlowUpdate::Full(full_update(ev, f)),
                };
                if st.pending.len() >= MAX_PENDING {
                    st.dropped += 1;
                    continue;
                }
                st.pending.push(update);
            }
        }
        let mine = requester().is_some_and(|r| r.conn == self.conn);
        if let (Some(tx), false) = (&self.tx, mine) {
            for m in self.take_messages() {
                if tx.try_send(m).is_err() {
                    tracing::debug!("flow update dropped: connection queue full");
                }
            }
        }
    }

    /// The pending updates as flow monitor replies (xid 0), emptied.
    pub fn take_messages(&self) -> Vec<Vec<u8>> {
        let (version, pending, dropped) = {
            let mut st = self.state.lock();
            let Some(v) = st.version else {
                return Vec::new();
            };
            if st.pending.is_empty() && st.dropped == 0 {
                return Vec::new();
            }
            (
                v,
                std::mem::take(&mut st.pending),
                std::mem::take(&mut st.dropped),
            )
        };
        if dropped > 0 {
            tracing::warn!(dropped, "flow updates dropped: the connection fell behind");
        }
        let entries = pending
            .iter()
            .filter_map(|u| {
                encode_update(version, u)
                    .map_err(|e| tracing::debug!(error = ?e, "flow update not encodable"))
                    .ok()
            })
            .collect();
        replies(version, entries, 0)
    }
}

/// The update for `ev` to a connection whose monitors' flags are `f`.
fn full_update(ev: &FlowEvent, f: u16) -> FlowUpdateFull {
    let e = &ev.rule.value;
    FlowUpdateFull {
        event: ev.event,
        reason: if ev.event == UpdateEvent::Removed {
            ev.reason
        } else {
            0
        },
        table_id: e.table_id,
        priority: ev.rule.priority as u16,
        idle_timeout: e.idle_timeout,
        hard_timeout: e.hard_timeout,
        cookie: e.cookie.load(std::sync::atomic::Ordering::Relaxed),
        matched: e.matched.clone(),
        actions: if f & flags::INSTRUCTIONS != 0 {
            e.actions.load().0.clone()
        } else {
            Vec::new()
        },
    }
}

/// `entries` (encoded updates) as flow monitor replies of `version` with
/// `xid`: as many as it takes, all but the last flagged REPLY_MORE; one
/// empty reply if there are none.
pub fn replies(version: Version, entries: Vec<Vec<u8>>, xid: u32) -> Vec<Vec<u8>> {
    let bodies = crate::ofconn::reply_bodies(entries);
    let n = bodies.len();
    bodies
        .into_iter()
        .enumerate()
        .filter_map(|(i, body)| {
            let m = Message::Unparsed(Unparsed {
                raw: reply_raw(version),
                flags: u16::from(i + 1 < n),
                body,
            });
            encode(&m, version, xid)
                .map_err(|e| tracing::error!(error = ?e, "cannot encode a flow monitor reply"))
                .ok()
        })
        .collect()
}

/// A bridge's flow monitors: every connection that has some.
#[derive(Default)]
pub struct MonitorHub {
    subs: Mutex<Vec<Weak<MonitorSub>>>,
}

impl MonitorHub {
    pub fn subscribe(&self, s: &Arc<MonitorSub>) {
        let mut v = self.subs.lock();
        v.retain(|w| w.strong_count() > 0);
        if !v.iter().any(|w| w.as_ptr() == Arc::as_ptr(s)) {
            v.push(Arc::downgrade(s));
        }
    }

    /// Whether any connection listens.
    pub fn is_idle(&self) -> bool {
        self.subs.lock().iter().all(|w| w.strong_count() == 0)
    }

    /// Reports `events` to every connection whose monitors select them.
    pub fn publish(&self, events: &[FlowEvent]) {
        if events.is_empty() {
            return;
        }
        let subs: Vec<Arc<MonitorSub>> =
            self.subs.lock().iter().filter_map(Weak::upgrade).collect();
        for s in subs {
            s.offer(events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofp::action::Action;
    use crate::ofp::matching::Match;
    use crate::ofp::message::decode;
    use crate::ofp::monitor_msg::{decode_updates, MonitorCommand};
    use crate::table::{FlowFlags, FlowModCommand, FlowModSpec, FlowTables};

    fn rule(port: u32, out: u32) -> TableRule<OfActions> {
        let mut t = FlowTables::<OfActions>::new();
        let mut m = Match::new();
        m.set_in_port(port).unwrap_or_else(|e| panic!("{e:?}"));
        let (key, mask) = match_words(&m).unwrap_or_else(|e| panic!("{e:?}"));
        let spec = FlowModSpec {
            command: FlowModCommand::Add,
            table_id: 2,
            priority: 9,
            matched: m,
            key,
            mask,
            cookie: 5,
            cookie_mask: 0,
            out_port: None,
            out_group: None,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            flags: FlowFlags::default(),
            actions: Arc::new(OfActions(vec![Action::output(out)])),
        };
        t.apply(&spec, 0).unwrap_or_else(|e| panic!("{e:?}"));
        t.rules(2).remove(0)
    }

    fn request(id: u32, f: u16, m: Match) -> FlowMonitorRequest {
        FlowMonitorRequest {
            id,
            command: MonitorCommand::Add,
            flags: f,
            out_port: u32::MAX,
            out_group: u32::MAX,
            table_id: 0xff,
            matched: m,
        }
    }

    fn ev(event: UpdateEvent, r: &TableRule<OfActions>, by: Option<Requester>) -> FlowEvent {
        FlowEvent {
            event,
            reason: 2,
            rule: r.clone(),
            old_actions: None,
            requester: by,
        }
    }

    fn updates(s: &MonitorSub) -> Vec<FlowUpdate> {
        s.take_messages()
            .iter()
            .flat_map(|m| match decode(m) {
                Ok((_, Message::Unparsed(u))) => {
                    decode_updates(Version::Of14, &u.body).unwrap_or_default()
                }
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn monitors_select_report_once_and_abbreviate_own_changes() {
        let hub = MonitorHub::default();
        let s = MonitorSub::new(1, None);
        s.set_version(Version::Of14);
        hub.subscribe(&s);
        let mut port1 = Match::new();
        port1.set_in_port(1).unwrap_or_else(|e| panic!("{e:?}"));
        s.add(&request(1, flags::ADD | flags::REMOVED, port1.clone()))
            .unwrap_or_else(|e| panic!("{e:?}"));
        s.add(&request(2, flags::ADD | flags::INSTRUCTIONS, Match::new()))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            s.add(&request(2, flags::ADD, Match::new())),
            Err(OfpError::FlowMonitorFailed(
                FlowMonitorFailed::MonitorExists
            ))
        );
        let (r1, r2) = (rule(1, 2), rule(2, 3));
        // Both monitors select r1's add: one update, with actions.
        hub.publish(&[ev(UpdateEvent::Added, &r1, None)]);
        let u = updates(&s);
        assert_eq!(u.len(), 1);
        assert!(
            matches!(&u[0], FlowUpdate::Full(f) if f.actions.len() == 1 && f.table_id == 2 && f.cookie == 5)
        );
        // Removal of r2: monitor 1 does not match it, monitor 2 does not want removals.
        hub.publish(&[ev(UpdateEvent::Removed, &r2, None)]);
        assert!(updates(&s).is_empty());
        // Our own changes: one abbreviated update per batch.
        let me = Some(Requester { conn: 1, xid: 77 });
        hub.publish(&[
            ev(UpdateEvent::Added, &r1, me),
            ev(UpdateEvent::Added, &r2, me),
        ]);
        assert_eq!(updates(&s), vec![FlowUpdate::Abbrev { xid: 77 }]);
        // Removal reason; out_port filter with old actions.
        s.remove(2).unwrap_or_else(|e| panic!("{e:?}"));
        hub.publish(&[ev(UpdateEvent::Removed, &r1, None)]);
        match &updates(&s)[..] {
            [FlowUpdate::Full(f)] => assert_eq!((f.reason, f.actions.len()), (2, 0)),
            other => panic!("{other:?}"),
        }
        let mut out9 = request(3, flags::MODIFY, Match::new());
        out9.out_port = 9;
        s.add(&out9).unwrap_or_else(|e| panic!("{e:?}"));
        let mut m = ev(UpdateEvent::Modified, &r2, None);
        hub.publish(std::slice::from_ref(&m));
        assert!(
            updates(&s).is_empty(),
            "neither old nor new actions output to 9"
        );
        m.old_actions = Some(Arc::new(OfActions(vec![Action::output(9)])));
        hub.publish(&[m]);
        assert_eq!(updates(&s).len(), 1);
        assert_eq!(
            s.remove(42),
            Err(OfpError::FlowMonitorFailed(
                FlowMonitorFailed::UnknownMonitor
            ))
        );
        drop(s);
        assert!(hub.is_idle());
    }

    #[test]
    fn updates_go_out_at_once_through_the_outbound_queue() {
        let (tx, mut rx) = mpsc::channel(8);
        let hub = MonitorHub::default();
        let s = MonitorSub::new(4, Some(tx));
        s.set_version(Version::Of13);
        hub.subscribe(&s);
        s.add(&request(1, flags::ADD, Match::new()))
            .unwrap_or_else(|e| panic!("{e:?}"));
        hub.publish(&[ev(UpdateEvent::Added, &rule(1, 2), None)]);
        let m = rx.try_recv().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((m[0], m[1]), (4, 19), "an OpenFlow 1.3 multipart reply");
        assert!(s.take_messages().is_empty());
        // Within this connection's own request, they wait for its session.
        with_requester(Requester { conn: 4, xid: 1 }, || {
            hub.publish(&[ev(UpdateEvent::Added, &rule(1, 2), None)])
        });
        assert!(rx.try_recv().is_err());
        assert_eq!(s.take_messages().len(), 1);
    }
}
