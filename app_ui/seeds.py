"""Several seeds on the result pages: a mean view of a ``MultiComparison`` (so the shared
tables print ``mean ± std``), its table rows and the line that says over how many seeds, error
bars on the bar charts, and what a cancelled several-seed run had finished."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from app_ui.state import UNLEARN_N_SEEDS, UNLEARN_SEED
from unlearn_core.evaluation.tables import REPAIR_ROW_KEYS, seed_row
from unlearn_core.experiment import ROW_KEYS, Comparison, MultiComparison
from unlearn_core.plots.results import ACCURACY_SETS

_ATTRS = ("avg_gap", "seconds", "time_ratio")


def mean_view(multi: MultiComparison, first: Comparison) -> Comparison:
    """``first`` (the first seed, with its models and per-class details) with every headline
    number replaced by its mean over the seeds and ``<key>_std`` beside it (None where fewer
    than two seeds gave the number)."""
    out = copy.copy(first)
    out.original = copy.copy(first.original)
    out.results = [copy.copy(r) for r in first.results]
    for r in [out.original, *out.results]:
        s = multi.get(r.method)
        if s is None:
            continue
        r.metrics = dict(r.metrics)
        for k in (*ROW_KEYS, *(k for k in REPAIR_ROW_KEYS if k in s.stats)):  # + a repair's
            # one seed's number has no spread: no "± 0.00" (evaluation.tables.seed_row)
            mean, std = s.mean(k), (s.std(k) if s.stats[k].n > 1 else None)
            if k in _ATTRS:
                setattr(r, k, mean)
            else:
                r.metrics[k] = mean
            r.metrics[f"{k}_std"] = std
        if s.damaged and "damaged" not in r.flags:
            r.flags = [*r.flags, "damaged"]
    return out


def add_error_bars(fig: go.Figure, multi: MultiComparison, key: str | None = None) -> go.Figure:
    """Standard deviations over the seeds as error bars on the horizontal bar traces of one of
    the results charts (``key`` for a one-metric chart; the accuracy chart maps its panels)."""
    by_label = {label: k for k, label in ACCURACY_SETS}
    for trace in fig.data:
        if trace.type != "bar":
            continue
        k = key or by_label.get(trace.name)
        if k is None:
            continue
        stds = []
        for name in trace.y:
            s = multi.get(str(name))
            stds.append((s.std(k) if s is not None else None) or 0.0)
        trace.error_x = {"type": "data", "array": stds, "visible": True, "thickness": 1.5}
    return fig


def listing(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def seeds_text(seeds: Sequence[int]) -> str:
    """``seed 0``, ``seeds 1 and 2``."""
    return ("seed " if len(seeds) == 1 else "seeds ") + listing([str(s) for s in seeds])


def seeds_caption(seeds: Sequence[int]) -> str:
    """The line above a result table: over how many seeds its numbers are (one seed: its own
    numbers, no spread to show)."""
    if len(seeds) == 1:
        return f"1 seed ({seeds[0]}): each number is that seed's, so there is no spread to show."
    return f"Mean ± standard deviation over {len(seeds)} seeds ({', '.join(map(str, seeds))})."


def seed_rows(multi: MultiComparison, labels: Mapping[str, str] | None = None) -> list[dict]:
    """The result table's rows of a several-seed run, one per model (``labels``: the name a
    row shows): the means, and ``± std`` only where two or more seeds gave the number."""
    labels = labels or {}
    return [
        {**seed_row(s), "method": labels.get(s.method, s.label)}
        for s in [multi.original, *multi.results]
    ]


ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
            "ninth", "tenth")  # fmt: skip


def cancelled_text(
    plan: Sequence[Sequence[str]], seeds: Sequence[int], finished: Sequence[str], stored: bool
) -> str:
    """What a cancelled run had finished and what it had not, for the line under Run.

    ``plan``: ``(name, label)`` of the methods in the order they run (retrain first), each seed
    in turn; ``seeds``: the run's seeds; ``finished``: the names of the methods that had
    finished (failed ones included) in the order they did, seed after seed (the job's
    ``partial``); ``stored``: whether the finished part was stored. The stored part keeps whole
    seeds, or the first seed's finished methods when no seed was whole. A part with nothing in
    it is left out of the sentence: no list is ever empty ("none").
    """
    if not finished:
        return "The run was cancelled before any method finished, so there is nothing to show."
    where = " (stored and shown below)" if stored else " (it could not be stored)"
    whole = min(len(finished) // max(len(plan), 1), len(seeds))
    if whole == len(seeds):
        return f"The run was cancelled after its last method: {seeds_text(seeds)} finished{where}."
    names = set(finished[whole * len(plan) :])
    done = [str(lbl) for n, lbl in plan if n in names]
    undone = [str(lbl) for n, lbl in plan if n not in names]
    if len(seeds) == 1:
        return f"The run was cancelled. Finished: {listing(done)}{where}. " + (
            f"Not finished, so not run: {listing(undone)}."
        )
    seed, rest = seeds[whole], list(seeds[whole + 1 :])
    nth = ORDINALS[whole] if whole < len(ORDINALS) else f"number {whole + 1}"
    out = f"The run was cancelled during seed {seed}, the {nth} of {len(seeds)}. "
    if whole == 0:  # no seed was whole: the first seed's finished methods are what there is
        out += f"Finished on seed {seed}: {listing(done)}{where}. "
        out += f"Not finished, so not run: {listing(undone)} on seed {seed}"
        return out + (f"; {seeds_text(rest)}." if rest else ".")
    out += f"Finished: {seeds_text(seeds[:whole])}, every method{where}. "
    out += f"Not finished, so not shown: {seeds_text([seed, *rest])}"
    if done:
        out += f" (on seed {seed}, {listing(done)} had finished; {listing(undone)} had not)"
    return out + "."


def cancelled_message(context: Mapping, partial: Sequence, stored: bool) -> str:
    """:func:`cancelled_text` for a cancelled comparison job: ``context`` is what
    ``runjobs.start_comparison`` recorded (the plan, the Unlearn page's seed choices),
    ``partial`` the job's finished results, ``stored`` whether its finished part was stored."""
    choices = context.get("choices") or {}
    first = int(choices.get(UNLEARN_SEED, 0))
    seeds = list(range(first, first + int(choices.get(UNLEARN_N_SEEDS, 1))))
    return cancelled_text(context["plan"], seeds, [r.method for r in partial], stored)
