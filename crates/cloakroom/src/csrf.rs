//! CSRF tokens bound to the session, and the guards that check them (the design
//! is on [`CsrfToken`]).

use std::fmt;

use axum_core::extract::{FromRequest, FromRequestParts, Request};
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::HeaderName;
use http::request::Parts;
use http::{StatusCode, header};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::cookie::find_value;
use crate::extract::SessionRejection;
use crate::presession::{NONCE_LEN, TOKEN_LEN, new_nonce, new_token, well_formed};
use crate::response::json_error;
use crate::session::{CSRF_KEY, Session};

/// The header scripts send the token in.
pub(crate) const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");

/// The form field HTML forms send the token in.
pub(crate) const CSRF_FIELD: &str = "_csrf";

/// The request's CSRF token, to render into a form (`<input type="hidden"
/// name="_csrf">`) or hand to a script; drawn on first use. CSRF protection bound
/// to the session (OWASP's synchronizer token pattern), with a signed pre-session
/// token for visitors who have no session yet:
///
/// - A visitor with a stored session gets a random token kept in the session
///   (`scope::csrf`), drawn on first use and drawn again after `regenerate()`.
/// - A visitor without one (the sign-in page of a first visit) gets a token bound
///   to a small pre-session cookie (`{cookie name}_csrf`, a random nonce,
///   `HttpOnly`, no `Max-Age`): an HMAC of the nonce keyed from the layer's first
///   secret. Rendering that page stores no session.
/// - A request is checked by [`CsrfGuard`] (the `x-csrf-token` header, for
///   scripts) or [`CsrfForm`] (a `_csrf` field of an
///   `application/x-www-form-urlencoded` body, for HTML forms): the token must
///   equal the session's or the one bound to the request's pre-session cookie,
///   compared in constant time; else 403 `{"error":"invalid CSRF token"}`.
///
/// What protects what: a cross-site page can make the browser send the cookies,
/// but cannot read the token (it is in the page's HTML or the script's memory,
/// never in a cookie the attacker could copy); a pre-session token is worth only
/// with the nonce cookie it is bound to. A JSON API that requires
/// `Content-Type: application/json` is already out of reach of cross-site forms
/// (a browser sends that type cross-site only after a CORS preflight the server
/// does not grant).
///
/// ```
/// use cloakroom::CsrfToken;
///
/// async fn sign_in_page(csrf: CsrfToken) -> String {
///     format!(
///         r#"<form method="post" action="/auth/login"><input type="hidden" name="_csrf" value="{}">…</form>"#,
///         csrf.token()
///     )
/// }
/// ```
#[derive(Clone)]
pub struct CsrfToken {
    session: Session,
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(…)")
    }
}

impl CsrfToken {
    /// The CSRF handle of a session a handler already has (outside a request, a
    /// detached session, it keeps a token in the session).
    ///
    /// ```
    /// use cloakroom::{CsrfToken, Session};
    ///
    /// let session = Session::detached();
    /// let csrf = CsrfToken::from_session(session);
    /// assert_eq!(csrf.token().len(), 43);
    /// ```
    pub fn from_session(session: Session) -> Self {
        Self { session }
    }

    /// The token: the session's when the session is stored, else the one bound
    /// to the pre-session cookie (whose `Set-Cookie` the response then carries,
    /// when the request had none).
    ///
    /// ```
    /// use cloakroom::{CsrfToken, Session};
    ///
    /// let csrf = CsrfToken::from_session(Session::detached());
    /// assert_eq!(csrf.token(), csrf.token(), "one token per session");
    /// ```
    pub fn token(&self) -> String {
        if !self.session.is_new() || self.session.inner.is_detached() {
            return self.session_token();
        }
        let nonce = {
            let mut state = self.session.inner.state();
            match &state.presession {
                Some(nonce) => nonce.clone(),
                None => {
                    let nonce = new_nonce();
                    state.presession = Some(nonce.clone());
                    state.set_presession = true;
                    nonce
                }
            }
        };
        self.session.inner.settings.presession.token(&nonce)
    }

    /// The session-bound token, drawn and kept when there is none.
    fn session_token(&self) -> String {
        if let Ok(Some(token)) = self.session.get::<String>(CSRF_KEY) {
            return token;
        }
        let token = new_token();
        // A string always serializes.
        let _ = self.session.insert_raw(CSRF_KEY.to_owned(), &token);
        token
    }

    /// True when `candidate` is the session's token or the one bound to the
    /// request's pre-session cookie; compared in constant time.
    ///
    /// ```
    /// use cloakroom::{CsrfToken, Session};
    ///
    /// let csrf = CsrfToken::from_session(Session::detached());
    /// let token = csrf.token();
    /// assert!(csrf.verify(&token));
    /// assert!(!csrf.verify("forged"));
    /// ```
    pub fn verify(&self, candidate: &str) -> bool {
        if !well_formed(candidate, TOKEN_LEN) {
            return false;
        }
        let stored = self.session.get::<String>(CSRF_KEY).ok().flatten();
        let bound = self.session.inner.state().presession.clone();
        let bound = bound.map(|nonce| self.session.inner.settings.presession.token(&nonce));
        let matches =
            |token: Option<String>| token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(candidate.as_bytes())));
        // Both compared, so the time taken says nothing about which one matched.
        let by_session = matches(stored);
        let by_cookie = matches(bound);
        by_session | by_cookie
    }

    /// The session the token belongs to.
    ///
    /// ```
    /// use cloakroom::{CsrfToken, Session};
    ///
    /// let csrf = CsrfToken::from_session(Session::detached());
    /// assert!(csrf.session().is_new());
    /// ```
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The CSRF handle of the request: its session (loaded), and the nonce of its
    /// pre-session cookie, if it sent a well-formed one.
    async fn of_request<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Self, SessionRejection> {
        let session = Session::from_request_parts(parts, state).await?;
        let cookie_name = &session.inner.settings.presession_cookie;
        if let Some(nonce) = find_value(&parts.headers, cookie_name, |v| well_formed(v, NONCE_LEN)) {
            let mut state = session.inner.state();
            if state.presession.is_none() {
                state.presession = Some(nonce);
            }
        }
        Ok(Self { session })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = SessionRejection;

    /// Loads the session, as [`Session`] does.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Self::of_request(parts, state).await
    }
}

/// A guard for requests from scripts: the handler runs only when the request's
/// `x-csrf-token` header holds a valid token; else 403.
///
/// ```
/// use axum::Json;
/// use cloakroom::{CsrfGuard, Session};
///
/// async fn change_email(_csrf: CsrfGuard, session: Session, Json(email): Json<String>) -> Result<(), cloakroom::Error> {
///     session.insert("email", email)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CsrfGuard(pub CsrfToken);

impl<S: Send + Sync> FromRequestParts<S> for CsrfGuard {
    type Rejection = CsrfRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let csrf = CsrfToken::of_request(parts, state)
            .await
            .map_err(CsrfRejection::Session)?;
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        match sent {
            Some(token) if csrf.verify(token) => Ok(Self(csrf)),
            Some(_) => Err(CsrfRejection::Invalid),
            None => Err(CsrfRejection::Missing),
        }
    }
}

/// An HTML form (`application/x-www-form-urlencoded`) whose `_csrf` field (or
/// `x-csrf-token` header) holds a valid token, deserialized into `T` (which may
/// leave `_csrf` out: unknown fields are ignored unless `T` denies them);
/// else 403, and the handler does not run.
///
/// ```
/// use axum::response::Redirect;
/// use cloakroom::{CsrfForm, Session};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct SignIn { username: String, password: String }
///
/// async fn sign_in(session: Session, CsrfForm(form): CsrfForm<SignIn>) -> Redirect {
///     let _ = form.password; // check it
///     session.regenerate();
///     session.set_user(form.username);
///     Redirect::to("/")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CsrfForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CsrfForm<T> {
    type Rejection = CsrfRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let csrf = CsrfToken::of_request(&mut parts, state)
            .await
            .map_err(CsrfRejection::Session)?;
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(CsrfRejection::NotAForm);
        }
        let header_token = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| CsrfRejection::BadForm)?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| CsrfRejection::BadForm)?;
        let sent = fields
            .into_iter()
            .find(|(name, _)| name == CSRF_FIELD)
            .map(|(_, value)| value)
            .or(header_token);
        match sent {
            Some(token) if csrf.verify(&token) => {}
            Some(_) => return Err(CsrfRejection::Invalid),
            None => return Err(CsrfRejection::Missing),
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| CsrfRejection::BadForm)
    }
}

/// Why a CSRF check refused a request.
///
/// ```
/// use axum::response::IntoResponse;
/// use cloakroom::CsrfRejection;
///
/// let response = CsrfRejection::Invalid.into_response();
/// assert_eq!(response.status(), 403);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CsrfRejection {
    /// No token was sent: 403 `{"error":"missing CSRF token"}`.
    Missing,
    /// The token sent is not this visitor's: 403 `{"error":"invalid CSRF token"}`.
    Invalid,
    /// [`CsrfForm`] on a body that is not `application/x-www-form-urlencoded`:
    /// 415 `{"error":"expected a form"}`.
    NotAForm,
    /// [`CsrfForm`] on a body that does not parse into its type: 400
    /// `{"error":"invalid form"}`.
    BadForm,
    /// The session could not be read ([`SessionRejection`]).
    Session(SessionRejection),
}

impl fmt::Display for CsrfRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("missing CSRF token"),
            Self::Invalid => f.write_str("invalid CSRF token"),
            Self::NotAForm => f.write_str("expected a form"),
            Self::BadForm => f.write_str("invalid form"),
            Self::Session(rejection) => rejection.fmt(f),
        }
    }
}

impl std::error::Error for CsrfRejection {}

impl IntoResponse for CsrfRejection {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Missing | Self::Invalid => StatusCode::FORBIDDEN,
            Self::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadForm => StatusCode::BAD_REQUEST,
            Self::Session(rejection) => return rejection.into_response(),
        };
        json_error(status, &self.to_string())
    }
}
