"""The Attack page's numbers, computed once per model of a comparison and kept for the server:
each model's outputs on the forget, retain and test sets, and an attack score of each sample
(the library's ``model_logits`` and ``attack_scores``). The dataset and split arguments are the
comparison's own, so they are not part of the cache key."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_ui.registries import comparison_registry
from unlearn_core.audit.threshold_attack import attack_scores
from unlearn_core.data import Dataset
from unlearn_core.experiment import model_logits
from unlearn_core.forget import ForgetSplit


@st.cache_resource(max_entries=32, show_spinner="Computing the model's outputs…")
def model_outputs(cid: str, name: str, _data: Dataset, _split: ForgetSplit) -> dict:
    """Logits of one model of a comparison on forget / retain / test (cached per model)."""
    ev = model_logits(comparison_registry()[cid].models()[name], _data, _split)
    return {"forget": ev.forget, "retain": ev.retain, "test": ev.test}


def scores(
    cid: str, name: str, score: str, data: Dataset, split: ForgetSplit
) -> dict[str, np.ndarray]:
    """``score`` ("confidence", "entropy", "loss") of every forget, retain and test sample
    under model ``name``."""
    ys = {
        "forget": data.y_train[split.forget_idx],
        "retain": data.y_train[split.retain_idx],
        "test": data.y_test,
    }
    return attack_scores(model_outputs(cid, name, data, split), ys, score)
