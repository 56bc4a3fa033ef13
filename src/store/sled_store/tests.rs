//! Unit tests of the sled store that need sled itself: foreign databases and layouts.

use super::*;

#[test]
fn refuses_a_sled_database_that_is_not_a_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::open(dir.path()).expect("open sled");
        db.insert(b"someone else's key", b"value").expect("insert");
        db.flush().expect("flush");
    }
    let err = SledStore::open(dir.path()).expect_err("foreign database");
    assert!(err.to_string().contains("not an orcapod store"), "{err}");
}

#[test]
fn refuses_an_unknown_layout_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::open(dir.path()).expect("open sled");
        db.insert(codec::format_key(), b"orcapod-store/1")
            .expect("insert");
        db.flush().expect("flush");
    }
    let err = SledStore::open(dir.path()).expect_err("unknown layout");
    assert!(
        err.to_string().contains("unsupported store layout"),
        "{err}"
    );
}
