"""Calibrate the language methods' ``tinylm`` presets (issue 22) on validation data only.

    OMP_NUM_THREADS=1 python benchmarks/text_calibrate.py --draw 3 --cache /tmp/textcal
    OMP_NUM_THREADS=1 python benchmarks/text_calibrate.py --draw 4 --cache /tmp/textcal
    python benchmarks/text_calibrate.py --summarise [--write-presets]

Each ``--draw D`` builds a *calibration* corpus (corpus seed D: 200 people x 10 facts, 200
world facts and 60 more world facts kept for validation, 20 held-out people), trains its
original (seed D) and retrain, forgets 5 % of the people (draw seed D) with every candidate
below (run seed D) and writes every run to ``results/text_calibration_runs-<D>.json``. The
report (``benchmarks/text.py``) uses corpus seed 0, draw seed 0 and run seeds 0-2: none of
these people, draws or seeds.

What a candidate is judged on (never the scored world facts, ``test_acc``, which are not even
read): exact match (EM) on the forget set, on the retain set, and on the 60 validation world
facts (learned with the other world facts, kept out of the dataset's test split), each against
its target: forget EM at the retrain's on the same draw (the retrain's EM is read on the forget
set), retain and validation-world EM at the original's.
``score = |forget - retrain forget| + max(0, original retain - retain) + max(0, original
world-val - world-val)``, mean over the draws; the lowest wins per method (ties: fewer seconds).
``--summarise`` writes ``results/text_calibration.md`` (every candidate, both draws) and, with
``--write-presets``, the ``tinylm`` entries of ``unlearn_core/methods/presets.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from unlearn_core.methods import run_method
from unlearn_core.methods.base import UnlearnTask
from unlearn_core.methods.language import exact_match
from unlearn_core.methods.presets import NO_PRESETS, PRESETS_FILE
from unlearn_core.models import build_model
from unlearn_core.text import (
    TEXT_RECIPE,
    TINYLM_KWARGS,
    TextForgetRequest,
    facts_dataset,
    train_tinylm,
)

OUT = Path(__file__).resolve().parent / "results"
N_WORLD_VAL = 60
FRACTION = 0.05
STOP = {"stop_at_validation": True}

#: the candidates, per method: the stopping rule on (``epochs`` is then a cap) around the
#: settings that probes of the learning-rate / step trade-off on draw 3 (forget, retain and
#: validation-world EM along the run) and a first pass found nearest the target (that pass:
#: the authors' retain weights, alpha 1 for GradDiff / KL / NPO, ICU's lw 0.5 / klw 1, lost
#: most retained and world-val facts before the forget set reached the validation level).
#: Few, because a run costs 1-3 minutes on the 2 shared cores under load: SimNPO and NPO, the
#: closest, get most (SimNPO: the retain term, NLL of the answers or KL to the original on
#: every position, and its weight)
CANDIDATES: dict[str, list[dict]] = {
    "simnpo": [
        {**STOP, "lr": 3e-4, "epochs": 80, "delta": 1.5, "check_every": 4},
        {**STOP, "lr": 5e-4, "epochs": 60, "delta": 1.5, "check_every": 4},
        {**STOP, "lr": 5e-4, "epochs": 60, "delta": 1.5, "retain_loss": "kl", "check_every": 4},
        {**STOP, "lr": 5e-4, "epochs": 60, "delta": 1.5, "alpha": 3.0, "check_every": 4},
        # after the first pass: the KL retain term kept world-val highest but ran into the
        # cap; a trajectory on draws 3 and 4 (EM every 40 steps, no stop) went on forgetting
        # to 6 / 10 by 440-600 steps with world-val 98-100 / 97
        {
            **STOP,
            "lr": 5e-4,
            "epochs": 150,
            "delta": 1.5,
            "retain_loss": "kl",
            "check_every": 4,
        },
    ],
    "npo": [
        {**STOP, "lr": 5e-4, "epochs": 40, "alpha": 1.0, "check_every": 4},
        {**STOP, "lr": 3e-4, "epochs": 60, "alpha": 10.0, "check_every": 4},
        {**STOP, "lr": 5e-4, "epochs": 60, "alpha": 10.0, "check_every": 4},
    ],
    "icu": [
        {**STOP, "lr": 1e-4, "epochs": 60, "lw": 5.0, "klw": 5.0, "check_every": 2},
        {**STOP, "lr": 3e-4, "epochs": 60, "lw": 5.0, "klw": 5.0, "check_every": 2},
    ],
    "ga": [{**STOP, "lr": 1e-4, "epochs": 30, "check_every": 1}],
    "graddiff": [{**STOP, "lr": 3e-4, "epochs": 40, "alpha": 5.0, "check_every": 2}],
    "kl": [{**STOP, "lr": 3e-4, "epochs": 40, "alpha": 5.0, "check_every": 2}],
    "rmu": [
        {**STOP, "lr": 1e-3, "epochs": 24, "steering_coeff": 200.0, "alpha": 10.0, "check_every": 2}
    ],
}


def load() -> str:
    try:
        return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        return "load unknown"


def models(data, task, draw: int, cache: Path | None):
    """The draw's original and retrain (kept in ``cache``: our own weights-only file)."""
    path = cache / f"draw-{draw}.pt" if cache is not None else None
    original = build_model("tinylm", data.input_shape, data.num_classes, **TINYLM_KWARGS)
    retrained = build_model("tinylm", data.input_shape, data.num_classes, **TINYLM_KWARGS)
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=True)
        original.load_state_dict(saved["original"])
        retrained.load_state_dict(saved["retrain"])
        return original.eval(), retrained.eval()
    original = train_tinylm(data, TEXT_RECIPE, seed=draw)
    retrained = run_method("retrain", original, task, seed=draw).model
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"original": original.state_dict(), "retrain": retrained.state_dict()}, path)
    return original.eval(), retrained.eval()


def scores(model, data, split) -> dict:
    """EM on forget, retain, validation world facts and validation people: no test row."""
    f, r = split.forget_idx, split.retain_idx
    return {
        "forget": exact_match(model, data.x_train[f], data.y_train[f]),
        "retain": exact_match(model, data.x_train[r], data.y_train[r]),
        "world_val": exact_match(model, *data.world_val),
        "val_people": exact_match(model, data.x_val, data.y_val),
    }


def score(v: dict, base: dict, ref: dict) -> float:
    return (
        abs(v["forget"] - ref["forget"])
        + max(0.0, base["retain"] - v["retain"])
        + max(0.0, base["world_val"] - v["world_val"])
    )


def run_draw(draw: int, cache: Path | None, methods: list[str]) -> None:
    # the candidates are searched from the spec defaults: the presets being chosen stay out
    os.environ["UNLEARN_PRESETS"] = NO_PRESETS
    data = facts_dataset(200, 10, seed=draw, n_world_val=N_WORLD_VAL)
    split = data.make_split(TextForgetRequest(fraction=FRACTION, seed=draw))
    task = UnlearnTask(data=data, split=split, train_config=TEXT_RECIPE)
    original, retrained = models(data, task, draw, cache)
    base, ref = scores(original, data, split), scores(retrained, data, split)
    print("original", base, "\nretrain ", ref, flush=True)
    path = OUT / f"text_calibration_runs-{draw}.json"
    doc = {
        "draw": draw,
        "load_before": load(),
        "original": base,
        "retrain": ref,
        "n_forget": split.n_forget,
        "runs": [],
    }
    if path.exists():  # resume: keep the runs already made on this draw
        doc["runs"] = json.loads(path.read_text())["runs"]
    done = {(r["method"], _key(r["candidate"])) for r in doc["runs"]}
    for name in methods:
        for cand in CANDIDATES[name]:
            if (name, _key(cand)) in done:
                continue
            out = run_method(name, original, task, cand, seed=draw)
            assert "test" not in out.reads
            v = scores(out.model, data, split)
            row = {
                "method": name,
                "candidate": cand,
                **v,
                "score": score(v, base, ref),
                "seconds": out.seconds,
                "steps": out.log.get("steps"),
                "stopped_at_step": out.log.get("stopped_at_step"),
            }
            doc["runs"].append(row)
            print(json.dumps(row), flush=True)
            doc["load_after"] = load()
            path.write_text(json.dumps(doc, indent=1) + "\n")


def _key(c: dict) -> str:
    return json.dumps(c, sort_keys=True)


def _label(c: dict) -> str:
    short = {"stop_at_validation": "stop", "check_every": "every", "retain_loss": "retain"}
    return ", ".join(
        f"{short.get(k, k)} {v:g}" if isinstance(v, float) else f"{short.get(k, k)} {v}"
        for k, v in c.items()
    )


def summarise(write_presets: bool) -> None:
    docs = [json.loads(p.read_text()) for p in sorted(OUT.glob("text_calibration_runs-*.json"))]
    draws = [d["draw"] for d in docs]
    by: dict[tuple[str, str], list[dict]] = {}
    for d in docs:
        for r in d["runs"]:
            by.setdefault((r["method"], _key(r["candidate"])), []).append(r)
    lines = [
        "# Text track: calibration of the language methods' `tinylm` presets",
        "",
        "Written by `benchmarks/text_calibrate.py` (see its docstring). Calibration corpora and "
        f"forget draws {', '.join(map(str, draws))} (corpus seed = forget draw seed = run seed; "
        "200 people x 10 facts, forget 5 % = 10 people); the report uses corpus 0, draw 0, "
        "seeds 0-2. **Nothing here reads the scored world facts** (`test_acc`): the utility "
        f"signal is {N_WORLD_VAL} further world facts every model learns that are kept out of "
        "the test split (`make_corpus(n_world_val=...)`), plus the retain set.",
        "",
        "Score = |forget EM - retrain's forget EM| + max(0, original's retain EM - retain EM) + "
        "max(0, original's world-val EM - world-val EM), mean over the draws; lowest wins per "
        "method. 'stop' = the stopping rule (`stop_at_validation`: stop once forget EM <= the "
        "higher of the model's EM on the validation people before unlearning and now, checked "
        "every 'every' steps; 'epochs' is then a cap). EM in %, per draw as forget / retain / "
        "world-val; 'steps' per draw (the cap: the rule did not fire); times under load.",
        "",
    ]
    for d in docs:
        o, r = d["original"], d["retrain"]
        lines.append(
            f"- draw {d['draw']}: original {o['forget']:.1f} / {o['retain']:.1f} / "
            f"{o['world_val']:.1f} (validation people {o['val_people']:.1f}); retrain "
            f"{r['forget']:.1f} / {r['retain']:.1f} / {r['world_val']:.1f}; "
            f"{d['load_before']} at the start, {d.get('load_after', '')} at the end "
            "(2 cores shared with other agents)"
        )
    lines += [
        "",
        "| method | candidate | "
        + " | ".join(f"draw {x}: F / R / WV" for x in draws)
        + " | steps | score | s |",
        "|---|---|" + "---|" * len(draws) + "---:|---:|---:|",
    ]
    best: dict[str, tuple] = {}
    for (method, _), rows in by.items():
        if len(rows) < len(draws):
            continue
        cand = rows[0]["candidate"]
        mean = sum(r["score"] for r in rows) / len(rows)
        secs = sum(r["seconds"] for r in rows) / len(rows)
        cells = " | ".join(
            f"{r['forget']:.0f} / {r['retain']:.1f} / {r['world_val']:.1f}" for r in rows
        )
        steps = "/".join(str(r["steps"]) for r in rows)
        lines.append(f"| {method} | {_label(cand)} | {cells} | {steps} | {mean:.1f} | {secs:.1f} |")
        if method not in best or (mean, secs) < best[method][:2]:
            best[method] = (mean, secs, cand, rows)
    lines += ["", "## Chosen (the `tinylm` presets)", ""]
    for method, (mean, _, cand, _rows) in best.items():
        lines.append(f"- {method}: {_label(cand)} (score {mean:.1f})")
    met = [
        m
        for m, (_, _, _, rows) in best.items()
        if all(
            abs(r["forget"] - d["retrain"]["forget"]) <= 5
            and r["retain"] >= d["original"]["retain"] - 5
            and r["world_val"] >= d["original"]["world_val"] - 5
            for r, d in zip(rows, docs, strict=True)
        )
    ]
    lines += [
        "",
        "Within the issue's target on every calibration draw (forget EM within 5 points of "
        "retrain's, retain and validation-world EM within 5 of the original's): "
        + (", ".join(met) if met else "none")
        + ".",
    ]
    (OUT / "text_calibration.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if write_presets:
        doc = json.loads(PRESETS_FILE.read_text())
        doc["presets"]["tinylm"] = {
            m: {
                "values": cand,
                "status": "calibrated",
                "source": "benchmarks/results/text_calibration.md#chosen-the-tinylm-presets",
                "note": f"score {mean:.1f} over calibration draws {', '.join(map(str, draws))} "
                "(forget 5 %); judged on forget, retain and validation world facts, never the "
                "scored world facts",
            }
            for m, (mean, _, cand, _) in best.items()
        }
        PRESETS_FILE.write_text(json.dumps(doc, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draw", type=int, help="run every candidate on this calibration draw")
    ap.add_argument("--cache", type=Path, help="a folder: keep the draw's original and retrain")
    ap.add_argument("--methods", default=",".join(CANDIDATES))
    ap.add_argument("--summarise", action="store_true")
    ap.add_argument("--write-presets", action="store_true")
    a = ap.parse_args()
    if a.draw is not None:
        t0 = time.perf_counter()
        run_draw(a.draw, a.cache, a.methods.split(","))
        print(f"draw {a.draw}: {time.perf_counter() - t0:.0f} s ({load()})")
    if a.summarise:
        summarise(a.write_presets)


if __name__ == "__main__":
    main()
