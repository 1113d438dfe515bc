//! Who is calling: `Authorization: Bearer <token>`, where the token is one the server printed for a user at
//! start, or an unsigned JWT (its signature is not checked) whose `oid` claim is a user's
//! `azureactivedirectoryobjectid`, or whose `appid` / `azp` claim is an application user's `applicationid`.

use std::collections::HashMap;

use serde_json::Value as Json;
use xrm_model::Uuid;

use super::errors::ApiError;
use crate::org::Organization;

/// A user's token, as printed at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserToken {
    pub user: Uuid,
    /// `@alias (full name)`, or the id and full name of a user without an alias.
    pub label: String,
    pub token: String,
}

/// The tokens of an organization's users.
pub struct Tokens {
    listed: Vec<UserToken>,
    by_token: HashMap<String, Uuid>,
}

impl Tokens {
    /// A token per enabled or disabled user (SYSTEM has none: it never calls from outside, ORG-2): `user-<alias>`,
    /// or `user-<systemuserid>` for a user without an alias. Deterministic, so a client's configuration
    /// survives a restart; the server listens on 127.0.0.1 unless told otherwise, so they guard nothing.
    pub fn new(org: &Organization) -> Tokens {
        let mut listed: Vec<UserToken> = org
            .users
            .values()
            .filter(|u| u.id != org.system_user)
            .map(|u| {
                let alias = org.alias_of(u.id).map(str::to_owned);
                let token = format!("user-{}", alias.clone().unwrap_or_else(|| u.id.to_string()));
                let label = match alias {
                    Some(a) => format!("@{a} ({})", u.fullname),
                    None => format!("{} ({})", u.id, u.fullname),
                };
                UserToken { user: u.id, label, token }
            })
            .collect();
        listed.sort_by(|a, b| a.label.cmp(&b.label));
        let by_token = listed.iter().map(|t| (t.token.clone(), t.user)).collect();
        Tokens { listed, by_token }
    }

    pub fn listed(&self) -> &[UserToken] {
        &self.listed
    }

    /// The calling user of a request's `Authorization` header: 401 when there is none or it names nobody.
    pub fn caller(&self, org: &Organization, authorization: Option<&str>) -> Result<Uuid, ApiError> {
        let header = authorization.ok_or_else(|| {
            ApiError::unauthorized(
                "The request has no Authorization header: send `Authorization: Bearer <token>` with a token \
                 printed by xrm-sandbox serve at start, or a JWT whose oid claim is a user's \
                 azureactivedirectoryobjectid",
            )
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("The Authorization header is not `Bearer <token>`"))?;
        if let Some(user) = self.by_token.get(token) {
            return Ok(*user);
        }
        match jwt_claims(token) {
            Some(claims) => user_of_claims(org, &claims),
            None => Err(ApiError::unauthorized(
                "The bearer token is neither a token xrm-sandbox serve printed at start nor a JWT",
            )),
        }
    }
}

/// The user a JWT's claims name: `oid` (a user's Entra object id) first, then `appid` or `azp` (an application
/// user's application id).
fn user_of_claims(org: &Organization, claims: &serde_json::Map<String, Json>) -> Result<Uuid, ApiError> {
    let claim = |name: &str| claims.get(name).and_then(Json::as_str).and_then(|s| Uuid::try_parse(s).ok());
    if let Some(oid) = claim("oid")
        && let Some(user) = org.users.values().find(|u| u.aad_object_id == Some(oid))
    {
        return Ok(user.id);
    }
    for name in ["appid", "azp"] {
        if let Some(app) = claim(name)
            && let Some(user) = org.users.values().find(|u| u.application_id == Some(app))
        {
            return Ok(user.id);
        }
    }
    let named: Vec<String> = ["oid", "appid", "azp"]
        .iter()
        .filter_map(|n| claims.get(*n).map(|v| format!("{n} = {}", v.as_str().unwrap_or("(not text)"))))
        .collect();
    Err(ApiError::unauthorized(match named.is_empty() {
        true => "The JWT has no oid, appid or azp claim naming a user of the organization".to_owned(),
        false => format!(
            "No user of the organization matches the JWT's {} (oid: azureactivedirectoryobjectid; appid, azp: \
             applicationid)",
            named.join(", ")
        ),
    }))
}

/// The claims of a JWT (`header.claims.signature`, base64url), without checking its signature.
fn jwt_claims(token: &str) -> Option<serde_json::Map<String, Json>> {
    let mut parts = token.split('.');
    let (_header, claims, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    match serde_json::from_slice(&base64url(claims)?).ok()? {
        Json::Object(map) => Some(map),
        _ => None,
    }
}

/// Base64url without padding (padding tolerated).
fn base64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut n) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        bits = ((bits << 6) | u32::from(v)) & 0xffff;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push(((bits >> n) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decodes_without_padding() {
        assert_eq!(base64url("eyJvaWQiOiJ4In0").unwrap(), br#"{"oid":"x"}"#);
        assert_eq!(base64url("YQ").unwrap(), b"a");
        assert_eq!(base64url("YWI=").unwrap(), b"ab");
        assert_eq!(base64url("_-8").unwrap(), [0xff, 0xef]);
        assert!(base64url("a b").is_none());
    }

    #[test]
    fn jwt_claims_are_read_without_a_signature() {
        let claims = jwt_claims("eyJhbGciOiJub25lIn0.eyJvaWQiOiJ4In0.").unwrap();
        assert_eq!(claims["oid"], "x");
        assert!(jwt_claims("only.two").is_none());
        assert!(jwt_claims("a.b.c.d").is_none());
    }
}
