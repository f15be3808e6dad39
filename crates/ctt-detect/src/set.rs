//! A set of rules, loaded from files and folders, indexed for evaluation.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use ctt_core::RecordHead;
use serde_json::Value;

use crate::sigma::{Rule, RuleError};

/// A rule that could not be loaded: its file and why.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {error}")]
    Rule { path: PathBuf, error: RuleError },
    #[error("{path}: the rule id `{id}` is also {other}'s")]
    DuplicateId {
        path: PathBuf,
        id: String,
        other: String,
    },
}

/// Rules, with where each came from, indexed by the `eventName`s they can
/// fire on (lower-cased); rules that may fire on any name are always tried.
///
/// Before a record is parsed whole, [`RuleSet::may_fire`] tells from its
/// [`RecordHead`] whether any rule could fire on it: a rule indexed under its
/// `eventName`; a rule for any name that requires one of a few values of
/// another field of the head ([`HEAD_FIELDS`]: `userIdentity.type: Root`)
/// and finds one; a rule narrowed by neither that finds one of the texts it
/// requires ([`Rule::needles`]) in the raw JSON (one Aho-Corasick search).
/// So most records are never parsed for detection's sake.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<(Rule, String)>,
    by_name: HashMap<String, Vec<usize>>,
    any_name: Vec<usize>,
    /// For rules for any name: by field of [`HEAD_FIELDS`], the values
    /// (lower-cased) one of which some rule requires.
    by_head: Vec<(&'static str, HashSet<String>)>,
    /// Rules for any name that no head field narrows.
    unnarrowed: usize,
    /// Some such rule requires no known text: every record is tried.
    unnarrowed_unfiltered: bool,
    unnarrowed_needles: Vec<String>,
    unnarrowed_finder: Option<aho_corasick::AhoCorasick>,
}

/// The fields of a record's head by which rules for any `eventName` are
/// indexed, in order of preference (each is one of [`RecordHead::FIELDS`]).
pub const HEAD_FIELDS: [&str; 4] = ["userIdentity.type", "eventSource", "eventType", "userAgent"];

impl RuleSet {
    /// Adds `rule`, from `origin` (a file name). Refuses a second rule with
    /// the same id.
    pub fn add(&mut self, rule: Rule, origin: &str) -> Result<(), LoadError> {
        if let Some((_, other)) = self.rules.iter().find(|(r, _)| r.id == rule.id) {
            return Err(LoadError::DuplicateId {
                path: PathBuf::from(origin),
                id: rule.id.clone(),
                other: other.clone(),
            });
        }
        let index = self.rules.len();
        match rule.event_names() {
            Some(names) => {
                for name in names {
                    let rules = self.by_name.entry(name).or_default();
                    if !rules.contains(&index) {
                        rules.push(index);
                    }
                }
            }
            None => {
                self.any_name.push(index);
                let narrowed = HEAD_FIELDS
                    .iter()
                    .find_map(|&path| Some((path, rule.values_required(path)?)));
                match narrowed {
                    Some((path, values)) => {
                        match self.by_head.iter_mut().find(|(p, _)| *p == path) {
                            Some((_, known)) => known.extend(values),
                            None => self.by_head.push((path, values.into_iter().collect())),
                        }
                    }
                    None => self.add_unnarrowed(&rule),
                }
            }
        }
        self.rules.push((rule, origin.to_owned()));
        Ok(())
    }

    /// Counts in a rule for any name that no head field narrows.
    fn add_unnarrowed(&mut self, rule: &Rule) {
        self.unnarrowed += 1;
        match rule.needles() {
            Some(needles) if !needles.is_empty() => {
                self.unnarrowed_needles.extend(needles);
                self.unnarrowed_finder = aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&self.unnarrowed_needles)
                    .ok();
                if self.unnarrowed_finder.is_none() {
                    self.unnarrowed_unfiltered = true;
                }
            }
            _ => self.unnarrowed_unfiltered = true,
        }
    }

    /// Adds the rules of `path`: a `.yml`/`.yaml` file, or every such file
    /// under a folder (sorted). Fails on the first file that cannot be used.
    pub fn add_path(&mut self, path: &Path) -> Result<usize, LoadError> {
        let mut files = Vec::new();
        collect(path, &mut files)?;
        files.sort();
        for file in &files {
            let text = std::fs::read_to_string(file).map_err(|source| LoadError::Read {
                path: file.clone(),
                source,
            })?;
            let rule = Rule::from_yaml(&text).map_err(|error| LoadError::Rule {
                path: file.clone(),
                error,
            })?;
            self.add(rule, &file.display().to_string())?;
        }
        Ok(files.len())
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules and where each came from.
    pub fn rules(&self) -> impl Iterator<Item = (&Rule, &str)> {
        self.rules.iter().map(|(r, o)| (r, o.as_str()))
    }

    /// The rules `record` fires, given its `eventName` (read once by the
    /// caller): the rules indexed under that name and those for any name.
    pub fn matching<'a>(&'a self, event_name: &str, record: &Value) -> Vec<&'a Rule> {
        let named = self
            .by_name
            .get(&event_name.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut hits: Vec<usize> = named
            .iter()
            .chain(&self.any_name)
            .copied()
            .filter(|&i| self.rules[i].0.matches(record))
            .collect();
        hits.sort_unstable();
        hits.into_iter().map(|i| &self.rules[i].0).collect()
    }

    /// Whether any rule could fire on a record named `event_name`: when not,
    /// the record need not be parsed for detection at all.
    pub fn may_fire_on(&self, event_name: &str) -> bool {
        !self.any_name.is_empty() || self.by_name.contains_key(&event_name.to_lowercase())
    }

    /// Whether any rule could fire on the record `raw`, whose head is `head`
    /// (see [`RuleSet`]). `false` only when none can.
    pub fn may_fire(&self, head: &RecordHead<'_>, raw: &str) -> bool {
        let listed = |value: Option<&str>, among: &dyn Fn(&str) -> bool| {
            value.is_some_and(|v| among(&v.to_lowercase()))
        };
        if listed(head.field("eventName"), &|name| {
            self.by_name.contains_key(name)
        }) {
            return true;
        }
        let narrowed = self
            .by_head
            .iter()
            .any(|(path, values)| listed(head.field(path), &|value| values.contains(value)));
        if narrowed {
            return true;
        }
        if self.unnarrowed == 0 {
            return false;
        }
        self.unnarrowed_unfiltered
            || self
                .unnarrowed_finder
                .as_ref()
                .is_none_or(|finder| finder.is_match(raw))
    }
}

fn collect(path: &Path, into: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let read = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(read)? {
            collect(&entry.map_err(read)?.path(), into)?;
        }
    } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
        into.push(path.to_owned());
    } else if !path.exists() {
        return Err(read(std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    Ok(())
}
