//! Service: what tigris tells its service manager. Under systemd (`Type=notify`) it sends
//! READY=1 once the database is open and the server listens, WATCHDOG=1 while the scheduler
//! loop and the database answer, RELOADING=1/READY=1 around a config reload and STOPPING=1
//! on shutdown. Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::pipeline::Pipeline;

/// Sends `states`; sd-notify does nothing when `NOTIFY_SOCKET` is unset.
fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify the service manager: {e}");
    }
}

/// Startup is complete: the database is open and the server listens.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A config reload begins.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// Shutdown begins.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// Pings the watchdog at half its interval, but only while the scheduler loop and the
/// database answer within that half: a daemon stuck on either is left for systemd to restart.
/// Returns at once when the watchdog is off (`WATCHDOG_USEC` unset).
pub async fn watchdog(pipeline: Pipeline, cancel: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (interval / 2).max(Duration::from_millis(50));
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "systemd watchdog on"
    );
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cancel.cancelled() => return,
        }
        if pipeline.alive(every).await {
            notify(&[NotifyState::Watchdog]);
        } else if !cancel.is_cancelled() {
            tracing::warn!("watchdog: the scheduler or the database did not answer; not pinging");
        }
    }
}
