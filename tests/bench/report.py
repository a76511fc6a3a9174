#!/usr/bin/python3
"""tests/bench/report.py RECORDS JSON_OUT: the table and the JSON of tests/bench/run-all.

RECORDS holds tab-separated lines written by run-all:
  I <key> <value>                                    machine and version facts
  R <id> <name> <unit> <reference name> <goal>       a benchmark row (goal: "" or e.g.
                                                     "ratio>=2", "ratio<=0.5", "nodenet<=32")
  V <id> nodenet|reference <value>                   one run's figure
  M <id> nodenet|reference <median> <min> <max>      a figure a program already summarised
  N <id> nodenet|reference <why>                     no figure (e.g. "n/a (not built)")
  E <text>                                           a benchmark failed
Every figure is the median of its runs, with min and max; ratio = nodenet / reference.
Exits 1 when any E line is present, so that the ctest run fails on any broken benchmark.
"""
import json
import statistics
import sys


def parse(path):
    info, rows, order, errors = [], {}, [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            kind = parts[0]
            if kind == "I":
                info.append((parts[1], parts[2]))
            elif kind == "R":
                rid = parts[1]
                rows[rid] = {"name": parts[2], "unit": parts[3], "reference_name": parts[4],
                             "goal": parts[5], "nodenet": [], "reference": [],
                             "summary": {}, "notes": {}}
                order.append(rid)
            elif kind in ("V", "M", "N"):
                row = rows.get(parts[1])
                if row is None:
                    errors.append("record for an undeclared row: " + line.strip())
                    continue
                side = parts[2]
                if kind == "V":
                    row[side].append(float(parts[3]))
                elif kind == "M":
                    row["summary"][side] = tuple(float(x) for x in parts[3:6])
                else:
                    row["notes"][side] = parts[3]
            elif kind == "E":
                errors.append(parts[1])
    return info, [rows[r] for r in order], errors


def summary(row, side):
    if side in row["summary"]:
        return row["summary"][side]
    vals = row[side]
    if not vals:
        return None
    return (statistics.median(vals), min(vals), max(vals))


def goal_status(goal, n, r, ratio):
    if not goal:
        return ""
    for op in (">=", "<="):
        if op in goal:
            what, limit = goal.split(op)
            limit = float(limit)
            value = ratio if what == "ratio" else n
            if value is None:
                return "n/a"
            ok = value >= limit if op == ">=" else value <= limit
            return "met" if ok else "short"
    return "?"


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


def cell(s, note):
    if s is None:
        return note or "-"
    return "%s [%s..%s]" % (fmt(s[0]), fmt(s[1]), fmt(s[2]))


def main():
    records, json_out = sys.argv[1], sys.argv[2]
    info, rows, errors = parse(records)
    for k, v in info:
        print("%-10s %s" % (k + ":", v))
    print("figures: median [min..max] of the runs; ratio = nodenet / reference\n")
    header = ("benchmark", "unit", "nodenet", "reference", "vs", "ratio", "goal")
    widths = (70, 13, 28, 26, 29, 7, 16)
    line = " ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-" * len(line))
    out = []
    for row in rows:
        n = summary(row, "nodenet")
        r = summary(row, "reference")
        ratio = n[0] / r[0] if n is not None and r is not None and r[0] != 0 else None
        status = goal_status(row["goal"], n[0] if n else None, r[0] if r else None, ratio)
        goal_text = "%s %s" % (row["goal"], status) if row["goal"] else ""
        cells = (row["name"], row["unit"], cell(n, row["notes"].get("nodenet")),
                 cell(r, row["notes"].get("reference")), row["reference_name"],
                 (fmt(ratio) + "x") if ratio is not None else "-", goal_text)
        print(" ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip())
        obj = {"name": row["name"], "unit": row["unit"],
               "nodenet": n[0] if n else None, "reference": r[0] if r else None,
               "ratio": ratio,
               "nodenet_min": n[1] if n else None, "nodenet_max": n[2] if n else None,
               "reference_min": r[1] if r else None, "reference_max": r[2] if r else None,
               "reference_name": row["reference_name"],
               "runs": {"nodenet": len(row["nodenet"]) or (1 if n else 0),
                        "reference": len(row["reference"]) or (1 if r else 0)}}
        if row["goal"]:
            obj["goal"] = row["goal"]
            obj["goal_status"] = status
        for side in ("nodenet", "reference"):
            if side in row["notes"]:
                obj[side + "_note"] = row["notes"][side]
        out.append(obj)
    with open(json_out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    short = [o["name"] for o in out if o.get("goal_status") == "short"]
    print("\ngoals short: %d of %d stated" % (len(short), sum(1 for o in out if "goal" in o)))
    print("results: " + json_out)
    if errors:
        print("\n%d benchmark error(s):" % len(errors))
        for e in errors:
            print("  " + e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
