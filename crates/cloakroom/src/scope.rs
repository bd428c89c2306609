//! Typed views: the whole session as a struct, and named scopes with defaults.

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::session::Session;

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
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use cloakroom::SessionScope;
    /// # #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// # struct Checkout { step: String }
    /// # impl SessionScope for Checkout {
    /// #     const NAME: &'static str = "checkout";
    /// #     fn initial() -> Self { Checkout { step: "shipping".into() } }
    /// # }
    /// assert_eq!(Checkout::NAME, "checkout"); // stored under the session key `scope::checkout`
    /// ```
    const NAME: &'static str;
    /// The state of a session that has not stored this scope yet.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use cloakroom::SessionScope;
    /// # #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// # struct Checkout { step: String }
    /// # impl SessionScope for Checkout {
    /// #     const NAME: &'static str = "checkout";
    /// #     fn initial() -> Self { Checkout { step: "shipping".into() } }
    /// # }
    /// assert_eq!(Checkout::initial(), Checkout { step: "shipping".into() });
    /// ```
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
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use cloakroom::SessionScope;
    /// # #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// # struct Checkout { step: String }
    /// # impl SessionScope for Checkout {
    /// #     const NAME: &'static str = "checkout";
    /// #     fn initial() -> Self { Checkout { step: "shipping".into() } }
    /// # }
    /// use cloakroom::{Scoped, Session};
    ///
    /// let session = Session::detached();
    /// let checkout = Scoped::<Checkout>::of(session.clone());
    /// checkout.set(&Checkout { step: "payment".into() })?;
    /// assert!(session.contains("scope::checkout"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn of(session: Session) -> Self {
        Self {
            session,
            _scope: PhantomData,
        }
    }

    fn key() -> String {
        format!("{}{}", Session::SCOPE_PREFIX, T::NAME)
    }

    /// The scope's state, or its initial state when none is stored.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use cloakroom::SessionScope;
    /// # #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// # struct Checkout { step: String }
    /// # impl SessionScope for Checkout {
    /// #     const NAME: &'static str = "checkout";
    /// #     fn initial() -> Self { Checkout { step: "shipping".into() } }
    /// # }
    /// use cloakroom::{Scoped, Session};
    ///
    /// let checkout = Scoped::<Checkout>::of(Session::detached());
    /// assert_eq!(checkout.get()?, Checkout::initial());
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn get(&self) -> Result<T, Error> {
        Ok(self.session.get(&Self::key())?.unwrap_or_else(T::initial))
    }

    /// Replaces the scope's state.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use cloakroom::SessionScope;
    /// # #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// # struct Checkout { step: String }
    /// # impl SessionScope for Checkout {
    /// #     const NAME: &'static str = "checkout";
    /// #     fn initial() -> Self { Checkout { step: "shipping".into() } }
    /// # }
    /// use cloakroom::{Scoped, Session};
    ///
    /// let checkout = Scoped::<Checkout>::of(Session::detached());
    /// checkout.set(&Checkout { step: "review".into() })?;
    /// assert_eq!(checkout.get()?.step, "review");
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn set(&self, value: &T) -> Result<(), Error> {
        self.session.insert_raw(Self::key(), value)
    }

    /// Changes the state in place and stores it; returns the new state. Like
    /// [`Session::update`], the write is a compare-and-set: when a concurrent request
    /// changed the scope first, nothing of this request is applied (409).
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use cloakroom::SessionScope;
    /// # #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// # struct Checkout { step: String }
    /// # impl SessionScope for Checkout {
    /// #     const NAME: &'static str = "checkout";
    /// #     fn initial() -> Self { Checkout { step: "shipping".into() } }
    /// # }
    /// use cloakroom::{Scoped, Session};
    ///
    /// let checkout = Scoped::<Checkout>::of(Session::detached());
    /// let next = checkout.update(|c| c.step = "payment".into())?;
    /// assert_eq!(next, checkout.get()?);
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn update(&self, f: impl FnOnce(&mut T)) -> Result<T, Error> {
        self.session.guard_raw(&Self::key());
        let mut value = self.get()?;
        f(&mut value);
        self.set(&value)?;
        Ok(value)
    }

    /// Forgets the stored state: the scope is back to its initial state.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use cloakroom::SessionScope;
    /// # #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// # struct Checkout { step: String }
    /// # impl SessionScope for Checkout {
    /// #     const NAME: &'static str = "checkout";
    /// #     fn initial() -> Self { Checkout { step: "shipping".into() } }
    /// # }
    /// use cloakroom::{Scoped, Session};
    ///
    /// let checkout = Scoped::<Checkout>::of(Session::detached());
    /// checkout.set(&Checkout { step: "payment".into() })?;
    /// checkout.reset(); // e.g. after the order was placed
    /// assert_eq!(checkout.get()?, Checkout::initial());
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn reset(&self) {
        self.session.remove_raw(&Self::key());
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
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    /// struct Prefs { theme: Option<String>, visits: u64 }
    ///
    /// use cloakroom::{Session, SessionData};
    ///
    /// let session = Session::detached();
    /// let prefs = SessionData::<Prefs>::of(session.clone());
    /// prefs.update(|p| p.visits += 1)?;
    /// assert_eq!(session.get::<u64>("visits")?, Some(1)); // each field is a session key
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn of(session: Session) -> Self {
        Self {
            session,
            _data: PhantomData,
        }
    }

    /// The session's data as a `T`: stored keys over the fields of `T::default()`.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    /// struct Prefs { theme: Option<String>, visits: u64 }
    ///
    /// use cloakroom::{Session, SessionData};
    ///
    /// let prefs = SessionData::<Prefs>::of(Session::detached());
    /// assert_eq!(prefs.get()?, Prefs::default()); // nothing stored yet
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn get(&self) -> Result<T, Error> {
        let mut object = fields_of(&T::default())?;
        for key in self.session.keys() {
            if key.starts_with(Session::SCOPE_PREFIX) {
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
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    /// struct Prefs { theme: Option<String>, visits: u64 }
    ///
    /// use cloakroom::{Session, SessionData};
    ///
    /// let session = Session::detached();
    /// let prefs = SessionData::<Prefs>::of(session.clone());
    /// prefs.set(&Prefs { theme: Some("dark".into()), visits: 3 })?;
    /// assert_eq!(session.get::<String>("theme")?.as_deref(), Some("dark"));
    /// assert_eq!(prefs.get()?.visits, 3);
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
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

    /// Changes the data in place and stores it; returns the new data. Each field it
    /// writes or removes is a compare-and-set, as with [`Session::update`]: when a
    /// concurrent request changed one of them first, nothing of this request is
    /// applied (409). Fields it leaves alone never conflict.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    /// struct Prefs { theme: Option<String>, visits: u64 }
    ///
    /// use cloakroom::{Session, SessionData};
    ///
    /// let prefs = SessionData::<Prefs>::of(Session::detached());
    /// let updated = prefs.update(|p| p.theme = Some("light".into()))?;
    /// assert_eq!(updated.theme.as_deref(), Some("light"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn update(&self, f: impl FnOnce(&mut T)) -> Result<T, Error> {
        let mut value = self.get()?;
        let before = fields_of(&value)?;
        f(&mut value);
        let after = fields_of(&value)?;
        // The fields this update writes or removes are compare-and-set.
        for key in before.keys().chain(after.keys()) {
            if before.get(key) != after.get(key) {
                self.session.guard_raw(key);
            }
        }
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
