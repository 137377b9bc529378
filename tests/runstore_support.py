"""A real, small comparison for the run store, report and CLI tests (built once per process),
and the writer process of the two-writers test."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def small_run():
    """``(digits, trained MLP, comparison)``: an MLP trained 3 epochs on digits, then retrain,
    fine-tune and NegGrad forgetting class 3 (a few seconds on one core)."""
    import torch

    from unlearn_core.data import load_dataset
    from unlearn_core.experiment import compare
    from unlearn_core.forget import ForgetRequest
    from unlearn_core.training import TrainConfig, train_new_model

    torch.set_num_threads(1)
    recipe = TrainConfig(epochs=3, batch_size=64)
    data = load_dataset("digits")
    model, _ = train_new_model(data, "mlp", recipe, seed=0, device="cpu")
    methods = [("finetune", {"epochs": 2}), ("neggrad", {"epochs": 2})]
    comp = compare(data, model, recipe, ForgetRequest(classes=(3,)), methods, seed=0, device="cpu")
    return data, model, comp


def writer(home: str, body: dict, n: int, tag: str, start) -> list[str]:
    """Save ``n`` comparisons (``body`` with a tagged note), one model and one forget set."""
    import torch

    from unlearn_core.data import load_dataset
    from unlearn_core.forget import ForgetRequest
    from unlearn_core.models import build_model
    from unlearn_core.store import RunStore

    torch.set_num_threads(1)
    data = load_dataset("digits")
    store = RunStore(home)
    start.wait()  # both writers begin together
    ids = []
    for i in range(n):
        ids.append(store.save_comparison(body, dataset=data, note=f"{tag}-{i}").id)
        if i == n // 2:
            torch.manual_seed(i)
            model = build_model("mlp", data.input_shape, data.num_classes)
            ids.append(store.save_model(model, data, name=f"{tag}-model").id)
            ids.append(store.save_forget(ForgetRequest(classes=(1,)), data, name=tag).id)
    return ids


def writer_process(queue, *args) -> None:
    """:func:`writer` in a child process: puts ``("ok", ids)`` or ``("error", text)``."""
    try:
        queue.put(("ok", writer(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent test
        import traceback

        queue.put(("error", f"{exc!r}\n{traceback.format_exc()}"))
