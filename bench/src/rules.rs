//! The harness's slow path: a priority-ordered rule list standing in for the
//! OpenFlow pipeline. A miss is matched against the rules in order and the
//! installed megaflow's mask is the union of the masks of every rule it was
//! checked against, so a later packet that hits the megaflow would have
//! matched the same rule (the megaflow invariant, conservatively).

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use oxvs_datapath::flow_key::{FieldDesc, FlowKey};
use oxvs_datapath::upcall::{MegaflowSpec, Upcall, UpcallHandler, UpcallReply};
use oxvs_datapath::{Action, Actions};

struct Rule {
    priority: u16,
    key: FlowKey,
    mask: FlowKey,
    actions: Actions,
}

enum Mode {
    /// Walk the rule list.
    Rules(Vec<Rule>),
    /// Exact 5-tuple megaflow for every miss, output to port 2.
    FiveTuple { mask: FlowKey, actions: Actions },
    /// Mask chosen by `tp_src % masks`; see [`RuleHandler::masks`].
    Masks {
        masks: Vec<FlowKey>,
        actions: Actions,
    },
}

pub struct RuleHandler {
    mode: Mode,
    drop: Actions,
}

fn field(name: &str) -> Result<&'static FieldDesc> {
    FieldDesc::by_name(name).ok_or_else(|| anyhow!("no key field {name}"))
}

fn exact(mask: &mut FlowKey, name: &str) -> Result<()> {
    field(name)?.set(mask, u64::MAX);
    Ok(())
}

fn five_tuple_mask() -> Result<FlowKey> {
    let mut m = FlowKey::ZERO;
    for f in [
        "in_port", "eth_type", "nw_proto", "nw_src", "nw_dst", "tp_src", "tp_dst",
    ] {
        exact(&mut m, f)?;
    }
    Ok(m)
}

impl RuleHandler {
    fn new(mode: Mode) -> RuleHandler {
        RuleHandler {
            mode,
            drop: Arc::from(Vec::new()),
        }
    }

    /// `in_port=1 actions=output:2`.
    pub fn port_forward() -> RuleHandler {
        // Field names are constants of this file; parse cannot fail on them.
        match RuleHandler::parse("priority=1,in_port=1 actions=output:2") {
            Ok(h) => h,
            Err(_) => RuleHandler::new(Mode::Rules(Vec::new())),
        }
    }

    pub fn five_tuple() -> RuleHandler {
        RuleHandler::new(Mode::FiveTuple {
            mask: five_tuple_mask().unwrap_or(FlowKey::EXACT),
            actions: Arc::from(vec![Action::Output(2)]),
        })
    }

    /// `k` megaflow masks: all match in_port, eth_type, nw_proto and tp_src
    /// exactly (tp_src picks the mask, so it must be in every mask); mask j
    /// matches nw_dst on its top 32-j bits, which makes the masks distinct.
    pub fn masks(k: u32) -> RuleHandler {
        let masks = (0..k)
            .map(|j| {
                let mut m = FlowKey::ZERO;
                for f in ["in_port", "eth_type", "nw_proto", "tp_src"] {
                    let _ = exact(&mut m, f);
                }
                m.set_nw_dst(u32::MAX << j);
                m
            })
            .collect();
        RuleHandler::new(Mode::Masks {
            masks,
            actions: Arc::from(vec![Action::Output(2)]),
        })
    }

    /// Parses rules, one per line (`#` starts a comment):
    /// `priority=N,FIELD=VALUE[/MASK],... actions=output:P[,output:Q]|drop`.
    /// Fields: in_port, dl_src, dl_dst, dl_type, nw_src, nw_dst (a.b.c.d,
    /// with /prefix or /mask), nw_proto, tp_src, tp_dst, and the shorthands
    /// ip, udp, tcp, icmp, arp.
    pub fn parse(text: &str) -> Result<RuleHandler> {
        let mut rules = Vec::new();
        for (no, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            rules.push(parse_rule(line).with_context(|| format!("line {}: {line}", no + 1))?);
        }
        if rules.is_empty() {
            bail!("no rules");
        }
        rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
        Ok(RuleHandler::new(Mode::Rules(rules)))
    }
}

fn parse_rule(line: &str) -> Result<Rule> {
    let (m, a) = line
        .split_once("actions=")
        .ok_or_else(|| anyhow!("no actions="))?;
    let mut key = FlowKey::ZERO;
    let mut mask = FlowKey::ZERO;
    let mut priority = 32768;
    for item in m
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        let mut set = |f: &str, v: u64, mk: u64| -> Result<()> {
            let d = field(f)?;
            d.set(&mut key, v & mk);
            let old = d.get(&mask);
            d.set(&mut mask, mk | old);
            Ok(())
        };
        match (name, value) {
            ("priority", Some(v)) => priority = v.parse().context("priority")?,
            ("ip", None) => set("eth_type", 0x0800, 0xffff)?,
            ("arp", None) => set("eth_type", 0x0806, 0xffff)?,
            ("icmp", None) => {
                set("eth_type", 0x0800, 0xffff)?;
                set("nw_proto", 1, 0xff)?;
            }
            ("tcp", None) => {
                set("eth_type", 0x0800, 0xffff)?;
                set("nw_proto", 6, 0xff)?;
            }
            ("udp", None) => {
                set("eth_type", 0x0800, 0xffff)?;
                set("nw_proto", 17, 0xff)?;
            }
            ("in_port", Some(v)) => set("in_port", v.parse().context("in_port")?, u64::MAX)?,
            ("dl_type", Some(v)) => set("eth_type", parse_num(v)?, 0xffff)?,
            ("nw_proto", Some(v)) => set("nw_proto", parse_num(v)?, 0xff)?,
            ("tp_src", Some(v)) => set("tp_src", parse_num(v)?, 0xffff)?,
            ("tp_dst", Some(v)) => set("tp_dst", parse_num(v)?, 0xffff)?,
            ("nw_src", Some(v)) => {
                let (a, mk) = parse_ipv4(v)?;
                set("nw_src", a as u64, mk as u64)?
            }
            ("nw_dst", Some(v)) => {
                let (a, mk) = parse_ipv4(v)?;
                set("nw_dst", a as u64, mk as u64)?
            }
            ("dl_src", Some(v)) => set("eth_src", parse_mac(v)?, (1 << 48) - 1)?,
            ("dl_dst", Some(v)) => set("eth_dst", parse_mac(v)?, (1 << 48) - 1)?,
            _ => bail!("unknown match field {item}"),
        }
    }
    let mut actions = Vec::new();
    for act in a.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match act.split_once(':') {
            Some(("output", p)) => actions.push(Action::Output(p.parse().context("output port")?)),
            None if act == "drop" => {}
            _ => bail!("unknown action {act}"),
        }
    }
    Ok(Rule {
        priority,
        key,
        mask,
        actions: Arc::from(actions),
    })
}

fn parse_num(v: &str) -> Result<u64> {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).with_context(|| format!("bad number {v}")),
        None => v.parse().with_context(|| format!("bad number {v}")),
    }
}

fn parse_ipv4(v: &str) -> Result<(u32, u32)> {
    let (a, m) = match v.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (v, None),
    };
    let addr: std::net::Ipv4Addr = a.parse().with_context(|| format!("bad address {a}"))?;
    let mask = match m {
        None => u32::MAX,
        Some(m) if m.contains('.') => u32::from(
            m.parse::<std::net::Ipv4Addr>()
                .with_context(|| format!("bad mask {m}"))?,
        ),
        Some(m) => {
            let bits: u32 = m.parse().with_context(|| format!("bad prefix {m}"))?;
            if bits > 32 {
                bail!("prefix /{bits} is longer than 32");
            }
            if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            }
        }
    };
    Ok((u32::from(addr), mask))
}

fn parse_mac(v: &str) -> Result<u64> {
    let parts: Vec<&str> = v.split(':').collect();
    if parts.len() != 6 {
        bail!("bad MAC {v}");
    }
    let mut m = 0u64;
    for p in parts {
        m = (m << 8) | u64::from_str_radix(p, 16).with_context(|| format!("bad MAC {v}"))?;
    }
    Ok(m)
}

impl UpcallHandler for RuleHandler {
    fn handle(&mut self, up: &Upcall) -> UpcallReply {
        let key = &up.key;
        let (mask, actions) = match &self.mode {
            Mode::FiveTuple { mask, actions } => (*mask, actions.clone()),
            Mode::Masks { masks, actions } => {
                let j = key.tp_src() as usize % masks.len();
                (masks[j], actions.clone())
            }
            Mode::Rules(rules) => {
                let mut consulted = FlowKey::ZERO;
                let mut hit = None;
                for r in rules {
                    for (c, m) in consulted.words.iter_mut().zip(r.mask.words) {
                        *c |= m;
                    }
                    if key.matches(&r.key, &r.mask) {
                        hit = Some(r.actions.clone());
                        break;
                    }
                }
                (consulted, hit.unwrap_or_else(|| self.drop.clone()))
            }
        };
        UpcallReply {
            install: Some(MegaflowSpec {
                mask,
                actions: actions.clone(),
                ..MegaflowSpec::default()
            }),
            actions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvs_datapath::upcall::UpcallKind;
    use oxvs_datapath::Packet;

    fn upcall(key: FlowKey) -> Upcall {
        Upcall {
            kind: UpcallKind::Miss,
            key,
            packet: Packet::new(),
        }
    }

    #[test]
    fn first_matching_rule_wins_and_mask_covers_every_rule_checked() -> Result<()> {
        let mut h = RuleHandler::parse(
            "priority=10,udp,tp_dst=53 actions=output:3\n# comment\npriority=1,in_port=1 actions=output:2\n",
        )?;
        let mut k = FlowKey::ZERO;
        k.set_in_port(1);
        k.set_eth_type(0x0800);
        k.set_nw_proto(6);
        let r = h.handle(&upcall(k));
        assert_eq!(&*r.actions, &[Action::Output(2)]);
        let spec = r.install.ok_or_else(|| anyhow!("no megaflow"))?;
        assert_eq!(
            spec.mask.tp_dst(),
            0xffff,
            "the failed udp rule consulted tp_dst"
        );
        assert_eq!(spec.mask.in_port(), u32::MAX);
        k.set_nw_proto(17);
        k.set_tp_dst(53);
        assert_eq!(&*h.handle(&upcall(k)).actions, &[Action::Output(3)]);
        Ok(())
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        for bad in [
            "in_port=1",
            "foo=1 actions=drop",
            "nw_dst=1.2.3.4/33 actions=drop",
            "in_port=1 actions=flood",
        ] {
            assert!(RuleHandler::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn masks_profile_gives_k_distinct_masks() {
        let mut h = RuleHandler::masks(8);
        let mut seen = std::collections::HashSet::new();
        for port in 0..64u16 {
            let mut k = FlowKey::ZERO;
            k.set_tp_src(port);
            if let Some(s) = h.handle(&upcall(k)).install {
                seen.insert(s.mask.words);
            }
        }
        assert_eq!(seen.len(), 8);
    }
}
