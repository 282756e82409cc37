//! ClearURLs cleaning with one regex search per URL to find the providers that apply.
//!
//! Why this is written by hand: `clearurls::UrlCleaner::clear_single_url` tries every
//! provider of its rule set in turn (205 in the crate's 0.0.7 rules), each with its own
//! `urlPattern` regex, so a URL costs 205 regex searches (and 205 trips through the regex
//! crate's cache pool) although it matches two or three patterns: ~1.2 s of the ~12 s of CPU
//! of a cold poll of the benchmark farm. The crate keeps its parsed rules private, so tigris
//! reads the same rules file itself (vendored in `clearurls/`), finds the providers whose
//! patterns match with one `RegexSet` search, and hands the URL to a crate cleaner built from
//! that one provider. The crate's code still does all the cleaning (exceptions,
//! redirections, raw rules, parameter rules), so the result is the crate's; the tests compare
//! the two on every link of the fixture feeds.
//!
//! Measured (`cargo bench --bench stages -- dedup/`, 50,000 links): 545 ms with the crate's
//! loop, 85 ms with this (1.7 µs a link; what is left is mostly the crate's own work, as
//! `globalRules` applies to every URL).
//!
//! A provider's crate cleaner is built the first time the set matches it, not before: the
//! crate compiles every rule of the file into regexes of its own, ~22 MB for all 205
//! providers, when news links match a handful of them (`globalRules` and the big sites').
//! Building the set at the first URL takes ~7 ms, against 100-120 ms for every provider's
//! regexes (release build); on the benchmark farm's cold poll the cleaner's memory went from
//! ~22 MB to ~3 MB.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::{RegexSet, RegexSetBuilder};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use url::Url;

/// The ClearURLs rules the `clearurls` crate 0.0.7 embeds, unchanged (see `clearurls/README.md`).
pub(super) const CLEARURLS_RULES: &str = include_str!("clearurls/data.minify.json");

/// Why the cleaner could not be built from a rules file.
#[derive(Debug, thiserror::Error)]
pub(super) enum BuildError {
    /// The file is not a JSON object with a `providers` object.
    #[error("ClearURLs rules: {0}")]
    Rules(serde_json::Error),
    /// A provider is missing its `urlPattern` or the crate refused it.
    #[error("ClearURLs provider {name:?}: {reason}")]
    Provider { name: String, reason: String },
    /// The providers' patterns did not compile as one set.
    #[error("ClearURLs URL patterns as one set: {0}")]
    PatternSet(regex::Error),
}

/// ClearURLs' providers behind one `RegexSet` of their URL patterns.
pub(super) struct UrlCleaner {
    /// Every provider's `urlPattern`, in document order, compiled as the crate compiles it
    /// (case-insensitive, default flags otherwise): pattern `i` is `providers[i]`'s.
    url_patterns: RegexSet,
    /// The providers in document order: the crate applies its providers in the order the
    /// file lists them (one provider's output is the next one's input), so the order must
    /// survive the parse.
    providers: Vec<Provider>,
}

/// One provider: its name, a rules file holding it alone, and the crate cleaner built from
/// that file the first time a URL matches the provider's pattern.
struct Provider {
    name: String,
    rules: String,
    cleaner: OnceLock<Result<clearurls::UrlCleaner, String>>,
}

impl Provider {
    /// The provider's crate cleaner, built at the first call. A provider the crate refuses
    /// is skipped, with a warning the first time (cannot happen with the vendored rules: a
    /// test builds every one of them).
    fn cleaner(&self) -> Option<&clearurls::UrlCleaner> {
        let built = self.cleaner.get_or_init(|| {
            // Referral marketing stays off, the crate's default, as with its whole cleaner.
            clearurls::UrlCleaner::from_rules_str(&self.rules).map_err(|error| {
                tracing::warn!(provider = %self.name, %error, "ClearURLs provider skipped: the clearurls crate refuses its rules");
                error.to_string()
            })
        });
        built.as_ref().ok()
    }
}

impl UrlCleaner {
    /// Reads a ClearURLs rules file (`{"providers": {name: provider, ...}}`) and compiles
    /// the providers' URL patterns; each provider's own rules are compiled when a URL first
    /// matches its pattern (see the module's notes).
    pub(super) fn from_rules(rules: &str) -> Result<Self, BuildError> {
        let Rules { providers } = serde_json::from_str(rules).map_err(BuildError::Rules)?;
        let mut patterns = Vec::with_capacity(providers.0.len());
        let mut kept = Vec::with_capacity(providers.0.len());
        for (name, provider) in providers.0 {
            let refused = |reason: String| BuildError::Provider {
                name: name.clone(),
                reason,
            };
            let UrlPattern { url_pattern } =
                serde_json::from_str(provider.get()).map_err(|e| refused(e.to_string()))?;
            let name_json = serde_json::to_string(&name).map_err(|e| refused(e.to_string()))?;
            let alone = format!(r#"{{"providers":{{{name_json}:{}}}}}"#, provider.get());
            patterns.push(url_pattern);
            kept.push(Provider {
                name,
                rules: alone,
                cleaner: OnceLock::new(),
            });
        }
        // The default size limits hold: the set of all 205 patterns compiles under 1 MiB.
        let url_patterns = RegexSetBuilder::new(&patterns)
            .case_insensitive(true)
            .build()
            .map_err(BuildError::PatternSet)?;
        Ok(Self {
            url_patterns,
            providers: kept,
        })
    }

    /// Builds every provider's cleaner now, naming the first the crate refuses.
    #[cfg(test)]
    fn build_all(&self) -> Result<(), BuildError> {
        for provider in &self.providers {
            if provider.cleaner().is_none() {
                let reason = match provider.cleaner.get() {
                    Some(Err(reason)) => reason.clone(),
                    _ => String::new(),
                };
                return Err(BuildError::Provider {
                    name: provider.name.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// What `clearurls::UrlCleaner::clear_single_url` gives for `url` with the same rules,
    /// errors included (an error from any provider is the result, as in the crate's loop).
    ///
    /// The crate's loop asks each provider in order whether its pattern matches the URL as
    /// the providers before it left it. So the set's matches stand until a provider changes
    /// the URL; then they are searched again on the new URL, for the providers after it.
    pub(super) fn clear<'a>(&self, url: &'a Url) -> Result<Cow<'a, Url>, clearurls::Error> {
        // The crate leaves data: URLs alone. (Its check runs once, before the loop; the
        // providers' cleaners repeat it at each step, which differs only if a provider turned
        // a URL into a data: one. No rule does: a redirection's target that does not start
        // with "http" is given an http:// prefix.)
        if url.scheme().starts_with("data") {
            return Ok(Cow::Borrowed(url));
        }
        let mut url = Cow::Borrowed(url);
        let mut matched = self.url_patterns.matches(url.as_str());
        for (index, provider) in self.providers.iter().enumerate() {
            if !matched.matched(index) {
                continue;
            }
            let Some(cleaner) = provider.cleaner() else {
                continue;
            };
            // The provider's cleaner checks its pattern once more (one regex, not 205) and
            // its exceptions, then removes its fields.
            let cleaned = match cleaner.clear_single_url(&url)? {
                Cow::Borrowed(_) => continue,
                Cow::Owned(cleaned) => cleaned,
            };
            if cleaned != *url {
                matched = self.url_patterns.matches(cleaned.as_str());
                url = Cow::Owned(cleaned);
            }
        }
        Ok(url)
    }

    /// The providers' names, in document order.
    #[cfg(test)]
    fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name.as_str()).collect()
    }

    /// How many providers' cleaners have been built.
    #[cfg(test)]
    fn built(&self) -> usize {
        self.providers
            .iter()
            .filter(|p| p.cleaner.get().is_some())
            .count()
    }
}

impl std::fmt::Debug for UrlCleaner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlCleaner")
            .field(
                "providers",
                &self.providers.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A rules file's top level; the providers keep their order and their JSON text.
#[derive(Deserialize)]
struct Rules<'a> {
    #[serde(borrow)]
    providers: ProvidersInOrder<'a>,
}

/// The `providers` object as (name, provider JSON) pairs in document order, duplicates kept,
/// as the crate reads it (`serde_json::Map` would sort the names and drop duplicates).
struct ProvidersInOrder<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for ProvidersInOrder<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = ProvidersInOrder<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of ClearURLs providers")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut providers = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    providers.push(entry);
                }
                Ok(ProvidersInOrder(providers))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

/// The one field of a provider tigris reads itself.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UrlPattern {
    url_pattern: String,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn crate_cleaner() -> clearurls::UrlCleaner {
        clearurls::UrlCleaner::from_embedded_rules().expect("the crate's rules build")
    }

    fn dispatched() -> UrlCleaner {
        UrlCleaner::from_rules(CLEARURLS_RULES).expect("the vendored rules build")
    }

    /// A result as text, so that two errors compare by what they say.
    fn outcome(result: Result<Cow<'_, Url>, clearurls::Error>) -> Result<String, String> {
        result.map(|url| url.to_string()).map_err(|e| e.to_string())
    }

    /// Hand-picked URLs of the kinds feeds link to, and of every kind of rule: tracking
    /// parameters, path rules (raw rules), redirections, exceptions, fragments, case.
    const KNOWN_TRACKERS: &[&str] = &[
        "https://news.example.com/world/iraq-talks?utm_source=rss&utm_medium=feed&utm_campaign=x",
        "https://news.example.com/a?id=7&gclid=xyz&gclsrc=aw.ds",
        "https://news.example.com/a?fbclid=IwAR0abc&b=2",
        "https://news.example.com/a?mc_cid=1&mc_eid=2&_hsenc=3&_hsmi=4&yclid=5&msclkid=6",
        "https://news.example.com/a?utm%5Fsource=x&q=a+b%20c&empty=&flag",
        "https://news.example.com/a?",
        "https://news.example.com/a?&&utm_source=1&&b=2",
        "https://news.example.com/a?utm_source=x#utm_medium=y&section=2",
        "https://news.example.com/a#top",
        "https://news.example.com/#!/page?utm_source=x",
        "HTTPS://News.Example.COM/A?UTM_SOURCE=rss&Id=1",
        "https://www.bbc.co.uk/news/world-middle-east-1?at_medium=RSS&at_campaign=KARANGA",
        "https://www.nytimes.com/2026/11/23/world/middleeast/iraq.html?smid=tw-share&partner=rss&emc=rss",
        "https://www.theguardian.com/world/2026/nov/23/iraq?CMP=Share_iOSApp_Other",
        "https://www.reuters.com/world/middle-east/iraq-2026-11-23/?taid=abc&utm_campaign=trueAnthem",
        "https://www.amazon.com/dp/B00X4WHP5E/ref=sr_1_1?keywords=kindle&qid=1600000000&sr=8-1&tag=foo-20",
        "https://www.amazon.de/gp/product/B07ABCDEF/ref=ppx_yo_dt_b_asin_title_o00_s00?ie=UTF8&psc=1",
        "https://smile.amazon.co.uk/s?k=book&ref=nb_sb_noss&crid=ABC&sprefix=bo%2Caps",
        "HTTPS://WWW.Amazon.COM/Some-Book/dp/B00ABC/ref=x_y?TAG=a-20&pf_rd_r=1&pd_rd_w=2",
        "https://www.amazon.com/gp/redirect.html?location=https%3A%2F%2Fnews.example.com%2F",
        "https://www.google.com/url?q=https%3A%2F%2Fnews.example.com%2Fstory%3Futm_source%3Dx&sa=D&ust=1",
        "https://www.google.com/url?sa=t&rct=j&q=&esrc=s&source=web&cd=1&url=https%3A%2F%2Fexample.org%2Fa&usg=AOv",
        "https://www.google.com/url?q=&sa=D",
        "https://WWW.GOOGLE.COM/url?q=https://example.com/x",
        // Redirections to a site whose provider comes later in the file.
        "https://www.google.com/url?q=https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3Dabc%26feature%3Dshare",
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.ebay.com%2Fitm%2F1%3F_trkparms%3Dx%26_trksid%3Dy",
        "https://www.google.de/search?q=iraq&ei=abc&ved=0ahUK&oq=iraq&gs_lcp=xyz&sclient=gws",
        "http://feedproxy.google.com/~r/Techcrunch/~3/0YXponzHReQ/",
        "https://news.google.com/rss/articles/CBMiK2h0dHBzOi8vbmV3cy5leGFtcGxlLmNvbS8?oc=5",
        "https://t.co/AbCdEf123",
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fnews.example.com%2Fa%3Ffbclid%3D1&h=AT0abc",
        "https://lm.facebook.com/l.php?u=http%3A%2F%2Fexample.org%2F&h=x",
        "https://www.facebook.com/story.php?story_fbid=1&id=2&__tn__=K-R&refsrc=x",
        "https://twitter.com/desk/status/1?s=20&t=abc&ref_src=twsrc%5Etfw",
        "https://ad.doubleclick.net/ddm/clk/123;abc;?https://news.example.com/x",
        "https://ad.doubleclick.net/ddm/trackclk/N1234.1234/B123;dc_trk_aid=1;dc_trk_cid=2",
        "https://googleads.g.doubleclick.net/pcs/click?xai=AKA&adurl=https://example.com/",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=youtu.be&t=42",
        "https://youtu.be/dQw4w9WgXcQ?si=abc",
        "https://www.youtube.com/redirect?q=https%3A%2F%2Fexample.com%2F&redir_token=x&event=video_description",
        "https://out.reddit.com/t3_abc?url=https%3A%2F%2Fexample.com%2F&token=x&app_name=web",
        "https://www.linkedin.com/feed/update/urn:li:activity:1?trk=public_post&utm_source=share",
        "https://medium.com/@desk/story-1?source=rss----1&sk=x",
        "https://www.instagram.com/p/abc/?igshid=xyz&utm_source=ig_web",
        "https://www.ebay.com/itm/1?_trkparms=x&_trksid=y&hash=item1",
        "https://www.bing.com/ck/a?!&&p=abc&u=a1aHR0cHM6Ly9leGFtcGxlLmNvbS8&ntb=1",
        "https://disq.us/url?url=https%3A%2F%2Fexample.com%2F%3Aabc&cuid=1",
        "https://steamcommunity.com/linkfilter/?url=https://example.com/",
        "https://www.aliexpress.com/item/1.html?spm=a2g0o&algo_pvid=x&gps-id=y",
        "https://www.tiktok.com/@desk/video/1?is_from_webapp=1&sender_device=pc",
        "https://www.msn.com/en-us/news/world/a/ar-AA1?ocid=msedgntp&cvid=abc",
        "http://user:pass@news.example.com:8080/a?utm_source=x",
        "https://[2001:db8::1]/a?utm_source=x",
        "https://xn--mnchen-3ya.example/a?utm_content=x",
        "javascript:void(0)",
        "mailto:desk@news.example?subject=utm_source",
        "data:text/plain,utm_source=x",
    ];

    /// Every link of the fixture feeds under `tests/data`: `<link>` text, `<link href>`, and
    /// JSON Feed `"url"` values, entity-decoded enough for `&amp;`.
    fn fixture_links() -> Vec<String> {
        let link_text = regex::Regex::new(r"<link[^>]*>\s*([^<\s][^<]*?)\s*</link>").unwrap();
        let link_href =
            regex::Regex::new(r#"<link\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')"#).unwrap();
        let json_url = regex::Regex::new(r#""(?:url|external_url)"\s*:\s*"([^"]+)""#).unwrap();
        let mut links = Vec::new();
        let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("fixture folder reads") {
                let path = entry.expect("fixture entry").path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path).expect("fixture reads");
                let text = String::from_utf8_lossy(&bytes);
                for captures in link_text
                    .captures_iter(&text)
                    .chain(link_href.captures_iter(&text))
                    .chain(json_url.captures_iter(&text))
                {
                    let found = captures.iter().skip(1).flatten().next();
                    if let Some(found) = found {
                        links.push(
                            found
                                .as_str()
                                .replace("&amp;", "&")
                                .replace("&#38;", "&")
                                .replace("\\/", "/"),
                        );
                    }
                }
            }
        }
        links.sort();
        links.dedup();
        links
    }

    #[test]
    fn same_result_as_the_crate_on_fixture_links_and_known_trackers() {
        let ours = dispatched();
        let theirs = crate_cleaner();
        let fixtures = fixture_links();
        assert!(
            fixtures.len() > 400,
            "only {} links found in tests/data",
            fixtures.len()
        );
        let (mut compared, mut changed) = (0, 0);
        for link in KNOWN_TRACKERS
            .iter()
            .copied()
            .chain(fixtures.iter().map(String::as_str))
        {
            let Ok(url) = Url::parse(link.trim()) else {
                continue;
            };
            // As found, and as `canonical_url` hands it over (no fragment).
            let mut without_fragment = url.clone();
            without_fragment.set_fragment(None);
            for url in [url, without_fragment] {
                let expected = outcome(theirs.clear_single_url(&url));
                assert_eq!(outcome(ours.clear(&url)), expected, "{url}");
                compared += 1;
                if expected.as_deref() != Ok(url.as_str()) {
                    changed += 1;
                }
            }
        }
        // The comparison means something only if the rules did work on many of the URLs.
        assert!(compared > 800, "{compared} URLs compared");
        assert!(changed > 80, "the rules changed only {changed} URLs");
    }

    #[test]
    fn every_vendored_provider_builds() {
        dispatched()
            .build_all()
            .expect("the crate takes every vendored provider");
    }

    #[test]
    fn a_provider_is_built_when_a_url_first_matches_it() {
        let ours = dispatched();
        assert_eq!(ours.built(), 0, "nothing built before the first URL");
        let news = Url::parse("https://news.example.com/a?utm_source=rss&id=1").unwrap();
        assert_eq!(
            outcome(ours.clear(&news)).as_deref(),
            Ok("https://news.example.com/a?id=1")
        );
        let after_news = ours.built();
        assert!(
            (1..10).contains(&after_news),
            "{after_news} providers built for one news link"
        );
        let amazon =
            Url::parse("https://www.amazon.com/dp/B00X4WHP5E/ref=sr_1_1?tag=foo-20").unwrap();
        ours.clear(&amazon).unwrap();
        assert!(
            ours.built() > after_news,
            "amazon's providers built at its first link"
        );
    }

    #[test]
    fn providers_keep_document_order() {
        let ours = dispatched();
        let names = ours.names();
        assert_eq!(names.len(), 205);
        // The file's order; sorted, "80000hours.org" would come first.
        assert_eq!(names[..3], ["amazon", "msn", "amazon search"]);
        assert_eq!(names[8], "globalRules");
        assert_eq!(names.last().copied(), Some("viglink.com"));
    }

    #[test]
    fn a_provider_the_crate_refuses_is_named() {
        let rules = r#"{"providers":{"fine":{"urlPattern":"^https://a\\.example"},
            "broken":{"urlPattern":"^https://b\\.example","rules":["("]}}}"#;
        let cleaner = UrlCleaner::from_rules(rules).expect("the patterns compile");
        match cleaner.build_all() {
            Err(BuildError::Provider { name, .. }) => assert_eq!(name, "broken"),
            other => panic!("expected the broken provider named, got {other:?}"),
        }
        // In use, the refused provider is skipped and the others still clean.
        let url = Url::parse("https://b.example/a?x=1").unwrap();
        assert_eq!(
            outcome(cleaner.clear(&url)).as_deref(),
            Ok("https://b.example/a?x=1")
        );
        assert!(matches!(
            UrlCleaner::from_rules(r#"{"providers":[]}"#),
            Err(BuildError::Rules(_))
        ));
    }

    #[test]
    fn a_provider_sees_what_the_one_before_it_left() {
        // The first provider turns the URL into one only the second one's pattern matches,
        // so the set's first matches would skip it; the crate's loop does not.
        let rules = r#"{"providers":{
            "redirect":{"urlPattern":"^https://r\\.example","redirections":["^https://r\\.example/\\?to=([^&]*)"]},
            "target":{"urlPattern":"^https://t\\.example","rules":["ref"]}}}"#;
        let ours = UrlCleaner::from_rules(rules).expect("builds");
        let theirs = clearurls::UrlCleaner::from_rules_str(rules).expect("builds");
        let url =
            Url::parse("https://r.example/?to=https%3A%2F%2Ft.example%2Fa%3Fref%3D1%26id%3D2")
                .unwrap();
        let expected = outcome(theirs.clear_single_url(&url));
        assert_eq!(expected.as_deref(), Ok("https://t.example/a?id=2"));
        assert_eq!(outcome(ours.clear(&url)), expected);
    }
}
