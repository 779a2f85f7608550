//! Tests of the node store: directories materialised on first change, sorted entries, link counts and the life of unlinked and unchanged nodes.

use super::*;
use crate::path::tests::tree;

fn fs(bytes: &[u8]) -> Fs<&[u8]> {
    Fs::new(Some(Image::open(bytes).unwrap()))
}

fn names(f: &Fs<&[u8]>, dir: u32) -> Vec<Vec<u8>> {
    let d = f.node(dir).unwrap();
    (0..)
        .map_while(|k| f.entry(&d, k).unwrap())
        .map(|e| e.0)
        .collect()
}

#[test]
fn a_directory_materialises_on_first_change_and_keeps_the_listing_order() {
    let bytes = tree(3);
    let mut f = fs(&bytes);
    let before = names(&f, 0);
    assert!(f.nodes.iter().all(Option::is_none));
    let id = f.create(0, b"aaa-new", Kind::File, Vec::new(), 7).unwrap();
    assert!(id >= f.base);
    let mut after = before.clone();
    after.push(b"aaa-new".to_vec());
    after.sort();
    assert_eq!(names(&f, 0), after, "listings stay sorted by name");
    let root = f.node(0).unwrap();
    assert_eq!(f.lookup(&root, b"aaa-new").unwrap(), Some(id));
    assert!(f.lookup(&root, b"a.txt").unwrap().is_some());
    assert_eq!(f.count(&root).unwrap(), after.len() as u64);
    assert_eq!(root.mtime_ns, 7);
}

#[test]
fn dir_entries_stay_sorted_and_index_by_position() {
    let mut d = Dir::default();
    for i in (0..50u8).rev() {
        d.insert(alloc::vec![b'a', i], u32::from(i)).unwrap();
    }
    assert_eq!(d.nth(10).map(|e| e.1), Some(10));
    d.remove(&[b'a', 3]);
    assert_eq!(d.nth(10).map(|e| e.1), Some(11));
    assert_eq!(d.get(&[b'a', 3]), None);
    assert_eq!(d.get(&[b'a', 4]), Some(4));
    assert_eq!(d.nth(48).map(|e| e.1), Some(49));
    assert_eq!(d.nth(49), None);
    assert_eq!(d.len(), 49);
}

#[test]
fn link_counts_follow_entries_and_unlinked_open_nodes_live_until_closed() {
    let bytes = tree(3);
    let mut f = fs(&bytes);
    let d = f.create(0, b"d", Kind::Dir, Vec::new(), 1).unwrap();
    let root_links = f.node(0).unwrap().nlink;
    let file = f.create(d, b"x", Kind::File, Vec::new(), 1).unwrap();
    f.add_entry(0, b"x2".to_vec(), file, 2).unwrap();
    f.own(file).unwrap().n.nlink += 1;
    assert_eq!(f.node(file).unwrap().nlink, 2);
    f.open(file).unwrap();
    f.remove_entry(d, b"x", 3).unwrap();
    f.remove_entry(0, b"x2", 3).unwrap();
    f.release(file);
    assert_eq!(f.node(file).unwrap().nlink, 0, "still open");
    f.close(file);
    assert!(f.node(file).is_err(), "freed after the last close");
    f.remove_entry(0, b"d", 4).unwrap();
    assert_eq!(f.node(0).unwrap().nlink, root_links - 1);
    f.release(d);
    assert!(f.node(d).is_err());
}

#[test]
fn image_nodes_opened_and_closed_unchanged_keep_no_record_but_the_last_and_changes_stay() {
    let bytes = tree(3);
    let mut f = fs(&bytes);
    let root = f.node(0).unwrap();
    let a = f.lookup(&root, b"a.txt").unwrap().unwrap();
    // Opened twice: after the last close its record waits, as the last one closed.
    f.open(a).unwrap();
    f.open(a).unwrap();
    f.close(a);
    assert_eq!(f.get(a).map(|o| o.open), Some(1));
    f.close(a);
    assert!(f.get(a).is_some_and(|o| o.fresh && o.open == 0));
    // Every node opened and closed: only the last one keeps its record.
    for id in 0..f.base {
        f.open(id).unwrap();
        f.close(id);
    }
    let kept: Vec<u32> = (0..f.base).filter(|&i| f.get(i).is_some()).collect();
    assert_eq!(kept, [f.base - 1]);
    // Changed while open (any change goes through `own`), then opened again: kept.
    f.open(a).unwrap();
    f.own(a).unwrap().n.mtime_ns = 42;
    f.open(a).unwrap();
    f.close(a);
    f.close(a);
    assert_eq!(f.node(a).unwrap().mtime_ns, 42);
    // Changed before it is opened: kept too.
    let b = f.lookup(&root, b"raw.bin").unwrap().unwrap();
    f.own(b).unwrap().n.mtime_ns = 43;
    f.open(b).unwrap();
    f.close(b);
    assert_eq!(f.node(b).unwrap().mtime_ns, 43);
}
