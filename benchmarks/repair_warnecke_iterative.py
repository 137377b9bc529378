"""Warnecke et al.'s poisoning configuration of the second-order update next to the single
full-model step (issue 20, the label-noise cells of ``benchmarks/repair.py``).

Two rows of ``warnecke_second`` per cell, on the same originals (seeds 0-2), with retrain,
clean and the original alongside:

- ``single``: the method's defaults (the single full-model step of ``approx_retraining``,
  CG), as in ``benchmarks/results/repair.md``;
- ``authors``: the authors' poisoning procedure (``Applications/Poisoning/unlearn/common.py``,
  ``iter_approx_retraining``): the last two parameterised layers only (``layers="last"``,
  ``last_layers=2``: their ``trainable_weights[-6:]`` is Dense-BatchNorm-Dense, the part after
  the convolutions; ours has no batch norm), ``select="misclassified"`` with ``repeats=10``
  (their stored run's ``steps``) rounds on at most 1,024 training samples still misclassified
  against their fixed labels, every training sample a candidate (``pool="train"``). Solver CG
  as the single step (their poisoning code has LiSSA only; see the method's docstring).
- ``--ablation``: also the two factors apart, ``last_single`` (last two layers, the single
  step) and ``all_rounds`` (all layers, the rounds).

Each configuration's damping is chosen as ``benchmarks/repair.py`` does (its
``choose_damping``): on calibration seeds 3 and 4 (not reported), training and validation data
only, from ``DAMPINGS``. The single step's choice is read from ``results/repair.json`` when that
cell is there (the same procedure on the same code path; ``--recalibrate-single`` redoes it).
The test set only scores.

Writes ``benchmarks/results/repair_warnecke_iterative.md`` and ``.json`` (never ``repair.md``).
The machine is shared: the load average is recorded before and after each cell.
"""

# ruff: noqa: E402  (the checkout goes on the path before the package is imported)
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import repair as R  # benchmarks/repair.py: the cells, the calibration, the load probe
import torch

from unlearn_core.data import load_dataset
from unlearn_core.evaluation.tables import (
    FAMILY_COLUMN,
    Column,
    markdown_table,
    result_column,
    seed_row,
)
from unlearn_core.experiment import compare_seeds
from unlearn_core.repair import RepairScorer, make_scenario
from unlearn_core.training import default_recipe

OUT = Path(__file__).parent / "results"
DEFAULT_CELLS = "label_noise_mlp,label_noise_all_mlp,label_noise_all_cnn,label_noise_cnn"
CONFIGS = {
    "single": {},
    "authors": {
        "layers": "last",
        "last_layers": 2,
        "select": "misclassified",
        "repeats": 10,
        "max_samples": 1024,
        "pool": "train",
    },
}
#: the two factors of the authors' configuration apart (``--ablation``)
ABLATION = {
    "last_single": {"layers": "last", "last_layers": 2},
    "all_rounds": {
        k: v for k, v in CONFIGS["authors"].items() if k not in ("layers", "last_layers")
    },
}
LABELS = {
    "single": "warnecke_second (single full step)",
    "authors": "warnecke_second (authors: last 2 layers, 10 rounds)",
    "last_single": "warnecke_second (ablation: last 2 layers, single step)",
    "all_rounds": "warnecke_second (ablation: all layers, 10 rounds)",
}
COLUMNS = (
    result_column("method"),
    FAMILY_COLUMN,
    result_column("restoration"),
    result_column("restoration_tla"),
    result_column("test_acc"),
    result_column("true_label_acc"),
    result_column("restoration_loss"),
    result_column("seconds"),
    Column("error", "error", text=True, optional=True, empty=""),
)


def single_damping(name: str) -> float | None:
    path = OUT / "repair.json"
    if not path.exists():
        return None
    for c in json.loads(path.read_text()).get("cells", []):
        if c["cell"] == name:
            return c["damping"]
    return None


def single_source(cell: dict) -> str:
    if cell["damping_trials"]["single"] == "from results/repair.json":
        return "repair.json's calibration"
    return "recalibrated here"


def _rounds_of(comp) -> dict:
    res = comp.get("warnecke_second")
    log = res.log if res is not None else {}
    after = log.get("after", {})
    return {
        "seed": comp.seed,
        "misclassified": [x["misclassified"] for x in log.get("rounds", [])]
        + [after.get("misclassified")],
        "misclassified_forget": [x["misclassified_forget"] for x in log.get("rounds", [])]
        + [after.get("misclassified_forget")],
        "stopped": log.get("stopped"),
        "cg": [
            (x["solver_log"]["iterations"], x["solver_log"]["stopped"])
            for x in log.get("rounds", [])
            if "solver_log" in x
        ],
    }


def run_cell(name: str, recalibrate_single: bool, ablation: bool = False) -> dict:
    spec = R.CELLS[name]
    data = load_dataset("digits")
    arch, seeds = spec["arch"], list(spec["seeds"])
    kw = {k: spec[k] for k in ("from_class", "to_class", "target_class") if k in spec}
    sc = make_scenario(data, spec["kind"], spec["fraction"], seed=0, **kw)
    recipe = default_recipe(arch)
    load_before = R._load()
    t0 = time.perf_counter()
    configs = dict(CONFIGS)
    if ablation:
        configs.update(ABLATION)
    dampings, trials = {}, {}
    for cfg_name, params in configs.items():
        lam = single_damping(name) if cfg_name == "single" and not recalibrate_single else None
        if lam is None:
            lam, trials[cfg_name] = R.choose_damping(sc, arch, recipe, R.CALIB_SEEDS, params)
        else:
            trials[cfg_name] = "from results/repair.json"
        dampings[cfg_name] = lam
        print(f"{name}: {cfg_name} damping {lam}", file=sys.stderr, flush=True)
    scorer = RepairScorer(sc, loss_restoration=True)  # keeps each seed's clean model
    common = dict(device="cpu", scenario=scorer, progress=lambda f, m: None, keep_models=True)
    first = compare_seeds(
        sc.corrupted, arch, recipe, sc.split(),
        [("warnecke_second", {"damping": dampings["single"]})], seeds=seeds, **common,
    )  # fmt: skip
    originals = {c.seed: c.original.model for c in first.comparisons}
    rows = []
    fam = {"original": "none", "retrain": "exact", "clean": "reference"}
    for s in [first.original, *first.results]:
        r = seed_row(s)
        r["family"] = fam.get(r["method"], s.family)
        if r["method"] == "warnecke_second":
            r["method"] = LABELS["single"]
        rows.append(r)
    rounds = {}
    for k, cfg_name in enumerate(c for c in configs if c != "single"):
        other = compare_seeds(
            sc.corrupted, None, recipe, sc.split(),
            [("warnecke_second", {**configs[cfg_name], "damping": dampings[cfg_name]})],
            seeds=seeds, originals=originals, include_retrain=False, **common,
        )  # fmt: skip
        res = next(s for s in other.results if s.method == "warnecke_second")
        r = seed_row(res)
        r["family"], r["method"] = res.family, LABELS[cfg_name]
        rows.insert(2 + k, r)
        rounds[cfg_name] = [_rounds_of(c) for c in other.comparisons]
    wall = time.perf_counter() - t0
    return {
        "cell": name,
        "spec": spec,
        "scenario": sc.summary(),
        "dampings": dampings,
        "damping_trials": trials,
        "configs": configs,
        "rows": rows,
        "rounds": rounds,
        "wall_s": wall,
        "load_before": load_before,
        "load_after": R._load(),
    }


def _authors_rounds(cell: dict) -> list[dict]:
    r = cell["rounds"]
    return r["authors"] if isinstance(r, dict) else r  # the first run stored a list


def write(cells: list[dict]) -> None:
    OUT.mkdir(exist_ok=True)
    path_json = OUT / "repair_warnecke_iterative.json"
    old = {}
    if path_json.exists():
        old = {c["cell"]: c for c in json.loads(path_json.read_text()).get("cells", [])}
    old.update({c["cell"]: c for c in cells})
    ordered = [old[k] for k in R.CELLS if k in old]
    meta = {
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    path_json.write_text(json.dumps({"meta": meta, "cells": ordered}, indent=1, default=str))
    lines = [
        "# Warnecke second-order: the authors' poisoning configuration against the single step",
        "",
        "From `benchmarks/repair_warnecke_iterative.py` (digits, default recipes; CPU, 1 torch "
        "thread, a 2-core machine shared with other agents: times are under that load, the load "
        "average before/after each cell is given). Mean ± std over seeds 0-2; `restoration` = "
        "(after - before) / (clean - before) on clean test accuracy, `restoration_tla` the same "
        "on the corrupted samples' true-label accuracy, `restoration, test loss` on the clean "
        "test loss (ours). `single full step`: the method's defaults (as in `repair.md`). "
        "`authors`: `layers=last, last_layers=2, select=misclassified, repeats=10, "
        "max_samples=1024, pool=train` (Warnecke et al.'s `iter_approx_retraining`), CG. Each "
        "row's damping is chosen on calibration seeds 3-4 with training + validation data "
        "(`repair.py`'s `choose_damping`).",
        "",
    ]
    for c in ordered:
        sc = c["scenario"]
        lines += [
            f"## {c['cell']}: {c['spec']['arch'].upper()}, {sc['description']}",
            "",
            f"{sc['n_corrupted']} corrupted training samples, all in the forget set; damping: "
            f"single {c['dampings']['single']} ({single_source(c)}), "
            + ", ".join(f"{k} {v}" for k, v in c["dampings"].items() if k != "single")
            + f"; wall {c['wall_s']:.0f} s, load {c['load_before']} -> "
            f"{c['load_after']} (2 cores).",
            "",
            markdown_table(c["rows"], [col for col in COLUMNS if R._shown(col, c["rows"])]),
            "",
            "Authors' rounds, training samples misclassified against their fixed labels "
            "(all / corrupted), before each round and after the last (a round that finds "
            "none stops the run; its count is repeated as the last):",
            "",
            *[
                f"- seed {r['seed']}: "
                + " -> ".join(
                    f"{a}/{b}"
                    for a, b in zip(r["misclassified"], r["misclassified_forget"], strict=True)
                )
                + f" ({r['stopped']}; CG iterations per round "
                + ", ".join(str(i) for i, _ in r["cg"])
                + ")"
                for r in _authors_rounds(c)
            ],
            "",
        ]
    (OUT / "repair_warnecke_iterative.md").write_text("\n".join(lines + READING))


#: the reading of the figures of the committed run (2026-12-07, load 1.3-3.5 on 2 cores)
READING = [
    "## Reading",
    "",
    "The authors' configuration does **not** get closer to retrain's restoration on test "
    "accuracy on any cell where that ratio is measurable; it is farther on both. 20 % of every "
    "class flipped: MLP 0.32 ± 0.12 against the single step's 0.45 ± 0.08 and retrain's 0.78 ± "
    "0.06; CNN 0.30 ± 0.26 against 0.58 ± 0.05 and 0.65 ± 0.07 (test accuracy 91.92 / 92.76 / "
    "94.89 % on the MLP, 96.01 ± 1.05 / 97.03 / 97.31 % on the CNN). What it does better is "
    "fit the corrupted training samples' true labels: the rounds cut the training samples "
    "misclassified against their fixed labels from 63-79 to 12-20 (MLP) and from 26-33 to 0-1 "
    "(CNN), and `restoration_tla` rises to 0.76 ± 0.05 on the MLP (single 0.57, retrain 0.82) "
    "and 0.98 ± 0.03 on the CNN (single 0.77, retrain 0.91, so past retrain): it repairs the "
    "training set's labels more than the held-out accuracy, and on the CNN its test-loss "
    "restoration is 0.02 ± 0.02 against the single step's 0.40. The two factors apart "
    "(`--ablation`, the label_noise_all cells, each with its own calibrated damping): the rounds "
    "on all layers restore 0.41 ± 0.05 (MLP) and 0.44 ± 0.31 (CNN) with true-label restoration "
    "1.00 on both (past retrain's); the last two layers with the single step restore 0.40 ± "
    "0.11 on the CNN, and on the MLP its calibrated damping (0.1, which kept the calibration "
    "seeds' validation accuracy at 92.7 % against 89.2 %) wrecks the reported seeds (test "
    "accuracy 9.9 %): there CG stops at non-positive curvature after 12-36 iterations on "
    "seeds 0-2 (checked afterwards; the block Hessian of the last two layers is indefinite) "
    "and its truncated iterate is the step; on the calibration seeds 0.1 converged and 0.03 "
    "already hit negative curvature. Each factor alone costs restoration against the single full step, together they "
    "cost the most. On "
    "the one-class cells (20 % of class 3 relabelled 5) the ratio is a count of 1-4 test "
    "images and both configurations are within its noise: MLP 0.00 ± 0.00 (the rounds change "
    "no test prediction's correctness on balance) against -0.33 ± 0.58 and retrain's 2.33 ± "
    "1.15; CNN 0.00 ± 0.88 against -0.33 ± 1.45 and 0.44 ± 0.51; there the authors' rows match "
    "retrain's true-label restoration (0.92, 0.95 against 0.92, 1.00) and the CNN's test-loss "
    "restoration is 0.25 against the single step's 0.33 (retrain 0.82). Not measured here: "
    "the authors' own normalisation (`normalise='selected'`, their mean over each round's "
    "samples) and their LiSSA settings (damping 1e-4, scale 2e5); on the test module's small "
    "MLP the former with CG was unstable (the misclassified count rose from 75 to ~1,000 at "
    "damping 1-3 and oscillated at 10-30), so it was not benchmarked.",
    "",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", default=DEFAULT_CELLS, help="comma-separated")
    p.add_argument("--recalibrate-single", action="store_true",
                   help="redo the single step's damping calibration (default: repair.json's)")  # fmt: skip
    p.add_argument("--ablation", action="store_true",
                   help="also the two factors apart: last layers with the single step, all "
                   "layers with the rounds")  # fmt: skip
    p.add_argument("--rewrite", action="store_true",
                   help="only rewrite the .md from the stored .json (no runs)")  # fmt: skip
    args = p.parse_args()
    if args.rewrite:
        write([])
        return 0
    torch.set_num_threads(1)
    cells = []
    for name in [c.strip() for c in args.cells.split(",") if c.strip()]:
        print(f"cell {name} ...", file=sys.stderr, flush=True)
        cells.append(run_cell(name, args.recalibrate_single, args.ablation))
        write(cells)
        for r in cells[-1]["rows"]:
            print(
                f"  {r['method']}: restoration {r.get('restoration')} "
                f"tla {r.get('restoration_tla')} test {r.get('test_acc')}",
                file=sys.stderr,
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
