//! The order tables' kinds: which order victims are taken from, one entry of an order, and
//! the order tables that can be built while writers work (with the `settings` rows that mark
//! a build). The operations choose them; the engine's writers read the tables they name.

use redb::ReadableTable;

use crate::error::Result;
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

/// The `settings` row that marks a build in progress is named this, then the table's name;
/// its value is the builder's token.
pub(crate) const BUILD_PREFIX: &str = "build:";

/// An order table that can be built while writers work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The order table of an eviction policy that has one.
    Policy(EvictionPolicy),
    /// The tag order, `order_tag`.
    Tag,
}

impl Target {
    /// The table `policy` keeps, if any.
    pub(crate) fn of_policy(policy: EvictionPolicy) -> Option<Target> {
        policy_order(policy).map(|_| Target::Policy(policy))
    }

    /// The table's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::Policy(EvictionPolicy::LeastRecentlyStored) => "order_store",
            Target::Policy(EvictionPolicy::LeastRecentlyUsed) => "order_access",
            Target::Policy(EvictionPolicy::LeastFrequentlyUsed) => "order_frequency",
            Target::Policy(EvictionPolicy::None) => "",
            Target::Tag => "order_tag",
        }
    }

    /// The name of the `settings` row that marks its build.
    pub(crate) fn marker(self) -> String {
        format!("{BUILD_PREFIX}{}", self.name())
    }

    /// The target whose table is named `name`.
    fn from_name(name: &str) -> Option<Target> {
        [
            Target::Policy(EvictionPolicy::LeastRecentlyStored),
            Target::Policy(EvictionPolicy::LeastRecentlyUsed),
            Target::Policy(EvictionPolicy::LeastFrequentlyUsed),
            Target::Tag,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }
}

/// The builds in progress that the `settings` table marks, with their tokens. A marker
/// naming no table this build knows is ignored.
pub(crate) fn markers(table: &impl ReadableTable<&'static str, u64>) -> Result<Vec<(Target, u64)>> {
    let mut out = Vec::new();
    for item in table.range(BUILD_PREFIX..)? {
        let (name, token) = item?;
        let Some(table) = name.value().strip_prefix(BUILD_PREFIX) else {
            break;
        };
        out.extend(Target::from_name(table).map(|t| (t, token.value())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::schema::policy_order;
    use redb::TableHandle;

    #[test]
    fn targets_are_named_as_their_tables_and_named_back() {
        for policy in [
            EvictionPolicy::LeastRecentlyStored,
            EvictionPolicy::LeastRecentlyUsed,
            EvictionPolicy::LeastFrequentlyUsed,
        ] {
            let target = Target::of_policy(policy).unwrap();
            let (definition, _) = policy_order(policy).unwrap();
            assert_eq!(target.name(), definition.name());
            assert_eq!(Target::from_name(target.name()), Some(target));
        }
        assert_eq!(Target::of_policy(EvictionPolicy::None), None);
        assert_eq!(Target::Tag.name(), crate::format::schema::ORDER_TAG.name());
        assert_eq!(Target::from_name("order_tag"), Some(Target::Tag));
        assert_eq!(Target::from_name("order_insert"), None);
        assert_eq!(Target::Tag.marker(), "build:order_tag");
    }
}
