//! Lenient reading of JSON fields: a wrongly typed optional field is coerced when
//! that is unambiguous (a number in a string, a date as epoch milliseconds) and left
//! empty otherwise, and either way a warning naming the field is recorded.

use serde_json::{Map, Value};

use super::time::parse_iso_millis;

/// A view of one JSON object that collects warnings about its fields.
pub struct Fields<'a, 'w> {
    obj: &'a Map<String, Value>,
    prefix: &'static str,
    warnings: &'w mut Vec<String>,
}

impl<'a, 'w> Fields<'a, 'w> {
    /// Reads `obj`; warnings name fields as `prefix` + key (e.g. `content.`).
    pub fn new(
        obj: &'a Map<String, Value>,
        prefix: &'static str,
        warnings: &'w mut Vec<String>,
    ) -> Self {
        Fields {
            obj,
            prefix,
            warnings,
        }
    }

    /// Where warnings go, for nested objects read with their own view.
    pub fn warnings(&mut self) -> &mut Vec<String> {
        self.warnings
    }

    /// The raw value of a field, absent when missing or `null`.
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn warn(&mut self, key: &str, expected: &str, got: &Value, action: &str) {
        self.warnings.push(format!(
            "field {}{key}: expected {expected}, got {}; {action}",
            self.prefix,
            type_name(got)
        ));
    }

    /// A string field; numbers and booleans are turned into text. Empty strings count as absent.
    pub fn string(&mut self, key: &str) -> Option<String> {
        let value = self.value(key)?;
        match value {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => {
                self.warn(key, "a string", value, "used as text");
                Some(value.to_string())
            }
            _ => {
                self.warn(key, "a string", value, "left empty");
                None
            }
        }
    }

    /// An integer field; a numeric string is parsed, a fraction truncated.
    pub fn integer(&mut self, key: &str) -> Option<i64> {
        let value = self.value(key)?;
        match value {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(n) => {
                    self.warn(key, "a number", value, "parsed as a number");
                    Some(n)
                }
                Err(_) => {
                    self.warn(key, "a number", value, "left empty");
                    None
                }
            },
            Value::Bool(b) => {
                self.warn(key, "a number", value, "read as 0 or 1");
                Some(i64::from(*b))
            }
            _ => {
                self.warn(key, "a number", value, "left empty");
                None
            }
        }
    }

    /// A boolean field; 0/1 and "true"/"false" are accepted with a warning.
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let value = self.value(key)?;
        let coerced = match value {
            Value::Bool(b) => return Some(*b),
            Value::Number(n) => n.as_i64().map(|n| n != 0),
            Value::String(s) => match s.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        };
        let action = if coerced.is_some() {
            "coerced"
        } else {
            "left empty"
        };
        self.warn(key, "a boolean", value, action);
        coerced
    }

    /// An ISO-8601 time as UTC milliseconds; a number is read as epoch milliseconds.
    pub fn time(&mut self, key: &str) -> Option<i64> {
        let value = self.value(key)?;
        match value {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => {
                let parsed = parse_iso_millis(s);
                if parsed.is_none() {
                    self.warn(key, "an ISO-8601 time", value, "left empty");
                }
                parsed
            }
            Value::Number(n) => {
                self.warn(key, "an ISO-8601 time", value, "read as epoch milliseconds");
                n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))
            }
            _ => {
                self.warn(key, "an ISO-8601 time", value, "left empty");
                None
            }
        }
    }

    /// A time that is milliseconds on the wire (`endTime`); ISO strings are accepted too.
    pub fn millis(&mut self, key: &str) -> Option<i64> {
        match self.value(key)? {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            _ => self.time(key),
        }
    }

    /// An object field.
    pub fn object(&mut self, key: &str) -> Option<&'a Map<String, Value>> {
        let value = self.value(key)?;
        match value {
            Value::Object(map) => Some(map),
            _ => {
                self.warn(key, "an object", value, "ignored");
                None
            }
        }
    }

    /// An array field. `None` when missing; an explicit `null` or a wrong type gives an
    /// empty list with a warning.
    pub fn array(&mut self, key: &str) -> Option<&'a [Value]> {
        let value = self.obj.get(key)?;
        match value {
            Value::Array(items) => Some(items),
            _ => {
                self.warn(key, "an array", value, "read as empty");
                Some(&[])
            }
        }
    }

    /// The first present string among `keys`.
    pub fn first_string(&mut self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.string(k))
    }
}

/// A short name of a JSON value's type, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with<T>(value: Value, f: impl FnOnce(&mut Fields) -> T) -> (T, Vec<String>) {
        let mut warnings = Vec::new();
        let map = value.as_object().unwrap().clone();
        let out = f(&mut Fields::new(&map, "content.", &mut warnings));
        (out, warnings)
    }

    #[test]
    fn coerces_wrong_types_with_a_warning() {
        let (size, w) = with(json!({"fileSize": "12"}), |f| f.integer("fileSize"));
        assert_eq!(size, Some(12));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("content.fileSize"), "{w:?}");
        let (created, w) = with(json!({"created": 12345}), |f| f.time("created"));
        assert_eq!((created, w.len()), (Some(12345), 1));
        let (list, w) = with(json!({"assignees": null}), |f| {
            f.array("assignees").map(<[Value]>::len)
        });
        assert_eq!((list, w.len()), (Some(0), 1));
    }

    #[test]
    fn well_typed_fields_give_no_warning() {
        let (out, w) = with(
            json!({"a": "x", "n": 3, "t": "2020-07-10T11:00:56.755Z", "b": true, "l": []}),
            |f| {
                (
                    f.string("a"),
                    f.integer("n"),
                    f.time("t"),
                    f.boolean("b"),
                    f.array("l").is_some(),
                )
            },
        );
        assert_eq!(
            out,
            (
                Some("x".into()),
                Some(3),
                Some(1_594_378_856_755),
                Some(true),
                true
            )
        );
        assert!(w.is_empty());
        let (missing, w) = with(json!({"x": null}), |f| {
            (f.string("x"), f.array("y").is_none())
        });
        assert_eq!(missing, (None, true));
        assert!(w.is_empty());
    }
}
