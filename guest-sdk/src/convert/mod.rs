//! Conversions between the model types plug-in authors use and the WIT types that cross the boundary.
//!
//! Pure functions, no host calls, so they are unit-tested natively.

mod batch;
pub(crate) mod from_wit;
mod metadata;
pub(crate) mod to_wit;

#[cfg(test)]
mod tests;

/// A WIT arena index. Arenas hold a query's filters and link-entities, far fewer than `u32::MAX`.
fn index(position: usize) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX)
}
