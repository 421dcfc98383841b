//! Allow-lists of outbound hosts, in Spin's syntax: `https://api.example.com`,
//! `http://127.0.0.1:8080`, `https://*.example.com`, `https://example.com:*`.
//! A scheme is always written; a port left out is the scheme's own (80, 443).
//! Only what a list names is reachable: an empty list allows nothing.

use core::net::IpAddr;
use std::fmt;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "http" => Some(Self::Http),
            "https" => Some(Self::Https),
            _ => None,
        }
    }

    /// Its port when none is written.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }

    /// As written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Where a request goes: scheme, host (lower case, an IPv6 address without
/// brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The scheme.
    pub scheme: Scheme,
    /// The host name or address.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Target {
    /// The target of an absolute `http(s)` URL, or what is wrong with it.
    pub fn of_url(url: &http::Uri) -> Result<Self, String> {
        let scheme = url
            .scheme_str()
            .and_then(Scheme::parse)
            .ok_or_else(|| format!("`{url}` is not an http:// or https:// URL"))?;
        let host = url
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("`{url}` names no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        Ok(Self {
            scheme,
            port: url.port_u16().unwrap_or(scheme.default_port()),
            host,
        })
    }

    /// The host as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(
                f,
                "{}://[{}]:{}",
                self.scheme.as_str(),
                self.host,
                self.port
            )
        } else {
            write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// `*`: any host.
    Any,
    /// `*.example.com`: any name under it (not the name itself).
    Under(String),
    /// One name or address.
    Exact(String),
}

/// One entry of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Scheme,
    host: HostPattern,
    /// `None`: any port.
    port: Option<u16>,
    text: String,
}

impl AllowedHost {
    /// Whether it lets a request go to `target`.
    pub fn matches(&self, target: &Target) -> bool {
        let host = match &self.host {
            HostPattern::Any => true,
            HostPattern::Under(suffix) => target
                .host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| !head.is_empty()),
            HostPattern::Exact(name) => *name == target.host,
        };
        self.scheme == target.scheme && host && self.port.is_none_or(|p| p == target.port)
    }

    /// Whether it names `ip` itself (not a name or a wildcard): then the
    /// address was chosen by whoever wrote the list, private or not.
    pub fn names_address(&self, ip: IpAddr) -> bool {
        matches!(&self.host, HostPattern::Exact(name) if name.parse::<IpAddr>() == Ok(ip))
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for AllowedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let example = "write e.g. `https://api.example.com`, `http://127.0.0.1:8080` or `https://*.example.com`";
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("`{text}` has no scheme; {example}"))?;
        let scheme = Scheme::parse(scheme)
            .ok_or_else(|| format!("`{text}`: the scheme must be http or https"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "`{text}`: an allowed host is a scheme, a host and a port, no path or user; {example}"
            ));
        }
        let (host, port) = split_port(rest).map_err(|e| format!("`{text}`: {e}"))?;
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if !is_host_name(suffix) {
                return Err(format!("`{text}`: `{suffix}` is not a host name"));
            }
            HostPattern::Under(format!(".{suffix}"))
        } else if is_host_name(&host) || host.parse::<IpAddr>().is_ok() {
            HostPattern::Exact(host)
        } else {
            return Err(format!(
                "`{text}`: `{host}` is not a host name or address; {example}"
            ));
        };
        let port = match port {
            None => Some(scheme.default_port()),
            Some("*") => None,
            Some(port) => Some(
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("`{text}`: `{port}` is not a port (1-65535 or *)"))?,
            ),
        };
        Ok(Self {
            scheme,
            host,
            port,
            text: text.to_owned(),
        })
    }
}

/// `host[:port]`, with `[v6]` brackets taken off.
fn split_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs its closing `]`")?;
        return match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|port| (host, Some(port)))
                .ok_or_else(|| "write `[address]:port`".to_owned()),
        };
    }
    Ok(match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (text, None),
    })
}

fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A list of allowed hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<AllowedHost>,
}

impl AllowList {
    /// Parses a comma- or space-separated list; an empty text allows nothing.
    pub fn parse(text: &str) -> Result<Self, String> {
        let entries = text
            .split([',', ' ', '\n', '\t'])
            .filter(|entry| !entry.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Any host on any port, over either scheme: `http://*:*,https://*:*`
    /// (internal addresses stay refused unless the host allows them).
    pub fn any_host() -> Self {
        let entry = |scheme: Scheme| AllowedHost {
            scheme,
            host: HostPattern::Any,
            port: None,
            text: format!("{}://*:*", scheme.as_str()),
        };
        Self {
            entries: vec![entry(Scheme::Http), entry(Scheme::Https)],
        }
    }

    /// The first entry that lets a request go to `target`.
    pub fn allowing(&self, target: &Target) -> Option<&AllowedHost> {
        self.entries.iter().find(|entry| entry.matches(target))
    }

    /// Whether an entry that lets a request go to `target` names `ip`
    /// itself (any such entry, not only the first: `http://*:*` before
    /// `http://10.0.0.5:8080` still lets 10.0.0.5 be called).
    pub fn names_address(&self, target: &Target, ip: IpAddr) -> bool {
        self.entries
            .iter()
            .any(|entry| entry.matches(target) && entry.names_address(ip))
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.entries.iter().map(|e| e.text.as_str()).collect();
        f.write_str(&texts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_written_out_after_a_wildcard_is_still_named() {
        let list = AllowList::parse("http://*:*,https://*:*,http://10.0.0.5:8080").unwrap();
        let url: http::Uri = "http://10.0.0.5:8080/x".parse().unwrap();
        let target = Target::of_url(&url).unwrap();
        assert!(list.names_address(&target, "10.0.0.5".parse().unwrap()));
        assert!(!list.names_address(&target, "10.0.0.6".parse().unwrap()));
    }

    #[test]
    fn any_host_is_what_its_text_says() {
        assert_eq!(
            AllowList::parse("http://*:*,https://*:*").unwrap(),
            AllowList::any_host()
        );
        assert_eq!(AllowList::any_host().to_string(), "http://*:*, https://*:*");
    }

    use super::*;

    fn target(url: &str) -> Target {
        Target::of_url(&url.parse().unwrap()).unwrap()
    }

    #[test]
    fn entries_match_scheme_host_and_port() {
        let list = AllowList::parse(
            "https://api.example.com, http://127.0.0.1:8080 https://*.corp.example:*",
        )
        .unwrap();
        assert!(
            list.allowing(&target("https://api.example.com/v1/x"))
                .is_some()
        );
        assert!(
            list.allowing(&target("https://API.example.com:443/"))
                .is_some()
        );
        assert!(list.allowing(&target("http://api.example.com/")).is_none());
        assert!(
            list.allowing(&target("https://api.example.com:8443/"))
                .is_none()
        );
        assert!(
            list.allowing(&target("http://127.0.0.1:8080/hook"))
                .is_some()
        );
        assert!(
            list.allowing(&target("http://127.0.0.1:8081/hook"))
                .is_none()
        );
        assert!(
            list.allowing(&target("https://a.b.corp.example:9000/"))
                .is_some()
        );
        assert!(list.allowing(&target("https://corp.example/")).is_none());
        assert!(
            list.allowing(&target("https://evilcorp.example/"))
                .is_none()
        );
        assert!(
            AllowList::parse("")
                .unwrap()
                .allowing(&target("https://a.com"))
                .is_none()
        );
    }

    #[test]
    fn only_an_address_written_out_names_it() {
        let list = AllowList::parse("http://127.0.0.1:8080, http://[::1]:9000, http://localhost:1")
            .unwrap();
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        let v4 = list.allowing(&target("http://127.0.0.1:8080")).unwrap();
        assert!(v4.names_address(ip("127.0.0.1")));
        assert!(!v4.names_address(ip("127.0.0.2")));
        let v6 = list.allowing(&target("http://[::1]:9000/")).unwrap();
        assert!(v6.names_address(ip("::1")));
        let name = list.allowing(&target("http://localhost:1")).unwrap();
        assert!(!name.names_address(ip("127.0.0.1")));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (text, says) in [
            ("api.example.com", "has no scheme"),
            ("ftp://x.com", "must be http or https"),
            ("https://x.com/path", "no path"),
            ("https://x.com:99999", "is not a port"),
            ("https://bad_host!", "is not a host name"),
            ("https://[::1", "closing `]`"),
        ] {
            let error = AllowList::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}
