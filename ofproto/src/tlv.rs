//! A bridge's TLV table: which Geneve option (class, type, length) each
//! `tun_metadataN` field stands for, as NXT_TLV_TABLE_MOD sets it up
//! (ovn-controller does so first thing) and NXT_TLV_TABLE_REQUEST reads it.
//!
//! The semantics are Open vSwitch 3.1's (`lib/tun-metadata.c`,
//! `mf_vl_mff_map_mod_from_tun_metadata` in `lib/meta-flow.c`):
//!
//! - ADD maps each index and each (class, type) at most once
//!   (NXTTMFC_ALREADY_MAPPED, NXTTMFC_DUP_ENTRY) and fails with
//!   NXTTMFC_TABLE_FULL when the 256 bytes all options share cannot hold
//!   the option (OVS allocates 4-byte units and may split an option across
//!   free runs, so only the total counts). A mod is all or nothing.
//! - DELETE unmaps the indexes named (unmapped ones are ignored), CLEAR
//!   every index; either fails with NXTTMFC_INVALID_TLV_DEL, changing
//!   nothing, while a flow still uses a field it would unmap.
//! - A flow may use `tun_metadataN` (match or action) only while N is
//!   mapped: NXFMFC_INVALID_TLV_FIELD otherwise. The field is then as long
//!   as its option: a longer match value keeps its first bytes, a shorter
//!   one is zero-extended at the front (OVS's `copy_entry_value`).

use crate::ofp::error::{OfpError, TlvTableModFailed};
use crate::ofp::field::{Field, Value};
use crate::ofp::matching::{Entry, Match};
use crate::ofp::message::nx::{
    TlvMap, TlvTableCommand, TlvTableMod, TlvTableReply, TLV_MAX_FIELDS, TLV_MAX_OPTION_SPACE,
};

/// One mapped option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub option_class: u16,
    pub option_type: u8,
    /// Bytes of option data: the width of the field while mapped.
    pub option_len: u8,
}

/// The TLV table of one bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunTable {
    entries: [Option<Mapping>; TLV_MAX_FIELDS as usize],
}

impl Default for TunTable {
    fn default() -> TunTable {
        TunTable {
            entries: [None; TLV_MAX_FIELDS as usize],
        }
    }
}

/// N of `tun_metadataN`, if `f` is one.
pub fn tun_metadata_index(f: Field) -> Option<usize> {
    // The 64 fields are consecutive (Field::tun_metadata counts on it too).
    let n = (f as usize).checked_sub(Field::TunMetadata0 as usize)?;
    (n < TLV_MAX_FIELDS as usize && Field::tun_metadata(n) == Some(f)).then_some(n)
}

impl TunTable {
    /// What `tun_metadata<index>` stands for, if it is mapped.
    pub fn get(&self, index: usize) -> Option<Mapping> {
        self.entries.get(index).copied().flatten()
    }

    /// The mapping of `f` if it is a mapped `tun_metadataN`; `Ok(None)`
    /// for any other field; NXFMFC_INVALID_TLV_FIELD for an unmapped
    /// `tun_metadataN`.
    pub fn check_field(&self, f: Field) -> Result<Option<Mapping>, OfpError> {
        match tun_metadata_index(f) {
            None => Ok(None),
            Some(i) => self.get(i).map(Some).ok_or(OfpError::FlowModFailed(
                crate::ofp::error::FlowModFailed::InvalidTlvField,
            )),
        }
    }

    /// `m` with each `tun_metadataN` fitted to its option's width (see
    /// [`fit`]); NXFMFC_INVALID_TLV_FIELD if one is not mapped.
    pub fn fit_match(&self, m: &Match) -> Result<Match, OfpError> {
        let mut out = m.clone();
        for e in options(m) {
            if let Some(map) = self.check_field(e.field)? {
                let len = usize::from(map.option_len);
                out.put_fitted(
                    e.field,
                    fit(&e.value, len),
                    e.mask.as_ref().map(|k| fit(k, len)),
                );
            }
        }
        Ok(out)
    }

    /// Option bytes the mappings take.
    pub fn allocated(&self) -> u32 {
        self.entries
            .iter()
            .flatten()
            .map(|m| u32::from(m.option_len))
            .sum()
    }

    /// The table after `m`, or why `m` fails (nothing changes then).
    /// `in_use(n)` says whether a flow uses `tun_metadata<n>`.
    pub fn apply(
        &self,
        m: &TlvTableMod,
        in_use: impl Fn(usize) -> bool,
    ) -> Result<TunTable, OfpError> {
        let mut t = self.clone();
        match m.command {
            TlvTableCommand::Add => {
                for map in &m.mappings {
                    t.add(map)?;
                }
            }
            TlvTableCommand::Delete => {
                // OVS checks every index before removing any.
                let idx = m.mappings.iter().map(|map| usize::from(map.index));
                if idx.clone().any(|i| t.get(i).is_some() && in_use(i)) {
                    return Err(TlvTableModFailed::InvalidTlvDel.into());
                }
                for i in idx {
                    if let Some(e) = t.entries.get_mut(i) {
                        *e = None;
                    }
                }
            }
            TlvTableCommand::Clear => {
                if (0..t.entries.len()).any(|i| t.get(i).is_some() && in_use(i)) {
                    return Err(TlvTableModFailed::InvalidTlvDel.into());
                }
                t = TunTable::default();
            }
        }
        Ok(t)
    }

    fn add(&mut self, map: &TlvMap) -> Result<(), OfpError> {
        let i = usize::from(map.index);
        let Some(slot) = self.entries.get(i) else {
            // The decoder refuses such indexes already.
            return Err(TlvTableModFailed::BadFieldIdx.into());
        };
        if slot.is_some() {
            return Err(TlvTableModFailed::AlreadyMapped.into());
        }
        let same_option =
            |m: &Mapping| m.option_class == map.option_class && m.option_type == map.option_type;
        if self.entries.iter().flatten().any(same_option) {
            return Err(TlvTableModFailed::DupEntry.into());
        }
        if self.allocated() + u32::from(map.option_len) > TLV_MAX_OPTION_SPACE {
            return Err(TlvTableModFailed::TableFull.into());
        }
        self.entries[i] = Some(Mapping {
            option_class: map.option_class,
            option_type: map.option_type,
            option_len: map.option_len,
        });
        Ok(())
    }

    /// The NXT_TLV_TABLE_REPLY for this table: OVS's limits and the
    /// mappings by index.
    pub fn reply(&self) -> TlvTableReply {
        TlvTableReply {
            max_option_space: TLV_MAX_OPTION_SPACE,
            max_fields: TLV_MAX_FIELDS,
            mappings: self
                .entries
                .iter()
                .enumerate()
                .filter_map(|(i, e)| {
                    e.map(|m| TlvMap {
                        option_class: m.option_class,
                        option_type: m.option_type,
                        option_len: m.option_len,
                        index: i as u16,
                    })
                })
                .collect(),
        }
    }
}

/// `v` as a field `len` bytes wide, as OVS's `copy_entry_value` makes it:
/// its first `len` bytes if longer, zeros in front if shorter.
pub fn fit(v: &Value, len: usize) -> Value {
    let b = v.as_slice();
    let take = b.len().min(len);
    let mut out = vec![0u8; len - take];
    out.extend_from_slice(&b[..take]);
    Value::from_slice(&out)
}

/// The `tun_metadata` entries of `m` (sorted by field, as `Match` keeps
/// them).
fn options(m: &Match) -> impl Iterator<Item = &Entry> + Clone {
    m.entries()
        .iter()
        .filter(|e| tun_metadata_index(e.field).is_some())
}

// The classifier's words say only which tun_metadata fields a flow matches
// (see `crate::flow`); the three functions below judge the values, from
// the matches as the flow tables keep them (fitted to their options).

/// Whether `a` and `b` match the same `tun_metadata` values under the same
/// masks: with equal words, whether they are the same flow.
pub fn same_options(a: &Match, b: &Match) -> bool {
    options(a).eq(options(b))
}

fn masked_bytes(e: &Entry) -> (Vec<u8>, Vec<u8>) {
    let m = e.mask_or_ones();
    (e.value.as_slice().to_vec(), m.as_slice().to_vec())
}

/// Whether `rule` is at least as specific as `req` on `tun_metadata` and
/// agrees with it there (OpenFlow's loose selection): every field `req`
/// matches, `rule` matches too, on at least `req`'s bits, with `req`'s
/// value on them.
pub fn options_cover(rule: &Match, req: &Match) -> bool {
    options(req).all(|q| {
        let Some(r) = rule.get(q.field) else {
            return false;
        };
        let ((rv, rm), (qv, qm)) = (masked_bytes(r), masked_bytes(q));
        rv.len() == qv.len()
            && (0..qv.len()).all(|i| rm[i] & qm[i] == qm[i] && rv[i] & qm[i] == qv[i])
    })
}

/// Whether some packet could match both `a` and `b` as far as
/// `tun_metadata` goes: they agree wherever both look.
pub fn options_overlap(a: &Match, b: &Match) -> bool {
    options(a).all(|x| {
        let Some(y) = b.get(x.field) else {
            return true;
        };
        let ((xv, xm), (yv, ym)) = (masked_bytes(x), masked_bytes(y));
        xv.len() != yv.len() || (0..xv.len()).all(|i| (xv[i] ^ yv[i]) & xm[i] & ym[i] == 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(class: u16, ty: u8, len: u8, index: u16) -> TlvMap {
        TlvMap {
            option_class: class,
            option_type: ty,
            option_len: len,
            index,
        }
    }

    fn add(maps: Vec<TlvMap>) -> TlvTableMod {
        TlvTableMod {
            command: TlvTableCommand::Add,
            mappings: maps,
        }
    }

    const NONE_IN_USE: fn(usize) -> bool = |_| false;

    #[test]
    fn add_checks_index_option_and_space_like_ovs() {
        let t = TunTable::default();
        let t = t
            .apply(&add(vec![map(0xffff, 0, 4, 0)]), NONE_IN_USE)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.allocated(), 4);
        let err = |m: TlvTableMod| t.apply(&m, NONE_IN_USE).err();
        assert_eq!(
            err(add(vec![map(0xffff, 0, 4, 0)])),
            Some(TlvTableModFailed::AlreadyMapped.into())
        );
        assert_eq!(
            err(add(vec![map(0xffff, 0, 4, 1)])),
            Some(TlvTableModFailed::DupEntry.into())
        );
        // Within one mod too, and the mod is all or nothing.
        assert_eq!(
            err(add(vec![map(1, 1, 4, 1), map(1, 1, 4, 2)])),
            Some(TlvTableModFailed::DupEntry.into())
        );
        let t2 = t
            .apply(
                &add(vec![map(1, 1, 124, 1), map(1, 2, 124, 2)]),
                NONE_IN_USE,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t2.allocated(), 252);
        assert_eq!(
            t2.apply(&add(vec![map(1, 3, 8, 3)]), NONE_IN_USE).err(),
            Some(TlvTableModFailed::TableFull.into())
        );
        // What is left still fits, and so does a 0-byte option.
        let t3 = t2
            .apply(&add(vec![map(1, 3, 4, 3), map(1, 4, 0, 4)]), NONE_IN_USE)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t3.allocated(), 256);
        assert_eq!(t3.reply().mappings.len(), 5);
        assert_eq!(t3.reply().mappings[4], map(1, 4, 0, 4));
    }

    #[test]
    fn delete_and_clear_refuse_fields_in_use() {
        let t = TunTable::default()
            .apply(&add(vec![map(1, 1, 4, 0), map(1, 2, 8, 5)]), NONE_IN_USE)
            .unwrap_or_else(|e| panic!("{e}"));
        let del = |idx: Vec<u16>| TlvTableMod {
            command: TlvTableCommand::Delete,
            mappings: idx.into_iter().map(|i| map(0, 0, 0, i)).collect(),
        };
        let clear = TlvTableMod {
            command: TlvTableCommand::Clear,
            mappings: Vec::new(),
        };
        let uses5 = |i: usize| i == 5;
        assert_eq!(
            t.apply(&del(vec![0, 5]), uses5),
            Err(TlvTableModFailed::InvalidTlvDel.into())
        );
        assert_eq!(
            t.apply(&clear, uses5),
            Err(TlvTableModFailed::InvalidTlvDel.into())
        );
        // Unmapped indexes are ignored, in use or not.
        let t2 = t
            .apply(&del(vec![0, 7]), |i| i == 7)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t2.get(0), None);
        assert!(t2.get(5).is_some());
        assert_eq!(t2.apply(&clear, NONE_IN_USE), Ok(TunTable::default()));
    }

    #[test]
    fn fields_need_a_mapping_and_take_its_width() {
        let t = TunTable::default()
            .apply(&add(vec![map(1, 1, 4, 2)]), NONE_IN_USE)
            .unwrap_or_else(|e| panic!("{e}"));
        let f = |n| Field::tun_metadata(n).unwrap_or(Field::TunnelId);
        for n in 0..64 {
            assert_eq!(tun_metadata_index(f(n)), Some(n));
        }
        let others = Field::all()
            .filter(|x| tun_metadata_index(*x).is_some())
            .count();
        assert_eq!(others, 64, "exactly the 64 tun_metadata fields");
        assert!(matches!(t.check_field(f(2)), Ok(Some(m)) if m.option_len == 4));
        assert_eq!(
            t.check_field(f(3)),
            Err(OfpError::FlowModFailed(
                crate::ofp::error::FlowModFailed::InvalidTlvField
            ))
        );
        assert_eq!(t.check_field(Field::TunnelId), Ok(None));
        let v = |b: &[u8]| Value::from_slice(b);
        assert_eq!(fit(&v(&[1]), 4), v(&[0, 0, 0, 1]));
        assert_eq!(
            fit(&v(&[0x12, 0x34, 0x56, 0x78, 0x90]), 4),
            v(&[0x12, 0x34, 0x56, 0x78])
        );
    }
}
