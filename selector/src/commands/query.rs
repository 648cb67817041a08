//! `bourse query` and `bourse next-page`: the Lookup service, with paging
//! and the hint that tells how to fetch the offers that remain.

use bourse_proto::{DesiredProps as PbDesiredProps, NextPageRequest, PropsMode, QueryRequest, QueryResponse};

use super::Context;
use crate::cli::{DesiredProps, NextPageArgs, QueryArgs};
use crate::client::Broker;
use crate::error::{BrokerError, CliError};
use crate::render::{QueryLayout, QueryPage, query_human, query_json};

/// Property columns beyond which `next-page` shows blocks instead of a table.
const MAX_TABLE_PROPERTIES: usize = 4;

pub fn query_request(args: &QueryArgs) -> QueryRequest {
    let desired = match &args.props {
        DesiredProps::All => PbDesiredProps { mode: PropsMode::All as i32, names: Vec::new() },
        DesiredProps::None => PbDesiredProps { mode: PropsMode::None as i32, names: Vec::new() },
        DesiredProps::Named(names) => PbDesiredProps { mode: PropsMode::Named as i32, names: names.clone() },
    };
    QueryRequest {
        r#type: args.service_type.clone(),
        constraint: args.constraint.clone(),
        preference: args.preference.clone(),
        policies: args.policies.iter().map(|p| p.0.clone()).collect(),
        desired: Some(desired),
        how_many: args.how_many.unwrap_or(0),
    }
}

/// The layout of a query's offers: blocks when every property is returned,
/// else a table with the named columns.
pub fn layout_for(props: &DesiredProps) -> QueryLayout {
    match props {
        DesiredProps::All => QueryLayout::Blocks,
        DesiredProps::None => QueryLayout::Table(Vec::new()),
        DesiredProps::Named(names) => QueryLayout::Table(names.clone()),
    }
}

/// The layout when the asked-for properties are unknown (`next-page`): a
/// table of the properties the offers have if there are few, else blocks.
pub fn layout_from_offers(response: &QueryResponse) -> QueryLayout {
    let mut names: Vec<String> = Vec::new();
    for property in response.offers.iter().flat_map(|o| &o.properties) {
        if !names.contains(&property.name) {
            names.push(property.name.clone());
        }
    }
    if names.len() <= MAX_TABLE_PROPERTIES { QueryLayout::Table(names) } else { QueryLayout::Blocks }
}

/// The command that fetches the rest of a query, e.g.
/// `bourse next-page 'tok' --how-many 20`. It repeats `--broker` when the
/// user gave one; without, the next command finds the broker as this one
/// did.
pub fn next_page_hint(broker: Option<&str>, token: &str, how_many: Option<u32>) -> String {
    let mut hint = "bourse".to_string();
    if let Some(broker) = broker {
        hint.push_str(&format!(" --broker {}", shell_quote(broker)));
    }
    hint.push_str(&format!(" next-page {}", shell_quote(token)));
    if let Some(n) = how_many {
        hint.push_str(&format!(" --how-many {n}"));
    }
    hint
}

/// `text` as one shell word: unchanged when it is made of safe characters,
/// else in single quotes.
fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.,:/=+@%".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Follows the page token of `first` until no offers remain, appending the
/// offers of every page. The counts and limits stay those of the query;
/// the token and `remaining` become those of the last page.
pub async fn fetch_all_pages(
    broker: &Broker,
    mut first: QueryResponse,
    how_many: u32,
) -> Result<QueryResponse, CliError> {
    while !first.next_page_token.is_empty() {
        let request = NextPageRequest { page_token: first.next_page_token.clone(), how_many };
        let page = broker
            .lookup()
            .next_page(broker.request(request))
            .await
            .map_err(|s| broker.error(s))?
            .into_inner();
        let progressed = !page.offers.is_empty();
        first.offers.extend(page.offers);
        first.next_page_token = page.next_page_token;
        first.remaining = page.remaining;
        if !progressed && !first.next_page_token.is_empty() {
            return Err(CliError::Broker(BrokerError::protocol(
                "the broker returned an empty page with a page token; stopping instead of looping",
            )));
        }
    }
    Ok(first)
}

fn show(
    ctx: &mut Context<'_>,
    response: &QueryResponse,
    layout: &QueryLayout,
    how_many: Option<u32>,
    page: QueryPage,
) -> Result<(), CliError> {
    let hint = (!response.next_page_token.is_empty()).then(|| {
        let command = next_page_hint(ctx.global.broker.as_deref(), &response.next_page_token, how_many);
        if page == QueryPage::First { format!("{command}  (or add --all-pages)") } else { command }
    });
    ctx.emit(|width| query_human(response, page, layout, hint.as_deref(), width), || query_json(response))
}

pub async fn query(ctx: &mut Context<'_>, args: &QueryArgs) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let reply = broker.lookup().query(broker.request(query_request(args))).await.map_err(|status| {
        match broker.error(status) {
            CliError::Broker(error) => CliError::Broker(
                error.with_expressions(&[("constraint", &args.constraint), ("preference", &args.preference)]),
            ),
            other => other,
        }
    })?;
    let mut response = reply.into_inner();
    if args.all_pages {
        response = fetch_all_pages(&broker, response, args.how_many.unwrap_or(0)).await?;
    }
    show(ctx, &response, &layout_for(&args.props), args.how_many, QueryPage::First)
}

pub async fn next_page(ctx: &mut Context<'_>, args: &NextPageArgs) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let request = NextPageRequest { page_token: args.token.clone(), how_many: args.how_many.unwrap_or(0) };
    let mut response =
        broker.lookup().next_page(broker.request(request)).await.map_err(|s| broker.error(s))?.into_inner();
    if args.all_pages {
        response = fetch_all_pages(&broker, response, args.how_many.unwrap_or(0)).await?;
    }
    let layout = layout_from_offers(&response);
    show(ctx, &response, &layout, args.how_many, QueryPage::Later)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::PolicyArg;
    use bourse_proto::{MatchedOffer, Policy, PropertyValue, Value};

    fn args(props: DesiredProps) -> QueryArgs {
        QueryArgs {
            service_type: "MediaServer".into(),
            constraint: "load < 0.5".into(),
            preference: "min load".into(),
            props,
            how_many: Some(5),
            policies: vec![PolicyArg(Policy::new("exact_type_match", Value::bool(true)))],
            all_pages: false,
        }
    }

    #[test]
    fn query_requests_carry_every_argument() {
        let request = query_request(&args(DesiredProps::Named(vec!["host".into(), "load".into()])));
        assert_eq!(request.r#type, "MediaServer");
        assert_eq!((request.constraint.as_str(), request.preference.as_str()), ("load < 0.5", "min load"));
        assert_eq!(request.how_many, 5);
        assert_eq!(request.policies, [Policy::new("exact_type_match", Value::bool(true))]);
        assert_eq!(
            request.desired,
            Some(PbDesiredProps { mode: PropsMode::Named as i32, names: vec!["host".into(), "load".into()] })
        );
        let request = query_request(&QueryArgs { how_many: None, ..args(DesiredProps::None) });
        assert_eq!(request.desired.map(|d| d.mode), Some(PropsMode::None as i32));
        assert_eq!(request.how_many, 0);
        let request = query_request(&args(DesiredProps::All));
        assert_eq!(request.desired.map(|d| d.mode), Some(PropsMode::All as i32));
    }

    #[test]
    fn layouts() {
        assert_eq!(layout_for(&DesiredProps::All), QueryLayout::Blocks);
        assert_eq!(layout_for(&DesiredProps::None), QueryLayout::Table(vec![]));
        assert_eq!(layout_for(&DesiredProps::Named(vec!["a".into()])), QueryLayout::Table(vec!["a".into()]));
        let offer = |names: &[&str]| MatchedOffer {
            properties: names
                .iter()
                .map(|n| PropertyValue { name: (*n).into(), value: Some(Value::int64(1)) })
                .collect(),
            ..MatchedOffer::default()
        };
        let few = QueryResponse {
            offers: vec![offer(&["a", "b"]), offer(&["b", "c"])],
            ..QueryResponse::default()
        };
        assert_eq!(layout_from_offers(&few), QueryLayout::Table(vec!["a".into(), "b".into(), "c".into()]));
        let many =
            QueryResponse { offers: vec![offer(&["a", "b", "c", "d", "e"])], ..QueryResponse::default() };
        assert_eq!(layout_from_offers(&many), QueryLayout::Blocks);
    }

    #[test]
    fn hints_are_commands_to_paste() {
        assert_eq!(next_page_hint(None, "AbC-12_=", None), "bourse next-page AbC-12_=");
        assert_eq!(
            next_page_hint(Some("http://b:7300"), "a b'c", Some(20)),
            r"bourse --broker http://b:7300 next-page 'a b'\''c' --how-many 20"
        );
    }
}
