#!/usr/bin/env python3
"""Times the NumPy baseline (eq. 5, literal: three samples per step) and hdgan's SGDA step
on the same work (Figure 1's model, projected, d = 2, same n and number of steps) in one
run, and prints the ratios. The Gram rows are per member-step ("gram-lanes": four members
stepped together in SIMD lanes).

Usage (from the repository root): python3 benches/baseline/compare.py [--n 5000] [--steps 20000]
Installs NumPy with pip if it is missing. Builds the Rust timer with cargo (release).
"""
import argparse
import json
import subprocess
import sys


def ensure_numpy():
    try:
        import numpy  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "numpy"])


def cpu_flags():
    """The CPU model and its widest vector extension, from /proc/cpuinfo (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return "unknown"
    model = next((l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("model name")), "unknown")
    flags = next((l.split(":", 1)[1].split() for l in text.splitlines() if l.startswith("flags")), [])
    widest = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {widest}"


def run_json(cmd):
    out = subprocess.check_output(cmd, text=True)
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--numpy-steps", type=int, default=None, help="steps for NumPy (default: --steps / 4)")
    args = ap.parse_args()
    ensure_numpy()
    subprocess.check_call(["cargo", "build", "--release", "--quiet", "-p", "hdgan-benches", "--bin", "step-timer"])
    np_steps = args.numpy_steps or max(1, args.steps // 4)
    numpy = run_json([sys.executable, "benches/baseline/sgda_numpy.py", "--n", str(args.n), "--steps", str(np_steps)])
    rows = [numpy]
    for mode in ("fast", "literal", "gram", "gram-lanes", "normals"):
        # The Gram steps are ~100x cheaper: give them more steps to time.
        steps = args.steps * 25 if mode.startswith("gram") else args.steps
        rows.append(run_json(["target/release/step-timer", "--n", str(args.n), "--steps", str(steps), "--mode", mode]))
    base = numpy["us_per_step"]
    print(f"SGDA step, Figure 1 model, n = {args.n}, d = 2, projected")
    print(f"{'implementation':<20} {'steps':>8} {'us/step':>10} {'speed-up vs NumPy':>18}")
    for r in rows:
        print(f"{r['impl']:<20} {r['steps']:>8} {r['us_per_step']:>10.2f} {base / r['us_per_step']:>17.1f}x")
    fast = next(r for r in rows if r["impl"] == "hdgan-fast")
    bound = next(r for r in rows if r["impl"] == "hdgan-normals-only")
    print(f"fast step / normals-only fill of the same n: {fast['us_per_step'] / bound['us_per_step']:.2f}")
    gram = next(r for r in rows if r["impl"] == "hdgan-gram")
    lanes = next(r for r in rows if r["impl"] == "hdgan-gram-lanes")
    print(f"Gram engine, four members in SIMD lanes vs one at a time (per member-step): {gram['us_per_step'] / lanes['us_per_step']:.2f}x")
    print(f"CPU: {cpu_flags()}")


if __name__ == "__main__":
    main()
