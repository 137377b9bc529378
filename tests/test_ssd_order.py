"""SSD does not depend on how the training set happens to be stored.

The importances are means of squared *batch* gradients, so they depend on which samples share a
batch. SSD lays D out as the authors do (retain, then forget, unshuffled; by class for class
forgetting) in an order fixed by the samples' content: the same data stored shuffled or sorted
by class must give bit-identical dampened weights.
"""

from __future__ import annotations

import pytest
import torch

from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import UnlearnTask, run_method
from unlearn_core.methods.ssd import authors_layout, content_keys, importances
from unlearn_core.models import weights_hash
from unlearn_core.training import TrainConfig, batches

RECIPE = TrainConfig(epochs=1)


#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _reordered(data: Dataset, perm: torch.Tensor, name: str) -> Dataset:
    return Dataset(
        name,
        data.x_train[perm],
        data.y_train[perm],
        data.x_test,
        data.y_test,
        data.classes,
        data.kind,
    )


@pytest.fixture(scope="module")
def stored(digits):
    """The same training set in three storage orders, with each order's permutation."""
    shuffled = torch.randperm(digits.n_train, generator=torch.Generator().manual_seed(7))
    by_class = torch.argsort(digits.y_train, stable=True)
    return {
        "as loaded": (digits, torch.arange(digits.n_train)),
        "shuffled": (_reordered(digits, shuffled, "digits-shuffled"), shuffled),
        "by class": (_reordered(digits, by_class, "digits-by-class"), by_class),
    }


def _run(data: Dataset, request: ForgetRequest, model, alpha: float):
    task = UnlearnTask(data, make_split(data, request), RECIPE)
    return run_method("ssd", model, task, {"alpha": alpha}, seed=0)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    pb = dict(b.named_parameters())
    return all(torch.equal(p, pb[n]) for n, p in a.named_parameters())


def test_class_forgetting_gives_identical_weights_in_every_storage_order(stored, digits_mlp):
    runs = {
        k: _run(d, ForgetRequest(classes=(3,)), digits_mlp, 3.0) for k, (d, _) in stored.items()
    }
    ref = runs["as loaded"]
    assert ref.log["dampened"] > 0  # the check is not vacuous
    assert weights_hash(ref.model) != weights_hash(digits_mlp)
    for name, out in runs.items():
        assert _same_weights(out.model, ref.model), name
        assert out.log["max_ratio"] == ref.log["max_ratio"]
        assert out.log["per_parameter"] == ref.log["per_parameter"]


def test_random_forgetting_gives_identical_weights_in_every_storage_order(stored, digits_mlp):
    """The same samples (by content) forgotten: ids are mapped through each permutation."""
    chosen = make_split(stored["as loaded"][0], ForgetRequest(fraction=0.1, seed=0)).forget_idx
    runs = {}
    for name, (data, perm) in stored.items():
        where = torch.argsort(perm)  # old id -> new position
        request = ForgetRequest(indices=tuple(where[chosen].tolist()))
        runs[name] = _run(data, request, digits_mlp, 3.0)
    ref = runs["as loaded"]
    assert ref.log["dampened"] > 0 and ref.log["batch_size"] == 128
    for name, out in runs.items():
        assert _same_weights(out.model, ref.model), name


def test_storage_order_batching_would_not_be_order_free(stored, digits_mlp):
    """Why the layout is needed: batching D as stored gives different importances."""
    imp = {}
    for name in ("shuffled", "by class"):
        data, _ = stored[name]
        imp[name] = importances(digits_mlp, data.x_train, data.y_train, 64)
    assert not torch.allclose(imp["shuffled"]["head.weight"], imp["by class"]["head.weight"])


def test_authors_layout(stored):
    data, _ = stored["shuffled"]
    task = UnlearnTask(data, make_split(data, ForgetRequest(classes=(3, 5))), RECIPE)
    forget, full = authors_layout(task, by_class=True)
    y = data.y_train
    n_retain = task.split.n_retain
    # D = the retain set sorted by class, then the forget set (by class), unshuffled
    assert torch.equal(full[n_retain:], forget)
    assert sorted(full.tolist()) == list(range(data.n_train))
    assert torch.equal(y[full[:n_retain]], torch.sort(y[full[:n_retain]]).values)
    assert set(y[full[:n_retain]].tolist()) == set(range(10)) - {3, 5}
    assert y[forget].tolist() == sorted(y[forget].tolist())
    # within a class, by content: the same byte sequence whatever the storage order
    other, _ = stored["by class"]
    task2 = UnlearnTask(other, make_split(other, ForgetRequest(classes=(3, 5))), RECIPE)
    _, full2 = authors_layout(task2, by_class=True)
    assert torch.equal(data.x_train[full], other.x_train[full2])


def test_layout_for_random_forgetting_mixes_classes_and_can_sort_them(stored, digits_mlp):
    data, _ = stored["by class"]
    task = UnlearnTask(data, make_split(data, ForgetRequest(fraction=0.1, seed=1)), RECIPE)
    _, full = authors_layout(task, by_class=False)
    first = data.y_train[full[:128]]
    assert len(set(first.tolist())) >= 8  # a content-hash order is a mix, like random_split
    out = run_method("ssd", digits_mlp, task, {"layout": "by_class"}, seed=0)
    assert "sorted by class" in out.log["layout"]


def test_content_keys_name_samples_by_content():
    x = torch.rand(5, 1, 4, 4)
    keys = content_keys(x)
    assert len(set(keys)) == 5
    assert content_keys(x[[3, 1]]) == [keys[3], keys[1]]
    assert content_keys(x.double()) == keys  # same values, same key
    y = x.clone()
    y[2, 0, 0, 0] += 1e-3
    assert content_keys(y)[2] != keys[2]


def test_batches_in_layout_are_unshuffled():
    assert [b.tolist() for b in batches(5, 2, shuffle=False)] == [[0, 1], [2, 3], [4]]
