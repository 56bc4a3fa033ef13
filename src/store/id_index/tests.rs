//! Unit tests of the id index.
use super::*;

/// Ids of the batches added so far, by batch number.
#[derive(Default)]
struct Batches(HashMap<u64, IdColumn>);

impl IdSource for Batches {
    fn id_is(&mut self, batch: u64, row: u32, id: &str) -> Result<bool> {
        Ok(self.0[&batch].is(row as usize, id))
    }
}

fn add(index: &mut IdIndex, src: &mut Batches, batch: u64, ids: &[&str]) -> Added {
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    let column = IdColumn::from_ids(&ids).unwrap();
    let added = index
        .add_batch(batch, &column, &text(&column), src)
        .unwrap();
    src.0.insert(batch, column);
    added
}

/// The text of every id of a column.
fn text(column: &IdColumn) -> Vec<String> {
    (0..column.len()).map(|r| column.id(r)).collect()
}

#[test]
fn ids_added_with_the_text_of_other_ids_are_refused() {
    let (mut index, mut src) = (IdIndex::default(), Batches::default());
    let column = IdColumn::from_ids(&["a".to_string(), "b".to_string()]).unwrap();
    let short = ["a".to_string()];
    assert!(index.add_batch(0, &column, &short, &mut src).is_err());
    assert_eq!(index.len(), 0);
}

fn get(index: &IdIndex, src: &mut Batches, id: &str) -> Option<Loc> {
    index.get(id, src).unwrap()
}

#[test]
fn ids_asked_in_stored_order_skip_the_table_only_for_their_live_row() {
    let (mut index, mut src) = (IdIndex::default(), Batches::default());
    add(&mut index, &mut src, 0, &["a", "b", "c", "d"]);
    // `b` is replaced: its row in batch 0 holds it, but is not live.
    add(&mut index, &mut src, 1, &["b"]);
    let mut hint = None;
    let mut next = |id: &str| index.get_next(id, &mut hint, &mut src).unwrap();
    assert_eq!(next("a"), Some((0, 0)));
    assert_eq!(next("b"), Some((1, 0)), "the live row, not the next one");
    assert_eq!(next("c"), Some((0, 2)));
    assert_eq!(next("d"), Some((0, 3)));
    assert_eq!(next("a"), Some((0, 0)), "another id than the next row's");
    assert_eq!(next("e"), None);
    assert_eq!(next("b"), Some((1, 0)));
}

#[test]
fn later_batches_win_and_dead_batches_are_reported() {
    let (mut index, mut src) = (IdIndex::default(), Batches::default());
    assert_eq!(get(&index, &mut src, "x"), None);
    assert_eq!(add(&mut index, &mut src, 0, &["x", "y"]).new, 2);
    let added = add(&mut index, &mut src, 1, &["y", "z"]);
    assert_eq!((added.new, added.dead.len()), (1, 0));
    assert_eq!(get(&index, &mut src, "x"), Some((0, 0)));
    assert_eq!(get(&index, &mut src, "y"), Some((1, 0)));
    assert_eq!(get(&index, &mut src, "z"), Some((1, 1)));
    assert_eq!(get(&index, &mut src, "w"), None);
    assert_eq!(index.len(), 3);
    let added = add(&mut index, &mut src, 3, &["x"]);
    assert_eq!((added.new, added.dead), (0, vec![0]));
    assert_eq!(index.live_rows(), vec![(1, vec![0, 1]), (3, vec![0])]);
    assert!(add_err(&mut index, &mut src, 2));
}

#[test]
fn adding_batches_at_once_is_adding_them_one_by_one() {
    // Batches replacing ids of earlier ones (within a load and across loads), one
    // batch wholly replaced, and two ids sharing a tag.
    let batches: Vec<(u64, Vec<String>)> = (0..40u64)
        .map(|b| {
            let ids = (0..30u64)
                .map(|i| format!("id{}", (b * 17 + i * 7) % 300))
                .chain((b == 5).then(|| "late".to_string()))
                .collect();
            (b * 2, ids)
        })
        .chain([(100, vec!["id1".to_string(), "late".to_string()])])
        .collect();
    let columns: Vec<(u64, Arc<IdColumn>)> = batches
        .iter()
        .map(|(b, ids)| (*b, Arc::new(IdColumn::from_ids(ids).unwrap())))
        .collect();
    let colliding: fn(&[u8]) -> u64 = |id| {
        if id.starts_with(b"id1") {
            7 << 32
        } else {
            fingerprint(id)
        }
    };
    let index = || IdIndex {
        fingerprint: colliding,
        ..IdIndex::default()
    };
    let mut src = Batches::default();
    for (b, ids) in &columns {
        src.0.insert(*b, (**ids).clone());
    }
    let mut one_by_one = index();
    let mut dead_one_by_one = Vec::new();
    for (b, ids) in &columns {
        dead_one_by_one.extend(
            one_by_one
                .add_batch(*b, ids, &text(ids), &mut src)
                .unwrap()
                .dead,
        );
    }
    let mut at_once = index();
    let mut dead_at_once = Vec::new();
    let mut new = 0;
    for load in columns.chunks(7) {
        let added = at_once.add_batches(load, &mut src).unwrap();
        dead_at_once.extend(added.dead);
        new += added.new;
    }
    dead_one_by_one.sort_unstable();
    dead_at_once.sort_unstable();
    assert!(!dead_at_once.is_empty(), "some batch is wholly replaced");
    assert_eq!(dead_at_once, dead_one_by_one);
    assert_eq!(new, one_by_one.len());
    assert_eq!(at_once.len(), one_by_one.len());
    assert_eq!(at_once.live_rows(), one_by_one.live_rows());
    for i in 0..300 {
        let id = format!("id{i}");
        assert_eq!(
            at_once.get(&id, &mut src).unwrap(),
            one_by_one.get(&id, &mut src).unwrap(),
            "{id}"
        );
    }
    assert_eq!(at_once.get("late", &mut src).unwrap(), Some((100, 1)));
    assert!(
        at_once.add_batches(&columns[..1], &mut src).is_err(),
        "out of order"
    );
}

fn add_err(index: &mut IdIndex, src: &mut Batches, batch: u64) -> bool {
    let column = IdColumn::from_ids(&["q".to_string()]).unwrap();
    index
        .add_batch(batch, &column, &text(&column), src)
        .is_err()
}

#[test]
fn colliding_fingerprints_are_resolved_exactly() {
    let mut index = IdIndex {
        fingerprint: |_| 7 << 32,
        ..IdIndex::default()
    };
    let mut src = Batches::default();
    assert_eq!(add(&mut index, &mut src, 0, &["x", "y", "z"]).new, 3);
    assert_eq!(add(&mut index, &mut src, 1, &["z", "w"]).new, 1);
    assert_eq!(get(&index, &mut src, "x"), Some((0, 0)));
    assert_eq!(get(&index, &mut src, "y"), Some((0, 1)));
    assert_eq!(get(&index, &mut src, "z"), Some((1, 0)));
    assert_eq!(get(&index, &mut src, "w"), Some((1, 1)));
    assert_eq!(get(&index, &mut src, "v"), None);
    assert_eq!(index.len(), 4);
    assert_eq!(index.live_rows(), vec![(0, vec![0, 1]), (1, vec![0, 1])]);
}

/// Counts the stored ids read back to verify a match.
struct Counting<'a>(&'a mut Batches, usize);

impl IdSource for Counting<'_> {
    fn id_is(&mut self, batch: u64, row: u32, id: &str) -> Result<bool> {
        self.1 += 1;
        self.0.id_is(batch, row, id)
    }
}

#[test]
fn ids_sharing_a_tag_but_not_a_check_are_told_apart_without_reading_ids_back() {
    // Every id has tag 7; the check (fingerprint bits 16..32) is the id's length.
    let tag_only = |id: &[u8]| 7 << 32 | (id.len() as u64) << 16;
    let first = IdColumn::from_ids(&["a", "bb"].map(String::from)).unwrap();
    let second = IdColumn::from_ids(&["ccc", "dddd"].map(String::from)).unwrap();
    for at_once in [false, true] {
        let mut index = IdIndex {
            fingerprint: tag_only,
            ..IdIndex::default()
        };
        let mut batches = Batches::default();
        batches.0.insert(0, first.clone());
        batches.0.insert(1, second.clone());
        let mut src = Counting(&mut batches, 0);
        // The second batch's ids probe the chain of the first's (all share a tag).
        let new = if at_once {
            let a = index.add_batches(&[(0, Arc::new(first.clone()))], &mut src);
            let b = index.add_batches(&[(1, Arc::new(second.clone()))], &mut src);
            a.unwrap().new + b.unwrap().new
        } else {
            let a = index.add_batch(0, &first, &text(&first), &mut src);
            a.unwrap().new
                + index
                    .add_batch(1, &second, &text(&second), &mut src)
                    .unwrap()
                    .new
        };
        assert_eq!((new, src.1), (4, 0), "added without a read");
        assert_eq!(index.get("eeeee", &mut src).unwrap(), None);
        assert_eq!(src.1, 0, "a miss reads nothing");
        assert_eq!(index.get("ccc", &mut src).unwrap(), Some((1, 0)));
        assert_eq!(src.1, 1, "a hit reads its own id only");
        // Same tag and check, another id: read back, and told apart exactly.
        assert_eq!(index.get("xyz", &mut src).unwrap(), None);
        assert_eq!(src.1, 2);
    }
}

#[test]
fn the_table_grows_and_keeps_every_id() {
    let (mut index, mut src) = (IdIndex::default(), Batches::default());
    let names: Vec<String> = (0..5000).map(|i| format!("id{i}")).collect();
    for (b, chunk) in names.chunks(700).enumerate() {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        add(&mut index, &mut src, b as u64, &refs);
    }
    assert_eq!(index.len(), 5000);
    for (i, name) in names.iter().enumerate() {
        let loc = get(&index, &mut src, name);
        assert_eq!(loc, Some(((i / 700) as u64, (i % 700) as u32)));
    }
    assert!(index.memory_size() <= 16 * 5000 + 4096);
}

/// An index of many ids, some replaced by later batches (one batch wholly), and the
/// catalog it mirrors.
fn saved_case() -> (IdIndex, Batches, Vec<CatalogBatch>) {
    let (mut index, mut src) = (IdIndex::default(), Batches::default());
    let mut dead = Vec::new();
    for b in 0..12u64 {
        let ids: Vec<String> = (0..500u64)
            .map(|i| format!("id{}", (b * 301 + i * 7) % 4000))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        dead.extend(add(&mut index, &mut src, b * 3, &refs).dead);
    }
    dead.extend(add(&mut index, &mut src, 40, &["id7"]).dead);
    let catalog = index
        .occupancy()
        .into_iter()
        .map(|(batch, rows, _)| CatalogBatch {
            batch,
            file: batch + 1000,
            rows: u64::from(rows),
            checksum: batch.wrapping_mul(0x9E37),
        })
        .collect();
    (index, src, catalog)
}

fn saved_bytes(index: &IdIndex, catalog: &[CatalogBatch]) -> Vec<u8> {
    let mut bytes = Vec::new();
    index.save(catalog, &mut bytes).unwrap();
    bytes
}

#[test]
fn a_saved_index_reads_back_as_the_same_index() {
    let (mut index, mut src, catalog) = saved_case();
    assert!(index.mirrors(&catalog));
    let bytes = saved_bytes(&index, &catalog);
    let mut back = IdIndex::read_saved(&bytes[..], &catalog).expect("read back");
    assert!(!back.is_unsaved());
    assert_eq!(back.len(), index.len());
    assert_eq!(back.occupancy(), index.occupancy());
    assert_eq!(back.live_rows(), index.live_rows());
    for i in 0..4100 {
        let id = format!("id{i}");
        let want = index.get(&id, &mut src).unwrap();
        assert_eq!(back.get(&id, &mut src).unwrap(), want, "{id}");
    }
    // Both go on the same way: a batch replacing ids, then the lookups.
    let ids = ["id7", "id8", "new"];
    let column = IdColumn::from_ids(&ids.map(String::from)).unwrap();
    let texts = text(&column);
    let a = index.add_batch(41, &column, &texts, &mut src).unwrap();
    let b = back.add_batch(41, &column, &texts, &mut src).unwrap();
    assert!(back.is_unsaved());
    assert_eq!((a.new, a.dead), (b.new, b.dead));
    src.0.insert(41, column);
    assert_eq!(back.live_rows(), index.live_rows());
    for id in ["id7", "id8", "new", "id9"] {
        assert_eq!(
            back.get(id, &mut src).unwrap(),
            index.get(id, &mut src).unwrap()
        );
    }
}

#[test]
fn a_saved_index_is_read_back_only_for_its_catalog_and_only_whole() {
    let (index, _, catalog) = saved_case();
    let bytes = saved_bytes(&index, &catalog);
    assert!(IdIndex::read_saved(&bytes[..], &catalog).is_some());
    // Another catalog: any field of any entry, an entry more or less.
    for i in [0, catalog.len() - 1] {
        for field in 0..4 {
            let mut other = catalog.clone();
            let e = &mut other[i];
            *[&mut e.batch, &mut e.file, &mut e.rows, &mut e.checksum][field] += 1;
            assert!(
                IdIndex::read_saved(&bytes[..], &other).is_none(),
                "{i} {field}"
            );
        }
    }
    assert!(IdIndex::read_saved(&bytes[..], &catalog[1..]).is_none());
    let mut more = catalog.clone();
    more.push(CatalogBatch {
        batch: 99,
        file: 99,
        rows: 1,
        checksum: 0,
    });
    assert!(IdIndex::read_saved(&bytes[..], &more).is_none());
    // Cut short anywhere, a byte changed anywhere, or a byte more.
    for cut in (0..bytes.len()).step_by(bytes.len() / 97) {
        assert!(
            IdIndex::read_saved(&bytes[..cut], &catalog).is_none(),
            "cut {cut}"
        );
        let mut flipped = bytes.clone();
        flipped[cut] ^= 0x10;
        assert!(
            IdIndex::read_saved(&flipped[..], &catalog).is_none(),
            "flip {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(IdIndex::read_saved(&longer[..], &catalog).is_none());
}

#[test]
fn an_index_mirrors_only_the_catalog_of_its_live_batches() {
    let (mut index, mut src, catalog) = saved_case();
    // A batch whose every row is replaced leaves the index; until a flush takes it out
    // of the catalog, the index mirrors no catalog that still names it.
    let (first, live) = index.live_rows().swap_remove(0);
    let ids: Vec<String> = live.iter().map(|r| src.0[&first].id(*r as usize)).collect();
    let column = IdColumn::from_ids(&ids).unwrap();
    let added = index
        .add_batch(50, &column, &text(&column), &mut src)
        .unwrap();
    src.0.insert(50, column);
    assert_eq!(added.dead, vec![first]);
    let mut named = catalog.clone();
    named.push(CatalogBatch {
        batch: 50,
        file: 50,
        rows: ids.len() as u64,
        checksum: 1,
    });
    assert!(!index.mirrors(&named));
    assert!(index.mirrors(&named[1..]));
    assert!(!index.mirrors(&catalog));
}
