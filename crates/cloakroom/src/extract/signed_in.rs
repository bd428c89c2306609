//! The sign-in guard: a session bound to a user, or 401 before the handler runs.

use axum_core::extract::FromRequestParts;
use http::request::Parts;

use super::SessionRejection;
use crate::session::Session;

/// A guard: the request's session bound to a user (see [`Session::set_user`]), or a
/// 401 `{"error":"not signed in"}` ([`SessionRejection::NotSignedIn`]) before the
/// handler runs.
///
/// ```
/// use cloakroom::SignedIn;
///
/// async fn me(SignedIn { user, .. }: SignedIn) -> String {
///     format!("hello {user}")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user the session is bound to.
    pub user: String,
    /// The session itself.
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        match session.user() {
            Some(user) => Ok(Self { user, session }),
            None => Err(SessionRejection::NotSignedIn),
        }
    }
}
