//! Building an order table while writers work, for `reset` of the eviction policy and of
//! the tag index: the new table is filled from the rows in slices while the old setting
//! stays in force, and every writer keeps it in step meanwhile, because a row of the
//! `settings` table marks the build (`format-spec/tables.md`, "Building an order table");
//! then one short transaction puts the new setting in force.

use crate::engine::Store;
use crate::engine::write::Step;
use crate::error::{Error, Result};
use crate::format::order::Target;
use crate::settings::{Setting, Settings};

/// Stores `setting` for every process using the cache and returns the value it replaced.
/// Changing the eviction policy or the tag index builds the new order table in slices,
/// switches, tells other processes, then empties the old table in slices.
pub(crate) fn reset(store: &Store, setting: Setting) -> Result<Setting> {
    if matches!(setting, Setting::WritePath(_) | Setting::Durability(_)) {
        return Err(Error::InvalidArgument(format!(
            "{} is chosen when the cache is opened (CacheBuilder), not reset",
            setting.name()
        )));
    }
    let (old, live, left) = match reset_in_slices(store, setting)? {
        Some(built) => built,
        None => {
            let (old, live) =
                store.write_redb(|w| Ok((w.change_setting(setting)?, w.live().clone())))?;
            (old, live, None)
        }
    };
    store.settings_changed(live);
    if let Some(left) = left {
        // The new setting is in force: a table left over by an error here is for `check`
        // to report and delete.
        let _ = empty(store, left);
    }
    Ok(old)
}

/// Changes `setting` in slices if it builds or drops an order table (the eviction policy,
/// the tag index): a table to build is filled in slices first, then the setting switches in
/// one short transaction. Returns the value it replaced, the settings now in force and the
/// table the old value kept (left over now: see [`empty`]), or `None` for a setting that
/// concerns no order table.
fn reset_in_slices(store: &Store, setting: Setting) -> Result<Option<Built>> {
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
