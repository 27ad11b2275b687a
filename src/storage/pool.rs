//! A cap on S3 connections: `s3.max_connections` requests (and so
//! connections) at once, across every session. A request waits for a
//! place, within its deadline; the place is held until its response body
//! is read or dropped, so a streamed download counts for as long as it
//! streams. The HTTP client inside is the SDK's own default (hyper,
//! rustls with ring, proxies from the environment).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aws_sdk_s3::config::RuntimeComponents;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The SDK's default HTTPS client behind a semaphore of `max` places.
#[derive(Debug, Clone)]
pub struct CappedClient {
    inner: SharedHttpClient,
    places: Arc<Semaphore>,
}

impl CappedClient {
    /// A client allowing `max` S3 requests at once.
    #[must_use]
    pub fn new(max: usize) -> Self {
        Self {
            inner: https_client(),
            places: Arc::new(Semaphore::new(max)),
        }
    }
}

/// The HTTPS client every AWS request goes through: hyper with rustls
/// (ring), the system's certificate authorities, proxies from the
/// environment. The credential chain (STS, IMDS) uses it bare; S3
/// requests go through a [`CappedClient`] around it.
#[must_use]
pub fn https_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut b = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ));
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.set_proxy_config(Some(ProxyConfig::from_env()));
        b.build()
    })
}

impl HttpClient for CappedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CappedConnector {
            inner: self.inner.http_connector(settings, components),
            places: self.places.clone(),
        })
    }
}

#[derive(Debug)]
struct CappedConnector {
    inner: SharedHttpConnector,
    places: Arc<Semaphore>,
}

impl HttpConnector for CappedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, places) = (self.inner.clone(), self.places.clone());
        HttpConnectorFuture::new(async move {
            let place = places
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let mut response = inner.call(request).await?;
            let body = response.take_body();
            *response.body_mut() = SdkBody::from_body_1_x(Held {
                body,
                _place: place,
            });
            Ok(response)
        })
    }
}

/// A response body that holds its place until it is dropped.
struct Held {
    body: SdkBody,
    _place: OwnedSemaphorePermit,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.body)
    }
}
