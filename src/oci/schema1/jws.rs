//! libtrust "pretty JWS" for schema1 (docs/FORMATS.md section 3): signing a canonical payload into
//! a signed document, recovering the canonical payload from one, and verifying it (ES256, any
//! key). The digest of a schema1 manifest is the sha256 of its canonical payload.

use crate::oci::gojson;
use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey;
use p256::EncodedPoint;
use serde_json::Value;

/// A P-256 key with its libtrust KeyID: it signs schema1 manifests, and (another instance)
/// hoist's Docker-style bearer tokens, whose `kid` is such a KeyID too.
#[derive(Clone)]
pub struct SchemaKey {
    signing: SigningKey,
    key_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the manifest is not signed (no signatures)")]
    Unsigned,
    #[error("the manifest is not a JSON object: {0}")]
    Json(String),
    #[error("signature {index}: {reason}")]
    BadSignature { index: usize, reason: String },
    #[error("the signatures disagree on the signed payload")]
    Inconsistent,
    #[error("signature {index} does not verify")]
    Unverified { index: usize },
    #[error("signing key: {0}")]
    Key(String),
}

impl SchemaKey {
    /// A key from its 32-byte secret scalar.
    pub fn from_secret(bytes: &[u8]) -> Result<Self, JwsError> {
        let signing = SigningKey::from_slice(bytes).map_err(|e| JwsError::Key(e.to_string()))?;
        Self::new(signing)
    }

    /// A key from a SEC1 `EC PRIVATE KEY` PEM (the libtrust and distribution key file format).
    pub fn from_pem(pem: &str) -> Result<Self, JwsError> {
        let secret =
            p256::SecretKey::from_sec1_pem(pem).map_err(|e| JwsError::Key(e.to_string()))?;
        Self::new(SigningKey::from(secret))
    }

    /// The key as a SEC1 PEM, for the key file.
    pub fn to_pem(&self) -> Result<String, JwsError> {
        let secret = p256::SecretKey::from(self.signing.clone());
        secret
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| JwsError::Key(e.to_string()))
    }

    fn new(signing: SigningKey) -> Result<Self, JwsError> {
        let key_id = key_id(signing.verifying_key())?;
        Ok(SchemaKey { signing, key_id })
    }

    /// The libtrust KeyID, e.g. `OE32:NVFM:5L3A:…`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The raw ES256 signature (r || s, 64 bytes) of `data`, as JWS and JWT carry it.
    pub fn sign_es256(&self, data: &[u8]) -> Vec<u8> {
        let signature: Signature = self.signing.sign(data);
        signature.to_bytes().to_vec()
    }

    /// Whether `signature` (r || s) is this key's ES256 signature of `data`.
    pub fn verify_es256(&self, data: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature)
            .is_ok_and(|s| self.signing.verifying_key().verify(data, &s).is_ok())
    }

    /// Sign `payload` (a canonical schema1 document) into the pretty-JWS layout. ECDSA here
    /// is RFC 6979 deterministic, so the same payload, key and `time` give the same bytes.
    pub fn sign(&self, payload: &str, time: &str) -> String {
        let format_length = format_length(payload);
        let tail = &payload[format_length..];
        let protected = format!(
            "{{\"formatLength\":{format_length},\"formatTail\":{},\"time\":{}}}",
            gojson::string(&BASE64URL_NOPAD.encode(tail.as_bytes())),
            gojson::string(time),
        );
        let protected = BASE64URL_NOPAD.encode(protected.as_bytes());
        let input = format!("{protected}.{}", BASE64URL_NOPAD.encode(payload.as_bytes()));
        let signature: Signature = self.signing.sign(input.as_bytes());
        let point = self.signing.verifying_key().to_encoded_point(false);
        let coord = |c: Option<&p256::FieldBytes>| {
            BASE64URL_NOPAD.encode(c.map(|b| b.as_slice()).unwrap_or_default())
        };
        let compact = format!(
            "[{{\"header\":{{\"jwk\":{{\"crv\":\"P-256\",\"kid\":{},\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}},\"alg\":\"ES256\"}},\"signature\":\"{}\",\"protected\":\"{}\"}}]",
            gojson::string(&self.key_id),
            coord(point.x()),
            coord(point.y()),
            BASE64URL_NOPAD.encode(&signature.to_bytes()),
            protected,
        );
        let indent = detect_indent(payload);
        let mut out = payload[..format_length].to_owned();
        if indent.is_empty() {
            out.push_str(",\"signatures\":");
            out.push_str(&compact);
        } else {
            out.push_str(",\n");
            out.push_str(indent);
            out.push_str("\"signatures\": ");
            out.push_str(&gojson::indent(&compact, indent, indent));
            out.push('\n');
        }
        out.push('}');
        out
    }
}

/// libtrust KeyID: base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in
/// twelve groups of four.
pub fn key_id(key: &VerifyingKey) -> Result<String, JwsError> {
    use sha2::{Digest as _, Sha256};
    let der = key
        .to_public_key_der()
        .map_err(|e| JwsError::Key(e.to_string()))?;
    let hash = Sha256::digest(der.as_bytes());
    let b32 = BASE32_NOPAD.encode(&hash[..30]);
    let groups: Vec<&str> = (0..12).map(|i| &b32[i * 4..i * 4 + 4]).collect();
    Ok(groups.join(":"))
}

/// Index just past the last non-space character before the payload's final `}`.
fn format_length(payload: &str) -> usize {
    let close = payload.rfind('}').unwrap_or(payload.len());
    payload[..close].trim_end().len()
}

/// The indent of a pretty-printed payload: what stands between `{\n` and the first `"`.
fn detect_indent(payload: &str) -> &str {
    payload
        .strip_prefix("{\n")
        .and_then(|rest| rest.find('"').map(|i| &rest[..i]))
        .filter(|i| i.chars().all(|c| c == ' ' || c == '\t'))
        .unwrap_or("")
}

/// A signed document taken apart: its canonical payload and the KeyIDs that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub canonical: Vec<u8>,
    pub key_ids: Vec<String>,
}

/// Recover the canonical payload of a signed schema1 document and verify every signature
/// against the key it carries (any key is accepted: schema1 signatures prove integrity, not
/// trust). Only EC P-256 JWKs are understood.
pub fn verify(body: &[u8]) -> Result<Verified, JwsError> {
    let doc: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| JwsError::Json(e.to_string()))?;
    let signatures = match doc.get("signatures") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => return Err(JwsError::Unsigned),
    };
    let mut canonical: Option<Vec<u8>> = None;
    let mut key_ids = Vec::new();
    for (index, sig) in signatures.iter().enumerate() {
        let bad = |reason: &str| JwsError::BadSignature {
            index,
            reason: reason.to_owned(),
        };
        let protected = sig["protected"]
            .as_str()
            .ok_or_else(|| bad("no protected header"))?;
        let header = decode_b64(protected).ok_or_else(|| bad("protected is not base64url"))?;
        let header: Value =
            serde_json::from_slice(&header).map_err(|_| bad("protected is not JSON"))?;
        let length = header["formatLength"]
            .as_u64()
            .and_then(|l| usize::try_from(l).ok())
            .filter(|l| *l <= body.len())
            .ok_or_else(|| bad("formatLength missing or out of range"))?;
        let tail = header["formatTail"]
            .as_str()
            .and_then(decode_b64)
            .ok_or_else(|| bad("formatTail missing or not base64url"))?;
        let mut payload = body[..length].to_vec();
        payload.extend_from_slice(&tail);
        match &canonical {
            Some(c) if *c != payload => return Err(JwsError::Inconsistent),
            _ => canonical = Some(payload.clone()),
        }
        let key = jwk_key(&sig["header"]).map_err(|r| bad(&r))?;
        let kid = key_id(&key)?;
        if let Some(claimed) = sig["header"]["jwk"]["kid"].as_str() {
            if claimed != kid {
                return Err(bad("JWK kid does not match its key"));
            }
        }
        let signature = sig["signature"]
            .as_str()
            .and_then(decode_b64)
            .and_then(|b| Signature::from_slice(&b).ok())
            .ok_or_else(|| bad("signature is not a 64-byte ES256 value"))?;
        let input = format!("{protected}.{}", BASE64URL_NOPAD.encode(&payload));
        key.verify(input.as_bytes(), &signature)
            .map_err(|_| JwsError::Unverified { index })?;
        key_ids.push(kid);
    }
    Ok(Verified {
        canonical: canonical.unwrap_or_default(),
        key_ids,
    })
}

fn jwk_key(header: &Value) -> Result<VerifyingKey, String> {
    if header.get("x5c").is_some() && header.get("jwk").is_none() {
        return Err("x5c certificate chains are not supported; sign with a JWK".into());
    }
    let alg = header["alg"].as_str().unwrap_or_default();
    let jwk = &header["jwk"];
    if alg != "ES256" || jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return Err(format!(
            "unsupported key or algorithm {alg:?}; only ES256 with P-256"
        ));
    }
    let coord = |name: &str| -> Result<[u8; 32], String> {
        jwk[name]
            .as_str()
            .and_then(decode_b64)
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .ok_or_else(|| format!("JWK {name} is not a 32-byte coordinate"))
    };
    let (x, y) = (coord("x")?, coord("y")?);
    let point = EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
    VerifyingKey::from_encoded_point(&point).map_err(|_| "JWK is not a point on P-256".into())
}

/// base64url with or without padding; libtrust also ignores spaces and newlines.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .collect();
    BASE64URL_NOPAD.decode(clean.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::test_fixtures::fixture;
    use crate::oci::Digest;

    const CANONICAL: &str = "canonical/distribution-converted__test_simple__v2s2.canonical.json";
    const DIGEST: &str = "sha256:8401d58922c1920b919b1a3cf33111dc8d80d62602c52c7ca8e16a66d59d80cc";

    #[test]
    fn distribution_signed_bodies_verify_to_the_canonical_payload() {
        let body = fixture("responses/test_simple__tag-v2s2__GET__none.body");
        let v = verify(&body).expect("verifies");
        assert_eq!(v.canonical, fixture(CANONICAL));
        assert_eq!(Digest::sha256_of(&v.canonical).to_string(), DIGEST);
        assert_eq!(
            v.key_ids,
            ["OE32:NVFM:5L3A:6EBT:R5XY:2MOH:C5IL:MJYB:UMC6:BPA2:NNGQ:LI2B"]
        );
    }

    #[test]
    fn distribution_key_has_its_libtrust_key_id() {
        let pem = String::from_utf8(fixture("registry/schema1-signing-key.pem")).expect("pem");
        let key = SchemaKey::from_pem(&pem).expect("key");
        assert_eq!(
            key.key_id(),
            "OE32:NVFM:5L3A:6EBT:R5XY:2MOH:C5IL:MJYB:UMC6:BPA2:NNGQ:LI2B"
        );
    }

    #[test]
    fn our_signature_has_distributions_layout_and_verifies() {
        let pem = String::from_utf8(fixture("registry/schema1-signing-key.pem")).expect("pem");
        let key = SchemaKey::from_pem(&pem).expect("key");
        let payload = String::from_utf8(fixture(CANONICAL)).expect("utf8");
        let signed = key.sign(&payload, "2026-11-28T01:53:18Z");
        assert_eq!(
            signed,
            key.sign(&payload, "2026-11-28T01:53:18Z"),
            "deterministic"
        );
        let theirs = String::from_utf8(fixture("responses/test_simple__tag-v2s2__GET__none.body"))
            .expect("utf8");
        // Same key, same time: everything but the ECDSA signature value is identical.
        let mask = |s: &str| {
            let at = s.find("\"signature\": \"").expect("signature") + 14;
            format!("{}{}", &s[..at], &s[at + 86..])
        };
        assert_eq!(mask(&signed), mask(&theirs));
        let v = verify(signed.as_bytes()).expect("verifies");
        assert_eq!(v.canonical, payload.as_bytes());
    }

    #[test]
    fn compact_payloads_sign_compactly() {
        let key = SchemaKey::from_secret(&[7u8; 32]).expect("key");
        let payload = r#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[],"history":[]}"#;
        let signed = key.sign(payload, "2026-01-01T00:00:00Z");
        assert!(signed.starts_with(&payload[..payload.len() - 1]));
        assert!(signed.contains(",\"signatures\":[{\"header\""));
        assert_eq!(
            verify(signed.as_bytes()).expect("verifies").canonical,
            payload.as_bytes()
        );
    }

    #[test]
    fn tampered_and_unsigned_documents_fail() {
        let tampered = fixture("responses/put/input-tampered-s1.json");
        assert!(matches!(
            verify(&tampered),
            Err(JwsError::Unverified { .. })
        ));
        let unsigned = fixture("responses/put/input-unsigned-s1.json");
        assert_eq!(verify(&unsigned), Err(JwsError::Unsigned));
        assert!(matches!(
            verify(b"{\"signatures\":[{}]}"),
            Err(JwsError::BadSignature { .. })
        ));
        assert!(verify(b"not json").is_err());
    }
}
