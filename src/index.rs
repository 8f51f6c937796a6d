//! The kmod binary index (modules.*.bin): a radix trie, its pre-order writer and a reader.
