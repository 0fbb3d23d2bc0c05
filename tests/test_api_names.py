"""lazyarr is a namespace of the Python array API standard 2024.12: every name it requires.

``data/array_api_2024_12_names.json`` lists them, taken from the ``__all__`` of each module of
the standard's stubs (``src/array_api_stubs/_2024_12`` of ``data-apis/array-api``) and the
methods of its array object.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lazyarr as la

NAMES = json.loads((Path(__file__).parent / "data" / "array_api_2024_12_names.json").read_text())
GROUPS = NAMES["names"]
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64", "complex64", "complex128")


def _missing(group: str) -> list[str]:
    names = GROUPS[group]
    if group == "array_object":
        x = la.asarray(np.ones((2, 2)))
        return [n for n in names if not hasattr(x, n)]
    if group in ("linalg", "fft"):
        module = getattr(la, group)
        return [n for n in names if not callable(getattr(module, n, None))]
    if group == "info":  # the function itself, then what the object it returns must have
        info = la.__array_namespace_info__()
        return [n for n in names if not callable(getattr(la if n.startswith("__") else info, n,
                                                         None))]
    if group == "constants":
        return [n for n in names if not hasattr(la, n)]
    return [n for n in names if not callable(getattr(la, n, None))]


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_name_of_the_standard(group: str) -> None:
    assert _missing(group) == []


def test_dtypes_and_version() -> None:
    for name in DTYPES:
        assert getattr(la, name) == np.dtype(name)
    assert la.__array_api_version__ == "2024.12"
    assert la.asarray([1.0]).__array_namespace__() is la


def test_constants() -> None:
    assert (la.e, la.pi, la.inf) == (np.e, np.pi, np.inf)
    assert np.isnan(la.nan) and la.newaxis is None
