"""Compare every stage's metrics.json of two runs of one profile: python compare.py BEFORE AFTER.

BEFORE and AFTER are `outputs/<profile>` folders. Values are flattened to dotted keys and compared
exactly (floats: equal to the last bit, or both NaN). Keys that measure the machine rather than
the method (times, throughput, latencies, paths, checkpoints) are left out. Prints one line per
differing key and a count per stage; exits 1 if anything differs.
"""

import json
import math
import sys
from pathlib import Path

SKIP = ("throughput", "latency", "seconds", "checkpoint", "resumed_from", "written", "settings", "origin", "per_second", "location")


def flat(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(item, (dict, list)) for item in value):
        out = {}
        for index, item in enumerate(value):
            out.update(flat(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def equal(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def main(before: Path, after: Path) -> int:
    differ = 0
    stages = sorted({p.parent.name for root in (before, after) for p in root.glob("*/metrics.json")})
    for stage in stages:
        old = flat(json.loads((before / stage / "metrics.json").read_text())) if (before / stage / "metrics.json").is_file() else {}
        new = flat(json.loads((after / stage / "metrics.json").read_text())) if (after / stage / "metrics.json").is_file() else {}
        same = changed = 0
        for key in sorted(set(old) | set(new)):
            if any(word in key for word in SKIP):
                continue
            a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
            if equal(a, b):
                same += 1
            else:
                changed += 1
                print(f"  {stage} {key}: before={a!r} after={b!r}")
        differ += changed
        print(f"{stage}: {same} equal, {changed} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
