#!/usr/bin/env bash
# Recreate fuzz/seeds/elf and fuzz/seeds/module_bytes from the sample tree (already committed;
# this documents where they came from).
set -euo pipefail
cd "$(dirname "$0")"
tree=$(echo ~/.cache/depmod-rs/trees/cloud-amd64/lib/modules/*/)
mkdir -p seeds/elf seeds/module_bytes
find "$tree/kernel" -name '*.ko' -size -20k | sort | head -10 | while read -r f; do cp "$f" seeds/elf/; done
a=$(ls seeds/elf | sed -n 1p); b=$(ls seeds/elf | sed -n 2p)
xz -c "seeds/elf/$a" > "seeds/module_bytes/$a.xz"
gzip -c "seeds/elf/$a" > "seeds/module_bytes/$a.gz"
zstd -q -c "seeds/elf/$b" > "seeds/module_bytes/$b.zst"
cp "seeds/elf/$b" seeds/module_bytes/
