//! The SQLite benchmark guest (rusqlite, SQLite's amalgamation built for wasm32-wasip1):
//! `gen DB SIZE_MB` writes a deterministic database of about SIZE_MB MiB, `query DB N` opens it
//! read-only without locking (VFS `unix-none`, `immutable=1`, no mmap) and runs N random point
//! lookups by primary key plus N/10 index range scans, printing one checksum line so runs can be
//! compared.

use rusqlite::{params, Connection, OpenFlags};

/// Table and index of the database `gen` writes: an integer primary key, an indexed text key,
/// a text body (words from one vocabulary: compressible) and a blob (half noise, half repeats).
const SCHEMA: &str = "PRAGMA page_size = 4096;
    PRAGMA journal_mode = OFF;
    PRAGMA synchronous = OFF;
    CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, tag TEXT NOT NULL,
                       body TEXT NOT NULL, data BLOB NOT NULL);
    CREATE INDEX item_name ON item(name);";

/// xorshift64*: the same sequence on every host.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `len` lowercase letters.
    fn word(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }
}

/// Rows of about 1 KiB in transactions of 1,000 until the file reaches `mb` MiB.
fn gen(path: &str, mb: u64) {
    let _ = std::fs::remove_file(path);
    // One writer and no reader: no locking (the WASI default VFS, `unix-dotfile`, makes lock files).
    let db = Connection::open_with_flags_and_vfs(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        c"unix-none",
    )
    .expect("create database");
    db.execute_batch(SCHEMA).expect("schema");
    let mut rng = Rng(0x5151_7e57_da7a_ba5e);
    let vocab: Vec<String> = (0..2000)
        .map(|_| {
            let len = 2 + rng.below(9) as usize;
            rng.word(len)
        })
        .collect();
    let tags = [
        "red", "green", "blue", "amber", "violet", "grey", "white", "black",
    ];
    let target = mb << 20;
    let mut id = 0u64;
    loop {
        db.execute_batch("BEGIN").expect("begin");
        {
            let mut ins = db
                .prepare("INSERT INTO item (id, name, tag, body, data) VALUES (?1, ?2, ?3, ?4, ?5)")
                .expect("prepare insert");
            for _ in 0..1000 {
                id += 1;
                let name = rng.word(12);
                let tag = tags[rng.below(tags.len() as u64) as usize];
                let words = 30 + rng.below(150) as usize;
                let mut body = String::with_capacity(words * 7);
                for w in 0..words {
                    if w > 0 {
                        body.push(' ');
                    }
                    body.push_str(&vocab[rng.below(vocab.len() as u64) as usize]);
                }
                let len = 64 + rng.below(448) as usize;
                let data: Vec<u8> = if id.is_multiple_of(2) {
                    (0..len).map(|_| rng.next() as u8).collect()
                } else {
                    let b = rng.next() as u8;
                    (0..len).map(|i| b.wrapping_add((i % 16) as u8)).collect()
                };
                ins.execute(params![id as i64, name, tag, body, data])
                    .expect("insert");
            }
        }
        db.execute_batch("COMMIT").expect("commit");
        let pages: i64 = db
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .expect("page_count");
        if pages as u64 * 4096 >= target {
            break;
        }
    }
    println!(
        "rows {id} bytes {}",
        std::fs::metadata(path).expect("stat").len()
    );
}

/// FNV-1a over `bytes`, folded into `sum`.
fn fold(sum: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *sum = (*sum ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
}

/// `n` point lookups of random ids and `n / 10` range scans of 20 rows from a random name on.
fn query(path: &str, n: u64) {
    let uri = format!("file:{path}?immutable=1");
    let db = Connection::open_with_flags_and_vfs(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        c"unix-none",
    )
    .expect("open database");
    db.execute_batch("PRAGMA mmap_size = 0").expect("mmap_size");
    let max: i64 = db
        .query_row("SELECT max(id) FROM item", [], |r| r.get(0))
        .expect("max id");
    let mut point = db
        .prepare("SELECT name, tag, body, data FROM item WHERE id = ?1")
        .expect("prepare lookup");
    let mut range = db
        .prepare(
            "SELECT id, name, length(body), data FROM item WHERE name >= ?1 ORDER BY name LIMIT 20",
        )
        .expect("prepare range");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut rows, mut bytes, mut sum) = (0u64, 0u64, 0xcbf2_9ce4_8422_2325u64);
    for i in 0..n {
        let id = 1 + rng.below(max as u64) as i64;
        point
            .query_row([id], |r| {
                for c in 0..4 {
                    let v = r.get_ref(c)?;
                    let b = match v {
                        rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                            b
                        }
                        _ => &[],
                    };
                    bytes += b.len() as u64;
                    fold(&mut sum, b);
                }
                Ok(())
            })
            .expect("lookup");
        rows += 1;
        if i % 10 == 9 {
            let from = rng.word(3);
            let mut it = range.query([from]).expect("range");
            while let Some(r) = it.next().expect("range row") {
                let id: i64 = r.get(0).expect("id");
                let name = r.get_ref(1).expect("name").as_bytes().expect("text");
                let body_len: i64 = r.get(2).expect("length");
                let data = r.get_ref(3).expect("data").as_bytes().expect("blob");
                fold(&mut sum, &id.to_le_bytes());
                fold(&mut sum, name);
                fold(&mut sum, &body_len.to_le_bytes());
                fold(&mut sum, data);
                bytes += (name.len() + data.len()) as u64;
                rows += 1;
            }
        }
    }
    println!(
        "lookups {n} ranges {} rows {rows} bytes {bytes} sum {sum:016x}",
        n / 10
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(0) {
        "gen" => gen(arg(1), arg(2).parse().expect("SIZE_MB")),
        "query" => query(arg(1), arg(2).parse().expect("N")),
        _ => {
            eprintln!("usage: sqlite_guest gen DB SIZE_MB | query DB N");
            std::process::exit(2);
        }
    }
}
