//! The one error type of the amoCRM client: what the worker must do differs by variant.

/// What the admin does when amoCRM no longer accepts the integration's tokens.
pub const NEW_CODE_ACTION: &str =
    "generate a new authorization code in amoCRM (valid 20 minutes) and run `amocrm auth CODE`";

#[derive(Debug, thiserror::Error)]
pub enum AmoError {
    /// amoCRM refuses this integration until the admin acts (401 after a refresh, refresh
    /// token revoked or invalid, 402 unpaid, 403 blocked, no tokens and no code): the run
    /// stops and the queue stays. `action` tells the admin what to do.
    #[error("amoCRM refused the integration (HTTP {status}): {message}; to fix: {action}")]
    Refused {
        status: u16,
        message: String,
        action: String,
        /// What amoCRM's OAuth server objected to, when a token request was refused.
        oauth: Option<OAuthRefusal>,
    },
    /// Unreachable, 5xx, timeouts, 429 after the retries: the run stops, the queue stays.
    #[error("amoCRM is unavailable: {0}; the queue keeps the changes, they go out on a later run")]
    Unavailable(String),
    /// A create was sent and its answer lost: amoCRM may have made the entities. The caller
    /// looks for them before sending the create again.
    #[error("amoCRM may have applied a create whose answer was lost: {0}")]
    MaybeApplied(String),
    /// A bad request not attributable to single items, or an answer that is not what the
    /// API documents.
    #[error("amoCRM gave an unexpected answer: {0}")]
    Protocol(String),
    /// A local problem: bad URL, token files unreadable or unwritable.
    #[error("{0}")]
    Local(String),
}

/// What amoCRM's OAuth server objected to, from the `hint` of its refusal, so that the
/// admin is told the one fix that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthRefusal {
    /// `Authorization code has expired`: older than 20 minutes.
    CodeExpired,
    /// `Authorization code has been revoked`: already exchanged once.
    CodeUsed,
    /// `Cannot decrypt the authorization code`: mistyped, or from another integration.
    CodeInvalid,
    /// ``Check the `client_id` parameter``, or the client refused without a hint.
    ClientId,
    /// ``Check the `client_secret` parameter``.
    ClientSecret,
    /// `Redirect URI is not associated with client`.
    RedirectUri,
    /// `Token has been revoked`, `Invalid refresh token`.
    RefreshToken,
    /// Another reason.
    Other,
}

impl AmoError {
    /// Why a token request (code exchange or refresh) was refused; `None` for other errors.
    pub fn oauth_refusal(&self) -> Option<OAuthRefusal> {
        match self {
            AmoError::Refused { oauth, .. } => *oauth,
            _ => None,
        }
    }
}

impl OAuthRefusal {
    /// What a token request's refusal objects to, from the reason amoCRM gave (its `hint`,
    /// else its message).
    pub fn from_reason(reason: &str) -> OAuthRefusal {
        let reason = reason.to_lowercase();
        let has = |s: &str| reason.contains(s);
        if has("code has expired") {
            OAuthRefusal::CodeExpired
        } else if has("code has been revoked") {
            OAuthRefusal::CodeUsed
        } else if has("decrypt") {
            OAuthRefusal::CodeInvalid
        } else if has("client_secret") {
            OAuthRefusal::ClientSecret
        } else if has("client_id") || has("авторизация клиента") {
            OAuthRefusal::ClientId
        } else if has("redirect") {
            OAuthRefusal::RedirectUri
        } else if has("token has been revoked") || has("refresh token") {
            OAuthRefusal::RefreshToken
        } else {
            OAuthRefusal::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_hints_name_the_fix() {
        let cases = [
            ("Authorization code has expired", OAuthRefusal::CodeExpired),
            (
                "Authorization code has been revoked",
                OAuthRefusal::CodeUsed,
            ),
            (
                "Cannot decrypt the authorization code",
                OAuthRefusal::CodeInvalid,
            ),
            ("Check the `client_id` parameter", OAuthRefusal::ClientId),
            (
                "Check the `client_secret` parameter",
                OAuthRefusal::ClientSecret,
            ),
            ("Авторизация клиента не прошла", OAuthRefusal::ClientId),
            (
                "Redirect URI is not associated with client",
                OAuthRefusal::RedirectUri,
            ),
            ("Token has been revoked", OAuthRefusal::RefreshToken),
            ("Invalid refresh token", OAuthRefusal::RefreshToken),
            ("no reason given (x)", OAuthRefusal::Other),
        ];
        for (hint, want) in cases {
            assert_eq!(OAuthRefusal::from_reason(hint), want, "{hint}");
        }
        let other = AmoError::Refused {
            status: 401,
            message: "there are no tokens".into(),
            action: String::new(),
            oauth: None,
        };
        assert_eq!(other.oauth_refusal(), None);
        assert_eq!(AmoError::Unavailable("x".into()).oauth_refusal(), None);
    }
}
