//! The outbox: intents of data events in S3, so that none is lost when a
//! gateway dies between a change and its delivery.
//!
//! Layout, under the default profile's `<root>.s3ftpd/outbox/`:
//! - `g-<owner>.alive` — each gateway's heartbeat, rewritten every
//!   `lease / 3`; `<owner>` is random per process start;
//! - `g-<owner>/<event id>.json` — an intent: the event as known before
//!   the change (an upload's size and checksum come later);
//! - `claims/<event id>` — a take-over in progress.
//!
//! Every `poll`, each gateway lists `outbox/` with a delimiter (one
//! request while nothing is wrong) and takes over the entries of every
//! owner whose heartbeat is older than `lease` (or gone: a gateway that
//! stopped cleanly removes it). A take-over is a claim by conditional
//! write (`If-None-Match: *` on `claims/<id>`): one gateway wins. Where S3
//! ignores the condition (Garage) two gateways polling within the same
//! moment can both win and both deliver — the same event, with the same
//! id, once each; never in a loop, since the winner moves the entry to
//! its own folder before it delivers. The winner asks S3 whether the
//! change happened — an upload by the event id its object carries
//! (`x-amz-meta-s3ftpd-event`), a delete by the key's absence, a rename by
//! the source gone and the target there, a folder by its marker — and
//! delivers the event (`"recovered": true`, facts read from S3 now) or
//! discards it (counted as `not_committed`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{FutureExt, StreamExt};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{Event, Events};
use crate::config;
use crate::storage::{Before, Storage, StorageError, Storages};

/// Entries of a stopped gateway taken over at once (each is a claim, a
/// read, a question to S3, a move and two deletes).
const TAKE_OVERS: usize = 16;

/// A gateway's outbox.
pub(super) struct Outbox {
    storage: Storage,
    owner: String,
    cfg: config::Outbox,
    /// Entries this gateway wrote or took over and has not removed.
    pending: Arc<AtomicUsize>,
    storages: arc_swap::ArcSwap<Storages>,
}

impl Outbox {
    /// The outbox in the default profile's bucket.
    pub(super) fn new(cfg: &config::Outbox, storages: &Storages) -> Result<Self, String> {
        let storage = storages.default_profile().clone();
        if !storage.outbox_writable() {
            return Err("events.webhooks: data events are kept in an outbox in the default profile's bucket (`s3:`) until delivered, and the gateway may not write there (read-only); give the default profile write access or leave data events out of `events:`".into());
        }
        Ok(Self {
            storage,
            owner: format!("g-{:016x}", rand::random::<u64>()),
            cfg: cfg.clone(),
            pending: Arc::new(AtomicUsize::new(0)),
            storages: arc_swap::ArcSwap::from_pointee(storages.clone()),
        })
    }

    pub(super) fn set_storages(&self, storages: &Storages) {
        self.storages.store(Arc::new(storages.clone()));
    }

    fn entry_name(&self, id: &str) -> String {
        format!("{}/{id}.json", self.owner)
    }

    /// Writes this gateway's heartbeat.
    pub(super) async fn heartbeat(&self) -> Result<(), StorageError> {
        let body = format!(
            "{{\"owner\":\"{}\",\"time\":\"{}\"}}",
            self.owner,
            OffsetDateTime::now_utc().unix_timestamp()
        );
        self.storage
            .outbox_put(&format!("{}.alive", self.owner), body.into())
            .await
    }

    /// Removes the heartbeat: other gateways take over what is left.
    pub(super) async fn retire(&self) {
        let _ = self
            .storage
            .outbox_delete(&format!("{}.alive", self.owner))
            .await;
    }

    /// Starts writing the intent of `ev`: its entry's name and the write
    /// to wait for; `None` when the backlog is full.
    pub(super) fn begin(&self, ev: &Event) -> Option<(String, Before)> {
        let n = self.pending.fetch_add(1, Ordering::AcqRel);
        if n >= self.cfg.max_backlog {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let name = self.entry_name(&ev.id);
        let storage = self.storage.clone();
        let body = bytes::Bytes::from(ev.to_json());
        let entry = name.clone();
        let write = tokio::spawn(async move { storage.outbox_put(&entry, body).await });
        let before = async move {
            match write.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        .boxed()
        .shared();
        Some((name, before))
    }

    /// Removes an entry (delivered, or its change did not happen).
    pub(super) fn remove(&self, name: String) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        let storage = self.storage.clone();
        tokio::spawn(async move {
            for pause in [1, 5, 30] {
                match storage.outbox_delete(&name).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(entry = %name, error = %e, "cannot remove a delivered event's outbox entry; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(pause)).await;
                    }
                }
            }
            tracing::warn!(entry = %name, "outbox entry left behind: after this gateway stops, its event is delivered once more (same id)");
        });
    }

    /// The heartbeat every `lease / 3`, the poll every `poll`, until `stop`.
    pub(super) async fn run(self: Arc<Self>, events: Events, stop: CancellationToken) {
        let mut beat = tokio::time::interval(self.cfg.lease.0 / 3);
        let mut poll = tokio::time::interval(self.cfg.poll.0);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = beat.tick() => {
                    if let Err(e) = self.heartbeat().await {
                        tracing::warn!(error = %e, "cannot write the outbox heartbeat; other gateways may deliver this one's events too (same ids)");
                    }
                }
                _ = poll.tick() => {
                    if let Err(e) = self.poll(&events).await {
                        tracing::warn!(error = %e, "cannot poll the event outbox");
                    }
                }
            }
        }
    }

    /// One look for entries of gateways that stopped.
    async fn poll(&self, events: &Events) -> Result<(), StorageError> {
        let (objects, folders) = self.storage.outbox_list("", true).await?;
        let now = OffsetDateTime::now_utc();
        let lease = self.cfg.lease.0;
        let alive: HashMap<&str, OffsetDateTime> = objects
            .iter()
            .filter_map(|o| Some((o.name.strip_suffix(".alive")?, o.modified)))
            .collect();
        let stale = |t: &OffsetDateTime| (now - *t).unsigned_abs() > lease;
        for folder in &folders {
            let owner = folder.trim_end_matches('/');
            if owner == "claims" {
                self.sweep_claims(now).await?;
                continue;
            }
            if owner == self.owner || alive.get(owner).is_some_and(|t| !stale(t)) {
                continue;
            }
            let (entries, _) = self.storage.outbox_list(folder, false).await?;
            futures::stream::iter(entries)
                .for_each_concurrent(TAKE_OVERS, |e| async move {
                    if let Err(err) = self.take_over(events, &e.name).await {
                        tracing::warn!(entry = %e.name, error = %err, "cannot take over an outbox entry yet; the next poll tries again");
                    }
                })
                .await;
        }
        // Heartbeats of gateways gone with nothing left behind.
        for (owner, t) in &alive {
            if *owner != self.owner
                && stale(t)
                && !folders.iter().any(|f| f.trim_end_matches('/') == *owner)
            {
                let _ = self.storage.outbox_delete(&format!("{owner}.alive")).await;
            }
        }
        Ok(())
    }

    /// Claims left by a gateway that died while taking an entry over.
    async fn sweep_claims(&self, now: OffsetDateTime) -> Result<(), StorageError> {
        let (claims, _) = self.storage.outbox_list("claims/", false).await?;
        for c in claims {
            if (now - c.modified).unsigned_abs() > self.cfg.lease.0 * 2 {
                self.storage.outbox_delete(&c.name).await?;
            }
        }
        Ok(())
    }

    /// Takes over one entry of a stopped gateway: claim, read, ask S3,
    /// then deliver (moved to this gateway's folder first) or discard.
    async fn take_over(&self, events: &Events, name: &str) -> Result<(), StorageError> {
        let id = name
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".json");
        let claim = format!("claims/{id}");
        if !self
            .storage
            .outbox_claim(&claim, self.owner.clone().into())
            .await?
        {
            return Ok(());
        }
        let result = self.decide(events, name, id).await;
        let _ = self.storage.outbox_delete(&claim).await;
        result
    }

    async fn decide(&self, events: &Events, name: &str, id: &str) -> Result<(), StorageError> {
        let Some(body) = self.storage.outbox_get(name).await? else {
            return Ok(());
        };
        let mut ev: Event = match serde_json::from_slice(&body) {
            Ok(ev) => ev,
            Err(e) => {
                tracing::error!(entry = %name, error = %e, "an outbox entry is not an event: removed");
                return self.storage.outbox_delete(name).await;
            }
        };
        let happened = self.happened(&mut ev).await?;
        let m = &events.0.metrics.events;
        if !happened {
            m.recovered.with_label_values(&["discarded"]).inc();
            m.dropped.with_label_values(&["-", "not_committed"]).inc();
            tracing::info!(event = %id, kind = %ev.kind, key = ev.data.key.as_deref().unwrap_or_default(), "outbox entry of a stopped gateway: the change never happened (or was replaced since); discarded");
            return self.storage.outbox_delete(name).await;
        }
        ev.data.recovered = true;
        let mine = self.entry_name(id);
        self.storage.outbox_put(&mine, ev.to_json().into()).await?;
        self.pending.fetch_add(1, Ordering::AcqRel);
        self.storage.outbox_delete(name).await?;
        m.recovered.with_label_values(&["delivered"]).inc();
        tracing::info!(event = %id, kind = %ev.kind, "outbox entry of a stopped gateway taken over: the change happened; delivering");
        events.redeliver(&ev, mine);
        Ok(())
    }

    /// Whether the change of `ev` happened, from S3 as it is now (an
    /// upload's facts are filled in from its object).
    async fn happened(&self, ev: &mut Event) -> Result<bool, StorageError> {
        let storages = self.storages.load();
        let d = &ev.data;
        let (Some(st), Some(key)) = (
            d.profile.as_deref().and_then(|p| storages.get(p)),
            d.key.clone(),
        ) else {
            tracing::warn!(event = %ev.id, "outbox entry names a storage profile this gateway does not have: discarded");
            return Ok(false);
        };
        Ok(match ev.kind.as_str() {
            "upload" => match st.head(&key).await? {
                Some(info) if info.event_id.as_deref() == Some(ev.id.as_str()) => {
                    ev.data.size = Some(info.size);
                    ev.set_etag(Some(&info.etag));
                    ev.data.version_id = info.version_id.clone();
                    ev.set_crc32c(info.crc32c, info.crc32c.is_some());
                    true
                }
                _ => false,
            },
            "delete" => st.head(&key).await?.is_none(),
            "mkdir" => st.dir_exists(&key).await?,
            "rmdir" => !st.dir_exists(&key).await?,
            "rename" => {
                let from = d
                    .from_profile
                    .as_deref()
                    .and_then(|p| storages.get(p))
                    .unwrap_or(st);
                let from_key = d.from_key.clone().unwrap_or_default();
                if from_key.ends_with('/') {
                    !from.dir_exists(&from_key).await? && st.dir_exists(&key).await?
                } else {
                    from.head(&from_key).await?.is_none() && st.head(&key).await?.is_some()
                }
            }
            _ => false,
        })
    }
}
