"""Where chunks of work run: the :class:`Executor` protocol and its two implementations.

An executor is anything with :mod:`concurrent.futures`' ``submit``. It may say how many
chunks it runs at once in a public ``workers`` attribute (default 1) and that it runs
them in this very process with ``in_process = True`` (then callers may pass callbacks,
such as a progress bar's, that would not survive pickling). The same chunk function
runs on :class:`SequentialExecutor` (in this process, one call at a time), on
:func:`process_pool` (worker processes) or on any other ``submit`` executor, e.g. a
Dask client.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import pickle
import select
import signal
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

#: Modules a pool's fork server imports once, before it forks workers.
PRELOAD = ("sim.engine.ensemble", "sim.core.model")


@runtime_checkable
class Executor(Protocol):
    """What the engine needs of an executor: ``submit`` returning a future.

    Optional attributes (read with :func:`executor_workers` and :func:`runs_in_process`):
    ``workers`` (chunks run at once, default 1) and ``in_process`` (calls run in this
    process, default False).
    """

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        """Schedule ``fn(*args, **kwargs)``; return its future."""
        ...


class SequentialExecutor:
    """Runs each submitted call at once, in this process, and returns a done future.

    Exceptions become the future's exception; ``KeyboardInterrupt`` (and other
    non-``Exception`` errors) propagate at once.
    """

    workers = 1
    in_process = True

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        """Call ``fn(*args, **kwargs)`` now; return a future holding the outcome."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # handed to the caller through the future
            future.set_exception(err)
        return future


def executor_workers(executor: object) -> int:
    """Chunks ``executor`` runs at once: its public ``workers`` attribute, default 1."""
    return max(1, int(getattr(executor, "workers", 1) or 1))


def runs_in_process(executor: object) -> bool:
    """Whether ``executor`` runs calls in this process (its ``in_process`` attribute)."""
    return bool(getattr(executor, "in_process", False))


#: Seconds :meth:`WorkerPool.terminate` waits for the pool's management thread to end.
TERMINATE_WAIT_S = 5.0


class WorkerPool(concurrent.futures.ProcessPoolExecutor):
    """A :class:`~concurrent.futures.ProcessPoolExecutor` that states its ``workers``."""

    in_process = False

    def __init__(self, workers: int, **kwargs: Any) -> None:
        super().__init__(max_workers=workers, **kwargs)
        self.workers = workers

    def terminate(self) -> None:
        """Cancel queued calls, stop every worker process at once, let the pool's thread end.

        The pool's management thread notices the stopped workers, closes its wake-up pipe
        and ends; it is waited for (at most :data:`TERMINATE_WAIT_S`). Left running, it
        could close that pipe while the interpreter's exit wakes it through the same pipe:
        CPython 3.12.1 checks and writes without a lock, and the exit then printed
        ``OSError: [Errno 9] Bad file descriptor`` after a Ctrl-C.
        """
        processes = list((getattr(self, "_processes", None) or {}).values())
        thread = getattr(self, "_executor_manager_thread", None)
        self.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            with contextlib.suppress(Exception):
                proc.terminate()
        if thread is not None:
            thread.join(TERMINATE_WAIT_S)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C (the CLI exits with status 143).

    A subclass of ``KeyboardInterrupt``, so everything that cleans up after Ctrl-C
    (worker pools, run folders) cleans up after SIGTERM too.
    """


def raise_terminated(_signum: int, _frame: object) -> None:
    """A SIGTERM handler: raise :class:`Terminated`."""
    raise Terminated


def ignore_sigint() -> None:
    """Worker initializer: leave Ctrl-C to the parent, which stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_init(parent: int) -> None:
    """Worker initializer: ignore Ctrl-C and exit as soon as process ``parent`` exits.

    Workers are children of the fork server, not of ``parent``, so nothing else stops
    them when ``parent`` is killed (even by SIGKILL): a daemon thread waits on a pidfd
    of ``parent`` (Linux), or polls it every second elsewhere, then ends the worker.
    """
    ignore_sigint()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    try:
        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):  # no pidfd (not Linux) or parent already gone
        fd = None
    if fd is not None:
        select.select([fd], [], [])
    else:
        while _alive(parent):
            time.sleep(1.0)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[WorkerPool]:
    """A process pool whose workers ignore Ctrl-C and are terminated on any error.

    Workers come from a fork server (preloaded with the model), never from a fork of
    this possibly multi-threaded process; each worker exits by itself when this process
    dies (:func:`worker_init`). On a clean exit the pool shuts down normally.
    On an exception (including ``KeyboardInterrupt``) queued chunks are cancelled and
    the worker processes are terminated at once, so Ctrl-C returns promptly instead of
    waiting for running chunks.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    pool = WorkerPool(workers, mp_context=ctx, initializer=worker_init, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.shutdown(wait=True)


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back until the block ends (main thread only), then raise.

    ``submit`` may be starting a worker process; interrupting it half-way leaves a
    child that is neither tracked (so not terminated) nor able to start once this
    process is gone, and it prints a traceback. Deferred, the interrupt arrives as
    soon as ``submit`` returns and :func:`process_pool` stops every worker. A held
    SIGTERM is raised as :class:`Terminated`, Ctrl-C as ``KeyboardInterrupt``; each is
    held only if it already had a Python handler (a default action stays the default,
    an ignored signal, e.g. SIGINT in a background job, stays ignored).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = [sig for sig in (signal.SIGINT, signal.SIGTERM) if callable(signal.getsignal(sig))]
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: caught.append(signum)) for sig in held
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if signal.SIGTERM in caught:
        raise Terminated
    if caught:
        raise KeyboardInterrupt


# ----------------------------------------------------------------------------- forks


def fork_is_safe() -> bool:
    """Whether forking this process is cheap and safe: several CPUs and one Python thread.

    A fork copies no imports (unlike a pool's worker), so two independent pieces of
    work (two scenarios, two figures) can run on two CPUs at once. It is unsafe while
    another Python thread may hold a lock (a progress bar's monitor, the Parquet
    writer); the native pools of OpenBLAS and Arrow handle forks themselves (and Python
    does not warn about them).
    """
    return (os.cpu_count() or 1) >= 2 and hasattr(os, "fork") and threading.active_count() == 1


def run_aside(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``fn()`` in a forked child; return a function that waits for its result.

    The result comes back pickled through a pipe. When forking is not safe
    (:func:`fork_is_safe`), or the child fails, ``fn`` runs here instead, when the
    returned function is called. Ctrl-C reaches the child too (same process group).
    """
    if not fork_is_safe():
        return fn
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without the parent's cleanup
        code = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as pipe:
                pickle.dump(fn(), pipe, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)

    def result() -> Any:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        return pickle.loads(data) if status == 0 and data else fn()  # sent by our own child

    return result


def _serve(task_read: int, result_write: int) -> int:
    """A standby child's work: read one task file's name, run it, send back its result.

    Returns:
        The child's exit status: 0 when it sent a result, 1 when told to leave.
    """
    with os.fdopen(task_read, "rb") as pipe:  # one line: later forks hold the write end too
        task = pipe.readline().decode().strip()
    if not task:
        os.close(result_write)
        return 1
    with open(task, "rb") as f:
        fn = pickle.load(f)
    os.unlink(task)
    with os.fdopen(result_write, "wb") as out:
        pickle.dump(fn(), out, pickle.HIGHEST_PROTOCOL)
    return 0


class Standby:
    """A forked child that imports modules now and runs one function when given it.

    Forked before a long computation, it pays its imports (matplotlib, say) on a spare
    CPU meanwhile; :meth:`submit` then sends it a picklable function (a module-level
    function or a :func:`functools.partial` of one) and returns a function that waits
    for the result, as :func:`run_aside` does. When forking is not safe
    (:func:`fork_is_safe`), or the child fails, the function runs here instead, when
    the result is asked for. :meth:`close` (also on leaving a ``with`` block) stops a
    child that was given nothing. :meth:`group` makes several that share one set of
    imports.
    """

    def __init__(self, *modules: str) -> None:
        """Fork the child and let it import ``modules``.

        A name ``module:function`` also calls ``module.function()`` (a warm-up).
        """
        self.active = False
        self.pid = 0  # the child to reap (0: none of ours)
        if fork_is_safe():
            self._start(modules, 1)

    @classmethod
    def group(cls, count: int, *modules: str) -> list[Standby]:
        """``count`` standby children that share one set of imports and warm-ups.

        The first child imports ``modules``, then forks the others from itself, so the
        imports cost one CPU once however many functions later run side by side (each
        import of matplotlib and its warm-up is about a second of CPU that the
        computation meanwhile would lose). Each child leaves when its task is done, so
        results may be awaited, and members closed, in any order.
        """
        members = [cls() for _ in range(count)] if not fork_is_safe() else []
        if members or count < 1:
            return members
        first = cls.__new__(cls)
        first.active, first.pid = False, 0
        return first._start(modules, count)

    def _start(self, modules: Sequence[str], count: int) -> list[Standby]:
        """Fork the child (which forks ``count - 1`` more after its imports)."""
        pipes = [(*os.pipe(), *os.pipe()) for _ in range(count)]  # task r/w, result r/w
        pid = os.fork()
        if pid == 0:  # the child: import, fork the others, each waits for one task
            code = 1
            try:
                for _, task_write, result_read, _ in pipes:
                    os.close(task_write)
                    os.close(result_read)
                for name in modules:
                    module, _, call = name.partition(":")
                    __import__(module)
                    if call:
                        getattr(sys.modules[module], call)()
                mine = 0
                for k in range(1, count):
                    if os.fork() == 0:
                        mine = k
                        break
                for k, (task_read, _, _, result_write) in enumerate(pipes):
                    if k != mine:
                        os.close(task_read)
                        os.close(result_write)
                # Each leaves when its own task is done, never waiting for a sibling (the
                # caller may wait for one before giving another its task); a sibling left
                # behind is reaped by init.
                code = _serve(pipes[mine][0], pipes[mine][3])
            finally:
                os._exit(code)
        members = [self, *(Standby.__new__(Standby) for _ in range(count - 1))]
        for k, (member, (task_read, task_write, result_read, result_write)) in enumerate(
            zip(members, pipes, strict=True)
        ):
            os.close(task_read)
            os.close(result_write)
            member._task, member._result = task_write, result_read
            member.active, member.pid = True, pid if k == 0 else 0
        return members

    def submit(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Run ``fn()`` in the child; return a function that waits for its result."""
        if not self.active:
            return fn
        self.active, pid = False, self.pid
        # The task goes through a file: a pipe would block until the child has read it,
        # that is until it has finished its imports.
        fd, task = tempfile.mkstemp(prefix="casim-task-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(fn, f, pickle.HIGHEST_PROTOCOL)
            with os.fdopen(self._task, "wb") as pipe:
                pipe.write(task.encode() + b"\n")
        except (OSError, pickle.PicklingError, AttributeError, TypeError):
            with contextlib.suppress(OSError):
                os.close(self._task)
            os.close(self._result)
            if pid:
                os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                os.unlink(task)
            return fn
        read_end = self._result

        def result() -> Any:
            with os.fdopen(read_end, "rb") as pipe:
                data = pipe.read()
            status = os.waitpid(pid, 0)[1] if pid else 0  # a sibling's: its first reaps it
            return pickle.loads(data) if status == 0 and data else fn()  # our own child

        return result

    def close(self) -> None:
        """Stop a child that was given nothing (it leaves without running anything)."""
        if self.active:
            with os.fdopen(self._task, "wb") as pipe:  # an empty line: the child exits
                pipe.write(b"\n")
            os.close(self._result)
            if self.pid:
                os.waitpid(self.pid, 0)
            self.active = False

    def __enter__(self) -> Standby:
        """The standby child itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """:meth:`close`."""
        self.close()
