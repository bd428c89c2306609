//! Signing in and out, and the signed-in user's devices.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use cloakroom::{CsrfForm, DeviceSession, Flash, Session, SessionHandle, SessionManager, SignedIn};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{ApiError, ApiJson, ApiPath, ApiResult, is_form, message};
use crate::cart;
use crate::event::{self, Event, fingerprint};
use crate::time::rfc3339;
use crate::users::{self, User};

/// The body of `POST /auth/login`.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// `false`: a browser-session cookie (no `Max-Age`: gone when the browser
    /// closes); absent or `true`: the persistent cookie.
    #[serde(default)]
    pub remember: Option<bool>,
}

/// A user as the API shows it: `{"id","role"}`.
#[derive(Debug, Serialize)]
pub struct UserView {
    /// User name.
    pub id: &'static str,
    /// Role.
    pub role: &'static str,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            role: user.role,
        }
    }
}

/// One of the user's sessions, as `GET /auth/sessions` lists it.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    /// Opaque handle, to revoke the session with.
    pub handle: String,
    /// True for the session making the request.
    pub current: bool,
    /// Creation time, RFC 3339: for a session that browsed before signing in,
    /// earlier than the sign-in.
    pub created_at: String,
    /// Sign-in time, RFC 3339.
    pub signed_in_at: Option<String>,
    /// Last activity, RFC 3339.
    pub last_seen: String,
    /// The browser's `User-Agent` at sign-in, or `null`.
    pub user_agent: Option<String>,
    /// The client's address at sign-in, or `null`.
    pub ip: Option<String>,
}

/// One of the user's sessions, and whether it is the one asking.
#[derive(Debug, Clone)]
pub struct UserDevice {
    /// The session as the manager lists it.
    pub session: DeviceSession,
    /// True for the session making the request.
    pub current: bool,
}

impl From<UserDevice> for DeviceView {
    fn from(UserDevice { session, current }: UserDevice) -> Self {
        Self {
            handle: session.handle.to_string(),
            current,
            created_at: rfc3339(session.created_at),
            signed_in_at: session.signed_in_at.map(rfc3339),
            last_seen: rfc3339(session.last_seen),
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

/// The signed-in user, or 401 when the session names no known user.
fn known_user(user: &str) -> ApiResult<&'static User> {
    users::find(user).ok_or_else(|| ApiError::unauthorized("not signed in"))
}

/// The flash a form sign-in leaves for the next page.
pub const SIGNED_IN_FLASH: &str = "Signed in as";

/// The flash a form sign-out leaves for the next page.
pub const SIGNED_OUT_FLASH: &str = "Signed out";

/// `POST /auth/login`: checks the credentials, gives the session a new ID (its
/// data, such as the cart, is kept) and binds it to the user. A JSON body answers
/// JSON; the page's form (`username`, `password`, `_csrf`) must carry a valid
/// CSRF token (403 otherwise, changing nothing) and answers 303 to `/`, leaving
/// a flash for it.
pub async fn login(session: Session, request: Request) -> Response {
    if is_form(request.headers()) {
        return match CsrfForm::<Credentials>::from_request(request, &()).await {
            Ok(CsrfForm(credentials)) => login_form(session, &credentials),
            Err(rejection) => rejection.into_response(),
        };
    }
    match ApiJson::<Credentials>::from_request(request, &()).await {
        Ok(ApiJson(credentials)) => login_json(&session, &credentials).into_response(),
        Err(err) => err.into_response(),
    }
}

fn login_json(session: &Session, credentials: &Credentials) -> ApiResult<Json<Value>> {
    let user = sign_in(session, credentials)?;
    Ok(Json(json!({ "message": "Logged in", "user": UserView::from(user) })))
}

fn login_form(session: Session, credentials: &Credentials) -> Response {
    let flash = Flash::from(session.clone());
    let before = fingerprint(&session);
    let cart_lines = cart::items(&session).map_or(0, |items| items.len());
    let pushed = match sign_in(&session, credentials) {
        Ok(user) => flash.push(format!("{SIGNED_IN_FLASH} {}", user.id)).and_then(|()| {
            let event = Event::SignedIn {
                user: user.id.to_owned(),
                before,
                cart_lines,
            };
            event::leave(&session, &event)
        }),
        Err(_) => flash.push("Wrong user name or password"),
    };
    match pushed {
        Ok(()) => Redirect::to("/").into_response(),
        Err(err) => err.into_response(),
    }
}

/// Binds `session` to the user `credentials` name, under a new ID.
fn sign_in(session: &Session, credentials: &Credentials) -> ApiResult<&'static User> {
    let Some(user) = users::authenticate(&credentials.username, &credentials.password) else {
        tracing::info!("sign-in refused");
        return Err(ApiError::unauthorized("invalid username or password"));
    };
    session.regenerate();
    session.set_user(user.id);
    if credentials.remember == Some(false) {
        session.set_persistent(false);
    }
    tracing::info!(user = user.id, "signed in");
    Ok(user)
}

/// `GET /auth/me`: the signed-in user; 401 when anonymous.
pub async fn me(SignedIn { user, .. }: SignedIn) -> ApiResult<Json<UserView>> {
    Ok(Json(known_user(&user)?.into()))
}

/// The page's sign-out form: nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// `POST /auth/logout`: deletes the session server-side and clears the cookie.
/// The page's form (`_csrf`) must carry a valid CSRF token (403 otherwise) and
/// answers 303 to `/`, leaving a flash for it (in a new anonymous session).
pub async fn logout(session: Session, request: Request) -> Response {
    if !is_form(request.headers()) {
        session.destroy();
        tracing::info!("signed out");
        return message("Logged out").into_response();
    }
    if let Err(rejection) = CsrfForm::<NoFields>::from_request(request, &()).await {
        return rejection.into_response();
    }
    let before = fingerprint(&session);
    session.destroy();
    tracing::info!("signed out");
    let left = Flash::from(session.clone())
        .push(SIGNED_OUT_FLASH)
        .and_then(|()| event::leave(&session, &Event::SignedOut { before }));
    match left {
        Ok(()) => Redirect::to("/").into_response(),
        Err(err) => err.into_response(),
    }
}

/// `GET /auth/sessions`: the user's live sessions, newest first.
pub async fn sessions(
    State(manager): State<SessionManager>,
    SignedIn { user, session }: SignedIn,
) -> ApiResult<Json<Value>> {
    let devices: Vec<DeviceView> = devices(&manager, &user, &session)
        .await?
        .into_iter()
        .map(DeviceView::from)
        .collect();
    Ok(Json(json!({ "sessions": devices })))
}

/// The sessions of `user`, newest first, marking the one `session` is.
pub async fn devices(
    manager: &SessionManager,
    user: &str,
    session: &Session,
) -> Result<Vec<UserDevice>, cloakroom::Error> {
    let current = session.handle();
    Ok(manager
        .list_user(user)
        .await?
        .into_iter()
        .map(|device| UserDevice {
            current: current.as_ref() == Some(&device.handle),
            session: device,
        })
        .collect())
}

/// `DELETE /auth/sessions/{handle}`: ends one of the user's own sessions; 404
/// when the handle names none of them. Revoking the current session also clears
/// its cookie.
pub async fn revoke(
    State(manager): State<SessionManager>,
    SignedIn { user, session }: SignedIn,
    ApiPath(handle): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let handle = SessionHandle::from_client(handle);
    if !manager.revoke(&user, &handle).await? {
        return Err(ApiError::not_found("no such session"));
    }
    if session.handle().as_ref() == Some(&handle) {
        session.destroy();
    }
    tracing::info!(user, "session revoked");
    Ok(message("Session revoked"))
}

/// `POST /auth/logout-others`: ends every other session of the user, this one
/// stays: `{"destroyed": N}`.
pub async fn logout_others(
    State(manager): State<SessionManager>,
    SignedIn { user, session }: SignedIn,
) -> ApiResult<Json<Value>> {
    let Some(id) = session.id() else {
        return Err(ApiError::unauthorized("not signed in"));
    };
    let destroyed = manager.destroy_user_except(&user, &id).await?;
    tracing::info!(user, destroyed, "signed out the other devices");
    Ok(Json(json!({ "destroyed": destroyed })))
}

/// `POST /auth/logout-all`: deletes every session of the user, this one included.
pub async fn logout_all(
    State(manager): State<SessionManager>,
    SignedIn { user, session }: SignedIn,
) -> ApiResult<Json<Value>> {
    let destroyed = manager.destroy_user(&user).await?;
    session.destroy();
    tracing::info!(user, destroyed, "signed out everywhere");
    Ok(Json(
        json!({ "message": "Logged out everywhere", "destroyed": destroyed }),
    ))
}
