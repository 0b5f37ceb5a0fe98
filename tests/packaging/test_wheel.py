"""The wheel: built from this checkout, installed into fresh virtualenvs, run outside the repo.

The extras are installed at the versions in ``uv.lock`` (as constraints), so uv takes them from
its cache; uv works offline first and asks PyPI only on a cache miss.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SERVER_ONLY_MODULES = ("polars", "pyarrow", "pandas", "deltalake", "streamlit")
# Variables that would point a process at the checkout or at another environment.
LEAKY_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "UV_PROJECT_ENVIRONMENT",
    "GPULEDGER_HOME",
    "GPULEDGER_CONFIG",
)


def _find_uv() -> str:
    """uv from ``$UV``, else the repository's ``.tools/bin/uv`` (``make`` installs it), else PATH."""
    for candidate in (os.environ.get("UV"), str(REPO / ".tools" / "bin" / "uv"), "uv"):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    pytest.fail("uv not found: set UV, run `make` (it installs .tools/bin/uv) or put uv on PATH")


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_VARIABLES}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["NO_COLOR"] = "1"
    return env | extra


def _run(*command: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        check=False,
        cwd=cwd,
        env=_clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _uv(*args: str, cwd: Path) -> float:
    """Run ``uv ARGS`` from the cache alone; on a cache miss, again with PyPI. Returns seconds."""
    uv = _find_uv()
    started = time.monotonic()
    offline = _run(uv, "--offline", *args, cwd=cwd)
    if offline.returncode != 0:
        online = _run(uv, *args, cwd=cwd)
        assert online.returncode == 0, (
            f"uv {' '.join(args)} failed\noffline:\n{offline.stderr}\nonline:\n{online.stderr}"
        )
    return time.monotonic() - started


@dataclass(frozen=True)
class Wheel:
    path: Path
    constraints: Path

    def install(self, extra: str, venv: Path) -> float:
        """A fresh virtualenv with ``gpuledger[extra]`` from the wheel; returns seconds taken."""
        _uv("venv", "--quiet", "--python", sys.executable, str(venv), cwd=venv.parent)
        requirement = f"gpuledger[{extra}] @ {self.path.as_uri()}"
        return _uv(
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "--constraints",
            str(self.constraints),
            requirement,
            cwd=venv.parent,
        )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    """The wheel of this checkout, and the lock's versions of every extra as constraints."""
    out = tmp_path_factory.mktemp("dist")
    seconds = _uv("build", "--quiet", "--wheel", "--out-dir", str(out), str(REPO), cwd=out)
    (path,) = out.glob("gpuledger-*.whl")
    constraints = out / "constraints.txt"
    _uv(
        "export",
        "--quiet",
        "--project",
        str(REPO),
        "--frozen",
        "--no-dev",
        "--all-extras",
        "--no-emit-project",
        "--no-hashes",
        "--output-file",
        str(constraints),
        cwd=out,
    )
    print(f"uv build: {seconds:.1f} s")
    return Wheel(path, constraints)


@pytest.fixture(scope="module")
def server_venv(wheel: Wheel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("server") / "venv"
    print(f"install gpuledger[server]: {wheel.install('server', venv):.1f} s")
    return venv


@pytest.fixture(scope="module")
def demo_home(server_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``gpuledger demo --no-app`` from the wheel, run from a folder outside the repository."""
    cwd = tmp_path_factory.mktemp("demo")
    home = cwd / "home"
    started = time.monotonic()
    demo = _run(server_venv / "bin" / "gpuledger", "--home", home, "demo", "--no-app", cwd=cwd)
    print(f"gpuledger demo: {time.monotonic() - started:.1f} s")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "chargeback 20" in demo.stdout, demo.stdout
    assert "Try: gpuledger --home" in demo.stdout, demo.stdout
    assert "writing sample data to" in demo.stdout, "the wheel found the checkout's sample_data"
    return home


def _expected_files() -> set[str]:
    """The checkout's pages, data files and e-mail templates, as paths inside the wheel."""
    package = REPO / "src" / "gpuledger"
    pages = {
        f"gpuledger/app/{path.relative_to(REPO / 'app').as_posix()}"
        for path in (REPO / "app").rglob("*.py")
    }
    data = {f"gpuledger/data/{path.name}" for path in (package / "data").iterdir()}
    templates = {
        f"gpuledger/report/email/templates/{path.name}"
        for path in (package / "report" / "email" / "templates").iterdir()
    }
    return pages | data | templates


def test_wheel_ships_the_pages_data_and_templates(wheel: Wheel) -> None:
    names = set(zipfile.ZipFile(wheel.path).namelist())
    expected = _expected_files()
    assert {"gpuledger/app/Home.py", "gpuledger/data/gpuledger.toml"} <= expected
    assert any(name.endswith(".csv") for name in expected)
    assert any(name.endswith(".html") for name in expected)
    assert any(name.endswith(".txt") for name in expected)
    assert expected - names == set()
    assert [name for name in names if "__pycache__" in name or name.endswith(".pyc")] == []


def test_demo_runs_from_the_installed_wheel(server_venv: Path, demo_home: Path) -> None:
    where = _run(
        server_venv / "bin" / "python",
        "-c",
        "import gpuledger; print(gpuledger.__file__)",
        cwd=demo_home,
    )
    assert Path(where.stdout.strip()).is_relative_to(server_venv), where.stdout + where.stderr
    assert (demo_home / "gpuledger.toml").read_bytes() == (
        REPO / "src" / "gpuledger" / "data" / "gpuledger.toml"
    ).read_bytes()


PAGES_CHECK = """
from streamlit.testing.v1 import AppTest
from gpuledger.commands.app import app_script

script = app_script()
print(script)
app = AppTest.from_file(str(script), default_timeout=120)
app.run()
assert not app.exception, [error.value for error in app.exception]
for page in ("views/waste.py", "views/recommendations.py", "views/health.py"):
    app.switch_page(page).run()
    assert not app.exception, (page, [error.value for error in app.exception])
"""


def test_installed_pages_import_each_other_and_render(server_venv: Path, demo_home: Path) -> None:
    pages = _run(
        server_venv / "bin" / "python",
        "-c",
        PAGES_CHECK,
        cwd=demo_home.parent,
        GPULEDGER_HOME=str(demo_home),
        GPULEDGER_CONFIG=str(demo_home / "gpuledger.toml"),
    )
    assert pages.returncode == 0, pages.stdout + pages.stderr
    script = Path(pages.stdout.splitlines()[0])
    assert script.is_relative_to(server_venv), f"the app was not served from the wheel: {script}"
    assert script.parent.name == "app"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served_app(server_venv: Path, demo_home: Path, tmp_path: Path) -> Iterator[str]:
    """``gpuledger app`` from the wheel on a free port; stopped (its whole group) afterwards."""
    port = _free_port()
    log = tmp_path / "app.log"
    command = [
        str(server_venv / "bin" / "gpuledger"),
        "--home",
        str(demo_home),
        "--config",
        str(demo_home / "gpuledger.toml"),
        "app",
        "--port",
        str(port),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=_clean_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield _wait_healthy(f"http://127.0.0.1:{port}", process, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gpuledger app exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"gpuledger app did not answer at {url} within 60 s:\n{log.read_text()}")


def test_app_from_the_wheel_is_healthy(served_app: str) -> None:
    with urllib.request.urlopen(f"{served_app}/_stcore/health", timeout=5) as response:
        assert response.read().decode().strip() == "ok"


def test_agent_extra_installs_no_server_stack(
    wheel: Wheel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    venv = tmp_path_factory.mktemp("agent") / "venv"
    print(f"install gpuledger[agent]: {wheel.install('agent', venv):.1f} s")
    cwd = venv.parent
    python, gpuledger = venv / "bin" / "python", venv / "bin" / "gpuledger"

    importable = [
        module
        for module in SERVER_ONLY_MODULES
        if _run(python, "-c", f"import {module}", cwd=cwd).returncode == 0
    ]
    assert importable == [], "the agent extra pulled in the server stack"

    for command in (("--help",), ("agent", "--help")):
        result = _run(gpuledger, *command, cwd=cwd)
        assert result.returncode == 0, (command, result.stdout + result.stderr)

    demo = _run(gpuledger, "--home", cwd / "home", "demo", "--no-app", cwd=cwd)
    assert demo.returncode == 2, demo.stdout + demo.stderr
    assert "gpuledger[server]" in demo.stderr
