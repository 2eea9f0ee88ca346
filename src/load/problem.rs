//! One diagnostic (`Problem`), the report of all problems in a file (`CheckError`), and the
//! helpers that make their text useful: did-you-mean and a stable plain rendering.

use std::fmt;
use std::ops::Range;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use crate::code::Code;

/// One thing wrong with a topology file: where it is, what is wrong, and what to write instead.
///
/// Reusable by later stages (the graph's cycle check builds one from `model::Span`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A stable code such as `mvtopo::check::unknown-key`.
    pub code: Code,
    /// Lowercase, no trailing period.
    pub message: String,
    /// The primary span and its label.
    pub span: Range<usize>,
    pub label: String,
    /// Other places that explain the problem (e.g. "first defined here").
    pub secondary: Vec<(Range<usize>, String)>,
    /// What to write instead.
    pub help: Option<String>,
}

impl Problem {
    pub fn new(
        code: Code,
        message: String,
        span: Range<usize>,
        label: String,
        help: Option<String>,
    ) -> Problem {
        Problem {
            code,
            message,
            span,
            label,
            secondary: Vec::new(),
            help,
        }
    }

    /// Adds a secondary label, e.g. pointing at the first definition of a duplicate.
    pub fn with_label(mut self, span: Range<usize>, label: impl Into<String>) -> Problem {
        self.secondary.push((span, label.into()));
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = std::iter::once(LabeledSpan::new_primary_with_span(
            Some(self.label.clone()),
            to_source_span(&self.span),
        ));
        let rest = self.secondary.iter().map(|(span, label)| {
            LabeledSpan::new_with_span(Some(label.clone()), to_source_span(span))
        });
        Some(Box::new(primary.chain(rest)))
    }
}

fn to_source_span(r: &Range<usize>) -> miette::SourceSpan {
    (r.start, r.end.saturating_sub(r.start)).into()
}

/// Every problem found in one topology file, reported together.
#[derive(Debug)]
pub struct CheckError {
    source_name: String,
    source_code: NamedSource<String>,
    /// Sorted by position in the file.
    pub problems: Vec<Problem>,
}

impl CheckError {
    /// Sorts the problems by position so the report reads top to bottom.
    pub fn new(source_name: &str, text: &str, mut problems: Vec<Problem>) -> CheckError {
        problems.sort_by_key(|p| (p.span.start, p.span.end));
        // Spans come from the parser or from model::Span values built by other stages; clamp
        // them so a stale span can never make the renderer index outside the text.
        for p in &mut problems {
            clamp(&mut p.span, text);
            for (s, _) in &mut p.secondary {
                clamp(s, text);
            }
        }
        CheckError {
            source_name: source_name.to_owned(),
            source_code: NamedSource::new(source_name, text.to_owned()),
            problems,
        }
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problem codes in report order (handy in tests).
    pub fn codes(&self) -> Vec<&'static str> {
        self.problems.iter().map(|p| p.code.as_str()).collect()
    }
}

fn clamp(span: &mut Range<usize>, text: &str) {
    let mut end = span.end.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut start = span.start.min(end);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    *span = start..end;
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "check of {} failed: {} problem{}",
            self.source_name,
            n,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for CheckError {}

impl Diagnostic for CheckError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(Code::Check))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source_code)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(
            self.problems.iter().map(|p| p as &'a dyn Diagnostic),
        ))
    }
}

/// A stable, colourless rendering of a diagnostic (used by golden tests and `check`'s output
/// when it is not a terminal).
pub fn render_plain(diag: &dyn Diagnostic) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, diag).is_err() {
        // Rendering into a String only fails if a Display impl fails; fall back to the message.
        out = diag.to_string();
    }
    out
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), so that
/// "veht" is one edit from "veth".
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    // Three rolling rows: i-2, i-1, i.
    let mut prev2: Vec<usize> = vec![0; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur: Vec<usize> = vec![0; m + 1];
    for i in 1..=n {
        cur[0] = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

/// The candidate closest to `input`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = input.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == input {
            continue;
        }
        let d = edit_distance(&lower, &c.to_lowercase()).max(usize::from(lower != c));
        let close = d <= 1 || (d <= 3 && d * 3 <= c.chars().count());
        if close && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `"a", "b" or "c"`: a readable list of choices for help lines.
pub fn one_of<'a, I>(choices: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let items: Vec<String> = choices.into_iter().map(|c| format!("{c:?}")).collect();
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits_and_transpositions() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("veht", "veth"), 1);
        assert_eq!(edit_distance("source-mac", "source-macs"), 1);
        assert_eq!(edit_distance("brige", "bridge"), 1);
        assert_eq!(edit_distance("ca", "abc"), 3);
    }

    #[test]
    fn suggestions_are_close_or_absent() {
        let keys = [
            "name",
            "parent",
            "namespace",
            "mode",
            "source-macs",
            "addresses",
        ];
        assert_eq!(did_you_mean("source_macs", keys), Some("source-macs"));
        assert_eq!(did_you_mean("sourcemacs", keys), Some("source-macs"));
        assert_eq!(did_you_mean("adresses", keys), Some("addresses"));
        assert_eq!(did_you_mean("adress", keys), Some("addresses"));
        assert_eq!(did_you_mean("parnet", keys), Some("parent"));
        assert_eq!(did_you_mean("Mode", keys), Some("mode"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("x", keys), None);
        assert_eq!(
            did_you_mean("veht", ["veth", "dummy", "vlan"]),
            Some("veth")
        );
        assert_eq!(did_you_mean("bond", ["veth", "dummy", "vlan"]), None);
    }

    #[test]
    fn the_closest_candidate_wins() {
        assert_eq!(did_you_mean("vlam", ["vlan", "veth"]), Some("vlan"));
        assert_eq!(
            did_you_mean("bridgr", ["bridge", "private"]),
            Some("bridge")
        );
    }

    #[test]
    fn lists_read_naturally() {
        assert_eq!(one_of(["a"]), "\"a\"");
        assert_eq!(one_of(["a", "b", "c"]), "\"a\", \"b\" or \"c\"");
    }

    #[test]
    fn spans_are_clamped_to_char_boundaries() {
        let e = CheckError::new(
            "t.toml",
            "é",
            vec![Problem::new(
                Code::CheckSyntax,
                "m".into(),
                1..9,
                "l".into(),
                None,
            )],
        );
        assert_eq!(e.problems[0].span, 0..2);
    }
}
