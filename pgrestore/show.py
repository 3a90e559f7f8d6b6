"""Render a plan for review: text for the terminal, Markdown for a merge request.

Every step shows what apply will use, not only its description: the SQL it runs (as the step
module builds it), the host command (verbatim), each target as kind/namespace/name, the secrets
by name, every S3 object or file. Never a secret's value: a plan holds none, only keyed digests,
which Changes shows (a digest changing says a secret changes) and the steps leave out.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from pgrestore.contract.model import Plan, PlanSet, Step
from pgrestore.executors.steps.drop_databases import drop_script
from pgrestore.executors.steps.grant_connect import grant_script
from pgrestore.executors.steps.run_sql import script as run_sql_script


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _fields(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("spec", "selector"))


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds >= 120 else f"{seconds}s"


def source_line(plan: Plan, quote: str = "") -> str | None:
    """The flag a reviewer must not miss: the resource is gone and its spec comes from elsewhere."""
    src = plan.postgresql_source
    if src is None:
        return None
    where = {"helm": "Helm release", "journal": "pgrestore's journal", "file": "--postgresql-spec file"}.get(
        src.kind, src.kind)
    return f"postgresql resource is gone: spec from {where} {quote}{src.ref}{quote}"


def summary_lines(plan: Plan) -> list[str]:
    b = plan.backup
    where = f"s3://{b.bucket}/{b.key}" if b.source == "s3" else b.key
    check = f"ETag {b.etag}" if b.etag else f"sha256 {b.sha256}"
    lines = [
        f"Restore {plan.service}: postgresql {plan.namespace}/{plan.postgresql} "
        f"({plan.strategy}, secrets {plan.secrets_mode})",
        f"Cluster: {plan.cluster.server} (kube-system uid {plan.cluster.kube_system_uid})",
        f"Backup:  {where}",
        f"         format {b.format}, taken {b.taken_at or 'unknown'}, {_size(b.size)}, {check}",
        f"         manifest: {b.manifest.key if b.manifest else 'none'}",
    ]
    flag = source_line(plan)
    if flag:
        lines.append(f"!! {flag}")
    lines += [f"Note:    {n}" for n in plan.notes]
    lines += [f"Manual:  apply stops at {s.id} for you to run `{s.params['command']}`" for s in plan.steps
              if s.kind == "manual"]
    return lines


def change_lines(plan: Plan) -> list[str]:
    symbol = {("no-op",): " ", ("update",): "~", ("delete", "create"): "-/+", ("create",): "+", ("delete",): "-"}
    lines = []
    for c in plan.changes:
        mark = symbol.get(tuple(c.actions), "?")
        lines.append(f"  {mark:>3} {c.address}  ({' then '.join(c.actions)})")
        if c.actions != ["no-op"]:
            lines.append(f"        before: {_fields(c.before)}")
            lines.append(f"        after:  {_fields(c.after)}")
    return lines


def _target(t: Any) -> str:
    """kind/namespace/name of a target (a Target, or one as a plan's JSON holds it)."""
    d = t if isinstance(t, dict) else {"kind": t.kind, "namespace": t.namespace, "name": t.name,
                                       "selector": t.selector}
    kind = str(d["kind"]).lower()
    where = f"{kind}/{d['namespace']}/{d['name']}" if d.get("namespace") else f"{kind}/{d['name']}"
    return where + (f" (selector {d['selector']})" if d.get("selector") else "")


def _location(v: dict) -> str:
    return f"s3://{v.get('bucket')}/{v['key']}" if v.get("source", "s3") == "s3" else str(v["key"])


def _value(key: str, v: Any) -> str:
    """One parameter, readably: locations as URLs, targets as kind/ns/name, lists joined."""
    if key == "resource" and isinstance(v, dict) and "metadata" in v:  # what create-cluster sends, verbatim
        meta = v["metadata"]
        return (f"{str(v.get('kind')).lower()}/{meta.get('namespace')}/{meta.get('name')} as "
                f"{json.dumps(v, sort_keys=True, ensure_ascii=False)}")
    if isinstance(v, dict) and "key" in v and ("bucket" in v or "source" in v):
        return _location(v)
    if isinstance(v, dict) and {"kind", "name"} <= v.keys():
        return _target(v)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return ", ".join(v) if v else "(none)"
    if isinstance(v, list) and all(isinstance(x, dict) and "name" in x for x in v):
        return ", ".join(_named(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_value(k, x)}" for k, x in v.items() if not k.endswith("digest"))
    return "(none)" if v is None else str(v)


def _named(d: dict) -> str:
    """A named item (a CronJob as recorded, a manifest's secret): its name, then its other fields."""
    rest = {k: x for k, x in d.items() if k != "name" and not k.endswith("digest")}
    return str(d["name"]) + (f" ({_value('', rest)})" if rest else "")


def _sql(kind: str, p: dict) -> list[str]:
    """The SQL apply runs in the Patroni leader, as the step module builds it."""
    if kind == "run-sql":
        return [f"SQL in database {p['database']}:", *run_sql_script(p["user"], p["statement"]).splitlines()]
    if kind == "drop-databases":
        return [line for name in p["databases"]
                for line in [f"SQL for database {name} (if it exists):", *drop_script(name).splitlines()]]
    if kind == "grant-connect":
        return ["SQL (for those of the databases that exist):", *grant_script(p["databases"]).splitlines()]
    if kind == "alter-users":
        return [f"SQL: ALTER USER <secret's username> WITH PASSWORD <secret's password>; for each of the secrets "
                f"{', '.join(p['secrets'])} (values read from the cluster at apply, never shown)"]
    return []


SHOWN_ELSEWHERE = {"statement", "argv", "command", "secret_digests"}


def param_lines(s: Step) -> list[str]:
    """What the step will use, one fact a line (SQL and commands verbatim)."""
    p = s.params
    lines = _sql(s.kind, p)
    if "argv" in p:
        lines.append(f"command: {shlex.join(p['argv'])}")
    if "command" in p:
        lines.append(f"command (you run it): {p['command']}")
    if p.get("secret_digests"):
        lines.append(f"secret_digests: checks each password against the plan's, for "
                     f"{', '.join(sorted(p['secret_digests']))}")
    lines += [f"{k}: {_value(k, v)}" for k, v in sorted(p.items()) if k not in SHOWN_ELSEWHERE
              and not (s.kind == "drop-databases" and k == "databases")]
    if s.when is not None:
        lines.append(f"only if step {s.when.step} observed {s.when.observed} = {s.when.equals!r}")
    return lines


def _step_line(s: Step, detail: bool) -> list[str]:
    flag = "  !! DESTRUCTIVE" if s.destructive else ""
    return [f"  {s.id:<26} {_target(s.target)}  (up to {_duration(s.timeout_seconds)}){flag}",
            f"      {s.description}", *([f"        | {line}" for line in param_lines(s)] if detail else [])]


def step_lines(plan: Plan, detail: bool = False) -> list[str]:
    """detail: each step's parameters too (`show`); `plan`'s own summary is the short form."""
    return [line for s in plan.steps for line in _step_line(s, detail)]


def rollback_lines(plan: Plan, detail: bool = False) -> list[str]:
    return [line for s in plan.rollback for line in _step_line(s, detail)]


def signature_note(verified: bool | None) -> str:
    if verified is None:
        return ""
    if verified:
        return " (verified with the cluster's plan key)"
    return (" (NOT verified: show only renders; apply and rollback refuse the plan if it does not verify with "
            "the cluster's plan key; `show --verify` checks it now)")


def counts(plan: Plan) -> str:
    acts = [tuple(c.actions) for c in plan.changes]
    created = acts.count(("create",))
    return ((f"{created} to create, " if created else "")
            + f"{acts.count(('delete', 'create'))} to replace, {acts.count(('update',))} to update, "
            f"{acts.count(('no-op',))} unchanged; {len(plan.steps)} steps, "
            f"{sum(s.destructive for s in plan.steps)} destructive")


def as_text(plan: Plan, verified: bool | None = None) -> str:
    out = summary_lines(plan)
    out += ["", "Changes:"] + change_lines(plan)
    out += ["", "Steps (| what each will use):"] + step_lines(plan, detail=True)
    out += ["", "On failure or Ctrl-C after the first change, rollback runs:"] + rollback_lines(plan, detail=True)
    out += ["", f"Plan: {counts(plan)}.", f"Signature: {plan.checksum}{signature_note(verified)}"]
    return "\n".join(out) + "\n"


def _md_cell(s: Step) -> str:
    """A step's description and parameters in one table cell: code spans, one per line."""
    facts = "<br>".join(f"`{_md_escape(line)}`" for line in param_lines(s))
    what = _md_escape(s.description)
    return f"{what}<br>{facts}" if facts else what


def _md_escape(text: str) -> str:
    """In a table cell | ends the cell, even inside a code span (GFM): escaped. A backquote would end
    the code span: shown as '."""
    return text.replace("|", "\\|").replace("`", "'")


def as_markdown(plan: Plan, verified: bool | None = None) -> str:
    b = plan.backup
    out = [f"## pgrestore plan: {plan.service} ({plan.namespace}/{plan.postgresql})", ""]
    out += [f"- **Cluster:** `{plan.cluster.server}` (kube-system uid `{plan.cluster.kube_system_uid}`)",
            f"- **Backup:** `{b.key}` ({b.format}, taken {b.taken_at or 'unknown'}, {_size(b.size)})",
            f"- **Strategy:** {plan.strategy}; **secrets:** {plan.secrets_mode}",
            f"- **Signature:** `{plan.checksum}`{signature_note(verified)}"]
    flag = source_line(plan, quote="`")
    if flag:
        out.append(f"- **Warning:** {flag}")
    out += [f"- **Note:** {n}" for n in plan.notes]
    out += ["", "### Changes", "", "| object | actions | before | after |", "|---|---|---|---|"]
    out += [f"| `{c.address}` | {' then '.join(c.actions)} | {_fields(c.before)} | {_fields(c.after)} |"
            for c in plan.changes]
    out += ["", "### Steps", "", "| step | target | timeout | what |", "|---|---|---|---|"]
    out += [f"| {s.id}{' **DESTRUCTIVE**' if s.destructive else ''} | `{_target(s.target)}` | "
            f"{_duration(s.timeout_seconds)} | {_md_cell(s)} |" for s in plan.steps]
    out += ["", "### Rollback on failure", "", "| step | target | timeout | what |", "|---|---|---|---|"]
    out += [f"| {s.id} | `{_target(s.target)}` | {_duration(s.timeout_seconds)} | {_md_cell(s)} |"
            for s in plan.rollback]
    out += ["", f"**Plan:** {counts(plan)}."]
    return "\n".join(out) + "\n"


# -- plan sets: one section per service, in the order apply restores them -------------------
def _set_head(plan_set: PlanSet) -> list[str]:
    return [f"Plan set: {len(plan_set.plans)} services, restored in this order: {' -> '.join(plan_set.order)}",
            *[f"  because {r}" for r in plan_set.order_reasons],
            "Each service's plan runs whole, under its own lock; a failure stops the set there and rolls back "
            "that service only (those before it stay restored).", ""]


def set_summary(plan_set: PlanSet) -> str:
    out = _set_head(plan_set)
    for i, plan in enumerate(plan_set.plans, 1):
        out += [f"== {i}/{len(plan_set.plans)} {plan.service} ==", *summary_lines(plan), "", *step_lines(plan), "",
                f"Plan: {counts(plan)}.", ""]
    return "\n".join(out) + f"Set signature: {plan_set.checksum}\n"


def set_as_text(plan_set: PlanSet, verified: bool | None = None) -> str:
    out = "\n".join(_set_head(plan_set)) + "\n"
    for i, plan in enumerate(plan_set.plans, 1):
        out += f"== {i}/{len(plan_set.plans)} {plan.service} ==\n" + as_text(plan, verified) + "\n"
    return out + f"Set signature: {plan_set.checksum}{signature_note(verified)}\n"


def set_as_markdown(plan_set: PlanSet, verified: bool | None = None) -> str:
    out = [f"# pgrestore plan set: {', '.join(plan_set.order)}", ""]
    out += [f"- restored in this order: {' → '.join(plan_set.order)}", *[f"- because {r}" for r in
                                                                          plan_set.order_reasons],
            f"- **Set signature:** `{plan_set.checksum}`{signature_note(verified)}", ""]
    return "\n".join(out) + "\n".join(as_markdown(p, verified) for p in plan_set.plans)
