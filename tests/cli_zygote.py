"""A process that has imported pgrestore and forks one child per `pgrestore` run (tests/cli_process.py).

Requests come as JSON lines on stdin ({"argv", "env", "cwd", "stdin", "stdout", "stderr"}: the last
three are file paths; "constants": module attributes set first, e.g. shorter retry waits). For each,
the answer is a line {"pid": N} when the child runs, then {"status": wait status} when it has ended.
The child is the command: it takes the request's environment, folder and file descriptors 0-2, then
runs the real entry point with that argv, and exits as `python -m pgrestore.cli` does (_exit).
"""

from __future__ import annotations

import atexit
import faulthandler
import gc
import importlib
import json
import os
import signal
import sys
import threading

import pgrestore.cli
from pgrestore.commands import apply, apply_set, listing, plan, plan_set, show  # noqa: F401 - loaded once here


def _become(request: dict) -> None:
    """In the child: take the request's world, then run the command to its exit."""
    for fd, path, mode in ((0, request["stdin"], os.O_RDONLY), (1, request["stdout"], os.O_WRONLY),
                           (2, request["stderr"], os.O_WRONLY)):
        new = os.open(path, mode)
        os.dup2(new, fd)
        os.close(new)
    # A run past its test's timeout is asked for its threads' stacks (SIGUSR2) before it is killed.
    faulthandler.register(signal.SIGUSR2, file=sys.stderr, all_threads=True)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for name, value in request.get("constants", {}).items():
        module, attr = name.rsplit(".", 1)
        setattr(importlib.import_module(module), attr, value)
    sys.argv = ["pgrestore", *request["argv"]]
    try:
        code = pgrestore.cli.main()
    except SystemExit as e:  # the entry point returns its code; anything else is a bug the test will see
        code = e.code if isinstance(e.code, int) else 1
    _exit(code)


def _exit(code: int) -> None:
    """End as the interpreter's shutdown ends a process, up to what it would add nothing to: wait for
    the threads still running (a lease renewer that outlived apply shows here), run the atexit handlers,
    flush. Tearing down the modules is left out (0.1 s a run, for nothing a user would see)."""
    threading._shutdown()  # type: ignore[attr-defined] - what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def _warm() -> None:
    """Load now what the client libraries load on first use, once for every child: the Kubernetes client's
    API classes with their models (imported lazily by kubernetes 37) and botocore's S3 service model."""
    import boto3
    import kubernetes.client

    for name in ("ApiClient", "Configuration", "V1DeleteOptions", "CoreV1Api", "AppsV1Api", "BatchV1Api",
                 "CoordinationV1Api", "CustomObjectsApi", "AuthorizationV1Api"):  # pgrestore/adapters/kube.py's
        getattr(kubernetes.client, name)
    boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1", aws_access_key_id="a",
                 aws_secret_access_key="b")


def serve() -> None:
    _warm()
    # The imports' objects are never garbage: without this each child's exit walks them all (0.4 s).
    gc.freeze()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            answers.close()
            _become(request)
        answers.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"status": status}) + "\n")


if __name__ == "__main__":
    serve()
