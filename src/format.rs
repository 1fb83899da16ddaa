//! The format: what a cache's bytes mean, below the engine that writes them.
//!
//! Keys and their order-preserving encoding ([`key`]), value kinds and their encoding
//! ([`value`]), the row stored for each key ([`row`]), value files ([`blob`]), the redb tables
//! and the format version ([`schema`]), a value on its way into or out of a row ([`payload`]),
//! the hash of an encoded key ([`key_hash`]), the order tables' kinds ([`order`]), and the
//! pluggable encoding of values that are not plain numbers, text or bytes ([`disk`]).
//! `format-spec/` in the repository is the authority; these modules are its code mirror.

pub(crate) mod blob;
pub(crate) mod disk;
pub mod key;
pub(crate) mod key_hash;
pub(crate) mod order;
pub(crate) mod payload;
pub(crate) mod row;
pub(crate) mod schema;
pub(crate) mod value;
