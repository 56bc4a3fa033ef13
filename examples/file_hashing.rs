//! Throughput of hashing files (issue 18): a few large files hashed by a fresh
//! `FileHashes` (SHA-256 of every byte; the files are in the page cache, so this is the
//! hashing itself, not the disk), then hashed again (every hash from the cache, a `stat`
//! per file). Prints MB/s, the median of three passes.
//!
//! Run with `cargo run --release --example file_hashing -- [FILES] [MIB_PER_FILE]`
//! (default 4 files of 256 MiB, written to a temporary directory and removed).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use orcapod::files::FileHashes;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let files: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let mib: usize = args.next().map_or(Ok(256), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut block = vec![0u8; 1 << 20];
    for f in 0..files {
        let path = dir.path().join(format!("f{f}.bin"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for m in 0..mib {
            // Varied bytes (a cheap generator), so no file is trivially compressible.
            let mut x = (f * 1_000_003 + m) as u64 | 1;
            for chunk in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            out.write_all(&block)?;
        }
        out.flush()?;
        paths.push(path);
    }
    let total_mb = (files * mib) as f64 * 1.048_576;
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..3 {
        let hashes = FileHashes::default();
        let start = Instant::now();
        hashes.hash_files(&paths, None)?;
        cold.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        hashes.hash_files(&paths, None)?;
        warm.push(start.elapsed().as_secs_f64());
        assert_eq!(hashes.counts().files_hashed, files as u64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (cold, warm) = (median(&mut cold), median(&mut warm));
    println!(
        "hashing {files} files of {mib} MiB ({total_mb:.0} MB): {cold:.3} s, {:.0} MB/s",
        total_mb / cold
    );
    println!(
        "the same files again, from the in-memory cache: {:.6} s",
        warm
    );
    Ok(())
}
