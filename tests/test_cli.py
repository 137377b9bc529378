"""The ``unlearn`` command line, in process and through the installed console script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from result_keys import row_keys

from unlearn_core.cli.main import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_methods_json(capsys):
    code, out, _ = run_cli(capsys, "list-methods", "--json")
    specs = json.loads(out)
    names = {s["name"] for s in specs}
    assert code == 0 and {"retrain", "finetune"} <= names
    assert all(s["family"] in {"exact", "approximate"} and s["summary"] for s in specs)


def _method_lines(out: str, name: str) -> list[str]:
    """What ``list-methods`` prints for one method: its line, then its parameters' lines."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" ", 1)[0] == name)
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] != " "), len(lines))
    return lines[start:end]


@pytest.mark.parametrize("arch, n_share", [("mlp", 0.16), ("cnn", 0.16), ("resnet18", 0.2)])
def test_list_methods_shows_lrp_as_the_paper_and_the_extension_apart(capsys, arch, n_share):
    """``lrp`` is the paper's method: its fixed rule with the paper's k and n shares (MNIST for
    MLP and CNN, CIFAR-10 for ResNet); the "until forgotten" rule is ``lrp_until``, ours."""
    code, out, _ = run_cli(capsys, "list-methods", "--arch", arch)
    lrp, until = _method_lines(out, "lrp"), _method_lines(out, "lrp_until")
    assert code == 0 and lrp[0].endswith(f"[as published; preset {arch}, paper]")
    params = "\n".join(lrp[1:])
    assert "k_share=0.1 (preset)" in params and f"n_share={n_share} (preset)" in params
    assert "n=0 in [0, 4096]: the fixed rule (the paper's)" in params
    assert "until forgotten" not in "\n".join(lrp) and "extension" not in "\n".join(lrp)
    assert "(our extension)" in until[0] and f"[our extension; preset {arch}, " in until[0]
    assert any(line.strip().startswith("n_max_share=") for line in until)
    assert "[authors' variant; " in _method_lines(out, "lrp_class")[0]
    code, out, _ = run_cli(capsys, "list-methods", "--json", "--arch", arch)
    specs = {s["name"]: s for s in json.loads(out)}
    origins = {n: specs[n]["origin"] for n in ("lrp", "lrp_class", "lrp_until")}
    assert origins == {"lrp": "paper", "lrp_class": "variant", "lrp_until": "extension"}
    assert specs["lrp"]["preset"]["params"]["n_share"] == n_share


@pytest.mark.slow
def test_compare_issue_command_prints_every_method(capsys):
    """The issue's 'done when' command, verbatim (default recipe, so this takes ~10-20 s)."""
    methods = "retrain,finetune,neggrad,scrub,salun,ssd,lrp"
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--dataset",
        "digits",
        "--model",
        "mlp",
        "--forget-class",
        "3",
        "--methods",
        methods,
        "--json",
        "--no-progress",
    )
    assert code == 0
    res = json.loads(out)
    assert res["dataset"] == "digits" and res["model"] == "mlp"
    rows = {r["method"]: r for r in res["results"]}
    assert list(rows) == methods.split(",")
    for name, r in rows.items():
        assert r["error"] is None, (name, r["error"])
        assert 0 <= r["forget_acc"] <= 100 and r["seconds"] > 0
    assert rows["retrain"]["forget_acc"] < 5 and rows["retrain"]["avg_gap"] == 0


def test_forget_fraction_and_indices_file(capsys, tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text("1\n5\n9\n")
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--forget-indices",
        str(f),
        "--methods",
        "finetune",
        "--epochs",
        "3",
        "--json",
        "--no-progress",
    )
    assert code == 0 and json.loads(out)["forget"]["n_forget"] == 3
    code, out, _ = run_cli(
        capsys,
        "run",
        "--method",
        "finetune",
        "--param",
        "epochs=1",
        "--forget-fraction",
        "0.1",
        "--forget-class",
        "2",
        "--epochs",
        "3",
        "--json",
        "--no-progress",
    )
    res = json.loads(out)
    assert code == 0 and res["forget"]["kind"] == "fraction_in_class"
    assert [r["method"] for r in res["results"]] == ["finetune"]


def test_bad_requests_are_clear_errors(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compare", "--forget-class", "42", "--json")
    assert code == 2 and "unknown class 42" in err
    code, _, err = run_cli(capsys, "compare", "--json")
    assert code == 2 and "empty" in err
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"garbage")
    code, _, err = run_cli(
        capsys, "compare", "--data", str(bad), "--format", "npz", "--forget-class", "0"
    )
    assert code == 2 and "x.npz" in err
    code, _, err = run_cli(
        capsys,
        "run",
        "--method",
        "finetune",
        "--param",
        "lr=9",
        "--forget-class",
        "1",
        "--epochs",
        "2",
    )
    assert code == 2 and "outside its range" in err
    code, _, err = run_cli(capsys, "compare", "--methods", "scrub,nosuch", "--forget-class", "1")
    assert code == 2 and "unknown method 'nosuch'" in err


def test_train_then_compare_from_checkpoint(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "train", "--epochs", "3", "--out", str(tmp_path / "m"))
    assert code == 0 and "saved" in out
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--checkpoint",
        str(tmp_path / "m"),
        "--forget-class",
        "1",
        "--methods",
        "finetune",
        "--json",
        "--no-progress",
    )
    assert code == 0 and json.loads(out)["results"][1]["error"] is None
    code, _, err = run_cli(
        capsys,
        "compare",
        "--checkpoint",
        str(tmp_path / "m"),
        "--model",
        "cnn",
        "--forget-class",
        "1",
        "--json",
    )
    assert code == 2 and "not 'cnn'" in err


@pytest.mark.skipif(shutil.which("unlearn") is None, reason="console script not installed")
def test_console_script_entry_point():
    out = subprocess.run(["unlearn", "list-methods"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "retrain" in out.stdout


# ----------------------------------------------------------------------------- seeds


def test_compare_several_seeds_json(capsys):
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--forget-class",
        "1",
        "--methods",
        "ssd",
        "--epochs",
        "3",
        "--seeds",
        "0,1",
        "--json",
        "--no-progress",
    )
    assert code == 0
    res = json.loads(out)
    assert res["seeds"] == [0, 1] and "seed" not in res
    expected = row_keys(with_std=True)
    assert all(set(r) == expected for r in [res["original"], *res["results"]])
    rows = {r["method"]: r for r in res["results"]}
    assert list(rows) == ["retrain", "ssd"]
    ref = rows["retrain"]
    assert ref["avg_gap"] == 0 and ref["avg_gap_std"] == 0 and ref["test_forgotten_acc"] < 5
    per_seed = res["per_seed"]
    assert [p["seed"] for p in per_seed] == [0, 1]
    vals = [{r["method"]: r for r in p["results"]}["ssd"]["retain_acc"] for p in per_seed]
    assert rows["ssd"]["retain_acc"] == pytest.approx(sum(vals) / 2, abs=1e-3)
    assert rows["ssd"]["retain_acc_std"] == pytest.approx(abs(vals[0] - vals[1]) / 2**0.5, abs=1e-3)


def test_one_seed_json_keeps_its_shape_plus_new_fields(capsys):
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--forget-fraction",
        "0.1",
        "--methods",
        "ssd",
        "--epochs",
        "3",
        "--seed",
        "1",
        "--json",
        "--no-progress",
    )
    res = json.loads(out)
    assert code == 0 and res["seed"] == 1 and res["seeds"] == [1]
    assert res["forget"]["seed"] == 1
    for r in res["results"]:
        assert set(r) == row_keys()
        assert r["test_forgotten_acc"] is None and 0 <= r["loss_auc"] <= 1


def test_table_shows_mean_and_std(capsys):
    code, out, _ = run_cli(
        capsys,
        "run",
        "--method",
        "finetune",
        "--param",
        "epochs=1",
        "--forget-class",
        "2",
        "--epochs",
        "2",
        "--seeds",
        "3,4",
        "--with-retrain",
        "--no-progress",
    )
    assert code == 0 and "seeds 3,4 (mean ± std)" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("finetune"))
    # every number, the forgotten-class test accuracy and the loss AUC included: the columns
    # of the one results table (RESULT_COLUMNS), as `runs show` prints them
    assert line.count("±") == 9
    head = next(ln for ln in out.splitlines() if ln.startswith("method"))
    assert "forget acc (%)" in head and "loss AUC" in head and "time / retrain (×)" in head


def test_seed_and_seeds_together_are_refused(capsys):
    with pytest.raises(SystemExit, match="not both"):
        main(["compare", "--seed", "1", "--seeds", "1,2", "--forget-class", "1"])


def test_checkpoint_stands_for_its_own_seed(capsys, tmp_path):
    """Several seeds with --checkpoint: the checkpoint is the original of the seed it was
    trained with; the other seeds train theirs with its architecture and recipe."""
    code, _, _ = run_cli(
        capsys, "train", "--epochs", "2", "--seed", "1", "--out", str(tmp_path / "m")
    )
    assert code == 0
    common = ["--checkpoint", str(tmp_path / "m"), "--forget-class", "1", "--methods", "ssd"]
    home = tmp_path / "runs"
    code, out, err = run_cli(
        capsys, "compare", *common, "--seeds", "0,1", "--json", "--no-progress", "--home", str(home)
    )
    assert code == 0 and "checkpoint used for seed 1" in err
    assert json.loads(out)["seeds"] == [0, 1]
    from unlearn_core.store import RunStore

    (rec,) = RunStore(home).list_comparisons()
    full = RunStore(home).read_comparison(rec.id)["comparison"]
    sources = {c["seed"]: c["original"]["log"]["source"] for c in full["comparisons"]}
    assert sources == {0: "trained", 1: "given"}
    code, _, err = run_cli(capsys, "compare", *common, "--seeds", "0,2", "--no-progress")
    assert code == 2 and "trained with seed 1, which is not among --seeds 0,2" in err


def _write_idx(folder, n_train=60, n_test=20):
    import struct

    import numpy as np

    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 3).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 3).astype(np.uint8),
    }
    for name, arr in arrays.items():
        head = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
        (folder / name).write_bytes(head + arr.tobytes())


def test_compare_idx_folder_with_cnn(capsys, tmp_path):
    _write_idx(tmp_path / "mnist")
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--data",
        str(tmp_path / "mnist"),
        "--format",
        "idx",
        "--model",
        "cnn",
        "--forget-fraction",
        "0.1",
        "--methods",
        "finetune",
        "--epochs",
        "1",
        "--json",
        "--no-progress",
    )
    assert code == 0
    res = json.loads(out)
    # 60 training images, 6 of them carved off for validation: 10% of the other 54 forgotten
    assert res["model"] == "cnn" and res["forget"]["n_forget"] == 5
    assert [r["method"] for r in res["results"]] == ["retrain", "finetune"]
    assert all(r["error"] is None for r in res["results"])


# ----------------------------------------------------------------------------- output for scripts


@pytest.mark.parametrize("seeds", ["0", "0,1"])
def test_runs_show_json_rows_are_compare_json_rows(capsys, tmp_path, seeds):
    """The same stored comparison: every row of ``runs show --json`` holds every key of the
    ``compare --json`` row with the same value (its details beside them)."""
    home = str(tmp_path / "runs")
    args = ["--forget-class", "2", "--methods", "finetune", "--epochs", "2", "--seeds", seeds]
    code, out, err = run_cli(capsys, "compare", *args, "--json", "--no-progress", "--home", home)
    assert code == 0
    compared = json.loads(out)
    run_id = re.search(r"saved run (\S+)", err).group(1)
    code, out, _ = run_cli(capsys, "runs", "show", run_id, "--json", "--home", home)
    shown = json.loads(out)
    assert code == 0 and shown["id"] == run_id and shown["record"]["id"] == run_id
    scalars = ("dataset", "model", "forget", "seeds", "device")
    assert {k: shown[k] for k in scalars} == {k: compared[k] for k in scalars}

    def same_rows(mine: dict, theirs: dict) -> None:
        rows = [(theirs["original"], mine["original"])]
        rows += list(zip(theirs["results"], mine["results"], strict=True))
        for row, shown_row in rows:
            assert {k: shown_row.get(k, "missing") for k in row} == row
            assert "label" in shown_row  # a detail beside the row's keys

    same_rows(shown, compared)
    if "," in seeds:
        for mine, theirs in zip(shown["per_seed"], compared["per_seed"], strict=True):
            same_rows(mine, theirs)
    else:
        assert shown["results"][1]["metrics"]["forget_acc"] == pytest.approx(
            compared["results"][1]["forget_acc"], abs=1e-4
        )


def test_progress_without_a_terminal_is_one_plain_line_per_stage(capsys):
    """stderr captured (not a terminal): no carriage returns, a line per stage and method."""
    args = ["--forget-class", "2", "--methods", "finetune,neggrad", "--epochs", "2"]
    code, _, err = run_cli(capsys, "compare", *args, "--seeds", "0,1", "--json", "--no-save")
    assert code == 0 and "\r" not in err
    lines = err.splitlines()
    assert all(line.startswith("unlearn ") for line in lines)
    # per seed: training, scoring the original, retrain, finetune, neggrad, done; then done
    assert len(lines) <= 2 * 6 + 1
    for seed in ("seed 0 (1/2)", "seed 1 (2/2)"):
        for method in ("retrain", "finetune", "neggrad"):
            assert sum(f"{seed}: {method}:" in line for line in lines) == 1


def test_progress_bar_on_a_terminal(monkeypatch):
    from unlearn_core.cli import common as cli_common
    from unlearn_core.runtime.progress import StageLines

    class Terminal:
        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(cli_common.sys, "stderr", Terminal())
    bar, _ = cli_common.progress_bar("unlearn")
    assert not isinstance(bar, StageLines)
    bar.close()


def test_list_methods_shows_each_presets_robustness_card(capsys, monkeypatch, tmp_path):
    """Beside the preset: how it fared on held-out data splits (the card's own words), in the
    text and the JSON; a method with no card prints none."""
    from unlearn_core.methods import robustness

    card = {
        "method": "ssd", "arch": "mlp", "request": "class", "target": "t", "met": 1, "of": 3,
        "cells": ["digits_mlp"], "split_seeds": [1, 2, 3], "seeds": [0, 1, 2],
        "figures": {"forget_gap": {"median": 0.0, "worst": 100.0}},
    }  # fmt: skip
    path = tmp_path / "robustness.json"
    path.write_text(json.dumps({"version": 1, "cards": [card]}))
    monkeypatch.setattr(robustness, "load_cards", lambda: robustness.RobustnessCard.load_all(path))
    code, out, _ = run_cli(capsys, "list-methods", "--arch", "mlp")
    text = robustness.RobustnessCard.from_dict(card).describe()
    assert code == 0 and f"held-out splits, {text}" in _method_lines(out, "ssd")[1]
    assert not any("held-out" in line for line in _method_lines(out, "salun"))
    code, out, _ = run_cli(capsys, "list-methods", "--json", "--arch", "mlp")
    specs = {s["name"]: s for s in json.loads(out)}
    assert specs["ssd"]["robustness"] == [card] and specs["salun"]["robustness"] == []
