"""SSD, Fisher forgetting, LRP neuron-path perturbation and SISA on real digits models."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import (
    MethodNotApplicable,
    MethodSpec,
    UnlearnTask,
    get_method,
    run_method,
)
from unlearn_core.methods.fisher import expected_fisher
from unlearn_core.methods.lrp_npp import (
    captum_head_relevance,
    class_forgotten,
    describe_log,
    head_relevance,
    unit_layer,
)
from unlearn_core.methods.sisa import VoteEnsemble, assign, stage_epochs
from unlearn_core.methods.ssd import dampen, importances
from unlearn_core.models import build_model, weights_hash
from unlearn_core.training import TrainConfig, evaluate

RECIPE = TrainConfig(epochs=6, batch_size=32)  # SISA's shard training in these tests


#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _task(data: Dataset, request: ForgetRequest) -> UnlearnTask:
    return UnlearnTask(data, make_split(data, request), RECIPE)


@pytest.fixture(scope="module")
def class_task(digits):
    return _task(digits, ForgetRequest(classes=(3,)))


#: SSD: this briefly trained fixture's largest I_f / I_D is 9.2, under the paper's alpha of 10
#: (alpha 3 dampens 285 weights; lambda 1 as in the paper, not the MLP preset's 2). LRA-NPP as
#: in the paper: the authors' k/n shares pick too few of the MLP's 128 units to forget the
#: class, 20% / 25% do.
CLASS_OVERRIDES = {"ssd": {"alpha": 3.0, "lam": 1.0}, "lrp": {"k_share": 0.2, "n_share": 0.25}}


@pytest.mark.parametrize("name", ["ssd", "fisher", "lrp", "lrp_class", "lrp_until", "sisa"])
def test_class_forgetting_keeps_original_and_drops_forget_accuracy(name, digits_mlp, class_task):
    xf, yf = class_task.forget
    xr, yr = class_task.retain
    before = weights_hash(digits_mlp)
    assert evaluate(digits_mlp, xf, yf) > 95.0
    out = run_method(name, digits_mlp, class_task, CLASS_OVERRIDES.get(name, {}), seed=0)
    assert weights_hash(digits_mlp) == before
    assert evaluate(out.model, xf, yf) < 25.0  # a no-op keeps > 95
    assert evaluate(out.model, xr, yr) > 85.0
    assert json_friendly(out.log)


def json_friendly(obj) -> bool:
    import json

    json.dumps(obj)
    return True


@pytest.mark.parametrize("name", ["ssd", "fisher", "lrp", "lrp_class", "lrp_until"])
def test_same_seed_same_model(name, digits_mlp, class_task):
    a = run_method(name, digits_mlp, class_task, seed=3)
    b = run_method(name, digits_mlp, class_task, seed=3)
    assert weights_hash(a.model) == weights_hash(b.model)
    assert a.log == b.log


def test_fisher_noise_follows_the_seed(digits_mlp, digits):
    task = _task(digits, ForgetRequest(fraction=0.1, seed=0))
    a = run_method("fisher", digits_mlp, task, seed=0)
    b = run_method("fisher", digits_mlp, task, seed=1)
    assert weights_hash(a.model) != weights_hash(b.model)
    assert a.log["class_rows_reset"] == []


def test_fisher_log_says_how_much_of_the_noise_is_capped(digits_mlp, class_task):
    out = run_method("fisher", digits_mlp, class_task, seed=0)
    assert 0.0 <= out.log["capped_fraction"] <= 1.0
    per = out.log["per_parameter"]
    assert all(0.0 <= v["capped_fraction"] <= 1.0 for v in per.values())
    summary = get_method("fisher").spec.summary
    assert summary.startswith("Noise injection") and "not an influence" in summary


def test_fisher_resets_the_forgotten_class_row(digits_mlp, class_task):
    out = run_method("fisher", digits_mlp, class_task, seed=0)
    head = out.model.head
    assert out.log["class_rows_reset"] == [3]
    # mean 0, variance 1e-4 (std 0.01), far from the trained row
    row = torch.cat([head.weight[3], head.bias[3:4]]).detach()
    assert abs(float(row.mean())) < 0.005 and 0.007 < float(row.std()) < 0.013
    assert float(digits_mlp.head.weight[3].detach().std()) > 0.03


def test_expected_fisher_linear_shortcut_matches_per_sample_gradients(digits_mlp, digits):
    x = digits.x_train[:24]
    fast = expected_fisher(digits_mlp, x)
    generic = expected_fisher(digits_mlp, x, linear_shortcut=False)
    # the authors' way: batch size 1, loop over classes, weight by p(y|x)
    ref = {n: torch.zeros_like(p) for n, p in digits_mlp.named_parameters()}
    for i in range(len(x)):
        out = digits_mlp(x[i : i + 1])
        prob = F.softmax(out, 1).detach()[0]
        for y in range(out.shape[1]):
            grads = torch.autograd.grad(
                F.cross_entropy(out, torch.tensor([y])),
                list(digits_mlp.parameters()),
                retain_graph=True,
            )
            for (n, _), g in zip(digits_mlp.named_parameters(), grads, strict=True):
                ref[n] += prob[y] * g.pow(2)
    for n in ref:
        scale = ref[n].abs().max()
        torch.testing.assert_close(fast[n], ref[n] / len(x), atol=1e-5 * scale, rtol=1e-4)
        torch.testing.assert_close(generic[n], ref[n] / len(x), atol=1e-5 * scale, rtol=1e-4)


def test_expected_fisher_conv_layers_use_the_generic_path():
    torch.manual_seed(0)
    cnn = build_model("cnn", (1, 8, 8), 4, channels=(2, 3), fc=5).eval()
    x = torch.rand(6, 1, 8, 8)
    fast = expected_fisher(cnn, x)
    generic = expected_fisher(cnn, x, linear_shortcut=False)
    assert set(fast) == {n for n, _ in cnn.named_parameters()}
    for n in fast:
        torch.testing.assert_close(fast[n], generic[n], atol=1e-7, rtol=1e-4)


# --- SSD ---------------------------------------------------------------------------------


def test_ssd_importances_are_mean_squared_batch_gradients():
    lin = nn.Linear(2, 3)
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]])
    y = torch.tensor([0, 2, 1])
    imp = importances(lin, x, y, batch_size=2)  # batches [0, 1] and [2]
    expected_w = torch.zeros(3, 2)
    expected_b = torch.zeros(3)
    for idx in ([0, 1], [2]):
        p = F.softmax(lin(x[idx]), 1).detach()
        delta = (p - F.one_hot(y[idx], 3)) / len(idx)  # d mean-CE / d logits
        expected_w += (delta.T @ x[idx]).pow(2)
        expected_b += delta.sum(0).pow(2)
    torch.testing.assert_close(imp["weight"], expected_w / 2)
    torch.testing.assert_close(imp["bias"], expected_b / 2)


def test_ssd_dampens_exactly_the_selected_parameters():
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        lin.bias.copy_(torch.tensor([5.0, 6.0]))
    i_d = {"weight": torch.tensor([[1.0, 1.0], [1.0, 0.0]]), "bias": torch.tensor([2.0, 1.0])}
    i_f = {"weight": torch.tensor([[20.0, 5.0], [11.0, 0.0]]), "bias": torch.tensor([30.0, 10.0])}
    info = dampen(lin, i_f, i_d, alpha=10.0, lam=1.0)
    # selected: I_f > 10 I_D -> w[0,0] (20 > 10), w[1,0] (11 > 10), b[0] (30 > 20);
    # not b[1] (10 = 10), w[0,1] (5 < 10), w[1,1] (0 > 0 is false)
    torch.testing.assert_close(lin.weight, torch.tensor([[1 / 20, 2.0], [3 / 11, 4.0]]))
    torch.testing.assert_close(lin.bias, torch.tensor([5 * 2 / 30, 6.0]))
    assert info["weight"]["dampened"] == 2 and info["bias"]["dampened"] == 1
    # lambda large enough caps the factor at 1: selected but unchanged
    lin2 = nn.Linear(2, 2)
    before = lin2.weight.detach().clone()
    dampen(lin2, i_f, i_d, alpha=10.0, lam=100.0)
    torch.testing.assert_close(lin2.weight, before)


def test_ssd_logs_per_layer_fractions(digits_mlp, class_task):
    out = run_method("ssd", digits_mlp, class_task, {"alpha": 3.0}, seed=0)
    layers = out.log["per_layer"]
    assert set(layers) == {"body.1", "body.3", "head"}
    assert sum(v["dampened"] for v in layers.values()) == out.log["dampened"] > 0
    assert all(0.0 <= v["fraction"] <= 1.0 for v in layers.values())
    assert out.log["batch_size"] == 64 and "sorted by class" in out.log["layout"]
    # alpha at the largest ratio selects nothing; just under it, something
    ratio = out.log["max_ratio"]
    top = run_method("ssd", digits_mlp, class_task, {"alpha": ratio}, seed=0)
    assert top.log["dampened"] == 0 and weights_hash(top.model) == weights_hash(digits_mlp)
    assert run_method("ssd", digits_mlp, class_task, {"alpha": ratio * 0.99}).log["dampened"] > 0


# --- LRP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lrp", "lrp_class", "lrp_until"])
def test_lrp_is_class_only(name, digits_mlp, digits):
    task = _task(digits, ForgetRequest(fraction=0.1, seed=0))
    with pytest.raises(MethodNotApplicable, match="whole classes"):
        run_method(name, digits_mlp, task)


def test_lrp_log_and_zeroed_weights(digits_mlp, class_task):
    out = run_method("lrp", digits_mlp, class_task, seed=0)
    log = out.log
    width = digits_mlp.head.in_features
    assert log["unit_layer"] == "body.3" and log["layer"] == "head" and log["variant"] == "paper"
    assert log["rule"] == "fixed" and log["n_max"] is None
    shares = (out.params["k_share"], out.params["n_share"])  # the paper's MNIST shares
    assert shares == (0.1, 0.16)
    assert (log["k"], log["n"]) == (round(shares[0] * width), round(shares[1] * width))
    assert len(log["relevance_mean"]) == len(log["counts"]) == width
    assert sum(log["counts"]) == log["n_samples"] * log["k"]
    assert log["n_samples"] == min(36, int((class_task.data.y_val == 3).sum()))
    chosen = log["neurons"]
    assert 0 < len(chosen) <= log["n"]
    counts = torch.tensor(log["counts"])
    # the chosen units are the most frequent ones
    assert counts[chosen].min() >= max(
        (c for j, c in enumerate(log["counts"]) if j not in chosen), default=0
    )
    body = out.model.body[3]
    idx = torch.tensor(chosen)
    assert (body.weight[idx] == 0).all() and (out.model.head.weight[3, idx] == 0).all()
    assert torch.equal(body.bias, digits_mlp.body[3].bias)  # bias kept
    untouched = torch.ones(width, dtype=torch.bool)
    untouched[idx] = False
    assert torch.equal(body.weight[untouched], digits_mlp.body[3].weight[untouched])
    others = [c for c in range(10) if c != 3]
    assert torch.equal(out.model.head.weight[others], digits_mlp.head.weight[others])


def test_lrp_class_variant_and_noise_modes(digits_mlp, class_task):
    out = run_method("lrp_class", digits_mlp, class_task, seed=0)
    assert out.log["variant"] == "class weights only" and out.log["unit_layer"] is None
    width = digits_mlp.head.in_features
    k_share, n_share = out.params["k_share"], out.params["n_share"]
    assert (out.log["k"], out.log["n"]) == (round(k_share * width), round(n_share * width))
    idx = torch.tensor(out.log["neurons"])
    assert (out.model.head.weight[3, idx] == 0).all()
    assert torch.equal(out.model.body[3].weight, digits_mlp.body[3].weight)
    changed = (out.model.head.weight != digits_mlp.head.weight).nonzero().tolist()
    assert {r for r, _ in changed} == {3}
    # same selection, same code: the variants differ only in the weights they cut
    same_kn = {"k_share": k_share, "n_share": n_share}
    paper = run_method("lrp", digits_mlp, class_task, same_kn, seed=0)
    assert paper.log["neurons"] == out.log["neurons"]
    noisy = run_method("lrp", digits_mlp, class_task, {"mode": "laplace"}, seed=0)
    zeroed = run_method("lrp", digits_mlp, class_task, seed=0)
    assert noisy.log["neurons"] == zeroed.log["neurons"]
    idx = torch.tensor(noisy.log["neurons"])
    w = noisy.model.body[3].weight[idx]
    assert (w != digits_mlp.body[3].weight[idx]).all() and (w != 0).all()


def test_lrp_until_forgotten_stops_at_the_first_unit_that_forgets(digits_mlp, digits, class_task):
    cfg = {"n_max_share": 0.5, "k_share": 0.2, "weights": "paper"}
    out = run_method("lrp_until", digits_mlp, class_task, cfg, seed=0)
    entry = out.log["per_class"][0]
    chosen, analysed = entry["neurons"], digits.x_val[entry["val_indices"]]
    assert out.log["rule"] == "until forgotten" and out.log["n"] is None
    assert out.log["n_max"] == 64
    assert entry["forgotten_on_analysed"] and 0 < len(chosen) <= 64
    assert class_forgotten(out.model, analysed, 3)
    # the units are the ranking's first ones, and one unit fewer does not forget yet
    counts, mean = np.array(entry["counts"]), np.array(entry["relevance_mean"])
    order = np.lexsort((np.arange(len(counts)), -mean, -counts))
    assert chosen == order[: len(chosen)].tolist()
    fewer = copy.deepcopy(digits_mlp)
    idx = torch.tensor(chosen[:-1])
    with torch.no_grad():
        fewer.body[3].weight[idx] = 0.0
        fewer.head.weight[3, idx] = 0.0
    assert not class_forgotten(fewer, analysed, 3)
    # a cap too small to forget is reported, not hidden
    capped = run_method("lrp_until", digits_mlp, class_task, {**cfg, "n_max_share": 0.01}, seed=0)
    assert capped.log["per_class"][0]["forgotten_on_analysed"] is False
    assert len(capped.log["neurons"]) == round(0.01 * digits_mlp.head.in_features)
    said = describe_log(capped.log, list(digits.classes))
    assert "reached its cap" in said and f"class {digits.classes[3]}" in said
    assert "reached its cap" not in describe_log(out.log, list(digits.classes))


def test_lrp_until_with_class_weights_cuts_only_the_class_row(digits_mlp, class_task):
    cfg = {"n_max_share": 0.5, "k_share": 0.2, "weights": "class weights"}
    out = run_method("lrp_until", digits_mlp, class_task, cfg, seed=0)
    assert out.log["variant"] == "class weights only" and out.log["rule"] == "until forgotten"
    changed = (out.model.head.weight != digits_mlp.head.weight).nonzero().tolist()
    assert {r for r, _ in changed} == {3}
    assert torch.equal(out.model.body[3].weight, digits_mlp.body[3].weight)
    # the same ranking as lrp_class at the same k: the rule only decides how many units
    fixed = run_method("lrp_class", digits_mlp, class_task, {"k_share": 0.2}, seed=0)
    n = len(out.log["neurons"])
    assert out.log["per_class"][0]["counts"] == fixed.log["per_class"][0]["counts"]
    order = run_method("lrp_class", digits_mlp, class_task, {"k_share": 0.2, "n": n}, seed=0)
    assert sorted(order.log["neurons"]) == sorted(out.log["neurons"])


def test_lrp_is_the_paper_and_the_others_are_labelled():
    # the paper's k and n shares (MNIST CNN 50 and 80 of 512) are the spec's defaults
    specs = {n: get_method(n).spec for n in ("lrp", "lrp_class", "lrp_until")}
    assert (specs["lrp"].resolve()["k_share"], specs["lrp"].resolve()["n_share"]) == (0.1, 0.16)
    paper_shares = {"mlp": (0.1, 0.16), "cnn": (0.1, 0.16), "resnet18": (0.1, 0.2)}
    for arch, shares in paper_shares.items():  # MNIST for MLP and CNN, CIFAR-10 for ResNet
        cfg = specs["lrp"].resolve(arch=arch)
        assert (cfg["k_share"], cfg["n_share"]) == shares and cfg["n"] == 0
        assert specs["lrp"].preset(arch).status == "paper"
        assert "not calibrated" in specs["lrp"].preset(arch).note
    assert {p.name for p in specs["lrp"].params}.isdisjoint({"rule", "n_max_share", "weights"})
    assert [s.origin for s in specs.values()] == ["paper", "variant", "extension"]
    assert "variant" in specs["lrp_class"].label and "Variant" in specs["lrp_class"].paper
    assert "our extension" in specs["lrp_until"].label.lower()
    for spec in specs.values():
        assert spec.label.lower().count("variant") + spec.label.count("extension") == (
            spec.origin != "paper"
        )
    with pytest.raises(ValueError, match="origin"):
        MethodSpec("x", "x", "approximate", "", "", origin="ours")


def test_direct_relevance_equals_captum(digits_mlp, digits):
    feats = digits_mlp.features(digits.x_test[:8]).detach()
    pred = digits_mlp.head(feats).argmax(1)
    direct = head_relevance(feats, digits_mlp.head, pred, 0.1)
    batched = captum_head_relevance(feats, digits_mlp.head, pred, 0.1)
    torch.testing.assert_close(direct, batched, rtol=1e-4, atol=1e-6)
    single = torch.cat(
        [
            captum_head_relevance(feats[i : i + 1], digits_mlp.head, pred[i : i + 1])
            for i in range(8)
        ]
    )
    torch.testing.assert_close(batched, single)
    # captum through the run gives the same neurons as the direct formula
    task = _task(digits, ForgetRequest(classes=(5,)))
    a = run_method("lrp", digits_mlp, task, {"relevance": "captum"}, seed=1)
    b = run_method("lrp", digits_mlp, task, seed=1)
    assert a.log["neurons"] == b.log["neurons"]


def test_lrp_on_pooled_features_cuts_outgoing_weights(digits):
    torch.manual_seed(0)
    net = build_model("resnet18", digits.input_shape, 10, width=4).eval()
    assert unit_layer(net) is None
    task = _task(digits, ForgetRequest(classes=(2,)))
    out = run_method("lrp", net, task, {"n_samples": 8}, seed=0)
    idx = torch.tensor(out.log["neurons"])
    assert out.log["width"] == 32 and out.log["unit_layer"] is None
    assert (out.model.head.weight[:, idx] == 0).all()
    assert "every class" in out.log["perturbed"]
    variant = run_method("lrp_class", net, task, {"n_samples": 8}, seed=0)
    idx = torch.tensor(variant.log["neurons"])
    assert (variant.model.head.weight[2, idx] == 0).all()
    others = [c for c in range(10) if c != 2]
    assert torch.equal(variant.model.head.weight[others], net.head.weight[others])


def test_lrp_analyses_what_validation_images_exist_and_refuses_none(digits):
    keep = (digits.y_val != 4) | (torch.arange(digits.n_val) < 80)

    def with_val(name: str, rows: torch.Tensor) -> Dataset:
        return Dataset(
            name,
            digits.x_train,
            digits.y_train,
            digits.x_test,
            digits.y_test,
            digits.classes,
            x_val=digits.x_val[rows],
            y_val=digits.y_val[rows],
        )

    few = with_val("few", keep)
    n4 = int((few.y_val == 4).sum())
    assert 0 < n4 < 36
    model = build_model("mlp", few.input_shape, 10).eval()
    out = run_method("lrp", model, _task(few, ForgetRequest(classes=(4,))), seed=0)
    entry = out.log["per_class"][0]
    assert out.log["n_samples"] == n4 and entry["short_of_samples"]
    assert out.log["analysed_split"] == "validation" and "test_indices" not in entry
    assert (few.y_val[entry["val_indices"]] == 4).all() and "validation" in out.reads
    none = with_val("none", digits.y_val != 4)
    with pytest.raises(MethodNotApplicable, match="validation split has no image of class 4"):
        run_method("lrp", model, _task(none, ForgetRequest(classes=(4,))))
    bare = Dataset(
        "bare", digits.x_train, digits.y_train, digits.x_test, digits.y_test, digits.classes
    )
    with pytest.raises(MethodNotApplicable, match="no validation split"):
        run_method("lrp", model, _task(bare, ForgetRequest(classes=(4,))))


def test_lrp_describes_old_logs_that_analysed_test_images():
    old = {"n_samples": 36, "width": 128, "k": 13, "rule": "fixed", "neurons": [1, 2]}
    old["per_class"] = [{"class": 3, "test_indices": [0, 1], "forgotten_on_analysed": None}]
    assert "36 unseen test images" in describe_log(old)


# --- SISA ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_sample_sisa(digits_mlp, digits):
    parts = assign(digits.n_train, 5, 3, seed=0)
    sample = int(parts[2][1][0])  # shard 2, slice 2
    task = _task(digits, ForgetRequest(indices=(sample,)))
    return task, run_method("sisa", digits_mlp, task, seed=0)


def test_sisa_retrains_only_the_shard_of_a_forgotten_sample(one_sample_sisa, digits):
    _, out = one_sample_sisa
    log = out.log
    assert log["retrained_shards"] == [2] and log["n_retrained_shards"] == 1
    assert log["retrained_from_slice"] == {"2": 2} and log["stages_retrained"] == 2
    assert log["forget_per_shard"] == [0, 0, 1, 0, 0]
    assert sum(log["samples_per_shard"]) == digits.n_train - 1
    assert out.setup_seconds > 0
    assert isinstance(out.model, VoteEnsemble) and len(out.model.members) == 5
    assert evaluate(out.model, digits.x_test, digits.y_test) > 80.0
    feats = out.model.features(digits.x_test[:3])
    assert feats.shape == (3, out.model.feature_dim)


def test_sisa_is_deterministic(one_sample_sisa, digits_mlp):
    task, first = one_sample_sisa
    again = run_method("sisa", digits_mlp, task, seed=0)
    assert weights_hash(again.model) == weights_hash(first.model)


def test_vote_majority_and_ties_to_lowest_class():
    class Fixed(nn.Module):
        def __init__(self, cls: int) -> None:
            super().__init__()
            self.cls = cls
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return F.one_hot(torch.full((len(x),), self.cls), 4).float() + 0 * self.w

    x = torch.zeros(2, 1)
    tie = VoteEnsemble([Fixed(2), Fixed(1)])
    assert tie(x).argmax(1).tolist() == [1, 1]
    major = VoteEnsemble([Fixed(2), Fixed(1), Fixed(2)])
    assert major(x).argmax(1).tolist() == [2, 2]
    s = major.smoothing
    shares = torch.tensor([s, 1 + s, 2 + s, s]) / (3 + 4 * s)
    torch.testing.assert_close(F.softmax(major(x), 1)[0], shares)


def test_stage_epochs_follow_the_authors_schedule():
    assert stage_epochs(40, 3) == [20, 20, 20]
    assert stage_epochs(10, 4) == [4, 4, 4, 4]
    e = stage_epochs(7, 3)
    assert sum(e) == int(3 * 2 * 7 / 4) and max(e) - min(e) <= 1
    # about E passes over each sample: stage r sees r/R of the shard
    assert math.isclose(sum(ep * (r + 1) / 3 for r, ep in enumerate(stage_epochs(40, 3))), 40)


def test_sisa_refuses_more_stages_than_samples(digits_mlp, digits):
    tiny = Dataset(
        "tiny", digits.x_train[:6], digits.y_train[:6], digits.x_test, digits.y_test, digits.classes
    )
    task = UnlearnTask(tiny, make_split(tiny, ForgetRequest(indices=(0,))), RECIPE)
    with pytest.raises(MethodNotApplicable, match="at least"):
        run_method("sisa", digits_mlp, task, {"shards": 4, "slices": 2})
