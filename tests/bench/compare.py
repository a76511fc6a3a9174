#!/usr/bin/env python3
"""tests/bench/compare.py BEFORE.json AFTER.json [--match TEXT]...

Prints, for every row the two run-all results have in common (same name and reference), nodenet's figure
and its ratio to the reference before and after, side by side, with the goal and whether
the after run meets it. Rows only one side has are listed after the table. --match keeps
the rows whose name contains one of the texts. Reads results.json files as run-all writes
them; judges no speed itself (the goal status is run-all's own)."""
import json
import sys


def load(path):
    with open(path) as f:
        # A name can repeat against different references (TLS vs plaintext, vs gRPC).
        return {label(r): r for r in json.load(f)}


def label(r):
    ref = r.get("reference_name")
    return f"{r['name']} (vs {ref})" if ref else r["name"]


def num(v):
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v / 1000:.1f}k"
    if abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.2f}"


def ratio(r):
    v = r.get("ratio")
    return "-" if v is None else f"{v:.2f}x"


def main():
    args = sys.argv[1:]
    match = []
    while "--match" in args:
        i = args.index("--match")
        match.append(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    before, after = load(args[0]), load(args[1])

    def keep(name):
        return not match or any(m in name for m in match)

    names = [n for n in after if n in before and keep(n)]
    head = ("row", "unit", "before", "ratio", "after", "ratio", "goal", "after meets")
    lines = [head]
    for n in names:
        b, a = before[n], after[n]
        lines.append((n, a.get("unit", ""), num(b.get("nodenet")), ratio(b),
                      num(a.get("nodenet")), ratio(a), a.get("goal", ""),
                      a.get("goal_status", "")))
    widths = [max(len(str(l[i])) for l in lines) for i in range(len(head))]
    for l in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(l, widths)).rstrip())
    only_a = [n for n in after if n not in before and keep(n)]
    only_b = [n for n in before if n not in after and keep(n)]
    for n in only_a:
        r = after[n]
        print(f"new: {n}: {num(r.get('nodenet'))} {r.get('unit', '')} ({ratio(r)})"
              f" goal {r.get('goal', '-')} {r.get('goal_status', '')}")
    for n in only_b:
        print(f"gone: {n}")


if __name__ == "__main__":
    main()
