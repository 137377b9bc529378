"""Does the test set take part in any method's decisions? Run methods on the same data saved as
an npz twice, once with its real test set and once with noise test images and permuted test
labels, and compare the unlearned models (the issue 18 measurement, as a new user would run it).

    python benchmarks/test_set_independence.py [--methods lrp,lrp_class,neggrad] [--out FILE]

For each method and request (class 3; a random 10%), the unlearned models' forget and retain
accuracy on both versions and whether their weights are bit-identical. Uses only
``load_file``, ``train_new_model`` and ``compare``, so it also runs on older commits (the
before figures).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from unlearn_core.data import load_dataset, load_file
from unlearn_core.experiment import compare
from unlearn_core.forget import ForgetRequest
from unlearn_core.training import default_recipe, train_new_model

REQUESTS = {
    "class 3": ForgetRequest(classes=(3,)),
    "random 10%": ForgetRequest(fraction=0.1, seed=0),
}


def _hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def npz_pair(folder: Path) -> tuple[Path, Path]:
    """Digits (8x8) as an npz with its real test set, and the same with noise test images
    and permuted test labels."""
    base = load_dataset("digits", **({"val_fraction": 0} if _has_val() else {}))
    x, y = base.x_train.numpy(), base.y_train.numpy()
    xt, yt = base.x_test.numpy(), base.y_test.numpy()
    rng = np.random.default_rng(0)
    real, noise = folder / "digits_real.npz", folder / "digits_noise.npz"
    np.savez(real, x=x, y=y, x_test=xt, y_test=yt)
    np.savez(noise, x=x, y=y, x_test=rng.random(xt.shape).astype(np.float32),
             y_test=rng.permutation(yt))  # fmt: skip
    return real, noise


def _has_val() -> bool:
    import inspect

    return "val_fraction" in inspect.signature(load_dataset).parameters


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", default="lrp,lrp_class,neggrad")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    methods = args.methods.split(",")
    lines = [
        "| request | method | forget % real / noise | retain % real / noise | weights identical |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        real, noise = npz_pair(Path(tmp))
        data = {"real": load_file(real, "npz"), "noise": load_file(noise, "npz")}
        recipe = default_recipe("mlp")
        model, _ = train_new_model(data["real"], "mlp", recipe, seed=0, device="cpu")
        for rname, req in REQUESTS.items():
            out = {}
            for v, d in data.items():
                comp = compare(d, model, recipe, req, methods, seed=0, include_retrain=False,
                               device="cpu")  # fmt: skip
                out[v] = {r.method: r for r in comp.results}
            for m in methods:
                a, b = out["real"][m], out["noise"][m]
                if a.error or b.error:
                    lines.append(f"| {rname} | {m} | {a.error or b.error} | | |")
                    continue
                same = _hash(a.model) == _hash(b.model)
                lines.append(
                    f"| {rname} | {m} | {a.metrics['forget_acc']:.1f} / "
                    f"{b.metrics['forget_acc']:.1f} | {a.metrics['retain_acc']:.1f} / "
                    f"{b.metrics['retain_acc']:.1f} | {'yes' if same else '**no**'} |"
                )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
