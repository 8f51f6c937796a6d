//! kmod's limit of 65,534 modules (its array indexes are 16-bit): one more is its FATAL error,
//! checked before modules.order is read; the limit itself still works. Compared with the
//! reference.

use crate::support::*;

/// A tree of `n` module files (6 bytes of garbage each: counted, listed, not loadable).
fn tree_of(n: usize) -> Tree {
    let t = Tree::new();
    let dir = t.moddir();
    for d in 0..64 {
        std::fs::create_dir_all(dir.join(format!("d{d}"))).expect("mkdir");
    }
    for i in 0..n {
        std::fs::write(dir.join(format!("d{}/m{i}.ko", i % 64)), b"junk!!").expect("write");
    }
    t
}

#[test]
fn one_module_over_the_limit_is_fatal() {
    let t = tree_of(65535);
    let r = run_ours(&t, &[]);
    assert_eq!(r.status, Some(1));
    assert_eq!(
        r.stderr_text(),
        "depmod: FATAL: could not build module array: Numerical result out of range\n"
    );
    compare_with_reference(&t, &[]);
}

#[test]
fn the_limit_itself_is_accepted() {
    let t = tree_of(65534);
    let r = run_ours(&t, &[]);
    assert_eq!(r.status, Some(0));
    assert_eq!(r.text("modules.dep").lines().count(), 65534);
    compare_with_reference(&t, &[]);
}
