//! Sigma rules (specification v2) for CloudTrail records: parsed from YAML,
//! refused when they use what this engine does not evaluate, evaluated on a
//! record's JSON.
//!
//! Why an engine of our own: SPEC §12 compares values as text (a rule's `42`
//! matches `"42"`, `'true'` matches `true`), walks lists inside a path
//! (`…ipPermissions.items.ipRanges.items.cidrIp`), and must refuse what it
//! does not support rather than evaluate it wrongly; the crates we measured
//! (docs/detections.md) type-check values or do not walk lists.

mod condition;
mod matcher;
#[cfg(test)]
mod tests;

use ctt_core::RecordHead;
use serde_json::Value;
use serde_norway::Value as Yaml;

pub use condition::Condition;
pub use matcher::FieldMatch;

/// Why a rule cannot be used. The loader adds the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("not a Sigma rule: {0}")]
    Invalid(String),
    #[error("uses {0}, which ctt does not evaluate")]
    Unsupported(String),
}

/// How serious a rule says its hits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    pub fn parse(raw: &str) -> Option<Level> {
        Some(match raw.to_ascii_lowercase().as_str() {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One search of a detection: OR of alternatives, each an AND of fields.
#[derive(Debug, Clone)]
pub struct Search {
    alternatives: Vec<Vec<FieldMatch>>,
}

impl Search {
    fn matches(&self, record: &Value) -> bool {
        self.alternatives
            .iter()
            .any(|fields| fields.iter().all(|f| f.matches(record)))
    }

    /// [`Search::matches`] on a record's head, Kleene-style: `None` when the
    /// fields the head lacks decide.
    fn matches_head(&self, head: &RecordHead<'_>) -> Option<bool> {
        let mut unknown = false;
        for fields in &self.alternatives {
            let mut all = Some(true);
            for field in fields {
                match field.matches_head(head) {
                    Some(false) => {
                        all = Some(false);
                        break;
                    }
                    Some(true) => {}
                    None => all = None,
                }
            }
            match all {
                Some(true) => return Some(true),
                Some(false) => {}
                None => unknown = true,
            }
        }
        (!unknown).then_some(false)
    }
}

/// A Sigma rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its Sigma `id` (the title when it has none).
    pub id: String,
    pub title: String,
    pub level: Level,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    searches: Vec<Search>,
    condition: Condition,
}

impl Rule {
    /// Parses a rule's YAML. Refuses a rule for another log source, and one
    /// using what the engine does not evaluate, saying what.
    pub fn from_yaml(text: &str) -> Result<Rule, RuleError> {
        let doc: Yaml =
            serde_norway::from_str(text).map_err(|e| RuleError::Invalid(e.to_string()))?;
        let text_of = |key: &str| doc.get(key).and_then(Yaml::as_str).map(str::to_owned);
        let title = text_of("title").ok_or_else(|| RuleError::Invalid("no `title`".into()))?;
        if doc.get("correlation").is_some() {
            return Err(RuleError::Unsupported("correlation rules".into()));
        }
        let logsource = doc
            .get("logsource")
            .ok_or_else(|| RuleError::Invalid("no `logsource`".into()))?;
        let product = logsource.get("product").and_then(Yaml::as_str);
        let service = logsource.get("service").and_then(Yaml::as_str);
        if product != Some("aws") || service != Some("cloudtrail") {
            return Err(RuleError::Unsupported(format!(
                "the log source product `{}`, service `{}` (only aws/cloudtrail)",
                product.unwrap_or("-"),
                service.unwrap_or("-")
            )));
        }
        let detection = doc
            .get("detection")
            .and_then(Yaml::as_mapping)
            .ok_or_else(|| RuleError::Invalid("no `detection`".into()))?;
        let mut names = Vec::new();
        let mut searches = Vec::new();
        let mut condition = None;
        for (key, value) in detection {
            let key = key
                .as_str()
                .ok_or_else(|| RuleError::Invalid("a detection key is not text".into()))?;
            match key {
                "condition" => condition = Some(value),
                "timeframe" => {
                    return Err(RuleError::Unsupported("`timeframe`".into()));
                }
                name => {
                    names.push(name.to_owned());
                    searches.push(search(name, value)?);
                }
            }
        }
        let condition = match condition {
            Some(Yaml::String(text)) => Condition::parse(text, &names)?,
            // A list of conditions (Sigma v1) holds when any does.
            Some(Yaml::Sequence(list)) => Condition::Or(
                list.iter()
                    .map(|c| {
                        c.as_str()
                            .ok_or_else(|| RuleError::Invalid("a condition is not text".into()))
                            .and_then(|c| Condition::parse(c, &names))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(RuleError::Invalid("no `condition`".into())),
        };
        let level = match text_of("level") {
            None => Level::Medium,
            Some(raw) => {
                Level::parse(&raw).ok_or_else(|| RuleError::Invalid(format!("level `{raw}`")))?
            }
        };
        Ok(Rule {
            id: text_of("id").unwrap_or_else(|| title.clone()),
            title,
            level,
            tags: doc
                .get("tags")
                .and_then(Yaml::as_sequence)
                .map(|tags| {
                    tags.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            description: text_of("description"),
            author: text_of("author"),
            searches,
            condition,
        })
    }

    /// Whether the rule fires on `record` (its JSON, redacted).
    pub fn matches(&self, record: &Value) -> bool {
        with_memo(self.searches.len(), |outcome| {
            self.condition
                .eval(&mut |i| *outcome[i].get_or_insert_with(|| self.searches[i].matches(record)))
        })
    }

    /// Texts one of which a record's raw JSON must contain (ASCII, any case)
    /// for the rule to fire, when its condition tells (`userIdentity.type:
    /// Root` needs `root`); `None` when it does not.
    pub fn needles(&self) -> Option<Vec<String>> {
        needles_required(&self.condition, &self.searches)
    }

    /// Whether the rule fires on a record whose head is `head`, as far as
    /// the head tells: `Some(false)` means it cannot fire on the record,
    /// `None` that the rest of the record decides.
    pub fn matches_head(&self, head: &RecordHead<'_>) -> Option<bool> {
        with_memo(self.searches.len(), |outcome| {
            self.condition.eval_partial(&mut |i| {
                *outcome[i].get_or_insert_with(|| self.searches[i].matches_head(head))
            })
        })
    }

    /// The `eventName`s the rule can fire on, when its condition requires one
    /// of a known few (most rules): lower-cased. `None` when any may do.
    pub fn event_names(&self) -> Option<Vec<String>> {
        self.values_required("eventName")
    }

    /// The values (lower-cased) one of which the field at `path` (dotted)
    /// must equal, any case, for the rule to fire, when its condition
    /// requires one of a known few; `None` when it does not tell.
    pub fn values_required(&self, path: &str) -> Option<Vec<String>> {
        values_required(&self.condition, &self.searches, path)
    }
}

/// Runs `eval` with `n` empty cells, one a search, for the outcomes it
/// found: on the stack for the few searches of a rule (this runs for every
/// rule on most records).
fn with_memo<T: Copy, R>(n: usize, eval: impl FnOnce(&mut [Option<T>]) -> R) -> R {
    const ON_STACK: usize = 16;
    if n <= ON_STACK {
        eval(&mut [None; ON_STACK][..n])
    } else {
        eval(&mut vec![None; n])
    }
}

/// What a condition requires, one of which a firing record must have, as far
/// as its structure tells: `of_search` says it for one search; an `or` needs
/// one of what each side needs, an `and` what any one part needs, a `not`
/// nothing known.
fn required<T>(
    condition: &Condition,
    of_search: &dyn Fn(usize) -> Option<Vec<T>>,
) -> Option<Vec<T>> {
    let union = |sets: Vec<Option<Vec<T>>>| -> Option<Vec<T>> {
        let mut all = Vec::new();
        for set in sets {
            all.extend(set?);
        }
        Some(all)
    };
    match condition {
        Condition::Search(i) => of_search(*i),
        Condition::Not(_) => None,
        Condition::Or(parts) => union(parts.iter().map(|c| required(c, of_search)).collect()),
        Condition::AtLeast(_, which) => union(which.iter().map(|&i| of_search(i)).collect()),
        // Any part that narrows it narrows the whole.
        Condition::And(parts) => parts.iter().find_map(|c| required(c, of_search)),
        Condition::All(which) => which.iter().find_map(|&i| of_search(i)),
    }
}

/// The values of the field at `path` a condition requires.
fn values_required(condition: &Condition, searches: &[Search], path: &str) -> Option<Vec<String>> {
    required(condition, &|i| {
        let mut names = Vec::new();
        for fields in &searches[i].alternatives {
            let mut required: Option<Vec<String>> = None;
            for field in fields {
                if let Some(values) = field.exact_values_of(path) {
                    required = Some(match required {
                        None => values,
                        Some(known) => known.into_iter().filter(|v| values.contains(v)).collect(),
                    });
                }
            }
            names.extend(required?);
        }
        Some(names)
    })
}

/// The texts a condition requires, one of which must be in the raw record:
/// an alternative (AND of fields) needs what any one of its fields needs; a
/// search (OR of alternatives), what each of them needs.
fn needles_required(condition: &Condition, searches: &[Search]) -> Option<Vec<String>> {
    required(condition, &|i| {
        let mut needles = Vec::new();
        for fields in &searches[i].alternatives {
            needles.extend(fields.iter().find_map(FieldMatch::needles)?);
        }
        Some(needles)
    })
}

/// A detection's search: a map (AND of its fields) or a list of maps (OR).
fn search(name: &str, value: &Yaml) -> Result<Search, RuleError> {
    let alternatives = match value {
        Yaml::Mapping(_) => vec![fields(name, value)?],
        Yaml::Sequence(items) if items.iter().all(|i| matches!(i, Yaml::Mapping(_))) => items
            .iter()
            .map(|item| fields(name, item))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(RuleError::Unsupported(format!(
                "keyword searches (values without a field, in `{name}`)"
            )));
        }
    };
    Ok(Search { alternatives })
}

fn fields(name: &str, map: &Yaml) -> Result<Vec<FieldMatch>, RuleError> {
    let Some(map) = map.as_mapping() else {
        return Err(RuleError::Invalid(format!("search `{name}` is not a map")));
    };
    map.iter()
        .map(|(key, value)| {
            let key = key
                .as_str()
                .ok_or_else(|| RuleError::Invalid(format!("search `{name}`: a key is not text")))?;
            let values = match value {
                Yaml::Sequence(items) => items.iter().map(scalar).collect::<Result<_, _>>()?,
                other => vec![scalar(other)?],
            };
            FieldMatch::parse(key, values)
        })
        .collect()
}

/// A value as text (`None` for null).
fn scalar(value: &Yaml) -> Result<Option<String>, RuleError> {
    match value {
        Yaml::Null => Ok(None),
        Yaml::String(s) => Ok(Some(s.clone())),
        Yaml::Bool(b) => Ok(Some(b.to_string())),
        Yaml::Number(n) => Ok(Some(n.to_string())),
        _ => Err(RuleError::Unsupported(
            "a value that is a list or a map inside a field's values".into(),
        )),
    }
}
