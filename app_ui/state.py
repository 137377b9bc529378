"""Every session-state key the app uses, declared once: its name, type, default and meaning,
and the URL query parameter that carries it where it has one.

A :class:`Key` is the string Streamlit sees (so it is also a widget's ``key=``) with typed
accessors: ``ARCH.get()``, ``ARCH.set("cnn")``, ``PICKED.setdefault()``. A :class:`KeyFamily`
names keys made per item (``P2.TICK.of(17)`` is ``"p2_tick_17"``). Pages and the other
``app_ui`` modules use these, never a key spelt as a string (``tests/test_state_keys.py``
reads the source and fails on one).

Kinds of key:

``app``
    what the session shows (dataset, model, forget set, comparison, ...): set to its default
    by :func:`init` before every page.
``page``
    a page's or module's bookkeeping: absent until set; ``get()`` gives the default meanwhile.
``widget``
    a widget's value (Streamlit owns it; a page may set it before drawing the widget).
``chart``
    a chart's element key (its selection, for the charts one selects on).

Light on purpose: it imports only Streamlit, so the entry and the first paint may use it before
the library is loaded. It is the bottom of ``app_ui``: it imports no other app module.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import streamlit as st

T = TypeVar("T")
KINDS = ("app", "page", "widget", "chart")
_KEYS: dict[str, Key] = {}
_FAMILIES: dict[str, KeyFamily] = {}
_MISSING = object()


class Key(str, Generic[T]):
    """One session-state key: the string itself, with its type, default and meaning."""

    type: type | tuple[type, ...]
    kind: str
    doc: str
    _default: Any

    def __new__(
        cls,
        name: str,
        type_: type | tuple[type, ...] = object,
        default: T | Callable[[], T] | None = None,
        *,
        kind: str = "page",
        doc: str = "",
    ) -> Key[T]:
        if kind not in KINDS:
            raise ValueError(f"key {name!r}: kind {kind!r} is not one of {KINDS}")
        if name in _KEYS:
            raise ValueError(f"session-state key {name!r} is declared twice")
        self = super().__new__(cls, name)
        self.type, self.kind, self.doc, self._default = type_, kind, doc, default
        _KEYS[name] = self
        return self

    @property
    def name(self) -> str:
        """The key as a plain ``str``."""
        return str.__str__(self)

    def default(self) -> T:
        """A fresh copy of the default (a callable default is called)."""
        d = self._default
        return d() if callable(d) else copy.deepcopy(d)

    def get(self) -> T:
        """The value, or the default when the session has none (not stored)."""
        value = st.session_state.get(self.name, _MISSING)
        return self.default() if value is _MISSING else value

    def set(self, value: T) -> None:
        st.session_state[self.name] = value

    def setdefault(self, value: T | None = None) -> T:
        """The value, storing ``value`` (or the default) first when the session has none."""
        if self.name not in st.session_state:
            st.session_state[self.name] = self.default() if value is None else value
        return st.session_state[self.name]

    def pop(self, default: Any = None) -> T | Any:
        return st.session_state.pop(self.name, default)

    def present(self) -> bool:
        return self.name in st.session_state

    def __repr__(self) -> str:
        return f"Key({self.name!r}, {self.kind})"


class KeyFamily(Generic[T]):
    """Keys made per item: ``prefix`` + the parts joined by ``_`` (a thumbnail's tick box per
    sample id, a parameter's input per method and parameter, ...)."""

    def __init__(self, prefix: str, type_: type = object, *, kind: str = "widget", doc: str = ""):
        if kind not in KINDS:
            raise ValueError(f"family {prefix!r}: kind {kind!r} is not one of {KINDS}")
        if prefix in _FAMILIES:
            raise ValueError(f"session-state key family {prefix!r} is declared twice")
        self.prefix, self.type, self.kind, self.doc = prefix, type_, kind, doc
        _FAMILIES[prefix] = self

    def of(self, *parts: object) -> str:
        return self.prefix + "_".join(str(p) for p in parts)

    def get(self, *parts: object, default: Any = None) -> T | Any:
        return st.session_state.get(self.of(*parts), default)

    def set(self, *parts: object, value: T) -> None:
        st.session_state[self.of(*parts)] = value

    def __repr__(self) -> str:
        return f"KeyFamily({self.prefix!r}, {self.kind})"


def declared() -> dict[str, Key]:
    """name -> key, every key declared here."""
    return dict(_KEYS)


def families() -> dict[str, KeyFamily]:
    return dict(_FAMILIES)


def is_declared(name: str) -> bool:
    """Whether ``name`` is a declared key or one a family makes."""
    return name in _KEYS or any(name.startswith(p) for p in _FAMILIES)


def app_keys() -> Iterator[Key]:
    return (k for k in _KEYS.values() if k.kind == "app")


def init() -> None:
    """Give every ``app`` key its default where the session has none."""
    for key in app_keys():
        key.setdefault()


def _default_recipe() -> dict:
    from unlearn_core.training import default_recipe  # the library only when first needed

    return default_recipe("mlp").to_dict()


# ====================================================================== what the session shows
DATASET: Key[dict] = Key(
    "dataset", dict, {"name": "digits", "params": {}}, kind="app",
    doc="the dataset spec: a built-in {'name', 'params'} or {'name': 'file', 'path', "
    "'format', 'kwargs', 'label'}",
)  # fmt: skip
ARCH: Key[str] = Key("arch", str, "mlp", kind="app", doc="the model architecture")
RECIPE: Key[dict] = Key(
    "recipe", dict, _default_recipe, kind="app", doc="TrainConfig.to_dict() of the recipe"
)
TRAIN_SEED: Key[int] = Key("train_seed", int, 0, kind="app", doc="the model's training seed")
MODEL_KEY: Key[str | None] = Key(
    "model_key", (str, type(None)), None, kind="app",
    doc="key into registries.model_registry() of the current trained model",
)  # fmt: skip
FORGET: Key[dict | None] = Key(
    "forget", (dict, type(None)), None, kind="app",
    doc="ForgetRequest.to_dict() of the confirmed forget set",
)  # fmt: skip
REPAIR: Key[dict | None] = Key(
    "repair", (dict, type(None)), None, kind="app",
    doc="the repair scenario in use: {'settings': make_scenario's arguments, 'forget': the "
    "FORGET request it put in use} (it applies while FORGET is still that request)",
)  # fmt: skip
PICKED: Key[list] = Key(
    "picked", list, [], kind="app", doc="sample ids picked by hand before confirming"
)
METHODS: Key[dict] = Key(
    "methods", dict, {}, kind="app", doc="method name -> parameter overrides (Unlearn page)"
)
CHOSEN_METHODS: Key[list | None] = Key(
    "chosen_methods", (list, type(None)), None, kind="app",
    doc="the Unlearn page's methods box (None: not chosen yet, the defaults)",
)  # fmt: skip
INCLUDE_RETRAIN: Key[bool] = Key(
    "include_retrain", bool, True, kind="app", doc="whether a comparison retrains as reference"
)
UNLEARN_SEED: Key[int] = Key("unlearn_seed", int, 0, doc="the comparison's first seed")
UNLEARN_N_SEEDS: Key[int] = Key("unlearn_n_seeds", int, 1, doc="how many seeds it runs")
COMPARISON_ID: Key[str | None] = Key(
    "comparison_id", (str, type(None)), None, kind="app",
    doc="key into registries.comparison_registry() of the shown comparison",
)  # fmt: skip
JOBS: Key[dict] = Key(
    "jobs", dict, {}, kind="app",
    doc="job kind ('train', 'compare', 'audit', 'sweep', 'umap', 'inversion') -> the id of this "
    "session's latest job of that kind (registries.job_registry())",
)  # fmt: skip
JOBS_ADOPTED: Key[dict] = Key(
    "_jobs_adopted", dict, {},
    doc="job kind -> the id of the last finished job whose result was adopted (app_ui.jobs)",
)  # fmt: skip
JOB_NOTES: Key[dict] = Key(
    "_job_notes", dict, {},
    doc="job kind -> why a finished job's result was not adopted, for the page (shown once)",
)  # fmt: skip
OWNER: Key[str] = Key(
    "owner", str, lambda: uuid.uuid4().hex[:12],
    doc="this browser's owner id (its cookie; in the URL only for a browser that keeps no "
    "cookies): the runs it stores are its own (app_ui.owners; read it with "
    "owners.owner_id(), which takes the cookie's or makes one the first time; not an 'app' "
    "key: a default given at the session's start would hide the cookie)",
)  # fmt: skip
AUDIT_ID: Key[str | None] = Key(
    "audit_id", (str, type(None)), None, doc="the Audit page's shown audit (audit registry id)"
)
SWEEP_ID: Key[str | None] = Key(
    "sweep_id", (str, type(None)), None, doc="the Audit page's shown sweep (sweep registry id)"
)
INVERSION_ID: Key[str | None] = Key(
    "inversion_id", (str, type(None)), None,
    doc="the Inversion page's shown attack (inversion registry id; a stored one is its run id)",
)  # fmt: skip

# ====================================================================== the entry and the URL
IN_APP_RUN: Key[bool] = Key(
    "_in_app_run", bool, False, doc="set while the app's navigation runs a page (entry.py)"
)
SCRIPT_RUNS: Key[int] = Key("_script_runs", int, 0, doc="full-app script runs of this session")
LIGHT: Key[bool] = Key(
    "_light_paint", bool, False,
    doc="whether this script run draws the first paint (first_paint.LIGHT)",
)  # fmt: skip
RUN_ASAP: Key[bool] = Key(
    "_p3_run_asap", bool, False,
    doc="a click on the Unlearn page's Run not yet acted on (set by its callback)",
)  # fmt: skip
TRAIN_ASAP: Key[bool] = Key(
    "_p1_train_asap", bool, False,
    doc="a click on Train not yet acted on (its callback, or the first paint's button)",
)  # fmt: skip
URL_KNOWN: Key[list] = Key(
    "_url_known", list, [], doc="ids this session has shown or reopened from the URL"
)
URL_MESSAGES: Key[list] = Key(
    "_url_messages", list, [], doc="why a link's ids could not be opened (shown once)"
)
URL_IDS: Key[dict] = Key("_url_ids", dict, {}, doc="what the URL named after the last write")
FORGET_SAVED: Key[list | None] = Key(
    "_forget_saved", (list, type(None)), None,
    doc="[forget request dict, its run-store id]: the confirmed forget set, stored",
)  # fmt: skip


@dataclass(frozen=True)
class UrlParam:
    """A query parameter: what it holds and the session key it restores."""

    name: str
    #: how a message names what it holds ("The link names {words} `id`, ...")
    words: str
    key: Key
    #: what the value is
    holds: str
    #: for a job's id: the job kind (``state.JOBS[kind]``)
    job: str | None = None


#: the URL, in the order a fresh session restores it (a run brings its model and forget set)
URL_PARAMS: tuple[UrlParam, ...] = (
    UrlParam(
        "owner",
        "owner",
        OWNER,
        "the owner id of a browser that keeps no cookies (whose runs are its own)",
    ),  # fmt: skip
    UrlParam("run", "run", COMPARISON_ID, "the shown comparison's run-store id (a stored one)"),
    UrlParam(
        "model",
        "model",
        MODEL_KEY,
        "the run-store id of the current model (stored the first time it is shown); restoring "
        "it sets the dataset, architecture, recipe and seed it was made with",
    ),  # fmt: skip
    UrlParam(
        "forget",
        "forget set",
        FORGET,
        "the run-store id of the confirmed forget set (stored the first time it is shown)",
    ),  # fmt: skip
    UrlParam("job", "job", JOBS, "the id of this session's running comparison job", "compare"),
    UrlParam("audit", "audit", AUDIT_ID, "the shown audit's run-store id (a stored one)"),
    UrlParam("sweep", "sweep", SWEEP_ID, "the shown sweep's run-store id (a stored one)"),
    UrlParam("ajob", "audit job", JOBS, "the id of this session's running audit job", "audit"),
    UrlParam("sjob", "sweep job", JOBS, "the id of this session's running sweep job", "sweep"),
    UrlParam(
        "inversion",
        "inversion attack",
        INVERSION_ID,
        "the shown inversion attack's run-store id (a stored one)",
    ),
    UrlParam(
        "ijob", "inversion job", JOBS, "the id of this session's running inversion job", "inversion"
    ),
)
URL_BY_NAME = {p.name: p for p in URL_PARAMS}

# ====================================================================== pages' bookkeeping
WRITTEN_P1: Key[dict] = Key(
    "_p1_written", dict, {},
    doc="Data & model widgets -> the value the page last showed (a widget shows a new state "
    "value only when the state changed)",
)  # fmt: skip
WRITTEN_P3: Key[dict] = Key("_p3_written", dict, {}, doc="the same for the Unlearn page")
P1_SETTINGS: Key[str | None] = Key(
    "_p1_settings", (str, type(None)), None,
    doc="the settings key the Data & model page last matched a model to",
)  # fmt: skip
P1_ORIGIN: Key[str] = Key(
    "_p1_origin", str, "", doc="where the current model came from: trained, cache, checkpoint"
)
P1_CKPT_MSG: Key[tuple | list | None] = Key(
    "_p1_ckpt_msg", (tuple, list, type(None)), None,
    doc="(level, text) of the checkpoint loader's outcome, shown once",
)  # fmt: skip
P1_TRAIN_FOR: Key[str | None] = Key(
    "_p1_train_for", (str, type(None)), None, doc="the settings key the last Train was for"
)
P1_ESTIMATE: Key[str | None] = Key(
    "_p1_estimate", (str, type(None)), None, doc="the training estimate shown at the click"
)
P2_NOTE: Key[str | None] = Key(
    "_p2_note", (str, type(None)), None, doc="the Forget set page's note for its next run"
)
P2_SIG: Key[str | None] = Key(
    "_p2_sig", (str, type(None)), None, doc="the lasso selection already applied"
)
JOBS_SHOWN: Key[set] = Key(
    "_jobs_shown_on_page", set, set(),
    doc="ids of the jobs the page being drawn shows in full (the sidebar then does not)",
)  # fmt: skip
ATTACK_THRESHOLD_FOR: Key[list | None] = Key(
    "attack_threshold_for", (list, type(None)), None,
    doc="[model, score] the attack threshold was last set for",
)  # fmt: skip
AU_INSTANCE: Key[int | None] = Key(
    "au_instance", (int, type(None)), None, doc="the sample in the audit's instance view"
)
RUNS_DELETE: Key[str | None] = Key(
    "_runs_delete", (str, type(None)), None, doc="the run a delete is being confirmed for"
)
RUNS_PREPARED: Key[list | None] = Key(
    "_runs_prepared", (list, type(None)), None, doc="[run id, export] prepared for download"
)


# ====================================================================== widgets and charts
def _w(name: str, type_: type | tuple[type, ...] = object, doc: str = "") -> Key:
    return Key(name, type_, None, kind="widget", doc=doc)


def _c(name: str, doc: str = "") -> Key:
    return Key(name, object, None, kind="chart", doc=doc)


class P1:
    """Data & model page."""

    SOURCE = _w("p1_source", str, "the dataset picker (also on the first paint)")
    SHAPES_SIZE = _w("p1_shapes_size", int)
    SHAPES_N = _w("p1_shapes_n", int)
    FORMAT = _w("p1_format", str)
    WHERE = _w("p1_where", str)
    UPLOAD = _w("p1_upload", list)
    PATH = _w("p1_path", str)
    CSV_LABEL = _w("p1_csv_label", str)
    LOAD = _w("p1_load", bool)
    ARCH = _w("p1_arch", str)
    SEED = _w("p1_seed", int)
    EPOCHS = _w("p1_epochs", int)
    LR = _w("p1_lr", float)
    BATCH_SIZE = _w("p1_batch_size", int)
    OPTIMIZER = _w("p1_optimizer", str)
    RESET = _w("p1_reset", bool)
    TRAIN = _w("p1_train", bool, "the Train button (also on the first paint)")
    CANCEL = _w("p1_cancel", bool)
    CKPT_OPEN = _w("p1_ckpt_open", bool, "whether the checkpoint loader is open (drawn only then)")
    CKPT_FILES = _w("p1_ckpt_files", list)
    CKPT_PATH = _w("p1_ckpt_path", str)
    CKPT_LOAD = _w("p1_ckpt_load", bool)
    SCATTER = _c("p1_scatter")
    PER_CLASS = _c("p1_per_class")
    CURVE = _c("p1_curve")
    #: the recipe field -> its input
    RECIPE_FIELDS = {"epochs": EPOCHS, "lr": LR, "batch_size": BATCH_SIZE, "optimizer": OPTIMIZER}


class P2:
    """Forget set page."""

    MODE = _w("p2_mode", str)
    CLASSES = _w("p2_classes", list)
    FRACTION = _w("p2_fraction", float)
    FRACTION_CLASS = _w("p2_fraction_class", (int, str))
    FRACTION_SEED = _w("p2_fraction_seed", int)
    LASSO_ACTION = _w("p2_lasso_action", str)
    TICK_CLASS = _w("p2_tick_class", (int, str))
    TICK_PAGE = _w("p2_tick_page", int)
    TICK_ALL = _w("p2_tick_all", bool)
    UNTICK_ALL = _w("p2_untick_all", bool)
    CLEAR = _w("p2_clear", bool)
    CONFIRM = _w("p2_confirm", bool)
    REPAIR_KIND = _w("p2_repair_kind", str, "the repair scenario")
    REPAIR_FRACTION = _w("p2_repair_fraction", float)
    REPAIR_FROM = _w("p2_repair_from", int)
    REPAIR_TO = _w("p2_repair_to", (int, str))
    REPAIR_TARGET = _w("p2_repair_target", int)
    REPAIR_DETECT = _w("p2_repair_detect", float)
    REPAIR_USE = _w("p2_repair_use", bool)
    TICK: KeyFamily[bool] = KeyFamily("p2_tick_", bool, doc="a thumbnail's box, per sample id")
    SCATTER = _c("forget_scatter", "the lasso scatter (its selection event)")
    PREVIEW = _c("p2_preview_scatter")


class P3:
    """Unlearn page."""

    METHODS = _w("p3_methods", list)
    RETRAIN = _w("p3_retrain", bool)
    SEED = _w("p3_seed", int)
    N_SEEDS = _w("p3_n_seeds", int)
    RUN = _w("p3_run", bool)
    CANCEL = _w("p3_cancel", bool)
    PARAM: KeyFamily = KeyFamily("p3_", doc="a method's parameter input: p3_<method>_<param>")


class CMP:
    """Compare page."""

    TAB = _w("compare_tab", str)
    METHOD = _w("compare_method", str, "the unlearned method the detailed tabs are about")
    ATTR_SAMPLES = _w("attr_samples", list)
    UMAP_RETRY = _w("umap_retry", bool)
    ACC = _c("chart_acc")
    MIA = _c("chart_mia")
    GAP = _c("chart_gap")
    AUC = _c("chart_auc")
    TIME = _c("chart_time")
    PER_CLASS = _c("chart_per_class")
    EMBED = _c("chart_embed")
    MOVED = _c("chart_moved")
    CKA = _c("chart_cka")
    BOUNDARY = _c("chart_boundary")
    ATTR: KeyFamily = KeyFamily("chart_attr_", kind="chart", doc="per sample id")
    CM: KeyFamily = KeyFamily("chart_cm_", kind="chart", doc="confusion matrix per model")
    NEURONS: KeyFamily = KeyFamily("chart_neurons_", kind="chart", doc="per method and class")


class RPR:
    """Compare page, a repair run (``app_ui.repair_view``): is the damage undone?"""

    ATTACK = _c("chart_repair_attack", "attack success (or reliance) per model")
    RESTORE = _c("chart_repair_restore", "restoration per model")
    PATCH = _c("chart_repair_patch", "attribution on the patch per model")
    TRIGGERED = _w("repair_triggered", list, "the triggered test images explained")
    ATTR: KeyFamily = KeyFamily("chart_repair_attr_", kind="chart", doc="per triggered image")


class ATK:
    """Attack page."""

    MODEL = _w("attack_model", str)
    SCORE = _w("attack_score", str)
    THRESHOLD = _w("attack_threshold", float)
    HIST = _c("attack_hist")
    ROC = _c("attack_roc")


class AU:
    """Audit page: the audit."""

    METHODS = _w("au_methods", list)
    K = _w("au_k", int)
    SEED = _w("au_seed", int)
    EXECUTOR = _w("au_executor", str)
    WORKERS = _w("au_workers", int)
    RELEARN = _w("au_relearn", str)
    RUN = _w("au_run", bool)
    CANCEL = _w("au_cancel", bool)
    EMB_METHOD = _w("au_emb_method", str)
    FRAME = _w("au_frame", str)
    RELEARN_SEED = _w("au_relearn_seed", int)
    SCATTER = _c("au_scatter", "the epsilon embedding (its selection event)")
    INSTANCE_CHART = _c("au_instance_chart")
    RELEARN_SPREAD = _c("au_relearn_spread")
    RELEARN_CHART = _c("au_relearn_chart")


class INV:
    """Inversion page."""

    SAMPLES = _w("inv_samples", list)
    METHOD = _w("inv_method", str)
    NO_STOP = _w("inv_no_stop", bool)
    TOGETHER = _w("inv_together", bool)
    ITERATIONS = _w("inv_iterations", int)
    RUN = _w("inv_run", bool)
    CANCEL = _w("inv_cancel", bool)


class SW:
    """Audit page: the sweep."""

    METHOD = _w("sw_method", str)
    TRIALS = _w("sw_trials", int)
    SAMPLER = _w("sw_sampler", str)
    WORKERS = _w("sw_workers", int)
    RUN = _w("sw_run", bool)
    CANCEL = _w("sw_cancel", bool)
    APPLY = _w("sw_apply", bool)
    GAP = _c("sw_gap")


class RUNS:
    """Runs page."""

    PICK = _w("runs_pick", str)
    OPEN = _w("runs_open", bool)
    SAVE_NOTE = _w("runs_save_note", bool)
    DELETE = _w("runs_delete", bool)
    DELETE_YES = _w("runs_delete_yes", bool)
    DELETE_NO = _w("runs_delete_no", bool)
    SIDE = _w("runs_side", list)
    EVERYONE = _w("runs_everyone", bool)
    NOTE: KeyFamily = KeyFamily("runs_note_", str, doc="a run's note, per run id")
    PREP: KeyFamily = KeyFamily("runs_prep_", bool, doc="an export's Prepare button")
    DOWNLOAD: KeyFamily = KeyFamily("runs_dl_", bool, doc="an export's download button")
    SIDE_CHART: KeyFamily = KeyFamily("runs_side_chart_", kind="chart", doc="per figure")


class LEARN:
    """Learn page."""

    CHECKS = _c("learn_checks")
    CURVES = _c("learn_curves")


#: the sidebar's live job lines: ``jobline_<kind>`` (its Cancel: ``jobline_<kind>_cancel``)
JOBLINE: KeyFamily = KeyFamily("jobline_", bool, doc="a sidebar job line's Cancel button")


# ====================================================================== widget <-> state binding
def bind(widget: str, value: Any, memo: Key[dict]) -> None:
    """Show ``value`` in ``widget`` unless the widget already shows what it last wrote (``memo``
    remembers, per widget, the value last shown): a widget keeps the user's edit until the
    state it mirrors changes."""
    widget, written = str.__str__(widget), memo.setdefault()
    if widget not in st.session_state or written.get(widget) != value:
        st.session_state[widget] = value
        written[widget] = value


def wrote(widget: str, value: Any, memo: Key[dict]) -> None:
    """Remember that ``widget`` now shows ``value`` (after drawing it)."""
    memo.setdefault()[str.__str__(widget)] = value


class AL:
    """Audit page: the ensemble lenses and the per-sample drill-down (issue 19)."""

    LENSES = _w("al_lenses", list, "the lenses the next audit is run with")
    METHOD = _w("al_method", str, "whose forget samples the drill-down shows")
    SAMPLE = _w("al_sample", int, "the forget sample drilled into")
    CHART = _c("al_chart", "the lenses side by side")
    HIST = _c("al_hist", "one forget sample's margin histograms")
    LEARN = _c("learn_lenses", "the Learn page's lenses against the demonstration")


AL_FOLLOWED: Key[int | None] = Key(
    "_al_followed", (int, type(None)), None,
    doc="the epsilon-embedding click the lens drill-down last followed",
)  # fmt: skip


class TX:
    """The text track's sections of the workflow pages (``app_ui.text_view``, issue 22)."""

    PEOPLE_N = _w("tx_people_n", int, "how many fictitious people the facts dataset has")
    FACTS_N = _w("tx_facts_n", int, "facts per person of the facts dataset")
    MODE = _w("tx_mode", str, "how the forget set is chosen: people, a share, single facts")
    PEOPLE = _w("tx_people", list, "the people picked to forget")
    SHARE = _w("tx_share", float, "the share of people to forget (TOFU's forget01/05/10)")
    SHARE_SEED = _w("tx_share_seed", int, "the draw of that share")
    FACTS = _w("tx_facts", list, "the single facts picked to forget (training rows)")
    CONFIRM = _w("tx_confirm", bool, "Use this forget set (text)")
    TAB = _w("tx_tab", str, "the open tab of the text Compare page (only it is computed)")
    QUESTIONS = _w("tx_questions", list, "the questions whose answers Compare shows")
    ATTR_QUESTION = _w("tx_attr_question", int, "the forget question attributed")
    PER_FACT = _c("tx_per_fact", "exact match per kind of fact")
    CURVE = _c("tx_curve", "the text model's training curve")
    ACC = _c("tx_acc", "exact match per split and model")
    MIA = _c("tx_mia", "membership AUCs per model")
    ATTR = _c("tx_attr", "token attributions per model")
    STATES = _c("tx_states", "hidden states of forget and retain questions")
    ATTACK_METHOD = _w("tx_attack_method", str, "the unlearned model the text Attack page reads")
    ATTACK_SCORE = _w("tx_attack_score", str, "the membership attack the text Attack page draws")
    ATTACK_ROC = _c("tx_attack_roc", "ROC curves of one membership attack per model")
    AUDIT_METHOD = _w("tx_audit_method", str, "the unlearned model the text audit lens reads")
    AUDIT_LENS = _c("tx_audit_lens", "per forget question: where the unlearned model sits")
    MOVED = _c("tx_moved", "how far each model moved the questions' hidden states")
