//! The account's address (https, or plain http to loopback only) and query strings.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Checks the `[auth] url` setting and returns it without a trailing slash. Plain http
/// would send tokens in the clear, so it is allowed only to this machine (the sandbox).
pub(crate) fn check_base_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!(
            "the amoCRM address {url:?} must start with https:// (e.g. https://example.amocrm.ru)"
        ));
    };
    if rest.contains(['/', '?', '#']) {
        return Err(format!(
            "the amoCRM address {url:?} must be the account's address alone, without a path \
             (e.g. https://example.amocrm.ru)"
        ));
    }
    if rest.contains('@') {
        return Err(format!(
            "the amoCRM address {url:?} must not carry a user name or password"
        ));
    }
    let (host, port) = split_host_port(rest)
        .ok_or_else(|| format!("the amoCRM address {url:?} has no valid host name"))?;
    if let Some(port) = port
        && port.parse::<u16>().ok().filter(|p| *p > 0).is_none()
    {
        return Err(format!(
            "the amoCRM address {url:?} has an invalid port {port:?}"
        ));
    }
    if !valid_host(host) {
        return Err(format!(
            "the amoCRM address {url:?} has an invalid host name {host:?}"
        ));
    }
    if !https && !is_loopback(host) {
        return Err(format!(
            "the amoCRM address {url:?} uses plain http, which is allowed only to this machine \
             (127.0.0.1, localhost, [::1]); use https://"
        ));
    }
    Ok(url.to_string())
}

/// `host[:port]` or `[v6][:port]`; the host of a v6 address keeps its brackets.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => Some((host, Some(port))),
            None => Some((authority, None)),
        }
    }
}

fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// `key=value&...` with both sides percent-encoded (brackets too, as PHP clients send them).
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        encode_into(&mut out, key);
        out.push('=');
        encode_into(&mut out, value);
    }
    out
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        assert_eq!(
            check_base_url("https://example.amocrm.ru/").as_deref(),
            Ok("https://example.amocrm.ru")
        );
        assert!(check_base_url("https://example.kommo.com:8443").is_ok());
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://127.5.6.7").is_ok());
        assert!(check_base_url("http://localhost:1").is_ok());
        assert!(check_base_url("HTTP://LOCALHOST:1").is_ok());
        assert!(check_base_url("http://[::1]:9000").is_ok());
        for bad in [
            "http://example.amocrm.ru",
            "http://10.0.0.1",
            "http://128.0.0.1",
            "http://[::2]:80",
            "http://127.0.0.1.example.com",
            "ftp://example.amocrm.ru",
            "example.amocrm.ru",
            "https://",
            "https://example.amocrm.ru/api/v4",
            "https://user:pw@example.amocrm.ru",
            "https://example.amocrm.ru:0",
            "https://example.amocrm.ru:99999",
            "https://exa mple.amocrm.ru",
            "http://localhost.evil.com",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn errors_say_what_to_write() {
        let e = check_base_url("http://example.amocrm.ru").unwrap_err();
        assert!(e.contains("https://"), "{e}");
    }

    #[test]
    fn query_encodes_brackets_and_text() {
        assert_eq!(
            query(&[("filter[id][]", "7"), ("query", "Иван +7 a@b.ru")]),
            "filter%5Bid%5D%5B%5D=7&query=%D0%98%D0%B2%D0%B0%D0%BD%20%2B7%20a%40b.ru"
        );
    }
}
