//! Schema fixes kube's CRD generation does not make.

use schemars::{Schema, transform::transform_subschemas};
use serde_json::Value;

/// Drops `null` from every `enum` below `schema`. schemars lists it for an `Option` of a plain
/// enum, and kubectl's client-side validation (used against servers without server-side field
/// validation) rejects the whole CRD for it (`unknown object type "nil"`); `nullable: true`
/// already allows the null.
pub(crate) fn no_null_in_enums(schema: &mut Schema) {
    transform_subschemas(&mut no_null_in_enums, schema);
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        values.retain(|v| !v.is_null());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_leave_enums_at_every_depth() {
        let mut schema: Schema = serde_json::from_value(serde_json::json!({
            "type": "object",
            "enum": [null],
            "properties": {
                "result": {"type": "string", "nullable": true, "enum": ["Succeeded", null, "Failed"]},
                "list": {"type": "array", "items": {"enum": ["A", null]}}
            }
        }))
        .unwrap();
        no_null_in_enums(&mut schema);
        assert_eq!(
            schema.to_value(),
            serde_json::json!({
                "type": "object",
                "enum": [],
                "properties": {
                    "result": {"type": "string", "nullable": true, "enum": ["Succeeded", "Failed"]},
                    "list": {"type": "array", "items": {"enum": ["A"]}}
                }
            })
        );
    }
}
