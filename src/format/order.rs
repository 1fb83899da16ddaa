//! The order tables' kinds: which order victims are taken from, and one entry of an order.
//! The operations (culling) choose them; the engine's writers read the tables they name.

use crate::format::row::Row;
use crate::format::schema::policy_order;
use crate::settings::EvictionPolicy;

/// An order table victims are taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Order {
    /// `order_expire`: soonest expire time first.
    Expire,
    /// The order table of this eviction policy.
    Policy(EvictionPolicy),
}

impl Order {
    /// The row field this order sorts by, or `None` for a policy with no order.
    pub(crate) fn field(self) -> Option<fn(&Row) -> u64> {
        match self {
            Order::Expire => Some(|r| r.expire_time),
            Order::Policy(p) => policy_order(p).map(|(_, field)| field),
        }
    }
}

/// One entry of an order table: its position (order value, row id) and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) position: (u64, u64),
    pub(crate) key: Vec<u8>,
}
