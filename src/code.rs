//! Every diagnostic code mvtopo prints, in one enum and one naming scheme:
//! `mvtopo::AREA::NAME`, lowercase, words joined by `-` (`mvtopo::check::unknown-key`).
//!
//! The area is the stage that found the problem: `check` (the file), `plan` (the file
//! against the live state), `kernel` (a kernel request), `input` (reading a file or JSON),
//! `fmt`, `saved-plan`, and the commands whose run failed (`apply`, `destroy`, `try`).
//! Errors that derive `miette::Diagnostic` write their code as a literal; a test holds
//! each of those to this list, and every code to the error-code reference.

use std::fmt;

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal, )*) => {
        /// A diagnostic code (see the module's documentation for the scheme).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in the order of the reference.
            pub const ALL: &[Code] = &[$(Code::$variant),*];

            /// The code as printed.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    /// Heads the report of a file with problems ("check of FILE failed: N problems").
    Check = "mvtopo::check",
    CheckSyntax = "mvtopo::check::syntax",
    CheckType = "mvtopo::check::type",
    CheckUnknownKey = "mvtopo::check::unknown-key",
    CheckMissingKey = "mvtopo::check::missing-key",
    CheckKeyNotAllowed = "mvtopo::check::key-not-allowed",
    CheckCreate = "mvtopo::check::create",
    CheckMode = "mvtopo::check::mode",
    CheckKind = "mvtopo::check::kind",
    CheckFlags = "mvtopo::check::flags",
    CheckBcqueuelen = "mvtopo::check::bcqueuelen",
    CheckBcCutoff = "mvtopo::check::bc-cutoff",
    CheckTopologyName = "mvtopo::check::topology-name",
    CheckNamespaceName = "mvtopo::check::namespace-name",
    CheckInterfaceName = "mvtopo::check::interface-name",
    CheckUnknownParent = "mvtopo::check::unknown-parent",
    CheckUnknownNamespace = "mvtopo::check::unknown-namespace",
    CheckDuplicateName = "mvtopo::check::duplicate-name",
    CheckPassthru = "mvtopo::check::passthru",
    CheckSourceMacs = "mvtopo::check::source-macs",
    CheckMac = "mvtopo::check::mac",
    CheckDuplicateMac = "mvtopo::check::duplicate-mac",
    CheckMtu = "mvtopo::check::mtu",
    CheckVlanId = "mvtopo::check::vlan-id",
    CheckVlanLink = "mvtopo::check::vlan-link",
    /// Vlan parents whose `link`s lead back to where they started.
    CheckVlanCycle = "mvtopo::check::vlan-cycle",
    CheckBridgePort = "mvtopo::check::bridge-port",
    CheckCidr = "mvtopo::check::cidr",
    CheckDuplicateAddress = "mvtopo::check::duplicate-address",
    CheckRoute = "mvtopo::check::route",
    CheckGateway = "mvtopo::check::gateway",
    CheckDuplicateRoute = "mvtopo::check::duplicate-route",
    CheckRoutesOnDownLink = "mvtopo::check::routes-on-down-link",
    CheckInternal = "mvtopo::check::internal",
    PlanForeignObject = "mvtopo::plan::foreign-object",
    PlanMissingParent = "mvtopo::plan::missing-parent",
    PlanUnmanageable = "mvtopo::plan::unmanageable",
    PlanForeignCasualty = "mvtopo::plan::foreign-casualty",
    PlanKernelFeature = "mvtopo::plan::kernel-feature",
    PlanBlocked = "mvtopo::plan::blocked",
    PlanInternal = "mvtopo::plan::internal",
    /// A kernel request (or reading the kernel's state) failed.
    KernelFailed = "mvtopo::kernel::failed",
    ApplyFailed = "mvtopo::apply::failed",
    /// Why a run failed, as its cause says it (`ApplyError`); the run's report carries
    /// `mvtopo::apply::failed` (or `destroy`, `try`) with the cause beside it.
    ApplySnapshot = "mvtopo::apply::snapshot",
    ApplyStep = "mvtopo::apply::step",
    ApplyVerify = "mvtopo::apply::verify",
    ApplyUnverifiable = "mvtopo::apply::unverifiable",
    ApplyInterrupted = "mvtopo::apply::interrupted",
    ApplyReverted = "mvtopo::apply::reverted",
    DestroyFailed = "mvtopo::destroy::failed",
    TryFailed = "mvtopo::try::failed",
    /// Another run holds the apply lock, or it cannot be taken.
    Lock = "mvtopo::lock",
    InputRead = "mvtopo::input::read",
    InputJson = "mvtopo::input::json",
    FmtNotCanonical = "mvtopo::fmt::not-canonical",
    FmtUnreadable = "mvtopo::fmt::unreadable",
    FmtInternal = "mvtopo::fmt::internal",
    SavedPlanDamaged = "mvtopo::saved-plan::damaged",
    SavedPlanStateChanged = "mvtopo::saved-plan::state-changed",
    SavedPlanStepsDiffer = "mvtopo::saved-plan::steps-differ",
    /// The command line is wrong.
    Usage = "mvtopo::usage",
    /// Writing output failed.
    Io = "mvtopo::io",
    /// A report that carries no code of its own.
    Error = "mvtopo::error",
    Internal = "mvtopo::internal",
}

impl Code {
    /// The code a printed string is, if it is one.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use miette::Diagnostic;

    use super::*;
    use crate::diff::PlanError;
    use crate::live::LinkRef;
    use crate::names::LinkName;

    #[test]
    fn codes_follow_one_scheme_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            let rest = s.strip_prefix("mvtopo::").unwrap_or_else(|| panic!("{s}"));
            assert!(
                rest.split("::")
                    .all(|w| !w.is_empty()
                        && w.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-')),
                "{s}: lowercase words joined by -"
            );
            assert_eq!(Code::parse(s), Some(*c));
        }
    }

    /// Each code is explained in the user guide's reference (by its full name, or by its
    /// last part in the table of its area).
    #[test]
    fn every_code_is_in_the_reference() {
        let doc = include_str!("../docs/guide/reference/error-codes.md");
        for c in Code::ALL {
            let s = c.as_str();
            let last = s.rsplit("::").next().unwrap_or(s);
            assert!(
                doc.contains(&format!("`{s}`")) || doc.contains(&format!("| `{last}` |")),
                "{s} is not in docs/guide/reference/error-codes.md"
            );
        }
    }

    /// Codes written as literals in `#[diagnostic(code(...))]` are codes of this list.
    #[test]
    fn derived_diagnostics_use_listed_codes() {
        let name = LinkName::new("lab0").unwrap();
        let at = LinkRef::host(name.clone());
        let errors: Vec<Box<dyn Diagnostic>> = vec![
            Box::new(PlanError::Foreign {
                at: at.clone(),
                topology: "lab".into(),
                owner: None,
                span: None,
            }),
            Box::new(PlanError::MissingParent {
                name,
                place: "namespace red".into(),
                span: (0..1).into(),
            }),
            Box::new(PlanError::Unmanageable {
                at: at.clone(),
                kind: crate::live::LinkKind::Device,
                topology: "lab".into(),
            }),
            Box::new(PlanError::ForeignCasualty {
                at: at.clone(),
                casualties: vec![at.clone()],
                topology: "lab".into(),
            }),
            Box::new(PlanError::KernelFeature {
                at: at.clone(),
                key: "bcqueuelen",
                feature: "x",
                span: None,
            }),
            Box::new(PlanError::Blocked {
                topology: "lab".into(),
                problems: vec![],
            }),
            Box::new(PlanError::Internal { what: "x".into() }),
            Box::new(crate::graph::CycleError {
                cycles: vec![],
                labels: vec![],
            }),
            Box::new(crate::apply::ApplyError::Interrupted {
                signal: 2,
                undo: crate::apply::UndoReport::default(),
            }),
            Box::new(crate::apply::ApplyError::Reverted {
                reason: "x".into(),
                undo: crate::apply::UndoReport::default(),
            }),
            Box::new(crate::check::LoadError::Io {
                path: "x".into(),
                source: std::io::Error::other("x"),
            }),
        ];
        for e in errors {
            let code = e.code().map(|c| c.to_string()).unwrap_or_default();
            assert!(Code::parse(&code).is_some(), "{code} is not in Code::ALL");
        }
    }
}
