//! How offers, query results and service types look: the readable form
//! (tables and blocks cut to the terminal width) and the JSON form. Pure
//! functions of `bourse.v1` messages, so tests build messages by hand.

use bourse_proto::typefile::{mode_name, value_type_name};
use bourse_proto::{
    DynamicProp, MatchedOffer, Offer, PropertyMode, QueryResponse, Record, ServiceType, ValueType, property,
    value::Kind,
};
use serde::Serialize;
use serde_json::{Map, json};

use crate::table::{Table, key_values};
use crate::values::{count_records, format_value, value_to_json};

// ------------------------------------------------------------------ time

/// A Unix time in milliseconds as `2026-11-23 10:15:03 UTC`.
pub fn format_utc(unix_ms: i64) -> String {
    let (date, time) = utc_parts(unix_ms);
    format!("{date} {time} UTC")
}

/// A Unix time in milliseconds as RFC 3339, `2026-11-23T10:15:03Z`.
pub fn format_rfc3339(unix_ms: i64) -> String {
    let (date, time) = utc_parts(unix_ms);
    format!("{date}T{time}Z")
}

fn utc_parts(unix_ms: i64) -> (String, String) {
    let seconds = unix_ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", of_day / 3600, of_day / 60 % 60, of_day % 60),
    )
}

/// The proleptic Gregorian date of a day number counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).unwrap_or(1), u32::try_from(day).unwrap_or(1))
}

/// A duration in whole seconds, with the two largest units: `27s`, `5m 3s`,
/// `2h 10m`, `3d 4h`.
pub fn format_duration(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => {
            if s == 0 {
                format!("{m}m")
            } else {
                format!("{m}m {s}s")
            }
        }
        (0, _, _) => {
            if m == 0 {
                format!("{h}h")
            } else {
                format!("{h}h {m}m")
            }
        }
        _ => {
            if h == 0 {
                format!("{d}d")
            } else {
                format!("{d}d {h}h")
            }
        }
    }
}

/// A lease expiry: `permanent`, `in 27s (2026-11-23 10:15:03 UTC)` or
/// `expired 3s ago (...)`.
pub fn format_lease(expires_unix_ms: i64, now_unix_ms: i64) -> String {
    if expires_unix_ms == 0 {
        return "permanent".to_string();
    }
    let delta_ms = expires_unix_ms.saturating_sub(now_unix_ms);
    // Round to the nearest second so that a fresh 30 s lease reads "in 30s".
    let seconds = (delta_ms.unsigned_abs() + 500) / 1000;
    if delta_ms >= 0 {
        format!("in {} ({})", format_duration(seconds), format_utc(expires_unix_ms))
    } else {
        format!("expired {} ago ({})", format_duration(seconds), format_utc(expires_unix_ms))
    }
}

// ---------------------------------------------------------------- offers

/// A dynamic property for people: `dynamic(http://10.0.0.5:7400, max age 500ms)`.
pub fn format_dynamic(dynamic: &DynamicProp) -> String {
    format!("dynamic({}, max age {}ms)", dynamic.evaluator, dynamic.max_age_ms)
}

fn dynamic_json(dynamic: &DynamicProp) -> serde_json::Value {
    json!({ "dynamic": {
        "evaluator": dynamic.evaluator,
        "max_age_ms": dynamic.max_age_ms,
        "value_type": value_type_name(ValueType::try_from(dynamic.value_type).unwrap_or(ValueType::Unspecified)),
        "extra_info": dynamic.extra_info.as_ref().map_or(serde_json::Value::Null, value_to_json),
    }})
}

/// A stored offer for people: its header fields, a property table, then a
/// small table for each record list.
pub fn offer_human(offer: &Offer, now_unix_ms: i64, width: Option<usize>) -> String {
    let header = [
        ("id", offer.id.clone()),
        ("type", offer.r#type.clone()),
        ("reference", offer.reference.clone()),
        ("owner", offer.owner.clone()),
        ("lease", format_lease(offer.lease_expires_unix_ms, now_unix_ms)),
    ];
    let mut text = key_values(&header, 0, width);
    if offer.properties.is_empty() {
        text.push_str("no properties\n");
        return text;
    }
    let mut table = Table::new(["PROPERTY", "VALUE"]);
    let mut record_lists = Vec::new();
    for property in &offer.properties {
        let shown = match &property.content {
            Some(property::Content::Value(value)) => {
                if let Some(Kind::RecordList(list)) = &value.kind {
                    record_lists.push((property.name.as_str(), list.records.as_slice()));
                }
                format_value(value)
            }
            Some(property::Content::Dynamic(dynamic)) => format_dynamic(dynamic),
            None => "(no value)".to_string(),
        };
        table.push([property.name.clone(), shown]);
    }
    text.push('\n');
    text.push_str(&table.render(width));
    for (name, records) in record_lists {
        text.push_str(&format!("\n{name}: {}\n", count_records(records.len())));
        text.push_str(&records_table(records, 2).render(width));
    }
    text
}

/// Records as a table whose columns are the field names (as spelled, like
/// property columns) in order of first appearance; a record without a field
/// has an empty cell.
pub fn records_table(records: &[Record], indent: usize) -> Table {
    let mut columns: Vec<&str> = Vec::new();
    for field in records.iter().flat_map(|r| &r.fields) {
        if !columns.contains(&field.name.as_str()) {
            columns.push(&field.name);
        }
    }
    let mut table = Table::new(columns.iter().copied()).indented(indent);
    for record in records {
        table.push(columns.iter().map(|column| {
            record
                .fields
                .iter()
                .find(|f| f.name == *column)
                .and_then(|f| f.value.as_ref())
                .map_or(String::new(), format_value)
        }));
    }
    table
}

/// A stored offer as JSON: `{"id","type","reference","owner",
/// "lease_expires_unix_ms","lease_expires","properties":{name: value}}`,
/// where a dynamic property is `{"dynamic":{"evaluator","max_age_ms",
/// "value_type","extra_info"}}` and a permanent offer has `null` lease fields.
pub fn offer_json(offer: &Offer) -> OfferJson {
    let properties: Map<String, serde_json::Value> = offer
        .properties
        .iter()
        .map(|p| {
            let value = match &p.content {
                Some(property::Content::Value(value)) => value_to_json(value),
                Some(property::Content::Dynamic(dynamic)) => dynamic_json(dynamic),
                None => serde_json::Value::Null,
            };
            (p.name.clone(), value)
        })
        .collect();
    let lease_expires_unix_ms = Some(offer.lease_expires_unix_ms).filter(|ms| *ms != 0);
    OfferJson {
        id: offer.id.clone(),
        service_type: offer.r#type.clone(),
        reference: offer.reference.clone(),
        owner: offer.owner.clone(),
        lease_expires_unix_ms,
        lease_expires: lease_expires_unix_ms.map(format_rfc3339),
        properties,
    }
}

/// The JSON form of a stored offer (fields in this order).
#[derive(Debug, Serialize)]
pub struct OfferJson {
    pub id: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub reference: String,
    pub owner: String,
    /// `null` for a permanent offer.
    pub lease_expires_unix_ms: Option<i64>,
    /// RFC 3339 UTC; `null` for a permanent offer.
    pub lease_expires: Option<String>,
    pub properties: Map<String, serde_json::Value>,
}

/// Offers as a table (for `admin offers`): id, type, reference, owner, lease.
pub fn offer_list_human(offers: &[Offer], now_unix_ms: i64, width: Option<usize>) -> String {
    let mut table = Table::new(["ID", "TYPE", "REFERENCE", "OWNER", "LEASE"]);
    for offer in offers {
        let lease = if offer.lease_expires_unix_ms == 0 {
            "permanent".to_string()
        } else {
            let delta = offer.lease_expires_unix_ms.saturating_sub(now_unix_ms);
            let seconds = (delta.unsigned_abs() + 500) / 1000;
            if delta >= 0 { format!("in {}", format_duration(seconds)) } else { "expired".to_string() }
        };
        table.push([
            offer.id.clone(),
            offer.r#type.clone(),
            offer.reference.clone(),
            offer.owner.clone(),
            lease,
        ]);
    }
    let mut text = if offers.is_empty() { String::new() } else { table.render(width) };
    text.push_str(&format!("{} offer{}\n", offers.len(), if offers.len() == 1 { "" } else { "s" }));
    text
}

// --------------------------------------------------------------- queries

/// How a query's offers are laid out for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryLayout {
    /// One row per offer: id, reference and these property columns.
    Table(Vec<String>),
    /// A block of `name value` lines per offer, with every property returned.
    Blocks,
}

/// Which reply a query result comes from: a query's counts describe the
/// whole search, a later page's do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryPage {
    /// The reply to Query (and the pages after it, with `--all-pages`).
    First,
    /// A reply to NextPage alone.
    Later,
    /// An update of a standing query (Watch), which counts matches but
    /// not the offers searched.
    Watch,
}

/// A query result for people: the offers, then a footer with the counts,
/// the limits the broker applied and, when offers remain, `next_hint`
/// (the command that fetches them).
pub fn query_human(
    response: &QueryResponse,
    page: QueryPage,
    layout: &QueryLayout,
    next_hint: Option<&str>,
    width: Option<usize>,
) -> String {
    let mut text = match layout {
        QueryLayout::Table(columns) => query_table(&response.offers, columns).render(width),
        QueryLayout::Blocks => query_blocks(&response.offers, width),
    };
    if response.offers.is_empty() {
        text.clear();
    } else if matches!(layout, QueryLayout::Table(_)) {
        text.push('\n');
    }
    let n = response.offers.len();
    match page {
        QueryPage::First => {
            text.push_str(&format!("{n} of {} matched (searched {})\n", response.matched, response.searched));
        }
        QueryPage::Later => text.push_str(&format!("{n} offer{}\n", if n == 1 { "" } else { "s" })),
        QueryPage::Watch => text.push_str(&format!("{n} of {} matched\n", response.matched)),
    }
    for limit in &response.limits_applied {
        let value = limit.value.as_ref().map_or(String::new(), |v| format!(" = {}", format_value(v)));
        let reason = if limit.reason.is_empty() { String::new() } else { format!(" ({})", limit.reason) };
        text.push_str(&format!("limit applied: {}{value}{reason}\n", limit.policy));
    }
    if !response.next_page_token.is_empty() {
        let hint = next_hint.map_or(String::new(), |h| format!(": {h}"));
        text.push_str(&format!("{} more{hint}\n", response.remaining));
    }
    text
}

/// A property of a query result for the table: sequences comma-joined,
/// record lists counted.
fn matched_value(offer: &MatchedOffer, name: &str) -> String {
    offer
        .properties
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.value.as_ref())
        .map_or(String::new(), format_value)
}

fn query_table(offers: &[MatchedOffer], columns: &[String]) -> Table {
    let mut table =
        Table::new(["ID", "REFERENCE"].into_iter().map(str::to_string).chain(columns.iter().cloned()));
    for offer in offers {
        table.push(
            [offer.id.clone(), offer.reference.clone()]
                .into_iter()
                .chain(columns.iter().map(|name| matched_value(offer, name))),
        );
    }
    table
}

fn query_blocks(offers: &[MatchedOffer], width: Option<usize>) -> String {
    let mut text = String::new();
    for offer in offers {
        text.push_str(&offer.id);
        text.push('\n');
        let mut pairs = vec![
            ("type".to_string(), offer.r#type.clone()),
            ("reference".to_string(), offer.reference.clone()),
        ];
        pairs.extend(
            offer
                .properties
                .iter()
                .map(|p| (p.name.clone(), p.value.as_ref().map_or(String::new(), format_value))),
        );
        text.push_str(&key_values(&pairs, 2, width));
        text.push('\n');
    }
    text
}

/// The JSON form of a query result.
#[derive(Debug, Serialize)]
pub struct QueryJson {
    pub offers: Vec<MatchedOfferJson>,
    /// `null` when no offers remain.
    pub next_page_token: Option<String>,
    pub remaining: u64,
    pub limits_applied: Vec<LimitJson>,
    pub searched: u64,
    pub matched: u64,
}

#[derive(Debug, Serialize)]
pub struct MatchedOfferJson {
    pub id: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub reference: String,
    pub properties: Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct LimitJson {
    pub policy: String,
    pub value: serde_json::Value,
    pub reason: String,
}

/// A query result as JSON: `{"offers":[{"id","type","reference",
/// "properties":{name: value}}],"next_page_token","remaining",
/// "limits_applied":[{"policy","value","reason"}],"searched","matched"}`.
pub fn query_json(response: &QueryResponse) -> QueryJson {
    QueryJson {
        offers: response
            .offers
            .iter()
            .map(|offer| MatchedOfferJson {
                id: offer.id.clone(),
                service_type: offer.r#type.clone(),
                reference: offer.reference.clone(),
                properties: offer
                    .properties
                    .iter()
                    .map(|p| {
                        (p.name.clone(), p.value.as_ref().map_or(serde_json::Value::Null, value_to_json))
                    })
                    .collect(),
            })
            .collect(),
        next_page_token: Some(response.next_page_token.clone()).filter(|t| !t.is_empty()),
        remaining: response.remaining,
        limits_applied: response
            .limits_applied
            .iter()
            .map(|l| LimitJson {
                policy: l.policy.clone(),
                value: l.value.as_ref().map_or(serde_json::Value::Null, value_to_json),
                reason: l.reason.clone(),
            })
            .collect(),
        searched: response.searched,
        matched: response.matched,
    }
}

// ----------------------------------------------------------------- types

fn mode(mode: i32) -> &'static str {
    mode_name(PropertyMode::try_from(mode).unwrap_or(PropertyMode::Unspecified))
}

fn value_type(value_type: i32) -> &'static str {
    value_type_name(ValueType::try_from(value_type).unwrap_or(ValueType::Unspecified))
}

/// A service type for people: header fields, then a property table.
pub fn service_type_human(service_type: &ServiceType, width: Option<usize>) -> String {
    let or_dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
    let header = [
        ("name", service_type.name.clone()),
        ("interface", or_dash(service_type.interface.clone())),
        ("supertypes", or_dash(service_type.super_types.join(", "))),
        ("masked", if service_type.masked { "yes" } else { "no" }.to_string()),
        ("incarnation", service_type.incarnation.to_string()),
        ("doc", or_dash(service_type.doc.clone())),
    ];
    let mut text = key_values(&header, 0, width);
    text.push('\n');
    if service_type.properties.is_empty() {
        text.push_str("no properties\n");
        return text;
    }
    let mut table = Table::new(["PROPERTY", "TYPE", "MODE", "DOC"]);
    for p in &service_type.properties {
        table.push([
            p.name.clone(),
            value_type(p.value_type).to_string(),
            mode(p.mode).to_string(),
            p.doc.clone(),
        ]);
    }
    text.push_str(&table.render(width));
    text
}

/// A service type as JSON: `{"name","interface","super_types","masked",
/// "incarnation","doc","properties":[{"name","type","mode","doc"}]}`.
pub fn service_type_json(service_type: &ServiceType) -> serde_json::Value {
    json!({
        "name": service_type.name,
        "interface": service_type.interface,
        "super_types": service_type.super_types,
        "masked": service_type.masked,
        "incarnation": service_type.incarnation,
        "doc": service_type.doc,
        "properties": service_type.properties.iter().map(|p| json!({
            "name": p.name,
            "type": value_type(p.value_type),
            "mode": mode(p.mode),
            "doc": p.doc,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;
    use bourse_proto::{
        DoubleSeq, Field, LimitApplied, Property, PropertyDef, PropertyValue, RecordList, StringSeq,
        UInt64Seq, Value,
    };

    /// 2026-11-23 10:15:03 UTC.
    const NOW_MS: i64 = 1_795_428_903_000;

    fn records() -> Value {
        let record = |name: &str, duration: f64, width: i64| Record {
            fields: vec![
                Field { name: "name".into(), value: Some(Value::string(name)) },
                Field { name: "duration".into(), value: Some(Value::double(duration)) },
                Field { name: "width".into(), value: Some(Value::int64(width)) },
            ],
        };
        Value {
            kind: Some(Kind::RecordList(RecordList {
                records: vec![record("Casablanca", 6120.0, 640), record("Metropolis", 9180.5, 720)],
            })),
        }
    }

    fn matched(id: &str, reference: &str, properties: Vec<(&str, Value)>) -> MatchedOffer {
        MatchedOffer {
            id: id.into(),
            r#type: "MediaServer".into(),
            reference: reference.into(),
            properties: properties
                .into_iter()
                .map(|(name, value)| PropertyValue { name: name.into(), value: Some(value) })
                .collect(),
        }
    }

    fn response() -> QueryResponse {
        QueryResponse {
            offers: vec![
                matched(
                    "o-1",
                    "rtsp://a.example:554/",
                    vec![
                        ("host", Value::string("a.example")),
                        ("load", Value::double(0.123456789)),
                        ("video_formats", Value::string_seq(["h264", "vp9"])),
                        ("movies", records()),
                    ],
                ),
                matched(
                    "o-2",
                    "rtsp://b.example:554/",
                    vec![("host", Value::string("b.example")), ("load", Value::double(0.5))],
                ),
            ],
            next_page_token: "tok-3".into(),
            remaining: 7,
            limits_applied: vec![LimitApplied {
                policy: "match_card".into(),
                value: Some(Value::uint64(200)),
                reason: "match_card reached".into(),
            }],
            searched: 40,
            matched: 9,
        }
    }

    #[test]
    fn utc_times_and_durations() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(NOW_MS), "2026-11-23 10:15:03 UTC");
        assert_eq!(format_rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(-1000), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_duration(27), "27s");
        assert_eq!(format_duration(303), "5m 3s");
        assert_eq!(format_duration(7800), "2h 10m");
        assert_eq!(format_duration(3600), "1h");
        assert_eq!(format_duration(273_600), "3d 4h");
        assert_eq!(format_lease(0, NOW_MS), "permanent");
        assert_eq!(format_lease(NOW_MS + 26_600, NOW_MS), "in 27s (2026-11-23 10:15:29 UTC)");
        assert_eq!(format_lease(NOW_MS - 3_000, NOW_MS), "expired 3s ago (2026-11-23 10:15:00 UTC)");
    }

    #[test]
    fn query_as_table() {
        let layout =
            QueryLayout::Table(vec!["host".into(), "load".into(), "video_formats".into(), "movies".into()]);
        let text = query_human(&response(), QueryPage::First, &layout, Some("bourse next-page tok-3"), None);
        insta::assert_snapshot!("query_table", text);
    }

    #[test]
    fn query_table_fits_a_narrow_terminal() {
        let layout = QueryLayout::Table(vec!["host".into(), "load".into(), "video_formats".into()]);
        let text = query_human(&response(), QueryPage::First, &layout, None, Some(48));
        insta::assert_snapshot!("query_table_narrow", text);
        let table = text.split("\n\n").next().unwrap_or_default();
        assert!(table.lines().all(|l| unicode_width::UnicodeWidthStr::width(l) <= 48), "{text}");
    }

    #[test]
    fn query_as_blocks() {
        let text = query_human(
            &response(),
            QueryPage::First,
            &QueryLayout::Blocks,
            Some("bourse next-page tok-3"),
            None,
        );
        insta::assert_snapshot!("query_blocks", text);
    }

    #[test]
    fn empty_query_result() {
        let empty = QueryResponse { searched: 12, ..QueryResponse::default() };
        assert_eq!(
            query_human(&empty, QueryPage::First, &QueryLayout::Blocks, None, None),
            "0 of 0 matched (searched 12)\n"
        );
        assert_eq!(
            query_human(&empty, QueryPage::First, &QueryLayout::Table(vec![]), None, None),
            "0 of 0 matched (searched 12)\n"
        );
        let page = QueryResponse {
            offers: response().offers,
            next_page_token: "t".into(),
            remaining: 3,
            ..QueryResponse::default()
        };
        let text = query_human(
            &page,
            QueryPage::Later,
            &QueryLayout::Table(vec![]),
            Some("bourse next-page t"),
            None,
        );
        assert!(text.ends_with("\n2 offers\n3 more: bourse next-page t\n"), "{text}");
    }

    #[test]
    fn query_json_shape() {
        assert_eq!(
            serde_json::to_value(query_json(&response())).unwrap(),
            json!({
                "offers": [
                    {"id": "o-1", "type": "MediaServer", "reference": "rtsp://a.example:554/", "properties": {
                        "host": "a.example",
                        "load": 0.123456789,
                        "video_formats": ["h264", "vp9"],
                        "movies": [
                            {"name": "Casablanca", "duration": 6120.0, "width": 640},
                            {"name": "Metropolis", "duration": 9180.5, "width": 720},
                        ],
                    }},
                    {"id": "o-2", "type": "MediaServer", "reference": "rtsp://b.example:554/", "properties": {
                        "host": "b.example", "load": 0.5,
                    }},
                ],
                "next_page_token": "tok-3",
                "remaining": 7,
                "limits_applied": [{"policy": "match_card", "value": 200, "reason": "match_card reached"}],
                "searched": 40,
                "matched": 9,
            })
        );
        let last = QueryResponse::default();
        assert_eq!(
            serde_json::to_value(query_json(&last)).unwrap()["next_page_token"],
            serde_json::Value::Null
        );
    }

    fn offer() -> Offer {
        Offer {
            id: "o-1".into(),
            r#type: "MediaServer".into(),
            reference: "rtsp://a.example:554/".into(),
            owner: "agent@a".into(),
            lease_expires_unix_ms: NOW_MS + 27_000,
            properties: vec![
                Property::value("host", Value::string("a.example")),
                Property::value(
                    "video_formats",
                    Value {
                        kind: Some(Kind::StringSeq(StringSeq { values: vec!["h264".into(), "vp9".into()] })),
                    },
                ),
                Property::value(
                    "ports",
                    Value { kind: Some(Kind::Uint64Seq(UInt64Seq { values: vec![554, 8554] })) },
                ),
                Property::value(
                    "rates",
                    Value { kind: Some(Kind::DoubleSeq(DoubleSeq { values: vec![0.5] })) },
                ),
                Property::dynamic(
                    "load",
                    DynamicProp {
                        evaluator: "http://10.0.0.5:7400".into(),
                        extra_info: None,
                        max_age_ms: 500,
                        value_type: ValueType::Double as i32,
                    },
                ),
                Property::value("movies", records()),
            ],
        }
    }

    #[test]
    fn describe_human() {
        insta::assert_snapshot!("describe", offer_human(&offer(), NOW_MS, None));
        let permanent = Offer { lease_expires_unix_ms: 0, properties: vec![], ..offer() };
        assert_eq!(
            offer_human(&permanent, NOW_MS, None),
            "id         o-1\ntype       MediaServer\nreference  rtsp://a.example:554/\nowner      agent@a\n\
             lease      permanent\nno properties\n"
        );
    }

    #[test]
    fn describe_json_shape() {
        assert_eq!(
            serde_json::to_value(offer_json(&offer())).unwrap(),
            json!({
                "id": "o-1",
                "type": "MediaServer",
                "reference": "rtsp://a.example:554/",
                "owner": "agent@a",
                "lease_expires_unix_ms": NOW_MS + 27_000,
                "lease_expires": "2026-11-23T10:15:30Z",
                "properties": {
                    "host": "a.example",
                    "video_formats": ["h264", "vp9"],
                    "ports": [554, 8554],
                    "rates": [0.5],
                    "load": {"dynamic": {
                        "evaluator": "http://10.0.0.5:7400", "max_age_ms": 500,
                        "value_type": "double", "extra_info": null,
                    }},
                    "movies": [
                        {"name": "Casablanca", "duration": 6120.0, "width": 640},
                        {"name": "Metropolis", "duration": 9180.5, "width": 720},
                    ],
                },
            })
        );
        let permanent =
            serde_json::to_value(offer_json(&Offer { lease_expires_unix_ms: 0, ..offer() })).unwrap();
        assert_eq!(
            (&permanent["lease_expires_unix_ms"], &permanent["lease_expires"]),
            (&json!(null), &json!(null))
        );
    }

    #[test]
    fn offer_list() {
        let offers = [offer(), Offer { id: "o-2".into(), lease_expires_unix_ms: 0, ..offer() }];
        assert_eq!(
            offer_list_human(&offers, NOW_MS, None),
            "ID   TYPE         REFERENCE              OWNER    LEASE\n\
             o-1  MediaServer  rtsp://a.example:554/  agent@a  in 27s\n\
             o-2  MediaServer  rtsp://a.example:554/  agent@a  permanent\n\
             2 offers\n"
        );
        assert_eq!(offer_list_human(&[], NOW_MS, None), "0 offers\n");
    }

    fn media_type() -> ServiceType {
        ServiceType {
            name: "MediaServer".into(),
            interface: "media".into(),
            super_types: vec!["Server".into()],
            properties: vec![
                PropertyDef {
                    name: "host".into(),
                    value_type: ValueType::String as i32,
                    mode: PropertyMode::Mandatory as i32,
                    doc: "Host name or address of the media server".into(),
                },
                PropertyDef {
                    name: "load".into(),
                    value_type: ValueType::Double as i32,
                    mode: PropertyMode::Unspecified as i32,
                    doc: "dynamic: 1-minute load average divided by the number of cores".into(),
                },
            ],
            masked: false,
            incarnation: 3,
            doc: "A server that streams stored titles to players".into(),
        }
    }

    #[test]
    fn service_type_human_and_json() {
        insta::assert_snapshot!("service_type", service_type_human(&media_type(), Some(80)));
        assert_eq!(
            service_type_json(&media_type()),
            json!({
                "name": "MediaServer", "interface": "media", "super_types": ["Server"], "masked": false,
                "incarnation": 3, "doc": "A server that streams stored titles to players",
                "properties": [
                    {"name": "host", "type": "string", "mode": "mandatory", "doc": "Host name or address of the media server"},
                    {"name": "load", "type": "double", "mode": "normal",
                     "doc": "dynamic: 1-minute load average divided by the number of cores"},
                ],
            })
        );
    }
}
