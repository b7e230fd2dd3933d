import os
import pathlib

import pytest

import ziggydb

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "db")


@pytest.fixture
def db(path):
    with ziggydb.open(path) as d:
        yield d


@pytest.fixture
def ziggy_bin():
    """The `ziggy` binary (`cargo build --release --bins`), or ZIGGY_BIN."""
    p = pathlib.Path(os.environ.get("ZIGGY_BIN", REPO / "target" / "release" / "ziggy"))
    if not p.exists():
        pytest.fail(f"{p} missing: run `cargo build --release --bins` first (or set ZIGGY_BIN)")
    return str(p)
