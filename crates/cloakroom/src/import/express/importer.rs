//! The validated importer a layer runs: finding and verifying the express cookie,
//! taking its record, judging it, and settling or undoing the import.

use std::fmt;
use std::time::SystemTime;

use http::{HeaderMap, HeaderValue};

use super::Options;
use super::record::{self, ExpressCookie, ExpressRecord, RecordError};
use super::signed_cookie::{self, ExpressSid};
use super::source::{Record, RecordSource, Take, Taken};
use crate::cookie::{CookieAttributes, SameSite};
use crate::store::StoreError;

/// What came of a request's express cookie, as counted by the metric
/// `cloakroom_express_imports_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The session came over.
    Imported,
    /// No record (never there, imported before, logged out, expired in Redis).
    Unknown,
    /// Another request is importing it, or just did.
    Claimed,
    /// A record whose cookie had expired.
    Expired,
    /// A record that is not a session's JSON.
    Unreadable,
    /// Past the size cap.
    TooLarge,
    /// Redis or the session store failed.
    Failed,
    /// The signature did not verify: nothing was read.
    Invalid,
}

impl Outcome {
    /// The metric's label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Imported => "imported",
            Outcome::Unknown => "unknown",
            Outcome::Claimed => "claimed",
            Outcome::Expired => "expired",
            Outcome::Unreadable => "unreadable",
            Outcome::TooLarge => "too_large",
            Outcome::Failed => "failed",
            Outcome::Invalid => "invalid",
        }
    }

    /// Counts it, when metrics are on.
    pub(crate) fn count(self) {
        #[cfg(feature = "metrics")]
        metrics::counter!("cloakroom_express_imports_total", "outcome" => self.as_str()).increment(1);
    }
}

/// A record this import holds claimed: settled once the response carries the new
/// ticket, put back otherwise.
pub(crate) struct Claim {
    key: String,
    claim: Vec<u8>,
    json: Vec<u8>,
}

impl fmt::Debug for Claim {
    // The key holds the express sid.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Claim(…)")
    }
}

/// An express session found live, ready to become a cloakroom session.
#[derive(Debug)]
pub(crate) struct Found {
    /// Its fields (JSON texts by key) and user (mapped).
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) user: Option<String>,
    /// When it would have ended; `None` when neither Redis nor its cookie says.
    pub(crate) ends_at: Option<SystemTime>,
    /// Its cookie was persistent (had an expiry), not a browser-session cookie.
    pub(crate) persistent: bool,
    /// The `Set-Cookie` that removes the express cookie, unless records are kept.
    pub(crate) removal: Option<HeaderValue>,
    /// The claim on its record (none when records are kept).
    pub(crate) claim: Option<Claim>,
}

/// The validated importer a layer runs.
pub(crate) struct Importer {
    options: Options,
    source: RecordSource,
}

impl fmt::Debug for Importer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Importer")
            .field("cookie_name", &self.options.cookie_name)
            .field("prefix", &self.options.prefix)
            .field("keep_records", &self.options.keep_records)
            .finish_non_exhaustive()
    }
}

impl Importer {
    pub(super) fn new(options: Options, source: RecordSource) -> Self {
        Self { options, source }
    }

    /// The express cookie's value in the request, URL-decoded, if it carries one.
    pub(crate) fn cookie(&self, headers: &HeaderMap) -> Option<String> {
        signed_cookie::find(headers, &self.options.cookie_name)
    }

    /// The sid of a cookie value signed with one of the express secrets.
    pub(crate) fn verify(&self, value: &str) -> Option<ExpressSid> {
        signed_cookie::unsign(value, &self.options.secrets)
    }

    fn key(&self, sid: &ExpressSid) -> String {
        format!("{}{}", self.options.prefix, sid.expose())
    }

    /// Takes the express session of `sid`, claiming its record unless records are
    /// kept, judged at `now`; keys starting with `reserved` are not carried. A
    /// record found but not importable is put back at once.
    pub(crate) async fn take(
        &self,
        sid: &ExpressSid,
        now: SystemTime,
        reserved: &str,
    ) -> Result<Result<Found, Outcome>, StoreError> {
        let key = self.key(sid);
        let how = if self.options.keep_records {
            Take::Peek
        } else {
            Take::Claim
        };
        let record = match self.source.take(&key, how, now).await? {
            Taken::Nothing => return Ok(Err(Outcome::Unknown)),
            Taken::Claimed => return Ok(Err(Outcome::Claimed)),
            Taken::Record(record) => record,
        };
        let Record { json, ttl, claim } = record;
        let judged = match std::str::from_utf8(&json) {
            Ok(json) => self.judge(json, ttl.map(|ttl| now + ttl), now, reserved),
            Err(_) => Err(Outcome::Unreadable),
        };
        let claim = claim.map(|claim| Claim { key, claim, json });
        match judged {
            Ok(mut found) => {
                found.claim = claim;
                Ok(Ok(found))
            }
            Err(outcome) => {
                // Nothing is deleted that was not imported: express may still read it.
                if let Some(claim) = &claim {
                    self.put_back(claim).await;
                }
                Ok(Err(outcome))
            }
        }
    }

    /// A record's JSON judged at `now`: what it brings, or why it cannot come.
    /// `redis_end` is when Redis lets it expire.
    fn judge(
        &self,
        json: &str,
        redis_end: Option<SystemTime>,
        now: SystemTime,
        reserved: &str,
    ) -> Result<Found, Outcome> {
        let ExpressRecord { fields, user, cookie } =
            record::parse(json, &self.options.user_fields, reserved).map_err(|err| match err {
                RecordError::NotASession | RecordError::BadExpiry => Outcome::Unreadable,
            })?;
        let ends_at = match (redis_end, cookie.expires) {
            (Some(redis), Some(cookie)) => Some(redis.min(cookie)),
            (redis, cookie) => redis.or(cookie),
        };
        if ends_at.is_some_and(|end| end <= now) {
            return Err(Outcome::Expired);
        }
        let user = match (&self.options.map_user, user) {
            (Some(map), Some(user)) => map(&user),
            (None, user) => user,
            (Some(_), None) => None,
        };
        Ok(Found {
            fields,
            user,
            ends_at,
            persistent: cookie.expires.is_some(),
            removal: (!self.options.keep_records).then(|| self.removal(&cookie)),
            claim: None,
        })
    }

    /// Settles an import whose response carries the new ticket: the record becomes
    /// a tombstone for a while (concurrent requests with the same cookie keep the
    /// new ticket), then nothing.
    pub(crate) async fn settle(&self, claim: &Claim, now: SystemTime) {
        match self.source.settle(&claim.key, &claim.claim, now).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("an imported express session's claim was no longer held when settled"),
            Err(err) => tracing::warn!(
                error = %err,
                "settling an express import failed; its claim lapses and the record can be imported again"
            ),
        }
    }

    /// Puts a claimed record back as it was, with the life it had left.
    pub(crate) async fn put_back(&self, claim: &Claim) {
        match self.source.put_back(&claim.key, &claim.claim, &claim.json).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("a claimed express session had changed or expired; it was not put back"),
            Err(err) => tracing::warn!(
                error = %err,
                "putting a claimed express session back failed; its claim lapses and the record comes back"
            ),
        }
    }

    /// Ends the express session of `sid` (a sign-out on the Rust side): deletes its
    /// record and answers the `Set-Cookie` that removes its cookie (with the
    /// record's path and domain, when there was a record to read them from).
    pub(crate) async fn end(&self, sid: &ExpressSid) -> Result<HeaderValue, StoreError> {
        let json = self.source.delete(&self.key(sid)).await?;
        let cookie = json.as_deref().map(record::parse_cookie).unwrap_or_default();
        Ok(self.removal(&cookie))
    }

    /// Whether `set_cookie` is a removal of the express cookie.
    pub(crate) fn is_removal(&self, set_cookie: &HeaderValue) -> bool {
        let name = self.options.cookie_name.as_bytes();
        let value = set_cookie.as_bytes();
        value.len() > name.len() + 1 && value.starts_with(name) && value[name.len()..].starts_with(b"=;")
    }

    /// `Set-Cookie` removing the express cookie, with the attributes it was set
    /// with (a cookie is only replaced by one of the same name, path, domain and
    /// partition).
    fn removal(&self, cookie: &ExpressCookie) -> HeaderValue {
        CookieAttributes {
            name: self.options.cookie_name.clone(),
            path: cookie.path.clone(),
            domain: cookie.domain.clone(),
            // Browsers drop a partitioned or `SameSite=None` cookie without
            // `Secure`, a removal included.
            secure: cookie.secure || cookie.partitioned || cookie.same_site == Some(SameSite::None),
            http_only: cookie.http_only,
            same_site: cookie.same_site,
            partitioned: cookie.partitioned,
            persistent: false,
        }
        .removal()
    }
}
