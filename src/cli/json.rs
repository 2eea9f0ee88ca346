//! The JSON the command line writes with `--format json`: the `format_version` every object
//! carries, diagnostics as data (code, severity, message, help, labelled spans), and the
//! `{"error": {...}}` object a failing command writes.

use miette::{Diagnostic, Report, Severity, SourceCode, SourceSpan};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Command, Format, ShowFormat};

/// The version of every JSON document mvtopo writes (plans, saved plans, live states,
/// results, errors). Readers accept documents without it (written before it existed).
pub const FORMAT_VERSION: u32 = 1;

/// `inner`'s JSON object with `"format_version"` first.
#[derive(Serialize)]
pub struct Versioned<'a, T: Serialize> {
    pub format_version: u32,
    #[serde(flatten)]
    pub inner: &'a T,
}

pub fn versioned<T: Serialize>(inner: &T) -> Versioned<'_, T> {
    Versioned {
        format_version: FORMAT_VERSION,
        inner,
    }
}

/// Pretty JSON of any value, for stdout; serializing plain data cannot fail, and if it ever
/// did the output is still one JSON object saying so.
pub fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| {
        json!({
            "format_version": FORMAT_VERSION,
            "error": {"code": "mvtopo::internal", "message": format!("serializing the output: {e}"),
                      "exit_code": 1, "diagnostics": []},
        })
        .to_string()
    })
}

/// Where a label points: byte offset and length, and the 1-based line and column (column
/// in characters) of its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    pub offset: usize,
    pub length: usize,
    pub line: usize,
    pub column: usize,
}

/// `span` resolved against `source`; `None` when the span lies outside it.
pub fn position(source: &dyn SourceCode, span: &SourceSpan) -> Option<Position> {
    let end = span.offset() + span.len();
    // With no context lines, miette returns the text from the span's start; asking for the
    // span from 0 gives everything before it too, so line and column can be counted.
    let whole: SourceSpan = (0, end).into();
    let contents = source.read_span(&whole, 0, 0).ok()?;
    let data = contents.data();
    let before = data.get(..span.offset())?;
    let before = String::from_utf8_lossy(before);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Some(Position {
        offset: span.offset(),
        length: span.len(),
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    })
}

fn severity(d: &dyn Diagnostic) -> &'static str {
    match d.severity() {
        Some(Severity::Advice) => "advice",
        Some(Severity::Warning) => "warning",
        Some(Severity::Error) | None => "error",
    }
}

/// One diagnostic as JSON. Its labels are resolved against its own source, else `source`
/// (the enclosing report's: a check report holds the file, its problems only spans).
pub fn diagnostic(d: &dyn Diagnostic, source: Option<&dyn SourceCode>) -> Value {
    let source = d.source_code().or(source);
    let labels: Vec<Value> = d
        .labels()
        .into_iter()
        .flatten()
        .map(|l| {
            let mut v = json!({
                "label": l.label(),
                "primary": l.primary(),
                "offset": l.offset(),
                "length": l.len(),
            });
            if let Some(p) = source.and_then(|s| position(s, l.inner())) {
                v["line"] = p.line.into();
                v["column"] = p.column.into();
            }
            v
        })
        .collect();
    // The file the spans are in, as the command line named it (`<stdin>` for `-`).
    let file = source
        .and_then(|s| s.read_span(&(0, 0).into(), 0, 0).ok())
        .and_then(|c| c.name().map(str::to_owned));
    json!({
        "code": d.code().map(|c| c.to_string()),
        "file": file,
        "severity": severity(d),
        "message": d.to_string(),
        "help": d.help().map(|h| h.to_string()),
        "labels": labels,
    })
}

/// The diagnostics of a report: its related ones (a check report lists every problem in the
/// file there), or the report itself when it has none.
pub fn diagnostics(report: &Report) -> Vec<Value> {
    let top: &dyn Diagnostic = report.as_ref();
    let source = top.source_code();
    let related: Vec<Value> = top
        .related()
        .into_iter()
        .flatten()
        .map(|d| diagnostic(d, source))
        .collect();
    if related.is_empty() {
        vec![diagnostic(top, None)]
    } else {
        related
    }
}

/// The `"error"` member of a failed command's object.
pub fn error(exit_code: u8, report: Option<&Report>) -> Value {
    match report {
        Some(r) => json!({
            "code": r.code().map(|c| c.to_string()).unwrap_or_else(|| "mvtopo::error".into()),
            "message": r.to_string(),
            "exit_code": exit_code,
            "diagnostics": diagnostics(r),
        }),
        None => json!({
            "code": "mvtopo::error",
            "message": "failed",
            "exit_code": exit_code,
            "diagnostics": [],
        }),
    }
}

/// The object a failed command writes with `--format json`: `"error"`, and `extra` (what
/// the command adds, such as a failed apply's steps).
pub fn failure(
    exit_code: u8,
    report: Option<&Report>,
    extra: Option<serde_json::Map<String, Value>>,
) -> String {
    let mut v = serde_json::Map::new();
    v.insert("format_version".into(), FORMAT_VERSION.into());
    v.extend(extra.unwrap_or_default());
    v.insert("error".into(), error(exit_code, report));
    pretty(&v)
}

/// The object for a command line clap rejected.
pub fn usage_error(e: &clap::Error, exit_code: u8) -> String {
    let text = e.to_string();
    let message = text
        .lines()
        .next()
        .unwrap_or("usage error")
        .trim_start_matches("error: ");
    pretty(&json!({
        "format_version": FORMAT_VERSION,
        "error": {"code": "mvtopo::usage", "message": message, "exit_code": exit_code, "diagnostics": []},
    }))
}

/// `--format json` somewhere on a command line clap could not parse.
pub fn in_args(args: &[std::ffi::OsString]) -> bool {
    args.windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json")
}

/// Whether the command was asked for JSON: then its failure is JSON on stdout too.
pub fn wanted(c: &Command) -> bool {
    matches!(
        c,
        Command::Check {
            format: Format::Json,
            ..
        } | Command::Plan {
            format: Format::Json,
            ..
        } | Command::Apply {
            format: Format::Json,
            ..
        } | Command::Destroy {
            format: Format::Json,
            ..
        } | Command::Show {
            format: ShowFormat::Json,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a = 1\nnamé = \"x\"\n";
        let at = |off: usize, len: usize| position(&text, &(off, len).into());
        assert_eq!(
            at(0, 1),
            Some(Position {
                offset: 0,
                length: 1,
                line: 1,
                column: 1
            })
        );
        // "é" is two bytes: the value starts at byte 14, character column 8 of line 2.
        let p = at(14, 3).unwrap();
        assert_eq!((p.line, p.column), (2, 8));
        assert_eq!(at(100, 1), None);
    }

    #[test]
    fn check_reports_become_one_diagnostic_per_problem() {
        let text = "name = 7\n[[macvlan]]\nnme = \"a\"\n";
        let e = crate::check::load_str("t.toml", text, "t").unwrap_err();
        let n = e.len();
        let report = Report::new(e);
        let v = error(65, Some(&report));
        assert_eq!(v["exit_code"], 65);
        assert_eq!(v["code"], "mvtopo::check");
        let d = v["diagnostics"].as_array().unwrap();
        assert_eq!(d.len(), n);
        assert_eq!(d[0]["code"], "mvtopo::check::type");
        assert_eq!(d[0]["severity"], "error");
        assert_eq!(d[0]["file"], "t.toml");
        assert_eq!(d[0]["labels"][0]["offset"], 7);
        assert_eq!(d[0]["labels"][0]["line"], 1);
        assert_eq!(d[0]["labels"][0]["column"], 8);
        assert!(d[0]["help"].as_str().unwrap().contains("quotes"));
    }

    #[test]
    fn versioned_puts_the_version_first() {
        #[derive(Serialize)]
        struct P {
            a: u8,
        }
        let s = serde_json::to_string(&versioned(&P { a: 1 })).unwrap();
        assert_eq!(s, r#"{"format_version":1,"a":1}"#);
    }
}
