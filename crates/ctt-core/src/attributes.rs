//! The typed attributes: the fields of an [`Event`] that every store keeps
//! in a place of their own — a column in SQLite, an attribute of the item (and
//! of the index projections) in DynamoDB — and the `param=` names that stand
//! for each. One table for both backends, so `param=awsRegion` is answered
//! from the same field whichever store holds the events.

use crate::Event;

/// What a typed attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    Text,
    /// `readOnly`: a `param=` value of `true` or `false` (any other value
    /// matches nothing).
    Bool,
}

/// The value of a typed attribute of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedValue<'a> {
    Text(&'a str),
    Bool(bool),
}

/// One typed attribute.
#[derive(Debug, Clone, Copy)]
pub struct TypedAttribute {
    /// The `param=` names that stand for it; the first is the one answers use.
    pub params: &'static [&'static str],
    /// Its SQLite column, and its attribute name in a DynamoDB event item.
    pub column: &'static str,
    pub kind: AttributeType,
    value: for<'e> fn(&'e Event) -> Option<TypedValue<'e>>,
}

impl Event {
    /// This event's value of a typed attribute, if it has one.
    pub fn typed(&self, attribute: &TypedAttribute) -> Option<TypedValue<'_>> {
        (attribute.value)(self)
    }
}

fn text(value: &str) -> Option<TypedValue<'_>> {
    Some(TypedValue::Text(value))
}

fn optional(value: &Option<String>) -> Option<TypedValue<'_>> {
    value.as_deref().map(TypedValue::Text)
}

/// Every typed attribute (`eventTime` is the order of every answer, kept apart).
pub const TYPED_ATTRIBUTES: [TypedAttribute; 16] = [
    TypedAttribute {
        params: &["eventID"],
        column: "event_id",
        kind: AttributeType::Text,
        value: |e| text(&e.event_id),
    },
    TypedAttribute {
        params: &["eventName"],
        column: "event_name",
        kind: AttributeType::Text,
        value: |e| text(&e.event_name),
    },
    TypedAttribute {
        params: &["eventSource"],
        column: "event_source",
        kind: AttributeType::Text,
        value: |e| text(&e.event_source),
    },
    TypedAttribute {
        params: &["service"],
        column: "service",
        kind: AttributeType::Text,
        value: |e| text(&e.service),
    },
    TypedAttribute {
        params: &["user", "userIdentity_userName"],
        column: "user",
        kind: AttributeType::Text,
        value: |e| text(&e.user),
    },
    TypedAttribute {
        params: &["identityType", "userIdentity_type"],
        column: "identity_type",
        kind: AttributeType::Text,
        value: |e| optional(&e.identity_type),
    },
    TypedAttribute {
        params: &["role"],
        column: "role",
        kind: AttributeType::Text,
        value: |e| optional(&e.role),
    },
    TypedAttribute {
        params: &["accountId", "userIdentity_accountId"],
        column: "account_id",
        kind: AttributeType::Text,
        value: |e| optional(&e.account_id),
    },
    TypedAttribute {
        params: &["recipientAccountId"],
        column: "recipient_account_id",
        kind: AttributeType::Text,
        value: |e| optional(&e.recipient_account_id),
    },
    TypedAttribute {
        params: &["awsRegion"],
        column: "aws_region",
        kind: AttributeType::Text,
        value: |e| optional(&e.aws_region),
    },
    TypedAttribute {
        params: &["sourceIPAddress"],
        column: "source_ip_address",
        kind: AttributeType::Text,
        value: |e| optional(&e.source_ip_address),
    },
    TypedAttribute {
        params: &["userAgent"],
        column: "user_agent",
        kind: AttributeType::Text,
        value: |e| optional(&e.user_agent),
    },
    TypedAttribute {
        params: &["errorCode"],
        column: "error_code",
        kind: AttributeType::Text,
        value: |e| optional(&e.error_code),
    },
    TypedAttribute {
        params: &["errorMessage"],
        column: "error_message",
        kind: AttributeType::Text,
        value: |e| optional(&e.error_message),
    },
    TypedAttribute {
        params: &["readOnly"],
        column: "read_only",
        kind: AttributeType::Bool,
        value: |e| e.read_only.map(TypedValue::Bool),
    },
    TypedAttribute {
        params: &["eventType"],
        column: "event_type",
        kind: AttributeType::Text,
        value: |e| optional(&e.event_type),
    },
];

/// The typed attribute a `param=` name stands for, if any.
pub fn typed_attribute(param: &str) -> Option<&'static TypedAttribute> {
    TYPED_ATTRIBUTES.iter().find(|a| a.params.contains(&param))
}

/// A `param=` value for a [`AttributeType::Bool`] attribute: `None` when it is
/// neither `true` nor `false` (then nothing matches).
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise;
    use serde_json::json;

    #[test]
    fn every_param_name_finds_its_column_once() {
        let cases = [
            ("awsRegion", Some("aws_region")),
            ("sourceIPAddress", Some("source_ip_address")),
            ("userAgent", Some("user_agent")),
            ("userIdentity_userName", Some("user")),
            ("user", Some("user")),
            ("userIdentity_type", Some("identity_type")),
            ("readOnly", Some("read_only")),
            ("requestParameters_instanceType", None),
            ("aws_region", None),
        ];
        for (param, column) in cases {
            assert_eq!(typed_attribute(param).map(|a| a.column), column, "{param}");
        }
        let mut names: Vec<&str> = TYPED_ATTRIBUTES
            .iter()
            .flat_map(|a| a.params)
            .copied()
            .collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "a param name stands for one attribute");
    }

    #[test]
    fn values_are_read_from_the_event() {
        let event = normalise(json!({
            "eventID": "e-1", "eventTime": "2018-03-01T10:00:00Z", "eventName": "RunInstances",
            "eventSource": "ec2.amazonaws.com", "awsRegion": "eu-west-1", "readOnly": false,
            "userIdentity": {"type": "IAMUser", "userName": "alucloud001"}
        }))
        .unwrap_or_else(|e| panic!("valid record: {e}"));
        let value = |param: &str| typed_attribute(param).and_then(|a| event.typed(a));
        assert_eq!(value("awsRegion"), Some(TypedValue::Text("eu-west-1")));
        assert_eq!(value("user"), Some(TypedValue::Text("alucloud001")));
        assert_eq!(value("service"), Some(TypedValue::Text("ec2")));
        assert_eq!(value("readOnly"), Some(TypedValue::Bool(false)));
        assert_eq!(value("errorCode"), None);
        assert_eq!((parse_bool("true"), parse_bool("True")), (Some(true), None));
    }
}
