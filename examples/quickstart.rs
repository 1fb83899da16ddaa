//! The first steps of Python diskcache's tutorial, in Rust, printing what each does.
//!
//! Run with `cargo run --example quickstart`.

use std::io::Read;
use std::time::Duration;

use diskcache::{Cache, Error, SetOptions};

fn main() -> diskcache::Result<()> {
    let cache = Cache::temp()?;
    println!("opened a cache in {}", cache.directory().display());

    // cache['key'] = 'value'; cache['key']; 'key' in cache; del cache['key']
    cache.set("key", "value")?;
    println!(
        "set 'key' = 'value' -> get: {:?}",
        cache.get::<String>("key")?
    );
    println!("'key' in cache: {}", cache.contains("key")?);
    println!("delete 'key': {}", cache.delete("key")?);

    // Reopening the same directory, as another thread or process would, sees the same data.
    let dir = cache.directory().to_path_buf();
    cache.set("key", "value")?;
    cache.close()?;
    let cache = Cache::open(&dir)?;
    println!(
        "after close and reopen, get 'key': {:?}",
        cache.get::<String>("key")?
    );

    // cache.set('key', BytesIO(b'value'), expire=5, read=True, tag='data')
    let opts = SetOptions::default()
        .expire(Duration::from_secs(5))
        .tag("data");
    cache.set_reader("key", &b"value"[..], opts)?;
    let mut reader = cache.get_reader("key")?.expect("just set");
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(Error::Io)?;
    let entry = cache
        .get_entry::<serde_bytes::ByteBuf>("key")?
        .expect("just set");
    let expires = entry.expire_time.map(|t| {
        t.duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    });
    println!(
        "set_reader 'key' (expire 5 s, tag 'data') -> read {text:?}, expires at {expires:?} (s since epoch), tag {}",
        entry.tag.map(|t| t.to_string()).unwrap_or_default()
    );

    // touch
    println!("touch 'key' expire=None: {}", cache.touch("key", None)?);
    println!(
        "touch 'does-not-exist': {}",
        cache.touch("does-not-exist", Some(Duration::from_secs(1)))?
    );

    // add
    println!(
        "add b'test' 123: {}",
        cache.add(&b"test"[..], 123, SetOptions::default())?
    );
    println!("get b'test': {:?}", cache.get::<i64>(&b"test"[..])?);
    println!(
        "add b'test' 456: {}",
        cache.add(&b"test"[..], 456, SetOptions::default())?
    );
    println!("get b'test': {:?}", cache.get::<i64>(&b"test"[..])?);

    // incr / decr
    println!("incr b'test': {}", cache.incr(&b"test"[..], 1, Some(0))?);
    println!(
        "decr b'test' 24: {}",
        cache.decr(&b"test"[..], 24, Some(0))?
    );
    println!("incr 'alice': {}", cache.incr("alice", 1, Some(0))?);
    println!("decr 'bob' default=-9: {}", cache.decr("bob", 1, Some(-9))?);
    match cache.incr("carol", 1, None) {
        Err(Error::KeyNotFound) => println!("incr 'carol' default=None: KeyNotFound"),
        other => println!("incr 'carol' default=None: unexpected {other:?}"),
    }

    // pop
    println!("pop 'alice': {:?}", cache.pop::<i64>("alice")?);
    println!("pop 'dave': {:?}", cache.pop::<i64>("dave")?);
    cache.set_with("dave", 0, SetOptions::default().tag("admin"))?;
    let dave = cache.pop_entry::<i64>("dave")?.expect("just set");
    println!(
        "pop_entry 'dave': value {}, expire_time {:?}, tag {}",
        dave.value,
        dave.expire_time,
        dave.tag.map(|t| t.to_string()).unwrap_or_default()
    );

    // Entries that expire are invisible at once; len counts them until they are removed.
    for num in 0..10 {
        cache.set_with(
            num,
            num,
            SetOptions::default().expire(Duration::from_nanos(1)),
        )?;
    }
    std::thread::sleep(Duration::from_millis(2));
    println!(
        "10 entries set to expire at once: get 0 -> {:?}",
        cache.get::<i64>(0)?
    );

    let keys: Vec<String> = cache
        .keys()?
        .map(|k| k.map(|k| k.to_string()))
        .collect::<diskcache::Result<_>>()?;
    println!("live keys in insertion order: {keys:?}");
    println!(
        "len (expired entries included until removed): {}",
        cache.len()?
    );
    println!("volume: {} bytes", cache.volume()?);
    println!("clear: removed {}", cache.clear()?);
    Ok(())
}
