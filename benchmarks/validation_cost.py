"""What the validation split costs the original model: test accuracy trained on the whole
training set against trained on the 90% left after the validation split is carved, on the same
test set, per cell and seed.

    python benchmarks/validation_cost.py [--seeds 0 1 2] [--out benchmarks/results/validation_cost.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from unlearn_core.data import VAL_FRACTION, load_dataset
from unlearn_core.models import NARROW_RESNET
from unlearn_core.training import default_recipe, evaluate, train_new_model

OUT = Path(__file__).parent / "results" / "validation_cost.md"
CELLS = {
    "digits_mlp": ("digits", "mlp", {}, {}),
    "digits_cnn": ("digits", "cnn", {}, {}),
    "shapes2000_cnn": ("shapes", "cnn", {"n_train": 2000, "n_test": 500}, {}),
    "shapes2000_resnet18": (
        "shapes", "resnet18", {"n_train": 2000, "n_test": 500}, dict(NARROW_RESNET),
    ),
    "moons_mlp": ("moons", "mlp", {}, {}),
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = []
    for cell in args.cells.split(","):
        name, arch, kw, mkw = CELLS[cell]
        whole = load_dataset(name, val_fraction=0, **kw)
        carved = load_dataset(name, **kw)
        assert torch.equal(whole.x_test, carved.x_test)
        recipe = default_recipe(arch)
        accs = {"whole": [], "carved": []}
        for seed in args.seeds:
            for which, d in (("whole", whole), ("carved", carved)):
                m, _ = train_new_model(d, arch, recipe, seed=seed, device="cpu", model_kwargs=mkw)
                accs[which].append(evaluate(m, d.x_test, d.y_test))
            print(f"{cell} seed {seed}: {accs['whole'][-1]:.2f} -> {accs['carved'][-1]:.2f}",
                  file=sys.stderr)  # fmt: skip
        diff = [b - a for a, b in zip(accs["whole"], accs["carved"], strict=True)]
        rows.append(
            f"| {cell} | {whole.n_train} → {carved.n_train} (+{carved.n_val} validation) | "
            f"{statistics.fmean(accs['whole']):.2f} ± {statistics.stdev(accs['whole']):.2f} | "
            f"{statistics.fmean(accs['carved']):.2f} ± {statistics.stdev(accs['carved']):.2f} | "
            f"{statistics.fmean(diff):+.2f} (min {min(diff):+.2f}, max {max(diff):+.2f}) |"
        )
    text = "\n".join(
        [
            "# What the validation split costs the original",
            "",
            f"Test accuracy (%) of the original trained with each cell's default recipe on the "
            f"whole training set, and on what is left after a stratified {VAL_FRACTION:.0%} "
            f"validation split is carved (split seed 0, the same test set); init seeds "
            f"{args.seeds}, mean ± std. {time.perf_counter() - t0:.0f} s on 1 thread. Produced by "
            f"`python benchmarks/validation_cost.py {' '.join(argv or sys.argv[1:])}`.",
            "",
            "| cell | training samples | whole training set | after the validation split | "
            "difference (points) |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
