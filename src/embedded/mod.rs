//! The embedded S3 store: an S3-compatible HTTP server inside the s3ftpd process.
//!
//! Built on `s3s` (HTTP, SigV4, XML) with a backend of our own over a data
//! directory ([`disk`]). It exists so that `s3ftpd` runs with no other
//! service and so that tests have a real S3 server; the gateway reaches it
//! through `aws-sdk-s3` over HTTP like any other endpoint. It keeps the S3
//! semantics the gateway relies on: flat keys (`d/` is an ordinary object,
//! `f` beside `f/child`), ListObjectsV2 with prefix, delimiter, max-keys and
//! continuation in UTF-8 byte order, ranged GET, CopyObject, DeleteObjects,
//! multipart with UploadPartCopy.

mod attrs;
mod buckets;
mod disk;
mod hooks;
mod list;
mod multipart;
mod objects;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::dto as d;
use s3s::service::S3ServiceBuilder;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use hooks::TestHooks;

pub use disk::encode_name;
pub use list::{ListParams, Listed, Page, Resume, list_page};

/// The `S3` trait implementation over a [`disk::Disk`].
#[derive(Debug)]
pub struct EmbeddedStore {
    disk: Arc<disk::Disk>,
    uploads: Mutex<HashMap<String, multipart::Upload>>,
    hooks: Arc<TestHooks>,
}

impl EmbeddedStore {
    fn bucket(&self, name: &str) -> S3Result<Arc<disk::Bucket>> {
        self.disk
            .bucket(name)
            .ok_or_else(|| s3_error!(NoSuchBucket))
    }
}

macro_rules! delegate {
    ($($name:ident => $imp:ident : $input:ty => $output:ty;)*) => {
        #[async_trait::async_trait]
        impl s3s::S3 for EmbeddedStore {
            $(
                async fn $name(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    let _counted = self.hooks.enter().await;
                    self.$imp(req).await
                }
            )*
        }
    };
}

delegate! {
    create_bucket => do_create_bucket : d::CreateBucketInput => d::CreateBucketOutput;
    head_bucket => do_head_bucket : d::HeadBucketInput => d::HeadBucketOutput;
    list_buckets => do_list_buckets : d::ListBucketsInput => d::ListBucketsOutput;
    list_objects_v2 => do_list_objects_v2 : d::ListObjectsV2Input => d::ListObjectsV2Output;
    put_object => do_put_object : d::PutObjectInput => d::PutObjectOutput;
    get_object => do_get_object : d::GetObjectInput => d::GetObjectOutput;
    head_object => do_head_object : d::HeadObjectInput => d::HeadObjectOutput;
    copy_object => do_copy_object : d::CopyObjectInput => d::CopyObjectOutput;
    delete_object => do_delete_object : d::DeleteObjectInput => d::DeleteObjectOutput;
    delete_objects => do_delete_objects : d::DeleteObjectsInput => d::DeleteObjectsOutput;
    get_object_acl => do_get_object_acl : d::GetObjectAclInput => d::GetObjectAclOutput;
    create_multipart_upload => do_create_multipart_upload : d::CreateMultipartUploadInput => d::CreateMultipartUploadOutput;
    upload_part => do_upload_part : d::UploadPartInput => d::UploadPartOutput;
    upload_part_copy => do_upload_part_copy : d::UploadPartCopyInput => d::UploadPartCopyOutput;
    complete_multipart_upload => do_complete_multipart_upload : d::CompleteMultipartUploadInput => d::CompleteMultipartUploadOutput;
    abort_multipart_upload => do_abort_multipart_upload : d::AbortMultipartUploadInput => d::AbortMultipartUploadOutput;
    list_multipart_uploads => do_list_multipart_uploads : d::ListMultipartUploadsInput => d::ListMultipartUploadsOutput;
}

/// A running embedded S3 server.
#[derive(Debug)]
pub struct EmbeddedS3 {
    /// `http://127.0.0.1:port`
    pub endpoint: String,
    /// Access key the server accepts.
    pub access_key: String,
    /// Secret key the server accepts.
    pub secret_key: String,
    disk: Arc<disk::Disk>,
    shutdown: CancellationToken,
    tasks: tokio_util::task::TaskTracker,
    #[cfg(feature = "test-hooks")]
    hooks: Arc<TestHooks>,
}

impl EmbeddedS3 {
    /// Opens `data_dir`, creates each of `buckets` if missing and serves S3 on `listen`
    /// until [`EmbeddedS3::stop`] or the process ends.
    ///
    /// # Errors
    /// When the directory cannot be used or the address cannot be bound.
    pub async fn start(
        data_dir: &Path,
        listen: SocketAddr,
        buckets: &[&str],
        access_key: &str,
        secret_key: &str,
    ) -> std::io::Result<Self> {
        let disk = Arc::new(disk::Disk::open(data_dir)?);
        for bucket in buckets {
            disk.create_bucket(bucket)?;
        }
        let hooks = Arc::new(TestHooks::new());
        let store = EmbeddedStore {
            disk: disk.clone(),
            uploads: Mutex::new(HashMap::new()),
            hooks: hooks.clone(),
        };
        let mut builder = S3ServiceBuilder::new(store);
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let service = builder.build();
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let tasks = tokio_util::task::TaskTracker::new();
        let conns = tasks.clone();
        tasks.spawn(async move {
            loop {
                let stream = tokio::select! {
                    () = token.cancelled() => break,
                    r = listener.accept() => match r {
                        Ok((s, _)) => s,
                        Err(e) => {
                            tracing::warn!(error = %e, "embedded S3 accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                // As S3 servers do: a response's headers and a small body
                // leave at once, not after the client's delayed ACK.
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let token = token.clone();
                conns.spawn(async move {
                    let conn = ConnBuilder::new(TokioExecutor::new());
                    let fut = conn.serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        () = token.cancelled() => {}
                        _ = fut => {}
                    }
                });
            }
        });
        Ok(Self {
            endpoint: format!("http://{addr}"),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            disk,
            shutdown,
            tasks,
            #[cfg(feature = "test-hooks")]
            hooks,
        })
    }

    /// Creates `bucket` if missing (a profile a reload added).
    ///
    /// # Errors
    /// On file-system errors.
    pub fn add_bucket(&self, bucket: &str) -> std::io::Result<()> {
        self.disk.create_bucket(bucket).map(drop)
    }

    /// Test hook: from now on, copies whose source key contains `pattern`
    /// fail with InternalError (`None`: none fail).
    #[cfg(feature = "test-hooks")]
    pub fn fail_copies_of(&self, pattern: Option<&str>) {
        self.hooks.fail_copies_of(pattern);
    }

    /// Test hook: from now on, a ListObjectsV2 of exactly `prefix` waits
    /// the given time, then fails with InternalError (`None`: none fail).
    #[cfg(feature = "test-hooks")]
    pub fn fail_listings_of(&self, prefix: Option<(&str, std::time::Duration)>) {
        self.hooks.fail_listings_of(prefix);
    }

    /// Test hook: every request waits `by` before it is handled (`0`: none).
    #[cfg(feature = "test-hooks")]
    pub fn slow_requests(&self, by: std::time::Duration) {
        self.hooks.slow_requests(by);
    }

    /// Test hook: the most requests handled at once since the last call.
    #[cfg(feature = "test-hooks")]
    #[must_use]
    pub fn most_in_flight(&self) -> usize {
        self.hooks.most_in_flight()
    }

    /// Test hook: PutObject ignores `If-Match` and `If-None-Match` from now
    /// on, as Garage 2.5 does (the gateway learns it at its start).
    #[cfg(feature = "test-hooks")]
    pub fn ignore_conditions(&self, on: bool) {
        self.hooks.set_ignore_conditions(on);
    }

    /// Test hook: the smallest multipart part accepted before the last one
    /// (S3 and the default: 5 MiB).
    #[cfg(feature = "test-hooks")]
    pub fn set_min_part_size(&self, bytes: u64) {
        self.hooks.set_min_part_size(bytes);
    }

    /// Stops serving: new requests are refused, open connections dropped.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// Stops serving and waits until the listener and every open connection are gone.
    pub async fn shutdown(&self) {
        self.stop();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        self.stop();
    }
}
