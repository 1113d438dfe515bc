//! Payments: a sample plug-in that charges a payment gateway when an order is created, and writes the
//! gateway's transaction id back to the order (BOX-6, `docs/http.md`).
//!
//! Register it on **Create** of **new_order**, **PostOperation** (stage 40), synchronous, running as the
//! payments service account, with the gateway's address as unsecure configuration:
//!
//! ```json
//! { "name": "Charge the order", "plugin": "payments", "message": "Create", "primaryentity": "new_order",
//!   "stage": 40, "impersonatinguserid": "@payments", "configuration": "https://pay.contoso.com" }
//! ```
//!
//! The charge is `POST {gateway}/v1/charges` with `{"amount": cents, "currency": "eur", "order": name}` and the
//! order's name as idempotency key. A 2xx answer's `id` is written to `new_transactionid` through a service for
//! `context.UserId` (the service account: it, not the user who created the order, writes the id). A decline
//! fails the Create with the gateway's reason; a gateway that does not answer in time fails it asking to retry.

use std::time::Duration;

use serde_json::{Value as Json, json};
use xrm_sandbox_guest::http::{self, HttpErrorKind};
use xrm_sandbox_guest::{Entity, GetAttributeValue, Plugin, PluginContext, PluginError, StepConfiguration, trace};

/// How long the plug-in waits for the gateway, well inside the step's time limit.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(2);

struct Payments {
    /// The gateway's base address, such as `https://pay.contoso.com`.
    gateway: String,
}

impl Plugin for Payments {
    fn new(configuration: &StepConfiguration) -> Result<Self, PluginError> {
        let gateway = configuration.unsecure().map(str::trim).filter(|g| !g.is_empty());
        let gateway = gateway
            .ok_or_else(|| PluginError::invalid("payments: the step's configuration must be the gateway's address"))?;
        Ok(Payments { gateway: gateway.trim_end_matches('/').to_owned() })
    }

    fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
        let order = context.target_entity().ok_or_else(|| PluginError::invalid("payments: no Target order"))?;
        let name =
            order.get_string("new_name")?.ok_or_else(|| PluginError::invalid("payments: the order has no name"))?;
        let amount = order
            .get_money("new_total")?
            .ok_or_else(|| PluginError::invalid(format!("payments: order {name} has no total")))?;
        let cents = cents(amount)?;
        let transaction = self.charge(name, cents)?;
        trace!("charged {cents} cents for order {name}: transaction {transaction}");

        // The step's user (the service account the step impersonates) writes the id back.
        let service = context.service_factory().create_organization_service(Some(context.user_id()));
        let mut update = Entity::with_id("new_order", context.primary_entity_id());
        update.set("new_transactionid", transaction);
        Ok(service.update(&update)?)
    }
}

impl Payments {
    /// Charges the gateway; the transaction id, or why the order cannot be paid.
    fn charge(&self, order: &str, cents: i64) -> Result<String, PluginError> {
        let response = http::Request::post(&format!("{}/v1/charges", self.gateway))
            .header("idempotency-key", order)
            .json(&json!({ "amount": cents, "currency": "eur", "order": order }))
            .timeout(GATEWAY_TIMEOUT)
            .send();
        let response = match response {
            Ok(r) => r,
            Err(e) if e.kind == HttpErrorKind::Timeout => {
                return Err(PluginError::invalid(format!(
                    "The payment gateway did not answer within {} s; try again later",
                    GATEWAY_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(PluginError::invalid(format!("The payment gateway cannot be reached: {e}"))),
        };
        let body: Json = response.json().unwrap_or(Json::Null);
        if !response.is_success() {
            let reason = body["error"].as_str().unwrap_or("no reason given");
            return Err(PluginError::invalid(format!("The payment was declined ({}): {reason}", response.status)));
        }
        match body["id"].as_str() {
            Some(id) => Ok(id.to_owned()),
            None => Err(PluginError::invalid("The payment gateway answered without a transaction id")),
        }
    }
}

/// `"42.50"` as 4250 cents.
fn cents(amount: &str) -> Result<i64, PluginError> {
    let (units, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let fraction = format!("{fraction:0<2}");
    let parsed = units.parse::<i64>().ok().zip(fraction.get(..2).and_then(|f| f.parse::<i64>().ok()));
    parsed
        .map(|(u, f)| u * 100 + if u < 0 { -f } else { f })
        .ok_or_else(|| PluginError::invalid(format!("payments: `{amount}` is not an amount")))
}

xrm_sandbox_guest::export_plugin!(Payments);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_cents() {
        assert_eq!(cents("42.50").unwrap(), 4250);
        assert_eq!(cents("42").unwrap(), 4200);
        assert_eq!(cents("0.5").unwrap(), 50);
        assert!(cents("abc").is_err());
    }
}
