//! hoist's bearer tokens: ES256 JSON Web Tokens in the shape of Docker's token auth (the
//! claims distribution checks: iss, sub, aud, exp, nbf, iat, jti, `access`), signed with a
//! P-256 key kept in the data dir and named by its libtrust KeyID.

use crate::oci::schema1::jws::SchemaKey;
use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// One entry of the `access` claim: `repository:<name>` with the granted actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<Access>,
    /// `refresh` for the long-lived tokens `offline_token` asks for; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The access token this was issued for, so revoking it ends this at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tok: Option<String>,
    /// The user's generation when issued: a password change or removal ends older tokens.
    #[serde(default)]
    pub gen: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a token")]
    Malformed,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYet,
    #[error("the token is not for this registry")]
    Audience,
}

pub fn encode(key: &SchemaKey, claims: &Claims) -> String {
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": key.key_id()});
    let part = |v: &serde_json::Value| BASE64URL_NOPAD.encode(v.to_string().as_bytes());
    let claims = serde_json::to_value(claims).unwrap_or_default();
    let input = format!("{}.{}", part(&header), part(&claims));
    let signature = BASE64URL_NOPAD.encode(&key.sign_es256(input.as_bytes()));
    format!("{input}.{signature}")
}

/// Verify `token` (signature, time, issuer and audience) and return its claims.
pub fn decode(key: &SchemaKey, token: &str, issuer: &str, now: u64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(body), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let json = |part: &str| -> Result<serde_json::Value, JwtError> {
        let bytes = BASE64URL_NOPAD
            .decode(part.as_bytes())
            .map_err(|_| JwtError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
    };
    if json(header)?["alg"] != "ES256" {
        return Err(JwtError::Malformed);
    }
    let signature = BASE64URL_NOPAD
        .decode(signature.as_bytes())
        .map_err(|_| JwtError::Malformed)?;
    let input = &token[..header.len() + 1 + body.len()];
    if !key.verify_es256(input.as_bytes(), &signature) {
        return Err(JwtError::Signature);
    }
    let claims: Claims = serde_json::from_value(json(body)?).map_err(|_| JwtError::Malformed)?;
    if claims.iss != issuer || claims.aud != issuer {
        return Err(JwtError::Audience);
    }
    if now > claims.exp + LEEWAY_SECS {
        return Err(JwtError::Expired);
    }
    if claims.nbf > now + LEEWAY_SECS {
        return Err(JwtError::NotYet);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SchemaKey {
        SchemaKey::from_secret(&[seed; 32]).expect("key")
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            iss: "hoist".into(),
            sub: "alice".into(),
            aud: "hoist".into(),
            exp,
            nbf: 100,
            iat: 100,
            jti: "j".into(),
            access: vec![Access {
                kind: "repository".into(),
                name: "team/app".into(),
                actions: vec!["pull".into()],
            }],
            typ: None,
            tok: None,
            gen: 0,
        }
    }

    #[test]
    fn a_token_round_trips_and_refuses_tampering_expiry_and_other_keys() {
        let k = key(1);
        let t = encode(&k, &claims(1000));
        assert_eq!(decode(&k, &t, "hoist", 500), Ok(claims(1000)));
        assert_eq!(decode(&k, &t, "hoist", 2000), Err(JwtError::Expired));
        assert_eq!(decode(&k, &t, "other", 500), Err(JwtError::Audience));
        assert_eq!(decode(&key(2), &t, "hoist", 500), Err(JwtError::Signature));
        // Another body under the same signature.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = BASE64URL_NOPAD.encode(
            serde_json::to_string(&claims(9999))
                .expect("json")
                .as_bytes(),
        );
        parts[1] = &forged;
        assert_eq!(
            decode(&k, &parts.join("."), "hoist", 500),
            Err(JwtError::Signature)
        );
        assert_eq!(decode(&k, "a.b", "hoist", 500), Err(JwtError::Malformed));
    }
}
