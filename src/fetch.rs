//! Fetch: one HTTP GET of one feed, polite and bounded. One `reqwest` client for the whole
//! process; conditional GET with the stored validators; compressed transfer; a body cap
//! enforced while streaming (after decompression), so an oversized or endless body never sits
//! in memory whole.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use url::Url;

use crate::config::FetchConfig;
use crate::model::{FeedSource, Fetched, FetchedBody};

/// Why a fetch failed. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status that is neither success nor 304.
    #[error("{url}: HTTP {status}")]
    Status { url: Url, status: u16 },
    /// The whole request took longer than the configured total timeout.
    #[error("{url}: timed out after {timeout:?}")]
    Timeout { url: Url, timeout: Duration },
    /// No connection could be made (DNS, refused, TLS).
    #[error("{url}: cannot connect: {reason}")]
    Connect { url: Url, reason: String },
    /// The body (after decompression) exceeded the configured cap.
    #[error("{url}: body exceeds the {limit}-byte limit")]
    TooLarge { url: Url, limit: u64 },
    /// Anything else the HTTP stack reported (a broken stream, a bad encoding).
    #[error("{url}: {reason}")]
    Transport { url: Url, reason: String },
    /// The HTTP client could not be built (bad User-Agent, TLS backend).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl FetchError {
    /// The HTTP status, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The process's one HTTP client and the limits it applies.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
}

impl Fetcher {
    pub fn new(config: &FetchConfig) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Fetcher {
            client,
            config: config.clone(),
        })
    }

    /// GETs the feed, sending its stored ETag and Last-Modified so an unchanged feed costs a 304.
    pub async fn fetch(&self, feed: &FeedSource) -> Result<Fetched, FetchError> {
        let mut request = self.client.get(feed.url.clone());
        if let Some(etag) = &feed.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(last_modified) = &feed.last_modified {
            request = request.header(IF_MODIFIED_SINCE, last_modified);
        }
        self.send(&feed.url, request).await
    }

    /// GETs any URL without validators (for `tigris inspect URL`).
    pub async fn fetch_url(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.send(url, self.client.get(url.clone())).await
    }

    async fn send(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<Fetched, FetchError> {
        let mut response = request.send().await.map_err(|e| self.classify(url, e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.clone(),
                status: status.as_u16(),
            });
        }
        let headers = response.headers().clone();
        let limit = self.config.max_body_bytes;
        // A declared length over the cap is refused before reading a byte. (With compression
        // the declared length is the compressed size; the streaming check below covers that.)
        if let Some(declared) =
            header_str(&headers, CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok())
            && declared > limit
            && response
                .headers()
                .get(reqwest::header::CONTENT_ENCODING)
                .is_none()
        {
            return Err(FetchError::TooLarge {
                url: url.clone(),
                limit,
            });
        }
        let final_url = response.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(url, e))? {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge {
                    url: url.clone(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(FetchedBody {
            status: status.as_u16(),
            final_url,
            content_type: header_str(&headers, CONTENT_TYPE),
            etag: header_str(&headers, ETAG),
            last_modified: header_str(&headers, LAST_MODIFIED),
            body,
        }))
    }

    fn classify(&self, url: &Url, error: reqwest::Error) -> FetchError {
        // The URL is in our own message already.
        let error = error.without_url();
        if error.is_timeout() {
            FetchError::Timeout {
                url: url.clone(),
                timeout: self.config.timeout,
            }
        } else if error.is_connect() {
            FetchError::Connect {
                url: url.clone(),
                reason: error_chain(&error),
            }
        } else {
            FetchError::Transport {
                url: url.clone(),
                reason: error_chain(&error),
            }
        }
    }
}

fn header_str(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// reqwest's top-level message is often just "error sending request"; the cause is below it.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
