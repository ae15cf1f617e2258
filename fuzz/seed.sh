#!/usr/bin/env bash
# Seeds the fuzz corpora from the shared conformance captures, at run time (the
# captures are never copied into the repository; fuzz/corpus is git-ignored).
# usage: fuzz/seed.sh [TESTDATA_DIR]
set -euo pipefail
cd "$(dirname "$0")"
data=${1:-${P1IB_TESTDATA:-../../shared/testdata}}
[ -f "$data/MANIFEST.json" ] || { echo "no corpus at $data" >&2; exit 1; }
python3 - "$data" <<'PY'
import json, pathlib, re, sys
data = pathlib.Path(sys.argv[1])
out = {t: pathlib.Path("corpus") / t for t in ("framer", "ascii", "hdlc_dlms")}
for d in out.values():
    d.mkdir(parents=True, exist_ok=True)
for e in json.load(open(data / "MANIFEST.json")):
    src = data / e["file"]
    stem = src.stem
    raw = src.read_bytes()
    if e["protocol"] == "ascii":
        (out["ascii"] / stem).write_bytes(raw)
        (out["framer"] / stem).write_bytes(b"\x10" + raw)  # first byte: chunking, auto
    else:
        frames = bytes.fromhex(re.sub(rb"[^0-9A-Fa-f]", b"", raw).decode())
        (out["hdlc_dlms"] / stem).write_bytes(frames)
        (out["framer"] / stem).write_bytes(b"\x20" + frames)
    if e.get("decrypted_apdu_hex"):
        (out["hdlc_dlms"] / (stem + ".apdu")).write_bytes(bytes.fromhex(e["decrypted_apdu_hex"]))
print("seeded:", ", ".join(f"{len(list(d.iterdir()))} {t}" for t, d in out.items()))
PY
