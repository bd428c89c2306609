//! Typed views: the whole session as a struct, and named scopes with defaults.

use std::fmt;
use std::marker::PhantomData;

use axum_core::extract::FromRequestParts;
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::extract::SessionRejection;
use crate::session::{SCOPE_PREFIX, Session};

/// A typed slice of the session with its own name and initial state, stored under
/// its own key (`scope::NAME`) so features cannot overwrite each other's state.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use cloakroom::SessionScope;
///
/// #[derive(Serialize, Deserialize)]
/// struct Checkout { step: String }
///
/// impl SessionScope for Checkout {
///     const NAME: &'static str = "checkout";
///     fn initial() -> Self { Checkout { step: "shipping".into() } }
/// }
/// ```
pub trait SessionScope: Serialize + DeserializeOwned + Send + 'static {
    /// The scope's name; unique within the application.
    const NAME: &'static str;
    /// The state of a session that has not stored this scope yet.
    fn initial() -> Self;
}

/// Extractor for a [`SessionScope`]: read, replace, update or reset one slice.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # use cloakroom::SessionScope;
/// # #[derive(Serialize, Deserialize)]
/// # struct Checkout { step: String }
/// # impl SessionScope for Checkout {
/// #     const NAME: &'static str = "checkout";
/// #     fn initial() -> Self { Checkout { step: "shipping".into() } }
/// # }
/// use cloakroom::Scoped;
///
/// async fn advance(checkout: Scoped<Checkout>) -> Result<String, cloakroom::Error> {
///     let state = checkout.update(|c| c.step = "payment".into())?;
///     Ok(state.step)
/// }
/// ```
pub struct Scoped<T> {
    session: Session,
    _scope: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Scoped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("scope", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: SessionScope> Scoped<T> {
    /// Wraps a session already at hand.
    pub fn of(session: Session) -> Self {
        Self {
            session,
            _scope: PhantomData,
        }
    }

    fn key() -> String {
        format!("{SCOPE_PREFIX}{}", T::NAME)
    }

    /// The scope's state, or its initial state when none is stored.
    pub fn get(&self) -> Result<T, Error> {
        Ok(self.session.get(&Self::key())?.unwrap_or_else(T::initial))
    }

    /// Replaces the scope's state.
    pub fn set(&self, value: &T) -> Result<(), Error> {
        self.session.insert_raw(Self::key(), value)
    }

    /// Changes the state in place and stores it; returns the new state.
    pub fn update(&self, f: impl FnOnce(&mut T)) -> Result<T, Error> {
        let mut value = self.get()?;
        f(&mut value);
        self.set(&value)?;
        Ok(value)
    }

    /// Forgets the stored state: the scope is back to its initial state.
    pub fn reset(&self) {
        self.session.remove_raw(&Self::key());
    }
}

impl<S: Send + Sync, T: SessionScope> FromRequestParts<S> for Scoped<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(Session::from_request_parts(parts, state).await?))
    }
}

/// The whole session as a typed struct: each field is a session key, so saving
/// writes only the fields that changed, as per-key changes.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use cloakroom::SessionData;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Visitor { visits: u64, theme: Option<String> }
///
/// async fn count(data: SessionData<Visitor>) -> Result<String, cloakroom::Error> {
///     let visitor = data.update(|v| v.visits += 1)?;
///     Ok(visitor.visits.to_string())
/// }
/// ```
pub struct SessionData<T> {
    session: Session,
    _data: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for SessionData<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionData")
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned + Default> SessionData<T> {
    /// Wraps a session already at hand.
    pub fn of(session: Session) -> Self {
        Self {
            session,
            _data: PhantomData,
        }
    }

    /// The session's data as a `T`: stored keys over the fields of `T::default()`.
    pub fn get(&self) -> Result<T, Error> {
        let mut object = fields_of(&T::default())?;
        for key in self.session.keys() {
            if key.starts_with(SCOPE_PREFIX) {
                continue;
            }
            if let Some(value) = self.session.get::<Value>(&key)? {
                object.insert(key, value);
            }
        }
        serde_json::from_value(Value::Object(object)).map_err(|source| Error::Deserialize {
            key: std::any::type_name::<T>().to_owned(),
            source,
        })
    }

    /// Stores `value`: fields that differ from the session are written, fields
    /// that no longer serialize (a skipped `None`) are removed.
    pub fn set(&self, value: &T) -> Result<(), Error> {
        let next = fields_of(value)?;
        let mut known = fields_of(&T::default())?;
        known.extend(fields_of(&self.get()?)?);
        for (key, value) in &next {
            if self.session.get::<Value>(key)?.as_ref() != Some(value) {
                self.session.insert(key.clone(), value)?;
            }
        }
        for key in known.keys().filter(|key| !next.contains_key(*key)) {
            self.session.remove(key)?;
        }
        Ok(())
    }

    /// Changes the data in place and stores it; returns the new data.
    pub fn update(&self, f: impl FnOnce(&mut T)) -> Result<T, Error> {
        let mut value = self.get()?;
        f(&mut value);
        self.set(&value)?;
        Ok(value)
    }
}

fn fields_of<T: Serialize>(value: &T) -> Result<Map<String, Value>, Error> {
    let type_name = || std::any::type_name::<T>().to_owned();
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::Serialize {
            key: type_name(),
            source: serde::ser::Error::custom("session data must serialize as a struct or map"),
        }),
        Err(source) => Err(Error::Serialize {
            key: type_name(),
            source,
        }),
    }
}

impl<S: Send + Sync, T: Serialize + DeserializeOwned + Default> FromRequestParts<S> for SessionData<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(Session::from_request_parts(parts, state).await?))
    }
}
