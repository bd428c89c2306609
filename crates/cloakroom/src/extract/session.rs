//! `Session` as an extractor: the store is read here, once per request.

use axum_core::extract::FromRequestParts;
use http::request::Parts;

use super::{SessionRejection, lazy_session};
use crate::session::Session;

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let session = lazy_session(parts)?;
        session.inner.ensure_loaded().await.map_err(SessionRejection::store)?;
        Ok(session)
    }
}
