//! The access token is a JWT: its payload says when it expires. Only the claims are read;
//! the signature is amoCRM's business.

/// The claims the client needs, both unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Claims {
    pub exp: Option<i64>,
    pub iat: Option<i64>,
}

/// The claims of a JWT, or `None` if the token is not one.
pub(crate) fn claims(token: &str) -> Option<Claims> {
    let mut parts = token.trim().split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let json: serde_json::Value = serde_json::from_slice(&base64url_decode(payload)?).ok()?;
    let seconds = |key: &str| {
        let v = json.get(key)?;
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
    };
    Some(Claims {
        exp: seconds("exp"),
        iat: seconds("iat").or_else(|| seconds("nbf")),
    })
}

/// Base64url without padding (padding tolerated), as JWTs use it.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character cannot encode a byte.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

/// Base64url encoding, for building tokens in tests.
#[cfg(test)]
pub(crate) fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exp_and_iat() {
        let payload = r#"{"aud":"x","jti":"y","iat":1700000000,"nbf":1700000000,"exp":1700086400,"sub":"1","account_id":28805383,"scopes":["crm"]}"#;
        let token = format!(
            "{}.{}.sig",
            b64url(br#"{"typ":"JWT","alg":"RS256"}"#),
            b64url(payload.as_bytes())
        );
        assert_eq!(
            claims(&token),
            Some(Claims {
                exp: Some(1700086400),
                iat: Some(1700000000)
            })
        );
    }

    #[test]
    fn decodes_every_length_and_float_claims() {
        for text in ["a", "ab", "abc", "abcd", "{\"exp\":1.5e9}"] {
            assert_eq!(
                base64url_decode(&b64url(text.as_bytes())).as_deref(),
                Some(text.as_bytes())
            );
        }
        let token = format!("h.{}.s", b64url(br#"{"exp":1.5e9,"nbf":10}"#));
        assert_eq!(
            claims(&token),
            Some(Claims {
                exp: Some(1_500_000_000),
                iat: Some(10)
            })
        );
    }

    #[test]
    fn not_a_jwt_has_no_claims() {
        assert_eq!(claims("opaque-token"), None);
        assert_eq!(claims("a.!!!.c"), None);
        assert_eq!(claims(&format!("a.{}.c", b64url(b"not json"))), None);
        assert_eq!(base64url_decode("A"), None);
        let no_exp = format!("a.{}.c", b64url(br#"{"sub":"1"}"#));
        assert_eq!(claims(&no_exp), Some(Claims::default()));
    }
}
