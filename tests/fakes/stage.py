"""What the fakes share: the running step, a log of every adapter call, injected faults, and crashes.

The engine tells the stage which step runs through its event sink (`Stage.on_event`), so a
fault can be aimed at "the exec of step 05-restore-dump" and the call log can be read per step.

    stage.inject("exec", step="05-restore-dump", error=StepFailed("boom"))      # instead of the call
    stage.inject("delete_postgresql", after=True, error=Unreachable("lost"))   # the call happens, the answer is lost
    stage.inject("*", step="03-delete-cluster", nth=2, crash=True)             # kill -9 at the step's 2nd call
    stage.inject("exec", step="05-restore-dump", hang=True)                    # an exec stream that never answers
    stage.inject("exec", step="08-restore-dump", crash=True, at_byte=4000)     # kill -9 mid-stream: psql has
                                                                               # read 4000 bytes of the dump

A crash raises `Crash`, a BaseException the engine does not catch (nothing of a dying process runs:
no rollback, no journal write, no lease release): from then on every call raises Crash until
`revive()`, as if the process were gone.

`at_byte` aims a crash or an error into a stream instead of at its call: exec's stdin (what psql
has read) and stdout (what pg_dumpall has written), an S3 `stream` (what the reader has taken) and a
`writer` (what was written to the upload). The call starts and moves bytes; once `at_byte` bytes have
passed, the fault fires (the method calls `Stage.passing`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any


class Crash(BaseException):  # noqa: N818 - it is not an error a program handles: the process is gone
    """The process died here (kill -9)."""


@dataclass
class Call:
    seq: int
    step: str | None  # the step running when the call was made (None: outside any step)
    adapter: str      # "kube" or "s3"
    method: str
    args: dict[str, Any]

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.args.items() if k not in ("stdin", "done"))
        return f"#{self.seq} [{self.step or '-'}] {self.adapter}.{self.method}({shown})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Fault:
    method: str                                   # adapter method name, or "*" for any
    step: str | None = None                       # only while this step runs
    error: BaseException | None = None            # raised instead of (or, with after, after) the call
    after: bool = False                           # the call takes effect, then the error
    crash: bool = False                           # kill -9 here (raise Crash, the stage goes dead)
    hang: bool = False                            # exec: the stream never answers (until the deadline)
    result: dict[str, Any] | None = None          # exec: override returncode/stdout/stderr of the result
    where: Callable[[Call], bool] | None = None   # only calls for which this holds
    at_byte: int | None = None                    # fire in the call's stream once this many bytes passed
    nth: int = 1                                  # fire at the nth matching call ...
    times: int | None = 1                         # ... and this many times (None: every time from then on)
    seen: int = 0
    fired: int = 0
    streamed: bool = False                        # an at_byte fault that has gone off
    # A crash asks this first: True, the process dies here; False, it goes on as if nothing happened
    # (tests/engine/test_kill_matrix.py forks here: the child dies, this process runs on).
    dies: Callable[[], bool] | None = None

    @property
    def in_stream(self) -> bool:
        return self.at_byte is not None

    def matches(self, call: Call, adapter: str) -> bool:
        if self.method != "*" and self.method != call.method:
            return False
        if self.method == "*" and call.adapter != adapter:
            return False
        if self.step is not None and call.step != self.step:
            return False
        return self.where is None or self.where(call)


@dataclass
class Stage:
    step: str | None = None
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    dead: bool = False
    _hooks: dict[str, list[Callable[[], None]]] = field(default_factory=dict)

    # -- the engine's event sink -------------------------------------------------------
    def on_event(self, event: dict) -> None:
        self.events.append(event)
        if event.get("event") == "step_started":
            self.step = event["step"]
            for hook in self._hooks.pop(event["step"], []):
                hook()
        elif event.get("event") == "step_finished" and event.get("step") == self.step:
            self.step = None

    def at_step(self, step_id: str, hook: Callable[[], None]) -> None:
        """Run hook (e.g. a failover) when the engine starts step_id, before its first call."""
        self._hooks.setdefault(step_id, []).append(hook)

    # -- faults -------------------------------------------------------------------------
    def inject(self, method: str, *, step: str | None = None, error: BaseException | None = None,
               after: bool = False, crash: bool = False, hang: bool = False, result: dict | None = None,
               where: Callable[[Call], bool] | None = None, nth: int = 1, times: int | None = 1,
               at_byte: int | None = None, dies: Callable[[], bool] | None = None) -> Fault:
        assert error is not None or crash or hang or result is not None, "a fault must do something"
        assert at_byte is None or (method in STREAMING and not after and not hang and result is None), \
            f"at_byte goes with a crash or an error in a stream of {', '.join(STREAMING)}"
        fault = Fault(method, step, error, after, crash, hang, result, where, at_byte=at_byte, nth=nth, times=times,
                      dies=dies)
        self.faults.append(fault)
        return fault

    def passing(self, faults: list[Fault], done: int, what: str) -> None:
        """A stream has moved `done` bytes: fire the faults armed for that point (at_byte)."""
        for f in faults:
            if f.at_byte is None or f.streamed or done < f.at_byte:
                continue
            f.streamed = True
            if f.crash:
                self.crash(f, f"killed mid-stream, {done} bytes into {what}")
            elif f.error is not None:
                raise f.error

    def crash(self, fault: Fault, message: str) -> None:
        """kill -9 here, unless the fault's `dies` says this process goes on."""
        if fault.dies is not None and not fault.dies():
            return
        self.dead = True
        raise Crash(message)

    def _due(self, call: Call, adapter: str) -> list[Fault]:
        due = []
        for f in self.faults:
            if not f.matches(call, adapter):
                continue
            f.seen += 1
            if f.seen >= f.nth and (f.times is None or f.fired < f.times):
                f.fired += 1
                due.append(f)
        return due

    def revive(self) -> None:
        """A new process starts (after a crash): calls work again, no step runs; spent faults stay spent."""
        self.dead = False
        self.step = None

    def calls_in(self, step_id: str) -> list[Call]:
        return [c for c in self.calls if c.step == step_id]


# The methods whose streams an at_byte fault can reach (they take `_faults`).
STREAMING = ("exec", "stream", "writer")


def adapter_call(method: Callable) -> Callable:
    """Log the call, apply any fault aimed at it, then run it. For methods of FakeKube and FakeS3,
    which have `stage` and `adapter` attributes. Faults the method itself carries out (hang, result,
    at_byte) are passed to it as `_faults`."""
    sig = inspect.signature(method)
    takes_faults = "_faults" in sig.parameters

    @wraps(method)
    def wrapper(self, *args, **kwargs):
        stage: Stage = self.stage
        if stage.dead:
            raise Crash(f"the process is dead: {self.adapter}.{method.__name__} not called")
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        recorded = {k: v for k, v in bound.arguments.items() if k not in ("self", "_faults")}
        call = Call(len(stage.calls) + 1, stage.step, self.adapter, method.__name__, recorded)
        stage.calls.append(call)
        due = stage._due(call, self.adapter)
        for f in due:
            if f.in_stream:
                assert takes_faults, f"{method.__name__} has no stream for an at_byte fault"
                continue
            if f.crash and not f.after:
                stage.crash(f, f"killed at {call}")
            elif f.error is not None and not f.after:
                raise f.error
        if takes_faults:
            kwargs["_faults"] = [f for f in due if f.hang or f.result is not None or f.in_stream]
        out = method(self, *args, **kwargs)
        for f in due:
            if f.in_stream:
                continue
            if f.crash and f.after:
                stage.crash(f, f"killed right after {call}")
            elif f.error is not None and f.after:
                raise f.error
        return out

    return wrapper
