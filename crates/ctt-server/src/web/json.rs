//! A stored record as readable, collapsible JSON: nested `<details>`, drawn
//! on the server (no script), every key and value escaped as text.

use maud::{Markup, html};
use serde_json::Value;

/// Objects and lists this deep or less start open.
const OPEN_DEPTH: usize = 2;

/// The whole record, as a tree.
pub fn tree(value: &Value) -> Markup {
    html! {
        div.json { (node(None, value, 0)) }
    }
}

fn node(key: Option<&str>, value: &Value, depth: usize) -> Markup {
    let label = html! {
        @if let Some(key) = key { span.key { (key) } span.colon { ": " } }
    };
    match value {
        Value::Object(map) if !map.is_empty() => html! {
            details open[depth < OPEN_DEPTH] {
                summary { (label) span.meta { "{ " (map.len()) (if map.len() == 1 { " key }" } else { " keys }" }) } }
                ul {
                    @for (k, v) in map {
                        li { (node(Some(k), v, depth + 1)) }
                    }
                }
            }
        },
        Value::Array(items) if !items.is_empty() => html! {
            details open[depth < OPEN_DEPTH] {
                summary { (label) span.meta { "[ " (items.len()) (if items.len() == 1 { " item ]" } else { " items ]" }) } }
                ol start="0" {
                    @for (i, v) in items.iter().enumerate() {
                        li { (node(Some(&i.to_string()), v, depth + 1)) }
                    }
                }
            }
        },
        scalar => html! {
            span.leaf { (label) (leaf(scalar)) }
        },
    }
}

fn leaf(value: &Value) -> Markup {
    match value {
        Value::String(s) => html! { span.string { (Value::String(s.clone()).to_string()) } },
        Value::Number(n) => html! { span.number { (n.to_string()) } },
        Value::Bool(b) => html! { span.bool { (b.to_string()) } },
        Value::Null => html! { span.null { "null" } },
        Value::Object(_) => html! { span.meta { "{}" } },
        Value::Array(_) => html! { span.meta { "[]" } },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_and_escapes() {
        let record = serde_json::json!({
            "userAgent": "<script>alert(1)</script>",
            "requestParameters": {"<img src=x onerror=alert(1)>": [1, true, null, {}]},
        });
        let html = tree(&record).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;"),
            "{html}"
        );
        assert_eq!(html.matches("<details").count(), 3, "{html}");
        assert!(html.contains("<details open>"), "the top levels start open");
    }
}
