//! Macvlan driver settings beyond the mode: `kind` (macvlan or macvtap), `flags` (each only
//! in its own mode), `bcqueuelen` and `bc-cutoff` (their ranges; one cutoff per parent is
//! `across`'s rule).

use crate::code::Code;
use std::collections::HashMap;
use std::ops::Range;

use super::Resolver;
use crate::load::problem::{Problem, did_you_mean, one_of};
use crate::load::raw::{At, RawMacvlan};
use crate::names::{MacvlanFlag, MacvlanKind, Mode};

impl Resolver<'_> {
    /// `kind`: macvlan (the default) or macvtap.
    pub(super) fn macvlan_kind(&mut self, m: &RawMacvlan) -> Option<MacvlanKind> {
        let Some(at) = &m.more().kind else {
            return Some(MacvlanKind::default());
        };
        if let Some(k) = MacvlanKind::ALL
            .into_iter()
            .find(|k| k.as_str() == at.value)
        {
            return Some(k);
        }
        let names = MacvlanKind::ALL.map(|k| k.as_str());
        let help = match did_you_mean(&at.value, names) {
            Some(s) => format!("did you mean {s:?}?"),
            None => format!(
                "use {} (a macvtap is a macvlan with a tap device for a VM)",
                one_of(names)
            ),
        };
        self.push(Problem::new(
            Code::CheckKind,
            format!("unknown macvlan kind {:?}", at.value),
            at.span.clone(),
            "not macvlan or macvtap".into(),
            Some(help),
        ));
        None
    }

    /// `flags`: known, each once, each in the one mode it means something in (the kernel
    /// would store it in any mode and ignore it). Sorted.
    pub(super) fn flags(&mut self, m: &RawMacvlan, mode: Option<Mode>) -> Option<Vec<MacvlanFlag>> {
        let Some(list) = &m.more().flags else {
            return (!m.broken.contains(&"flags")).then(Vec::new);
        };
        let mut ok = !m.broken.contains(&"flags");
        let mut seen: Vec<(MacvlanFlag, Range<usize>)> = Vec::new();
        for at in &list.value {
            let Ok(flag) = at.value.parse::<MacvlanFlag>() else {
                let names = MacvlanFlag::ALL.map(|f| f.as_str());
                let help = match did_you_mean(&at.value, names) {
                    Some(s) => format!("did you mean {s:?}?"),
                    None => format!(
                        "use {} (nopromisc for passthru, nodst for source)",
                        one_of(names)
                    ),
                };
                self.push(Problem::new(
                    Code::CheckFlags,
                    format!("unknown macvlan flag {:?}", at.value),
                    at.span.clone(),
                    "not a macvlan flag".into(),
                    Some(help),
                ));
                ok = false;
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(f, _)| *f == flag) {
                self.push(
                    Problem::new(
                        Code::CheckFlags,
                        format!("{flag} is listed twice in flags"),
                        at.span.clone(),
                        "listed again".into(),
                        Some("remove the repeated entry".into()),
                    )
                    .with_label(first.clone(), "first listed here"),
                );
                ok = false;
                continue;
            }
            // An unknown mode was reported already: which flags belong is unknown.
            if let Some(mode) = mode
                && mode != flag.mode()
            {
                let want = flag.mode();
                let mut problem = Problem::new(
                    Code::CheckFlags,
                    format!(
                        "flag \"{flag}\" only applies to mode \"{want}\"; this macvlan is {mode}"
                    ),
                    at.span.clone(),
                    format!("only for mode = \"{want}\""),
                    Some(format!(
                        "remove \"{flag}\" from flags, or set mode = \"{want}\""
                    )),
                );
                if let Some(mode_at) = &m.mode {
                    problem = problem.with_label(mode_at.span.clone(), "the mode");
                }
                self.push(problem);
                ok = false;
            }
            seen.push((flag, at.span.clone()));
        }
        let mut flags: Vec<MacvlanFlag> = seen.into_iter().map(|(f, _)| f).collect();
        flags.sort();
        ok.then_some(flags)
    }

    /// `bcqueuelen`: a u32, as IFLA_MACVLAN_BC_QUEUE_LEN.
    pub(super) fn bcqueuelen(&mut self, at: &At<i64>) -> Option<u32> {
        if let Ok(n) = u32::try_from(at.value) {
            return Some(n);
        }
        self.push(Problem::new(
            Code::CheckBcqueuelen,
            format!("bcqueuelen {} is outside 0..={}", at.value, u32::MAX),
            at.span.clone(),
            "out of range".into(),
            Some("use a queue length such as bcqueuelen = 1000 (the kernel's default)".into()),
        ));
        None
    }

    /// `bc-cutoff`: an s32, as IFLA_MACVLAN_BC_CUTOFF (negative: no broadcast queue).
    pub(super) fn bc_cutoff(&mut self, at: &At<i64>) -> Option<i32> {
        if let Ok(n) = i32::try_from(at.value) {
            return Some(n);
        }
        self.push(Problem::new(
            Code::CheckBcCutoff,
            format!(
                "bc-cutoff {} is outside {}..={}",
                at.value,
                i32::MIN,
                i32::MAX
            ),
            at.span.clone(),
            "out of range".into(),
            Some("use a small number such as bc-cutoff = 1 (the kernel's default), or -1 for no broadcast queue".into()),
        ));
        None
    }

    /// The kernel keeps one broadcast cutoff per parent (its macvlan port), set by
    /// whichever macvlan asked last: two values on one parent would undo each other at
    /// every apply.
    pub(super) fn one_bc_cutoff_per_parent(&mut self) {
        let mut first: HashMap<&str, (i64, Range<usize>)> = HashMap::new();
        let raw = self.raw;
        for m in &raw.macvlans {
            let (Some(parent), Some(c)) = (&m.parent, &m.more().bc_cutoff) else {
                continue;
            };
            let Some((value, span)) = first.get(parent.value.as_str()) else {
                first.insert(parent.value.as_str(), (c.value, c.span.clone()));
                continue;
            };
            if *value != c.value {
                self.push(
                    Problem::new(
                        Code::CheckBcCutoff,
                        format!(
                            "parent {:?} is given two broadcast cutoffs, {value} and {}; the kernel keeps one per parent",
                            parent.value, c.value
                        ),
                        c.span.clone(),
                        "another cutoff for the same parent".into(),
                        Some(format!(
                            "give every macvlan on {:?} the same bc-cutoff, e.g. bc-cutoff = {value}, or set it on one of them only",
                            parent.value
                        )),
                    )
                    .with_label(span.clone(), "first set here"),
                );
            }
        }
    }
}
