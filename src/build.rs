//! Building an order table while writers work, for `reset` of the eviction policy and of
//! the tag index: the new table is filled from the rows in slices while the old setting
//! stays in force, and every writer keeps it in step meanwhile, because a row of the
//! `settings` table marks the build (`format-spec/tables.md`, "Building an order table");
//! then one short transaction puts the new setting in force.

use redb::ReadableTable;

use crate::error::Result;
use crate::schema::policy_order;
use crate::settings::{EvictionPolicy, Setting, Settings};
use crate::store::Store;

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

/// What one slice of a build did.
#[derive(Debug)]
pub(crate) enum Step {
    /// Added rows up to this key; more follow.
    More(Vec<u8>),
    /// Added the last rows.
    Done,
    /// Another build of the same table, or a change of the setting, took over: this one
    /// stops.
    Superseded,
}

/// Changes `setting` in slices if it builds or drops an order table (the eviction policy,
/// the tag index): a table to build is filled in slices first, then the setting switches in
/// one short transaction. Returns the value it replaced, the settings now in force and the
/// table the old value kept (left over now: see [`empty`]), or `None` for a setting that
/// concerns no order table.
pub(crate) fn reset(store: &Store, setting: Setting) -> Result<Option<Built>> {
    let target = match setting {
        Setting::EvictionPolicy(p) => Target::of_policy(p),
        Setting::TagIndex(true) => Some(Target::Tag),
        Setting::TagIndex(false) => None,
        _ => return Ok(None),
    };
    Ok(Some(match target {
        Some(target) => build(store, setting, target)?,
        None => {
            let ((old, left), live) =
                store.slice(|w, _| Ok((w.switch_off(setting)?, w.live().clone())))?;
            (old, live, left)
        }
    }))
}

/// Builds the table of `target` in slices and switches `setting` in; returns the value it
/// replaced, the settings then, and the table the old value kept.
fn build(store: &Store, setting: Setting, target: Target) -> Result<Built> {
    let token = random_token();
    let (started, live) =
        store.slice(|w, _| Ok((w.start_build(setting, target, token)?, w.live().clone())))?;
    if let Some(old) = started {
        return Ok((old, live, None));
    }
    let old = live.clone().apply(setting);
    match fill(store, target, token) {
        Ok(true) => {}
        Ok(false) => return Ok((old, store.settings(), None)),
        Err(e) => {
            // Best effort: end the build, so that writers stop keeping its table in step.
            let _ = store.slice(|w, _| w.abandon_build(target, token));
            return Err(e);
        }
    }
    let (finished, live) = store.slice(|w, _| {
        let finished = w.finish_build(setting, target, token)?;
        Ok((finished, w.live().clone()))
    })?;
    Ok(match finished {
        Some((old, left)) => (old, live, left),
        None => (old, live, None),
    })
}

/// What [`reset`] and [`build`] return: the value replaced, the settings in force, and the
/// table the old value kept.
pub(crate) type Built = (Setting, Settings, Option<Target>);

/// Empties the left-over table of `target` in slices, and deletes it. Unless another
/// setting or build keeps it again meanwhile: then it stops.
pub(crate) fn empty(store: &Store, target: Target) -> Result<()> {
    while !store.slice(|w, budget| w.empty_left_over(target, budget))? {}
    Ok(())
}

/// Fills the table of the build `token` in slices; returns `false` if another build took
/// over.
fn fill(store: &Store, target: Target, token: u64) -> Result<bool> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        match store.slice(|w, budget| w.build_step(target, token, after.as_deref(), budget))? {
            Step::More(last) => after = Some(last),
            Step::Done => return Ok(true),
            Step::Superseded => return Ok(false),
        }
    }
}

/// A random nonzero token, to tell one build (or check) from another.
pub(crate) fn random_token() -> u64 {
    crate::platform::random::u64().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!(Target::Tag.name(), crate::schema::ORDER_TAG.name());
        assert_eq!(Target::from_name("order_tag"), Some(Target::Tag));
        assert_eq!(Target::from_name("order_insert"), None);
        assert_eq!(Target::Tag.marker(), "build:order_tag");
    }
}
