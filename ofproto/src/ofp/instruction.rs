//! OpenFlow 1.1+ instructions, and their conversion to and from the single
//! ordered list of [`Action`]s that flow_mods carry in every version.
//!
//! # Model
//!
//! Like Open vSwitch, oxvs keeps a flow's instructions as one ordered list
//! of [`Action`]s in which the instructions are items too: [`Action::Meter`],
//! then the apply-actions actions themselves, then [`Action::ClearActions`],
//! [`Action::WriteActions`], [`Action::WriteMetadata`] and
//! [`Action::GotoTable`], in that order (OVS's `ofpacts_verify` enforces
//! it). One list serves every version, so one flow_mod type does:
//!
//! - OpenFlow 1.1+: [`encode`] groups consecutive plain actions into one
//!   Apply-Actions instruction and writes the other items as their own
//!   instructions; [`decode`] does the reverse.
//! - OpenFlow 1.0: the list is the action list. OVS sends `goto_table:N` as
//!   `resubmit(,N)` (NXAST_RESUBMIT_TABLE) and `write_metadata` as
//!   NXAST_WRITE_METADATA, and drops meter, clear_actions and
//!   write_actions, which have no OpenFlow 1.0 meaning; so does [`encode`].
//!
//! [`Instruction`] is the wire-level view of one instruction, for code that
//! needs to look at instructions as such (table features, debugging).

use std::fmt;

use super::action::{
    self, bad, bad_inst, Action, ActionError, BadActionCode, BadInstructionCode, InstructionKind,
    Outer,
};
use super::codec::Writer;
use super::Version;

/// OFPIT_* numbers.
const OFPIT_GOTO_TABLE: u16 = 1;
const OFPIT_WRITE_METADATA: u16 = 2;
const OFPIT_WRITE_ACTIONS: u16 = 3;
const OFPIT_APPLY_ACTIONS: u16 = 4;
const OFPIT_CLEAR_ACTIONS: u16 = 5;
const OFPIT_METER: u16 = 6;
const OFPIT_EXPERIMENTER: u16 = 0xffff;

/// One OpenFlow 1.1+ instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// OFPIT_METER (OpenFlow 1.3 and 1.4; an action in 1.5).
    Meter(u32),
    ApplyActions(Vec<Action>),
    ClearActions,
    WriteActions(Vec<Action>),
    WriteMetadata {
        value: u64,
        mask: u64,
    },
    GotoTable(u8),
}

impl Instruction {
    pub fn kind(&self) -> InstructionKind {
        match self {
            Instruction::Meter(_) => InstructionKind::Meter,
            Instruction::ApplyActions(_) => InstructionKind::ApplyActions,
            Instruction::ClearActions => InstructionKind::ClearActions,
            Instruction::WriteActions(_) => InstructionKind::WriteActions,
            Instruction::WriteMetadata { .. } => InstructionKind::WriteMetadata,
            Instruction::GotoTable(_) => InstructionKind::GotoTable,
        }
    }

    /// Splits an action list into instructions as `version` sends them
    /// (consecutive plain actions make one Apply-Actions; in OpenFlow 1.5 a
    /// meter is one of those actions).
    pub fn from_actions(actions: &[Action], version: Version) -> Vec<Instruction> {
        let mut out = Vec::new();
        let mut apply: Vec<Action> = Vec::new();
        for a in actions {
            let kind = a.instruction_kind(version);
            if kind == InstructionKind::ApplyActions {
                apply.push(a.clone());
                continue;
            }
            if !apply.is_empty() {
                out.push(Instruction::ApplyActions(std::mem::take(&mut apply)));
            }
            out.push(match a {
                Action::Meter(m) => Instruction::Meter(*m),
                Action::ClearActions => Instruction::ClearActions,
                Action::WriteActions(w) => Instruction::WriteActions(w.clone()),
                Action::WriteMetadata { value, mask } => Instruction::WriteMetadata {
                    value: *value,
                    mask: *mask,
                },
                Action::GotoTable(t) => Instruction::GotoTable(*t),
                other => Instruction::ApplyActions(vec![other.clone()]),
            });
        }
        if !apply.is_empty() {
            out.push(Instruction::ApplyActions(apply));
        }
        out
    }

    /// Flattens instructions into the single action list, in instruction
    /// order (as OVS assembles a decoded instruction set).
    pub fn into_actions(mut insts: Vec<Instruction>) -> Vec<Action> {
        insts.sort_by_key(|i| i.kind());
        let mut out = Vec::new();
        for i in insts {
            match i {
                Instruction::Meter(m) => out.push(Action::Meter(m)),
                Instruction::ApplyActions(a) => out.extend(a),
                Instruction::ClearActions => out.push(Action::ClearActions),
                Instruction::WriteActions(a) => out.push(Action::WriteActions(a)),
                Instruction::WriteMetadata { value, mask } => {
                    out.push(Action::WriteMetadata { value, mask })
                }
                Instruction::GotoTable(t) => out.push(Action::GotoTable(t)),
            }
        }
        out
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Instruction::ApplyActions(a) => write!(f, "apply_actions({})", action::format_list(a)),
            Instruction::Meter(m) => Action::Meter(*m).fmt(f),
            Instruction::ClearActions => Action::ClearActions.fmt(f),
            Instruction::WriteActions(a) => write!(f, "write_actions({})", action::format_list(a)),
            Instruction::WriteMetadata { value, mask } => Action::WriteMetadata {
                value: *value,
                mask: *mask,
            }
            .fmt(f),
            Instruction::GotoTable(t) => Action::GotoTable(*t).fmt(f),
        }
    }
}

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([
        b.get(o).copied().unwrap_or(0),
        b.get(o + 1).copied().unwrap_or(0),
    ])
}

fn be64(b: &[u8], o: usize) -> u64 {
    let mut x = [0u8; 8];
    for (i, v) in x.iter_mut().enumerate() {
        *v = b.get(o + i).copied().unwrap_or(0);
    }
    u64::from_be_bytes(x)
}

/// The instructions of a flow_mod or flow stats entry, as raw slices by
/// kind, checking what OVS checks (`decode_openflow11_instructions`):
/// lengths, unknown and duplicate instructions.
fn split(version: Version, bytes: &[u8]) -> Result<[Option<&[u8]>; 6], ActionError> {
    if !bytes.len().is_multiple_of(8) {
        return Err(bad_inst(
            BadInstructionCode::BadLen,
            format!("instructions length {} is not a multiple of 8", bytes.len()),
        ));
    }
    let mut slots: [Option<&[u8]>; 6] = [None; 6];
    let mut rest = bytes;
    while !rest.is_empty() {
        let ty = be16(rest, 0);
        let len = usize::from(be16(rest, 2));
        if len % 8 != 0 || len < 8 || len > rest.len() {
            return Err(bad_inst(
                BadInstructionCode::BadLen,
                format!("bad instruction length {len}"),
            ));
        }
        let (inst, next) = rest.split_at(len);
        let (kind, size, extensible) = match ty {
            OFPIT_EXPERIMENTER => {
                return Err(bad_inst(
                    BadInstructionCode::BadExperimenter,
                    "experimenter instruction",
                ));
            }
            OFPIT_GOTO_TABLE => (InstructionKind::GotoTable, 8, false),
            OFPIT_WRITE_METADATA => (InstructionKind::WriteMetadata, 24, false),
            OFPIT_WRITE_ACTIONS => (InstructionKind::WriteActions, 8, true),
            OFPIT_APPLY_ACTIONS => (InstructionKind::ApplyActions, 8, true),
            OFPIT_CLEAR_ACTIONS => (InstructionKind::ClearActions, 8, false),
            OFPIT_METER => (InstructionKind::Meter, 8, false),
            _ => {
                return Err(bad_inst(
                    BadInstructionCode::UnknownInst,
                    format!("unknown instruction type {ty}"),
                ))
            }
        };
        if if extensible { len < size } else { len != size } {
            return Err(bad_inst(
                BadInstructionCode::BadLen,
                format!("{} instruction of length {len}", kind.name()),
            ));
        }
        // "meter" is an action, not an instruction, in OpenFlow 1.5 (after
        // the length check, as in OVS).
        if kind == InstructionKind::Meter && version >= Version::Of15 {
            return Err(bad_inst(
                BadInstructionCode::UnknownInst,
                "the meter instruction in OpenFlow 1.5",
            ));
        }
        let slot = &mut slots[kind as usize];
        if slot.is_some() {
            return Err(bad_inst(
                BadInstructionCode::DupInst,
                format!("duplicate {} instruction", kind.name()),
            ));
        }
        *slot = Some(inst);
        rest = next;
    }
    Ok(slots)
}

/// Whether an action may be in an action set (`action_set_classify`).
fn allowed_in_action_set(a: &Action) -> bool {
    !matches!(
        a,
        Action::Bundle(_)
            | Action::ClearActions
            | Action::Clone(_)
            | Action::Nat(_)
            | Action::Controller(_)
            | Action::Enqueue { .. }
            | Action::Exit
            | Action::FinTimeout { .. }
            | Action::GotoTable(_)
            | Action::Learn(_)
            | Action::Conjunction { .. }
            | Action::Meter(_)
            | Action::Multipath(_)
            | Action::Note(_)
            | Action::OutputReg { .. }
            | Action::OutputTrunc { .. }
            | Action::PopQueue
            | Action::Sample(_)
            | Action::StackPush(_)
            | Action::StackPop(_)
            | Action::WriteActions(_)
            | Action::WriteMetadata { .. }
            | Action::CheckPktLarger { .. }
            | Action::DeleteField(_)
    )
}

/// Decodes a flow_mod's instructions into the single action list (OVS's
/// `ofpacts_pull_openflow_instructions`). In OpenFlow 1.0 `bytes` is the
/// action list, where every instruction-like action is allowed.
pub fn decode(version: Version, bytes: &[u8]) -> Result<Vec<Action>, ActionError> {
    if version == Version::Of10 {
        return action::decode_list(version, bytes, action::ALLOW_ALL, Outer::Top);
    }
    let slots = split(version, bytes)?;
    let mut out = Vec::new();
    if let Some(i) = slots[InstructionKind::Meter as usize] {
        let b = i.get(4..8).unwrap_or(&[0; 4]);
        out.push(Action::Meter(u32::from_be_bytes([b[0], b[1], b[2], b[3]])));
    }
    if let Some(i) = slots[InstructionKind::ApplyActions as usize] {
        out.extend(action::decode_raw_list(version, i.get(8..).unwrap_or(&[]))?);
    }
    if slots[InstructionKind::ClearActions as usize].is_some() {
        out.push(Action::ClearActions);
    }
    if let Some(i) = slots[InstructionKind::WriteActions as usize] {
        let set = action::decode_raw_list(version, i.get(8..).unwrap_or(&[]))?;
        if let Some(a) = set.iter().find(|a| !allowed_in_action_set(a)) {
            return Err(bad(
                BadActionCode::BadType,
                format!("{} is not allowed in an action set", a.name()),
            ));
        }
        out.push(Action::WriteActions(set));
    }
    if let Some(i) = slots[InstructionKind::WriteMetadata as usize] {
        out.push(Action::WriteMetadata {
            value: be64(i, 8),
            mask: be64(i, 16),
        });
    }
    if let Some(i) = slots[InstructionKind::GotoTable as usize] {
        out.push(Action::GotoTable(i.get(4).copied().unwrap_or(0)));
    }
    action::verify(&out, version, action::ALLOW_ALL, Outer::Top)?;
    Ok(out)
}

/// Decodes instructions into their wire-level view (OpenFlow 1.1+), with
/// the same checks as [`decode`].
pub fn decode_instructions(
    version: Version,
    bytes: &[u8],
) -> Result<Vec<Instruction>, ActionError> {
    if version == Version::Of10 {
        return Err(ActionError::Unencodable {
            what: "instructions",
            version,
        });
    }
    let actions = decode(version, bytes)?;
    Ok(Instruction::from_actions(&actions, version))
}

/// Encodes the action list as `version`'s flow_mod carries it (OVS's
/// `ofpacts_put_openflow_instructions`): instructions in OpenFlow 1.1+, an
/// action list in OpenFlow 1.0.
pub fn encode(actions: &[Action], version: Version, w: &mut Writer) -> Result<(), ActionError> {
    if version == Version::Of10 {
        return action::encode(actions, version, w);
    }
    for inst in Instruction::from_actions(actions, version) {
        encode_instruction(&inst, version, w)?;
    }
    Ok(())
}

/// Encodes `actions` as instructions into a new buffer.
pub fn encode_to_vec(actions: &[Action], version: Version) -> Result<Vec<u8>, ActionError> {
    let mut w = Writer::new();
    encode(actions, version, &mut w)?;
    Ok(w.into_vec())
}

/// Encodes one instruction (OpenFlow 1.1+).
pub fn encode_instruction(
    inst: &Instruction,
    version: Version,
    w: &mut Writer,
) -> Result<(), ActionError> {
    let m = w.mark();
    match inst {
        Instruction::Meter(id) => {
            if version >= Version::Of15 {
                return Err(ActionError::Unencodable {
                    what: "the meter instruction",
                    version,
                });
            }
            w.u16(OFPIT_METER).u16(8).u32(*id);
        }
        Instruction::ApplyActions(a) | Instruction::WriteActions(a) => {
            // OVS leaves out an actions instruction with no actions.
            if a.is_empty() {
                return Ok(());
            }
            let ty = if matches!(inst, Instruction::ApplyActions(_)) {
                OFPIT_APPLY_ACTIONS
            } else {
                OFPIT_WRITE_ACTIONS
            };
            w.u16(ty).u16(0).zeros(4);
            for x in a {
                action::encode_one(x, version, w)?;
            }
            let len = w.since(m);
            w.patch_u16(m, 2, len as u16);
        }
        Instruction::ClearActions => {
            w.u16(OFPIT_CLEAR_ACTIONS).u16(8).zeros(4);
        }
        Instruction::WriteMetadata { value, mask } => {
            w.u16(OFPIT_WRITE_METADATA)
                .u16(24)
                .zeros(4)
                .u64(*value)
                .u64(*mask);
        }
        Instruction::GotoTable(t) => {
            w.u16(OFPIT_GOTO_TABLE).u16(8).u8(*t).zeros(3);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_apply_actions_and_orders_instructions() {
        let actions = vec![
            Action::Meter(3),
            Action::output(1),
            Action::Group(2),
            Action::ClearActions,
            Action::WriteMetadata {
                value: 1,
                mask: 0xff,
            },
            Action::GotoTable(4),
        ];
        let insts = Instruction::from_actions(&actions, Version::Of13);
        assert_eq!(insts.len(), 5);
        assert_eq!(Instruction::into_actions(insts), actions);
        let bytes = encode_to_vec(&actions, Version::Of13).expect("encodes");
        assert_eq!(decode(Version::Of13, &bytes).expect("decodes"), actions);
        // OpenFlow 1.5: the meter is an action inside Apply-Actions.
        let bytes = encode_to_vec(&actions, Version::Of15).expect("encodes");
        assert_eq!(decode(Version::Of15, &bytes).expect("decodes"), actions);
    }

    #[test]
    fn bad_instruction_lists() {
        let err = |b: &[u8]| decode(Version::Of13, b).err().and_then(|e| e.ofperr_name());
        assert_eq!(err(&[0, 1, 0, 8, 1]), Some("OFPBIC_BAD_LEN"));
        assert_eq!(
            err(&[0, 1, 0, 16, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Some("OFPBIC_BAD_LEN")
        );
        assert_eq!(err(&[0, 9, 0, 8, 0, 0, 0, 0]), Some("OFPBIC_UNKNOWN_INST"));
        assert_eq!(
            err(&[0xff, 0xff, 0, 8, 0, 0, 0, 0]),
            Some("OFPBIC_BAD_EXPERIMENTER")
        );
        assert_eq!(
            err(&[0, 1, 0, 8, 1, 0, 0, 0, 0, 1, 0, 8, 2, 0, 0, 0]),
            Some("OFPBIC_DUP_INST")
        );
        assert_eq!(err(&[0, 1, 0, 4, 1, 0, 0, 0]), Some("OFPBIC_BAD_LEN"));
        let meter15 = decode(Version::Of15, &[0, 6, 0, 8, 0, 0, 0, 1])
            .err()
            .and_then(|e| e.ofperr_name());
        assert_eq!(meter15, Some("OFPBIC_UNKNOWN_INST"));
    }

    #[test]
    fn of10_uses_nicira_forms() {
        let wm = vec![Action::WriteMetadata {
            value: 1,
            mask: 0xff,
        }];
        let bytes = encode_to_vec(&wm, Version::Of10).expect("encodes");
        assert_eq!(decode(Version::Of10, &bytes).expect("decodes"), wm);
        let bytes = encode_to_vec(&[Action::GotoTable(2)], Version::Of10).expect("encodes");
        let back = decode(Version::Of10, &bytes).expect("decodes");
        assert!(matches!(
            back[..],
            [Action::Resubmit { table: Some(2), .. }]
        ));
        // As in OVS, the resubmit that stands for goto_table is an action,
        // so after write_metadata it is out of order when read back.
        let both = [wm[0].clone(), Action::GotoTable(2)];
        let bytes = encode_to_vec(&both, Version::Of10).expect("encodes");
        let err = decode(Version::Of10, &bytes).expect_err("out of order");
        assert_eq!(err.ofperr_name(), Some("OFPBAC_UNSUPPORTED_ORDER"));
        // Meter, clear_actions and write_actions have no OpenFlow 1.0 form.
        let none = [
            Action::Meter(1),
            Action::ClearActions,
            Action::WriteActions(vec![Action::output(1)]),
        ];
        assert_eq!(
            encode_to_vec(&none, Version::Of10).expect("encodes"),
            Vec::<u8>::new()
        );
    }
}
