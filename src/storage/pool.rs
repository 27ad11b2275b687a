//! A cap on S3 connections: `s3.max_connections` requests (and so
//! connections) at once, across every session and every storage profile,
//! each endpoint within its share (see `connect`). A request waits for a
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

/// The HTTPS client behind two caps: the places of this endpoint's share
/// and those of the whole gateway (`s3.max_connections`, see `connect`).
#[derive(Debug, Clone)]
pub struct CappedClient {
    inner: SharedHttpClient,
    places: Places,
}

/// A request's two caps: its endpoint's share, then the whole.
#[derive(Debug, Clone)]
struct Places {
    all: Arc<Semaphore>,
    share: Arc<Semaphore>,
}

impl CappedClient {
    /// A client whose requests take a place of `share`, then one of `all`.
    #[must_use]
    pub fn new(all: Arc<Semaphore>, share: Arc<Semaphore>) -> Self {
        Self {
            inner: https_client(),
            places: Places { all, share },
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
    places: Places,
}

impl HttpConnector for CappedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, places) = (self.inner.clone(), self.places.clone());
        HttpConnectorFuture::new(async move {
            // The share first: an endpoint whose requests all wait never
            // holds more of the whole than its share.
            let share = places.share.acquire_owned().await.expect("never closed");
            let all = places.all.acquire_owned().await.expect("never closed");
            let mut response = inner.call(request).await?;
            let body = response.take_body();
            *response.body_mut() = SdkBody::from_body_1_x(Held {
                body,
                _places: (share, all),
            });
            Ok(response)
        })
    }
}

/// A response body that holds its places until it is dropped.
struct Held {
    body: SdkBody,
    _places: (OwnedSemaphorePermit, OwnedSemaphorePermit),
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
