//! The gateway's outbox in S3: small objects under `<root>.s3ftpd/outbox/`
//! of one profile (the default), written and read by the event layer. This
//! file only moves them; what they mean is `events::outbox`'s business.

use time::OffsetDateTime;

use super::mtime::to_time;
use super::{ObjectBody, RESERVED_DIR, Storage, StorageError, conditional};

/// One object of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its name below `outbox/` (`g-…/evt_….json`, `g-….alive`).
    pub name: String,
    /// When S3 stored it.
    pub modified: OffsetDateTime,
}

impl Storage {
    fn outbox_key(&self, name: &str) -> String {
        format!("{}{RESERVED_DIR}/outbox/{name}", self.root)
    }

    /// Whether the gateway may write its outbox here.
    #[must_use]
    pub fn outbox_writable(&self) -> bool {
        self.own_writes
    }

    /// Whether a claim is a conditional write S3 honours (else two
    /// gateways may both win one: see `events::outbox`).
    #[must_use]
    pub fn claims_are_exclusive(&self) -> bool {
        self.conditional.honoured()
    }

    /// Writes (or rewrites) one outbox object.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn outbox_put(&self, name: &str, body: bytes::Bytes) -> Result<(), StorageError> {
        let key = self.outbox_key(name);
        self.put_small(&key, body.into(), conditional::Write::Always)
            .await
            .map(drop)
    }

    /// Writes `name` only if it does not exist (`If-None-Match: *`):
    /// `true` when this call made it. Where S3 ignores the condition every
    /// call makes it.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn outbox_claim(&self, name: &str, body: bytes::Bytes) -> Result<bool, StorageError> {
        let key = self.outbox_key(name);
        if self.conditional.refused() {
            return self.outbox_put(name, body).await.map(|()| true);
        }
        Ok(self.put_if_absent(&key, body.into()).await?.is_some())
    }

    /// Reads one outbox object; `None` when it is gone.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn outbox_get(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.outbox_key(name))
            .send()
            .await;
        match got {
            Ok(out) => Ok(Some(
                ObjectBody::new(out.body, self.timeout, "GetObject")
                    .collect()
                    .await?,
            )),
            Err(e) => match self.sdk_error("GetObject", e) {
                StorageError::NotFound => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Removes one outbox object (gone already is fine).
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn outbox_delete(&self, name: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.outbox_key(name))
            .send()
            .await
            .map_err(|e| self.sdk_error("DeleteObject", e))?;
        Ok(())
    }

    /// The objects below `outbox/<under>` and, with `delimited`, the
    /// folders there (names relative to `outbox/`), every page.
    ///
    /// # Errors
    /// On S3 errors.
    pub async fn outbox_list(
        &self,
        under: &str,
        delimited: bool,
    ) -> Result<(Vec<OutboxEntry>, Vec<String>), StorageError> {
        let base = self.outbox_key("");
        let mut objects = Vec::new();
        let mut folders = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(format!("{base}{under}"))
                .set_delimiter(delimited.then(|| "/".to_owned()))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.sdk_error("ListObjectsV2", e))?;
            for o in out.contents() {
                if let Some(name) = o.key().and_then(|k| k.strip_prefix(&base)) {
                    objects.push(OutboxEntry {
                        name: name.to_owned(),
                        modified: to_time(o.last_modified()),
                    });
                }
            }
            for p in out.common_prefixes() {
                if let Some(name) = p.prefix().and_then(|k| k.strip_prefix(&base)) {
                    folders.push(name.to_owned());
                }
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => return Ok((objects, folders)),
            }
        }
    }
}
