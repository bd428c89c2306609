//! Where "now" comes from: the system clock, or a clock a test moves by hand; and
//! the whole milliseconds every store keeps times in.
//!
//! ```
//! use std::time::Duration;
//! use cloakroom::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new();
//! let start = clock.now();
//! clock.advance(Duration::from_secs(61)); // a session with a 60 s idle timeout is dead now
//! assert_eq!(clock.now().duration_since(start).unwrap(), Duration::from_secs(61));
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time. The layer and the memory store read it for every
/// deadline, so tests can expire sessions without sleeping.
///
/// ```
/// use cloakroom::clock::{Clock, SystemClock};
///
/// let now = SystemClock.now();
/// assert!(now > std::time::UNIX_EPOCH);
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    ///
    /// ```
    /// use cloakroom::clock::{Clock, ManualClock};
    /// use std::time::UNIX_EPOCH;
    ///
    /// let clock = ManualClock::at(UNIX_EPOCH);
    /// assert_eq!(clock.now(), UNIX_EPOCH);
    /// ```
    fn now(&self) -> SystemTime;
}

/// `time` cut down to whole milliseconds: the precision every store keeps, so times
/// the layer computes compare equal to the ones a store hands back.
///
/// ```
/// use cloakroom::clock::whole_millis;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let t = UNIX_EPOCH + Duration::from_nanos(1_500_999_999);
/// assert_eq!(whole_millis(t), UNIX_EPOCH + Duration::from_millis(1_500));
/// ```
pub fn whole_millis(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => from_millis(duration_millis(since)),
        Err(_) => time,
    }
}

/// Milliseconds since the epoch (0 before it, saturating far after it): how stores
/// write a time down.
pub(crate) fn to_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, duration_millis)
}

/// The time `ms` milliseconds after the epoch.
pub(crate) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The operating system's wall clock (the default).
///
/// ```
/// use cloakroom::clock::{Clock, SystemClock};
///
/// let (a, b) = (SystemClock.now(), SystemClock.now());
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until told to move; clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use cloakroom::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock set to the current system time.
    ///
    /// ```
    /// use cloakroom::clock::{Clock, ManualClock};
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    ///
    /// let clock = ManualClock::new();
    /// let drift = SystemTime::now().duration_since(clock.now()).unwrap_or_default();
    /// assert!(drift < Duration::from_secs(60));
    /// ```
    pub fn new() -> Self {
        Self::at(SystemTime::now())
    }

    /// A clock set to `time`.
    ///
    /// ```
    /// use cloakroom::clock::{Clock, ManualClock};
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// assert_eq!(ManualClock::at(start).now(), start);
    /// ```
    pub fn at(time: SystemTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(time)),
        }
    }

    /// Moves the clock forward by `by`. Clones move with it.
    ///
    /// ```
    /// use cloakroom::clock::{Clock, ManualClock};
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// let clock = ManualClock::at(UNIX_EPOCH);
    /// let shared = clock.clone();
    /// clock.advance(Duration::from_secs(90));
    /// assert_eq!(shared.now(), UNIX_EPOCH + Duration::from_secs(90));
    /// ```
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}
