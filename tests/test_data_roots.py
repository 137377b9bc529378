"""The server's path boxes read only under its data roots: ``..`` and symlinks do not lead out."""

import os

import pytest

from unlearn_core.data import DataError
from unlearn_core.data.roots import ENV, DataRoots, PathNotAllowed


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.csv").write_text("label\n1\n")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "private.csv").write_text("label\n1\n")
    return root, outside


def test_a_path_under_a_root_is_allowed_and_resolved(tree):
    root, _ = tree
    roots = DataRoots.of([root])
    assert roots.check(root / "sub" / "ok.csv") == (root / "sub" / "ok.csv").resolve()
    assert roots.check(root / "sub" / ".." / "sub" / "ok.csv").name == "ok.csv"
    assert roots.check(root) == root.resolve()


def test_dotdot_out_of_a_root_is_refused_and_names_the_setting(tree):
    root, outside = tree
    with pytest.raises(PathNotAllowed, match=ENV) as err:
        DataRoots.of([root]).check(root / ".." / "secret" / "private.csv")
    assert isinstance(err.value, DataError)  # the pages' one error type for bad data input


def test_a_symlink_out_of_a_root_is_refused(tree):
    root, outside = tree
    link = root / "sub" / "link.csv"
    os.symlink(outside / "private.csv", link)
    folder_link = root / "elsewhere"
    os.symlink(outside, folder_link, target_is_directory=True)
    roots = DataRoots.of([root])
    with pytest.raises(PathNotAllowed):
        roots.check(link)
    with pytest.raises(PathNotAllowed):
        roots.check(folder_link / "private.csv")


def test_a_sibling_with_the_roots_name_as_prefix_is_refused(tree, tmp_path):
    root, _ = tree
    (tmp_path / "data-other").mkdir()
    with pytest.raises(PathNotAllowed):
        DataRoots.of([root]).check(tmp_path / "data-other")


def test_roots_from_the_environment_or_beside_the_run_store(tree, tmp_path, monkeypatch):
    root, outside = tree
    monkeypatch.setenv(ENV, os.pathsep.join([str(root), str(outside)]))
    assert (
        DataRoots.from_env(tmp_path / "runs").check(outside / "private.csv").name == "private.csv"
    )
    monkeypatch.delenv(ENV)
    home = tmp_path / "runs"
    roots = DataRoots.from_env(home)
    assert roots.roots == (home.resolve(), (tmp_path / "data").resolve())
    assert roots.check(root / "sub" / "ok.csv")
    with pytest.raises(PathNotAllowed):
        roots.check(outside / "private.csv")


def test_an_empty_path_is_a_data_error():
    with pytest.raises(DataError, match="give a path"):
        DataRoots.of(["/"]).check("  ")
