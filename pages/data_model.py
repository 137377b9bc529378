"""Page 1 · Data & model: choose a dataset, look at it, train (or load / reuse) a model. The
sections are drawn by ``app_ui.dataset_view`` and ``app_ui.model_view``; the page holds the
model settings."""

# ruff: noqa: E402  (the first paint runs before the heavy imports below)
from __future__ import annotations

import streamlit as st

from app_ui import first_paint
from app_ui.entry import through_app
from app_ui.state import LIGHT

if LIGHT.get() and not first_paint.heavy_ready():
    first_paint.first_page()  # a fresh server: torch is still being imported
    st.stop()
through_app()  # a cold server's deep link runs the app's navigation first

from app_ui import jobs
from app_ui.common import current_model, init_state, model_key
from app_ui.dataset_view import load_current, pick_dataset, show_dataset
from app_ui.first_paint import CAPTION, TITLE
from app_ui.model_view import (
    ARCH_LABELS,
    checkpoint_section,
    match_model,
    report_section,
    train_section,
)
from app_ui.state import ARCH, P1, RECIPE, TRAIN_SEED, WRITTEN_P1, bind, wrote
from unlearn_core.training import default_recipe

init_state()  # (a run that began as the first paint skipped the entry's full path)


# ------------------------------------------------------------------ widget <-> state binding
def _bind(widget: str, value) -> None:
    bind(widget, value, WRITTEN_P1)


def _wrote(widget: str, value) -> None:
    wrote(widget, value, WRITTEN_P1)


# ------------------------------------------------------------------ 1. dataset
st.title(TITLE)
st.caption(CAPTION)

st.subheader("Dataset")
pick_dataset()

data = load_current()
if data is None:
    st.stop()
show_dataset(data)

# ------------------------------------------------------------------ 2. model settings
st.subheader("Model")
if data.kind == "text":  # the text track: tinylm, its recipe, training and report
    from app_ui.text_view import model_page

    model_page(data)
    st.stop()
allowed = ["mlp", "cnn", "resnet18"] if data.kind == "image" else ["mlp"]
if ARCH.get() not in allowed:
    ARCH.set("mlp")
    RECIPE.set(default_recipe("mlp").to_dict())
_bind(P1.ARCH, ARCH.get())
c_arch, c_seed = st.columns([3, 1])
arch = c_arch.selectbox(
    "Architecture", allowed, index=allowed.index(ARCH.get()), key=P1.ARCH,
    format_func=ARCH_LABELS.get,
)  # fmt: skip
_wrote(P1.ARCH, arch)
if data.kind != "image":
    c_arch.caption(
        f"CNN and ResNet-18 need images; {data.name} is {data.kind} data, so only the MLP fits."
    )
if arch != ARCH.get():
    ARCH.set(arch)
    RECIPE.set(default_recipe(arch).to_dict())

# Each bound widget is also given its value as its default: a widget the browser draws afresh
# (its earlier draw lost to an interrupted run, as under load) then starts at the session's
# value, not at its minimum or first option, which the browser would send back as a change
# (the recipe fell to 1 epoch, lr 1e-6, batch 1, or the model to the MLP; the load benchmark's
# lost Train clicks)
OPTIMIZERS = ["adam", "sgd"]
recipe = dict(RECIPE.get())
for field, widget in P1.RECIPE_FIELDS.items():
    _bind(widget, recipe[field])
_bind(P1.SEED, int(TRAIN_SEED.get()))
seed = c_seed.number_input("Seed", 0, 2**31 - 1, int(TRAIN_SEED.get()), step=1, key=P1.SEED)
c1, c2, c3, c4 = st.columns(4)
epochs = c1.number_input("Epochs", 1, 500, int(recipe["epochs"]), step=1, key=P1.EPOCHS)
lr = c2.number_input(
    "Learning rate", 1e-6, 10.0, float(recipe["lr"]), step=1e-4, format="%g", key=P1.LR
)
batch = c3.number_input(
    "Batch size", 1, 8192, int(recipe["batch_size"]), step=16, key=P1.BATCH_SIZE
)
opt = c4.selectbox(
    "Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(recipe["optimizer"]), key=P1.OPTIMIZER
)
recipe.update(epochs=int(epochs), lr=float(lr), batch_size=int(batch), optimizer=opt)
for field, widget in P1.RECIPE_FIELDS.items():
    _wrote(widget, recipe[field])
_wrote(P1.SEED, int(seed))
RECIPE.set(recipe)
TRAIN_SEED.set(int(seed))
if recipe != default_recipe(arch).to_dict():
    st.button(
        "Reset to the default recipe",
        key=P1.RESET,
        on_click=lambda: RECIPE.set(default_recipe(ARCH.get()).to_dict()),
    )


# ------------------------------------------------------------------ 3. train / reuse / load
settings = model_key()
job = jobs.adopt(jobs.TRAIN)  # a finished training for these settings gives their model
adopted_note = jobs.note(jobs.TRAIN)
if adopted_note:
    st.info(adopted_note)
match_model(data, settings)
running = job is not None and not job.done
train_section(data, arch, settings, job)
checkpoint_section(data)

# ------------------------------------------------------------------ 4. the model's report
entry = current_model()
if entry is not None and not running:
    report_section(entry, data)
