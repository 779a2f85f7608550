//! Tests that a tree packs to the same bytes every time: after it was read (atimes, ctimes moved),
//! created in another order, or packed on any number of threads.

use super::*;

#[test]
fn same_tree_builds_identical_bytes_even_after_it_was_read() {
    let t = sample_tree();
    fs::hard_link(t.path().join("a.txt"), t.path().join("z.txt")).unwrap();
    let a = build(&[mount_arg("/", t.path())], &opts()).unwrap();
    // Reading and chmod-ing move the host's atime and ctime; the image must not change.
    let _ = fs::read(t.path().join("a.txt")).unwrap();
    let perms = fs::metadata(t.path().join("a.txt")).unwrap().permissions();
    fs::set_permissions(t.path().join("a.txt"), perms).unwrap();
    let b = build(&[mount_arg("/", t.path())], &opts()).unwrap();
    assert_eq!(a.bytes, b.bytes);
}

/// Writes the same tree (names, bytes, modes, mtimes) creating entries in `names` order.
fn tree_in_order(root: &Path, names: &[String]) {
    use std::os::unix::fs::PermissionsExt;
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    for n in names {
        let p = root.join(n);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let body = format!("{n} ").repeat(n.len() * 50);
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    fs::write(root.join("same_1"), "dup".repeat(1000)).unwrap();
    fs::write(root.join("same_2"), "dup".repeat(1000)).unwrap();
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    for n in names {
        let mut p = root.join(n);
        while p.pop() && p != root {
            dirs.push(p.clone());
        }
    }
    for p in ["same_1", "same_2"] {
        let f = fs::File::options().write(true).open(root.join(p)).unwrap();
        f.set_modified(when).unwrap();
    }
    for d in dirs {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        fs::File::open(&d).unwrap().set_modified(when).unwrap();
    }
}

#[test]
fn same_tree_created_in_another_order_or_packed_on_other_thread_counts_gives_identical_bytes() {
    let mut names: Vec<String> = (0..60)
        .map(|i| format!("d{}/e{}/f{i:02}.txt", i % 5, i % 3))
        .collect();
    let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree_in_order(t1.path(), &names);
    names.reverse();
    names.rotate_left(17);
    tree_in_order(t2.path(), &names);
    let build_with = |root: &Path, threads: usize| {
        let o = Opts { threads, ..opts() };
        build(&[mount_arg("/", root)], &o).unwrap().bytes
    };
    let reference = build_with(t1.path(), 1);
    assert!(
        build_with(t2.path(), 1) == reference,
        "creation order changed the image"
    );
    for threads in [2, 4, 0] {
        assert!(
            build_with(t1.path(), threads) == reference,
            "{threads} threads"
        );
        assert!(
            build_with(t2.path(), threads) == reference,
            "{threads} threads, other order"
        );
    }
}
