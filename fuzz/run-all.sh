#!/usr/bin/env bash
# Run every fuzz target for SECONDS seconds each (default 120), one after the other.
# Works on a stable toolchain: RUSTC_BOOTSTRAP=1 unlocks the -Z flags cargo-fuzz passes.
# Needs `cargo install cargo-fuzz`. Corpora grow in fuzz/corpus/<target> (git-ignored),
# seeded from fuzz/seeds/<target>; crashes land in fuzz/artifacts/<target>.
set -euo pipefail
secs=${1:-120}
cd "$(dirname "$0")"
targets=(elf module_bytes config text_inputs index_roundtrip cache)
if [ $# -gt 1 ]; then targets=("${@:2}"); fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O -a
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "=== $t (${secs}s)"
    # -rss_limit_mb: the decompressors may legitimately use up to the crate's output bound.
    cargo fuzz run -O -a "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=4096 -max_len=262144 -print_final_stats=1 \
        || status=1
done
exit $status
