"""Faults (issue #8): integer flags, resource limits, I/O failures, signals, concurrency.

The exit-status contract (README, "Error contract"): 0 success, 1 environment or I/O
failure, 2 bad input (impossible requests included), 130 Ctrl-C, 143 SIGTERM; one line
on stderr, no traceback, no half-written folder in every case.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim import cli
from sim.cli import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, MAX_WORKERS, main
from sim.engine import resources, runfolder
from sim.engine.executors import Terminated
from sim.engine.runfolder import RunFolder
from sim.scenario import ScenarioError

SHORT = ["--set", "horizon.end=2025Q4", "--no-plots"]
LINUX = sys.platform.startswith("linux") and Path("/proc/self/stat").exists()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (where a default run would create ``results/``)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Everything under ``folder`` (recursively), hidden partial folders included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def env_with_repo(repo_root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(repo_root)}


# ----------------------------------------------------------------- integer flags

#: name -> (argv after ``casim``, the flag named in the error).
BAD_NUMBERS = {
    "seed-underscore": (["run", "{s}", "--seed", "1_000"], "--seed"),
    "seed-arabic-digits": (["run", "{s}", "--seed", "\u0661\u0662"], "--seed"),
    "seed-space": (["run", "{s}", "--seed", " 12"], "--seed"),
    "seed-plus": (["run", "{s}", "--seed", "+3"], "--seed"),
    "seed-negative": (["run", "{s}", "--seed", "-1"], "--seed"),
    "seed-huge": (["run", "{s}", "--seed", "9" * 30], "--seed"),
    "seed-5000-digits": (["run", "{s}", "--seed", "7" * 5000], "--seed"),
    "replications-zero": (["run", "{s}", "--replications", "0"], "--replications"),
    "replications-float": (["run", "{s}", "--replications", "1e3"], "--replications"),
    "replications-underscore": (["run", "{s}", "--replications", "1_0"], "--replications"),
    "replications-1e12": (["run", "{s}", "--replications", "1000000000000"], "--replications"),
    "replications-over-10M": (["run", "{s}", "--replications", "10000001"], "--replications"),
    "workers-zero": (["run", "{s}", "--workers", "0"], "--workers"),
    "workers-over-limit": (["run", "{s}", "--workers", str(MAX_WORKERS + 1)], "--workers"),
    "workers-1000": (["run", "{s}", "--workers", "1000"], "--workers"),
    "workers-devanagari": (["run", "{s}", "--workers", "\u0968"], "--workers"),
    "chunk-size-hex": (["run", "{s}", "--chunk-size", "0x10"], "--chunk-size"),
    "compare-workers": (["compare", "{s}", "{s}", "--workers", "1000"], "--workers"),
    "compare-seed": (["compare", "{s}", "{s}", "--seed", "1_0"], "--seed"),
    "backtest-replications": (["backtest", "--replications", "\u0663"], "--replications"),
    "backtest-workers": (["backtest", "--workers", "999"], "--workers"),
    "calibrate-bootstrap": (["calibrate", "--bootstrap", "5_00"], "--bootstrap"),
    "calibrate-workers": (["calibrate", "--workers", "0"], "--workers"),
}


@pytest.mark.parametrize("case", list(BAD_NUMBERS))
def test_integer_flags_take_ascii_digits_in_range(
    case: str, workdir: Path, baseline_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, flag = BAD_NUMBERS[case]
    with pytest.raises(SystemExit) as exc:
        main([a.replace("{s}", str(baseline_path)) for a in argv])
    assert exc.value.code == EXIT_BAD_INPUT
    out, err = capsys.readouterr()
    line = one_line(err)
    assert f"argument {flag}" in line
    assert len(line) < 300
    assert out == ""
    assert leftovers(workdir) == []


def test_the_largest_accepted_values_parse() -> None:
    args = cli.build_parser().parse_args(
        [
            *("run", "x.yaml", "--workers", str(MAX_WORKERS)),
            *("--seed", str(runfolder.MAX_SEED), "--replications", str(cli.MAX_REPLICATION_IDS)),
        ]
    )
    assert (args.workers, args.seed) == (MAX_WORKERS, runfolder.MAX_SEED)
    assert args.replications == cli.MAX_REPLICATION_IDS
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert 4 * (cpus or 1) == MAX_WORKERS


def test_a_seed_too_large_in_the_scenario_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as exc:
        runfolder.check_seed(None, runfolder.MAX_SEED + 1, tmp_path / "s.yaml")
    assert exc.value.path == "seed"


# ----------------------------------------------------------------- resource estimates


def test_estimate_spills_big_ensembles_to_disk() -> None:
    small_mem, small_disk = resources.estimate(1000, 10, chunk_size=10, workers=1, stream=True)
    assert small_mem >= 1000 * 10 * 8  # in memory, no spill file
    assert small_disk < 1000 * 10 * 8
    rows, reps = 28_224, 10_000
    mem, disk = resources.estimate(rows, reps, chunk_size=500, workers=1, stream=True)
    assert disk >= rows * reps * 8  # the spill file
    assert mem < rows * reps * 8  # the values are not held in memory
    mem_kept, disk_kept = resources.estimate(rows, reps, chunk_size=500, workers=1, stream=False)
    assert mem_kept >= rows * reps * 8
    assert disk_kept == 0


#: name -> (argv after ``casim``, which resource is short).
TOO_BIG = {
    "run-disk": (["run", "{s}", "--replications", "40", "--out", "out"], "free_disk"),
    "run-memory": (["run", "{s}", "--replications", "40", "--out", "out"], "available_memory"),
    "compare-memory": (["compare", "{s}", "{s}", "--replications", "40"], "available_memory"),
    "backtest-memory": (["backtest", "--replications", "40", "--out", "out"], "available_memory"),
}


@pytest.mark.parametrize("case", list(TOO_BIG))
def test_a_run_that_cannot_fit_is_refused_before_it_starts(
    case: str,
    workdir: Path,
    baseline_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv, short = TOO_BIG[case]
    monkeypatch.setattr(resources, short, lambda *_: 64 * 1024)
    code = main([a.replace("{s}", str(baseline_path)) for a in argv])
    line = one_line(capsys.readouterr().err)
    assert code == EXIT_BAD_INPUT
    kind = "disk" if short == "free_disk" else "memory"
    assert "--replications: 40 replications x " in line
    assert f"of {kind}, but 64.0 KiB is available" in line
    assert leftovers(workdir) == []


def test_ten_million_replications_are_refused_with_the_estimate(
    workdir: Path, baseline_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(baseline_path), "--replications", "10000000", "--no-plots"])
    line = one_line(capsys.readouterr().err)
    assert code == EXIT_BAD_INPUT
    assert "10,000,000 replications x" in line
    assert "TiB of disk" in line or "TiB of memory" in line
    assert leftovers(workdir) == []


# ----------------------------------------------------------------- environment failures


def _no_space(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _memory_error(*_args: object, **_kwargs: object) -> None:
    raise MemoryError


def _read_only(self: Path, *_args: object, **_kwargs: object) -> None:
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))


#: name -> (argv after ``casim run SCENARIO``, (object, attribute, replacement) or None,
#: a fragment of the error line).
ENV_FAILURES = {
    "out-under-a-file": (["--out", "afile/run"], None, "afile"),
    "out-under-proc": (["--out", "/proc/casim-test/run"], None, "/proc/casim-test"),
    "disk-full-single": ([], ("pandas.DataFrame", "to_parquet", _no_space), "No space left"),
    "disk-full-ensemble": (
        ["--replications", "3"],
        ("sim.engine.store.TidyWriter", "write", _no_space),
        "No space left",
    ),
    "read-only-folder": ([], ("pathlib.Path", "mkdir", _read_only), "Read-only file system"),
    "out-of-memory": ([], ("sim.core.model.GeoModel", "run", _memory_error), "out of memory"),
}


@pytest.mark.parametrize("case", list(ENV_FAILURES))
def test_environment_failures_exit_1_with_one_line(
    case: str,
    workdir: Path,
    baseline_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra, patch, fragment = ENV_FAILURES[case]
    if case == "out-under-proc" and not LINUX:
        pytest.skip("needs /proc")
    (workdir / "afile").write_text("x")
    if patch is not None:
        target, attribute, replacement = patch
        monkeypatch.setattr(f"{target}.{attribute}", replacement)
    code = main(["run", str(baseline_path), *SHORT, *extra])
    out, err = capsys.readouterr()
    assert code == EXIT_ENVIRONMENT
    assert fragment in one_line(err)
    assert out == ""
    assert leftovers(workdir) in (["afile"], ["afile", "results", "results/baseline"])


# ----------------------------------------------------------------- run folders


def _prepared(results: Path, out: Path | None = None) -> RunFolder:
    return RunFolder.prepare(
        name="demo", digest="ab" * 32, seed=1, default_seed=1, source="s.yaml",
        out=out, results=results,
    )  # fmt: skip


def _enter_as(folder: RunFolder, pid: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enter ``folder`` as if from process ``pid`` (a live one, so not "stale")."""
    with monkeypatch.context() as m:
        m.setattr(os, "getpid", lambda: pid)
        folder.__enter__()


LIVE_PIDS = (os.getpid(), os.getppid(), 1)


def test_concurrent_default_folders_all_complete_under_distinct_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = [_prepared(tmp_path) for _ in range(3)]
    assert len({f.final for f in folders}) == 1  # all chose the same name up front
    for f, pid in zip(folders, LIVE_PIDS, strict=True):
        _enter_as(f, pid, monkeypatch)
        f.write_text("manifest.json", "{}")
    for f in folders:
        f.__exit__(None, None, None)
    finals = [f.final for f in folders]
    assert len(set(finals)) == 3
    assert all((p / "manifest.json").is_file() for p in finals)
    assert [p.name for p in finals[1:]] == [f"{finals[0].name}-2", f"{finals[0].name}-3"]
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted(p.name for p in finals)


def test_two_runs_into_one_out_folder_one_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    first, second = _prepared(tmp_path, out), _prepared(tmp_path, out)
    for f, text, pid in ((first, "first", LIVE_PIDS[0]), (second, "second", LIVE_PIDS[1])):
        _enter_as(f, pid, monkeypatch)
        f.write_text("manifest.json", text)
    first.__exit__(None, None, None)
    with pytest.raises(ScenarioError) as exc:
        second.__exit__(None, None, None)
    assert exc.value.path == "out"
    assert "another run wrote it first" in exc.value.message
    assert (out / "manifest.json").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the loser's partial is gone


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_stale_partial_folders_are_removed_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "demo"
    dead = folder / f".old.partial-{_dead_pid()}"
    alive = folder / f".other.partial-{os.getppid()}"
    unrelated = folder / ".notes"
    for d in (dead, alive, unrelated):
        d.mkdir(parents=True)
        (d / "timeseries.parquet").write_bytes(b"x" * 100)
    with _prepared(tmp_path) as f:
        f.write_text("manifest.json", "{}")
    err = capsys.readouterr().err
    assert not dead.exists()
    assert alive.exists()
    assert unrelated.exists()
    assert err.count("\n") == 1
    assert err.startswith("note: removed ")
    assert dead.name in err


# ----------------------------------------------------------------- interrupts in process


def _run_then(exc: BaseException):
    real = cli.runs.run_single

    def wrapped(*args: object, **kwargs: object) -> Path:
        real(*args, **kwargs)
        raise exc

    return wrapped


def _raise_inside(exc: BaseException):
    def write_run(*_args: object, **_kwargs: object) -> None:
        raise exc

    return write_run


@pytest.mark.parametrize(
    ("exc", "status", "message"),
    [(KeyboardInterrupt(), 130, "interrupted\n"), (Terminated(), 143, "terminated\n")],
)
def test_interrupt_before_the_folder_is_complete_leaves_nothing(
    exc: BaseException,
    status: int,
    message: str,
    workdir: Path,
    baseline_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sim.report.write.write_run", _raise_inside(exc))
    assert main(["run", str(baseline_path), *SHORT]) == status
    assert capsys.readouterr() == ("", message)
    assert leftovers(workdir) == ["results", "results/baseline"]


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), Terminated()])
def test_interrupt_after_the_folder_is_complete_keeps_it_and_exits_0(
    exc: BaseException,
    workdir: Path,
    baseline_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli.runs, "run_single", _run_then(exc))
    assert main(["run", str(baseline_path), *SHORT]) == 0
    out, err = capsys.readouterr()
    folder = Path(out.strip())
    assert (folder / "manifest.json").is_file()
    assert err.startswith("note: interrupted after")
    assert err.count("\n") == 1


def test_ctrl_c_while_importing_prints_one_line(repo_root: Path, tmp_path: Path) -> None:
    code = (
        "import builtins, runpy, sys\n"
        "real = builtins.__import__\n"
        "def imp(name, *a, **k):\n"
        "    if name == 'pydantic':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = imp\n"
        "sys.argv = ['casim', 'list']\n"
        "runpy.run_module('sim', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                          env=env_with_repo(repo_root), capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (130, "interrupted\n")


def test_list_skips_what_is_not_a_regular_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], baseline_path: Path
) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    (tmp_path / "good.yaml").write_text("description: fine\n")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "dir.yaml").mkdir()
    assert main(["list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.split() == ["good", "fine"]


# ----------------------------------------------------------------- real processes


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``, from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _start(
    argv: list[str], cwd: Path, repo_root: Path, *, kernels: bool = True
) -> subprocess.Popen[str]:
    env = env_with_repo(repo_root) | ({} if kernels else {"CASIM_KERNELS": "0"})
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *argv], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def test_simultaneous_runs_all_succeed_and_one_out_has_one_winner(
    baseline_path: Path, repo_root: Path, tmp_path: Path
) -> None:
    run = ["run", str(baseline_path), "--seed", "7", *SHORT]
    procs = [_start(run, tmp_path, repo_root) for _ in range(4)]
    procs += [_start([*run, "--out", "same"], tmp_path, repo_root) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    default, same = results[:4], results[4:]
    assert [r[0] for r in default] == [0, 0, 0, 0], default
    folders = {Path(tmp_path, out.strip()) for _, out, _ in default}
    assert len(folders) == 4
    assert all((f / "manifest.json").is_file() for f in folders)
    assert all(err == "" for _, _, err in default)
    assert sorted(r[0] for r in same) == [0, EXIT_BAD_INPUT], same
    loser = next(r for r in same if r[0] == EXIT_BAD_INPUT)
    assert "--out: expected a folder that does not exist or is empty" in one_line(loser[2])
    assert (tmp_path / "same" / "manifest.json").is_file()
    assert not list(tmp_path.rglob(".*partial*"))


@pytest.mark.skipif(not LINUX, reason="scans /proc for the process group")
def test_sigkill_of_a_pool_run_leaves_no_process_and_the_next_run_cleans_up(
    baseline_path: Path, repo_root: Path, tmp_path: Path
) -> None:
    argv = ["run", str(baseline_path), "--no-plots", "--replications", "4000", "--workers", "2"]
    proc = _start(argv, tmp_path, repo_root)
    try:
        # main, resource tracker, fork server and two workers
        assert _wait_for(lambda: len(group_members(proc.pid)) >= 5, 60), group_members(proc.pid)
        partials = list((tmp_path / "results" / "baseline").glob(".*.partial-*"))
        assert len(partials) == 1
        proc.kill()
        proc.wait(timeout=10)
        assert _wait_for(lambda: not group_members(proc.pid), 10), group_members(proc.pid)
    finally:
        for pid in group_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
    assert partials[0].exists()  # SIGKILL cannot clean up: the next run does
    nxt = subprocess.run([sys.executable, "-m", "sim", "run", str(baseline_path), *SHORT],
                         cwd=tmp_path, env=env_with_repo(repo_root), capture_output=True,
                         text=True, timeout=120, check=False)  # fmt: skip
    assert nxt.returncode == 0, nxt.stderr
    assert not partials[0].exists()
    assert nxt.stderr.startswith("note: removed ")
    assert nxt.stderr.count("\n") == 1
    assert f"process {proc.pid}, which is gone" in nxt.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_exits_143_and_leaves_nothing(
    baseline_path: Path, repo_root: Path, tmp_path: Path, workers: int
) -> None:
    # long enough that SIGTERM lands while it runs, whatever the machine's load
    argv = ["run", str(baseline_path), "--no-plots", "--workers", str(workers)]
    argv += ["--replications", "4000"]
    # The numpy reference (no numba): a signal during a first compile is answered as
    # promptly, but llvmlite may then report a half-built object on stderr at exit.
    proc = _start(argv, tmp_path, repo_root, kernels=False)
    results = tmp_path / "results" / "baseline"
    try:
        assert _wait_for(lambda: any(results.glob(".*partial*")), 60)
        if workers > 1:
            assert _wait_for(lambda: len(group_members(proc.pid)) >= 5, 60)
        time.sleep(0.3)
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reap it and close its pipes (no ResourceWarning later)
    assert (proc.returncode, out, err) == (143, "", "terminated\n")
    assert list(results.iterdir()) == []
    if LINUX:
        assert _wait_for(lambda: not group_members(proc.pid), 10), group_members(proc.pid)
