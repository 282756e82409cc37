//! Static output: the merged feed written as files (`feed.atom`, `feed.rss`, `feed.json`) into
//! the `[output] dir` folder, so a static server or a CDN can serve them while tigris is down.
//! Each file is written to a temporary name in the same folder and renamed over the old one,
//! so a reader never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::FeedMetaConfig;
use crate::model::FeedQuery;
use crate::render::{self, Format, RenderError};
use crate::serve::{TopicInfo, feed_meta};
use crate::store::{Store, StoreError};

/// Why the files could not be written; names the file.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Writes the default merged feed in every format into `dir`; returns the paths written.
pub fn write_feeds(
    dir: &Path,
    store: &Store,
    settings: &FeedMetaConfig,
    topics: &[TopicInfo],
    query: &FeedQuery,
    ttl_minutes: u32,
) -> Result<Vec<PathBuf>, OutputError> {
    let threshold = topics
        .iter()
        .find(|t| t.id == query.topic)
        .map(|t| t.threshold)
        .unwrap_or(0.5);
    let items = store.feed_items(query, threshold)?;
    std::fs::create_dir_all(dir).map_err(|source| OutputError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for format in Format::ALL {
        let name = format!("feed.{}", format.extension());
        let meta = feed_meta(
            settings,
            query,
            topics,
            format!("{}/{name}", settings.base_url),
            ttl_minutes,
        );
        let bytes = render::render(format, &meta, &items)?;
        let path = dir.join(&name);
        write_atomically(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let err = |source| OutputError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "feed".into());
    let temp = path.with_file_name(format!(".{file_name}.tmp"));
    let mut file = std::fs::File::create(&temp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&temp, path).map_err(err)?;
    Ok(())
}
