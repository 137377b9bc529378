"""Every session-state key is declared once, in ``app_ui/state.py``.

The app's source is read (not run): a page, ``app.py`` or an ``app_ui`` module that spells a
session-state key as a string — ``st.session_state["x"]``, ``S.get("x")``, ``"x" in S``,
``S.update(x=...)``, a widget's ``key="x"`` or ``chart(fig, "x")`` — fails, whether or not the
name is declared: they use the state module's keys (``ARCH.get()``, ``key=P1.ARCH``). The
first paint (``app_ui/first_paint.py``, which must not import the library) may spell its few
keys, but only declared ones.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app_ui import first_paint, state  # noqa: E402

#: files that may spell declared keys as strings (the first paint imports nothing of the app)
LENIENT = {"app_ui/first_paint.py"}


def app_files() -> list[Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
    files += [p for p in sorted((ROOT / "app_ui").glob("*.py")) if p.name != "state.py"]
    return files


def _is_session_state(node: ast.AST, aliases: set[str]) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "session_state":
        return True
    return isinstance(node, ast.Name) and node.id in aliases


def _aliases(tree: ast.AST) -> set[str]:
    """Names bound to ``st.session_state`` anywhere in the file (``S = st.session_state``)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_session_state(node.value, set()):
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def _strings(tree: ast.AST) -> dict[str, str]:
    """Names assigned a string literal anywhere in the file (``CHART_KEY = "x"``)."""
    out = {}
    for node in ast.walk(tree):
        value = node.value if isinstance(node, ast.Assign) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            out.update({t.id: value.value for t in node.targets if isinstance(t, ast.Name)})
    return out


def _spelt(node: ast.AST | None, names: dict[str, str] | None = None) -> str | None:
    """The key a literal spells (an f-string: its text with ``{}`` for the holes; a name bound
    to a string literal: that string), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and names and node.id in names:
        return names[node.id]
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def spelt_keys(source: str) -> list[tuple[int, str]]:
    """(line, key) of every session-state key spelt as a string in ``source``."""
    tree = ast.parse(source)
    ss = _aliases(tree)
    names = _strings(tree)

    def _literal(node):
        return _spelt(node, names)

    found: list[tuple[int, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_session_state(node.value, ss):
            found.append((node.lineno, _literal(node.slice)))
        elif isinstance(node, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in node.ops
        ):
            if any(_is_session_state(c, ss) for c in node.comparators):
                found.append((node.lineno, _literal(node.left)))
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and _is_session_state(f.value, ss):
                if f.attr in ("get", "pop", "setdefault") and node.args:
                    found.append((node.lineno, _literal(node.args[0])))
                elif f.attr == "update":
                    found += [(node.lineno, kw.arg) for kw in node.keywords if kw.arg]
                    for arg in node.args:
                        if isinstance(arg, ast.Dict):
                            found += [(node.lineno, _literal(k)) for k in arg.keys]
            for kw in node.keywords:
                if kw.arg == "key":
                    found.append((node.lineno, _literal(kw.value)))
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
            if name == "chart" and len(node.args) >= 2:
                found.append((node.lineno, _literal(node.args[1])))
    return [(line, key) for line, key in found if key is not None]


@pytest.mark.parametrize("path", app_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_session_state_key_is_spelt_as_a_string(path):
    rel = str(path.relative_to(ROOT))
    spelt = spelt_keys(path.read_text())
    if rel in LENIENT:
        undeclared = [(n, k) for n, k in spelt if not state.is_declared(k)]
        assert not undeclared, f"{rel}: keys not declared in app_ui/state.py: {undeclared}"
    else:
        assert not spelt, (
            f"{rel} spells session-state keys as strings (use app_ui.state's keys): {spelt}"
        )


def test_the_check_finds_every_way_of_spelling_a_key():
    source = (
        "import streamlit as st\n"
        "S = st.session_state\n"
        "st.session_state['a']\n"
        "S.get('b', 0)\n"
        "S.setdefault('c', [])\n"
        "S.pop(f'd_{i}')\n"
        "'e' in S\n"
        "S.update(f=1)\n"
        "S.update({'g': 2})\n"
        "st.button('x', key='h')\n"
        "chart(fig, 'i')\n"
        "S[ARCH]\n"  # a declared key: fine
        "st.button('y', key=P1.TRAIN)\n"
        "d.get('not state')\n"
        "K = 'j'\n"
        "S[K]\n"
    )
    assert [k for _, k in sorted(spelt_keys(source))] == list("abc") + ["d_{}"] + list("efghij")


def test_keys_and_url_parameters_are_declared_once_with_a_meaning():
    keys = state.declared()
    assert len(keys) == len(set(keys))
    for name, key in keys.items():
        assert key.kind in state.KINDS and key.name == name
        if key.kind in ("app", "page"):
            assert key.doc, f"{name}: say what it holds"
    names = [p.name for p in state.URL_PARAMS]
    assert len(names) == len(set(names)) == 11
    assert set(names) == {
        "owner", "model", "forget", "run", "job", "audit", "sweep", "ajob", "sjob",
        "inversion", "ijob",
    }  # fmt: skip
    for p in state.URL_PARAMS:
        assert p.key.name in keys and p.holds and p.words


def test_app_keys_get_their_defaults_and_the_first_paint_agrees():
    for key in state.app_keys():
        value = key.default()
        assert isinstance(value, key.type), (key, value)
        assert key.default() is not value or value is None or isinstance(value, bool | int | str)
    assert state.TRAIN_ASAP.name == first_paint.TRAIN_ASAP
    assert state.LIGHT.name == first_paint.LIGHT
