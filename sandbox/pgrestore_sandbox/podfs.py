"""The files of a client pod's data volume, for exec: `tar -C /` in a pod works on its root folder.

CSM's VCS backup and restore scripts run `tar -cf /tmp/vcs.tar /var/lib/gitea/` and
`tar -C / -xf /tmp/vcs.tar` in the Gitea pod (docs-csm scripts/operations/configuration,
backup_vcs.sh / restore_vcs.sh). Here a non-Spilo pod's `/` is `<state>/podroots/<ns>/<app>`
(its `app.kubernetes.io/name`), which outlives the pod as the PVC does; the `tar` shim on the
pod's PATH maps `-C /…` there. `sandbox up` seeds Gitea's volume with a few repositories.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from .paths import StateDir, default_state_dir

GITEA = ("services", "vcs", "var/lib/gitea")
REPOSITORIES = ("cray/csm-config-management", "cray/uan-config-management", "cray/cos-config-management")


def root_for(state: StateDir, namespace: str, app: str) -> Path:
    return state.root / "podroots" / namespace / app


def seed(state: StateDir) -> None:
    """Gitea's volume as a CSM install leaves it: bare repositories and Gitea's own data folders."""
    ns, app, path = GITEA
    volume = root_for(state, ns, app) / path
    if volume.exists():
        return
    for repo in REPOSITORIES:
        git = volume / "git" / "repositories" / f"{repo}.git"
        (git / "refs" / "heads").mkdir(parents=True)
        (git / "HEAD").write_text("ref: refs/heads/main\n")
        (git / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = true\n")
        (git / "refs" / "heads" / "main").write_text(hashlib.sha1(repo.encode()).hexdigest() + "\n")
    (volume / "data" / "attachments").mkdir(parents=True)
    (volume / "data" / "gitea.log").write_text("2024/04/30 02:00:00 ...s/install/setting.go:21:PreloadSettings() [I]\n")


def tar_main(argv: list[str]) -> int:
    """The pod's `tar`: `-C /x` becomes `-C <pod root>/x`; everything else goes to GNU tar as is."""
    root = os.environ.get("SANDBOX_POD_ROOT")
    args = list(argv)
    if root:
        for i, arg in enumerate(args[:-1]):
            if arg == "-C" and args[i + 1].startswith("/"):
                args[i + 1] = str(Path(root) / args[i + 1].lstrip("/"))
    os.execv("/bin/tar", ["tar", *args])
    return 127  # not reached


if __name__ == "__main__":
    os.environ.setdefault("PGRESTORE_SANDBOX_DIR", str(default_state_dir()))
    sys.exit(tar_main(sys.argv[1:]))
