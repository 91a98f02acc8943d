"""Where ``python -m bench --vs soketi`` gets its soketi, with a fake soketi (``fake_soketi.py``) as real processes.

The order: ``--soketi-cmd``, then the project's shared peer script when present, then the cached npm install; with
none of them usable the run ends before measuring anything, with one line naming the flags to use instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.servers import SetupError
from bench.soketi import (
    CachedSoketi,
    SharedScriptSoketi,
    SoketiCommand,
    SoketiProcess,
    resolve_soketi,
)
from bench.soketi_install import SOKETI_VERSION, SoketiInstall, cache_root

ROOT = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).with_name("fake_soketi.py")
FAKE_CMD = f"{sys.executable} {FAKE}"
SMALL_RUN = ["--scenarios", "connections", "--connections", "20", "--no-pin", "--seconds", "1"]


def bench(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bench`` from the project root as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The bench's environment: no shared script, an empty cache of its own, the fake's record file."""
    return {
        **os.environ,
        "BENCH_SOKETI_SCRIPT": "",
        "BENCH_CACHE_DIR": str(tmp_path / "cache"),
        "FAKE_SOKETI_RECORD": str(tmp_path / "started.json"),
    }


def started(env: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(Path(env["FAKE_SOKETI_RECORD"]).read_text())
    return record


def fake_install(root: Path) -> SoketiInstall:
    """A cache holding a finished install whose ``soketi`` executable is the fake."""
    install = SoketiInstall(root)
    install.executable.parent.mkdir(parents=True)
    install.executable.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    install.executable.chmod(0o755)
    install.marker.write_text("fake\n")
    return install


def assert_gone(pid: int) -> None:
    """The process has exited and been reaped (a zombie would still have /proc/PID)."""
    assert not Path(f"/proc/{pid}").exists(), f"soketi (pid {pid}) is still running after the bench ended"


class TestResolutionOrder:
    def test_soketi_cmd_wins_over_the_shared_script_and_the_cache(self, tmp_path: Path) -> None:
        script = tmp_path / "soketi.sh"
        script.write_text("")
        fake_install(tmp_path / "cache")
        environ = {"BENCH_SOKETI_SCRIPT": str(script), "BENCH_CACHE_DIR": str(tmp_path / "cache")}
        chosen = resolve_soketi("my-soketi start --flag 'a b'", None, 5, environ)
        assert isinstance(chosen, SoketiCommand)
        assert chosen.argv == ["my-soketi", "start", "--flag", "a b"]

    def test_the_shared_script_wins_over_the_cache_when_present(self, tmp_path: Path) -> None:
        script = tmp_path / "soketi.sh"
        script.write_text("")
        fake_install(tmp_path / "cache")
        environ = {"BENCH_SOKETI_SCRIPT": str(script), "BENCH_CACHE_DIR": str(tmp_path / "cache")}
        chosen = resolve_soketi(None, None, 5, environ)
        assert isinstance(chosen, SharedScriptSoketi) and chosen.script == script

    def test_without_the_shared_script_the_cached_install_is_used(self, tmp_path: Path) -> None:
        environ = {"BENCH_SOKETI_SCRIPT": "", "BENCH_CACHE_DIR": str(tmp_path / "cache")}
        chosen = resolve_soketi(None, None, 5, environ)
        assert isinstance(chosen, CachedSoketi)
        assert chosen.install.directory == tmp_path / "cache" / f"soketi-{SOKETI_VERSION}"

    def test_a_shared_script_that_does_not_exist_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(SetupError, match="BENCH_SOKETI_SCRIPT="):
            resolve_soketi(None, None, 5, {"BENCH_SOKETI_SCRIPT": str(tmp_path / "missing.sh")})

    def test_the_cache_follows_xdg_unless_bench_cache_dir_is_set(self, tmp_path: Path) -> None:
        assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "pusherpy-bench"
        assert cache_root({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "pusherpy-bench"
        assert cache_root({"XDG_CACHE_HOME": str(tmp_path), "BENCH_CACHE_DIR": "/x"}) == Path("/x")


class TestStartedSoketi:
    def test_soketi_cmd_is_started_on_loopback_with_the_bench_app_and_stopped(self, env: dict[str, str]) -> None:
        run = bench("--target", "soketi", "--soketi-cmd", FAKE_CMD, *SMALL_RUN, env=env)
        assert run.returncode == 0, run.stderr
        assert "soketi" in run.stdout.splitlines()[1] and "connections.20.conn_per_s" in run.stdout
        record = started(env)
        soketi_env = record["env"]
        for name in ("SOKETI_HOST", "SOKETI_METRICS_HOST", "SOKETI_CLUSTER_HOST"):
            assert soketi_env[name] == "127.0.0.1", name
        assert soketi_env["SOKETI_CLUSTER_UNICAST_ADDRESSES"] == f"127.0.0.1:{soketi_env['SOKETI_CLUSTER_PORT']}"
        assert len({soketi_env["SOKETI_PORT"], soketi_env["SOKETI_METRICS_SERVER_PORT"]}) == 2
        assert soketi_env["SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES"] == "true"
        assert soketi_env["SOKETI_DEBUG"] == "false"
        assert_gone(record["pid"])

    def test_soketi_cmd_alone_means_vs_soketi(self, env: dict[str, str]) -> None:
        run = bench("--soketi-cmd", FAKE_CMD, *SMALL_RUN, env=env)
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines()[1].split()[2:5] == ["pusherpy", "soketi", "pusherpy/soketi"]
        assert_gone(started(env)["pid"])

    def test_the_cached_install_runs_from_its_own_directory_without_npm(self, env: dict[str, str]) -> None:
        install = fake_install(Path(env["BENCH_CACHE_DIR"]))
        env["PATH"] = "/nonexistent"  # an install would need npm: the cached one must not
        run = bench("--target", "soketi", *SMALL_RUN, env=env)
        assert run.returncode == 0, run.stderr
        assert "installing" not in run.stderr
        record = started(env)
        assert record["argv"][0] == "start" and record["argv"][1].startswith("--config=")
        assert json.loads(Path(record["argv"][1].removeprefix("--config=")).read_text()) == {
            "cluster.address": "127.0.0.1"
        }
        assert record["cwd"] == str(install.directory)  # soketi reads .env from there, not from the user's project
        assert_gone(record["pid"])

    def test_a_soketi_on_the_javascript_fallback_is_refused_and_stopped(
        self, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FAKE_SOKETI_RECORD", env["FAKE_SOKETI_RECORD"])
        monkeypatch.setenv("FAKE_SOKETI_FALLBACK", "1")
        server = SoketiProcess([sys.executable, str(FAKE)], None, None, 30)
        with pytest.raises(RuntimeError, match="JavaScript fallback"):
            server.start()
        assert_gone(started(env)["pid"])


class TestNothingUsable:
    def test_without_node_npm_or_a_cached_install_one_line_names_the_other_flags(self, env: dict[str, str]) -> None:
        env["PATH"] = "/nonexistent"
        run = bench("--vs", "soketi", *SMALL_RUN, env=env, timeout=30)
        assert run.returncode == 1
        assert run.stdout == ""  # nothing was measured
        lines = run.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in run.stderr
        assert "node and npm are not on PATH" in lines[0]
        assert "--soketi-cmd" in lines[0] and "--vs-url" in lines[0]

    def test_a_failed_npm_install_is_one_line_and_leaves_nothing_that_looks_installed(
        self, env: dict[str, str], tmp_path: Path
    ) -> None:
        # real npm against a registry that refuses connections, with an empty npm cache of its own
        env.update(
            npm_config_registry="http://127.0.0.1:9/",
            npm_config_cache=str(tmp_path / "npm-cache"),
            npm_config_fetch_retries="0",
        )
        run = bench("--vs", "soketi", *SMALL_RUN, env=env, timeout=60)
        assert run.returncode == 1 and "Traceback" not in run.stderr
        installing, error = run.stderr.splitlines()
        assert installing.startswith(f"installing soketi {SOKETI_VERSION} from the npm registry")
        assert error.startswith(f"npm install @soketi/soketi@{SOKETI_VERSION} failed (code ECONNREFUSED")
        assert "--soketi-cmd" in error and "--vs-url" in error
        cache = Path(env["BENCH_CACHE_DIR"])
        assert sorted(p.name for p in cache.iterdir()) == [f"soketi-{SOKETI_VERSION}-npm.log"]

    def test_a_soketi_cmd_that_is_not_there_is_one_line(self, env: dict[str, str]) -> None:
        run = bench("--soketi-cmd", "no-such-soketi start", *SMALL_RUN, env=env, timeout=30)
        assert (run.returncode, run.stdout) == (1, "")
        assert run.stderr == "--soketi-cmd: 'no-such-soketi' is not an executable file nor on PATH\n"

    @pytest.mark.parametrize(
        ("flags", "message"),
        [
            (["--soketi-cmd", FAKE_CMD, "--vs-url", "http://k:s@127.0.0.1:1/apps/1"], "not both"),
            (["--vs", "pusherpy", "--vs-url", "http://k:s@127.0.0.1:1/apps/1"], "instead of --vs pusherpy"),
            (["--vs", "pusherpy-redis:2", "--soketi-cmd", FAKE_CMD], "neither --target nor --vs is soketi"),
        ],
    )
    def test_flags_that_contradict_each_other_are_refused(
        self, env: dict[str, str], flags: list[str], message: str
    ) -> None:
        run = bench(*flags, *SMALL_RUN, env=env, timeout=30)
        assert (run.returncode, run.stdout) == (1, "")
        assert len(run.stderr.splitlines()) == 1 and message in run.stderr
