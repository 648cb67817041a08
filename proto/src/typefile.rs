//! The service-type file format: TOML that declares service types.
//!
//! The broker loads such files at start (the built-in media-server type is
//! one), and `bourse types add FILE` sends them through `AddType`. Both go
//! through [`parse`], so a file that one accepts the other accepts too.
//! Validation of names, supertypes and redefinitions is the broker's job;
//! this module only checks the file's shape and spelling.
//!
//! ```toml
//! [[type]]
//! name = "MediaServer"
//! interface = "media"          # optional
//! super_types = ["Server"]     # optional
//! doc = "A streaming server"   # optional
//!
//! [[type.property]]
//! name = "video_formats"
//! type = "string_seq"          # bool int64 uint64 double string, *_seq, record_list
//! mode = "mandatory"           # normal (default) readonly mandatory mandatory_readonly
//! doc = "Video codecs the server can stream"
//! ```

use serde::Deserialize;

use crate::{PropertyDef, PropertyMode, ServiceType, ValueType};

#[derive(Debug, thiserror::Error)]
pub enum TypeFileError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error(
        "type '{type_name}', property '{property}': unknown value type '{value_type}' (expected one of {expected})"
    )]
    UnknownValueType { type_name: String, property: String, value_type: String, expected: String },
    #[error(
        "type '{type_name}', property '{property}': unknown mode '{mode}' (expected normal, readonly, mandatory or mandatory_readonly)"
    )]
    UnknownMode { type_name: String, property: String, mode: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, rename = "type")]
    types: Vec<RawType>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawType {
    name: String,
    #[serde(default)]
    interface: String,
    #[serde(default)]
    super_types: Vec<String>,
    #[serde(default)]
    doc: String,
    #[serde(default, rename = "property")]
    properties: Vec<RawProperty>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProperty {
    name: String,
    #[serde(rename = "type")]
    value_type: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    doc: String,
}

/// The spelling of each value type in type files and on the command line.
pub const VALUE_TYPE_NAMES: &[(&str, ValueType)] = &[
    ("bool", ValueType::Bool),
    ("int64", ValueType::Int64),
    ("uint64", ValueType::Uint64),
    ("double", ValueType::Double),
    ("string", ValueType::String),
    ("bool_seq", ValueType::BoolSeq),
    ("int64_seq", ValueType::Int64Seq),
    ("uint64_seq", ValueType::Uint64Seq),
    ("double_seq", ValueType::DoubleSeq),
    ("string_seq", ValueType::StringSeq),
    ("record_list", ValueType::RecordList),
];

/// The spelling of each property mode.
pub const MODE_NAMES: &[(&str, PropertyMode)] = &[
    ("normal", PropertyMode::Normal),
    ("readonly", PropertyMode::Readonly),
    ("mandatory", PropertyMode::Mandatory),
    ("mandatory_readonly", PropertyMode::MandatoryReadonly),
];

pub fn value_type_from_name(name: &str) -> Option<ValueType> {
    VALUE_TYPE_NAMES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub fn value_type_name(value_type: ValueType) -> &'static str {
    VALUE_TYPE_NAMES.iter().find(|(_, t)| *t == value_type).map_or("unspecified", |(n, _)| n)
}

pub fn mode_name(mode: PropertyMode) -> &'static str {
    match mode {
        PropertyMode::Unspecified => "normal",
        other => MODE_NAMES.iter().find(|(_, m)| *m == other).map_or("normal", |(n, _)| n),
    }
}

/// Parses a type file into service types, in file order.
pub fn parse(text: &str) -> Result<Vec<ServiceType>, TypeFileError> {
    let raw: RawFile = toml::from_str(text)?;
    raw.types
        .into_iter()
        .map(|t| {
            let properties = t
                .properties
                .into_iter()
                .map(|p| {
                    let value_type = value_type_from_name(&p.value_type).ok_or_else(|| {
                        TypeFileError::UnknownValueType {
                            type_name: t.name.clone(),
                            property: p.name.clone(),
                            value_type: p.value_type.clone(),
                            expected: VALUE_TYPE_NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                        }
                    })?;
                    let mode = match p.mode.as_deref() {
                        None => PropertyMode::Normal,
                        Some(m) => {
                            MODE_NAMES.iter().find(|(n, _)| *n == m).map(|(_, mode)| *mode).ok_or_else(
                                || TypeFileError::UnknownMode {
                                    type_name: t.name.clone(),
                                    property: p.name.clone(),
                                    mode: m.to_string(),
                                },
                            )?
                        }
                    };
                    Ok(PropertyDef {
                        name: p.name,
                        value_type: value_type as i32,
                        mode: mode as i32,
                        doc: p.doc,
                    })
                })
                .collect::<Result<Vec<_>, TypeFileError>>()?;
            Ok(ServiceType {
                name: t.name,
                interface: t.interface,
                super_types: t.super_types,
                properties,
                masked: false,
                incarnation: 0,
                doc: t.doc,
            })
        })
        .collect()
}

/// The built-in media-server type, present on every fresh broker.
pub const MEDIA_SERVER_TYPES: &str = include_str!("../types/media-server.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_media_server_type_parses() {
        let types = parse(MEDIA_SERVER_TYPES).expect("built-in type file parses");
        let media = types.iter().find(|t| t.name == "MediaServer").expect("MediaServer declared");
        for name in
            ["video_formats", "audio_formats", "protocols", "titles", "movies", "max_connections", "load"]
        {
            assert!(media.properties.iter().any(|p| p.name == name), "missing {name}");
        }
    }

    #[test]
    fn errors_name_the_culprit() {
        let bad = "[[type]]\nname='T'\n[[type.property]]\nname='p'\ntype='int'\n";
        let err = parse(bad).expect_err("int is not a type name").to_string();
        assert!(err.contains("property 'p'") && err.contains("'int'"), "{err}");
        let bad = "[[type]]\nname='T'\n[[type.property]]\nname='p'\ntype='int64'\nmode='required'\n";
        let err = parse(bad).expect_err("bad mode").to_string();
        assert!(err.contains("unknown mode 'required'"), "{err}");
        let bad = "[[type]]\nname='T'\ncolour='red'\n";
        let err = parse(bad).expect_err("unknown key").to_string();
        assert!(err.contains("colour"), "{err}");
    }
}
