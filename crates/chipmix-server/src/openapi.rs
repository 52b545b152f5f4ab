//! The OpenAPI document, generated from the handlers' annotations.

use crate::{api, db, diff, engine, error, jobs};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chipmix API",
        description = "Portfolios, catalog overrides, plans, risk jobs and exports. Every route under /api/v1 needs `Authorization: Bearer <token>`: reads the viewer role, writes the editor role, tokens the admin role.",
    ),
    paths(
        api::healthz,
        api::metrics,
        api::openapi,
        api::catalog_chips,
        api::catalog_offerings,
        api::post_override,
        api::list_overrides,
        api::create_portfolio,
        api::update_portfolio,
        api::list_portfolios,
        api::get_portfolio,
        api::list_versions,
        api::create_plan,
        api::get_plan,
        api::list_plans,
        api::diff_plans,
        api::export_kueue,
        api::export_skypilot,
        api::create_job,
        api::get_job,
        api::cancel_job,
        api::create_token,
        api::list_tokens,
        api::revoke_token,
    ),
    components(schemas(
        error::ErrorBody,
        engine::Located,
        engine::ExportFile,
        engine::ExportResponse,
        db::TokenInfo,
        db::VersionMeta,
        db::PortfolioSummary,
        diff::PlanDiff,
        diff::AllocationDelta,
        diff::ShareDelta,
        jobs::JobKind,
        jobs::LeverageParams,
        jobs::StressParams,
        jobs::SweepParams,
        jobs::MonteCarloParams,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness, metrics and this document; no token"),
        (name = "catalog", description = "Chips and offerings; override files"),
        (name = "portfolios", description = "Portfolio files, versioned"),
        (name = "plans", description = "Solved, verified, stored plans"),
        (name = "exports", description = "Plans as Kueue objects and SkyPilot tasks"),
        (name = "jobs", description = "Background risk analyses"),
        (name = "tokens", description = "Bearer tokens and roles"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("cmx_<64 hex digits>")
                        .build(),
                ),
            );
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc
}
