//! Golden content hashes of packets holding files and directories, from the reference.
//!
//! Every value below was computed by the reference, orcapod 0.1.4 from PyPI
//! (`pip install orcapod==0.1.4`), over the very bytes this test writes, with
//!
//! ```python
//! import orcapod as op
//! from orcapod.core.datagrams.datagram import Datagram
//! from orcapod.hashing.directory_hashers import BasicDirectoryHasher
//! from orcapod.hashing.file_hashers import FileHasher
//! h = lambda data, **kw: Datagram(data, **kw).content_hash().to_string()
//! h({"f": op.File("a.txt")})
//! h({"f": op.File("b.bin"), "n": 7, "s": "x"})
//! h({"f": op.File("a.txt")}, python_schema={"f": op.File | None})
//! h({"f": None}, python_schema={"f": op.File | None})
//! h({"d": op.Directory("tree")})
//! BasicDirectoryHasher(FileHasher()).hash_directory("tree").to_string()
//! ```
//!
//! The reference's `orcapod.File` and `orcapod.Directory` are this project's `file` and
//! `dir`; a packet's content hash is the Arrow hash of its one-row table. A failure
//! here means packets holding files no longer hash as the reference's do.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, LargeStringArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use orcapod::files::{content_batch, path_array, FileHashes, PacketHasher, PathKind};
use orcapod::hashing::arrow::{digest_string, hash_batch};

/// Writes the files the reference hashed: `a.txt`, `empty.txt`, `b.bin`, and the
/// directory `tree` (`a.txt`, `sub/b.bin`, an empty `emptysub/`, and `link` → `a.txt`).
fn write_files(root: &Path) {
    fs::write(root.join("a.txt"), b"hello\n").unwrap();
    fs::write(root.join("empty.txt"), b"").unwrap();
    fs::write(root.join("b.bin"), b"orcapod\x00bytes\xff").unwrap();
    let tree = root.join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::create_dir_all(tree.join("emptysub")).unwrap();
    fs::write(tree.join("a.txt"), b"hello\n").unwrap();
    fs::write(tree.join("sub/b.bin"), b"orcapod\x00bytes\xff").unwrap();
    std::os::unix::fs::symlink("a.txt", tree.join("link")).unwrap();
}

/// The packet hash of each row of `batch`, as the function node computes it; and, for a
/// one-row batch, checks that the whole-table hash (a source's) is the same.
fn packet_hashes(batch: &RecordBatch) -> Vec<String> {
    let hashes: Vec<String> = PacketHasher::new(&batch.schema())
        .hash_row_digests(batch, None)
        .unwrap()
        .iter()
        .map(digest_string)
        .collect();
    for (i, hash) in hashes.iter().enumerate() {
        let image = content_batch(&batch.slice(i, 1), &FileHashes::default(), None).unwrap();
        assert_eq!(&hash_batch(&image).to_string(), hash, "row {i}");
    }
    hashes
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn paths(kind: PathKind, root: &Path, names: &[Option<&str>]) -> ArrayRef {
    let paths: Vec<Option<String>> = names
        .iter()
        .map(|n| n.map(|n| root.join(n).display().to_string()))
        .collect();
    path_array(kind, &paths)
}

#[test]
fn packets_holding_files_hash_as_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_files(root);
    let file = PathKind::File.data_type();

    let required = batch(
        vec![Field::new("f", file.clone(), false)],
        vec![paths(
            PathKind::File,
            root,
            &[Some("a.txt"), Some("empty.txt")],
        )],
    );
    assert_eq!(
        packet_hashes(&required),
        [
            "arrow_v0.1:000001870bea20aecc1840f8df5f01fdb820fdb9deece1fc6faf7a75ad2aad18f30ceb",
            "arrow_v0.1:000001ae4e5b1ff7fbd15a4cf9a6a2506391acd3195a78fc5eff633f5911bb20c66cde",
        ]
    );

    let mixed = batch(
        vec![
            Field::new("f", file.clone(), false),
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::LargeUtf8, false),
        ],
        vec![
            paths(PathKind::File, root, &[Some("b.bin")]),
            Arc::new(Int64Array::from(vec![7])),
            Arc::new(LargeStringArray::from(vec!["x"])),
        ],
    );
    assert_eq!(
        packet_hashes(&mixed),
        ["arrow_v0.1:0000017e6cef1059a44b22c7b25437495692bf1915ba298d637f8416bb9ccfb54e7412"]
    );

    // `File | None`: a value, then none (the reference keeps the extension's name).
    let optional = batch(
        vec![Field::new("f", file, true)],
        vec![paths(PathKind::File, root, &[Some("a.txt"), None])],
    );
    assert_eq!(
        packet_hashes(&optional),
        [
            "arrow_v0.1:000001a2d74c233e4afa765886d982d9cb707151e03b8f8179e881773ddaafe7a06eff",
            "arrow_v0.1:0000018944003dae8264e5619b5155a73298deb54deabb5cca26feaa1946b9e580a105",
        ]
    );
}

#[test]
fn directories_and_packets_holding_them_hash_as_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_files(root);
    let merkle: Vec<String> = FileHashes::default()
        .hash_dirs(
            &[
                root.join("tree"),
                root.join("tree/sub"),
                root.join("tree/emptysub"),
            ],
            None,
        )
        .unwrap();
    assert_eq!(
        merkle,
        [
            "a50f2d965c8666be49233c91b6d38a48da8f49f4af83d1784d527db52cffd647",
            "ce76c16db19ac4f12e93236a88b8d351d9b46f51f577b5d0ee13701d3081e67c",
            "4b66bf93b3932a9539880b2421e35019af9daf84363a0246280ffcac173b2678",
        ]
    );

    let dirs = batch(
        vec![Field::new("d", PathKind::Dir.data_type(), false)],
        vec![paths(PathKind::Dir, root, &[Some("tree")])],
    );
    assert_eq!(
        packet_hashes(&dirs),
        ["arrow_v0.1:000001dab2685c6e6cacb508db868958e291929e9f2f5b84b5a84508a8693e42fd3556"]
    );

    // {"d": Directory("tree"), "f": File("a.txt"), "n": 3}
    let mixed = batch(
        vec![
            Field::new("d", PathKind::Dir.data_type(), false),
            Field::new("f", PathKind::File.data_type(), false),
            Field::new("n", DataType::Int64, false),
        ],
        vec![
            paths(PathKind::Dir, root, &[Some("tree")]),
            paths(PathKind::File, root, &[Some("a.txt")]),
            Arc::new(Int64Array::from(vec![3])),
        ],
    );
    assert_eq!(
        packet_hashes(&mixed),
        ["arrow_v0.1:000001d3861645cec577766cbee82842e12de92f316586adb25d72eef27b669a198fba"]
    );

    // {"d": None} with `Directory | None`.
    let none = batch(
        vec![Field::new("d", PathKind::Dir.data_type(), true)],
        vec![paths(PathKind::Dir, root, &[None])],
    );
    assert_eq!(
        packet_hashes(&none),
        ["arrow_v0.1:0000016a700cae12049b3aec8e57156b5fee5a9bd6a290a7ba177768918c3a28ca437f"]
    );
}
