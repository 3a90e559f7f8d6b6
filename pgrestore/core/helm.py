"""A `postgresql` resource's spec as the Helm v3 release that manages it last rendered it.

Read straight from Helm's storage, no `helm` binary: Helm v3's default driver keeps each
revision of a release in a Secret of the release's namespace (helm/helm v3
pkg/storage/driver/secrets.go newSecretsObject, storage.go makeKey):
- name `sh.helm.release.v1.<release>.v<revision>`, type `helm.sh/release.v1`;
- labels owner=helm, name=<release>, status=<deployed|superseded|failed|…>, version=<revision>;
- data `release`: the release as JSON (pkg/release/release.go: name, namespace, version, info,
  chart, config, manifest), gzip-compressed and base64-encoded by Helm (util.go encodeRelease);
  Kubernetes base64-encodes Secret data once more on the wire. util.go decodeRelease also reads
  a release stored before compression was introduced: no gzip magic, plain JSON.
- `manifest`: the rendered templates as one multi-document YAML (hooks are kept apart).

Helm's List skips a release it cannot decode; so does this module, and says how many it skipped.
Chart values may hold secrets: nothing here is logged or kept but the one `postgresql` document.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import yaml

from pgrestore.errors import PgRestoreError

RELEASE_TYPE = "helm.sh/release.v1"
OWNER_SELECTOR = "owner=helm"
GZIP_MAGIC = b"\x1f\x8b\x08"
MAX_RELEASE_BYTES = 64 * 1024 * 1024  # a release Secret is < 1 MiB (etcd); this bounds a gzip bomb
# What `helm install`/`upgrade` stamps on every object it applies, and checks before it adopts one
# that exists (helm/helm v3.2+ pkg/action/validate.go): a re-created resource carrying them is
# taken over by the next `helm upgrade` instead of failing it with "invalid ownership metadata".
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"


class HelmError(PgRestoreError):
    """A Helm release Secret cannot be read as Helm writes one."""


class SecretLister(Protocol):
    def list_secrets(self, ns: str, selector: str) -> list[dict]: ...


@dataclass(frozen=True)
class Release:
    """One stored revision: its Secret's name and labels, and the release's rendered manifest."""

    secret: str
    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    manifest: str


def secret_name(release: str, revision: int) -> str:
    return f"sh.helm.release.v1.{release}.v{revision}"


def encode_release(release: dict) -> str:
    """What Helm stores in data.release (before Kubernetes' own base64): base64 of gzip of JSON."""
    return base64.b64encode(gzip.compress(json.dumps(release).encode(), compresslevel=9)).decode()


def decode_release(stored: str, where: str) -> dict:
    """The release JSON from a Secret's data.release as the API returns it (base64 of Helm's base64)."""
    try:
        helm_text = base64.b64decode(stored, validate=True)
        raw = base64.b64decode(helm_text, validate=True)
        if raw[:3] == GZIP_MAGIC:
            raw = _gunzip(raw)
        release = json.loads(raw)
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error) as e:
        raise HelmError(f"Helm release secret {where} cannot be decoded as Helm v3 stores a release "
                        f"({type(e).__name__}); see `helm history` for the release") from None
    if not isinstance(release, dict):
        raise HelmError(f"Helm release secret {where} does not hold a release object")
    return release


def _gunzip(data: bytes) -> bytes:
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = d.decompress(data, MAX_RELEASE_BYTES)
    if d.unconsumed_tail:
        raise ValueError(f"release larger than {MAX_RELEASE_BYTES} bytes uncompressed")
    if not d.eof:
        raise EOFError("gzip stream ends early")
    return out


def from_secret(secret: dict) -> Release:
    meta = secret["metadata"]
    where = f"{meta.get('namespace', '')}/{meta['name']}"
    if secret.get("type") != RELEASE_TYPE:
        raise HelmError(f"secret {where} is of type {secret.get('type')!r}, not a Helm v3 release ({RELEASE_TYPE})")
    stored = (secret.get("data") or {}).get("release")
    if not stored:
        raise HelmError(f"Helm release secret {where} has no data.release")
    body = decode_release(stored, where)
    labels = meta.get("labels") or {}
    info = body.get("info") or {}
    chart = (body.get("chart") or {}).get("metadata") or {}
    return Release(secret=meta["name"], name=str(body.get("name") or labels.get("name", "")),
                   namespace=str(body.get("namespace") or meta.get("namespace", "")),
                   revision=int(body.get("version") or labels.get("version") or 0),
                   status=str(info.get("status") or labels.get("status", "")),
                   chart=f"{chart.get('name', '?')}-{chart.get('version', '?')}",
                   manifest=str(body.get("manifest") or ""))


def documents(text: str, where: str) -> Iterator[dict]:
    """The objects of a multi-document YAML (a Helm manifest, or a file a user passes)."""
    try:
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict):
                yield doc
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise HelmError(f"{where} is not valid YAML{line}") from None


def is_postgresql(doc: dict, name: str) -> bool:
    return (doc.get("kind") == "postgresql" and str(doc.get("apiVersion", "")).startswith("acid.zalan.do/")
            and (doc.get("metadata") or {}).get("name") == name)


def postgresql_in(docs: Iterable[dict], name: str) -> dict | None:
    return next((d for d in docs if is_postgresql(d, name)), None)


def deployed(secrets: Iterable[dict]) -> tuple[list[dict], int]:
    """The deployed revision of each release (the newest, should a failed rollback have left two),
    and how many release Secrets were passed over as not Helm v3 ones."""
    newest: dict[str, dict] = {}
    foreign = 0
    for s in secrets:
        labels = s["metadata"].get("labels") or {}
        if s.get("type") != RELEASE_TYPE:
            foreign += 1  # Helm 2 kept releases in ConfigMaps of kube-system; anything else is not ours to read
            continue
        if labels.get("status") != "deployed":
            continue
        try:
            revision = int(labels.get("version", ""))
        except ValueError:
            foreign += 1
            continue
        name = labels.get("name", "")
        if name not in newest or revision > int(newest[name]["metadata"]["labels"]["version"]):
            newest[name] = s
    return [newest[n] for n in sorted(newest)], foreign


@dataclass(frozen=True)
class Found:
    release: Release
    resource: dict  # the rendered document, with what Helm stamps on the objects it applies


@dataclass(frozen=True)
class Search:
    found: Found | None
    releases: int  # deployed releases read
    skipped: int  # release Secrets that could not be read as Helm v3 ones


def find_postgresql(kube: SecretLister, namespace: str, cluster: str, prefer: Iterable[str] = ()) -> Search:
    """The deployed release of `namespace` whose manifest renders postgresql `cluster`.

    Releases named in `prefer` (e.g. the backup CronJob's app.kubernetes.io/instance) are read
    first; the others only if those do not render it. Two releases rendering it is refused."""
    candidates, skipped = deployed(kube.list_secrets(namespace, OWNER_SELECTOR))
    first = [c for c in candidates if c["metadata"]["labels"]["name"] in set(prefer)]
    rest = [c for c in candidates if c not in first]
    found: list[Found] = []
    read = 0
    for group in (first, rest):
        for secret in group:
            read += 1
            try:
                release = from_secret(secret)
                doc = postgresql_in(documents(release.manifest, f"manifest of {release.secret}"), cluster)
            except HelmError:
                skipped += 1  # as Helm's own List does: one undecodable release does not hide the others
                continue
            if doc is not None:
                found.append(Found(release, rendered(doc, release)))
        if found:
            break
    if len(found) > 1:
        names = ", ".join(f.release.secret for f in found)
        raise HelmError(f"postgresql {namespace}/{cluster} is rendered by more than one deployed Helm release "
                        f"({names}); pass the one to use with --postgresql-spec (`helm get manifest RELEASE -n "
                        f"{namespace} > spec.yaml`)")
    return Search(found[0] if found else None, read, skipped)


def rendered(doc: dict, release: Release) -> dict:
    """The document as Helm applies it: in the release's namespace, with its ownership marks."""
    meta = dict(doc.get("metadata") or {})
    meta.setdefault("namespace", release.namespace)
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: "Helm"}
    meta["annotations"] = {**(meta.get("annotations") or {}), RELEASE_NAME_ANNOTATION: release.name,
                           RELEASE_NAMESPACE_ANNOTATION: release.namespace}
    return {"apiVersion": doc["apiVersion"], "kind": doc["kind"], "metadata": meta, "spec": doc.get("spec") or {}}
