//! The access token is a JWT: its payload says when it expires. Only the claims are read;
//! the signature is amoCRM's business.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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

/// Base64url without padding (padding and the standard alphabet tolerated), as JWTs use
/// it.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=').replace('+', "-").replace('/', "_");
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Base64url encoding, for building tokens in tests.
#[cfg(test)]
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
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
