//! Fetch: one HTTP GET of one feed, polite and bounded. One `reqwest` client for the whole
//! process; conditional GET with the stored validators; compressed transfer; a body cap
//! enforced while streaming (after decompression, so a gzip or brotli bomb stops at the cap);
//! redirects followed here, hop by hop, so each hop is checked (a loop, too many hops, a
//! private address) and a permanent move is seen; and, unless allowed, no request to a
//! loopback, private or link-local address, whether named directly or by DNS.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, EXPIRES, HeaderMap,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION, RETRY_AFTER,
};
use url::Url;

use crate::config::FetchConfig;
use crate::model::{FeedSource, Fetched};

/// Why a fetch failed. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status that is neither success, redirect nor 304.
    #[error("{url}: HTTP {status}{}", retry_after.as_ref().map(|r| format!(" (Retry-After: {r})")).unwrap_or_default())]
    Status {
        url: Url,
        status: u16,
        retry_after: Option<String>,
    },
    /// 410: the feed is gone for good.
    #[error("{url}: HTTP 410 Gone: the feed was removed; tigris stops polling it")]
    Gone { url: Url },
    /// The whole request took longer than the configured total timeout.
    #[error("{url}: timed out after {timeout:?}")]
    Timeout { url: Url, timeout: Duration },
    /// No connection could be made (DNS, refused, TLS).
    #[error("{url}: cannot connect: {reason}")]
    Connect { url: Url, reason: String },
    /// The body (after decompression) exceeded the configured cap.
    #[error("{url}: body exceeds the {limit}-byte limit")]
    TooLarge { url: Url, limit: u64 },
    /// More redirects than allowed.
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects { url: Url, limit: usize },
    /// A redirect back to a URL already visited.
    #[error("{url}: redirect loop (back to {to})")]
    RedirectLoop { url: Url, to: String },
    /// A redirect without a usable Location.
    #[error("{url}: HTTP {status} redirect with no usable Location header")]
    BadRedirect { url: Url, status: u16 },
    /// The URL (or a redirect) leads to a loopback, private or link-local address.
    #[error(
        "{url}: refused: {host} is a private or local address (set [fetch] allow_private_networks = true to allow it)"
    )]
    PrivateAddress { url: Url, host: String },
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
            FetchError::Gone { .. } => Some(410),
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
        let mut builder = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .gzip(true)
            .brotli(true)
            .deflate(true)
            // Redirects are followed by `send`, hop by hop.
            .redirect(reqwest::redirect::Policy::none());
        if !config.allow_private_networks {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        let client = builder
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Fetcher {
            client,
            config: config.clone(),
        })
    }

    /// GETs the feed, sending its stored ETag and Last-Modified so an unchanged feed costs a 304.
    pub async fn fetch(&self, feed: &FeedSource) -> Result<Fetched, FetchError> {
        self.send(
            &feed.url,
            feed.etag.as_deref(),
            feed.last_modified.as_deref(),
        )
        .await
    }

    /// GETs any URL without validators (for `tigris inspect URL`).
    pub async fn fetch_url(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.send(url, None, None).await
    }

    async fn send(
        &self,
        start: &Url,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<Fetched, FetchError> {
        let mut url = start.clone();
        let mut visited = vec![url.clone()];
        let mut all_permanent = true;
        let mut response = loop {
            if !self.config.allow_private_networks {
                check_literal_host(&url)?;
            }
            let mut request = self.client.get(url.clone());
            if let Some(etag) = etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(last_modified) = last_modified {
                request = request.header(IF_MODIFIED_SINCE, last_modified);
            }
            let response = request.send().await.map_err(|e| self.classify(start, e))?;
            let status = response.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                break response;
            }
            let next = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| url.join(location.trim()).ok())
                .filter(|next| next.scheme() == "http" || next.scheme() == "https")
                .ok_or_else(|| FetchError::BadRedirect {
                    url: url.clone(),
                    status: status.as_u16(),
                })?;
            if visited.contains(&next) {
                return Err(FetchError::RedirectLoop {
                    url: start.clone(),
                    to: next.to_string(),
                });
            }
            if visited.len() > self.config.max_redirects {
                return Err(FetchError::TooManyRedirects {
                    url: start.clone(),
                    limit: self.config.max_redirects,
                });
            }
            all_permanent &= matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
            );
            visited.push(next.clone());
            url = next;
        };

        let status = response.status();
        let headers = response.headers().clone();
        let permanent_redirect = (all_permanent && visited.len() > 1).then(|| url.clone());
        let mut fetched = Fetched {
            status: status.as_u16(),
            final_url: url.clone(),
            permanent_redirect,
            content_type: header_str(&headers, CONTENT_TYPE),
            etag: header_str(&headers, ETAG),
            last_modified: header_str(&headers, LAST_MODIFIED),
            cache_control: header_str(&headers, CACHE_CONTROL),
            expires: header_str(&headers, EXPIRES),
            body: None,
        };
        if status == StatusCode::NOT_MODIFIED {
            return Ok(fetched);
        }
        if status == StatusCode::GONE {
            return Err(FetchError::Gone { url: start.clone() });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: start.clone(),
                status: status.as_u16(),
                retry_after: header_str(&headers, RETRY_AFTER),
            });
        }
        let limit = self.config.max_body_bytes;
        // A declared length over the cap is refused before reading a byte. (With compression
        // the declared length is the compressed size; the streaming check below covers that.)
        if let Some(declared) =
            header_str(&headers, CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok())
            && declared > limit
            && headers.get(CONTENT_ENCODING).is_none()
        {
            return Err(FetchError::TooLarge {
                url: start.clone(),
                limit,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.classify(start, e))?
        {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge {
                    url: start.clone(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        fetched.body = Some(body);
        Ok(fetched)
    }

    fn classify(&self, url: &Url, error: reqwest::Error) -> FetchError {
        // The URL is in our own message already.
        let error = error.without_url();
        if error.is_timeout() {
            return FetchError::Timeout {
                url: url.clone(),
                timeout: self.config.timeout,
            };
        }
        let reason = error_chain(&error);
        if let Some(host) = reason
            .split(PRIVATE_MARKER)
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
        {
            return FetchError::PrivateAddress {
                url: url.clone(),
                host,
            };
        }
        if error.is_connect() {
            FetchError::Connect {
                url: url.clone(),
                reason,
            }
        } else {
            FetchError::Transport {
                url: url.clone(),
                reason,
            }
        }
    }
}

/// Whether an address is one a public feed may lead tigris to: not loopback, private (RFC
/// 1918, unique local), link-local, shared (CGNAT), unspecified, broadcast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80) // link-local fe80::/10
        }
    }
}

/// Refuses a URL whose host is a private IP address written out (DNS names are checked by
/// the resolver).
fn check_literal_host(url: &Url) -> Result<(), FetchError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
            return Err(FetchError::PrivateAddress {
                url: url.clone(),
                host: name.to_string(),
            });
        }
        _ => return Ok(()),
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(FetchError::PrivateAddress {
            url: url.clone(),
            host: ip.to_string(),
        })
    }
}

const PRIVATE_MARKER: &str = "tigris-private-address: ";

/// A DNS resolver that drops private addresses, so a public name cannot point tigris into the
/// local network (checked at connect time, which also defeats DNS rebinding between a check
/// and the request).
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() && !addrs.is_empty() {
                let message = format!("{PRIVATE_MARKER}{host} resolves only to private addresses");
                return Err(message.into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

fn header_str(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// An error with its causes, `: `-separated. reqwest's top-level message is often just "error
/// sending request"; the cause is below it.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_private_hosts_are_refused() {
        for url in [
            "http://127.0.0.1:8080/rss",
            "http://[::1]/feed",
            "http://localhost/x",
            "http://169.254.169.254/latest",
        ] {
            let err = check_literal_host(&Url::parse(url).unwrap()).unwrap_err();
            assert!(err.to_string().contains("allow_private_networks"), "{err}");
        }
        assert!(check_literal_host(&Url::parse("https://news.example/rss").unwrap()).is_ok());
    }
}
