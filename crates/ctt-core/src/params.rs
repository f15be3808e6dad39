//! Parameters: the record flattened the way the original API filters on it.
//!
//! Nested keys are joined by `_` and list elements by their index, so
//! `{"requestParameters": {"volumeSet": {"items": [{"volumeId": "v-1"}]}}}` has the
//! parameter `requestParameters_volumeSet_items_0_volumeId = "v-1"`. Values compare
//! as strings (`true`, `42`); `null`, empty objects and empty lists have none.

use serde_json::Value;

/// Calls `visit(name, value)` for every leaf of the record.
pub fn flatten(record: &Value, mut visit: impl FnMut(&str, &str)) {
    let mut name = String::new();
    walk(record, &mut name, &mut visit);
}

fn walk(value: &Value, name: &mut String, visit: &mut impl FnMut(&str, &str)) {
    let prefix_len = name.len();
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                push_segment(name, key);
                walk(child, name, visit);
                name.truncate(prefix_len);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                push_segment(name, &index.to_string());
                walk(child, name, visit);
                name.truncate(prefix_len);
            }
        }
        Value::Null => {}
        Value::String(s) => visit(name, s),
        Value::Bool(b) => visit(name, if *b { "true" } else { "false" }),
        Value::Number(n) => visit(name, &n.to_string()),
    }
}

fn push_segment(name: &mut String, segment: &str) {
    if !name.is_empty() {
        name.push('_');
    }
    name.push_str(segment);
}

/// Whether the record has the parameter `name` with the string value `value`.
///
/// Exact without flattening the whole record: keys may themselves contain `_`, so
/// every key that is a prefix of the remaining name is followed.
pub fn has_value(record: &Value, name: &str, value: &str) -> bool {
    match record {
        Value::Object(map) => map.iter().any(|(key, child)| {
            name.strip_prefix(key.as_str()).is_some_and(|rest| {
                if rest.is_empty() {
                    leaf_equals(child, value)
                } else {
                    rest.strip_prefix('_')
                        .is_some_and(|rest| has_value(child, rest, value))
                }
            })
        }),
        Value::Array(items) => {
            let (index, rest) = match name.split_once('_') {
                Some((index, rest)) => (index, Some(rest)),
                None => (name, None),
            };
            let Some(child) = index.parse::<usize>().ok().and_then(|i| items.get(i)) else {
                return false;
            };
            match rest {
                Some(rest) => has_value(child, rest, value),
                None => leaf_equals(child, value),
            }
        }
        _ => false,
    }
}

fn leaf_equals(leaf: &Value, value: &str) -> bool {
    match leaf {
        Value::String(s) => s == value,
        Value::Bool(b) => (if *b { "true" } else { "false" }) == value,
        Value::Number(n) => n.to_string() == value,
        _ => false,
    }
}

/// The names a parameter given by a user is looked up under: itself, then with
/// `requestParameters_` and `responseElements_` (SPEC §3), so `instanceType` works.
pub fn candidate_names(name: &str) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    if !name.starts_with("requestParameters_") && !name.starts_with("responseElements_") {
        names.push(format!("requestParameters_{name}"));
        names.push(format!("responseElements_{name}"));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat(record: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        flatten(record, |n, v| out.push((n.to_owned(), v.to_owned())));
        out
    }

    #[test]
    fn flattens_nested_keys_and_list_indices() {
        let record = json!({"requestParameters": {"instanceType": "t2.micro",
            "volumeSet": {"items": [{"volumeId": "vol-1"}, {"volumeId": "vol-2"}]},
            "count": 2, "dryRun": false, "empty": {}, "none": null}});
        assert_eq!(
            flat(&record),
            vec![
                ("requestParameters_count".into(), "2".into()),
                ("requestParameters_dryRun".into(), "false".into()),
                ("requestParameters_instanceType".into(), "t2.micro".into()),
                (
                    "requestParameters_volumeSet_items_0_volumeId".into(),
                    "vol-1".into()
                ),
                (
                    "requestParameters_volumeSet_items_1_volumeId".into(),
                    "vol-2".into()
                ),
            ]
        );
    }

    #[test]
    fn has_value_agrees_with_flatten() {
        let record = json!({"requestParameters": {"volumeSet": {"items": [{"volumeId": "vol-1"}]},
            "key_with_underscore": {"x": "1"}, "key": {"with_underscore_x": "2"},
            "list": ["a", "b"], "n": 42, "b": true}, "awsRegion": "us-east-1"});
        for (name, value) in flat(&record) {
            assert!(has_value(&record, &name, &value), "{name}={value}");
        }
        assert!(!has_value(
            &record,
            "requestParameters_volumeSet_items_1_volumeId",
            "vol-1"
        ));
        assert!(!has_value(&record, "requestParameters_n", "43"));
        assert!(!has_value(&record, "requestParameters", "x"));
        assert!(!has_value(&record, "requestParameters_list_x", "a"));
        assert!(has_value(&record, "requestParameters_list_1", "b"));
        assert!(has_value(&record, "requestParameters_b", "true"));
    }

    #[test]
    fn unprefixed_names_are_also_tried_under_request_and_response() {
        assert_eq!(
            candidate_names("instanceType"),
            [
                "instanceType",
                "requestParameters_instanceType",
                "responseElements_instanceType"
            ]
        );
        assert_eq!(
            candidate_names("requestParameters_x"),
            ["requestParameters_x"]
        );
    }
}
