//! Batching requests: runs of link deletes in one namespace folded into one
//! `DeleteLinks` (`batch_deletes`), and which requests may be in flight at once
//! (`independent`).

use super::requests::Request;
use crate::live::LinkRef;
use crate::names::{LinkName, NsName};

/// A run of single-link deletes of one namespace gathered into one batch. A delete joins
/// only when none of the links it names or takes along is named or taken along by the run
/// already: then the batch deletes exactly what the single deletes would, in one kernel
/// batch, and a delete lowered against the state before the run is the one it would be
/// after it (what the run removes is not reachable from it).
#[derive(Debug, Default)]
pub struct DeleteRun {
    namespace: Option<NsName>,
    links: Vec<LinkName>,
    takes: Vec<LinkRef>,
    touched: std::collections::HashSet<LinkRef>,
}

impl DeleteRun {
    /// Add `requests` (one step's) to the run if they are one `DeleteLink` that joins it;
    /// `false`, changing nothing, otherwise.
    pub fn join(&mut self, requests: &[Request]) -> bool {
        let [Request::DeleteLink { at, takes }] = requests else {
            return false;
        };
        if !self.links.is_empty()
            && (at.namespace != self.namespace
                || self.touched.contains(at)
                || takes.iter().any(|t| self.touched.contains(t)))
        {
            return false;
        }
        self.namespace = at.namespace.clone();
        self.touched.insert(at.clone());
        self.touched.extend(takes.iter().cloned());
        self.links.push(at.name.clone());
        self.takes.extend(takes.iter().cloned());
        true
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The run as one request (a `DeleteLink` when it holds one link), leaving it empty.
    pub fn take(&mut self) -> Option<Request> {
        let run = std::mem::take(self);
        match run.links.len() {
            0 => None,
            1 => run
                .links
                .into_iter()
                .next()
                .map(|name| Request::DeleteLink {
                    at: LinkRef::new(run.namespace, name),
                    takes: run.takes,
                }),
            _ => Some(Request::DeleteLinks {
                namespace: run.namespace,
                links: run.links,
                takes: run.takes,
            }),
        }
    }
}

/// Fold runs of single-link deletes of one namespace into `DeleteLinks` requests (see
/// `DeleteRun`): `steps` holds each step's requests, in order; a run of steps that each
/// lower into one `DeleteLink` becomes one request in the run's first step, and the others
/// keep no request of their own (their deletes are in it). Linear in the requests.
pub fn batch_deletes(steps: &mut [Vec<Request>]) {
    let mut run = DeleteRun::default();
    let mut first = 0;
    for i in 0..=steps.len() {
        let starts = run.is_empty();
        if i < steps.len() && run.join(&steps[i]) {
            if starts {
                first = i;
            } else {
                steps[i].clear();
            }
            continue;
        }
        if let Some(r) = run.take() {
            steps[first] = vec![r];
        }
        if i < steps.len() && run.join(&steps[i]) {
            first = i;
        }
    }
}

/// Whether `next` can be in flight together with `group` (requests made at once through
/// `Backend::request_many`): address adds, none twice; namespace creates, none twice; or batches of deletes, each in a
/// namespace of its own, none naming or taking along a link another names or takes along. Then the order in which the
/// kernel carries them out changes nothing, and undo, which looks at each one's own prior
/// state, stays exact.
pub fn independent<'a>(group: impl IntoIterator<Item = &'a Request>, next: &Request) -> bool {
    // Address adds: each on an existing link, none the same as another, so whichever the
    // kernel carries out first, each is accepted or refused as it would be alone. The
    // same for namespace creates, each of another name.
    if let Request::AddAddress { .. } | Request::CreateNamespace { .. } = next {
        return group
            .into_iter()
            .all(|r| std::mem::discriminant(r) == std::mem::discriminant(next) && r != next);
    }
    let Request::DeleteLinks {
        namespace,
        links,
        takes,
    } = next
    else {
        return false;
    };
    let mine =
        |at: &LinkRef| at.namespace == *namespace && links.contains(&at.name) || takes.contains(at);
    group.into_iter().all(|r| match r {
        Request::DeleteLinks {
            namespace: other,
            links: theirs,
            takes: carried,
        } => {
            other != namespace
                && !carried.iter().any(mine)
                && !theirs
                    .iter()
                    .any(|l| mine(&LinkRef::new(other.clone(), l.clone())))
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LiveState;
    use crate::testing::{at, ln, ns};

    fn del(ns: Option<&str>, name: &str, takes: &[&str]) -> Vec<Request> {
        let space = ns.map(crate::testing::ns);
        vec![Request::DeleteLink {
            at: LinkRef::new(space.clone(), ln(name)),
            takes: takes
                .iter()
                .map(|t| LinkRef::new(space.clone(), ln(t)))
                .collect(),
        }]
    }

    #[test]
    fn runs_of_deletes_in_one_namespace_become_one_batch() {
        let red = Some("red");
        let mut steps = vec![
            del(red, "a", &[]),
            del(red, "b", &[]),
            del(red, "c", &["d"]),
            // Taken along by c already: a batch of its own would fail, so a new run.
            del(red, "d", &[]),
            del(red, "e", &[]),
            // Another namespace: another run.
            del(Some("blue"), "a", &[]),
            vec![Request::DeleteNamespace { name: ns("red") }],
            del(None, "x", &[]),
        ];
        batch_deletes(&mut steps);
        let shown: Vec<Vec<String>> = steps
            .iter()
            .map(|s| s.iter().map(ToString::to_string).collect())
            .collect();
        let empty: Vec<String> = vec![];
        assert_eq!(
            shown,
            [
                vec!["delete links red/a, red/b, red/c".to_owned()],
                empty.clone(),
                empty.clone(),
                vec!["delete links red/d, red/e".to_owned()],
                empty,
                vec!["delete link blue/a".to_owned()],
                vec!["delete namespace red".to_owned()],
                vec!["delete link x".to_owned()],
            ]
        );
        let Request::DeleteLinks { takes, .. } = &steps[0][0] else {
            panic!("a batch");
        };
        assert_eq!(takes, &[LinkRef::new(Some(ns("red")), ln("d"))]);
    }

    #[test]
    fn only_batches_of_other_namespaces_and_distinct_address_adds_go_at_once() {
        let batch = |space: &str, links: &[&str], takes: &[(&str, &str)]| Request::DeleteLinks {
            namespace: Some(ns(space)),
            links: links.iter().map(|l| ln(l)).collect(),
            takes: takes
                .iter()
                .map(|(n, l)| LinkRef::new(Some(ns(n)), ln(l)))
                .collect(),
        };
        let red = batch("red", &["a", "b"], &[]);
        assert!(independent([&red], &batch("blue", &["a"], &[])));
        assert!(!independent([&red], &batch("red", &["c"], &[])));
        // Takes along a link the other batch names (a veth's peer): not independent.
        assert!(!independent(
            [&red],
            &batch("blue", &["v"], &[("red", "b")])
        ));
        assert!(!independent(
            [&batch("blue", &["v"], &[("red", "b")])],
            &red
        ));
        let add = |name: &str, a: &str| Request::AddAddress {
            at: at(None, name),
            address: a.parse().unwrap(),
        };
        let one = add("m0", "10.0.0.1/24");
        assert!(independent([&one], &add("m0", "10.0.0.2/24")));
        assert!(independent([&one], &add("m1", "10.0.0.1/24")));
        assert!(!independent([&one], &one.clone()));
        assert!(!independent([&red], &one));
        assert!(!independent([&one], &red));
        let claim = Request::Claim {
            at: at(None, "m0"),
            up: true,
        };
        assert!(!independent([&one], &claim));
        let space = |n: &str| Request::CreateNamespace { name: ns(n) };
        assert!(independent([&space("red")], &space("blue")));
        assert!(!independent([&space("red")], &space("red")));
        assert!(!independent([&space("red")], &one));
        assert!(!independent([&one], &space("red")));
    }

    #[test]
    fn a_batch_has_the_effect_of_its_deletes() {
        let live: LiveState = serde_json::from_str(
            r#"{"namespaces":[{"name":"red"}],"links":[
            {"name":"p0","kind":"veth","peer":{"name":"p0p"},"mtu":1500,"up":true},
            {"name":"p0p","kind":"veth","peer":{"name":"p0"},"mtu":1500,"up":true},
            {"namespace":"red","name":"a","kind":"macvlan","parent":{"name":"p0"},"mtu":1500,"up":true,"addresses":["10.0.0.1/24"]},
            {"namespace":"red","name":"b","kind":"macvlan","parent":{"name":"p0"},"mtu":1500,"up":true},
            {"namespace":"red","name":"c","kind":"macvlan","parent":{"name":"p0"},"mtu":1500,"up":true}]}"#,
        )
        .unwrap();
        let mut singles = vec![del(Some("red"), "a", &[]), del(Some("red"), "b", &[])];
        let mut one = live.clone();
        let mut each = live.clone();
        let mut prior_each = Vec::new();
        for r in singles.iter().flatten() {
            prior_each.extend(crate::apply::state::apply(&mut each, r, "lab").links);
        }
        batch_deletes(&mut singles);
        let prior = crate::apply::state::apply(&mut one, &singles[0][0], "lab");
        assert_eq!(one, each);
        assert_eq!(prior.links, prior_each);
        assert_eq!(one.links.len(), 3);
    }
}
