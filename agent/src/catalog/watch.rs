//! Keeping the catalog current: a file-system watch on the media directory
//! (and on the catalog file's directory) wakes a rescan once changes have
//! been quiet for [`DEBOUNCE`]; a full rescan also runs every
//! `rescan_interval` in case the file system reports nothing (network
//! mounts). A changed catalog is published on a `watch` channel, which the
//! exporter turns into a `Register.Modify`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::{Catalog, Scanner};

/// Quiet time after the last change event before rescanning: a file being
/// copied in produces a burst of events.
pub const DEBOUNCE: Duration = Duration::from_millis(300);
/// Longest a rescan waits for events to stop (a copy that lasts minutes).
const MAX_DEBOUNCE: Duration = Duration::from_secs(3);

/// Starts the file-system watch. `None` (with a warning) when the platform
/// or its limits refuse it; periodic rescans still run.
fn start_watch(
    media_dir: PathBuf,
    catalog_file: Option<PathBuf>,
    wake: Arc<Notify>,
) -> Option<notify::RecommendedWatcher> {
    let catalog_for_filter = catalog_file.clone();
    let media_for_filter = media_dir.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
        Ok(event) => {
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            let relevant = event.paths.iter().any(|p| {
                p.starts_with(&media_for_filter) || catalog_for_filter.as_ref().is_some_and(|c| p == c)
            });
            if relevant {
                wake.notify_one();
            }
        }
        Err(err) => tracing::debug!(error = %err, "file watch error"),
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch the media directory; rescanning periodically only");
            return None;
        }
    };
    if let Err(err) = watcher.watch(&media_dir, RecursiveMode::Recursive) {
        tracing::warn!(dir = %media_dir.display(), error = %err, "cannot watch the media directory; rescanning periodically only");
        return None;
    }
    if let Some(parent) = catalog_file.as_deref().and_then(|c| c.parent()) {
        // Editors replace files by renaming, so watch the directory.
        if !parent.starts_with(&media_dir)
            && let Err(err) = watcher.watch(parent, RecursiveMode::NonRecursive)
        {
            tracing::warn!(dir = %parent.display(), error = %err, "cannot watch the catalog file's directory");
        }
    }
    Some(watcher)
}

/// Runs until `stop`: rescans after changes and periodically, and
/// publishes each catalog that differs from the last one.
pub async fn run(
    mut scanner: Scanner,
    media_dir: PathBuf,
    catalog_file: Option<PathBuf>,
    rescan_interval: Duration,
    catalog: watch::Sender<Arc<Catalog>>,
    stop: CancellationToken,
) {
    let wake = Arc::new(Notify::new());
    // Dropping the watcher ends the watch; keep it for the life of the loop.
    let _watcher = start_watch(media_dir, catalog_file, wake.clone());
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {
                let quiet_deadline = tokio::time::Instant::now() + MAX_DEBOUNCE;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(DEBOUNCE) => break,
                        _ = tokio::time::sleep_until(quiet_deadline) => break,
                        _ = wake.notified() => continue,
                    }
                }
            }
            _ = tokio::time::sleep(rescan_interval) => {}
        }
        match scanner.scan().await {
            Ok(new) => {
                catalog.send_if_modified(|current| {
                    if **current == new {
                        return false;
                    }
                    tracing::info!(titles = new.titles.len(), "catalog changed");
                    *current = Arc::new(new);
                    true
                });
            }
            Err(err) => tracing::warn!(error = %err, "rescan failed; keeping the last catalog"),
        }
    }
}
