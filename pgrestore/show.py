"""Render a plan for review: text for the terminal, Markdown for a merge request."""

from __future__ import annotations


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _fields(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("resource", "selector"))


def summary_lines(plan: dict) -> list[str]:
    b = plan["backup"]
    where = f"s3://{b['bucket']}/{b['key']}" if b["source"] == "s3" else b["key"]
    lines = [
        f"Restore {plan['service']}: postgresql {plan['namespace']}/{plan['postgresql']} "
        f"({plan['strategy']}, secrets {plan['secrets_mode']})",
        f"Cluster: {plan['cluster']['server']} (kube-system uid {plan['cluster']['kube_system_uid']})",
        f"Backup:  {where}",
        f"         format {b['format']}, taken {b['taken_at'] or 'unknown'}, {_size(b['size'])}"
        + (f", ETag {b['etag']}" if b["etag"] else f", sha256 {b['sha256']}"),
        f"         manifest: {b['manifest']['key'] if b['manifest'] else 'none'}",
    ]
    return lines


def change_lines(plan: dict) -> list[str]:
    symbol = {("no-op",): " ", ("update",): "~", ("delete", "create"): "-/+", ("create",): "+", ("delete",): "-"}
    lines = []
    for c in plan["changes"]:
        mark = symbol.get(tuple(c["actions"]), "?")
        verb = " then ".join(c["actions"])
        lines.append(f"  {mark:>3} {c['address']}  ({verb})")
        if c["actions"] != ["no-op"]:
            lines.append(f"        before: {_fields(c['before'])}")
            lines.append(f"        after:  {_fields(c['after'])}")
    return lines


def step_lines(plan: dict) -> list[str]:
    lines = []
    for s in plan["steps"]:
        flag = "  !! DESTRUCTIVE" if s["destructive"] else ""
        lines.append(f"  {s['id']:<26} {s['target']}{flag}")
        lines.append(f"      {s['description']}")
    return lines


def rollback_lines(plan: dict) -> list[str]:
    return [f"  - {r['description']}" for r in plan["rollback"]]


def counts(plan: dict) -> str:
    acts = [tuple(c["actions"]) for c in plan["changes"]]
    return (f"{acts.count(('delete', 'create'))} to replace, {acts.count(('update',))} to update, "
            f"{acts.count(('no-op',))} unchanged; {len(plan['steps'])} steps, "
            f"{sum(s['destructive'] for s in plan['steps'])} destructive")


def as_text(plan: dict) -> str:
    out = summary_lines(plan)
    out += ["", "Changes:"] + change_lines(plan)
    out += ["", "Steps:"] + step_lines(plan)
    out += ["", "On failure or Ctrl-C, rollback will:"] + rollback_lines(plan)
    out += ["", f"Plan: {counts(plan)}.", f"Checksum: {plan['checksum']}"]
    return "\n".join(out) + "\n"


def as_markdown(plan: dict) -> str:
    b = plan["backup"]
    out = [f"## pgrestore plan: {plan['service']} ({plan['namespace']}/{plan['postgresql']})", ""]
    out += [f"- **Cluster:** `{plan['cluster']['server']}` (kube-system uid `{plan['cluster']['kube_system_uid']}`)",
            f"- **Backup:** `{b['key']}` ({b['format']}, taken {b['taken_at'] or 'unknown'}, {_size(b['size'])})",
            f"- **Secrets:** {plan['secrets_mode']}", f"- **Checksum:** `{plan['checksum']}`", ""]
    out += ["### Changes", "", "| object | actions | before | after |", "|---|---|---|---|"]
    out += [f"| `{c['address']}` | {' then '.join(c['actions'])} | {_fields(c['before'])} | {_fields(c['after'])} |"
            for c in plan["changes"]]
    out += ["", "### Steps", "", "| # | step | target | what |", "|---|---|---|---|"]
    out += [f"| {s['id'][:2]} | {s['kind']}{' **DESTRUCTIVE**' if s['destructive'] else ''} | `{s['target']}` | "
            f"{s['description']} |" for s in plan["steps"]]
    out += ["", "### Rollback on failure", ""] + [f"- {r['description']}" for r in plan["rollback"]]
    out += ["", f"**Plan:** {counts(plan)}."]
    return "\n".join(out) + "\n"
