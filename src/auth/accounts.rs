//! Users (argon2id hashes, admin, groups), access tokens (a name, scopes, an expiry; the
//! secret shown once and stored as its sha256), and signing in with either: the throttle
//! first, then the check, then the audit log.

use super::password::{hash, random_secret, verify};
use super::records::{decode, encode, TokenRecord, TokenView, UserRecord, UserView};
use super::rules::{Scope, Subject};
use super::{now_unix, Auth, AuthError, BASIC_CACHE_FOR, CACHE_LIMIT};
use crate::store::{AuthTable, Store};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Access tokens look like `hoist_<16 hex>_<secret>`: recognisable in a leak scan.
const TOKEN_PREFIX: &str = "hoist_";
/// Last-use times are written at most this often per token.
const LAST_USE_EVERY: Duration = Duration::from_secs(60);

fn check_name(what: &str, name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "{what} {name:?}: use 1-64 lowercase letters, digits, '-', '_' or '.'"
        )))
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < 8 {
        return Err(AuthError::Invalid(
            "a password needs at least 8 characters".into(),
        ));
    }
    Ok(())
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

impl Auth {
    /// With access control on and no user at all, make `admin` with `password` (or a random
    /// one, returned so it can be printed once).
    pub async fn bootstrap_admin(
        &self,
        password: Option<String>,
    ) -> Result<Option<String>, AuthError> {
        let users = Store::call(&self.store, |s| s.meta.auth_list(AuthTable::Users)).await?;
        if !users.is_empty() {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p, false),
            None => (random_secret(18).map_err(AuthError::Invalid)?, true),
        };
        self.add_user("admin", &password, true, Vec::new()).await?;
        Ok(generated.then_some(password))
    }

    pub async fn users(&self) -> Result<Vec<UserView>, AuthError> {
        let raw = Store::call(&self.store, |s| s.meta.auth_list(AuthTable::Users)).await?;
        raw.into_iter()
            .map(|(name, bytes)| {
                let u: UserRecord = decode("user", &bytes)?;
                Ok(UserView {
                    name,
                    admin: u.admin,
                    groups: u.groups,
                    created_at: u.created_at,
                })
            })
            .collect()
    }

    pub async fn add_user(
        &self,
        name: &str,
        password: &str,
        admin: bool,
        groups: Vec<String>,
    ) -> Result<(), AuthError> {
        check_name("user", name)?;
        check_password(password)?;
        for g in &groups {
            check_name("group", g)?;
        }
        let record = UserRecord {
            hash: hash(password).map_err(AuthError::Invalid)?,
            admin,
            groups,
            created_at: now_unix(),
            gen: 0,
        };
        let (n, bytes) = (name.to_owned(), encode(&record)?);
        let created = Store::call(&self.store, move |s| {
            s.meta.auth_create(AuthTable::Users, &n, &bytes)
        })
        .await?;
        if !created {
            return Err(AuthError::Conflict(format!("user {name:?} exists")));
        }
        self.reload().await
    }

    pub(super) async fn user_record(&self, name: &str) -> Result<Option<UserRecord>, AuthError> {
        let n = name.to_owned();
        let raw = Store::call(&self.store, move |s| s.meta.auth_get(AuthTable::Users, &n)).await?;
        raw.map(|b| decode("user", &b)).transpose()
    }

    async fn put_user(&self, name: &str, record: &UserRecord) -> Result<(), AuthError> {
        let (n, bytes) = (name.to_owned(), encode(record)?);
        Store::call(&self.store, move |s| {
            s.meta.auth_put(AuthTable::Users, &n, &bytes)
        })
        .await?;
        self.reload().await
    }

    /// A new password; tokens issued before it and console sessions stop working.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), AuthError> {
        check_password(password)?;
        let mut user = self
            .user_record(name)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("user {name:?}")))?;
        user.hash = hash(password).map_err(AuthError::Invalid)?;
        user.gen += 1;
        self.put_user(name, &user).await
    }

    /// Change a user's admin flag and groups.
    pub async fn set_roles(
        &self,
        name: &str,
        admin: bool,
        groups: Vec<String>,
    ) -> Result<(), AuthError> {
        for g in &groups {
            check_name("group", g)?;
        }
        let mut user = self
            .user_record(name)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("user {name:?}")))?;
        if user.admin && !admin && self.users().await?.iter().filter(|u| u.admin).count() == 1 {
            return Err(AuthError::Conflict(
                "the last admin cannot stop being one; make another admin first".into(),
            ));
        }
        user.admin = admin;
        user.groups = groups;
        user.gen += 1;
        self.put_user(name, &user).await
    }

    /// Remove a user; their access tokens go too. The last admin cannot be removed.
    pub async fn remove_user(&self, name: &str) -> Result<(), AuthError> {
        let users = self.users().await?;
        let target = users
            .iter()
            .find(|u| u.name == name)
            .ok_or_else(|| AuthError::NotFound(format!("user {name:?}")))?;
        if target.admin && users.iter().filter(|u| u.admin).count() == 1 {
            return Err(AuthError::Conflict(
                "the last admin cannot be removed".into(),
            ));
        }
        let tokens = self.tokens(Some(name)).await?;
        let n = name.to_owned();
        let ids: Vec<String> = tokens.into_iter().map(|t| t.id).collect();
        Store::call(&self.store, move |s| {
            for id in &ids {
                s.meta.auth_delete(AuthTable::Tokens, id)?;
            }
            s.meta.auth_delete(AuthTable::Users, &n)
        })
        .await?;
        self.end_sessions_of(name).await?;
        self.reload().await
    }

    /// The subject a user acts as.
    pub(super) fn subject_of(&self, name: &str, user: &UserRecord) -> Subject {
        Subject::User {
            name: name.to_owned(),
            groups: user.groups.clone(),
            admin: user.admin,
        }
    }

    /// Sign in with a user's password, or an access token as the password (as `docker
    /// login` sends it). Failures count against the user from that address.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<Subject, AuthError> {
        // The lock comes first: a locked address gets nothing from credentials another
        // address verified a moment ago.
        if let Err(locked) = self.throttle.check(username, address, Instant::now()) {
            let for_secs = match locked {
                super::throttle::Locked::Account { for_secs }
                | super::throttle::Locked::Address { for_secs } => for_secs,
            };
            self.audit(username, Some(address), "login", "", "locked", "")
                .await;
            return Err(AuthError::Locked { for_secs });
        }
        let key: [u8; 32] = Sha256::digest(format!("{username}\0{password}").as_bytes()).into();
        if let Some((subject, at)) = self
            .basic_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if at.elapsed() < BASIC_CACHE_FOR {
                return Ok(subject.clone());
            }
        }
        let checked = if password.starts_with(TOKEN_PREFIX) {
            self.token_login(username, password).await
        } else {
            self.password_login(username, password).await
        };
        match checked {
            Ok(subject) => {
                self.throttle.succeeded(username, address);
                self.remember_login(key, &subject);
                self.audit(&subject.label(), Some(address), "login", "", "ok", "")
                    .await;
                Ok(subject)
            }
            Err(e) => {
                self.throttle.failed(username, address, Instant::now());
                self.audit(username, Some(address), "login", "", "failed", "")
                    .await;
                Err(e)
            }
        }
    }

    /// Keep good credentials for a minute, so clients that send Basic on every request do
    /// not pay for argon2 each time.
    fn remember_login(&self, key: [u8; 32], subject: &Subject) {
        let mut cache = self.basic_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, (subject.clone(), Instant::now()));
    }

    async fn password_login(&self, username: &str, password: &str) -> Result<Subject, AuthError> {
        let refused = || AuthError::Unauthorized("wrong user name or password".into());
        let Some(user) = self.user_record(username).await? else {
            // Spend the time a check takes, so a missing user cannot be told apart.
            let _ = hash(password);
            return Err(refused());
        };
        let (pw, stored) = (password.to_owned(), user.hash.clone());
        let good = tokio::task::spawn_blocking(move || verify(&pw, &stored))
            .await
            .unwrap_or(false);
        if good {
            Ok(self.subject_of(username, &user))
        } else {
            Err(refused())
        }
    }

    async fn token_login(&self, username: &str, secret: &str) -> Result<Subject, AuthError> {
        let refused = || AuthError::Unauthorized("the access token is not valid".into());
        let rest = secret.strip_prefix(TOKEN_PREFIX).ok_or_else(refused)?;
        let (id, _) = rest.split_once('_').ok_or_else(refused)?;
        let token = self.token_record(id).await?.ok_or_else(refused)?;
        let now = now_unix();
        // docker login sends some user name with the token; the owner's or the token's
        // name are both fine, as is none.
        if token.revoked
            || token.expires_at.is_some_and(|e| e <= now)
            || token.hash != sha256_hex(secret)
            || !(username.is_empty() || username == token.owner || username == token.name)
        {
            return Err(refused());
        }
        let owner = self.user_record(&token.owner).await?.ok_or_else(refused)?;
        let subject = Subject::Token {
            id: id.to_owned(),
            name: token.name.clone(),
            owner: Box::new(self.subject_of(&token.owner, &owner)),
            scopes: token.scopes.clone(),
        };
        self.note_use(id, token).await;
        Ok(subject)
    }

    /// Record a token's use, at most once a minute.
    async fn note_use(&self, id: &str, mut token: TokenRecord) {
        {
            let mut written = self
                .last_use_written
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if written
                .get(id)
                .is_some_and(|at| at.elapsed() < LAST_USE_EVERY)
            {
                return;
            }
            written.insert(id.to_owned(), Instant::now());
        }
        token.last_used = Some(now_unix());
        let (i, bytes) = (id.to_owned(), encode(&token));
        if let Ok(bytes) = bytes {
            let _ = Store::call(&self.store, move |s| {
                s.meta.auth_put(AuthTable::Tokens, &i, &bytes)
            })
            .await;
        }
    }

    async fn token_record(&self, id: &str) -> Result<Option<TokenRecord>, AuthError> {
        let i = id.to_owned();
        let raw = Store::call(&self.store, move |s| s.meta.auth_get(AuthTable::Tokens, &i)).await?;
        raw.map(|b| decode("token", &b)).transpose()
    }

    /// Make an access token for `owner`; returns it and its secret, which is never shown
    /// again.
    pub async fn create_token(
        &self,
        owner: &str,
        name: &str,
        scopes: Vec<Scope>,
        expires_in: Option<Duration>,
    ) -> Result<(TokenView, String), AuthError> {
        check_name("token", name)?;
        if scopes.is_empty() {
            return Err(AuthError::Invalid(
                "a token needs at least one scope".into(),
            ));
        }
        if self.user_record(owner).await?.is_none() {
            return Err(AuthError::NotFound(format!("user {owner:?}")));
        }
        if self
            .tokens(None)
            .await?
            .iter()
            .any(|t| t.name == name && !t.revoked)
        {
            return Err(AuthError::Conflict(format!("token {name:?} exists")));
        }
        let mut id_bytes = [0u8; 8];
        getrandom::getrandom(&mut id_bytes).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let id = hex::encode(id_bytes);
        let secret = format!(
            "{TOKEN_PREFIX}{id}_{}",
            random_secret(32).map_err(AuthError::Invalid)?
        );
        let now = now_unix();
        let record = TokenRecord {
            name: name.to_owned(),
            owner: owner.to_owned(),
            hash: sha256_hex(&secret),
            scopes,
            created_at: now,
            expires_at: expires_in.map(|d| now + d.as_secs()),
            last_used: None,
            revoked: false,
        };
        let (i, bytes) = (id.clone(), encode(&record)?);
        Store::call(&self.store, move |s| {
            s.meta.auth_put(AuthTable::Tokens, &i, &bytes)
        })
        .await?;
        Ok((view(id, record), secret))
    }

    /// Access tokens, of one owner or all.
    pub async fn tokens(&self, owner: Option<&str>) -> Result<Vec<TokenView>, AuthError> {
        let raw = Store::call(&self.store, |s| s.meta.auth_list(AuthTable::Tokens)).await?;
        let mut out = Vec::new();
        for (id, bytes) in raw {
            let t: TokenRecord = decode("token", &bytes)?;
            if owner.is_none_or(|o| o == t.owner) {
                out.push(view(id, t));
            }
        }
        Ok(out)
    }

    /// Revoke a token: it stops working at once, bearer tokens issued for it included.
    pub async fn revoke_token(&self, id: &str) -> Result<TokenView, AuthError> {
        let mut token = self
            .token_record(id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("token {id}")))?;
        token.revoked = true;
        let (i, bytes) = (id.to_owned(), encode(&token)?);
        Store::call(&self.store, move |s| {
            s.meta.auth_put(AuthTable::Tokens, &i, &bytes)
        })
        .await?;
        self.reload().await?;
        Ok(view(id.to_owned(), token))
    }

    /// The subject a signed-in user acts as now (their current admin flag and groups).
    pub async fn user_subject(&self, name: &str) -> Result<Option<Subject>, AuthError> {
        Ok(self
            .user_record(name)
            .await?
            .map(|u| self.subject_of(name, &u)))
    }
}

fn view(id: String, t: TokenRecord) -> TokenView {
    TokenView {
        id,
        name: t.name,
        owner: t.owner,
        scopes: t.scopes,
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used: t.last_used,
        revoked: t.revoked,
    }
}
