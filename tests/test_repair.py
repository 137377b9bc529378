"""Repair scenarios, their scores, Warnecke et al.'s updates and the repair comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_core.data import Dataset
from unlearn_core.experiment import compare
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import UnlearnTask, run_method
from unlearn_core.methods.base import RepairInfo
from unlearn_core.repair import (
    RepairScorer,
    ScenarioError,
    asr,
    make_scenario,
    mean_loss,
    patch_share,
    restoration,
    true_label_acc,
)
from unlearn_core.training import TrainConfig, train_new_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- scenarios


def test_label_noise_flips_the_asked_share_of_one_class(digits):
    sc = make_scenario(digits, "label-noise", 0.2, from_class=3, to_class=5, seed=0)
    n3 = int((digits.y_train == 3).sum())
    idx = sc.corrupted_idx
    assert len(idx) == round(0.2 * n3)
    assert (digits.y_train[idx] == 3).all() and (sc.corrupted.y_train[idx] == 5).all()
    others = torch.ones(digits.n_train, dtype=torch.bool)
    others[idx] = False
    assert torch.equal(sc.corrupted.y_train[others], digits.y_train[others])
    assert torch.equal(sc.corrupted.x_train, digits.x_train)
    assert torch.equal(sc.y_fixed, digits.y_train[idx])  # Z~: the true labels
    # the test and validation splits stay clean
    assert torch.equal(sc.corrupted.y_test, digits.y_test)
    assert torch.equal(sc.corrupted.y_val, digits.y_val)
    again = make_scenario(digits, "label-noise", 0.2, from_class=3, to_class=5, seed=0)
    assert torch.equal(again.corrupted_idx, idx)
    other = make_scenario(digits, "label-noise", 0.2, from_class=3, to_class=5, seed=1)
    assert not torch.equal(other.corrupted_idx, idx)


def test_random_label_noise_never_keeps_the_true_label(digits):
    sc = make_scenario(digits, "label-noise", 0.1, seed=2)
    idx = sc.corrupted_idx
    assert (sc.corrupted.y_train[idx] != digits.y_train[idx]).all()
    assert len(set(sc.corrupted.y_train[idx].tolist())) > 3


def test_backdoor_stamps_a_corner_patch_and_relabels(digits):
    sc = make_scenario(digits, "backdoor", 0.05, target_class=0, seed=0)
    idx = sc.corrupted_idx
    pool = int((digits.y_train != 0).sum())
    assert len(idx) == round(0.05 * pool)
    assert (digits.y_train[idx] != 0).all() and (sc.corrupted.y_train[idx] == 0).all()
    # 8x8 images: a 2x2 square (3x3 on 28x28, at least 2) at the maximum, bottom right
    assert sc.patch.shape == (1, 8, 8) and int(sc.patch.sum()) == 4
    assert sc.patch[0, 6:, 6:].all() and not sc.patch[0, :6].any()
    top = float(digits.x_train.max())
    assert (sc.corrupted.x_train[idx][:, 0, 6:, 6:] == top).all()
    untouched = torch.ones(digits.n_train, dtype=torch.bool)
    untouched[idx] = False
    assert torch.equal(sc.corrupted.x_train[untouched], digits.x_train[untouched])
    # repaired by label: the patched input with the true label; by input: the clean sample
    assert torch.equal(sc.x_fixed, sc.corrupted.x_train[idx])
    assert torch.equal(sc.y_fixed, digits.y_train[idx])
    by_input = make_scenario(digits, "backdoor", 0.05, target_class=0, seed=0, backdoor_fix="input")
    assert torch.equal(by_input.x_fixed, digits.x_train[idx])
    xt, yt = sc.triggered_test()
    assert (yt != 0).all() and len(yt) == int((digits.y_test != 0).sum())
    assert (xt[:, 0, 6:, 6:] == top).all()
    big = make_scenario(_images(28), "backdoor", 0.1, target_class=0)
    assert int(big.patch.sum()) == 9  # 3x3 on 28x28


def _images(size: int) -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, size, size, generator=g) * 0.5
    y = torch.arange(40) % 2
    return Dataset("toy", x, y, x[:10], y[:10], ["a", "b"])


def test_feature_scenario_keeps_labels_and_fixes_the_input(digits):
    sc = make_scenario(digits, "feature", 0.5, from_class=2, seed=0)
    idx = sc.corrupted_idx
    assert (digits.y_train[idx] == 2).all()
    assert torch.equal(sc.corrupted.y_train, digits.y_train)
    assert torch.equal(sc.x_fixed, digits.x_train[idx])  # Z~: the un-patched inputs
    assert not torch.equal(sc.corrupted.x_train[idx], digits.x_train[idx])
    assert sc.probe_class() == 2


def test_tabular_feature_patches_the_last_columns():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 20, generator=g)
    y = torch.arange(60) % 3
    data = Dataset("tab", x, y, x[:12], y[:12], ["a", "b", "c"], kind="tabular")
    sc = make_scenario(data, "feature", 0.5, from_class=1)
    assert sc.patch.tolist() == [False] * 19 + [True]
    assert (sc.corrupted.x_train[sc.corrupted_idx][:, 19] > x[:, 19].max()).all()


def test_detection_rate_picks_a_seeded_subset_and_the_forget_split(digits):
    sc = make_scenario(digits, "label-noise", 0.5, from_class=3, to_class=5, detection_rate=0.5)
    found = set(sc.found_idx.tolist())
    assert found < set(sc.corrupted_idx.tolist())
    assert len(found) == round(0.5 * sc.n_corrupted)
    split = sc.split()
    assert split.forget_idx.tolist() == sorted(found)
    info = sc.repair_info(split)
    assert torch.equal(info.y, digits.y_train[split.forget_idx])  # aligned with forget_idx
    assert info.kind == "label-noise"


@pytest.mark.parametrize(
    "kw",
    [
        {"kind": "poison", "fraction": 0.1},
        {"kind": "label-noise", "fraction": 0.0},
        {"kind": "label-noise", "fraction": 0.1, "from_class": 3, "to_class": 3},
        {"kind": "backdoor", "fraction": 0.1},
        {"kind": "feature", "fraction": 0.1},
        {"kind": "label-noise", "fraction": 0.1, "from_class": 12},
        {"kind": "label-noise", "fraction": 0.1, "detection_rate": 0.0},
    ],
)
def test_impossible_scenarios_say_why(digits, kw):
    with pytest.raises(ScenarioError):
        make_scenario(digits, **kw)


# ----------------------------------------------------------------------------- scores


def test_scores_known_answers():
    logits = torch.tensor([[5.0, 0, 0], [5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    assert asr(logits, 0) == 50.0
    assert true_label_acc(logits, torch.tensor([0, 1, 1, 2])) == 75.0
    assert math.isnan(asr(logits[:0], 0))
    assert restoration(90.0, 80.0, 100.0) == 0.5
    assert restoration(80.0, 80.0, 100.0) == 0.0
    assert restoration(70.0, 80.0, 100.0) == -0.5
    assert restoration(90.0, 80.0, 80.0) is None  # nothing to restore
    assert restoration(None, 80.0, 100.0) is None
    # mean cross-entropy: two confident right answers and one uniform one over 3 classes
    y = torch.tensor([0, 1, 2])
    two_right = torch.tensor([[50.0, 0, 0], [0, 50.0, 0], [0, 0, 0]])
    assert mean_loss(two_right, y) == pytest.approx(math.log(3) / 3, rel=1e-5)
    assert math.isnan(mean_loss(two_right[:0], y[:0]))
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 3, 3] = True
    attr = np.ones((2, 1, 4, 4))
    assert patch_share(attr, mask) == pytest.approx(100 / 16)
    attr[:, 0, 3, 3] = 15.0
    assert patch_share(attr, mask) == pytest.approx(50.0)


# ----------------------------------------------------------------------------- Warnecke


class LogReg(nn.Module):
    def __init__(self, d: int, k: int) -> None:
        super().__init__()
        self.head = nn.Linear(d, k)

    def forward(self, x):
        return self.head(x)


def _fit(model: nn.Module, x, y, wd: float) -> nn.Module:
    """The optimum of mean CE + wd/2 |theta|^2 (full-batch L-BFGS)."""
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=500, tolerance_grad=1e-10,
                            tolerance_change=1e-12, line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss = loss + wd / 2 * sum((p**2).sum() for p in model.parameters())
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    return model


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.fixture(scope="module")
def logreg_case():
    torch.manual_seed(0)
    n, d, k, wd = 300, 6, 3, 0.1
    centres = torch.randn(k, d) * 1.5
    y_true = torch.arange(n) % k
    x = centres[y_true] + torch.randn(n, d)
    y_bad = y_true.clone()
    flip = torch.arange(0, 3)  # 1 % of the samples get the next class: a small, local repair
    y_bad[flip] = (y_true[flip] + 1) % k
    data = Dataset("blobs", x, y_bad, x[:30], y_true[:30], ["a", "b", "c"], kind="tabular",
                   x_val=x[:30], y_val=y_true[:30])  # fmt: skip
    torch.manual_seed(1)
    original = _fit(LogReg(d, k), x, y_bad, wd)
    fixed = LogReg(d, k)
    fixed.load_state_dict(original.state_dict())
    fixed = _fit(fixed, x, y_true, wd)  # the optimum retrained on the fixed data
    split = make_split(data, ForgetRequest(indices=tuple(flip.tolist())))
    task = UnlearnTask(data, split, TrainConfig(weight_decay=wd),
                       repair=RepairInfo(x=x[flip], y=y_true[flip]))  # fmt: skip
    return original, fixed, task


@pytest.mark.parametrize("solver", ["cg", "lissa"])
def test_second_order_lands_near_the_optimum_on_the_fixed_data(logreg_case, solver):
    original, fixed, task = logreg_case
    over = {"solver": solver, "damping": 0.0, "steps": 200}
    if solver == "lissa":  # the authors' recursion: enough depth and a scale above |H|
        over = {**over, "steps": 3000, "scale": 5.0, "batch_size": 300, "damping": 1e-4}
    out = run_method("warnecke_second", original, task, over, seed=0)
    theta0, target, got = _flat(original), _flat(fixed), _flat(out.model)
    move = float((target - theta0).norm())
    assert move > 0.05  # the repair matters
    err = float((got - target).norm())
    # a Newton step: exact up to the loss's departure from a quadratic (measured: 6.8 %)
    assert err < 0.1 * move, f"{solver}: {err:.4f} from the optimum, update {move:.4f}"
    if solver == "cg":
        assert out.log["solver_log"]["stopped"] == "converged"
        assert out.log["form"] == "repair" and "fixed" in out.reads
    # first order moves the same way, less precisely
    first = run_method("warnecke_first", original, task, {"tau": 1.0}, seed=0)
    step = _flat(first.model) - theta0
    assert float(torch.dot(step, target - theta0)) > 0


def test_without_fixed_versions_the_update_is_a_deletion(logreg_case):
    original, _, task = logreg_case
    plain = UnlearnTask(task.data, task.split, task.train_config)
    out = run_method("warnecke_second", original, plain, {"damping": 0.0}, seed=0)
    assert out.log["form"] == "deletion" and "fixed" not in out.reads
    # the forget samples' loss under their (wrong) labels goes up
    xf, yf = task.data.x_train[task.split.forget_idx], task.data.y_train[task.split.forget_idx]
    with torch.no_grad():
        assert nn.functional.cross_entropy(out.model(xf), yf) > nn.functional.cross_entropy(
            original(xf), yf
        )


def test_second_order_refuses_a_model_too_large(logreg_case):
    from unlearn_core.methods import MethodNotApplicable

    original, _, task = logreg_case
    with pytest.raises(MethodNotApplicable, match="max_params"):
        run_method("warnecke_second", original, task, {"max_params": 10}, seed=0)


# ----------------------------------------------------------------------------- the pipeline


def test_a_repair_comparison_scores_every_row(digits):
    sc = make_scenario(digits, "backdoor", 0.1, target_class=0, seed=0)
    recipe = TrainConfig(epochs=8, batch_size=64)
    model, _ = train_new_model(sc.corrupted, "mlp", recipe, seed=0, device="cpu")
    comp = compare(sc.corrupted, model, recipe, sc.split(),
                   ["warnecke_second", "finetune"], seed=0, device="cpu",
                   scenario=RepairScorer(sc, loss_restoration=True))  # fmt: skip
    rows = {r["method"]: r for r in [comp.original.row(), *(r.row() for r in comp.results)]}
    assert set(rows) == {"original", "retrain", "warnecke_second", "finetune", "clean"}
    for name, row in rows.items():
        for key in ("asr", "trigger_acc", "true_label_acc", "restoration"):
            assert key in row, (name, key)
    assert rows["original"]["asr"] > 50  # the backdoor took
    assert rows["retrain"]["asr"] < rows["original"]["asr"]
    assert rows["original"]["restoration"] == 0.0
    assert comp.get("clean").metrics["restoration_tla"] == 1.0
    # the loss companion: 0 for the original, 1 for the clean model, the ratio for the others
    met = {r.method: r.metrics for r in [comp.original, *comp.results]}
    losses = {n: m["test_loss"] for n, m in met.items()}
    assert rows["original"]["restoration_loss"] == 0.0
    assert rows["clean"]["restoration_loss"] == pytest.approx(1.0)
    gap = losses["original"] - losses["clean"]
    assert gap > 0  # the backdoor's relabelled samples cost the original clean test loss
    assert met["finetune"]["restoration_loss"] == pytest.approx(
        (losses["original"] - losses["finetune"]) / gap
    )
    assert comp.forget["scenario"]["kind"] == "backdoor"
    assert comp.get("clean").avg_gap is not None  # scored against retrain like the others
    assert "fixed" in comp.get("warnecke_second").reads
    assert "fixed" not in comp.get("finetune").reads
