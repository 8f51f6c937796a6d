//! libkmod's binary index format (placeholder: being filled in).
#![forbid(unsafe_code)]
