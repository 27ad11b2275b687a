//! Bucket-level requests of the embedded store: CreateBucket, HeadBucket,
//! ListBuckets, and ListObjectsV2 (prefix, delimiter, max-keys and
//! continuation in UTF-8 byte order; [`super::list`] pages the keys).

use s3s::dto::{
    Bucket as DtoBucket, CommonPrefix, CreateBucketInput, CreateBucketOutput, ETag,
    HeadBucketInput, HeadBucketOutput, ListBucketsInput, ListBucketsOutput, ListObjectsV2Input,
    ListObjectsV2Output, Object, Timestamp,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::EmbeddedStore;
use super::list::{ListParams, Listed, Resume, list_page};
use super::objects::{io_err, ts};

impl EmbeddedStore {
    pub(super) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        match self.disk.create_bucket(&req.input.bucket) {
            Ok(true) => Ok(S3Response::new(CreateBucketOutput::default())),
            Ok(false) => Err(s3_error!(BucketAlreadyOwnedByYou)),
            Err(e) => Err(io_err(&e)),
        }
    }

    pub(super) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    pub(super) async fn do_list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .disk
            .buckets()
            .into_iter()
            .map(|(name, created)| DtoBucket {
                name: Some(name),
                creation_date: Some(Timestamp::from(created)),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let bucket = self.bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        self.hooks.check_list(&prefix).await?;
        let max_keys = usize::try_from(input.max_keys.unwrap_or(1000).clamp(0, 1000)).unwrap_or(0);
        let resume = resume_from(input.continuation_token.as_deref())?;
        let params = ListParams {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            max_keys,
            token: input.continuation_token.as_deref(),
            start_after: input.start_after.as_deref(),
        };
        let floor = match (&resume, &input.start_after) {
            (Some(r), _) => r.floor().max(prefix.as_str()).to_owned(),
            (None, Some(s)) => s.as_str().max(prefix.as_str()).to_owned(),
            (None, None) => prefix.clone(),
        };
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let enc = |s: String| if url { url_encode(&s) } else { s };
        // Under the read lock: scan from the floor, and turn the page into
        // S3's DTOs directly (no metadata is cloned for skipped keys).
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        let next_token = {
            let index = bucket.index.read().expect("index poisoned");
            let keys = index.range(floor..).map(|(k, m)| (k.clone(), m));
            let page = list_page(keys, &params, resume.as_ref());
            for e in page.entries {
                match e {
                    Listed::Key(k, m) => contents.push(Object {
                        key: Some(enc(k)),
                        size: Some(i64::try_from(m.size).unwrap_or(i64::MAX)),
                        e_tag: Some(ETag::Strong(m.etag.clone())),
                        last_modified: Some(ts(m)),
                        storage_class: Some(m.attrs.listed_class().into()),
                        ..Default::default()
                    }),
                    Listed::Prefix(p) => prefixes.push(CommonPrefix {
                        prefix: Some(enc(p)),
                    }),
                }
            }
            page.next_token
        };
        let key_count = i32::try_from(contents.len() + prefixes.len()).unwrap_or(i32::MAX);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(prefix)),
            delimiter: input.delimiter.map(enc),
            max_keys: input.max_keys.or(Some(1000)),
            key_count: Some(key_count),
            is_truncated: Some(next_token.is_some()),
            continuation_token: input.continuation_token,
            next_continuation_token: next_token,
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            start_after: input.start_after,
            ..Default::default()
        }))
    }
}

/// The place a ListObjectsV2 continuation token names.
fn resume_from(token: Option<&str>) -> S3Result<Option<Resume>> {
    token
        .map(|t| {
            Resume::from_token(t).ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "The continuation token provided is incorrect"
                )
            })
        })
        .transpose()
}

/// `encoding-type=url`: names percent-encoded.
fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
