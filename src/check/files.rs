//! The file side of `check`: each row's value checked against its crc32, and the value
//! files on disk that no row names.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

use crate::error::Result;
use crate::format::blob::{self, BLOB_SUFFIX, BLOB_TEMP_SUFFIX, BlobPath};
use crate::format::row::{Row, ValuePlace};

/// The value files (and unfinished `.val.tmp` files) under the two levels of hex folders
/// that no row names and that are older than `cutoff`, as paths relative to `dir`.
pub(super) fn orphans(
    dir: &Path,
    named: &HashSet<String>,
    cutoff: SystemTime,
) -> Result<Vec<String>> {
    let mut orphans = Vec::new();
    for relative in value_files(dir)? {
        let unfinished = relative.ends_with(BLOB_TEMP_SUFFIX);
        if !unfinished && named.contains(&relative) {
            continue;
        }
        let modified = match fs::metadata(dir.join(&relative)).and_then(|m| m.modified()) {
            Ok(time) => time,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        if modified > cutoff {
            // Maybe a writer's, written before it took the write lock.
            continue;
        }
        orphans.push(relative);
    }
    Ok(orphans)
}

/// What is wrong with a row's value, if anything: an inline value that fails its crc32, or
/// a value file that is missing, of another size than the row says, or fails its crc32.
pub(super) fn value_problem(dir: &Path, row: &Row) -> Result<Option<String>> {
    let path = match &row.place {
        ValuePlace::Inline(bytes) => {
            let got = crc32fast::hash(bytes);
            return Ok((got != row.crc32).then(|| {
                format!(
                    "its inline value fails its crc32: expected {:#010x}, got {got:#010x}",
                    row.crc32
                )
            }));
        }
        ValuePlace::File(path) => path,
    };
    let Some(mut file) = blob::open(dir, path)? else {
        return Ok(Some(format!("its value file {} is missing", path.as_str())));
    };
    let len = file.metadata()?.len();
    if len != row.size {
        return Ok(Some(format!(
            "its value file {} has {len} bytes, the row says {}",
            path.as_str(),
            row.size
        )));
    }
    if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::CheckSkipsCrc) {
        // Negative control (`sabotage`): value files are not read, so a damaged one passes.
        return Ok(None);
    }
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    let got = hasher.finalize();
    Ok((got != row.crc32).then(|| {
        format!(
            "its value file {} fails its crc32: expected {:#010x}, got {got:#010x}",
            path.as_str(),
            row.crc32
        )
    }))
}

/// Every file of ours under the two levels of hex folders, as paths relative to `dir`:
/// `ab/cd/<32 hex>.val` and `.val.tmp`, with names that fit their folders. Files and folders
/// of other names are not ours and are left out.
fn value_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in hex_folders(dir)? {
        for b in hex_folders(&dir.join(&a))? {
            let folder = dir.join(&a).join(&b);
            let listing = match fs::read_dir(&folder) {
                Ok(listing) => listing,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            for item in listing {
                let name = item?.file_name();
                let Some(name) = name.to_str() else { continue };
                let stem = name
                    .strip_suffix(BLOB_TEMP_SUFFIX)
                    .or_else(|| name.strip_suffix(BLOB_SUFFIX));
                let Some(stem) = stem else { continue };
                if BlobPath::parse(&format!("{a}/{b}/{stem}{BLOB_SUFFIX}")).is_ok() {
                    out.push(format!("{a}/{b}/{name}"));
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The names of the folders in `dir` that are two lowercase hex digits.
fn hex_folders(dir: &Path) -> Result<Vec<String>> {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for item in listing {
        let item = item?;
        let Some(name) = item.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let hex = name.len() == 2
            && name
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
        if hex && item.file_type()?.is_dir() {
            out.push(name);
        }
    }
    Ok(out)
}

/// Deletes a file; one already gone is not an error.
pub(super) fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
