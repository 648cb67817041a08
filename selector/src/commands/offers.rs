//! Offer commands of the Register service: export, describe, modify,
//! withdraw, withdraw-matching and keepalive.

use bourse_proto::{
    DescribeRequest, DescribeTypeRequest, ExportRequest, KeepAliveRequest, ModifyRequest, Offer, ServiceType,
    WithdrawRequest, WithdrawUsingConstraintRequest,
};
use serde_json::json;

use super::{Context, now_unix_ms};
use crate::cli::{ExportArgs, KeepaliveArgs, ModifyArgs, WithdrawMatchingArgs};
use crate::client::Broker;
use crate::error::{BrokerError, CliError};
use crate::render::{format_duration, format_lease, format_rfc3339, offer_human, offer_json};
use crate::values::build_properties;

/// The type with its inherited properties, to type property values by.
async fn full_type(broker: &Broker, name: &str) -> Result<ServiceType, CliError> {
    let reply = broker
        .types()
        .fully_describe_type(broker.request(DescribeTypeRequest { name: name.to_string() }))
        .await
        .map_err(|s| broker.error(s))?;
    Ok(reply.into_inner())
}

async fn fetch_offer(broker: &Broker, id: &str) -> Result<Offer, CliError> {
    let reply = broker
        .register()
        .describe(broker.request(DescribeRequest { id: id.to_string() }))
        .await
        .map_err(|s| broker.error(s))?;
    reply.into_inner().offer.ok_or_else(|| missing_field("Describe", "offer"))
}

/// A reply that lacks a field the contract promises.
fn missing_field(call: &str, field: &str) -> CliError {
    CliError::Broker(BrokerError::protocol(format!("the broker's {call} reply has no {field}")))
}

fn show_offer(ctx: &mut Context<'_>, offer: &Offer) -> Result<(), CliError> {
    let now = now_unix_ms();
    ctx.emit(|width| offer_human(offer, now, width), || offer_json(offer))
}

pub async fn export(ctx: &mut Context<'_>, args: &ExportArgs) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let service_type = full_type(&broker, &args.service_type).await?;
    let properties = build_properties(
        &args.properties.props,
        &args.properties.dynamics,
        args.properties.max_age_ms,
        &service_type,
    )?;
    let request = ExportRequest {
        r#type: args.service_type.clone(),
        reference: args.reference.clone(),
        properties,
        lease_seconds: args.lease,
        owner: args.owner.clone(),
    };
    let reply =
        broker.register().export(broker.request(request)).await.map_err(|s| broker.error(s))?.into_inner();
    ctx.emit(
        |_| format!("{}\n", reply.id),
        || json!({ "id": reply.id, "lease_seconds": reply.lease_seconds }),
    )
}

pub async fn describe(ctx: &mut Context<'_>, id: &str) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let offer = fetch_offer(&broker, id).await?;
    show_offer(ctx, &offer)
}

pub async fn modify(ctx: &mut Context<'_>, args: &ModifyArgs) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let properties = if args.properties.props.is_empty() && args.properties.dynamics.is_empty() {
        Vec::new()
    } else {
        let offer = fetch_offer(&broker, &args.id).await?;
        let service_type = full_type(&broker, &offer.r#type).await?;
        build_properties(
            &args.properties.props,
            &args.properties.dynamics,
            args.properties.max_age_ms,
            &service_type,
        )?
    };
    if properties.is_empty() && args.delete.is_empty() {
        return Err(CliError::Usage("nothing to modify: give --prop, --dynamic or --delete".to_string()));
    }
    let request = ModifyRequest { id: args.id.clone(), delete: args.delete.clone(), modify: properties };
    let reply = broker.register().modify(broker.request(request)).await.map_err(|s| broker.error(s))?;
    let offer = reply.into_inner().offer.ok_or_else(|| missing_field("Modify", "offer"))?;
    show_offer(ctx, &offer)
}

pub async fn withdraw(ctx: &mut Context<'_>, id: &str) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    broker
        .register()
        .withdraw(broker.request(WithdrawRequest { id: id.to_string() }))
        .await
        .map_err(|s| broker.error(s))?;
    ctx.emit(|_| format!("withdrew {id}\n"), || json!({ "withdrawn": [id], "count": 1 }))
}

pub async fn withdraw_matching(ctx: &mut Context<'_>, args: &WithdrawMatchingArgs) -> Result<(), CliError> {
    if args.constraint.trim().is_empty() {
        return Err(CliError::Usage("withdraw-matching needs a non-empty constraint".to_string()));
    }
    let broker = ctx.connect().await?;
    let request = WithdrawUsingConstraintRequest {
        r#type: args.service_type.clone(),
        constraint: args.constraint.clone(),
    };
    let reply =
        broker.register().withdraw_using_constraint(broker.request(request)).await.map_err(|status| {
            match broker.error(status) {
                CliError::Broker(error) => {
                    CliError::Broker(error.with_expressions(&[("constraint", &args.constraint)]))
                }
                other => other,
            }
        })?;
    let withdrawn = reply.into_inner().withdrawn;
    ctx.emit(
        |_| {
            let mut text: String = withdrawn.iter().map(|id| format!("{id}\n")).collect();
            let n = withdrawn.len();
            text.push_str(&format!("{n} offer{} withdrawn\n", if n == 1 { "" } else { "s" }));
            text
        },
        || json!({ "withdrawn": withdrawn, "count": withdrawn.len() }),
    )
}

pub async fn keepalive(ctx: &mut Context<'_>, args: &KeepaliveArgs) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let request = KeepAliveRequest { id: args.id.clone(), lease_seconds: args.lease };
    let reply = broker
        .register()
        .keep_alive(broker.request(request))
        .await
        .map_err(|s| broker.error(s))?
        .into_inner();
    let now = now_unix_ms();
    ctx.emit(
        |_| {
            format!(
                "lease {}, expires {}\n",
                format_duration(reply.lease_seconds),
                format_lease(reply.lease_expires_unix_ms, now)
            )
        },
        || {
            json!({
                "id": args.id,
                "lease_seconds": reply.lease_seconds,
                "lease_expires_unix_ms": reply.lease_expires_unix_ms,
                "lease_expires": format_rfc3339(reply.lease_expires_unix_ms),
            })
        },
    )
}
