"""Timing profiles: how long the slow parts of a real CSM cluster take in the sandbox.

"fast" makes everything instant (good for unit-speed tests). "realistic" puts in the
delays that catch timeouts tuned to an instant sandbox, scaled down so a rehearsal still
fits in minutes. Each number names the real value it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Timing:
    # A Spilo pod's termination: Patroni stops PostgreSQL (fast shutdown plus a checkpoint).
    spilo_shutdown_seconds: float
    # Any other pod's termination (a JVM like Keycloak, the istio-proxy drain).
    client_shutdown_seconds: float
    # A new replica: volume attach, Patroni start, pg_basebackup start, recovery to Ready …
    clone_base_seconds: float
    # … plus the copy itself at this rate (None: no copy time at all).
    clone_mib_per_second: float | None
    # After a cluster's teardown its data volumes are still being released; a new pod 0
    # that claims a volume of the same name stays Pending until then.
    volume_release_seconds: float

    def clone_seconds(self, cluster_bytes: int) -> float:
        if self.clone_mib_per_second is None:
            return self.clone_base_seconds
        return self.clone_base_seconds + cluster_bytes / (self.clone_mib_per_second * MIB)


FAST = Timing(spilo_shutdown_seconds=0, client_shutdown_seconds=0, clone_base_seconds=0,
              clone_mib_per_second=None, volume_release_seconds=0)

REALISTIC = Timing(
    # Real: terminationGracePeriodSeconds 300 (the operator's pod_terminate_grace_period 5m,
    # postgres-operator v1.8.2 pkg/util/config/config.go); Patroni's shutdown usually takes
    # 10-60 s and up to the whole 300 s after a large restore. 6 s is a tenth of a typical one.
    spilo_shutdown_seconds=6,
    # Real: the default 30 s grace; Keycloak and the istio-proxy drain take some 10-20 s.
    client_shutdown_seconds=2,
    # Real: RBD attach (~10 s), Patroni bootstrap from the leader and recovery: 30-40 s.
    clone_base_seconds=4,
    # Real: pg_basebackup between CSM workers into Ceph RBD runs at some 50-150 MiB/s. Slower
    # here on purpose: sandbox databases are ~100x smaller, and the size should still show
    # (`sandbox grow --mb 500` adds 20 s to each new replica).
    clone_mib_per_second=25,
    # Real: deleting the PVC waits for the RBD image to be unmapped from the old node and the
    # PV to be deleted (pvc-protection): 10-60 s, during which the new pod 0 stays Pending.
    volume_release_seconds=5,
)

PROFILES = {"fast": FAST, "realistic": REALISTIC}


def profile(name: str) -> Timing:
    return PROFILES.get(name, FAST)
