//! What can go wrong inside a store.

/// Why a store could not do what it was asked.
///
/// The layer answers every store error with a 503 and logs the cause; it never
/// pretends the session was empty.
///
/// ```
/// use cloakroom::store::StoreError;
///
/// let err = StoreError::unavailable(std::io::Error::other("connection refused"));
/// assert_eq!(err.to_string(), "session store unavailable: connection refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or failed to answer in time.
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store refuses new sessions because it holds as many as it may.
    #[error("session store is full: it holds its limit of {limit} sessions")]
    Full {
        /// The configured limit.
        limit: usize,
    },
    /// The backend returned something that is not a session record.
    #[error("session store returned corrupt data: {0}")]
    Corrupt(String),
    /// The store does not implement this operation.
    #[error("session store does not support {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Wraps a backend error as [`StoreError::Unavailable`].
    ///
    /// ```
    /// use cloakroom::store::StoreError;
    ///
    /// let err = StoreError::unavailable("timed out after 2 s");
    /// assert!(matches!(err, StoreError::Unavailable(_)));
    /// ```
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(source.into())
    }
}
