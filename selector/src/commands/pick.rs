//! `bourse pick`, `bourse release` and `bourse watch`: load-aware choice
//! with a reservation, giving the reservation back, and a standing query
//! followed live.

use bourse_proto::{
    MatchedOffer, PickRequest, PickResponse, QueryRequest, QueryResponse, ReleaseRequest, WatchRequest,
    WatchUpdate,
};
use serde_json::json;
use tokio_stream::StreamExt;

use super::Context;
use super::query::{layout_for, query_request};
use crate::cli::{DesiredProps, PickArgs, QueryArgs, ReleaseArgs, WatchArgs};
use crate::error::{BrokerError, CliError};
use crate::media::{movie_of, quote};
use crate::render::{QueryPage, format_utc, query_human, query_json};
use crate::values::value_to_json;

/// The constraint of a pick: the user's, and with `--title` only servers
/// that hold the title.
pub fn pick_constraint(args: &PickArgs) -> String {
    match (&args.title, args.constraint.trim()) {
        (None, constraint) => constraint.to_string(),
        (Some(title), "") => format!("{} in titles", quote(title)),
        (Some(title), constraint) => format!("{} in titles and ({constraint})", quote(title)),
    }
}

/// The Pick request of `bourse pick`. With `--title`, the `movies` property
/// is asked for as well, because the play URL is in it.
pub fn pick_request(args: &PickArgs) -> PickRequest {
    let mut props = args.props.clone();
    if args.title.is_some() {
        if let DesiredProps::Named(names) = &mut props {
            if !names.iter().any(|n| n == "movies") {
                names.push("movies".to_string());
            }
        } else if props == DesiredProps::None {
            props = DesiredProps::Named(vec!["movies".to_string()]);
        }
    }
    let query = query_request(&QueryArgs {
        service_type: args.service_type.clone(),
        constraint: pick_constraint(args),
        preference: args.preference.clone(),
        props,
        how_many: None,
        policies: args.policies.clone(),
        all_pages: false,
    });
    PickRequest {
        r#type: query.r#type,
        constraint: query.constraint,
        preference: query.preference,
        policies: query.policies,
        desired: query.desired,
        client: args.client.clone(),
        reservation_seconds: args.reserve,
        offer_ids: args.offer_ids.clone(),
    }
}

/// The endpoint to hand to a player: with a title, its play URL on the
/// chosen server (the reference when the server has no record of it).
pub fn endpoint(offer: &MatchedOffer, title: Option<&str>) -> String {
    title.and_then(|t| movie_of(offer, t)).and_then(|m| m.play_url).unwrap_or_else(|| offer.reference.clone())
}

/// The readable form: the endpoint alone on the first line, so that
/// `bourse pick ... | head -n1` is the URL, then the details.
pub fn pick_human(reply: &PickResponse, title: Option<&str>) -> String {
    let Some(offer) = &reply.offer else { return String::new() };
    let mut text = format!("{}\n", endpoint(offer, title));
    text.push_str(&format!("offer        {} ({})\n", offer.id, offer.reference));
    text.push_str(&format!(
        "reservation  {} for {} s, until {}\n",
        reply.reservation_id,
        reply.reservation_seconds,
        format_utc(reply.reservation_expires_unix_ms)
    ));
    text.push_str(&format!("candidates   {}\n", reply.candidates));
    text
}

pub fn pick_json(reply: &PickResponse, title: Option<&str>) -> serde_json::Value {
    let offer = reply.offer.as_ref().map(|offer| {
        let properties: serde_json::Map<String, serde_json::Value> = offer
            .properties
            .iter()
            .map(|p| (p.name.clone(), p.value.as_ref().map_or(serde_json::Value::Null, value_to_json)))
            .collect();
        json!({"id": offer.id, "type": offer.r#type, "reference": offer.reference, "properties": properties})
    });
    json!({
        "endpoint": reply.offer.as_ref().map(|o| endpoint(o, title)),
        "title": title,
        "offer": offer,
        "reservation": {
            "id": reply.reservation_id,
            "seconds": reply.reservation_seconds,
            "expires_unix_ms": reply.reservation_expires_unix_ms,
        },
        "candidates": reply.candidates,
    })
}

/// A Pick error in words that say what to do: no room is not a fault of
/// the request, no match usually is.
fn explain_pick_error(error: CliError, args: &PickArgs) -> CliError {
    let CliError::Broker(error) = error else { return error };
    let error =
        error.with_expressions(&[("constraint", &pick_constraint(args)), ("preference", &args.preference)]);
    let message = match error.code {
        tonic::Code::ResourceExhausted => {
            format!("no server has room for one more stream; try again later ({})", error.message)
        }
        tonic::Code::NotFound => {
            format!("no {} matches the constraint ({})", args.service_type, error.message)
        }
        _ => return CliError::Broker(error),
    };
    CliError::Broker(BrokerError { message, ..error })
}

pub async fn pick(ctx: &mut Context<'_>, args: &PickArgs) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let reply = broker
        .lookup()
        .pick(broker.request(pick_request(args)))
        .await
        .map_err(|status| explain_pick_error(broker.error(status), args))?
        .into_inner();
    if reply.offer.is_none() {
        return Err(CliError::Broker(BrokerError::protocol("the broker picked no offer")));
    }
    let title = args.title.as_deref();
    ctx.emit(|_| pick_human(&reply, title), || pick_json(&reply, title))
}

pub async fn release(ctx: &mut Context<'_>, args: &ReleaseArgs) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let request = ReleaseRequest { reservation_id: args.reservation_id.clone() };
    broker.lookup().release(broker.request(request)).await.map_err(|s| broker.error(s))?;
    let id = args.reservation_id.clone();
    ctx.emit(|_| format!("released {id}\n"), || json!({"released": id}))
}

fn watch_query(args: &WatchArgs) -> QueryRequest {
    query_request(&QueryArgs {
        service_type: args.service_type.clone(),
        constraint: args.constraint.clone(),
        preference: args.preference.clone(),
        props: args.props.clone(),
        how_many: args.how_many,
        policies: args.policies.clone(),
        all_pages: false,
    })
}

/// One update for people: a heading line, then the offers as `query`
/// shows them.
pub fn watch_human(update: &WatchUpdate, args: &WatchArgs, width: Option<usize>) -> String {
    let response = QueryResponse {
        offers: update.offers.clone(),
        limits_applied: update.limits_applied.clone(),
        matched: update.matched,
        ..QueryResponse::default()
    };
    let mut text = format!(
        "{} {} · update {} at {} · every {} ms · Ctrl-C stops\n\n",
        args.service_type,
        if args.constraint.trim().is_empty() { "(all)" } else { args.constraint.trim() },
        update.sequence,
        format_utc(update.at_unix_ms),
        args.interval_ms
    );
    text.push_str(&query_human(&response, QueryPage::Watch, &layout_for(&args.props), None, width));
    text
}

/// One update as one line of JSON.
pub fn watch_json(update: &WatchUpdate) -> serde_json::Value {
    let response = QueryResponse {
        offers: update.offers.clone(),
        limits_applied: update.limits_applied.clone(),
        matched: update.matched,
        ..QueryResponse::default()
    };
    let query = query_json(&response);
    json!({
        "sequence": update.sequence,
        "at_unix_ms": update.at_unix_ms,
        "offers": query.offers,
        "matched": update.matched,
        "limits_applied": query.limits_applied,
    })
}

/// Clears the terminal and puts the cursor top left, so that each update
/// replaces the last.
const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

pub async fn watch(ctx: &mut Context<'_>, args: &WatchArgs) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let request = WatchRequest { query: Some(watch_query(args)), interval_ms: args.interval_ms };
    // No deadline: the stream lasts until Ctrl-C.
    let mut stream = broker
        .lookup()
        .watch(tonic::Request::new(request))
        .await
        .map_err(|status| match broker.error(status) {
            CliError::Broker(error) => CliError::Broker(
                error.with_expressions(&[("constraint", &args.constraint), ("preference", &args.preference)]),
            ),
            other => other,
        })?
        .into_inner();
    let in_place = ctx.width.is_some() && !ctx.global.json;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let update = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            update = stream.next() => update,
        };
        let update = match update {
            Some(Ok(update)) => update,
            Some(Err(status)) => return Err(broker.error(status)),
            None => {
                return Err(CliError::Unreachable {
                    address: broker.address().to_string(),
                    reason: "the broker ended the watch (shutting down?)".to_string(),
                });
            }
        };
        if ctx.global.json {
            serde_json::to_writer(&mut *ctx.out, &watch_json(&update)).map_err(std::io::Error::from)?;
            ctx.out.write_all(b"\n")?;
        } else {
            let text = watch_human(&update, args, ctx.width);
            if in_place {
                ctx.out.write_all(CLEAR_SCREEN.as_bytes())?;
            } else if update.sequence > 1 {
                ctx.out.write_all(b"\n")?;
            }
            ctx.out.write_all(text.as_bytes())?;
        }
        ctx.out.flush()?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;
    use bourse_proto::{Field, PropertyValue, PropsMode, Record, RecordList, Value, value::Kind};

    fn args(title: Option<&str>, constraint: &str, props: DesiredProps) -> PickArgs {
        PickArgs {
            service_type: "MediaServer".into(),
            constraint: constraint.into(),
            preference: String::new(),
            props,
            title: title.map(String::from),
            offer_ids: vec![],
            reserve: 30,
            client: "me".into(),
            policies: vec![],
        }
    }

    #[test]
    fn titles_restrict_the_pick_and_ask_for_movies() {
        assert_eq!(pick_constraint(&args(None, " load < 1 ", DesiredProps::All)), "load < 1");
        assert_eq!(pick_constraint(&args(Some("It's"), "", DesiredProps::All)), r"'It\'s' in titles");
        let named = args(Some("M"), "a or b", DesiredProps::Named(vec!["host".into()]));
        assert_eq!(pick_constraint(&named), "'M' in titles and (a or b)");
        let request = pick_request(&named);
        assert_eq!(request.desired.unwrap().names, ["host", "movies"]);
        assert_eq!((request.client.as_str(), request.reservation_seconds), ("me", 30));
        let none = pick_request(&args(Some("M"), "", DesiredProps::None)).desired.unwrap();
        assert_eq!((none.mode, none.names), (PropsMode::Named as i32, vec!["movies".to_string()]));
        let all = pick_request(&args(Some("M"), "", DesiredProps::All)).desired.unwrap();
        assert_eq!(all.mode, PropsMode::All as i32);
    }

    #[test]
    fn picks_print_the_endpoint_first() {
        let record = Record {
            fields: vec![
                Field { name: "name".into(), value: Some(Value::string("M")) },
                Field { name: "play_url".into(), value: Some(Value::string("rtsp://a/m")) },
            ],
        };
        let reply = PickResponse {
            offer: Some(MatchedOffer {
                id: "o1".into(),
                r#type: "MediaServer".into(),
                reference: "rtsp://a/".into(),
                properties: vec![PropertyValue {
                    name: "movies".into(),
                    value: Some(Value { kind: Some(Kind::RecordList(RecordList { records: vec![record] })) }),
                }],
            }),
            reservation_id: "r1".into(),
            reservation_seconds: 10,
            reservation_expires_unix_ms: 0,
            candidates: 2,
        };
        assert_eq!(
            pick_human(&reply, Some("M")),
            "rtsp://a/m\noffer        o1 (rtsp://a/)\nreservation  r1 for 10 s, until 1970-01-01 00:00:00 UTC\ncandidates   2\n"
        );
        assert!(pick_human(&reply, None).starts_with("rtsp://a/\n"));
        assert!(pick_human(&reply, Some("other")).starts_with("rtsp://a/\n"));
        let json = pick_json(&reply, Some("M"));
        assert_eq!(json["endpoint"], "rtsp://a/m");
        assert_eq!(json["reservation"]["id"], "r1");
        assert_eq!(json["offer"]["properties"]["movies"][0]["play_url"], "rtsp://a/m");
    }

    #[test]
    fn no_room_is_explained() {
        let status = tonic::Status::resource_exhausted("no offer of 'MediaServer' has room");
        let error =
            explain_pick_error(crate::error::status_error("b", status), &args(None, "", DesiredProps::All));
        assert_eq!(error.exit_code(), 1);
        assert!(error.to_string().starts_with("no server has room for one more stream"), "{error}");
    }
}
