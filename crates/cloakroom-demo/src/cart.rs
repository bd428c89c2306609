//! The cart, one session key per line: anonymous visitors have one too, and it
//! survives signing in.

use axum::Json;
use cloakroom::Session;
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ApiJson, ApiPath, ApiResult};

/// The session key prefix of a cart line: `cart:{id}` holds its quantity, an
/// integer the store adds to, so concurrent adds of one item add up and adds of
/// different items never touch the same key.
pub const LINE_PREFIX: &str = "cart:";
/// The session key prefix of when a line was first added (`cart-at:{id}`, µs since
/// the epoch, so two adds in a row never tie): the order lines are shown in.
pub const ADDED_PREFIX: &str = "cart-at:";
/// The most of one item a cart line may hold (and a request may add).
pub const MAX_QTY: i64 = 99;
/// The longest item ID, in characters.
pub const MAX_ID_LEN: usize = 64;

/// One cart line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The item's ID.
    pub id: String,
    /// How many, 1 to [`MAX_QTY`].
    pub qty: i64,
}

/// The cart as the API shows it: `{"items": [...]}`.
#[derive(Debug, Serialize)]
pub struct CartView {
    /// The lines, in the order they were first added.
    pub items: Vec<Item>,
}

/// The body of `POST /cart`.
#[derive(Debug, Deserialize)]
pub struct AddItem {
    /// The item's ID: 1 to 64 characters.
    pub id: String,
    /// How many to add: 1 to 99.
    pub qty: i64,
}

/// The session's cart lines, in the order they were first added.
pub fn items(session: &Session) -> Result<Vec<Item>, cloakroom::Error> {
    let mut lines = Vec::new();
    for key in session.keys() {
        let Some(id) = key.strip_prefix(LINE_PREFIX) else {
            continue;
        };
        let qty = session.get::<i64>(&key)?.unwrap_or(0);
        if qty <= 0 {
            continue;
        }
        let added: u64 = session.get(&format!("{ADDED_PREFIX}{id}"))?.unwrap_or(u64::MAX);
        lines.push((added, Item { id: id.to_owned(), qty }));
    }
    lines.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.id.cmp(&y.id)));
    Ok(lines.into_iter().map(|(_, item)| item).collect())
}

/// `GET /cart`.
pub async fn show(session: Session) -> ApiResult<Json<CartView>> {
    Ok(Json(CartView {
        items: items(&session)?,
    }))
}

/// `POST /cart`: adds `qty` of `id` (quantities of the same ID add up, to at most
/// 99); returns the cart. The quantity is added by the store, so concurrent adds
/// all count; when they would together pass 99, the one that would pass it is
/// answered 409 and applies nothing, and its retry sees the fuller cart.
pub async fn add(session: Session, ApiJson(add): ApiJson<AddItem>) -> ApiResult<Json<CartView>> {
    if add.id.trim().is_empty() || add.id.chars().count() > MAX_ID_LEN {
        return Err(ApiError::bad_request(format!(
            "id must be a non-empty string of at most {MAX_ID_LEN} characters"
        )));
    }
    if !(1..=MAX_QTY).contains(&add.qty) {
        return Err(ApiError::bad_request(format!("qty must be between 1 and {MAX_QTY}")));
    }
    let line = format!("{LINE_PREFIX}{}", add.id);
    let new_line = !session.contains(&line);
    if session.increment_at_most(&line, add.qty, MAX_QTY)?.is_none() {
        let held = session.get::<i64>(&line)?.unwrap_or(0);
        return Err(ApiError::bad_request(format!(
            "the cart holds {held} of {:?}; at most {MAX_QTY} of one item",
            add.id
        )));
    }
    if new_line {
        session.insert(format!("{ADDED_PREFIX}{}", add.id), now_micros())?;
    }
    Ok(Json(CartView {
        items: items(&session)?,
    }))
}

/// `DELETE /cart/{id}`: removes the line (if any); returns the cart.
pub async fn remove(session: Session, ApiPath(id): ApiPath<String>) -> ApiResult<Json<CartView>> {
    session.remove(&format!("{LINE_PREFIX}{id}"))?;
    session.remove(&format!("{ADDED_PREFIX}{id}"))?;
    Ok(Json(CartView {
        items: items(&session)?,
    }))
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
