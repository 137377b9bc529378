"""Adaptive SSD (``ssd_adaptive``): the threshold on a hand-made importance vector, the method
doing exactly that on a real model, and independence of storage order and of the test set."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import UnlearnTask, get_method, run_method
from unlearn_core.methods.ssd import dampen, layout_importances
from unlearn_core.methods.ssd_adaptive import adaptive_alpha, assd_percentile, importance_ratios
from unlearn_core.models import clone_model, weights_hash
from unlearn_core.training import TrainConfig

RECIPE = TrainConfig(epochs=1)

#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_percentile_is_100_minus_log_of_the_forget_share():
    # the authors' share_off = ln(1 + 100 * |D_f| / |D|)
    assert assd_percentile(1, 100) == pytest.approx(100 - math.log(2), abs=1e-12)
    assert assd_percentile(130, 1300) == pytest.approx(100 - math.log(11), abs=1e-12)
    assert assd_percentile(1, 10_000) == pytest.approx(100 - math.log(1.01), abs=1e-12)


def test_alpha_on_a_hand_made_importance_vector():
    """Ratios I_f / I_D: 51 zeros and 1..50 (kept), plus 0/0 and 1/0 (dropped), over two
    tensors. |D_f| / |D| = 1 / 100, so p = 100 - ln 2; sorted, the 101 finite ratios hold k - 50
    at index k >= 50, and linear interpolation at position p gives 50 - ln 2."""
    f_a = torch.cat([torch.zeros(51), torch.arange(1.0, 26.0), torch.tensor([0.0, 3.0])])
    d_a = torch.cat([torch.full((51,), 2.0), torch.ones(25), torch.tensor([0.0, 0.0])])
    f_b = torch.arange(26.0, 51.0).reshape(5, 5)
    d_b = torch.ones(5, 5)
    forget, full = {"a": f_a, "b": f_b}, {"a": d_a, "b": d_b}
    ratios = importance_ratios(forget, full)
    assert ratios.size == 101 and (ratios == 0).sum() == 51
    alpha, p, n = adaptive_alpha(forget, full, n_forget=1, n_train=100)
    assert p == pytest.approx(100 - math.log(2))
    assert n == 101
    assert alpha == pytest.approx(50 - math.log(2), rel=1e-6)
    # the order of the tensors and of their entries does not matter
    perm = torch.randperm(len(f_a), generator=torch.Generator().manual_seed(0))
    again, _, _ = adaptive_alpha(
        {"b": f_b.flip(0), "a": f_a[perm]}, {"b": d_b, "a": d_a[perm]}, n_forget=1, n_train=100
    )
    assert again == alpha


def test_nothing_finite_selects_nothing():
    alpha, _, n = adaptive_alpha({"w": torch.zeros(3)}, {"w": torch.zeros(3)}, 1, 10)
    assert n == 0 and alpha == math.inf


@pytest.mark.parametrize("reference", ["retain", "train"])
@pytest.mark.parametrize(
    "request_", [ForgetRequest(classes=(3,)), ForgetRequest(fraction=0.1, seed=0)]
)
def test_method_dampens_with_the_adaptive_alpha_and_lambda_1(
    digits, digits_mlp, request_, reference
):
    task = UnlearnTask(digits, make_split(digits, request_), RECIPE)
    out = run_method("ssd_adaptive", digits_mlp, task, {"reference": reference}, seed=0)
    imp = layout_importances(
        clone_model(digits_mlp), task, 0, "authors", retain_only=reference == "retain"
    )
    n_f, n_r = task.split.n_forget, task.split.n_retain
    assert imp.n_forget == n_f and imp.n_full == (n_r if reference == "retain" else n_f + n_r)
    alpha, p, _ = adaptive_alpha(imp.forget, imp.full, n_f, n_f + n_r)  # share of D either way
    assert out.log["alpha"] == alpha and out.log["percentile"] == p and out.log["lam"] == 1.0
    expected = clone_model(digits_mlp)
    per_param = dampen(expected, imp.forget, imp.full, alpha, 1.0)
    assert out.log["per_parameter"] == per_param
    assert out.log["dampened"] > 0  # not vacuous
    assert weights_hash(out.model) == weights_hash(expected)


def test_default_reference_is_the_retain_set():
    assert get_method("ssd_adaptive").spec.resolve()["reference"] == "retain"


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    pb = dict(b.named_parameters())
    return all(torch.equal(p, pb[n]) for n, p in a.named_parameters())


def test_independent_of_storage_order(digits, digits_mlp):
    """The same data stored shuffled or sorted by class, the same samples forgotten (ids mapped
    through each permutation): bit-identical weights and the same alpha."""
    orders = {
        "as loaded": torch.arange(digits.n_train),
        "shuffled": torch.randperm(digits.n_train, generator=torch.Generator().manual_seed(7)),
        "by class": torch.argsort(digits.y_train, stable=True),
    }
    chosen = make_split(digits, ForgetRequest(fraction=0.1, seed=0)).forget_idx
    for request in (ForgetRequest(classes=(3,)), None):
        runs = {}
        for name, perm in orders.items():
            data = replace(
                digits,
                name=f"digits-{name}",
                x_train=digits.x_train[perm],
                y_train=digits.y_train[perm],
            )
            where = torch.argsort(perm)  # old id -> new position
            req = request or ForgetRequest(indices=tuple(where[chosen].tolist()))
            task = UnlearnTask(data, make_split(data, req), RECIPE)
            runs[name] = run_method("ssd_adaptive", digits_mlp, task, seed=0)
        ref = runs["as loaded"]
        assert ref.log["dampened"] > 0
        for name, out in runs.items():
            assert _same_weights(out.model, ref.model), (request, name)
            assert out.log["alpha"] == ref.log["alpha"], (request, name)


def test_test_set_does_not_matter(digits, digits_mlp):
    noise = replace(
        digits,
        x_test=torch.rand(digits.x_test.shape, generator=torch.Generator().manual_seed(1)),
        y_test=digits.y_test[torch.randperm(len(digits.y_test))],
    )
    outs = [
        run_method(
            "ssd_adaptive",
            digits_mlp,
            UnlearnTask(d, make_split(d, ForgetRequest(classes=(3,))), RECIPE),
            seed=0,
        )
        for d in (digits, noise)
    ]
    assert _same_weights(outs[0].model, outs[1].model)
