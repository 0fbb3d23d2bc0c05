"""Where lazyarr looks for NVIDIA's libdevice: toolkits under versioned folder names too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lazyarr.codegen import nvptx

from lazyarr import config


def _toolkit(base: Path, name: str) -> Path:
    path = base / name / "nvvm" / "libdevice" / "libdevice.10.bc"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"BC")
    return path


@pytest.fixture
def no_env(monkeypatch):
    for name in ("CUDA_HOME", "CUDA_PATH", "LAZYARR_LIBDEVICE"):
        monkeypatch.delenv(name, raising=False)


def test_versioned_folders_come_after_the_plain_one_newest_first(tmp_path, no_env):
    for name in ("cuda-11.8", "cuda-12.10", "cuda-12.4", "cuda-x", "cudnn-9"):
        (tmp_path / name).mkdir()
    roots = config.cuda_toolkit_roots(str(tmp_path))
    assert roots == [str(tmp_path / n) for n in ("cuda", "cuda-12.10", "cuda-12.4", "cuda-11.8")]


def test_a_toolkit_under_its_versioned_name_only_is_found(tmp_path, monkeypatch, no_env):
    found = _toolkit(tmp_path, "cuda-12.4")
    _toolkit(tmp_path, "cuda-11.8")
    roots = config.cuda_toolkit_roots
    monkeypatch.setattr(config, "cuda_toolkit_roots", lambda: roots(str(tmp_path)))
    assert nvptx.find_libdevice() == str(found)


def test_environment_comes_first(tmp_path, monkeypatch):
    home = tmp_path / "mine"
    monkeypatch.setenv("CUDA_HOME", str(home))
    monkeypatch.delenv("CUDA_PATH", raising=False)
    assert config.cuda_toolkit_roots(str(tmp_path))[0] == str(home)


def test_a_missing_base_folder_is_no_error(tmp_path, no_env):
    base = os.path.join(tmp_path, "absent")
    assert config.cuda_toolkit_roots(base) == [os.path.join(base, "cuda")]
