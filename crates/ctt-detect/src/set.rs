//! A set of rules, loaded from files and folders, indexed for evaluation.

use std::collections::HashMap;
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
    #[error("[alerts] disabled names no rule loaded: {}", ids.join(", "))]
    UnknownDisabled { ids: Vec<String> },
}

/// The rules a load uses, as `[alerts]` names them (SPEC §12): the
/// built-in ones unless `builtin` is false (with their options: no list of
/// allowed regions leaves that rule off; none of instance types keeps the
/// built-in list), then the rule files and folders of `paths`, less the ids
/// of `disabled` — the same for `ctt` and the ingest Lambda.
#[derive(Debug, Default)]
pub struct Selection<'a> {
    pub builtin: bool,
    pub allowed_regions: &'a [String],
    pub expensive_instance_types: &'a [String],
    pub paths: Vec<&'a Path>,
    pub disabled: &'a [String],
}

/// Rules, with where each came from, indexed by the `eventName`s they can
/// fire on (lower-cased); rules that may fire on any name are always tried.
///
/// Before a record is parsed whole, [`RuleSet::may_fire`] tells from its
/// [`RecordHead`] (a few fields the storage filter reads anyway) whether any
/// rule could fire on it: each rule indexed under its `eventName`, and each
/// rule for any name, is evaluated on the head ([`Rule::matches_head`]:
/// `userIdentity.type: Root`, `userAgent|contains: TruffleHog`, a region
/// outside a list…); when the head cannot tell for a rule for any name,
/// the raw JSON must hold one of the texts that rule requires
/// ([`Rule::needles`], an Aho-Corasick search). So most records are never
/// parsed for detection.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<(Rule, String)>,
    by_name: HashMap<String, Vec<usize>>,
    /// Rules for any name, each with a search for the texts it requires
    /// (`None`: none known, the record is tried).
    any_name: Vec<(usize, Option<aho_corasick::AhoCorasick>)>,
    /// Rule ids left out (`[alerts] disabled`), each with whether a rule of
    /// that id was met.
    disabled: HashMap<String, bool>,
}

impl RuleSet {
    /// A set that leaves out the rules of these ids (`[alerts] disabled`):
    /// they are read and checked, as any rule, but never evaluated.
    fn without(ids: impl IntoIterator<Item = String>) -> Self {
        Self {
            disabled: ids.into_iter().map(|id| (id, false)).collect(),
            ..Self::default()
        }
    }

    /// The rules `selection` names; an id of `disabled` no rule has is
    /// refused, named (a typo would leave the rule on).
    pub fn select(selection: &Selection<'_>) -> Result<Self, LoadError> {
        let mut set = Self::without(selection.disabled.iter().cloned());
        if selection.builtin {
            let given = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
            set.add_builtin(&crate::BuiltinOptions {
                allowed_regions: given(selection.allowed_regions),
                expensive_instance_types: given(selection.expensive_instance_types),
            })?;
        }
        for path in &selection.paths {
            set.add_path(path)?;
        }
        set.check_disabled()?;
        Ok(set)
    }

    /// Notes that a rule of `id` exists although it is not added (a built-in
    /// rule off by its options): disabling it is no mistake.
    pub(crate) fn met(&mut self, id: &str) {
        if let Some(met) = self.disabled.get_mut(id) {
            *met = true;
        }
    }

    /// The disabled ids no rule had: a mistake (a typo leaves a rule on),
    /// refused once every rule is added.
    fn check_disabled(&self) -> Result<(), LoadError> {
        let mut ids: Vec<String> = self
            .disabled
            .iter()
            .filter(|(_, met)| !**met)
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort();
        Err(LoadError::UnknownDisabled { ids })
    }

    /// Adds `rule`, from `origin` (a file name), unless its id is disabled.
    /// Refuses a second rule with the same id.
    pub fn add(&mut self, rule: Rule, origin: &str) -> Result<(), LoadError> {
        if let Some(met) = self.disabled.get_mut(&rule.id) {
            *met = true;
            return Ok(());
        }
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
                let finder = rule
                    .needles()
                    .filter(|n| !n.is_empty())
                    .and_then(|needles| {
                        aho_corasick::AhoCorasick::builder()
                            .ascii_case_insensitive(true)
                            .build(&needles)
                            .ok()
                    });
                self.any_name.push((index, finder));
            }
        }
        self.rules.push((rule, origin.to_owned()));
        Ok(())
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

    /// The rules indexed under `event_name`, any case. An ASCII name (all
    /// CloudTrail's) is lower-cased on the stack: this runs for every record.
    fn named(&self, event_name: &str) -> &[usize] {
        let mut buffer = [0u8; 64];
        let key: std::borrow::Cow<'_, str> = match buffer.get_mut(..event_name.len()) {
            Some(key) if event_name.is_ascii() => {
                key.copy_from_slice(event_name.as_bytes());
                key.make_ascii_lowercase();
                std::borrow::Cow::Borrowed(std::str::from_utf8(key).unwrap_or_default())
            }
            _ => std::borrow::Cow::Owned(event_name.to_lowercase()),
        };
        self.by_name
            .get(key.as_ref())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The rules `record` fires, given its `eventName` (read once by the
    /// caller): the rules indexed under that name and those for any name.
    pub fn matching<'a>(&'a self, event_name: &str, record: &Value) -> Vec<&'a Rule> {
        let named = self.named(event_name);
        let mut hits: Vec<usize> = named
            .iter()
            .copied()
            .chain(self.any_name.iter().map(|(i, _)| *i))
            .filter(|&i| self.rules[i].0.matches(record))
            .collect();
        hits.sort_unstable();
        hits.into_iter().map(|i| &self.rules[i].0).collect()
    }

    /// Whether any rule could fire on the record `raw`, whose head is `head`
    /// (see [`RuleSet`]). `false` only when none can.
    pub fn may_fire(&self, head: &RecordHead<'_>, raw: &str) -> bool {
        let named = head
            .field("eventName")
            .map(|name| self.named(name))
            .unwrap_or_default();
        let named = named
            .iter()
            .any(|&i| self.rules[i].0.matches_head(head) != Some(false));
        named
            || self
                .any_name
                .iter()
                .any(|(i, finder)| match self.rules[*i].0.matches_head(head) {
                    Some(fires) => fires,
                    None => finder.as_ref().is_none_or(|f| f.is_match(raw)),
                })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, event_name: &str) -> Rule {
        Rule::from_yaml(&format!(
            "title: t\nid: {id}\nlogsource: {{product: aws, service: cloudtrail}}\n\
             detection:\n  selection:\n    eventName: '{event_name}'\n  condition: selection\nlevel: low\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Rules are found under their eventName in any case — the common ASCII
    /// names without allocating, others (long, non-ASCII) as well.
    #[test]
    fn rules_are_found_by_event_name_in_any_case() {
        let long = "A".repeat(80);
        let mut set = RuleSet::default();
        for (id, name) in [
            ("a", "RunInstances"),
            ("b", "ÉvénementÉtrange"),
            ("c", long.as_str()),
        ] {
            set.add(rule(id, name), "test")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(set.named("runinstances"), &[0]);
        assert_eq!(set.named("RUNINSTANCES"), &[0]);
        assert_eq!(set.named("événementétrange"), &[1]);
        assert_eq!(set.named(&long.to_lowercase()), &[2]);
        assert_eq!(set.named(&long), &[2]);
        assert!(set.named("StopInstances").is_empty());
    }

    /// `[alerts] disabled`: a rule of a disabled id is never evaluated (nor
    /// listed), the others are; an id no rule has is refused, named.
    #[test]
    fn disabled_rules_are_left_out_and_an_unknown_id_is_refused() {
        let mut set = RuleSet::without(["b".to_owned()]);
        for (id, name) in [("a", "RunInstances"), ("b", "RunInstances")] {
            set.add(rule(id, name), "test")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        set.check_disabled().unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = set.rules().map(|(r, _)| r.id.as_str()).collect();
        assert_eq!(ids, ["a"]);
        let record = serde_json::json!({"eventName": "RunInstances"});
        let hits: Vec<&str> = set
            .matching("RunInstances", &record)
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(hits, ["a"]);
        assert_eq!(
            set.disabled.get("b"),
            Some(&true),
            "b was met, so no mistake"
        );

        let mut typo =
            RuleSet::without(["a".to_owned(), "zz-typo".to_owned(), "c-typo".to_owned()]);
        typo.add(rule("a", "RunInstances"), "test")
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = typo.check_disabled().expect_err("unknown ids");
        assert_eq!(
            refused.to_string(),
            "[alerts] disabled names no rule loaded: c-typo, zz-typo"
        );
    }
}
