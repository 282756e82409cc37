//! Feed management, OPML, retention and vacuum commands: small edits of the database that a
//! person makes by hand. The config's `[[feeds]]` are the source of truth for the feeds they
//! list, so those are refused here with the config line to edit instead.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::Utc;

use super::{FeedsAction, OpmlAction, open_store};
use crate::config::Config;
use crate::opml::{self, OpmlFeed};
use crate::schedule::CronSchedule;
use crate::store::{FeedOrigin, ManagedFeed, Store};

/// The feed `key` names, or an error that says how to find one.
fn find(store: &Store, key: &str) -> Result<ManagedFeed> {
    store.find_feed(key)?.with_context(|| {
        format!("no feed `{key}` in the database (`tigris feeds` lists them with their URLs)")
    })
}

/// Refuses to change a feed the config lists: the next start or reload would undo it.
fn refuse_config_feed(config: &Config, feed: &ManagedFeed, what: &str) -> Result<()> {
    if let Some(listed) = config
        .feeds
        .iter()
        .find(|f| f.url.as_str() == feed.config_url)
    {
        bail!(
            "cannot {what} {}: it is listed in {}:{}, which is the source of truth for the feeds it lists; edit it there and reload (SIGHUP) or restart",
            feed.config_url,
            config.path.display(),
            listed.line
        );
    }
    Ok(())
}

pub fn feeds(config_path: &Path, action: FeedsAction) -> Result<i32> {
    let config = Config::load(config_path)?;
    let mut store = open_store(&config)?;
    match action {
        FeedsAction::Add {
            url,
            name,
            schedule,
        } => {
            let url = opml::feed_url(&url).map_err(|e| anyhow::anyhow!("feed URL: {e}"))?;
            let schedule = match schedule {
                Some(expr) => {
                    CronSchedule::parse(&expr).with_context(|| format!("--schedule `{expr}`"))?
                }
                None => config.schedule.default.clone(),
            };
            let name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
            match store.add_feed(
                &url,
                name.as_deref(),
                schedule.as_str(),
                FeedOrigin::Cli,
                Utc::now(),
            )? {
                Some(id) => println!("added feed {id}: {url} (schedule {})", schedule.as_str()),
                None => {
                    let existing = find(&store, url.as_str())?;
                    println!("already present as feed {}: {url}", existing.id);
                }
            }
        }
        FeedsAction::Remove { feed } => {
            let feed = find(&store, &feed)?;
            refuse_config_feed(&config, &feed, "remove")?;
            let items = store.remove_feed(feed.id)?;
            println!(
                "removed feed {}: {} ({items} items only it carried removed)",
                feed.id, feed.config_url
            );
        }
        FeedsAction::Enable { feed } => {
            let feed = find(&store, &feed)?;
            refuse_config_feed(&config, &feed, "enable")?;
            store.set_feed_enabled(feed.id, true)?;
            println!("enabled feed {}: {}", feed.id, feed.config_url);
        }
        FeedsAction::Disable { feed } => {
            let feed = find(&store, &feed)?;
            refuse_config_feed(&config, &feed, "disable")?;
            store.set_feed_enabled(feed.id, false)?;
            println!("disabled feed {}: {}", feed.id, feed.config_url);
        }
    }
    Ok(0)
}

pub fn opml(config_path: &Path, action: OpmlAction) -> Result<i32> {
    let config = Config::load(config_path)?;
    let mut store = open_store(&config)?;
    match action {
        OpmlAction::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let listed = opml::read(&file.display().to_string(), &text)?;
            let (mut added, mut present, mut refused) = (0, 0, 0);
            for feed in &listed {
                let url = match opml::feed_url(&feed.url) {
                    Ok(url) => url,
                    Err(e) => {
                        let title = feed.title.as_deref().unwrap_or("untitled");
                        eprintln!(
                            "tigris: {}: skipped outline \"{title}\": {e}",
                            file.display()
                        );
                        refused += 1;
                        continue;
                    }
                };
                match store.add_feed(
                    &url,
                    feed.title.as_deref(),
                    config.schedule.default.as_str(),
                    FeedOrigin::Opml,
                    Utc::now(),
                )? {
                    Some(_) => added += 1,
                    None => present += 1,
                }
            }
            println!(
                "{}: {} feeds listed: {added} added, {present} already present, {refused} skipped",
                file.display(),
                listed.len()
            );
            Ok(if refused > 0 { 1 } else { 0 })
        }
        OpmlAction::Export { output } => {
            let feeds: Vec<OpmlFeed> = store
                .managed_feeds()?
                .into_iter()
                .filter(|f| f.enabled)
                .map(|f| OpmlFeed {
                    title: f.name.or(f.title),
                    url: f.url,
                    site_url: f.site_url,
                    folders: Vec::new(),
                })
                .collect();
            if feeds.is_empty() {
                bail!("no enabled feeds to export (OPML needs at least one outline)");
            }
            let text = opml::write(&config.feed.title, &feeds, Utc::now())?;
            match output {
                Some(path) => {
                    crate::output::write_atomically(&path, text.as_bytes())?;
                    eprintln!("wrote {} feeds to {}", feeds.len(), path.display());
                }
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
            Ok(0)
        }
    }
}

pub fn prune(config_path: &Path, dry_run: bool) -> Result<i32> {
    let config = Config::load(config_path)?;
    let store = Store::open(&config.storage.database)?;
    let before = store.file_bytes()?;
    let store = std::sync::Mutex::new(store);
    let plan = crate::pipeline::prune(&store, &config.retention, Utc::now(), dry_run)?;
    let verb = if dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {} items ({} older than {} days, {} beyond their feeds' {} newest); kept {} relevant; {verb} {} fetch history rows",
        plan.item_ids.len(),
        plan.too_old,
        config.retention.max_age.num_days(),
        plan.over_feed_cap,
        config.retention.per_feed,
        plan.kept_relevant,
        plan.fetches
    );
    if !dry_run {
        let after = store
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .file_bytes()?;
        println!("database: {before} bytes before, {after} after");
    }
    Ok(0)
}

pub fn vacuum(config_path: &Path) -> Result<i32> {
    let config = Config::load(config_path)?;
    let mut store = Store::open(&config.storage.database)?;
    let (before, after) = store.vacuum()?;
    println!(
        "{}: {before} bytes before, {after} after",
        config.storage.database.display()
    );
    Ok(0)
}
