//! Counts and times every S3 request, whatever code path sends it: an
//! `aws-sdk-s3` interceptor that sees each operation once (retries
//! included in its latency).

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::observe::Metrics;

/// Records `s3ftpd_s3_requests_total` and `s3ftpd_s3_request_duration_seconds`.
#[derive(Debug)]
pub struct S3Metrics(pub Arc<Metrics>);

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for S3Metrics {
    fn name(&self) -> &'static str {
        "s3ftpd-metrics"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        let status = context.response().map(|r| r.status().as_u16());
        let outcome = match (context.output_or_error(), status) {
            (Some(Ok(_)), _) => "ok",
            (_, Some(404)) => "not_found",
            _ => "error",
        };
        self.0
            .s3_requests
            .with_label_values(&[operation, outcome])
            .inc();
        if let Some(Started(t)) = cfg.load::<Started>() {
            self.0
                .s3_seconds
                .with_label_values(&[operation])
                .observe(t.elapsed().as_secs_f64());
        }
        Ok(())
    }
}
