"""Repeatability of standings runs: N runs over the two examples and three made-up entries spanning ~1.2-5x.

Run (the full benchmark, on a quiet machine; about 3 x 4 minutes with the defaults):
    TINYMLPERF_DATA=/work/data/full PYTHONPATH=. python benchmarks/standings.py --runs 3
Smoke test (seconds):
    TINYMLPERF_DATA=/work/data/full PYTHONPATH=. python benchmarks/standings.py --runs 2 --rounds 3 --pairs 3

The three extra entries are valid ``model.py`` folders made from the baseline's
own weights (only their speed matters here, but each is a real entry that
passes ``validate`` and answers through the sandbox like any other):

- ``bench-halfway``: the baseline's float32 arithmetic with weights prepared
  at load and im2col through strided views (about 1.2-1.4x in the sandbox);
- ``bench-slim24`` / ``bench-slim8``: the Closed example's INT8 model code on
  the baseline cut to its 24/48/96 and 8/16/32 strongest channels and units
  (L1 norm), no retraining (about 2.5x and 5x).

Each run is one standings group, timed exactly as ``tinymlperf standings`` does
(``grader.grading.standings_run.time_group``: every entry once per round, paired with
the baseline, in random order, every worker started afresh each round; at user+netns
each round offers every entry the whole test set afresh, at process level a 1/rounds share). Printed: each entry's
speedup per run, its max/min spread across runs, whether every run ranked the
entries (by speedup) identically, and each run's wall time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.board import standings, standings_stats  # noqa: E402
from grader.contract.validate import validate_folder  # noqa: E402
from grader.core import config
from grader.grading import standings_run
from grader.measure import data, hardware

EXAMPLES = ("closed-int8-prune", "open-slim-int8")
BASELINE = ROOT / "grader" / "baseline"

HALFWAY = '''"""Benchmark entry: the baseline's float32 arithmetic, weights prepared at load, im2col through strided views."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)


def _conv(x, w, b):
    n, h, wd, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    s = padded.strides
    cols = np.lib.stride_tricks.as_strided(padded, (n, h, wd, 3, 3, c), (s[0], s[1], s[2], s[1], s[2], s[3]))
    return (cols.reshape(n * h * wd, 9 * c) @ w + b).reshape(n, h, wd, w.shape[1])


def _pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class Model:
    def __init__(self, p):
        self.w1 = np.ascontiguousarray(p["conv1.weight"].transpose(2, 3, 1, 0).reshape(27, 32))
        self.w2 = np.ascontiguousarray(p["conv2.weight"].transpose(2, 3, 1, 0).reshape(288, 64))
        fc1 = p["fc1.weight"].reshape(64, 8, 8, 128).transpose(1, 2, 0, 3)  # rows in NHWC flatten order
        self.fc1 = np.ascontiguousarray(fc1.reshape(4096, 128))
        self.b1, self.b2, self.bf1 = p["conv1.bias"], p["conv2.bias"], p["fc1.bias"]
        self.fc2, self.bf2 = p["fc2.weight"], p["fc2.bias"]

    def predict(self, images):
        x = (images.transpose(0, 2, 3, 1).astype(np.float32) * np.float32(1.0 / 255.0) - MEAN) / STD
        n = x.shape[0]
        x = _pool(np.maximum(_conv(x, self.w1, self.b1), 0.0))
        x = _pool(np.maximum(_conv(x, self.w2, self.b2), 0.0))
        x = np.maximum(x.reshape(n, -1) @ self.fc1 + self.bf1, 0.0)
        return x @ self.fc2 + self.bf2


def load(folder):
    with np.load(Path(folder) / "weights.npz", allow_pickle=False) as archive:
        return Model({name: archive[name] for name in archive.files})
'''


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _slim(weights: dict[str, np.ndarray], c1: int, c2: int, hidden: int) -> dict[str, np.ndarray]:
    """The baseline cut to its strongest channels/units (L1 norm), INT8 per channel as the Closed example stores it."""
    quantize = _module(ROOT / "submissions" / "closed-int8-prune" / "build.py", "closed_build").quantize_per_channel
    k1 = np.sort(np.argsort(-np.abs(weights["conv1.weight"]).sum(axis=(1, 2, 3)))[:c1])
    k2 = np.sort(np.argsort(-np.abs(weights["conv2.weight"]).sum(axis=(1, 2, 3)))[:c2])
    fc1 = weights["fc1.weight"].reshape(64, 8, 8, 128)[k2].reshape(-1, 128)
    kh = np.sort(np.argsort(-np.abs(fc1).sum(axis=0))[:hidden])
    cut = {"conv1.weight": weights["conv1.weight"][k1], "conv1.bias": weights["conv1.bias"][k1],
           "conv2.weight": weights["conv2.weight"][k2][:, k1], "conv2.bias": weights["conv2.bias"][k2],
           "fc1.weight": fc1[:, kh], "fc1.bias": weights["fc1.bias"][kh],
           "fc2.weight": weights["fc2.weight"][kh], "fc2.bias": weights["fc2.bias"]}
    out = {}
    for layer, axis in (("conv1", 0), ("conv2", 0), ("fc1", 1), ("fc2", 1)):
        out[f"{layer}.q"], out[f"{layer}.scale"] = quantize(cut[f"{layer}.weight"], axis)
        out[f"{layer}.bias"] = cut[f"{layer}.bias"].astype(np.float32)
    return out


def _yaml(technique: str) -> str:
    return yaml.safe_dump({"division": "open", "athlete_name": "Standings benchmark",
                           "github_repo": "https://github.com/harvard-edge/cs249r_book",
                           "techniques_used": [technique],
                           "honor_code": "I certify that this submission follows the rules"}, sort_keys=False)


def make_entries(submissions: Path) -> list[str]:
    """Copy the two examples and write the three benchmark entries into ``submissions``; their slugs."""
    for slug in EXAMPLES:
        shutil.copytree(ROOT / "submissions" / slug, submissions / slug, ignore=shutil.ignore_patterns("score.json"))
    with np.load(BASELINE / "weights.npz", allow_pickle=False) as archive:
        weights = {name: archive[name] for name in archive.files}
    halfway = submissions / "bench-halfway"
    halfway.mkdir()
    (halfway / "model.py").write_text(HALFWAY, encoding="utf-8")
    shutil.copyfile(BASELINE / "weights.npz", halfway / "weights.npz")
    (halfway / "submission.yaml").write_text(_yaml("baseline arithmetic; weights prepared at load; strided im2col"))
    for slug, widths in (("bench-slim24", (24, 48, 96)), ("bench-slim8", (8, 16, 32))):
        folder = submissions / slug
        folder.mkdir()
        shutil.copyfile(ROOT / "submissions" / "closed-int8-prune" / "model.py", folder / "model.py")
        np.savez(folder / "weights.npz", **_slim(weights, *widths))
        (folder / "submission.yaml").write_text(_yaml(f"baseline cut to {widths} channels/units, INT8, no retraining"))
    return [*EXAMPLES, "bench-halfway", "bench-slim24", "bench-slim8"]


def clean_accuracy(folder: Path, test: data.Split) -> float:
    """Accuracy on the clean test set, in this process (trusted code we just wrote), for the timed-answers check."""
    model = _module(folder / "model.py", f"entry_{folder.name.replace('-', '_')}").load(folder)
    predicted = np.concatenate([np.argmax(model.predict(test.images[i:i + 500]), axis=1)
                                for i in range(0, len(test.images), 500)])
    return 100.0 * float(np.mean(predicted == test.labels))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, help="default: competition.yaml's standings.rounds")
    parser.add_argument("--pairs", type=int, help="pairs per round (default: competition.yaml)")
    parser.add_argument("--short-fraction", type=float, default=None,
                        help="override timing.short_sample_fraction (0: one request per sample, the old design)")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TINYMLPERF_DATA", "")),
                        help="CIFAR-10 with data_batch_1 (the Closed example's recipe needs it)")
    args = parser.parse_args()
    competition = config.load()
    s = competition.standings
    competition = replace(competition, standings=replace(s, rounds=args.rounds or s.rounds,
                                                         pairs_per_round=args.pairs or s.pairs_per_round))
    if args.short_fraction is not None:
        competition = replace(competition, timing=replace(competition.timing, short_sample_fraction=args.short_fraction))
    data_dir = data.locate(args.data)
    test = data.load_split(data_dir, "test")
    with tempfile.TemporaryDirectory(prefix="standings-bench-") as tmp:
        submissions = Path(tmp) / "submissions"
        submissions.mkdir()
        slugs = make_entries(submissions)
        for slug in slugs:
            result = validate_folder(submissions / slug, competition)
            if not result.ok:
                raise SystemExit(f"{slug} is not a valid entry: {[str(p) for p in result.problems]}")
        # The Closed example's weights come from its recipe: the grader rebuilds them, and we
        # take its recorded accuracy; the others are measured here on the clean test set.
        accuracy = {"closed-int8-prune": 76.40}
        accuracy.update({slug: clean_accuracy(submissions / slug, test) for slug in slugs[1:]})
        print("entries: " + ", ".join(f"{slug} ({accuracy[slug]:.2f}%)" for slug in slugs))
        print(f"{competition.standings.rounds} rounds x {competition.standings.pairs_per_round} pairs per run, "
              f"{args.runs} runs; short_sample_fraction {competition.timing.short_sample_fraction:g}; "
              f"{hardware.describe()['cpu_model']}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        runs = []
        per_round_means: list[dict[str, float]] = []  # the estimator before the rounds were pooled, same runs
        for run in range(args.runs):
            started = time.monotonic()
            group = standings_run.time_group(slugs, accuracy, submissions, data_dir, competition, BASELINE,
                                             group=0, run_id=f"bench{run}")
            wall = time.monotonic() - started
            if group["excluded"]:
                print(f"run {run + 1}: excluded {group['excluded']}")
            measured = standings.group_measurements(group, {}, {}, competition, f"run {run + 1}")
            per_round_means.append({e["slug"]: math.exp(math.fsum(e["log_speedups"]) / len(e["log_speedups"]))
                                    for e in group["entries"]})
            order = standings_stats.rank([m.key for m in measured], measured,
                                         standings_stats.link_groups(measured), competition.standings.confidence)
            runs.append({st.key: st for st in order})
            setup = ", ".join(f"{e['slug']} {e['setup_seconds']:.1f}" for e in group["entries"])
            # the plan's estimate for this group: the baseline's latency from the Closed example's
            # score record (as the plan takes it), each entry's as that over the speedup measured here
            base_ms = json.loads((ROOT / "submissions" / EXAMPLES[0] / "score.json").read_text())[
                "baseline"]["latency_ms_median"]
            whole = group["images_per_round"] == "whole_test_set"
            estimate = math.fsum(standings.entry_seconds(
                standings.Candidate(st.key, "closed", 1, base_ms, base_ms / math.exp(st.log_speedup.mean)),
                competition, whole) for st in order) / 60
            print(f"run {run + 1}: {wall / 60:.2f} min wall (the plan's estimate: {estimate:.2f}); workers at "
                  f"{group['isolation']}, images per round: {group['images_per_round']}; setup seconds: {setup}",
                  flush=True)
            for st in order:
                i = st.log_speedup
                ci = "inconclusive" if i.low is None else f"{math.exp(i.low):.3f}-{math.exp(i.high):.3f}"
                print(f"  {st.rank}{'=' if st.tied else ' '} {st.key:18s} {math.exp(i.mean):.3f}x ({ci})"
                      + ("" if st.next is None else f"  vs next: {'resolved' if st.next.resolved else 'tie'}"))
    print("\nspeedup per run, and max/min across runs:")
    worst = 0.0
    for slug in slugs:
        values = [math.exp(r[slug].log_speedup.mean) for r in runs if slug in r]
        spread = max(values) / min(values) - 1.0 if values else math.nan
        worst = max(worst, spread)
        print(f"  {slug:18s} " + "  ".join(f"{v:.3f}x" for v in values) + f"   spread {spread:.1%}")
    print("the same runs by the mean of the rounds' own log speedups (the estimator before pooling):")
    for slug in slugs:
        values = [m[slug] for m in per_round_means if slug in m]
        spread = max(values) / min(values) - 1.0 if values else math.nan
        print(f"  {slug:18s} " + "  ".join(f"{v:.3f}x" for v in values) + f"   spread {spread:.1%}")
    rankings = [tuple(sorted(r, key=lambda k: r[k].position)) for r in runs]
    print(f"identical ranking in all runs: {len(set(rankings)) == 1} ({' > '.join(rankings[0])})")
    print(f"largest spread: {worst:.1%} (goal: within 3%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
