//! Compressing module images for test trees, the way `modules_install` can: xz (level 6),
//! zstd (level 3, the content size in the frame header) and gzip (default level).

use std::io::Write;

/// An xz stream of `data`.
pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).expect("xz");
    e.finish().expect("xz")
}

/// A zstd frame of `data`, stating its decoded size.
pub fn zst(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).expect("zstd")
}

/// A gzip stream of `data`.
pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}
