//! Criterion benches of the point operations, each beside a raw-redb baseline doing the same
//! work in one MultiWriter transaction, so the cost the cache adds on top of redb is visible.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diskcache::Cache;
use redb::{ReadableDatabase, TableDefinition};

const SMALL: [u8; 100] = [b'x'; 100];
const PREFILL: u64 = 10_000;

fn prefilled() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for i in 0..PREFILL {
        cache
            .set(format!("key-{i}"), serde_bytes::Bytes::new(&SMALL))
            .unwrap();
    }
    (dir, cache)
}

fn cache_ops(c: &mut Criterion) {
    let (_dir, cache) = prefilled();
    let mut i = 0u64;
    c.bench_function("cache/get_hit", |b| {
        b.iter(|| {
            i = (i + 1) % PREFILL;
            black_box(
                cache
                    .get::<serde_bytes::ByteBuf>(format!("key-{i}"))
                    .unwrap(),
            )
        })
    });
    c.bench_function("cache/get_miss", |b| {
        b.iter(|| black_box(cache.get::<serde_bytes::ByteBuf>("missing").unwrap()))
    });
    c.bench_function("cache/set_update", |b| {
        b.iter(|| {
            i = (i + 1) % PREFILL;
            cache
                .set(format!("key-{i}"), serde_bytes::Bytes::new(&SMALL))
                .unwrap()
        })
    });
    c.bench_function("cache/incr", |b| {
        b.iter(|| cache.incr("counter", 1, Some(0)).unwrap())
    });
    c.bench_function("cache/set_then_delete", |b| {
        b.iter(|| {
            cache
                .set("transient", serde_bytes::Bytes::new(&SMALL))
                .unwrap();
            cache.delete("transient").unwrap()
        })
    });
}

const RAW: TableDefinition<&[u8], &[u8]> = TableDefinition::new("raw");

fn raw_redb_baseline(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.path().join("raw.redb"))
        .unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(RAW).unwrap();
        for i in 0..PREFILL {
            t.insert(format!("key-{i}").as_bytes(), &SMALL[..]).unwrap();
        }
    }
    txn.commit().unwrap();
    let mut i = 0u64;
    c.bench_function("raw_redb/get_hit", |b| {
        b.iter(|| {
            i = (i + 1) % PREFILL;
            let txn = db.begin_read().unwrap();
            let t = txn.open_table(RAW).unwrap();
            black_box(
                t.get(format!("key-{i}").as_bytes())
                    .unwrap()
                    .map(|g| g.value().to_vec()),
            )
        })
    });
    c.bench_function("raw_redb/set_update", |b| {
        b.iter(|| {
            i = (i + 1) % PREFILL;
            let txn = db.begin_write().unwrap();
            txn.open_table(RAW)
                .unwrap()
                .insert(format!("key-{i}").as_bytes(), &SMALL[..])
                .unwrap();
            txn.commit().unwrap()
        })
    });
}

criterion_group!(benches, cache_ops, raw_redb_baseline);
criterion_main!(benches);
