"""Reading the world for a plan: the live cluster and the chosen backup (planner/snapshot.py calls these
in order; the types are in planner/world.py).

The planner is a pure function of what this module returns. Passwords are read into
memory only to be digested; they are never written anywhere.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

from pgrestore.adapters.kube import Kube
from pgrestore.adapters.s3 import S3
from pgrestore.contract import journal
from pgrestore.contract.document import strip_server_fields
from pgrestore.contract.model import (
    SAVED_POSTGRESQL,
    BackupRef,
    ClusterIdentity,
    ManifestRef,
    PostgresqlSource,
    ServiceDef,
    SkippedBackup,
    Target,
)
from pgrestore.core import backups, dumps, helm, volume_archive
from pgrestore.core.manifest import ManifestSecret, parse_manifest
from pgrestore.errors import BackupError, NotFound, PgRestoreError, PlanRejected, UsageError

from .world import (
    SYSTEM_USERS,
    BackupState,
    ClusterState,
    Live,
    RecoveredSpec,
    VolumeArchive,
    logical_backup_cronjob,
)


def _live(kube: Kube, target: Target) -> Live:
    obj = kube.read(target)
    if obj is None:
        raise NotFound(f"{target.kind.lower()} {target.namespace}/{target.name} not found; check the service "
                       f"definition's client (plans/<service>.yaml or PGRESTORE_SERVICES_DIR)")
    return Live(target, obj)


def _newest_job(kube: Kube, ns: str, selector: str) -> Live:
    """Helm names jobs <name>-<revision>; the newest matching the runbook's labels is the one to re-run."""
    jobs = kube.list_jobs(ns, selector)
    if not jobs:
        raise NotFound(f"no Job in {ns} matches {selector}; check the service definition's selector")
    newest = max(jobs, key=lambda j: (j["metadata"].get("creationTimestamp") or "", j["metadata"]["name"]))
    return Live(Target("Job", ns, newest["metadata"]["name"], selector), newest)


def _restart_targets(kube: Kube, ns: str, kind: str, selector: str) -> list[Live]:
    found = kube.list_workloads(kind, ns, selector)
    if not found:
        raise NotFound(f"no {kind} in {ns} matches {selector}; check the service definition's selector")
    return [Live(Target(kind, ns, w["metadata"]["name"], selector), w)
            for w in sorted(found, key=lambda w: w["metadata"]["name"])]


def _backs_up(cron: dict, cluster: str) -> bool:
    """The cray-service chart's backup CronJob (CSM <= 1.4, base-charts postgresql-backup.yaml) is
    named after the chart (`cray-keycloak-postgresql-db-backup` backs up keycloak-postgres), so it
    is found by what it dumps: DB_NAME in its container's env. The operator's carries cluster-name."""
    meta = cron["metadata"]
    if meta["name"] == logical_backup_cronjob(cluster) or (meta.get("labels") or {}).get("cluster-name") == cluster:
        return True
    pod = ((cron.get("spec") or {}).get("jobTemplate") or {}).get("spec", {}).get("template", {}).get("spec", {})
    return any(e.get("name") == "DB_NAME" and e.get("value") == cluster
               for c in pod.get("containers") or [] for e in c.get("env") or [])


def _backup_cronjobs(kube: Kube, ns: str, cluster: str) -> list[Live]:
    return [Live(Target("CronJob", ns, c["metadata"]["name"]), c)
            for c in sorted(kube.list_cronjobs(ns), key=lambda c: c["metadata"]["name"]) if _backs_up(c, cluster)]


def read_cluster(kube: Kube, service: ServiceDef) -> ClusterState:
    ns, cluster = service.namespace, service.cluster
    identity = kube.cluster_identity()
    client = _live(kube, Target(service.client.kind, ns, service.client.name))
    pg = kube.read(Target("postgresql", ns, cluster))
    secrets = [s for s in kube.list_secrets(ns, f"cluster-name={cluster}")
               if s["metadata"]["name"].endswith(f".{cluster}.credentials")]
    jobs: list[Live] = []
    targets: list[Live] = []
    for extra in service.after_restore:
        if extra.kind == "rerun-job":
            jobs.append(_newest_job(kube, ns, extra.selector))
        else:
            targets += _restart_targets(kube, ns, extra.workload_kind or "Deployment", extra.selector)
    return ClusterState(
        identity=ClusterIdentity(identity["server"], identity["kube_system_uid"]),
        client=client,
        postgresql=Live(Target("postgresql", ns, cluster), pg) if pg else None,
        secrets=tuple(Live(Target("Secret", ns, s["metadata"]["name"]), s)
                      for s in sorted(secrets, key=lambda s: s["metadata"]["name"])),
        jobs=tuple(jobs),
        restart_targets=tuple(targets),
        backup_cronjobs=tuple(_backup_cronjobs(kube, ns, cluster)),
        before_jobs=tuple(_newest_job(kube, ns, b.selector) for b in service.before_restore),
        nodes=tuple(kube.list_node_names()) if any(h.runs_on == "nodes" for h in service.host_steps) else (),
    )


def require_cluster(state: ClusterState, service: ServiceDef) -> None:
    """What a restore cannot go without: the resource (or its recovered spec), and the secrets
    Patroni and the operator use. With the resource gone the operator has deleted its secrets
    too: the backup's manifest (or the re-created cluster's new ones) provide them."""
    if state.postgresql is None:
        if state.recovered is not None:
            return
        raise NotFound(f"postgresql {service.namespace}/{service.cluster} does not exist and no spec was found "
                       f"for it; pass one with --postgresql-spec FILE")
    names = {s.target.name for s in state.secrets}
    for user in SYSTEM_USERS:
        wanted = f"{user}.{service.cluster}.credentials"
        if wanted not in names:
            raise NotFound(f"secret {service.namespace}/{wanted} is missing: the cluster's {user} credentials are "
                           f"needed to restore and to bring replicas back; recover the secret before planning")


def recover_spec(kube: Kube, state: ClusterState, service: ServiceDef, spec_file: Path | None) -> ClusterState:
    """With the resource gone, its spec: from --postgresql-spec when given (the operator's explicit
    choice wins), else from the deployed Helm release that renders it, else from the service's last
    pgrestore journal, whose delete-cluster step kept the resource it deleted."""
    ns, cluster = service.namespace, service.cluster
    if state.postgresql is not None:
        if spec_file is not None:
            raise UsageError(f"--postgresql-spec is for a postgresql resource that is gone, but {ns}/{cluster} "
                             f"exists (uid {state.postgresql.uid}); plan without it")
        return state
    if spec_file is not None:
        resource = read_spec_file(spec_file, ns, cluster)
        return replace(state, recovered=RecoveredSpec(PostgresqlSource("file", str(spec_file.resolve())), resource))
    # The chart's backup CronJob outlives the cluster and names its release: read that one first.
    prefer = [(c.obj["metadata"].get("labels") or {}).get("app.kubernetes.io/instance", "")
              for c in state.backup_cronjobs]
    search = helm.find_postgresql(kube, ns, cluster, prefer)
    if search.found is None and (saved := _saved_by_a_journal(kube, service)) is not None:
        return replace(state, recovered=RecoveredSpec(saved[0], saved[1]))
    if search.found is None:
        unread = f", {search.skipped} release secret(s) unreadable" if search.skipped else ""
        raise UsageError(f"postgresql {ns}/{cluster} does not exist and none of the {search.releases} deployed Helm "
                         f"release(s) in {ns} renders it{unread}; pass its spec with --postgresql-spec FILE (a "
                         f"postgresql resource as YAML or JSON, e.g. from `helm get manifest RELEASE -n {ns}`)")
    found = search.found
    return replace(state, recovered=RecoveredSpec(PostgresqlSource("helm", found.release.secret), found.resource))


def _saved_by_a_journal(kube: Kube, service: ServiceDef) -> tuple[PostgresqlSource, dict] | None:
    """The resource as the last apply's delete-cluster found it (ConfigMap pgrestore-journal-<service>)."""
    cm = kube.get_configmap(service.namespace, journal.configmap_name(service.name))
    try:
        found = journal.from_configmap(cm, service.namespace, service.name)
    except PlanRejected:
        return None  # a journal that cannot be read holds no spec to recover
    resource = found.saved.get(SAVED_POSTGRESQL, {}).get(service.cluster) if found is not None else None
    if found is None or resource is None:
        return None
    where = f"ConfigMap {service.namespace}/{journal.configmap_name(service.name)}"
    return PostgresqlSource("journal", f"{where} (apply of plan {found.plan_checksum[:19]}…)"), resource


def read_spec_file(path: Path, ns: str, cluster: str) -> dict:
    """A postgresql resource from a file: one document, or a manifest holding it among others;
    a saved `kubectl get -o yaml` is fine (its server fields are dropped)."""
    what = "pass a postgresql resource as YAML or JSON"
    if path.is_dir():
        raise UsageError(f"--postgresql-spec {path} is a directory; {what}")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"--postgresql-spec file {path} not found; {what}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--postgresql-spec {path} is not text; {what}") from None
    except OSError as e:
        raise UsageError(f"--postgresql-spec {path} cannot be read ({e.strerror}); {what}") from None
    try:
        doc = helm.postgresql_in(helm.documents(text, f"--postgresql-spec {path}"), cluster)
    except helm.HelmError as e:
        raise UsageError(f"{e}; {what}") from None
    if doc is None:
        raise UsageError(f"--postgresql-spec {path} holds no postgresql resource named {cluster} (kind postgresql, "
                         f"apiVersion acid.zalan.do/v1); {what}")
    meta = doc.get("metadata") or {}
    if meta.get("namespace", ns) != ns:
        raise UsageError(f"--postgresql-spec {path}: postgresql {cluster} is for namespace {meta['namespace']}, "
                         f"not {ns}; pass the one of {ns}")
    if not isinstance(doc.get("spec"), dict):
        raise UsageError(f"--postgresql-spec {path}: postgresql {cluster} has no spec; {what}")
    return strip_server_fields({**doc, "metadata": {**meta, "namespace": ns}})


def _ref_for(b: backups.Backup) -> BackupRef:
    assert b.dump is not None
    return BackupRef(source="s3", format=b.format, bucket=backups.BUCKET, key=b.dump.key, size=b.dump.size,
                     etag=b.dump.etag, sha256=None, taken_at=b.taken_at, manifest=None)


def read_backup_s3(s3: S3, cluster: str, wanted: str) -> BackupState:
    """The chosen backup, checked: `latest` passes over truncated or non-dump backups to the
    newest intact one and records why each was skipped."""
    listing = [o for p in backups.prefixes(cluster) for o in s3.list(backups.BUCKET, p)]
    skipped: list[SkippedBackup] = []
    for candidate in backups.choose(backups.find(listing, cluster), wanted, cluster):
        ref = _ref_for(candidate)
        try:
            dumps.probe(ref, s3)
        except BackupError as e:
            if wanted != "latest":
                raise
            skipped.append(SkippedBackup(ref.key, str(e).removeprefix(f"{ref.key} ")))
            continue
        secrets: tuple[ManifestSecret, ...] = ()
        if candidate.manifest:
            text = s3.read_small(backups.BUCKET, candidate.manifest.key).decode(errors="replace")
            secrets = parse_manifest(text, candidate.manifest.key)
            ref.manifest = _manifest_ref(candidate.manifest.key, candidate.manifest.etag, None)
        ref.skipped = skipped
        return BackupState(ref, secrets)
    reasons = "; ".join(f"{s.key}: {s.reason}" for s in skipped[:2])
    raise BackupError(f"no intact backup of {cluster} in s3://{backups.BUCKET} ({reasons}); "
                      f"`pgrestore backups {cluster}` lists them")


def _manifest_ref(key: str, etag: str | None, sha256: str | None) -> ManifestRef:
    return ManifestRef(key=key, etag=etag, sha256=sha256, secrets=[])


def read_backup_file(dump: Path, manifest: Path | None) -> BackupState:
    if not dump.exists():
        raise UsageError(f"dump file {dump} not found; pass the path of a .psql or .sql.gz dump")
    if not dump.is_file():
        raise UsageError(f"dump {dump} is not a file; pass the path of a .psql or .sql.gz dump")
    fmt: Literal["psql", "logical"] = "logical" if dump.name.endswith(".gz") else "psql"
    ref = BackupRef(source="file", format=fmt, bucket=None, key=str(dump.resolve()), size=dump.stat().st_size,
                    etag=None, sha256=dumps.sha256_file(dump), taken_at=None, manifest=None)
    dumps.probe(ref, None)
    secrets: tuple[ManifestSecret, ...] = ()
    if manifest is not None:
        if manifest.is_dir():
            raise UsageError(f"manifest {manifest} is not a file; pass the .manifest written beside the dump")
        if not manifest.is_file():
            raise UsageError(f"manifest file {manifest} not found; pass the .manifest written beside the dump")
        try:
            text = manifest.read_text()
        except UnicodeDecodeError:
            raise BackupError(f"manifest {manifest} is not text; pass the .manifest written beside the dump") from None
        secrets = parse_manifest(text, str(manifest))
        ref.manifest = _manifest_ref(str(manifest.resolve()), None, dumps.sha256_file(manifest))
    return BackupState(ref, secrets)


def read_backup(kube_s3: S3 | None, cluster: str, wanted: str, dump: Path | None,
                manifest: Path | None) -> BackupState:
    if dump is not None:
        return read_backup_file(dump, manifest)
    if kube_s3 is None:
        raise PgRestoreError("no S3 connection for an S3 backup")
    return read_backup_s3(kube_s3, cluster, wanted)


def read_volume_archive(path: Path, data_path: str) -> VolumeArchive:
    """A volume backup whose every member lands inside the volume's path, with the sha256 of the
    very bytes checked (core/volume_archive.py)."""
    if not path.is_file():
        raise UsageError(f"volume backup {path} not found or not a file; pass the vcs.tar backup_vcs.sh wrote")
    size, sha256 = volume_archive.check(path, data_path)
    return VolumeArchive(str(path.resolve()), size, sha256)
