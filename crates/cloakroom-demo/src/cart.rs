//! The cart, kept in the session under `cart`: anonymous visitors have one too,
//! and it survives signing in.

use axum::Json;
use cloakroom::Session;
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ApiJson, ApiPath, ApiResult};

/// The session key of the cart.
pub const CART_KEY: &str = "cart";
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

/// The session's cart lines.
pub fn items(session: &Session) -> Result<Vec<Item>, cloakroom::Error> {
    session.get_or(CART_KEY, Vec::new())
}

/// `GET /cart`.
pub async fn show(session: Session) -> ApiResult<Json<CartView>> {
    Ok(Json(CartView {
        items: items(&session)?,
    }))
}

/// `POST /cart`: adds `qty` of `id` (quantities of the same ID add up, to at most
/// 99); returns the cart.
pub async fn add(session: Session, ApiJson(add): ApiJson<AddItem>) -> ApiResult<Json<CartView>> {
    if add.id.trim().is_empty() || add.id.chars().count() > MAX_ID_LEN {
        return Err(ApiError::bad_request(format!(
            "id must be a non-empty string of at most {MAX_ID_LEN} characters"
        )));
    }
    if !(1..=MAX_QTY).contains(&add.qty) {
        return Err(ApiError::bad_request(format!("qty must be between 1 and {MAX_QTY}")));
    }
    let held = items(&session)?
        .iter()
        .find(|item| item.id == add.id)
        .map_or(0, |item| item.qty);
    if held + add.qty > MAX_QTY {
        return Err(ApiError::bad_request(format!(
            "the cart holds {held} of {:?}; at most {MAX_QTY} of one item",
            add.id
        )));
    }
    let items = session.update(CART_KEY, |mut items: Vec<Item>| {
        match items.iter_mut().find(|item| item.id == add.id) {
            Some(item) => item.qty += add.qty,
            None => items.push(Item {
                id: add.id,
                qty: add.qty,
            }),
        }
        items
    })?;
    Ok(Json(CartView { items }))
}

/// `DELETE /cart/{id}`: removes the line (if any); returns the cart.
pub async fn remove(session: Session, ApiPath(id): ApiPath<String>) -> ApiResult<Json<CartView>> {
    let mut items = items(&session)?;
    if items.iter().any(|item| item.id == id) {
        items = session.update(CART_KEY, |mut items: Vec<Item>| {
            items.retain(|item| item.id != id);
            items
        })?;
    }
    Ok(Json(CartView { items }))
}
