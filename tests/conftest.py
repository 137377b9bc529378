"""Shared fixtures: small real data and real trained models, built once per session."""

from __future__ import annotations

import pytest
import torch

from unlearn_core.data import load_dataset
from unlearn_core.training import TrainConfig, train_new_model


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session", autouse=True)
def _run_store_home(tmp_path_factory):
    """Runs the CLI and the app save during tests go to a private folder, not ./runs."""
    import os

    home = tmp_path_factory.mktemp("runs")
    old = os.environ.get("UNLEARN_HOME")
    os.environ["UNLEARN_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("UNLEARN_HOME", None)
    else:
        os.environ["UNLEARN_HOME"] = old


@pytest.fixture(scope="session", autouse=True)
def _timings_journal(tmp_path_factory):
    """The durations the app and runs measure during tests go to a private journal, not to
    this machine's (``<cache>/timings.json``), where they would move the next server's
    estimates."""
    import os

    from unlearn_core.runtime.estimates import JOURNAL_ENV

    old = os.environ.get(JOURNAL_ENV)
    os.environ[JOURNAL_ENV] = str(tmp_path_factory.mktemp("timings") / "timings.json")
    yield
    if old is None:
        os.environ.pop(JOURNAL_ENV, None)
    else:
        os.environ[JOURNAL_ENV] = old


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_mlp(digits):
    """An MLP trained briefly on digits (about 0.5 s); tests must not change it."""
    model, _ = train_new_model(
        digits, "mlp", TrainConfig(epochs=15, batch_size=64), seed=0, device="cpu"
    )
    return model


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (the browser test screenshots failures)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module (``pytestmark = pytest.mark.usefixtures(...)``):
    the suite's models are tiny, so one intra-op thread is fastest and leaves the other core to
    the work the test starts (a UMAP worker, a pool process)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
