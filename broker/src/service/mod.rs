//! The gRPC services of the broker: Lookup, Register, TypeRepository and
//! Admin, thin adapters from `bourse.v1` messages to `Trader` calls.
//!
//! Invariant: this is the only module that imports the generated proto
//! types; everything it calls works on domain types.

pub mod convert;
pub mod status;

use std::sync::Arc;

use bourse_proto as pb;
use tonic::{Request, Response, Status};

use crate::error::TraderError;
use crate::pick::PickArgs;
use crate::query::QueryArgs;
use crate::trader::{ExportArgs, Trader};
use convert::*;
use status::to_status;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

/// Shared by the four services.
#[derive(Clone)]
pub struct TraderService {
    trader: Arc<Trader>,
    /// Cancelled when the broker shuts down; ends Watch streams.
    shutdown: CancellationToken,
}

impl TraderService {
    pub fn new(trader: Arc<Trader>, shutdown: CancellationToken) -> Self {
        TraderService { trader, shutdown }
    }
}

fn query_args(req: pb::QueryRequest) -> Result<QueryArgs, Status> {
    required("type", &req.r#type)?;
    Ok(QueryArgs {
        type_name: req.r#type,
        constraint: req.constraint,
        preference: req.preference,
        policies: policies_from_pb(req.policies).map_err(to_status)?,
        desired: desired_from_pb(req.desired).map_err(to_status)?,
        how_many: req.how_many,
        offer_ids: Vec::new(),
    })
}

/// Most offer ids a Pick may name.
const MAX_PICK_OFFER_IDS: usize = 1000;

fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, Status> {
    if value.is_empty() {
        Err(Status::invalid_argument(format!("{field} must not be empty")))
    } else {
        Ok(value)
    }
}

#[tonic::async_trait]
impl pb::lookup_server::Lookup for TraderService {
    type WatchStream = ReceiverStream<Result<pb::WatchUpdate, Status>>;

    async fn query(&self, request: Request<pb::QueryRequest>) -> Result<Response<pb::QueryResponse>, Status> {
        let args = query_args(request.into_inner())?;
        let result = self.trader.query(args).await.map_err(to_status)?;
        Ok(Response::new(query_result_to_pb(&result)))
    }

    async fn next_page(
        &self,
        request: Request<pb::NextPageRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        let req = request.into_inner();
        required("page_token", &req.page_token)?;
        let result = self.trader.next_page(&req.page_token, req.how_many).await.map_err(to_status)?;
        Ok(Response::new(query_result_to_pb(&result)))
    }

    async fn pick(&self, request: Request<pb::PickRequest>) -> Result<Response<pb::PickResponse>, Status> {
        let peer = request.remote_addr();
        let req = request.into_inner();
        if req.offer_ids.len() > MAX_PICK_OFFER_IDS {
            return Err(Status::invalid_argument(format!(
                "offer_ids: {} ids given, at most {MAX_PICK_OFFER_IDS} allowed",
                req.offer_ids.len()
            )));
        }
        if let Some(at) = req.offer_ids.iter().position(String::is_empty) {
            return Err(Status::invalid_argument(format!("offer_ids[{at}] must not be empty")));
        }
        let mut query = query_args(pb::QueryRequest {
            r#type: req.r#type,
            constraint: req.constraint,
            preference: req.preference,
            policies: req.policies,
            desired: req.desired,
            how_many: 1,
        })?;
        query.offer_ids = req.offer_ids;
        let client = if req.client.is_empty() {
            peer.map_or_else(|| "unknown".to_string(), |addr| addr.ip().to_string())
        } else {
            req.client
        };
        let picked = self
            .trader
            .pick(PickArgs { query, client, reservation_seconds: req.reservation_seconds })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::PickResponse {
            offer: Some(matched_to_pb(&picked.offer)),
            reservation_id: picked.reservation_id,
            reservation_seconds: picked.reservation_seconds,
            reservation_expires_unix_ms: picked.expires_unix_ms,
            candidates: picked.candidates,
        }))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        let req = request.into_inner();
        self.trader.release(required("reservation_id", &req.reservation_id)?).map_err(to_status)?;
        Ok(Response::new(pb::ReleaseResponse {}))
    }

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let req = request.into_inner();
        let mut args = query_args(req.query.ok_or_else(|| Status::invalid_argument("query must be set"))?)?;
        let settings = self.trader.settings();
        let interval_ms =
            u64::from(req.interval_ms).clamp(settings.watch_min_interval_ms, settings.watch_max_interval_ms);
        // Each update re-evaluates dynamic properties unless the client
        // said how stale they may be.
        if !args.policies.iter().any(|(name, _)| name == "max_staleness_ms") {
            args.policies.push(("max_staleness_ms".into(), crate::value::Value::UInt(interval_ms / 2)));
        }
        // The first update is computed here, so a bad query fails the call.
        let first = self.trader.watch_update(args.clone()).await.map_err(to_status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let trader = self.trader.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut sequence = 0u64;
            let mut next = Some(Ok(first));
            let mut ticker = tokio::time::interval(std::time::Duration::from_millis(interval_ms));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                let update = match next.take() {
                    Some(update) => update,
                    None => trader.watch_update(args.clone()).await,
                };
                sequence += 1;
                let message = update.map_err(to_status).map(|(offers, limits, matched)| pb::WatchUpdate {
                    offers: offers.iter().map(matched_to_pb).collect(),
                    sequence,
                    at_unix_ms: trader.clock.unix_ms(trader.clock.now_ms()),
                    limits_applied: limits.iter().map(limit_to_pb).collect(),
                    matched,
                });
                let failed = message.is_err();
                tokio::select! {
                    sent = tx.send(message) => if sent.is_err() { break },
                    () = shutdown.cancelled() => break,
                }
                if failed {
                    break;
                }
                tokio::select! {
                    _ = ticker.tick() => {}
                    () = tx.closed() => break,
                    () = shutdown.cancelled() => break,
                }
            }
            tracing::debug!(updates = sequence, "watch ended");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[tonic::async_trait]
impl pb::register_server::Register for TraderService {
    async fn export(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<pb::ExportResponse>, Status> {
        let peer = request.remote_addr();
        let req = request.into_inner();
        required("type", &req.r#type)?;
        let props =
            req.properties.into_iter().map(prop_from_pb).collect::<Result<Vec<_>, _>>().map_err(to_status)?;
        let owner = if req.owner.is_empty() {
            peer.map_or_else(|| "unknown".to_string(), |addr| format!("peer:{}", addr.ip()))
        } else {
            req.owner
        };
        let exported = self
            .trader
            .export(ExportArgs {
                type_name: req.r#type,
                reference: req.reference,
                props,
                lease_seconds: req.lease_seconds,
                owner,
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ExportResponse { id: exported.id, lease_seconds: exported.lease_seconds }))
    }

    async fn withdraw(
        &self,
        request: Request<pb::WithdrawRequest>,
    ) -> Result<Response<pb::WithdrawResponse>, Status> {
        let req = request.into_inner();
        self.trader.withdraw(required("id", &req.id)?).await.map_err(to_status)?;
        Ok(Response::new(pb::WithdrawResponse {}))
    }

    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        let req = request.into_inner();
        let offer = self.trader.describe(required("id", &req.id)?).map_err(to_status)?;
        Ok(Response::new(pb::DescribeResponse { offer: Some(offer_to_pb(&offer, &self.trader.clock)) }))
    }

    async fn modify(
        &self,
        request: Request<pb::ModifyRequest>,
    ) -> Result<Response<pb::ModifyResponse>, Status> {
        let req = request.into_inner();
        required("id", &req.id)?;
        let modify =
            req.modify.into_iter().map(prop_from_pb).collect::<Result<Vec<_>, _>>().map_err(to_status)?;
        let offer = self.trader.modify(&req.id, req.delete, modify).await.map_err(to_status)?;
        Ok(Response::new(pb::ModifyResponse { offer: Some(offer_to_pb(&offer, &self.trader.clock)) }))
    }

    async fn withdraw_using_constraint(
        &self,
        request: Request<pb::WithdrawUsingConstraintRequest>,
    ) -> Result<Response<pb::WithdrawUsingConstraintResponse>, Status> {
        let req = request.into_inner();
        required("type", &req.r#type)?;
        let withdrawn =
            self.trader.withdraw_using_constraint(&req.r#type, &req.constraint).await.map_err(to_status)?;
        Ok(Response::new(pb::WithdrawUsingConstraintResponse { withdrawn }))
    }

    async fn keep_alive(
        &self,
        request: Request<pb::KeepAliveRequest>,
    ) -> Result<Response<pb::KeepAliveResponse>, Status> {
        let req = request.into_inner();
        let (lease_seconds, expires) =
            self.trader.keep_alive(required("id", &req.id)?, req.lease_seconds).map_err(to_status)?;
        Ok(Response::new(pb::KeepAliveResponse { lease_seconds, lease_expires_unix_ms: expires }))
    }
}

#[tonic::async_trait]
impl pb::type_repository_server::TypeRepository for TraderService {
    async fn add_type(
        &self,
        request: Request<pb::AddTypeRequest>,
    ) -> Result<Response<pb::AddTypeResponse>, Status> {
        let decl = request.into_inner().r#type.ok_or_else(|| Status::invalid_argument("type must be set"))?;
        let decl = service_type_from_pb(decl).map_err(to_status)?;
        let incarnation = self.trader.add_type(decl).await.map_err(to_status)?;
        Ok(Response::new(pb::AddTypeResponse { incarnation }))
    }

    async fn remove_type(
        &self,
        request: Request<pb::RemoveTypeRequest>,
    ) -> Result<Response<pb::RemoveTypeResponse>, Status> {
        let req = request.into_inner();
        self.trader.remove_type(required("name", &req.name)?).await.map_err(to_status)?;
        Ok(Response::new(pb::RemoveTypeResponse {}))
    }

    async fn describe_type(
        &self,
        request: Request<pb::DescribeTypeRequest>,
    ) -> Result<Response<pb::ServiceType>, Status> {
        let req = request.into_inner();
        let decl = self.trader.describe_type(required("name", &req.name)?).map_err(to_status)?;
        Ok(Response::new(service_type_to_pb(&decl)))
    }

    async fn fully_describe_type(
        &self,
        request: Request<pb::DescribeTypeRequest>,
    ) -> Result<Response<pb::ServiceType>, Status> {
        let req = request.into_inner();
        let decl = self.trader.fully_describe_type(required("name", &req.name)?).map_err(to_status)?;
        Ok(Response::new(service_type_to_pb(&decl)))
    }

    async fn list_types(
        &self,
        request: Request<pb::ListTypesRequest>,
    ) -> Result<Response<pb::ListTypesResponse>, Status> {
        let (names, incarnation) = self.trader.list_types(request.into_inner().since_incarnation);
        Ok(Response::new(pb::ListTypesResponse { names, incarnation }))
    }

    async fn mask_type(
        &self,
        request: Request<pb::MaskTypeRequest>,
    ) -> Result<Response<pb::MaskTypeResponse>, Status> {
        let req = request.into_inner();
        let incarnation =
            self.trader.set_type_masked(required("name", &req.name)?, true).await.map_err(to_status)?;
        Ok(Response::new(pb::MaskTypeResponse { incarnation }))
    }

    async fn unmask_type(
        &self,
        request: Request<pb::MaskTypeRequest>,
    ) -> Result<Response<pb::MaskTypeResponse>, Status> {
        let req = request.into_inner();
        let incarnation =
            self.trader.set_type_masked(required("name", &req.name)?, false).await.map_err(to_status)?;
        Ok(Response::new(pb::MaskTypeResponse { incarnation }))
    }
}

/// Largest page of ListOffers.
const MAX_LIST_PAGE: usize = 1000;

#[tonic::async_trait]
impl pb::admin_server::Admin for TraderService {
    async fn get_policies(
        &self,
        _: Request<pb::GetPoliciesRequest>,
    ) -> Result<Response<pb::PolicySettings>, Status> {
        Ok(Response::new(settings_to_pb(&self.trader.settings())))
    }

    async fn set_policies(
        &self,
        request: Request<pb::SetPoliciesRequest>,
    ) -> Result<Response<pb::SetPoliciesResponse>, Status> {
        let patch = request.into_inner().settings.unwrap_or_default();
        let updated = settings_patch(self.trader.settings(), patch).map_err(to_status)?;
        let previous = self.trader.set_settings(updated.clone()).map_err(to_status)?;
        tracing::info!(?updated, "policy settings changed");
        Ok(Response::new(pb::SetPoliciesResponse {
            previous: Some(settings_to_pb(&previous)),
            current: Some(settings_to_pb(&updated)),
        }))
    }

    async fn list_offers(
        &self,
        request: Request<pb::ListOffersRequest>,
    ) -> Result<Response<pb::ListOffersResponse>, Status> {
        let req = request.into_inner();
        let size = match req.page_size {
            0 => 100,
            n => (n as usize).min(MAX_LIST_PAGE),
        };
        let type_name = (!req.r#type.is_empty()).then_some(req.r#type.as_str());
        // One more than asked tells whether another page exists.
        let mut offers = self.trader.list_offers(&req.page_token, size + 1, type_name);
        let next_page_token = if offers.len() > size {
            offers.truncate(size);
            offers.last().map(|o| o.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListOffersResponse {
            offers: offers.iter().map(|o| offer_to_pb(o, &self.trader.clock)).collect(),
            next_page_token,
        }))
    }

    async fn stats(&self, _: Request<pb::StatsRequest>) -> Result<Response<pb::StatsResponse>, Status> {
        let s = self.trader.stats_snapshot();
        Ok(Response::new(pb::StatsResponse {
            offers: s.offers,
            leased_offers: s.leased_offers,
            types: s.types,
            queries: s.queries,
            exports: s.exports,
            withdrawals: s.withdrawals,
            lease_expiries: s.lease_expiries,
            open_pages: s.open_pages,
            uptime_seconds: s.uptime_seconds,
            counters: s.counters,
        }))
    }
}

impl From<TraderError> for Status {
    fn from(err: TraderError) -> Status {
        to_status(err)
    }
}
