//! Values PostgreSQL accepts. TEXT and JSONB refuse the NUL character (`\0`; `\u0000` in
//! JSON), which Telegram allows in texts, names and media titles. Every text and JSON value is
//! stored with NUL replaced by U+FFFD (the Unicode replacement character): one UTF-16 code unit
//! for another, so entity offsets into the text stay right.

use std::borrow::Cow;

use serde_json::{Map, Value};

pub const NUL_REPLACEMENT: char = '\u{FFFD}';

/// `text` with every NUL replaced; borrowed (no copy) when there is none.
pub fn text(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// `value` with NUL replaced in every string and key.
pub fn json(mut value: Value) -> Value {
    fix(&mut value);
    value
}

fn fix(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(fixed) = text(s) {
                *s = fixed;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(fix),
        Value::Object(map) => {
            if map.keys().any(|key| key.contains('\0')) {
                let old = std::mem::take(map);
                *map = old
                    .into_iter()
                    .map(|(key, value)| (text(&key).into_owned(), value))
                    .collect::<Map<_, _>>();
            }
            map.values_mut().for_each(fix);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_becomes_the_replacement_character_in_texts_and_all_of_json() {
        assert_eq!(text("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
        assert!(matches!(text("clean"), Cow::Borrowed("clean")));
        assert_eq!(
            json(json!({"k\u{0}": ["\u{0}", {"x": "y\u{0}"}], "n": 1})),
            json!({"k\u{FFFD}": ["\u{FFFD}", {"x": "y\u{FFFD}"}], "n": 1})
        );
    }

    #[test]
    fn the_replacement_keeps_utf16_offsets() {
        let original = "a\0😀b";
        let stored = text(original);
        assert_eq!(
            stored.encode_utf16().count(),
            original.encode_utf16().count()
        );
    }
}
