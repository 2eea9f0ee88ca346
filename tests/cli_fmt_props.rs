//! Properties of `mvtopo fmt` over generated valid topologies: the canonical layout is the
//! one mvtopo itself writes (`render::topology_toml`), and any restyling of it (keys
//! shuffled within their tables, other spacing, single quotes, blank lines, indentation)
//! formats back to exactly that, meaning the same topology.

mod render_support;

use mvtopo::{check, fmt, render};
use proptest::prelude::*;
use render_support::arb_topology;

/// A small deterministic generator, so one proptest seed drives every choice of a restyling.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[(self.next() % options.len() as u64) as usize]
    }
}

/// The same TOML in another style: within each table its `key = value` lines in another
/// order, with other spacing around `=`, indentation, blank lines, and single-quoted strings
/// where a literal string can say the same.
fn restyle(text: &str, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut out = String::new();
    let mut keys: Vec<String> = Vec::new();
    let flush = |keys: &mut Vec<String>, out: &mut String, rng: &mut Rng| {
        // Fisher-Yates.
        for i in (1..keys.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            keys.swap(i, j);
        }
        for k in keys.drain(..) {
            out.push_str(&k);
            out.push_str(rng.pick(&["\n", "\n", "\n\n"]));
        }
    };
    for line in text.lines() {
        if line.starts_with('[') {
            flush(&mut keys, &mut out, &mut rng);
            out.push_str(rng.pick(&["", "  "]));
            out.push_str(line);
            out.push_str(rng.pick(&["\n", "\n\n", "   \n"]));
        } else if let Some((k, v)) = line.split_once(" = ") {
            let v = if v.starts_with('"')
                && !v.contains('\'')
                && !v.contains('\\')
                && !v[1..v.len() - 1].contains('"')
            {
                format!("'{}'", &v[1..v.len() - 1])
            } else {
                v.replace(", ", rng.pick(&[",", ", ", " ,  "]))
            };
            let eq = rng.pick(&["=", " = ", "   =  "]);
            let indent = rng.pick(&["", "    ", "\t"]);
            keys.push(format!("{indent}{k}{eq}{v}"));
        } else if !line.trim().is_empty() {
            keys.push(line.to_owned());
        }
    }
    flush(&mut keys, &mut out, &mut rng);
    out
}

/// `text` with comments added: a numbered line before some headers and keys, a numbered
/// comment after some values, and a blank line after some comments.
fn with_comments(text: &str, seed: u64) -> (String, Vec<String>) {
    let mut rng = Rng(seed | 1);
    let mut out = String::new();
    let mut comments = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if rng.next() % 3 == 0 {
            let c = format!("# before {i}");
            out.push_str(&c);
            out.push_str(rng.pick(&["\n", "\n", "\n\n"]));
            comments.push(c);
        }
        out.push_str(line);
        if line.contains(" = ") && rng.next() % 3 == 0 {
            let c = format!("# after {i}");
            out.push_str(rng.pick(&[" ", "   "]));
            out.push_str(&c);
            comments.push(c);
        }
        out.push('\n');
    }
    if rng.next() % 2 == 0 {
        out.push_str("\n# the end\n");
        comments.push("# the end".into());
    }
    (out, comments)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_canonical_layout_is_the_one_mvtopo_writes(t in arb_topology(), seed in any::<u64>()) {
        let canonical = render::topology_toml(&t);
        prop_assert_eq!(fmt::format(&canonical).map_err(TestCaseError::fail)?, canonical.clone());

        let styled = restyle(&canonical, seed);
        let back = check::load_str("styled.toml", &styled, "lab")
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n{styled}")))?;
        prop_assert_eq!(&back, &t, "restyling changed the topology:\n{}", styled);
        let formatted = fmt::format(&styled).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&formatted, &canonical, "from:\n{}", styled);
    }

    #[test]
    fn comments_are_kept_and_formatting_twice_changes_nothing(
        t in arb_topology(),
        seed in any::<u64>(),
    ) {
        let (commented, comments) = with_comments(&render::topology_toml(&t), seed);
        let once = fmt::format(&commented).map_err(TestCaseError::fail)?;
        for c in &comments {
            prop_assert!(once.contains(c.as_str()), "lost {:?}:\n{}\n----\n{}", c, commented, once);
        }
        prop_assert_eq!(fmt::format(&once).map_err(TestCaseError::fail)?, once.clone());
        let back = check::load_str("commented.toml", &once, "lab")
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n{once}")))?;
        prop_assert_eq!(&back, &t, "{}", once);
    }
}
