//! The demo's hard-coded user table and password check.

use subtle::ConstantTimeEq;

/// A user of the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// The user's name, which is also their ID.
    pub id: &'static str,
    /// `admin` or `user`.
    pub role: &'static str,
    password: &'static str,
}

/// Every user: `alice` (admin) and `bob` (user).
pub const USERS: &[User] = &[
    User {
        id: "alice",
        role: "admin",
        password: "alice-pass",
    },
    User {
        id: "bob",
        role: "user",
        password: "bob-pass",
    },
];

/// The user named `id`.
pub fn find(id: &str) -> Option<&'static User> {
    USERS.iter().find(|user| user.id == id)
}

/// The user whose name and password these are. Passwords are compared in
/// constant time, and an unknown name still costs a comparison.
pub fn authenticate(username: &str, password: &str) -> Option<&'static User> {
    let user = find(username);
    let expected = user.map_or("not-a-password-of-anyone", |user| user.password);
    let matches = bool::from(expected.as_bytes().ct_eq(password.as_bytes()));
    user.filter(|_| matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_passwords_sign_in() {
        assert_eq!(authenticate("alice", "alice-pass").map(|u| u.role), Some("admin"));
        assert_eq!(authenticate("bob", "bob-pass").map(|u| u.role), Some("user"));
    }

    #[test]
    fn wrong_passwords_and_unknown_users_do_not() {
        assert!(authenticate("alice", "bob-pass").is_none());
        assert!(authenticate("alice", "").is_none());
        assert!(authenticate("carol", "not-a-password-of-anyone").is_none());
    }
}
