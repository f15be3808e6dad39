//! Building DynamoDB expressions with placeholders for every name and value
//! (`user`, `role`, `size`… are reserved words).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// Placeholders and the clauses that use them.
#[derive(Debug, Default, Clone)]
pub struct Expr {
    clauses: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// A placeholder (`#n0`) for an attribute name; one per distinct name.
    pub fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| *a == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    /// A placeholder (`:v0`) for a value.
    pub fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// Adds a clause; clauses are ANDed.
    pub fn and(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The clauses ANDed, or `None` when there are none.
    pub fn condition(&self) -> Option<String> {
        (!self.clauses.is_empty()).then(|| {
            self.clauses
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" AND ")
        })
    }

    /// The name map, or `None` when empty (DynamoDB rejects empty maps).
    pub fn names_or_none(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// The value map, or `None` when empty.
    pub fn values_or_none(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shared_and_values_are_not() {
        let mut e = Expr::default();
        let user = e.name("user");
        assert_eq!(e.name("user"), user);
        let a = e.value(AttributeValue::S("a".into()));
        let b = e.value(AttributeValue::S("a".into()));
        assert_ne!(a, b);
        e.and(format!("{user} = {a}"));
        e.and(format!("{user} <> {b}"));
        assert_eq!(
            e.condition().as_deref(),
            Some("(#n0 = :v0) AND (#n0 <> :v1)")
        );
        assert_eq!(Expr::default().condition(), None);
    }
}
