#!/usr/bin/env python3
"""Behaviour check for refactorings: runs every config in configs/ (shrunk to a small n and
horizon), the embedded default run and a small train-data run with the hdgan binary of an
older commit and of the working tree, and compares every CSV / NPY file byte for byte (and
the printed output of `check` and `fixed-points`).

    python3 scripts/compare-outputs.py BASE_REV [--data DIR]

BASE_REV is checked out with `git worktree` under target/compare/ and built there
(release); the working tree's binary is built with `cargo build --release`. Exit status 0
when every compared file is identical, 1 otherwise. run.json files are not compared (they
hold timings and the git revision); figures are not either (the plot code may change).
"""
import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sh(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def build(tree: Path, target: Path) -> Path:
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    sh(["cargo", "build", "--release", "-q", "--bin", "hdgan"], cwd=tree, env=env)
    return target / "release" / "hdgan"


def shrink(text: str) -> str:
    """A small version of a config: n <= 600, horizons <= 20, grids 7 x 7."""
    def cap_n(m):
        return f"n = {min(int(m.group(1)), 600)}"
    text = re.sub(r"(?m)^n = (\d+)", cap_n, text)
    text = re.sub(r"(?m)^t_end = [0-9.eE+-]+", "t_end = 20.0", text)
    text = re.sub(r"count = \d+", "count = 7", text)
    text = re.sub(r"(?m)^times = \[.*\]", "times = [0.0, 2.0, 5.0]", text)
    text = re.sub(r"(?m)^generator_horizon = [0-9.]+", "generator_horizon = 2.0", text)
    text = re.sub(r"(?m)^dir = .*", "", text)  # [output] dir: outputs go where we say
    return text


def jobs(cfgdir: Path, data: str | None):
    """(label, args, compare-stdout) for every job; CFG and OUT are filled in later."""
    out = []
    for cfg in sorted(cfgdir.glob("*.toml")):
        text = cfg.read_text()
        name = cfg.stem
        if "[phase]" in text:
            out.append((f"phase {name}", ["phase", cfg, "--threads", "2"], False))
        elif "[measure]" in text:
            out.append((f"measure {name}", ["measure", cfg], False))
        else:
            out.append((f"run {name}", ["run", cfg, "--threads", "2"], False))
            out.append((f"check {name}", ["check", cfg], True))
            if "p = " not in text or re.search(r"(?m)^p = 1\b", text):
                out.append((f"modes {name}", ["modes", cfg, "--run"], False))
                out.append((f"fixed-points {name}", ["fixed-points", cfg], True))
    out.append(("run (embedded default)", ["run"], False))
    if data:
        out.append((
            "train-data fashion-mnist",
            ["train-data", "--dataset", "fashion-mnist", "--path", data, "--max-images", "3000",
             "--seeds", "2", "--t-end", "5"],
            False,
        ))
    return out


def run_all(binary: Path, work: Path, cfgdir: Path, data):
    results = {}
    for label, args, want_stdout in jobs(cfgdir, data):
        out = work / re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
        cmd = [str(binary)] + [str(a) for a in args]
        if not want_stdout:
            cmd += ["--out", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        results[label] = (r.returncode, r.stdout if want_stdout else None, out)
    return results


def compare(a, b):
    failures, compared = [], 0
    for label in a:
        (ra, sa, da), (rb, sb, db) = a[label], b[label]
        if ra != rb:
            failures.append(f"{label}: exit {ra} vs {rb}")
            continue
        if sa is not None:
            compared += 1
            if sa != sb:
                failures.append(f"{label}: printed output differs")
            continue
        if ra != 0:
            failures.append(f"{label}: both failed with exit {ra}")
            continue
        files_a = sorted(p.name for p in da.iterdir() if p.suffix in (".csv", ".npy"))
        files_b = sorted(p.name for p in db.iterdir() if p.suffix in (".csv", ".npy"))
        if files_a != files_b:
            failures.append(f"{label}: different files {files_a} vs {files_b}")
            continue
        for f in files_a:
            compared += 1
            if not filecmp.cmp(da / f, db / f, shallow=False):
                failures.append(f"{label}: {f} differs")
        print(f"  {label}: {len(files_a)} files identical" if not any(
            x.startswith(label + ":") for x in failures) else f"  {label}: DIFFERS")
    return compared, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base", help="the older commit (e.g. HEAD~3 or a hash)")
    ap.add_argument("--data", default=os.environ.get("HDGAN_DATA"),
                    help="folder with the Fashion-MNIST IDX files (default $HDGAN_DATA)")
    args = ap.parse_args()
    comp = ROOT / "target" / "compare"
    comp.mkdir(parents=True, exist_ok=True)
    base_tree = comp / "base-tree"
    if base_tree.exists():
        sh(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT)
    sh(["git", "worktree", "add", "--detach", str(base_tree), args.base], cwd=ROOT)
    try:
        old = build(base_tree, comp / "target-base")
    finally:
        sh(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT)
    new = build(ROOT, ROOT / "target")
    with tempfile.TemporaryDirectory(prefix="hdgan-compare-") as tmp:
        tmp = Path(tmp)
        cfgdir = tmp / "configs"
        cfgdir.mkdir()
        for cfg in sorted((ROOT / "configs").glob("*.toml")):
            (cfgdir / cfg.name).write_text(shrink(cfg.read_text()))
        data = args.data if args.data and Path(args.data).is_dir() else None
        if data is None:
            print("no data folder ($HDGAN_DATA or --data): train-data is not compared")
        (tmp / "old").mkdir()
        (tmp / "new").mkdir()
        print(f"running {len(jobs(cfgdir, data))} jobs with the old binary ({args.base})")
        a = run_all(old, tmp / "old", cfgdir, data)
        print("running them with the new binary (working tree)")
        b = run_all(new, tmp / "new", cfgdir, data)
        compared, failures = compare(a, b)
    for f in failures:
        print("FAIL", f)
    print(f"{compared} outputs compared, {len(failures)} differences")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
