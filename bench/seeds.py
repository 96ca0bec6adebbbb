#!/usr/bin/env python3
"""Nightshift's test accuracy over several training seeds (the seed moves the holdout split and
the example order; on these small sets one seed can move accuracy by a point).

Usage: bench/.venv/bin/python bench/seeds.py [path/to/nightshift] [sets] [seeds] [hidden]
       defaults: target/release/nightshift  banking,clinc,hwu  42,1,2,3,4  0
`hidden` is passed to `models train --hidden` (0 = the linear model alone; 128 = the linear model
averaged with a 128-unit hidden layer).
`hwu-scenario` as a set trains on HWU64's 18 scenarios as the label (no parent): a data set
with few classes, as many users' are.
Prints one line per data set (accuracy per seed, mean, min; for HWU64 also the scenario accuracy)
and writes them to bench/results/seeds.md (seeds-h<hidden>.md when hidden > 0; other sets than the
three named in the file name, e.g. seeds-hwu-scenario-h96.md).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

import models as M

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(M.HERE, "..", "target", "release", "nightshift"))
sets = (sys.argv[2] if len(sys.argv) > 2 else "banking,clinc,hwu").split(",")
seeds = [int(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "42,1,2,3,4").split(",")]
hidden = int(sys.argv[4]) if len(sys.argv) > 4 else 0
names = dict(M.SETS + [("hwu-scenario", "HWU64 scenarios as the label")])
lines = ["| data set | hidden | seeds | accuracy per seed | mean | min | parent accuracy per seed | parent mean | parent min |",
         "| --- | ---: | --- | --- | ---: | ---: | --- | ---: | ---: |"]
with tempfile.TemporaryDirectory() as work:
    for key in sets:
        scenario = key == "hwu-scenario"
        base = os.path.join(M.DATA, "hwu" if scenario else key, "origin_data")
        tr, dv, te = (M.read_tsv(os.path.join(base, s + ".tsv")) for s in ("train", "dev", "test"))
        hierarchical = key == "hwu"
        train_tsv, test_tsv = os.path.join(work, key + "-train.tsv"), os.path.join(work, key + "-test.tsv")
        M.write_tsv(train_tsv, tr[0] + dv[0], tr[1] + dv[1])
        M.write_tsv(test_tsv, *te)
        cols = ["--text-column", "text", "--label-column", "parent" if scenario else "label"] + (["--parent-column", "parent"] if hierarchical else [])
        acc, pacc = [], []
        for seed in seeds:
            project = os.path.join(work, "%s-%d" % (key, seed))
            subprocess.run([binary, "-q", "init", project], check=True, stdout=subprocess.DEVNULL)
            subprocess.run([binary, "-q", "--project", project, "models", "train", key, "--seed", str(seed), "--hidden", str(hidden),
                            "--data", train_tsv] + cols, check=True, stdout=subprocess.DEVNULL)
            r = json.loads(subprocess.run([binary, "-q", "--project", project, "--json", "models", "eval", key,
                                           "--data", test_tsv] + cols, check=True, capture_output=True, text=True).stdout)
            acc.append(100 * r["accuracy"])
            if hierarchical:
                pacc.append(100 * r["parent_accuracy"])
        fmt = lambda xs: " ".join("%.2f" % x for x in xs)
        line = "| %s | %d | %s | %s | %.2f | %.2f | %s | %s | %s |" % (
            names.get(key, key), hidden, ",".join(map(str, seeds)), fmt(acc), statistics.mean(acc), min(acc),
            fmt(pacc) if pacc else "", "%.2f" % statistics.mean(pacc) if pacc else "",
            "%.2f" % min(pacc) if pacc else "")
        print(line, flush=True)
        lines.append(line)
os.makedirs(os.path.join(M.HERE, "results"), exist_ok=True)
name = "seeds" + ("" if sets == ["banking", "clinc", "hwu"] else "-" + "-".join(sets)) + ("-h%d" % hidden if hidden else "")
with open(os.path.join(M.HERE, "results", name + ".md"), "w") as f:
    f.write("\n".join(lines) + "\n")
