//! A search's field conditions: a dotted path into the record, its
//! modifiers, and the values it compares with (SPEC §12).
//!
//! Semantics, for CloudTrail's JSON:
//! - a path walks objects by key; through a list it goes on in every element,
//!   and a list at the end of the path offers each of its elements: the field
//!   matches when any value found does;
//! - values compare as text, case-insensitively, with `*` and `?` wildcards
//!   (`\*`, `\?`, `\\` escape them); numbers and booleans as their JSON text;
//!   an object, as its JSON text (so `requestParameters|contains` searches the
//!   whole of it, as SigmaHQ's rules expect);
//! - several values are OR, or AND with `all`;
//! - `null` matches a field that is absent or null.

use std::borrow::Cow;
use std::net::IpAddr;

use ctt_core::RecordHead;
use ipnet::IpNet;
use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::RuleError;

/// One `path|modifiers: values` entry of a search.
#[derive(Debug, Clone)]
pub struct FieldMatch {
    pub(crate) path: Vec<String>,
    /// The path, dotted.
    dotted: String,
    all: bool,
    patterns: Vec<Pattern>,
}

/// What one value of the rule asks of the field.
#[derive(Debug, Clone)]
enum Pattern {
    /// Absent or null.
    Null,
    /// Present and not null (`exists: true`), or not (`exists: false`).
    Exists(bool),
    /// Equal to this text, without wildcards (lower-cased unless `cased`).
    Exact {
        text: String,
        cased: bool,
    },
    Contains {
        text: String,
        cased: bool,
    },
    StartsWith {
        text: String,
        cased: bool,
    },
    EndsWith {
        text: String,
        cased: bool,
    },
    /// A wildcard pattern, or `re`.
    Regex(Regex),
    Cidr(IpNet),
    /// Equal to another field of the same record (case-insensitively).
    FieldRef(Vec<String>),
    /// A number compared with the field's (`gt`, `gte`, `lt`, `lte`).
    Compare(Comparison, f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// How a text value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

impl FieldMatch {
    /// Parses `key` (`path|modifier|…`) and its values (`None` for `null`).
    pub fn parse(key: &str, values: Vec<Option<String>>) -> Result<Self, RuleError> {
        let mut parts = key.split('|');
        let path: Vec<String> = parts
            .next()
            .unwrap_or_default()
            .split('.')
            .map(str::to_owned)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(RuleError::Invalid(format!("field `{key}`: empty path")));
        }
        let mut kind = TextKind::Equals;
        let (mut all, mut cased, mut re, mut cidr, mut exists, mut fieldref) =
            (false, false, false, false, false, false);
        let mut compare = None;
        let mut re_flags = (false, false, false); // i, m, s
        for modifier in parts {
            match modifier {
                "contains" => kind = TextKind::Contains,
                "startswith" => kind = TextKind::StartsWith,
                "endswith" => kind = TextKind::EndsWith,
                "all" => all = true,
                "cased" => cased = true,
                "re" => re = true,
                "i" if re => re_flags.0 = true,
                "m" if re => re_flags.1 = true,
                "s" if re => re_flags.2 = true,
                "cidr" => cidr = true,
                "exists" => exists = true,
                "fieldref" => fieldref = true,
                "gt" => compare = Some(Comparison::Gt),
                "gte" => compare = Some(Comparison::Gte),
                "lt" => compare = Some(Comparison::Lt),
                "lte" => compare = Some(Comparison::Lte),
                other => {
                    return Err(RuleError::Unsupported(format!(
                        "the modifier `{other}` (field `{key}`)"
                    )));
                }
            }
        }
        let special = [re, cidr, exists, fieldref, compare.is_some()]
            .iter()
            .filter(|&&on| on)
            .count();
        if special > 1 || (special == 1 && kind != TextKind::Equals) {
            return Err(RuleError::Unsupported(format!(
                "this combination of modifiers (field `{key}`)"
            )));
        }
        let patterns = values
            .into_iter()
            .map(|value| {
                let Some(value) = value else {
                    return if special == 0 {
                        Ok(Pattern::Null)
                    } else {
                        Err(RuleError::Invalid(format!(
                            "field `{key}`: null with a modifier"
                        )))
                    };
                };
                if exists {
                    return match value.to_ascii_lowercase().as_str() {
                        "true" => Ok(Pattern::Exists(true)),
                        "false" => Ok(Pattern::Exists(false)),
                        _ => Err(RuleError::Invalid(format!(
                            "field `{key}`: exists takes true or false"
                        ))),
                    };
                }
                if re {
                    return RegexBuilder::new(&value)
                        .case_insensitive(re_flags.0)
                        .multi_line(re_flags.1)
                        .dot_matches_new_line(re_flags.2)
                        .build()
                        .map(Pattern::Regex)
                        .map_err(|e| RuleError::Invalid(format!("field `{key}`: {e}")));
                }
                if cidr {
                    return value
                        .parse::<IpNet>()
                        .map(Pattern::Cidr)
                        .map_err(|e| RuleError::Invalid(format!("field `{key}`: {value}: {e}")));
                }
                if fieldref {
                    return Ok(Pattern::FieldRef(
                        value.split('.').map(str::to_owned).collect(),
                    ));
                }
                if let Some(op) = compare {
                    return value
                        .trim()
                        .parse::<f64>()
                        .map(|n| Pattern::Compare(op, n))
                        .map_err(|_| {
                            RuleError::Invalid(format!("field `{key}`: `{value}` is not a number"))
                        });
                }
                text_pattern(&value, kind, cased)
                    .map_err(|e| RuleError::Invalid(format!("field `{key}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if patterns.is_empty() {
            return Err(RuleError::Invalid(format!("field `{key}`: no value")));
        }
        Ok(FieldMatch {
            dotted: path.join("."),
            path,
            all,
            patterns,
        })
    }

    /// Whether `record` satisfies this entry.
    pub fn matches(&self, record: &Value) -> bool {
        let mut found = Vec::new();
        values_at(record, &self.path, &mut found);
        let one = |pattern: &Pattern| matches_pattern(pattern, &found, record);
        if self.all {
            self.patterns.iter().all(one)
        } else {
            self.patterns.iter().any(one)
        }
    }

    /// Whether a record whose text at this entry's path is `value` (`None`:
    /// absent or null) satisfies this entry, as [`FieldMatch::matches`]
    /// would decide on the record; `None` when that needs the rest of the
    /// record (a `fieldref`).
    pub(crate) fn matches_text_at_path(&self, value: Option<&str>) -> Option<bool> {
        let one = |pattern: &Pattern| match pattern {
            Pattern::Null => Some(value.is_none()),
            Pattern::Exists(wanted) => Some(value.is_some() == *wanted),
            Pattern::FieldRef(_) => None,
            _ => Some(value.is_some_and(|text| matches_text(pattern, text))),
        };
        let mut outcomes = self.patterns.iter().map(one);
        if self.all {
            outcomes.try_fold(true, |all, o| Some(all && o?))
        } else {
            outcomes.try_fold(false, |any, o| Some(any || o?))
        }
    }

    /// Whether a record with head `head` satisfies this entry; `None` when
    /// the head cannot tell (a field it does not hold, a `fieldref`).
    pub(crate) fn matches_head(&self, head: &RecordHead<'_>) -> Option<bool> {
        if !RecordHead::FIELDS.contains(&self.dotted.as_str()) {
            return None;
        }
        self.matches_text_at_path(head.field(&self.dotted))
    }

    /// The exact texts this entry requires of `field`, when it is a plain
    /// equality on that field without wildcards: what lets a rule set skip
    /// rules by `eventName`.
    pub(crate) fn exact_values_of(&self, field: &str) -> Option<Vec<String>> {
        if !self.path.iter().map(String::as_str).eq(field.split('.')) || self.all {
            return None;
        }
        self.patterns
            .iter()
            .map(|p| match p {
                Pattern::Exact { text, cased: false } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }
}

impl FieldMatch {
    /// Texts one of which the record's raw JSON must contain (ASCII, any
    /// case) for this field to match; `None` when no such text is known.
    /// Only letters, digits and `-_.@` are trusted to appear in the raw JSON
    /// as they appear in the value (nothing JSON escapes, nothing whose
    /// spacing an object's text could change), at least 3 of them.
    pub(crate) fn needles(&self) -> Option<Vec<String>> {
        let of = |p: &Pattern| match p {
            Pattern::Exact { text, .. }
            | Pattern::Contains { text, .. }
            | Pattern::StartsWith { text, .. }
            | Pattern::EndsWith { text, .. } => {
                let safe = text.len() >= 3
                    && text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
                safe.then(|| text.to_ascii_lowercase())
            }
            Pattern::Regex(regex) => regex_literal(regex.as_str()),
            _ => None,
        };
        if self.all {
            // Every value must match: any one of them is required.
            return self.patterns.iter().find_map(of).map(|n| vec![n]);
        }
        self.patterns.iter().map(of).collect()
    }
}

/// A text every match of `source` contains: its longest run of letters,
/// digits, `-`, `_` and `@` (at least 3), when the expression has nothing
/// that makes a literal optional or alternative (`|`, `?`, `*`, `{`,
/// groups, classes, escapes). `.+:assumed-role/aws:.+` needs `assumed-role`.
fn regex_literal(source: &str) -> Option<String> {
    if source.chars().any(|c| "|?*{}()[]\\".contains(c)) {
        return None;
    }
    source
        .split(|c: char| !(c.is_ascii_alphanumeric() || "-_@".contains(c)))
        .filter(|run| run.len() >= 3)
        .max_by_key(|run| run.len())
        .map(str::to_ascii_lowercase)
}

fn text_pattern(value: &str, kind: TextKind, cased: bool) -> Result<Pattern, regex::Error> {
    // Sigma's escapes: `\*`, `\?` and `\\` are literal; other backslashes too.
    let mut literal = String::new();
    let mut regex = String::new();
    let mut wild = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                let next = chars.next().unwrap_or('\\');
                literal.push(next);
                regex.push_str(&regex::escape(&next.to_string()));
            }
            '*' => {
                wild = true;
                regex.push_str(".*");
            }
            '?' => {
                wild = true;
                regex.push('.');
            }
            c => {
                literal.push(c);
                regex.push_str(&regex::escape(&c.to_string()));
            }
        }
    }
    if wild {
        let (start, end) = match kind {
            TextKind::Equals => ("^", "$"),
            TextKind::Contains => ("", ""),
            TextKind::StartsWith => ("^", ""),
            TextKind::EndsWith => ("", "$"),
        };
        return RegexBuilder::new(&format!("{start}{regex}{end}"))
            .case_insensitive(!cased)
            .dot_matches_new_line(true)
            .build()
            .map(Pattern::Regex);
    }
    let text = if cased {
        literal
    } else {
        literal.to_lowercase()
    };
    Ok(match kind {
        TextKind::Equals => Pattern::Exact { text, cased },
        TextKind::Contains => Pattern::Contains { text, cased },
        TextKind::StartsWith => Pattern::StartsWith { text, cased },
        TextKind::EndsWith => Pattern::EndsWith { text, cased },
    })
}

/// Every value at `path` in `value`, walking into every element of a list.
pub(crate) fn values_at<'a>(value: &'a Value, path: &[String], found: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                values_at(item, path, found);
            }
        }
        _ => match path.split_first() {
            None => found.push(value),
            Some((key, rest)) => {
                if let Some(next) = value.get(key) {
                    values_at(next, rest, found);
                }
            }
        },
    }
}

/// The text a value compares as; `None` for null.
fn text_of(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        other => Some(Cow::Owned(other.to_string())),
    }
}

fn matches_pattern(pattern: &Pattern, found: &[&Value], record: &Value) -> bool {
    match pattern {
        Pattern::Null => found.is_empty() || found.iter().any(|v| v.is_null()),
        Pattern::Exists(wanted) => found.iter().any(|v| !v.is_null()) == *wanted,
        Pattern::FieldRef(other) => {
            let mut theirs = Vec::new();
            values_at(record, other, &mut theirs);
            found.iter().filter_map(|v| text_of(v)).any(|mine| {
                theirs
                    .iter()
                    .filter_map(|v| text_of(v))
                    .any(|their| their.to_lowercase() == mine.to_lowercase())
            })
        }
        _ => found
            .iter()
            .filter_map(|v| text_of(v))
            .any(|text| matches_text(pattern, &text)),
    }
}

fn matches_text(pattern: &Pattern, text: &str) -> bool {
    let folded = |cased: bool| {
        if cased {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(text.to_lowercase())
        }
    };
    // An ASCII text lower-cases to ASCII: compared in place, without
    // allocating (the wanted text is lower-cased already).
    let ascii = |cased: bool| !cased && text.is_ascii();
    let head_is =
        |head: Option<&str>, want: &str| head.is_some_and(|h| h.eq_ignore_ascii_case(want));
    match pattern {
        Pattern::Exact { text: want, cased } if ascii(*cased) => text.eq_ignore_ascii_case(want),
        Pattern::StartsWith { text: want, cased } if ascii(*cased) => {
            head_is(text.get(..want.len()), want)
        }
        Pattern::EndsWith { text: want, cased } if ascii(*cased) => {
            head_is(text.get(text.len().saturating_sub(want.len())..), want)
                && want.len() <= text.len()
        }
        Pattern::Exact { text: want, cased } => *folded(*cased) == **want,
        Pattern::Contains { text: want, cased } => folded(*cased).contains(want.as_str()),
        Pattern::StartsWith { text: want, cased } => folded(*cased).starts_with(want.as_str()),
        Pattern::EndsWith { text: want, cased } => folded(*cased).ends_with(want.as_str()),
        Pattern::Regex(regex) => regex.is_match(text),
        Pattern::Cidr(net) => text.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip)),
        Pattern::Compare(op, want) => text.trim().parse::<f64>().is_ok_and(|n| match op {
            Comparison::Gt => n > *want,
            Comparison::Gte => n >= *want,
            Comparison::Lt => n < *want,
            Comparison::Lte => n <= *want,
        }),
        Pattern::Null | Pattern::Exists(_) | Pattern::FieldRef(_) => false,
    }
}
