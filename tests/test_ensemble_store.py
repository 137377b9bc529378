"""Ensembles trained once (issue 19): the ensemble store's round trip, checksums and races; the
audit reusing stored originals, retrains and unlearned models (same numbers), not reusing
retrains for another forget set, retraining a damaged member; ``unlearn runs ensembles``."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from unlearn_core.audit.executors import LocalExecutor
from unlearn_core.audit.pipeline import run_audit
from unlearn_core.audit.records import AuditResult
from unlearn_core.cli.main import main
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.store.ensembles import EnsembleKey, EnsembleStore, forget_identity
from unlearn_core.training import TrainConfig

TINY = TrainConfig(epochs=2, batch_size=64)
FINETUNE = ("finetune", {"epochs": 1})
K = 2


def _key(role="retrain", method="retrain", forget="f" * 24, **kw) -> EnsembleKey:
    return EnsembleKey(
        fingerprint="a" * 24,
        arch="mlp",
        recipe=TINY.to_dict(),
        role=role,
        method=method,
        forget=None if role == "original" else forget,
        label={"dataset": "digits", "forget": "class 3"},
        **kw,
    )


def _state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(4, 3, generator=g), "b": torch.arange(3, dtype=torch.int64)}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_member_round_trip_and_keys(tmp_path):
    store = EnsembleStore(tmp_path)
    key = _key()
    assert store.get(key, 0) is None and store.groups() == []
    store.put(key, 0, _state(0), {"seconds": 1.5, "params": {"lr": 0.1}})
    got = store.get(key, 0)
    assert got is not None and _same(got.state, _state(0))
    assert got.info["seconds"] == 1.5 and got.info["params"] == {"lr": 0.1}
    assert store.get(key, 1) is None  # another seed
    assert store.get(_key(forget="e" * 24), 0) is None  # another forget set
    assert store.get(_key("unlearned", "finetune"), 0) is None  # another role
    # the label (names for listing) is not part of the key
    relabelled = EnsembleKey(**{**_key().__dict__, "label": {"dataset": "renamed"}})
    assert relabelled.digest() == key.digest() and store.get(relabelled, 0) is not None
    # a method's parameters are
    a = _key("unlearned", "finetune", params={"lr": 0.1})
    b = _key("unlearned", "finetune", params={"lr": 0.2})
    assert a.digest() != b.digest()
    with pytest.raises(ValueError, match="originals have no forget set"):
        EnsembleKey("a", "mlp", {}, "original", "original", forget="f")
    (group,) = store.groups()
    assert group.seeds == [0] and group.bytes > 0 and group.row()["role"] == "retrain"


def test_a_damaged_member_reads_as_missing_and_is_replaced(tmp_path):
    store = EnsembleStore(tmp_path)
    key = _key()
    path = store.put(key, 0, _state(0))
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a bit flip in the tensor bytes: the checksum catches it
    path.write_bytes(bytes(data))
    assert store.get(key, 0) is None
    store.put(key, 0, _state(0))  # the damaged file in the way is replaced
    assert store.get(key, 0) is not None
    path.write_bytes(path.read_bytes()[:40])  # truncated
    assert store.get(key, 0) is None
    path.write_bytes(b"")
    assert store.get(key, 0) is None


def test_the_loser_of_a_race_reuses_the_winners_member(tmp_path):
    store = EnsembleStore(tmp_path)
    key = _key()
    store.put(key, 0, _state(0))
    store.put(key, 0, _state(99))  # a second writer of the same member: the first stays
    assert _same(store.get(key, 0).state, _state(0))
    # many writers at once: every one finishes, one whole member is left, no temporary files
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            EnsembleStore(tmp_path).put(key, 1, _state(100 + i))
        except BaseException as exc:  # pragma: no cover - the failure the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = store.get(key, 1)
    assert got is not None and any(_same(got.state, _state(100 + i)) for i in range(8))
    leftovers = [p.name for p in store.member_path(key, 1).parent.iterdir()]
    assert sorted(leftovers) == ["group.json", "seed-0.safetensors", "seed-1.safetensors"]


def test_forget_identity_follows_the_samples(digits):
    three = make_split(digits, ForgetRequest(classes=(3,)))
    five = make_split(digits, ForgetRequest(classes=(5,)))
    assert forget_identity(three) == forget_identity(
        make_split(digits, ForgetRequest(classes=(3,)))
    )
    assert forget_identity(three) != forget_identity(five)


def _audit(
    digits, home, methods=(FINETUNE,), classes=(3,), said=None, reuse=True, **kw
) -> AuditResult:
    with LocalExecutor(workers=1) as ex:
        return run_audit(
            digits, "mlp", TINY, ForgetRequest(classes=classes), list(methods), models=K,
            executor=ex, reuse=reuse, ensembles=home, metrics=("eps", "klom"),
            progress=(lambda f, m="": said.append(m)) if said is not None else (lambda f, m="": None),
            **kw,
        )  # fmt: skip


def _numbers(res: AuditResult) -> dict:
    """The record without times and without what was reused."""

    def drop(o):
        if isinstance(o, dict):
            return {k: drop(v) for k, v in o.items() if k not in ("seconds", "reused")}
        if isinstance(o, list):
            return [drop(v) for v in o]
        return o

    return drop(res.to_dict())


@pytest.fixture(scope="module")
def first(digits, tmp_path_factory):
    home = tmp_path_factory.mktemp("ens")
    said: list[str] = []
    res = _audit(digits, home, said=said)
    return home, res, said


def test_a_cold_audit_trains_everything_and_stores_it(first):
    home, res, said = first
    assert res.reused == {"original": (0, K), "retrain": (0, K), "finetune": (0, K)}
    assert "reusing 0 of 2 retrained models" in said
    assert any(m.startswith("training 2 originals and 2 retrained models") for m in said)
    roles = sorted(g.description["role"] for g in EnsembleStore(home).groups())
    assert roles == ["original", "retrain", "unlearned"]
    assert all(g.seeds == list(range(K)) for g in EnsembleStore(home).groups())


def test_a_second_audit_reuses_every_model_with_the_same_numbers(first, digits):
    home, cold, _ = first
    said: list[str] = []
    warm = _audit(digits, home, said=said)
    assert warm.reused == {"original": (K, K), "retrain": (K, K), "finetune": (K, K)}
    assert warm.reuse_line() == (
        "reusing 2 of 2 originals, 2 of 2 retrained models, 2 of 2 unlearned models (finetune)"
    )
    assert "reusing 2 of 2 retrained models" in said
    assert not any(m.startswith("training") for m in said)  # nothing trained
    assert _numbers(warm) == _numbers(cold)
    assert warm.methods[0].quality is not None and warm.methods[0].lenses.klom is not None
    # the record keeps what was reused, and an old record (without it) still loads
    back = AuditResult.from_dict(json.loads(json.dumps(warm.to_dict())))
    assert back.reused == warm.reused
    old = warm.to_dict()
    old["audit"].pop("reused")
    assert AuditResult.from_dict(old).reused == {}
    assert warm.summary()["reused"]["retrain"] == [K, K]


def test_another_method_reuses_the_originals_and_retrains(first, digits):
    home, cold, _ = first
    res = _audit(digits, home, methods=[("neggrad", {"epochs": 1})])
    assert res.reused == {"original": (K, K), "retrain": (K, K), "neggrad": (0, K)}
    assert res.methods[0].error is None and res.methods[0].quality is not None
    assert _numbers(res)["original"] == _numbers(cold)["original"]
    # other parameters of the same method are another ensemble
    res = _audit(digits, home, methods=[("finetune", {"epochs": 2})])
    assert res.reused["finetune"] == (0, K)


def test_another_forget_set_reuses_only_the_originals(first, digits):
    home, _, _ = first
    res = _audit(digits, home, classes=(5,))
    assert res.reused == {"original": (K, K), "retrain": (0, K), "finetune": (0, K)}
    assert res.retrains[0].forget_acc == pytest.approx(0.0)  # retrained without class 5


def test_a_damaged_stored_model_is_trained_again(digits, tmp_path):
    cold = _audit(digits, tmp_path)
    store = EnsembleStore(tmp_path)
    retrain = next(g for g in store.groups() if g.description["role"] == "retrain")
    path = retrain.path / "seed-1.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    said: list[str] = []
    warm = _audit(digits, tmp_path, said=said)
    assert warm.reused["retrain"] == (1, K) and warm.reused["original"] == (K, K)
    assert "training 0 originals and 1 retrained models" in " ".join(said)
    assert _numbers(warm) == _numbers(cold)  # retrained to the same model
    assert store.find(_key_of(retrain), range(K)).keys() == {0, 1}  # replaced by a whole one


def _key_of(group) -> EnsembleKey:
    d = group.description
    return EnsembleKey(
        d["fingerprint"], d["arch"], d["recipe"], d["role"], d["method"], d["params"], d["forget"]
    )


def test_reuse_off_neither_reads_nor_writes(first, digits, tmp_path):
    home, cold, _ = first
    before = {g.key: g.seeds for g in EnsembleStore(home).groups()}
    res = _audit(digits, home, reuse=False, classes=(4,))
    assert res.reused == {} and res.reuse_line() == ""
    assert {g.key: g.seeds for g in EnsembleStore(home).groups()} == before
    with LocalExecutor(workers=1) as ex:  # off by default: a library call stores nothing
        run_audit(digits, "mlp", TINY, ForgetRequest(classes=(3,)), [FINETUNE], models=K,
                  executor=ex, ensembles=tmp_path)  # fmt: skip
    assert not (tmp_path / "ensembles").exists()


def test_reused_models_feed_the_relearning_and_quantisation_attacks(digits, tmp_path):
    """With relearning (every model's weights travel on) and quantisation, a second audit
    reusing every model gives the first one's numbers."""
    attack = {"relearn": "retain", "attacks": ("quantize",)}
    cold = _audit(digits, tmp_path, **attack)
    warm = _audit(digits, tmp_path, **attack)
    assert warm.reused == {"original": (K, K), "retrain": (K, K), "finetune": (K, K)}
    assert warm.relearn_curves and all(c.ok for c in warm.relearn_curves)
    assert warm.methods[0].lenses.quant is not None
    assert _numbers(warm) == _numbers(cold)


def test_a_store_that_cannot_be_written_does_not_fail_the_audit(digits, tmp_path):
    home = tmp_path / "a_file"
    home.write_text("not a folder")
    said: list[str] = []
    res = _audit(digits, home, said=said)
    assert res.reused["original"] == (0, K) and res.methods[0].quality is not None
    assert any(m.startswith("could not store 6 models") for m in said)


def test_cli_prints_the_reuse_and_lists_and_deletes_ensembles(tmp_path, capsys):
    argv = (
        "audit --dataset digits --model mlp --forget-class 3 --methods finetune --models 2 "
        f"--epochs 1 --workers 1 --no-progress --no-save --json --home {tmp_path}"
    ).split()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "reusing 0 of 2 originals, 0 of 2 retrained models" in err
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "reusing 2 of 2 originals, 2 of 2 retrained models, 2 of 2 unlearned" in out.err
    assert json.loads(out.out)["reused"]["original"] == [2, 2]
    assert main([*argv, "--no-reuse"]) == 0
    assert "reusing" not in capsys.readouterr().err

    assert main(["runs", "ensembles", "--home", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["key", "dataset", "model"]
    assert len(lines) == 5 and lines[-1].startswith("3 ensembles, 6 models")
    assert main(["runs", "ensembles", "--home", str(tmp_path), "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert [g["role"] for g in groups][:2] == ["original", "retrain"]
    assert all(g["seeds"] == 2 and g["dataset"] == "digits" and g["bytes"] > 0 for g in groups)
    assert groups[0]["forget"] == "—" and groups[1]["forget"] == "class 3"

    key = groups[1]["key"]
    assert main(["runs", "ensembles", "--home", str(tmp_path), "--delete", key[:8]]) == 0
    assert f"deleted ensemble {key}" in capsys.readouterr().out
    assert [g.key for g in EnsembleStore(tmp_path).groups()] == [groups[0]["key"], groups[2]["key"]]
    assert main(["runs", "ensembles", "--home", str(tmp_path), "--delete", "nosuchkey"]) == 2
    assert "no stored ensemble" in capsys.readouterr().err
    assert main(argv) == 0  # the deleted retrains are trained again, the rest reused
    assert "2 of 2 originals, 0 of 2 retrained models" in capsys.readouterr().err
    assert main(["runs", "ensembles", "--home", str(tmp_path), "--all"]) == 0
    assert capsys.readouterr().out.count("deleted ensemble") == 3
    assert EnsembleStore(tmp_path).groups() == []


@pytest.mark.ray
def test_ray_audit_reuses_and_stores_like_the_local_one(first, digits):
    """The store is read and written by the driver, so the Ray executor reuses too: a Ray
    audit reuses the local audit's originals and retrains and trains a new method's models
    on Ray, which a local audit then reuses with the same numbers."""
    pytest.importorskip("ray")
    from unlearn_core.audit.executors import make_executor

    home, cold, _ = first
    method = ("neggrad", {"epochs": 1, "lr": 0.001})
    ex = make_executor("ray", workers=2)
    try:
        on_ray = run_audit(
            digits, "mlp", TINY, ForgetRequest(classes=(3,)), [method], models=K, executor=ex,
            reuse=True, ensembles=home, metrics=("eps", "klom"),
        )  # fmt: skip
    finally:
        ex.close()
    assert on_ray.reused == {"original": (K, K), "retrain": (K, K), "neggrad": (0, K)}
    local = _audit(digits, home, methods=[method])
    assert local.reused == {"original": (K, K), "retrain": (K, K), "neggrad": (K, K)}
    local.executor, local.workers = on_ray.executor, on_ray.workers
    assert _numbers(local) == _numbers(on_ray)
