//! The checkout, a session scope of its own: shipping, then payment, then review.

use axum::Json;
use cloakroom::{Scoped, SessionScope};
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ApiJson, ApiResult};

/// The steps of the checkout, in order.
pub const STEPS: [&str; 3] = ["shipping", "payment", "review"];

/// The checkout's state, stored in the `checkout` scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    /// The current step: one of [`STEPS`].
    pub step: String,
}

impl SessionScope for Checkout {
    const NAME: &'static str = "checkout";

    fn initial() -> Self {
        Self {
            step: STEPS[0].to_owned(),
        }
    }
}

impl Checkout {
    /// The step after the current one, if any.
    pub fn next_step(&self) -> Option<&'static str> {
        let at = STEPS.iter().position(|step| *step == self.step)?;
        STEPS.get(at + 1).copied()
    }
}

/// The body of `POST /checkout/advance`.
#[derive(Debug, Deserialize)]
pub struct Advance {
    /// The step to go to: the one right after the current step.
    pub step: String,
}

/// `GET /checkout`.
pub async fn show(checkout: Scoped<Checkout>) -> ApiResult<Json<Checkout>> {
    Ok(Json(checkout.get()?))
}

/// `POST /checkout/advance`: moves one step forward; a skipped, repeated,
/// backward or unknown step is a 400.
pub async fn advance(checkout: Scoped<Checkout>, ApiJson(advance): ApiJson<Advance>) -> ApiResult<Json<Checkout>> {
    if !STEPS.contains(&advance.step.as_str()) {
        return Err(ApiError::bad_request(format!(
            "unknown step {:?}; steps are {}",
            advance.step,
            STEPS.join(", ")
        )));
    }
    let current = checkout.get()?;
    match current.next_step() {
        Some(next) if next == advance.step => Ok(Json(checkout.update(|state| state.step = next.to_owned())?)),
        Some(next) => Err(ApiError::bad_request(format!(
            "cannot go from {} to {}; the next step is {next}",
            current.step, advance.step
        ))),
        None => Err(ApiError::bad_request(format!(
            "the checkout is at its last step ({})",
            current.step
        ))),
    }
}

/// `POST /checkout/reset`: back to the first step.
pub async fn reset(checkout: Scoped<Checkout>) -> Json<Checkout> {
    checkout.reset();
    Json(Checkout::initial())
}
