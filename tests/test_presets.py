"""Per-architecture presets: the shipped file is valid, and resolve applies
spec defaults < preset < user overrides."""

from __future__ import annotations

import json

import pytest
import torch

from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import (
    REGISTRY,
    ParamError,
    PresetError,
    UnlearnTask,
    get_method,
    load_presets,
    preset_info,
    run_method,
)
from unlearn_core.methods import presets as P
from unlearn_core.models import ARCHITECTURES, build_model
from unlearn_core.training import TrainConfig


@pytest.fixture
def preset_file(tmp_path, monkeypatch):
    """Point the library at a presets file of the test's own; restore the real one after."""

    def write(doc: dict):
        path = tmp_path / "presets.json"
        path.write_text(json.dumps(doc))
        monkeypatch.setenv("UNLEARN_PRESETS", str(path))
        P.clear_cache()
        return path

    yield write
    monkeypatch.delenv("UNLEARN_PRESETS", raising=False)
    P.clear_cache()


def _entry(values: dict, status: str = "calibrated") -> dict:
    return {"values": values, "status": status, "source": "test figures"}


def test_shipped_presets_are_valid():
    table = load_presets(P.PRESETS_FILE)
    assert table.presets, "the package ships starting presets"
    for (method, arch), preset in table.presets.items():
        assert method in REGISTRY, f"preset for unknown method {method}"
        assert arch in ARCHITECTURES, f"preset for unknown architecture {arch}"
        assert preset.status in P.STATUSES and preset.source.strip()
        if preset.status == "provisional":
            assert "not yet calibrated" in preset.note
        spec = get_method(method).spec
        params = {p.name: p for p in spec.params}
        resolved = spec.resolve(arch=arch)  # every value known and in range
        assert all(resolved[n] == params[n].coerce(v) for n, v in preset.values.items())


def test_presets_are_read_once():
    assert load_presets() is load_presets()


def test_presets_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("UNLEARN_PRESETS", "none")
    P.clear_cache()
    try:
        assert load_presets().presets == {}
        spec = get_method("neggrad").spec
        assert spec.resolve(arch="cnn") == spec.resolve()
    finally:
        monkeypatch.delenv("UNLEARN_PRESETS")
        P.clear_cache()


def test_resolve_order_defaults_then_preset_then_overrides(preset_file):
    preset_file({"presets": {"cnn": {"neggrad": _entry({"lr": 3e-4, "epochs": 20})}}})
    spec = get_method("neggrad").spec
    base = spec.resolve()
    assert base == {p.name: p.default for p in spec.params}
    cnn = spec.resolve(arch="cnn")
    assert cnn == {**base, "lr": 3e-4, "epochs": 20}
    mine = spec.resolve({"lr": "0.01"}, arch="cnn")
    assert mine == {**base, "lr": 0.01, "epochs": 20}  # coerced from the CLI's string
    assert spec.resolve(arch="mlp") == base and spec.resolve(arch=None) == base


def test_bad_presets_are_refused_with_their_name(preset_file):
    preset_file({"presets": {"cnn": {"neggrad": _entry({"no_such": 1})}}})
    with pytest.raises(ParamError, match="preset cnn/neggrad.*no_such"):
        get_method("neggrad").spec.resolve(arch="cnn")
    preset_file({"presets": {"cnn": {"neggrad": _entry({"lr": 5.0})}}})
    with pytest.raises(ParamError, match="preset cnn/neggrad.*outside its range"):
        get_method("neggrad").spec.resolve(arch="cnn")
    preset_file({"presets": {"cnn": {"neggrad": {"values": {}, "status": "guess", "source": "x"}}}})
    with pytest.raises(PresetError, match="status"):
        load_presets()
    preset_file({"presets": {"cnn": {"neggrad": {"values": {}}}}})
    with pytest.raises(PresetError, match="source"):
        load_presets()


def test_preset_info(preset_file):
    preset_file({"presets": {"resnet18": {"ssd": _entry({"alpha": 20.0}, status="provisional")}}})
    info = preset_info("ssd", "resnet18")
    assert (info.name, info.status, info.source) == ("resnet18", "provisional", "test figures")
    assert info.values == {"alpha": 20.0} and info.params["alpha"] == 20.0
    none = preset_info("ssd", "mlp")
    assert (none.name, none.status, none.values) == ("defaults", "defaults", {})
    assert none.params == get_method("ssd").spec.resolve()
    assert json.dumps(info.to_dict())


def test_run_method_uses_and_records_the_models_preset(preset_file, digits):
    preset_file({"presets": {"mlp": {"neggrad": _entry({"stop": "off", "epochs": 1})}}})
    torch.manual_seed(0)
    model = build_model("mlp", digits.input_shape, 10).eval()
    task = UnlearnTask(digits, make_split(digits, ForgetRequest(classes=(3,))), TrainConfig())
    out = run_method("neggrad", model, task, seed=0)
    assert out.params["stop"] == "off" and out.params["epochs"] == 1
    assert out.preset.name == "mlp" and out.preset.values == {"stop": "off", "epochs": 1}
    assert out.log["stopped_at"] is None and len(out.log["loss"]) == 1
    # the user's value still wins over the preset
    out = run_method("neggrad", model, task, {"epochs": 2}, seed=0)
    assert out.params["epochs"] == 2 and len(out.log["loss"]) == 2


def test_a_model_without_spec_runs_on_the_defaults(digits):
    class Bare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(64, 10)

        def forward(self, x):
            return self.lin(x.flatten(1))

    small = Dataset(
        "s",
        digits.x_train[:100],
        digits.y_train[:100],
        digits.x_test,
        digits.y_test,
        digits.classes,
    )
    task = UnlearnTask(small, make_split(small, ForgetRequest(fraction=0.1)), TrainConfig())
    out = run_method("finetune", Bare(), task, {"epochs": 1}, seed=0)
    assert out.preset.arch is None and out.preset.name == "defaults"
