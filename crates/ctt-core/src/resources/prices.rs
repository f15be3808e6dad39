//! The price table: an hour of a resource, to estimate what was left running
//! (SPEC §11). Never a bill: see `prices.toml`'s header.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The built-in price table's text.
pub const BUILTIN_PRICES: &str = include_str!("prices.toml");

/// Hours in the month of a per-GB-month price.
const HOURS_PER_MONTH: f64 = 730.0;

/// Prices by resource type: per hour by size, or per GB-month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub region: String,
    /// When the prices were read from their source.
    pub date: String,
    pub source: String,
    pub currency: String,
    /// USD per hour, by type, then size (`default` for any other size).
    #[serde(default)]
    pub hourly: BTreeMap<String, BTreeMap<String, f64>>,
    /// USD per GB-month, by type, then size (`default`); the size asked for
    /// at creation is the GB.
    #[serde(default)]
    pub per_gb_month: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Overrides of the configuration: a type's entries replace the table's
/// entry by entry; `region`, `date` and `source` describe the new prices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default)]
    pub hourly: BTreeMap<String, BTreeMap<String, f64>>,
    #[serde(default)]
    pub per_gb_month: BTreeMap<String, BTreeMap<String, f64>>,
}

impl PriceTable {
    /// The built-in table.
    pub fn builtin() -> Self {
        toml::from_str(BUILTIN_PRICES).expect("the built-in price table is valid")
    }

    /// This table with `overrides` applied.
    pub fn with(mut self, overrides: &PriceOverrides) -> Self {
        for (field, value) in [
            (&mut self.region, &overrides.region),
            (&mut self.date, &overrides.date),
            (&mut self.source, &overrides.source),
        ] {
            if let Some(value) = value {
                field.clone_from(value);
            }
        }
        for (mine, theirs) in [
            (&mut self.hourly, &overrides.hourly),
            (&mut self.per_gb_month, &overrides.per_gb_month),
        ] {
            for (kind, sizes) in theirs {
                mine.entry(kind.clone()).or_default().extend(sizes.clone());
            }
        }
        self
    }

    /// What one hour of a resource of type `kind` and `size` costs; `None`
    /// when the table has no price for it (usage-priced: Lambda, S3…).
    pub fn hourly(&self, kind: &str, size: Option<&str>) -> Option<f64> {
        let pick = |sizes: &BTreeMap<String, f64>, key: Option<&str>| {
            key.and_then(|k| sizes.get(k))
                .or_else(|| sizes.get("default"))
                .copied()
        };
        if let Some(sizes) = self.hourly.get(kind) {
            return pick(sizes, size);
        }
        let per_gb = self.per_gb_month.get(kind)?;
        let gb: f64 = size?.trim().parse().ok()?;
        Some(pick(per_gb, None)? * gb / HOURS_PER_MONTH)
    }

    /// The estimated cost of `hours` of a resource; `None` when unpriced.
    pub fn estimate(&self, kind: &str, size: Option<&str>, hours: f64) -> Option<f64> {
        self.hourly(kind, size).map(|per_hour| per_hour * hours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_priced_by_type_and_size_and_overrides_replace_entries() {
        let table = PriceTable::builtin();
        assert_eq!(table.region, "us-east-1");
        assert_eq!(table.hourly("ec2:instance", Some("t2.micro")), Some(0.0116));
        // An unlisted or unknown size: the type's default.
        assert_eq!(table.hourly("ec2:instance", Some("x9.huge")), Some(0.0416));
        assert_eq!(table.hourly("ec2:instance", None), Some(0.0416));
        assert_eq!(table.hourly("ec2:nat-gateway", None), Some(0.045));
        // Usage-priced: no estimate.
        assert_eq!(table.hourly("lambda:function", None), None);
        // A 100 GB volume for a month: 10 USD.
        let month = table
            .estimate("ec2:volume", Some("100"), 730.0)
            .expect("priced");
        assert!((month - 10.0).abs() < 1e-9, "{month}");
        assert_eq!(table.hourly("ec2:volume", None), None, "size unknown");
        let ours: PriceOverrides = toml::from_str(
            "region = \"eu-west-1\"\n[hourly.\"ec2:instance\"]\n\"t2.micro\" = 0.0126\n[hourly.\"lambda:function\"]\ndefault = 0.0\n",
        )
        .expect("toml");
        let table = table.with(&ours);
        assert_eq!(table.region, "eu-west-1");
        assert_eq!(table.hourly("ec2:instance", Some("t2.micro")), Some(0.0126));
        assert_eq!(table.hourly("ec2:instance", Some("t3.micro")), Some(0.0104));
        assert_eq!(table.hourly("lambda:function", None), Some(0.0));
        // Every priced type is in the catalogue.
        let catalogue = super::super::Catalogue::builtin();
        for kind in table.hourly.keys().chain(table.per_gb_month.keys()) {
            assert!(
                catalogue.get(kind).is_some(),
                "{kind} is not a resource type"
            );
        }
    }
}
