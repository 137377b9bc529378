"""Unlearning to repair (issue 20): corrupted training sets, the methods that undo the damage.

Cells (``--cells``, default the issue's two "Done when" cells):

- ``backdoor_cnn``: digits + CNN, BadNets backdoor on 5 % of the other classes' training
  images, target class 0, seeds 0-1. Targets: the original's attack success >= 90 %, retrain's
  <= 5 %, one approximate method <= 10 % with test accuracy within 2 points of retrain's.
- ``label_noise_mlp``: digits + MLP, 20 % of class 3 relabelled 5, seeds 0-2. Target: the
  Warnecke second-order update's restoration within 0.1 of retrain's.
- ``backdoor_mlp``, ``label_noise_cnn``, ``feature_mlp``, ``feature_cnn`` (the feature: the
  backdoor's corner patch on 50 % of class 1's images, labels kept): the rest of the grid.
- ``label_noise_all_mlp``, ``label_noise_all_cnn``: 20 % of *every* class's training labels
  flipped to a random other class, seeds 0-2: the kind of setting where Warnecke et al. measure
  restoration (their code flips 5-20 % of all CIFAR-10 labels, class pairs 0<->9, 1<->8, ...;
  the damage there is 14 points of held-out accuracy), so the ratio is not a count of two
  test images.

Every comparison goes through ``compare_seeds(..., scenario=RepairScorer(s))``: the original
trains on the corrupted set, retrain without the corrupted samples (all found: detection rate
1), ``clean`` on the clean set; the other methods run with their presets (the spec defaults
where none exists). Warnecke's second-order damping (lambda) is chosen per cell from
:data:`DAMPINGS` on *calibration seeds* that are not reported (``calib_seeds``, 3 and 4: their
own originals, trained on the same corrupted set), with training and *validation* data only:
the largest true-label accuracy on the forget samples' fixed versions (training data), averaged
over the calibration seeds, among the dampings whose mean validation accuracy is within 1 point
of the originals', ties to the larger damping. Its first-order rate is chosen by the method
itself on the validation split (``tau=0``). The test set only scores. Every row also gets the
clean test loss and the restoration ratio on it (``restoration_loss``, ours: a continuous
companion of ``restoration``, which moves in whole test images; it does not replace it), and
label-noise cells say per seed how many test predictions each model changed against its
original.

Writes ``benchmarks/results/repair.md`` and ``repair.json``. The machine is shared: the load
average is recorded before and after each cell; times are under that load.
"""

# ruff: noqa: E402  (the checkout goes on the path before the package is imported)
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
from unlearn_core.methods import UnlearnTask, run_method
from unlearn_core.repair import RepairScorer, make_scenario, mean_loss
from unlearn_core.training import default_recipe, predict_logits, train_new_model

OUT = Path(__file__).parent / "results"
METHODS = (
    "finetune",
    "neggrad",
    "neggrad_plus",
    "scrub",
    "salun",
    "ssd",
    "fisher",
    "l1_sparse",
    "warnecke_first",
    "warnecke_second",
    "mia_guided",
)
DAMPINGS = (0.03, 0.1, 0.3, 1.0, 3.0)
#: the seeds the damping is calibrated on (their models are not reported)
CALIB_SEEDS = (3, 4)
CELLS = {
    "backdoor_cnn": dict(arch="cnn", kind="backdoor", fraction=0.05, target_class=0, seeds=(0, 1)),
    "label_noise_mlp": dict(
        arch="mlp", kind="label-noise", fraction=0.2, from_class=3, to_class=5, seeds=(0, 1, 2)
    ),
    "backdoor_mlp": dict(
        arch="mlp", kind="backdoor", fraction=0.05, target_class=0, seeds=(0, 1, 2)
    ),
    "label_noise_cnn": dict(
        arch="cnn", kind="label-noise", fraction=0.2, from_class=3, to_class=5, seeds=(0, 1, 2)
    ),
    "feature_mlp": dict(arch="mlp", kind="feature", fraction=0.5, from_class=1, seeds=(0, 1, 2)),
    "feature_cnn": dict(arch="cnn", kind="feature", fraction=0.5, from_class=1, seeds=(0, 1, 2)),
    "label_noise_all_mlp": dict(arch="mlp", kind="label-noise", fraction=0.2, seeds=(0, 1, 2)),
    "label_noise_all_cnn": dict(arch="cnn", kind="label-noise", fraction=0.2, seeds=(0, 1, 2)),
}
COLUMNS = (
    result_column("method"),
    FAMILY_COLUMN,
    result_column("test_acc"),
    result_column("asr"),
    result_column("trigger_acc"),
    result_column("true_label_acc"),
    result_column("restoration"),
    result_column("restoration_tla"),
    result_column("test_loss"),
    result_column("restoration_loss"),
    result_column("patch_attr"),
    result_column("forget_acc"),
    result_column("retain_acc"),
    result_column("seconds"),
    Column("error", "error", text=True, optional=True, empty=""),
)


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _acc(model, x, y) -> float:
    return 100.0 * float((predict_logits(model, x).argmax(1) == y).float().mean())


def choose_damping(
    sc, arch: str, recipe, calib_seeds=CALIB_SEEDS, params: dict | None = None
) -> tuple[float, list[dict]]:
    """Warnecke second-order's lambda on the calibration seeds (not reported): each trains its
    own original on the corrupted set; training and validation data only. ``params``: the
    method's other settings (``repair_warnecke_iterative.py``: the authors' configuration)."""
    split = sc.split()
    info = sc.repair_info(split)
    task = UnlearnTask(sc.corrupted, split, recipe, repair=info)
    xv, yv = sc.corrupted.x_val, sc.corrupted.y_val
    per_seed: dict[float, list[dict]] = {lam: [] for lam in DAMPINGS}
    bases = []
    for seed in calib_seeds:
        original, _ = train_new_model(sc.corrupted, arch, recipe, seed=seed, device="cpu")
        bases.append(_acc(original, xv, yv))
        for lam in DAMPINGS:
            over = {**(params or {}), "damping": lam}
            out = run_method("warnecke_second", original, task, over, seed=seed)
            per_seed[lam].append(
                {
                    "seed": seed,
                    "val_acc": _acc(out.model, xv, yv),
                    "fixed_fit": _acc(out.model, info.x, info.y),
                    "solver": out.log.get("solver_log", out.log.get("rounds")),
                    "seconds": out.seconds,
                }
            )
    base = sum(bases) / len(bases)
    trials = [
        {
            "damping": lam,
            "val_acc": sum(t["val_acc"] for t in ts) / len(ts),
            "fixed_fit": sum(t["fixed_fit"] for t in ts) / len(ts),
            "per_seed": ts,
        }
        for lam, ts in per_seed.items()
    ]
    head = {"original_val_acc": base, "calib_seeds": list(calib_seeds)}
    ok = [t for t in trials if t["val_acc"] >= base - 1.0]
    if not ok:  # none keeps validation accuracy: the least damaging
        top = max(t["val_acc"] for t in trials)
        lam = max(t["damping"] for t in trials if t["val_acc"] == top)
        return lam, [{**head, "guard": "no damping within 1 point"}, *trials]
    best = max(t["fixed_fit"] for t in ok)
    lam = max(t["damping"] for t in ok if t["fixed_fit"] == best)
    return lam, [head, *trials]


def damping_note(cell: dict) -> str:
    """How the cell's damping was chosen, read from its trials."""
    head, *trials = cell["damping_trials"]
    base = head["original_val_acc"]
    seeds = ", ".join(map(str, head.get("calib_seeds", [0])))
    if any(t["val_acc"] >= base - 1.0 for t in trials):
        return f"Warnecke damping {cell['damping']} (calibrated on seeds {seeds})"
    best = max(t["val_acc"] for t in trials)
    return (
        f"Warnecke damping {cell['damping']}: no damping kept the validation accuracy of "
        f"calibration seeds {seeds} within 1 point of the originals' {base:.1f} % (best "
        f"{best:.1f} %), so the least damaging one"
    )


def run_cell(name: str, spec: dict) -> dict:
    data = load_dataset("digits")
    arch, seeds = spec["arch"], list(spec["seeds"])
    kw = {k: spec[k] for k in ("from_class", "to_class", "target_class") if k in spec}
    sc = make_scenario(data, spec["kind"], spec["fraction"], seed=0, **kw)
    recipe = default_recipe(arch)
    load_before = _load()
    t0 = time.perf_counter()
    lam, trials = choose_damping(sc, arch, recipe, spec.get("calib_seeds", CALIB_SEEDS))
    print(f"{name}: damping {lam}", file=sys.stderr, flush=True)
    methods = [(m, {"damping": lam} if m == "warnecke_second" else {}) for m in METHODS]
    multi = compare_seeds(
        sc.corrupted,
        arch,
        recipe,
        sc.split(),
        methods,
        seeds=seeds,
        device="cpu",
        scenario=RepairScorer(sc, attributions=sc.patch is not None, loss_restoration=True),
        progress=lambda f, m: None,
        keep_models=spec["kind"] == "label-noise",
    )
    wall = time.perf_counter() - t0
    detail = prediction_changes(multi, sc) if spec["kind"] == "label-noise" else None
    rows = [seed_row(multi.original), *(seed_row(s) for s in multi.results)]
    fam = {"original": "none", "retrain": "exact", "clean": "reference"}
    for r, s in zip(rows, [multi.original, *multi.results], strict=True):
        r["family"] = fam.get(r["method"], s.family)
    return {
        "cell": name,
        "spec": spec,
        "scenario": sc.summary(),
        "damping": lam,
        "damping_trials": trials,
        "rows": rows,
        "per_seed": [c.summary() for c in multi.comparisons],
        "prediction_changes": detail,
        "wall_s": wall,
        "load_before": load_before,
        "load_after": _load(),
    }


def prediction_changes(multi, sc) -> dict:
    """Per seed and row: how many clean test predictions differ from the seed's original, and
    (one source class) the accuracy on that class's test images."""
    d, src, dst = sc.corrupted, sc.corruption.from_class, sc.corruption.to_class
    out: dict[str, dict] = {}
    for comp in multi.comparisons:
        before = predict_logits(comp.original.model, d.x_test).argmax(1)
        for r in [comp.original, *comp.results]:
            if r.model is None:
                continue
            logits = predict_logits(r.model, d.x_test)
            pred = logits.argmax(1)
            e = out.setdefault(r.method, {"changed": [], "source_acc": [], "class_loss": []})
            e["changed"].append(int((pred != before).sum()))
            if src is not None:
                m = d.y_test == src
                e["source_acc"].append(100.0 * float((pred[m] == src).float().mean()))
            if src is not None and dst is not None:  # mean test loss on each class's images
                e["class_loss"].append(
                    [mean_loss(logits[d.y_test == c], d.y_test[d.y_test == c]) for c in (src, dst)]
                )
            r.model = None
    return out


def _mean(rows, method, key):
    r = next((r for r in rows if r["method"] == method), None)
    return None if r is None else r.get(key)


def verdicts(cell: dict) -> list[str]:
    rows = cell["rows"]
    out = []
    if cell["spec"]["kind"] == "feature":
        vals = ", ".join(
            f"{m} {_mean(rows, m, 'asr'):.1f} %" for m in ("original", "retrain", "clean")
        )
        out.append(
            f"reliance (stamped test images of other classes put in the feature's class): {vals}; "
            "the backdoor's targets do not apply (no relabelling: the feature only adds to a "
            "class's own evidence)"
        )
    elif cell["spec"]["kind"] == "backdoor":
        o, rt = _mean(rows, "original", "asr"), _mean(rows, "retrain", "asr")
        rta = _mean(rows, "retrain", "test_acc")
        out.append(
            f"original attack success {o:.1f} % (target >= 90: {'met' if o >= 90 else 'MISSED'})"
        )
        out.append(
            f"retrain attack success {rt:.1f} % (target <= 5: {'met' if rt <= 5 else 'MISSED'})"
        )
        good = [
            f"{r['method']} ({r['asr']:.1f} %, test {r['test_acc']:.2f} vs {rta:.2f})"
            for r in rows
            if r["method"] in METHODS
            and r.get("asr") is not None
            and r["asr"] <= 10
            and abs(r["test_acc"] - rta) <= 2
        ]
        out.append(
            "approximate methods <= 10 % attack success within 2 test points of retrain: "
            + (", ".join(good) if good else "none (MISSED)")
        )
    else:
        for key in ("restoration", "restoration_tla", "restoration_loss"):
            w, rt = _mean(rows, "warnecke_second", key), _mean(rows, "retrain", key)
            if key == "restoration_loss" and w is not None and rt is not None:
                out.append(
                    f"{key} (ours, not the issue's target): Warnecke second-order {w:.2f}, "
                    f"retrain {rt:.2f}, |difference| {abs(w - rt):.2f}"
                )
                continue
            if w is None or rt is None:
                out.append(f"{key}: not defined (the clean model is not better than the original)")
                continue
            ok = abs(w - rt) <= 0.1
            out.append(
                f"{key}: Warnecke second-order {w:.2f}, retrain {rt:.2f}, "
                f"|difference| {abs(w - rt):.2f} (target <= 0.1: {'met' if ok else 'MISSED'})"
            )
        per_seed = []
        for c in cell["per_seed"]:
            by = {r["method"]: r for r in [c["original"], *c["results"]]}
            per_seed.append(
                f"seed {c['seed']}: original {by['original']['test_acc']:.2f}, clean "
                f"{by['clean']['test_acc']:.2f}, retrain {by['retrain']['test_acc']:.2f}"
            )
        out.append("clean test accuracy per seed (the ratio's ends): " + "; ".join(per_seed))
        ch = cell.get("prediction_changes") or {}
        if ch:
            out.append(
                "test predictions changed against the seed's original (of 359; seeds in order): "
                + "; ".join(
                    f"{m} {'/'.join(map(str, ch[m]['changed']))}"
                    for m in ("retrain", "clean", "warnecke_first", "warnecke_second")
                    if m in ch
                )
            )
            src = cell["spec"].get("from_class")
            if src is not None and all(ch[m]["source_acc"] for m in ("original", "clean")):
                out.append(
                    f"accuracy on class {src}'s test images (mean over seeds): "
                    + ", ".join(
                        f"{m} {sum(v) / len(v):.1f} %"
                        for m in ("original", "clean", "retrain", "warnecke_second")
                        if (v := ch.get(m, {}).get("source_acc"))
                    )
                )
            dst = cell["spec"].get("to_class")
            if dst is not None and ch["original"].get("class_loss"):
                parts = []
                for m in ("original", "clean", "retrain", "warnecke_second"):
                    cl = ch.get(m, {}).get("class_loss")
                    if cl:
                        a = sum(v[0] for v in cl) / len(cl)
                        b = sum(v[1] for v in cl) / len(cl)
                        parts.append(f"{m} {a:.3f} / {b:.3f}")
                out.append(
                    f"mean test loss on class {src}'s / class {dst}'s test images (mean over "
                    f"seeds): " + ", ".join(parts)
                )
        gap = _mean(rows, "clean", "test_acc") - _mean(rows, "original", "test_acc")
        n_test = 359
        out.append(
            f"the damage on clean test accuracy (clean - original) is {gap:.2f} points "
            f"(about {gap * n_test / 100:.1f} of {n_test} test images): restoration on test "
            "accuracy moves in steps of 1 / that many images"
        )
    out.append(recommend(cell))
    return out


def recommend(cell: dict) -> str:
    """The approximate method closest to retrain on the scenario's own number (attack success
    with a patch, else true-label restoration) among those whose test accuracy is within 2
    points of retrain's."""
    rows = cell["rows"]
    key = "asr" if cell["spec"]["kind"] in ("backdoor", "feature") else "restoration_tla"
    ref, rta = _mean(rows, "retrain", key), _mean(rows, "retrain", "test_acc")
    fits = [
        (abs(r[key] - ref), r["method"], r[key], r["test_acc"])
        for r in rows
        if r["method"] in METHODS
        and r.get(key) is not None
        and r.get("test_acc") is not None
        and abs(r["test_acc"] - rta) <= 2
    ]
    if not fits or ref is None:
        return (
            "recommendation: none of the approximate methods stays within 2 test points of retrain"
        )
    _, name, v, ta = min(fits)
    return (
        f"recommendation: **{name}** ({key} {v:.2f} against retrain's {ref:.2f}; test accuracy "
        f"{ta:.2f} against {rta:.2f}), the closest to retrain on {key} among the methods within "
        "2 test points of it"
    )


def write(cells: list[dict]) -> None:
    OUT.mkdir(exist_ok=True)
    old = {}
    path_json = OUT / "repair.json"
    if path_json.exists():
        old = {c["cell"]: c for c in json.loads(path_json.read_text()).get("cells", [])}
    old.update({c["cell"]: c for c in cells})
    ordered = [old[k] for k in CELLS if k in old]
    meta = {
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    path_json.write_text(json.dumps({"meta": meta, "cells": ordered}, indent=1, default=str))
    lines = [
        "# Unlearning to repair (issue 20)",
        "",
        "From `benchmarks/repair.py` (digits, default recipes, methods with their presets; "
        "CPU, 1 torch thread, a machine shared with other agents: times are under that load, "
        "the load average before/after each cell is given). Mean ± std over the seeds; "
        "`clean` is the model trained on the uncorrupted data; `restoration` = (after - "
        "before) / (clean - before) on clean test accuracy (Warnecke et al.'s code), "
        "`restoration_tla` the same on the corrupted samples' true-label accuracy; "
        "`attack success` on triggered test images of the other classes (feature scenario: "
        "share put in the class that carried the feature); `attribution on patch`: share of absolute "
        "saliency (predicted class) on the patch's pixels over 32 triggered test images (the "
        "2x2 patch is 4 of 64 pixels: 6.25 % if saliency were uniform); `test loss`: mean "
        "cross-entropy on the clean test set and `restoration, test loss` the ratio on it "
        "(ours, a continuous companion: it does not replace `restoration`). Warnecke "
        "second-order: CG, its damping chosen on calibration seeds 3 and 4 (not reported) with "
        "training + validation data (see the script). A "
        "`restoration` without ± was defined on one seed only (on the others the clean model "
        "was not better than the original on test accuracy).",
        "",
    ]
    for c in ordered:
        sc = c["scenario"]
        lines += [
            f"## {c['cell']}: {c['spec']['arch'].upper()}, {sc['description']}",
            "",
            f"Seeds {', '.join(map(str, c['spec']['seeds']))}; {sc['n_corrupted']} corrupted "
            f"training samples, all in the forget set; {damping_note(c)}; wall "
            f"{c['wall_s']:.0f} s, load {c['load_before']} -> {c['load_after']} (2 cores).",
            "",
            markdown_table(c["rows"], [col for col in COLUMNS if _shown(col, c["rows"])]),
            "",
            *[f"- {v}" for v in verdicts(c)],
            "",
        ]
    lines += NOTES
    (OUT / "repair.md").write_text("\n".join(lines))


NOTES = [
    "## Notes",
    "",
    "- A backdoored sample's fixed version is its patched input with its true label "
    '(`make_scenario(..., backdoor_fix="label")`, Warnecke et al.\'s label repair). With the '
    'un-patched input instead (`"input"`), both gradients of the sample are small at a '
    "well-fitted original and the Warnecke updates barely move (attack success stayed at 94-100 % "
    "in a first try on the CNN, validation images).",
    "- `restoration` follows the authors' code (held-out accuracy before and after against a "
    "clean reference); on label noise in one class of digits the clean model is 1-4 test "
    "images better than the original, so the ratio is dominated by single images: read "
    "`restoration_tla` (true-label accuracy of the corrupted samples) and `restoration, test "
    "loss` (ours) beside it; neither replaces it.",
    "- **The issue's label-noise cell (label_noise_mlp), investigated.** (a) Warnecke's "
    "second-order update does move the flipped samples: their true-label accuracy goes from "
    "87 % to 100 % on every seed. But it changes 0-2 of the 359 test predictions (retrain 5-9, "
    "clean 5-7), because the test set shows almost no damage to repair: class 3's test images "
    "are 96.4 % right in the original against 95.5 % in the clean model, and what the clean "
    "model gains in test loss sits on class 5's images (0.395 -> 0.246 nats), which the update "
    "moves the other way (0.456) while it sharpens class 3 (0.182 -> 0.090). Retrain's 2.33 "
    "+- 1.15 is mostly run-to-run variation: trained on 26 other labels, a model takes another "
    "path and changes 5-9 test predictions anywhere. (b) Warnecke et al.'s code "
    "(alewarne/MachineUnlearning, `Applications/Poisoning`) flips 2,500-10,000 of CIFAR-10's "
    "50,000 training labels in 10 class pairs (`poison/label_flip.py`, `flip_labels`) and "
    "reports (acc_after - acc_before) / (clean_acc - acc_before) on a 5,000-image held-out "
    "split (`unlearn/common.py`, `evaluate_model_diff`; `unlearn/second_order.py`). In their "
    "stored run (budget 10,000, seed 42) the damage is 14 points (clean 87.86 %, poisoned "
    "73.82 %) and the second-order update restores 0.32 (first-order 0.22). Their update also "
    "differs from ours: the last layers only (`trainable_weights[-6:]`), repeated (`steps` 10) "
    "on up to 1,024 training samples still misclassified against the fixed labels, LiSSA with "
    "damping 1e-4 and scale 2e5. The label_noise_all cells are that kind of setting on digits "
    "(20 % of every class flipped: 6.6 test points of damage on the MLP, 4.2 on the CNN): "
    "there the ratio is measurable. Warnecke second-order restores 0.45 +- 0.08 against "
    "retrain's 0.78 +- 0.06 on the MLP (missed by 0.33) and 0.58 +- 0.05 against 0.65 +- 0.07 "
    "on the CNN (within 0.1). (c) The damping is now chosen on seeds 3-4 "
    "(training + validation data; those models are not reported): 0.3 for this cell, where "
    "seed 0's choice was 3.0; the figures above are seeds 0-2 with it.",
    "- Warnecke second-order on the MLP: with a small damping, CG meets negative curvature "
    "within a few iterations (label_noise_mlp: 0.03 and 0.1 on calibration seed 3; "
    "label_noise_all_mlp: 0.03 and 0.1 on both calibration seeds) and its truncated iterate "
    "wrecks the model (validation accuracy 10-36 % there, `damping_trials` in repair.json); on "
    "backdoor_mlp no damping keeps the calibration seeds' validation accuracy within 1 point "
    "(best 88.1 % against 97.6 %), and the least damaging one removes the backdoor (attack "
    "success 0.9 %) at 86.4 % test accuracy against retrain's 96.8 %: a miss on the MLP, where "
    "SalUn repairs without damage. On feature_mlp the update raises the reliance on the patch "
    "(48.2 % at the recalibrated 0.3; 39.5 % at seed 0's 3.0; original 36.5 %). On the CNN the "
    "same update repairs the backdoor at retrain's accuracy.",
    "- `mia_guided` (ours, see below) on the repair cells: on label noise it stops before its "
    "first step on every seed: the original mostly predicts the flipped samples' true class, "
    "so their loss on the given label is high and to a membership attack they already look "
    "held out (mean membership probability 0.006 against the validation samples' 0.48, MLP "
    "seed 0): a membership signal read with the given labels cannot see a corruption the model "
    "did not fit. On the backdoor it stops within the first epoch with the backdoor in place "
    "(attack success 90 % MLP, 99.7 % CNN). On feature_mlp it lowers the reliance to 28.8 % "
    "(clean 28.0 %, retrain 25.0 %) at test accuracy 96.19 %.",
    '- **Silver Linings** (Sula, Kumar, Hou, Wang & Tourani 2024, "Silver Linings in the '
    'Shadows: Harnessing Membership Inference for Machine Unlearning", arXiv 2407.00866: the id '
    "is right; the authors are these five) is not implemented under its name: its algorithm "
    "could not be read here. Searched (second attempt): the `search` tool's pages corpus with "
    "the title, the authors' names, `arxiv 2407.00866`, `arxiv.org/abs/2407.00866`, the method "
    "words (membership inference loss, attack model, forget set, KL divergence, Gaussian upper "
    "bound, hyper-parameters) and `ReMI`; its docs corpus with the title; its issues corpus "
    "with `membership inference guided unlearning loss`; its code corpus with the title, the "
    "authors and `ReMI unlearning`; `find_string` for `Silver Linings in the Shadows`, "
    "`2407.00866`, `Harnessing Membership Inference`, `ReMI unlearning` (no hit); `find_repos` "
    "for `silver`, `tourani`, `nexhi`, `nsula` (no repository of the authors, so nothing to "
    "`fetch`). Found: the arXiv HTML page (v2) stored from its beginning only (abstract and "
    "the start of the introduction), abstract pages (emergentmind, tomesphere, groovesquid) "
    "and one third-party summary (sciencestack.ai): the method is called ReMI; a privacy "
    "approximation function (membership inference, or membership fingerprinting) guides the "
    "weight refinement; the unlearning loss combines the target model's loss with a leakage "
    "term and is augmented by a KL-divergence objective that makes the forgotten data hard to "
    "tell from out-of-sample data; a Gaussian-based upper bound keeps it tractable; compared "
    "with retraining and Fisher unlearning on four datasets and four architectures. Still "
    "missing for the paper's algorithm: the loss's exact form and weights, the attack "
    "(features, shadow models, fitted once or during unlearning), which out-of-sample data the "
    "KL term reads, the optimiser, learning rate, epochs and stopping rule. "
    "`mia_guided` (origin 'extension', `unlearn_core/methods/mia_guided.py`) is the closest "
    "well-defined idea under our own name: fine-tuning on the retain set plus the "
    "cross-entropy, towards 'non-member', of a logistic membership attack (loss and entropy "
    "features, fitted on retain vs validation samples, refitted every epoch) on the forget "
    "samples, stopped once they look held out to it. Its class and random forgetting rows: "
    "`benchmarks/results/mia_guided.md`.",
    "",
]


def _shown(col, rows) -> bool:
    if not col.optional:
        return True
    return any(r.get(col.key) not in (None, "") for r in rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", default="backdoor_cnn,label_noise_mlp", help="comma-separated")
    args = p.parse_args()
    torch.set_num_threads(1)
    cells = []
    for name in [c.strip() for c in args.cells.split(",") if c.strip()]:
        print(f"cell {name} ...", file=sys.stderr, flush=True)
        cells.append(run_cell(name, CELLS[name]))
        write(cells)
        for v in verdicts(cells[-1]):
            print(f"  {v}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
