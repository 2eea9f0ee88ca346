//! Reading what the command line is given: topology files (or standard input, as `-`), and
//! the JSON documents mvtopo wrote earlier (live states for `--state`, saved plans for
//! `--plan`), whose errors point into the file like `check`'s do.

use std::fmt;
use std::io::Read;
use std::marker::PhantomData;
use std::path::Path;

use miette::{Diagnostic, NamedSource, SourceSpan};
use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, MapAccess, Visitor};

use super::json::FORMAT_VERSION;
use crate::code::Code;

/// A file's text and the name diagnostics show for it.
pub struct Text {
    pub text: String,
    /// `<stdin>` for standard input, else the path as given.
    pub name: String,
    /// The default topology name: the file's stem, `stdin` for standard input.
    pub stem: String,
}

/// Why a file could not be read, and whether that is the user's doing (a missing file is
/// a usage error) or the data's (not UTF-8).
pub enum ReadError {
    NotFound(String),
    NotText(String),
    Other(String),
}

/// Reads `path`, or standard input when it is `-`.
pub fn read_text(path: &Path) -> Result<Text, ReadError> {
    if path == Path::new("-") {
        let mut text = String::new();
        return match std::io::stdin().read_to_string(&mut text) {
            Ok(_) => Ok(Text {
                text,
                name: "<stdin>".into(),
                stem: "stdin".into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                Err(ReadError::NotText(format!("reading standard input: {e}")))
            }
            Err(e) => Err(ReadError::Other(format!("reading standard input: {e}"))),
        };
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Text {
            text,
            name: path.display().to_string(),
            stem: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }),
        Err(e) => {
            let msg = format!("reading {}: {e}", path.display());
            Err(match e.kind() {
                std::io::ErrorKind::NotFound => ReadError::NotFound(msg),
                // Not UTF-8: the file is there but is not text.
                std::io::ErrorKind::InvalidData => ReadError::NotText(msg),
                _ => ReadError::Other(msg),
            })
        }
    }
}

/// A JSON document that does not fit what mvtopo reads there.
#[derive(Debug, thiserror::Error)]
#[error("{name} is not {what}: {message}")]
pub struct JsonError {
    name: String,
    what: &'static str,
    message: String,
    label: String,
    span: SourceSpan,
    help: String,
    source_code: NamedSource<String>,
}

impl Diagnostic for JsonError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(Code::InputJson))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.help))
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source_code)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_primary_with_span(Some(self.label.clone()), self.span),
        )))
    }
}

/// Parses `text` as a `T`, taking a top-level `"format_version"` out first (accepted when
/// absent or at most `FORMAT_VERSION`). Errors carry the span of the offending JSON value and
/// say what was expected in the file's terms, never Rust's (`u32`, `struct LiveLink`).
pub fn parse_json<T: DeserializeOwned>(
    name: &str,
    text: &str,
    what: &'static str,
    help: &str,
) -> Result<T, Box<JsonError>> {
    let fail = |message: String, label: String, span: SourceSpan| {
        Box::new(JsonError {
            name: name.to_owned(),
            what,
            message,
            label,
            span,
            help: help.to_owned(),
            source_code: NamedSource::new(name, text.to_owned()),
        })
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = <WithVersion<T> as de::Deserialize>::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(WithVersion { value, version }) => match version {
            Some(v) if v > u64::from(FORMAT_VERSION) => {
                let at = text.find("\"format_version\"").unwrap_or(0);
                Err(fail(
                    format!(
                        "format_version {v} is newer than this mvtopo reads ({FORMAT_VERSION})"
                    ),
                    "written by a newer mvtopo".into(),
                    (at, "\"format_version\"".len().min(text.len() - at)).into(),
                ))
            }
            _ => Ok(value),
        },
        Err(e) => {
            let message = plain_words(&e);
            let span = error_span(text, e.line(), e.column());
            let label = if e.is_syntax() || e.is_eof() {
                "here".to_owned()
            } else {
                message
                    .split_once(", expected ")
                    .map(|(_, exp)| format!("expected {exp}"))
                    .unwrap_or_else(|| "here".to_owned())
            };
            Err(fail(message, label, span))
        }
    }
}

/// Rust's names for what a value should have been, in the words of the file format.
const PLAIN: [(&str, &str); 17] = [
    ("u8", "a whole number from 0 to 255"),
    ("u16", "a whole number from 0 to 65535"),
    ("u32", "a whole number from 0 to 4294967295"),
    ("u64", "a whole number from 0 up"),
    ("usize", "a whole number from 0 up"),
    ("i64", "a whole number"),
    ("a boolean", "true or false"),
    ("a string", "a string"),
    ("a sequence", "an array"),
    ("a map", "an object"),
    ("a borrowed string", "a string"),
    (
        "internally tagged enum Step",
        "a step object with an \"action\"",
    ),
    ("internally tagged enum Object", "an object with a \"kind\""),
    ("struct LiveState", "an object"),
    ("struct LiveLink", "a link object"),
    ("struct LiveNamespace", "a namespace object"),
    ("struct LinkRef", "an object with a \"name\""),
];

/// serde_json's message without its position (the span shows it) and with Rust's type names
/// replaced by what the file should hold.
fn plain_words(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let mut msg = match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    };
    if let Some((head, expected)) = msg.split_once(", expected ") {
        let expected = PLAIN
            .iter()
            .find(|(rust, _)| *rust == expected)
            .map(|(_, plain)| (*plain).to_owned())
            .unwrap_or_else(|| {
                // `struct Foo` / `enum Foo` that the table does not know: no type names.
                if expected.starts_with("struct ") || expected.contains("enum ") {
                    "an object".to_owned()
                } else {
                    expected.to_owned()
                }
            });
        msg = format!("{head}, expected {expected}");
    }
    // "invalid type: map" / "sequence": JSON's names.
    msg.replace("invalid type: map", "invalid type: object")
        .replace("invalid type: sequence", "invalid type: array")
        .replace("invalid type: integer", "invalid type: number")
        .replace("invalid type: floating point", "invalid type: number")
}

/// The JSON value that ends where serde_json stopped (its line and column point just past
/// the offending token): a string back to its opening quote, a number or word back to its
/// start, otherwise the one character there.
fn error_span(text: &str, line: usize, column: usize) -> SourceSpan {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut end = (line_start + column).min(text.len());
    // serde_json counts columns in bytes; miette slices the text at the span's ends.
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let bytes = text.as_bytes();
    if end == 0 {
        return (0, text.len().min(1)).into();
    }
    let last = bytes[end - 1];
    let start = if last == b'"' && end >= 2 {
        // Back to the opening quote, skipping escaped quotes.
        let mut i = end - 1;
        loop {
            match text[..i].rfind('"') {
                Some(j) if j > 0 && bytes[j - 1] == b'\\' => i = j,
                Some(j) => break j,
                None => break end - 1,
            }
        }
    } else if last.is_ascii_alphanumeric() || matches!(last, b'.' | b'-' | b'+') {
        let mut i = end - 1;
        while i > 0
            && (bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'.' | b'-' | b'+'))
        {
            i -= 1;
        }
        i
    } else {
        end - 1
    };
    let mut start = start;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    (start, end - start).into()
}

/// `T` with a top-level `"format_version"` taken out before `T` sees the object, so that
/// `T`'s own `deny_unknown_fields` still rejects every other unknown key and serde_json's
/// errors keep their positions (no buffering).
struct WithVersion<T> {
    value: T,
    version: Option<u64>,
}

impl<'de, T: DeserializeOwned> de::Deserialize<'de> for WithVersion<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TopVisitor(PhantomData))
    }
}

struct TopVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for TopVisitor<T> {
    type Value = WithVersion<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut version = None;
        let value = T::deserialize(de::value::MapAccessDeserializer::new(SkipVersion {
            inner: map,
            version: &mut version,
        }))?;
        Ok(WithVersion { value, version })
    }
}

struct SkipVersion<'v, A> {
    inner: A,
    version: &'v mut Option<u64>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipVersion<'_, A> {
    type Error = A::Error;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.inner.next_key::<String>()? else {
                return Ok(None);
            };
            if key == "format_version" {
                *self.version = Some(self.inner.next_value()?);
                continue;
            }
            return seed
                .deserialize(IntoDeserializer::<A::Error>::into_deserializer(key))
                .map(Some);
        }
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LiveState;

    fn state(text: &str) -> Result<LiveState, Box<JsonError>> {
        parse_json("s.json", text, "a live state", "help")
    }

    fn span_text<'a>(text: &'a str, e: &JsonError) -> &'a str {
        &text[e.span.offset()..e.span.offset() + e.span.len()]
    }

    #[test]
    fn the_version_is_optional_and_taken_out() {
        let v = state(r#"{"links": []}"#)
            .map_err(|e| e.to_string())
            .unwrap();
        assert!(v.links.is_empty());
        let v = state(r#"{"format_version": 1, "namespaces": [{"name": "red"}]}"#)
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(v.namespaces.len(), 1);
        // Only the top level's format_version is taken out.
        let e = state(r#"{"namespaces": [{"name": "red", "format_version": 1}]}"#).err();
        assert!(e.is_some());
        let e = state(r#"{"format_version": 2}"#).err().unwrap();
        assert!(e.to_string().contains("newer"), "{e}");
    }

    #[test]
    fn errors_point_at_the_value_in_the_files_words() {
        let text = "{\"links\": [\n  {\"name\": \"eth1\", \"kind\": \"device\", \"mtu\": \"1500\", \"up\": true}\n]}";
        let e = state(text).err().unwrap();
        let msg = e.to_string();
        assert!(!msg.contains("u32"), "{msg}");
        assert!(msg.contains("a whole number from 0 to 4294967295"), "{msg}");
        assert!(!msg.contains("at line"), "{msg}");
        assert_eq!(span_text(text, &e), "\"1500\"");
        let text = r#"{"links": [{"name": "eth1", "kind": "device", "mtu": 1500, "up": "yes"}]}"#;
        let e = state(text).err().unwrap();
        assert!(e.to_string().contains("true or false"), "{e}");
        assert_eq!(span_text(text, &e), "\"yes\"");
        let text = r#"{"links": 5}"#;
        let e = state(text).err().unwrap();
        assert!(e.to_string().contains("an array"), "{e}");
        assert_eq!(span_text(text, &e), "5");
        let text =
            r#"{"links": [{"name": "eth1", "kind": "device", "mtu": 99999999999, "up": true}]}"#;
        let e = state(text).err().unwrap();
        assert!(!e.to_string().contains("u32"), "{e}");
        let text = r#"{"linkz": []}"#;
        let e = state(text).err().unwrap();
        assert!(e.to_string().contains("unknown field `linkz`"), "{e}");
        let text = "{\"links\": [";
        let e = state(text).err().unwrap();
        assert!(e.span.offset() + e.span.len() <= text.len());
        for text in [
            "",
            "[]",
            "{\"links\": [{\"namé\": 1}]}",
            "\"\\\"\"",
            "nul",
            "{\"links\": é}",
            "{\"links\": [{\"name\": \"é\", \"kind\": 1}]}",
            "{\"é\u{301}\": 1}",
        ] {
            let e = state(text).err().unwrap();
            assert!(e.span.offset() + e.span.len() <= text.len(), "{text}");
            assert!(text.is_char_boundary(e.span.offset()), "{text}");
            assert!(
                text.is_char_boundary(e.span.offset() + e.span.len()),
                "{text}"
            );
            // And the report renders.
            let _ = format!("{:?}", miette::Report::new(*e));
        }
    }

    proptest::proptest! {
        #[test]
        fn no_text_panics_and_every_span_is_in_the_text(
            text in "\\PC*|\\{[\"a-z_: 0-9.,é\\[\\]{}-]{0,60}\\}?"
        ) {
            if let Err(e) = state(&text) {
                let end = e.span.offset() + e.span.len();
                proptest::prop_assert!(end <= text.len());
                proptest::prop_assert!(text.is_char_boundary(e.span.offset()));
                proptest::prop_assert!(text.is_char_boundary(end));
                let _ = format!("{:?}", miette::Report::new(*e));
            }
        }
    }
}
