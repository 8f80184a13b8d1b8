//! The account's address (https, or plain http to loopback only), checked here for every
//! reader of it, and query strings.

use ::url::{Host, ParseError, Url};

/// How an address is written, for the messages.
const EXAMPLE: &str = "https://example.amocrm.ru";

/// The account's address, `[auth] url`, as amocrm.conf, the settings form and the client
/// take it: https, or http to this machine only (the sandbox, a test proxy), since plain
/// http would carry the tokens in the clear; the account's address alone, without a user
/// name, a path or a query (`http://127.0.0.1@evil` and `http://127.0.0.1:80@evil.com`
/// are evil.com). Returned as written, without its trailing slash.
pub fn check_account_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let no_host = || format!("'{url}' has no valid host: write {EXAMPLE}");
    if !url.contains("://") {
        return Err(format!("'{url}' is not an address: write {EXAMPLE}"));
    }
    if url.contains(char::is_whitespace) {
        return Err(no_host());
    }
    let parsed = Url::parse(url).map_err(|e| match e {
        ParseError::InvalidPort => format!("'{url}' has an invalid port"),
        _ => no_host(),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "'{url}' carries a user name or password: write the account's address alone, {EXAMPLE}"
        ));
    }
    let bare = parsed.path() == "/" && parsed.query().is_none() && parsed.fragment().is_none();
    if !bare || url.contains('\\') {
        return Err(format!(
            "'{url}' has a path: write the account's address alone, {EXAMPLE}"
        ));
    }
    if parsed.port() == Some(0) {
        return Err(format!("'{url}' has an invalid port '0'"));
    }
    let host = parsed.host().filter(valid_host).ok_or_else(no_host)?;
    match parsed.scheme() {
        "https" => Ok(url.to_string()),
        "http" if is_loopback(&host) => Ok(url.to_string()),
        "http" => Err(format!(
            "'{url}' is plain http to another machine; tokens would travel unencrypted: use https:// (http is allowed for 127.0.0.1 / localhost only)"
        )),
        other => Err(format!("'{other}://' is not supported: use https://")),
    }
}

/// A DNS name of letters, digits and '-' in dot-separated labels, or an IP address.
fn valid_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }),
        Host::Ipv4(_) | Host::Ipv6(_) => true,
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
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
            check_account_url("https://example.amocrm.ru/").as_deref(),
            Ok("https://example.amocrm.ru")
        );
        assert!(check_account_url("https://example.kommo.com:8443").is_ok());
        assert!(check_account_url("http://127.0.0.1:8080").is_ok());
        assert!(check_account_url("http://127.5.6.7").is_ok());
        assert!(check_account_url("http://localhost:1").is_ok());
        assert!(check_account_url("HTTP://LOCALHOST:1").is_ok());
        assert!(check_account_url("http://[::1]:9000").is_ok());
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
            assert!(check_account_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn what_the_client_would_connect_to_is_what_is_checked() {
        assert_eq!(
            check_account_url("http://127.0.0.1:8080"),
            Ok("http://127.0.0.1:8080".into())
        );
        assert!(check_account_url("http://127.1.2.3:80/").is_ok());
        for bad in [
            "http://127.0.0.1:80@evil.example",
            "http://localhost:x@evil.example",
            "http://[::1]@evil.example",
            "http://127.0.0.1/../x",
            "http://127.0.0.1\\@evil.example",
            "https://example.amocrm.ru?x=1",
            "https://example.amocrm.ru#x",
            "https://exa_mple.amocrm.ru",
            "http://[::1",
        ] {
            assert!(check_account_url(bad).is_err(), "{bad} accepted");
        }
        let e = check_account_url("http://example.amocrm.ru").unwrap_err();
        assert!(e.contains("unencrypted"), "{e}");
        let e = check_account_url("https://example.amocrm.ru:99999").unwrap_err();
        assert!(e.contains("invalid port"), "{e}");
    }

    #[test]
    fn errors_say_what_to_write() {
        let e = check_account_url("http://example.amocrm.ru").unwrap_err();
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
