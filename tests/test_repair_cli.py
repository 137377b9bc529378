"""``unlearn compare --scenario ...``: the repair rows, the run store and the HTML report."""

from __future__ import annotations

import json
import re

import pytest

from unlearn_core.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_label_noise_comparison_rows_store_and_report(capsys, tmp_path):
    home = str(tmp_path / "runs")
    code, out, err = run_cli(
        capsys, "compare", "--dataset", "digits", "--model", "mlp",
        "--scenario", "label-noise", "--corrupt-fraction", "0.2", "--from-class", "3",
        "--to-class", "5", "--methods", "warnecke_second,finetune", "--json",
        "--no-progress", "--home", home,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    rows = {r["method"]: r for r in [summary["original"], *summary["results"]]}
    assert set(rows) == {"original", "retrain", "warnecke_second", "finetune", "clean"}
    for row in rows.values():
        assert "true_label_acc" in row and "restoration" in row and "restoration_tla" in row
        assert "asr" not in row  # no patch in a label-noise scenario
    assert rows["original"]["restoration_tla"] == 0.0 and rows["clean"]["restoration_tla"] == 1.0
    assert rows["retrain"]["true_label_acc"] > rows["original"]["true_label_acc"]
    scen = summary["forget"]["scenario"]
    assert scen["kind"] == "label-noise" and scen["n_corrupted"] == summary["forget"]["n_forget"]
    run_id = re.search(r"saved run (\S+)", err).group(1)
    html = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "runs", "export", run_id, "--html", str(html), "--home", home)
    assert code == 0, err
    text = html.read_text()
    assert "true-label acc" in text and "restoration" in text and "clean" in text


def test_backdoor_comparison_table_has_attack_success(capsys, digits):
    code, out, err = run_cli(
        capsys, "compare", "--dataset", "digits", "--model", "mlp", "--epochs", "4",
        "--scenario", "backdoor", "--corrupt-fraction", "0.1", "--target-class", "0",
        "--detection-rate", "0.5", "--methods", "warnecke_first", "--no-progress", "--no-save",
    )  # fmt: skip
    assert code == 0, err
    assert "attack success (%)" in out and "clean" in out
    # half of the corrupted samples found: the forget set
    corrupted = round(0.1 * int((digits.y_train != 0).sum()))
    found = int(re.search(r"forget (\d+) chosen samples", out).group(1))
    assert found == round(0.5 * corrupted)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--forget-class", "3"], "drop --forget-"),
        ([], "needs a target class"),
    ],
)
def test_bad_scenario_arguments_are_refused(capsys, extra, message):
    code, _, err = run_cli(
        capsys, "compare", "--scenario", "backdoor", "--corrupt-fraction", "0.1",
        "--methods", "finetune", "--no-progress", "--no-save", *extra,
    )  # fmt: skip
    assert code == 2 and message in err


def test_the_apps_several_seed_view_keeps_the_repair_numbers():
    """``app_ui.seeds.mean_view`` (Compare page, several seeds) carries asr / restoration."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from app_ui.seeds import mean_view
    from unlearn_core.experiment import Comparison, MethodResult, MultiComparison

    def result(method, asr):
        return MethodResult(method=method, label=method, family="approximate",
                            metrics={"test_acc": 90.0, "asr": asr, "restoration": asr / 100})  # fmt: skip

    multi = MultiComparison(
        comparisons=[
            Comparison(
                dataset="digits",
                model="cnn",
                forget={},
                seed=s,
                original=result("original", 100.0),
                results=[result("retrain", 0.0), result("warnecke_second", 2.0 * s)],
            )  # fmt: skip
            for s in (0, 1)
        ]
    )
    view = mean_view(multi, multi.comparisons[0])
    row = view.get("warnecke_second").row()
    assert row["asr"] == 1.0 and row["restoration"] == 0.01
    assert view.get("warnecke_second").metrics["asr_std"] == pytest.approx(2**0.5)
    plain = MultiComparison(comparisons=[Comparison(dataset="d", model="m", forget={}, seed=0,
                                                    original=MethodResult("original", "o", "none"))])  # fmt: skip
    assert "asr" not in mean_view(plain, plain.comparisons[0]).original.row()
