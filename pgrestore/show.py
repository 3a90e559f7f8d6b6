"""Render a plan for review: text for the terminal, Markdown for a merge request."""

from __future__ import annotations

from core.model import Plan, PlanSet, Step


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


def _step_line(s: Step) -> list[str]:
    flag = "  !! DESTRUCTIVE" if s.destructive else ""
    return [f"  {s.id:<26} {s.target.address}  (up to {_duration(s.timeout_seconds)}){flag}",
            f"      {s.description}"]


def step_lines(plan: Plan) -> list[str]:
    return [line for s in plan.steps for line in _step_line(s)]


def rollback_lines(plan: Plan) -> list[str]:
    return [line for s in plan.rollback for line in _step_line(s)]


def counts(plan: Plan) -> str:
    acts = [tuple(c.actions) for c in plan.changes]
    created = acts.count(("create",))
    return ((f"{created} to create, " if created else "")
            + f"{acts.count(('delete', 'create'))} to replace, {acts.count(('update',))} to update, "
            f"{acts.count(('no-op',))} unchanged; {len(plan.steps)} steps, "
            f"{sum(s.destructive for s in plan.steps)} destructive")


def as_text(plan: Plan) -> str:
    out = summary_lines(plan)
    out += ["", "Changes:"] + change_lines(plan)
    out += ["", "Steps:"] + step_lines(plan)
    out += ["", "On failure or Ctrl-C after the first change, rollback runs:"] + rollback_lines(plan)
    out += ["", f"Plan: {counts(plan)}.", f"Checksum: {plan.checksum}"]
    return "\n".join(out) + "\n"


def as_markdown(plan: Plan) -> str:
    b = plan.backup
    out = [f"## pgrestore plan: {plan.service} ({plan.namespace}/{plan.postgresql})", ""]
    out += [f"- **Cluster:** `{plan.cluster.server}` (kube-system uid `{plan.cluster.kube_system_uid}`)",
            f"- **Backup:** `{b.key}` ({b.format}, taken {b.taken_at or 'unknown'}, {_size(b.size)})",
            f"- **Strategy:** {plan.strategy}; **secrets:** {plan.secrets_mode}",
            f"- **Checksum:** `{plan.checksum}`"]
    flag = source_line(plan, quote="`")
    if flag:
        out.append(f"- **Warning:** {flag}")
    out += [f"- **Note:** {n}" for n in plan.notes]
    out += ["", "### Changes", "", "| object | actions | before | after |", "|---|---|---|---|"]
    out += [f"| `{c.address}` | {' then '.join(c.actions)} | {_fields(c.before)} | {_fields(c.after)} |"
            for c in plan.changes]
    out += ["", "### Steps", "", "| step | target | timeout | what |", "|---|---|---|---|"]
    out += [f"| {s.id}{' **DESTRUCTIVE**' if s.destructive else ''} | `{s.target.address}` | "
            f"{_duration(s.timeout_seconds)} | {s.description} |" for s in plan.steps]
    out += ["", "### Rollback on failure", ""] + [f"- `{s.id}` {s.description}" for s in plan.rollback]
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
    return "\n".join(out) + f"Set checksum: {plan_set.checksum}\n"


def set_as_text(plan_set: PlanSet) -> str:
    out = "\n".join(_set_head(plan_set)) + "\n"
    for i, plan in enumerate(plan_set.plans, 1):
        out += f"== {i}/{len(plan_set.plans)} {plan.service} ==\n" + as_text(plan) + "\n"
    return out + f"Set checksum: {plan_set.checksum}\n"


def set_as_markdown(plan_set: PlanSet) -> str:
    out = [f"# pgrestore plan set: {', '.join(plan_set.order)}", ""]
    out += [f"- restored in this order: {' → '.join(plan_set.order)}", *[f"- because {r}" for r in
                                                                          plan_set.order_reasons],
            f"- **Set checksum:** `{plan_set.checksum}`", ""]
    return "\n".join(out) + "\n".join(as_markdown(p) for p in plan_set.plans)
