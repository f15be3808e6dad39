//! The built-in rules (SPEC §12): Sigma files in `crates/ctt-detect/rules/`,
//! compiled into the binary. Two take their values from the configuration:
//! the allowed regions (the rule is left out until they are given) and the
//! expensive instance types (the file's list by default).

use serde_norway::Value as Yaml;

use crate::set::{LoadError, RuleSet};
use crate::sigma::{Rule, RuleError};

/// Each built-in rule: its file name and text.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "root_activity.yml",
        include_str!("../rules/root_activity.yml"),
    ),
    (
        "console_login_without_mfa.yml",
        include_str!("../rules/console_login_without_mfa.yml"),
    ),
    (
        "console_login_failed.yml",
        include_str!("../rules/console_login_failed.yml"),
    ),
    (
        "cloudtrail_changed.yml",
        include_str!("../rules/cloudtrail_changed.yml"),
    ),
    ("iam_changed.yml", include_str!("../rules/iam_changed.yml")),
    (
        "security_group_open_to_world.yml",
        include_str!("../rules/security_group_open_to_world.yml"),
    ),
    (
        "s3_access_changed.yml",
        include_str!("../rules/s3_access_changed.yml"),
    ),
    (
        "defenses_disabled.yml",
        include_str!("../rules/defenses_disabled.yml"),
    ),
    (
        "kms_key_deletion.yml",
        include_str!("../rules/kms_key_deletion.yml"),
    ),
    (
        "outside_allowed_regions.yml",
        include_str!("../rules/outside_allowed_regions.yml"),
    ),
    (
        "expensive_instances.yml",
        include_str!("../rules/expensive_instances.yml"),
    ),
];

const REGIONS_FILE: &str = "outside_allowed_regions.yml";
const INSTANCES_FILE: &str = "expensive_instances.yml";

/// What the configuration says of the built-in rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltinOptions {
    /// `[alerts] allowed_regions`: calls elsewhere alert. None: the rule is
    /// left out.
    pub allowed_regions: Option<Vec<String>>,
    /// `[alerts] expensive_instance_types` (Sigma wildcards): replaces the
    /// rule's own list.
    pub expensive_instance_types: Option<Vec<String>>,
}

impl RuleSet {
    /// Adds the built-in rules, as `options` configures them.
    pub fn add_builtin(&mut self, options: &BuiltinOptions) -> Result<(), LoadError> {
        for (file, text) in BUILTIN {
            let origin = format!("builtin:{file}");
            let rule = match *file {
                REGIONS_FILE => match &options.allowed_regions {
                    None => {
                        // Off without a list of regions; disabling it is
                        // no mistake for all that.
                        if let Ok(rule) = Rule::from_yaml(text) {
                            self.met(&rule.id);
                        }
                        continue;
                    }
                    Some(regions) => with_values(text, &["allowed", "awsRegion"], regions),
                },
                INSTANCES_FILE => match &options.expensive_instance_types {
                    None => Rule::from_yaml(text),
                    Some(types) => with_values(
                        text,
                        &["selection", "requestParameters.instanceType"],
                        types,
                    ),
                },
                _ => Rule::from_yaml(text),
            };
            let rule = rule.map_err(|error| LoadError::Rule {
                path: origin.clone().into(),
                error,
            })?;
            self.add(rule, &origin)?;
        }
        Ok(())
    }
}

/// The rule `text` with the values at `detection.<search>.<field>` replaced.
fn with_values(text: &str, at: &[&str; 2], values: &[String]) -> Result<Rule, RuleError> {
    if values.is_empty() {
        return Err(RuleError::Invalid(format!(
            "{}: no values configured",
            at[1]
        )));
    }
    let mut doc: Yaml =
        serde_norway::from_str(text).map_err(|e| RuleError::Invalid(e.to_string()))?;
    let field = doc
        .get_mut("detection")
        .and_then(|d| d.get_mut(at[0]))
        .and_then(|s| s.get_mut(at[1]))
        .ok_or_else(|| RuleError::Invalid(format!("no {}.{}", at[0], at[1])))?;
    *field = Yaml::Sequence(values.iter().map(|v| Yaml::String(v.clone())).collect());
    let text = serde_norway::to_string(&doc).map_err(|e| RuleError::Invalid(e.to_string()))?;
    Rule::from_yaml(&text)
}
