"""Naming the datastore for every process (LAMINAR_DATASTORE, laminar.toml), refusing one Ray would delete,
and the wording of a missing dependency. No Ray needed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from laminar import Flow, Layer, settings
from laminar.configurations import datastores
from laminar.errors import ConfigurationError, DatastoreError
from laminar.runtime import importing
from laminar_ray.jobs import requirements, submit

REPOSITORY = Path(__file__).resolve().parents[2]


class Small(Flow): ...


@Small.register
class Only(Layer):
    def __call__(self) -> None:
        self.value = 1


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv(settings.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_default_is_dot_laminar_in_the_current_directory(tmp_path: Path) -> None:
    assert Small().configuration.datastore.root == str(tmp_path / ".laminar")
    assert settings.choice().source == "the default"


def test_laminar_datastore_names_it_for_flows_that_name_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(settings.ENV, "relative/store")
    assert Small().configuration.datastore.root == str(tmp_path / "relative" / "store")
    monkeypatch.setenv(settings.ENV, "s3://bucket/prefix")
    assert type(Small().configuration.datastore).__name__ == "S3"
    explicit = datastores.Local(str(tmp_path / "mine"))
    assert Small(datastore=explicit).configuration.datastore is explicit  # code that names one wins


def test_laminar_toml_above_the_current_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "laminar.toml").write_text('datastore = "runs"\n')
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "sub" / "deeper")
    chosen = settings.choice()
    assert chosen.url == str(tmp_path / "runs") and chosen.source == str(tmp_path / "laminar.toml")
    monkeypatch.setenv(settings.ENV, str(tmp_path / "env"))  # the variable wins over the file
    assert Small().configuration.datastore.root == str(tmp_path / "env")


def test_a_bad_laminar_toml_says_which_file(tmp_path: Path) -> None:
    (tmp_path / "laminar.toml").write_text("datastore = \n")
    with pytest.raises(ConfigurationError, match=r"laminar\.toml"):
        Small()
    (tmp_path / "laminar.toml").write_text("datastore = 3\n")
    with pytest.raises(ConfigurationError, match="must be a path or URL string"):
        Small()


def test_a_default_inside_a_ray_job_s_unpacked_files_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    job = tmp_path / "session_1" / "runtime_resources" / "working_dir_files" / "_ray_pkg_0123"
    job.mkdir(parents=True)
    monkeypatch.chdir(job)
    with pytest.raises(ConfigurationError) as refused:
        Small()
    message = str(refused.value)
    assert "Small: the datastore would be" in message and "deletes with its session" in message
    assert "LAMINAR_DATASTORE" in message and "laminar.toml" in message and "laminar submit" in message
    with importing():  # a module only imported (workers, the CLI finding classes) builds its flow anyway
        assert settings.ephemeral(Small().configuration.datastore.root)
    monkeypatch.setenv(settings.ENV, str(tmp_path / "kept"))
    assert Small().configuration.datastore.root == str(tmp_path / "kept")


def test_fsspec_missing_names_the_dependency_not_a_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)  # import fsspec raises ModuleNotFoundError(name="fsspec")
    with pytest.raises(DatastoreError) as error:
        datastores.Local(str(tmp_path / "store")).read_execution("Small", "x")
    assert "laminar's dependencies are not installed in this Python" in str(error.value)
    assert "No module named 'fsspec'" in str(error.value) or "fsspec" in str(error.value)
    assert "laminar[s3]" not in str(error.value)


def test_importing_laminar_without_its_dependencies_names_them() -> None:
    # -S: no site-packages, so not even pydantic; laminar itself from the repository
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    result = subprocess.run([sys.executable, "-S", "-c", "import laminar"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "laminar's dependencies are not installed in this Python" in result.stderr
    # the first of laminar's dependencies it imports (none is there)
    first = re.search(r"No module named '(pydantic|cloudpickle|orjson|fsspec|pyarrow|rich)'", result.stderr)
    assert first, result.stderr
    assert "laminar submit --pip" in result.stderr


def test_submit_refuses_what_the_job_could_not_use(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="lives in this process only"):
        submit(Small(datastore=datastores.Memory()))
    with pytest.raises(ConfigurationError, match="resume_on_failure must be 0 or more"):
        submit(Small(), resume_on_failure=-1)
    with pytest.raises(ConfigurationError, match="carries credentials"):
        submit(Small(datastore=datastores.Fsspec("memory://user:hunter22@host/x")))
    with pytest.raises(Exception, match="no execution 'nope'"):
        submit(Small(), execution="nope", resume=True)


def test_pip_requirements_are_laminar_s_dependencies_without_ray() -> None:
    names = {r.split(">")[0].split("=")[0].split(";")[0].strip().lower() for r in requirements()}
    assert {"pydantic", "fsspec", "cloudpickle", "orjson", "pyarrow", "rich"} <= names
    assert "ray" not in names and not any("s3fs" in r or "pytest" in r for r in requirements())
