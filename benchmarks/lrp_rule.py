"""How many units should LRA-NPP perturb? The paper's fixed share against the "until forgotten" rule.

For each development cell (dataset x model, stored as loaded and sorted by class) and seed,
train the model once, then for **every class** and both variants (``lrp``: the paper's
perturbation; ``lrp_class``: the class weights only) perturb the first n units of the method's
own ranking (``rank_neurons`` on the method's own 36 analysed test images) for every n up to
60% of the width, and record forget / retain / test accuracy and the analysed images' largest
probability of the class. The sweep is done in closed form at the head (the penultimate layer's
input is computed once, so each n is a matrix product); every model is also run
through the real method with the rule (class 3, cap ``--check-cap``) and its n compared
with the sweep's; a disagreement stops the run.

Rules compared on those curves (gaps against the unperturbed model, which a retrained model
matches within about a point on these cells): ``fixed S`` (the paper: n = S x width, units never
picked into a top-k left out) and ``rule cap S`` (add units in order until every analysed image
gives the class less than chance probability, at most S x width). Each rule is scored like
``calibrate.py`` (mean |gap| over forget, retain and test accuracy, +50 for a retain drop of
more than 10 points) and by the share of (model, class) pairs that meet the issue's target
(forget <= 2%, retain and test within 2 points).

    python benchmarks/lrp_rule.py --cells digits_mlp,digits_cnn --seeds 0 1 2 --out FILE.json
    python benchmarks/lrp_rule.py --report A.json B.json [--md benchmarks/results/lrp-rule.md]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from calibrate import CELLS, COLLAPSE_PENALTY, COLLAPSE_POINTS, STORAGE  # noqa: E402

from unlearn_core.forget import ForgetRequest, make_split  # noqa: E402
from unlearn_core.methods import UnlearnTask, run_method  # noqa: E402
from unlearn_core.methods.lrp_npp import head_relevance, rank_neurons, unit_layer  # noqa: E402
from unlearn_core.training import default_recipe, predict_features, train_new_model  # noqa: E402

RESULTS = Path(__file__).parent / "results"
#: the k share each variant uses (the paper's 0.1; the class variant's presets 0.2)
K_SHARE = {"lrp": 0.1, "lrp_class": 0.2}
SWEEP_MAX_SHARE = 0.6
N_SAMPLES = 36
FIXED = (0.16, 0.2, 0.25)
CAPS = (0.16, 0.2, 0.25, 0.3, 0.5)


def _pre_unit(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model.body[:-2](x[i : i + 512]) for i in range(0, len(x), 512)])


def sweep_model(model, data, seed: int) -> list[dict]:
    """Per class and variant: metrics for every n (closed form at the head)."""
    model.eval()
    head = model.head
    w2, b2 = head.weight.detach().clone(), head.bias.detach().clone()
    unit = unit_layer(model)
    if unit is not None:
        w1, b1 = unit[1].weight.detach().clone(), unit[1].bias.detach().clone()
        pre_tr, pre_te = _pre_unit(model, data.x_train), _pre_unit(model, data.x_test)
    f_tr, f_te = predict_features(model, data.x_train), predict_features(model, data.x_test)
    y_tr, y_te = data.y_train, data.y_test
    width, n_classes = w2.shape[1], len(data.classes)
    out = []
    for c in range(n_classes):
        gen = torch.Generator().manual_seed(seed)  # the method's draw of its analysed images
        pool = torch.nonzero(y_te == c).flatten()
        pick = pool[torch.randperm(len(pool), generator=gen)[:N_SAMPLES]]
        feats = f_te[pick]
        with torch.no_grad():
            pred = head(feats).argmax(1)
        rel = head_relevance(feats, head, pred, 0.1)
        forget, test_c = y_tr == c, y_te == c
        for variant, k_share in K_SHARE.items():
            counts, order = rank_neurons(rel, max(1, round(width * k_share)))
            rec = {
                "variant": variant,
                "cls": c,
                "width": width,
                "classes": n_classes,
                "picked": int((counts > 0).sum()),
                **{k: [] for k in ("forget", "retain", "test", "maxp")},
            }
            for n in range(int(width * SWEEP_MAX_SHARE) + 1):
                idx = torch.as_tensor(order[:n], dtype=torch.long)
                w2p = w2.clone()
                w2p[c, idx] = 0.0
                ftr, fte = f_tr, f_te
                if variant == "lrp" and unit is None:
                    w2p[:, idx] = 0.0
                elif variant == "lrp":
                    w1p = w1.clone()
                    w1p[idx] = 0.0
                    ftr = torch.relu(pre_tr @ w1p.T + b1)
                    fte = torch.relu(pre_te @ w1p.T + b1)
                p_tr = (ftr @ w2p.T + b2).argmax(1)
                l_te = fte @ w2p.T + b2
                p_te = l_te.argmax(1)
                rec["forget"].append(100 * float((p_tr[forget] == c).float().mean()))
                rec["retain"].append(100 * float((p_tr[~forget] == y_tr[~forget]).float().mean()))
                rec["test"].append(100 * float((p_te[~test_c] == y_te[~test_c]).float().mean()))
                rec["maxp"].append(float(torch.softmax(l_te[pick], 1)[:, c].max()))
            out.append(rec)
    return out


def check_against_method(
    model, data, arch: str, seed: int, rows: list[dict], cls: int, cap: float
) -> dict:
    """The real method's n under the rule against the sweep's, for one class."""
    task = UnlearnTask(data, make_split(data, ForgetRequest(classes=(cls,))), default_recipe(arch))
    found = {}
    for variant in K_SHARE:
        cfg = {"rule": "until forgotten", "n_max_share": cap, "k_share": K_SHARE[variant]}
        out = run_method(variant, model, task, cfg, seed=seed)
        rec = next(r for r in rows if r["variant"] == variant and r["cls"] == cls)
        found[variant] = (len(out.log["per_class"][0]["neurons"]), rule_n(rec, cap))
    return found


def fixed_n(rec: dict, share: float) -> int:
    return min(len(rec["forget"]) - 1, max(1, round(rec["width"] * share)), rec["picked"])


def rule_n(rec: dict, cap: float) -> int:
    n_max = min(len(rec["forget"]) - 1, max(1, round(rec["width"] * cap)))
    chance = 1.0 / rec["classes"]
    return next((n for n in range(n_max + 1) if rec["maxp"][n] < chance), n_max)


def run(args) -> None:
    rows = []
    cells = [c for c in CELLS if c.key in args.cells.split(",")]
    for cell in cells:
        for storage in STORAGE:
            data = cell.load(storage)
            for seed in args.seeds:
                t0 = time.perf_counter()
                model, _ = train_new_model(
                    data,
                    cell.arch,
                    default_recipe(cell.arch),
                    seed=seed,
                    device="cpu",
                    model_kwargs=cell.model_kwargs,
                )
                recs = sweep_model(model, data, seed)
                checked = check_against_method(
                    model, data, cell.arch, seed, recs, 3, args.check_cap
                )
                for r in recs:
                    r.update(cell=cell.key, storage=storage, seed=seed)
                rows += recs
                print(
                    f"{cell.key}, {storage}, seed {seed}: {time.perf_counter() - t0:.1f}s; "
                    f"method vs sweep n (class 3, cap {args.check_cap}): {checked}",
                    file=sys.stderr,
                    flush=True,
                )
                if any(a != b for a, b in checked.values()):
                    raise SystemExit(f"the sweep disagrees with the method: {checked}")
    args.out.write_text(json.dumps(rows))


def _outcome(rec: dict, n: int) -> tuple[float, bool, bool]:
    f = rec["forget"][n]
    rg, tg = rec["retain"][n] - rec["retain"][0], rec["test"][n] - rec["test"][0]
    collapsed = rg < -COLLAPSE_POINTS
    score = (abs(f) + abs(rg) + abs(tg)) / 3 + (COLLAPSE_PENALTY if collapsed else 0.0)
    return score, f <= 2 and rg >= -2 and tg >= -2, collapsed


def report(files: list[Path]) -> str:
    rows = [r for f in files for r in json.loads(f.read_text())]
    rules = {f"fixed {s}": (lambda r, s=s: fixed_n(r, s)) for s in FIXED}
    rules |= {f"rule cap {s}": (lambda r, s=s: rule_n(r, s)) for s in CAPS}
    table = collections.defaultdict(list)
    for r in rows:
        for name, pick in rules.items():
            table[(r["variant"], r["cell"], name)].append(_outcome(r, pick(r)))
    cells = sorted({r["cell"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        '# LRA-NPP: a fixed number of units against the "until forgotten" rule',
        "",
        f"`python benchmarks/lrp_rule.py` on {', '.join(cells)}; both storage orders; seeds "
        f"{', '.join(map(str, seeds))}; **every class** of each model forgotten in turn "
        f"({len(rows) // 2} model-class pairs per variant). Per rule: the calibration's score "
        "(lower is better), the share of pairs meeting the target (forget <= 2%, retain and "
        "test within 2 points of the unperturbed model) and the collapses (retain down more "
        "than 10 points). `fixed S`: the paper's n = S x width; `rule cap S`: units added "
        "until every analysed image gives the class less than chance probability, at most "
        "S x width.",
        "",
    ]
    for variant in K_SHARE:
        means: dict[str, float] = {}
        lines += [
            f"## {variant}",
            "",
            "| rule | "
            + " | ".join(f"{c}: score / met / collapses" for c in cells)
            + " | mean score |",
            "|---|" + "---|" * (len(cells) + 1),
        ]
        for name in rules:
            parts, scores = [], []
            for cell in cells:
                v = table[(variant, cell, name)]
                s = statistics.fmean(x[0] for x in v)
                scores.append(s)
                parts.append(
                    f"{s:.2f} / {statistics.fmean(x[1] for x in v):.2f} / "
                    f"{sum(x[2] for x in v)} of {len(v)}"
                )
            means[name] = statistics.fmean(scores)
            lines.append(f"| {name} | " + " | ".join(parts) + f" | {means[name]:.2f} |")
        best = min(means, key=means.get)
        lines += ["", f"Lowest mean score: **{best}** ({means[best]:.2f}).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default="digits_mlp,digits_cnn,digits28_cnn,shapes2000_cnn")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, help="sweep JSON to write")
    ap.add_argument("--check-cap", type=float, default=0.2, help="cap of the method check")
    ap.add_argument("--report", type=Path, nargs="+", help="sweep JSON files to report on")
    ap.add_argument("--md", type=Path, default=RESULTS / "lrp-rule.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.report:
        args.md.write_text(report(args.report) + "\n", encoding="utf-8")
        print(args.md.read_text())
        return 0
    if args.out is None:
        ap.error("--out is needed to run the sweep")
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
