//! The typed views as extractors: a loaded session, wrapped.

use axum_core::extract::FromRequestParts;
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SessionRejection;
use crate::scope::{Scoped, SessionData, SessionScope};
use crate::session::Session;

impl<S: Send + Sync, T: SessionScope> FromRequestParts<S> for Scoped<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(Session::from_request_parts(parts, state).await?))
    }
}

impl<S: Send + Sync, T: Serialize + DeserializeOwned + Default> FromRequestParts<S> for SessionData<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(Session::from_request_parts(parts, state).await?))
    }
}
