//! A bounded POSIX ERE engine (placeholder: being filled in).
#![forbid(unsafe_code)]
