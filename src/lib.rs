//! depmod: a byte-compatible reimplementation of kmod's `depmod`.
//!
//! The work is a pipeline of plain data:
//! arguments → configuration → candidate files → scanned modules → dependency graph →
//! rendered files → atomic publish.

pub mod index;
