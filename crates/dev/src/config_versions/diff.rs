//! Configuration documents as data: the canonical form a version is stored,
//! hashed and signed in, and the difference between two versions by key
//! path.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The canonical JSON of `v`: object keys sorted at every level, no
/// whitespace — the bytes a developer signs and a hospital checks.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One difference between two versions.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct ConfigChange {
    /// The key path, dot-separated (`files.retention_years`); arrays are
    /// compared whole.
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub op: &'static str,
    /// The value before (absent when added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after (absent when removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// What changed from `before` (none: the first version) to `after`, by
/// path, in path order.
pub fn diff(before: Option<&Value>, after: &Value) -> Vec<ConfigChange> {
    let mut old = BTreeMap::new();
    if let Some(b) = before {
        flatten("", b, &mut old);
    }
    let mut new = BTreeMap::new();
    flatten("", after, &mut new);
    let mut changes = Vec::new();
    for (path, b) in &old {
        match new.get(path) {
            None => changes.push(ConfigChange {
                path: path.clone(),
                op: "removed",
                before: Some(b.clone()),
                after: None,
            }),
            Some(a) if a != b => changes.push(ConfigChange {
                path: path.clone(),
                op: "changed",
                before: Some(b.clone()),
                after: Some(a.clone()),
            }),
            Some(_) => {}
        }
    }
    for (path, a) in &new {
        if !old.contains_key(path) {
            changes.push(ConfigChange {
                path: path.clone(),
                op: "added",
                before: None,
                after: Some(a.clone()),
            });
        }
    }
    changes.sort_by(|x, y| x.path.cmp(&y.path));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys_at_every_level_and_keeps_array_order() {
        let v = json!({ "b": 1, "a": { "z": [3, 1], "y": "x\"y" } });
        assert_eq!(canonical(&v), r#"{"a":{"y":"x\"y","z":[3,1]},"b":1}"#);
    }

    #[test]
    fn diff_names_each_added_removed_and_changed_path() {
        let before = json!({ "files": { "retention_years": 10, "max_mb": 50 }, "old": true });
        let after = json!({ "files": { "retention_years": 12, "max_mb": 50 }, "rate_limit": { "per_minute": 60 } });
        let d = diff(Some(&before), &after);
        let ops: Vec<(&str, &str)> = d.iter().map(|c| (c.path.as_str(), c.op)).collect();
        assert_eq!(
            ops,
            [
                ("files.retention_years", "changed"),
                ("old", "removed"),
                ("rate_limit.per_minute", "added")
            ]
        );
        assert_eq!(d[0].before, Some(json!(10)));
        assert_eq!(d[0].after, Some(json!(12)));
        assert!(diff(Some(&after), &after).is_empty());
        assert_eq!(diff(None, &after).len(), 3);
    }
}
