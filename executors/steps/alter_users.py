"""alter-users: set every credential secret's role password to the secret's live value."""

from __future__ import annotations

import base64

from pgrestore.adapters.psql import literal

from ..context import Context


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def run(step: dict, ctx: Context) -> dict:
    suffix = f".{ctx.cluster}.credentials"
    secrets = [s for s in ctx.kube.list_secrets(ctx.ns, f"cluster-name={ctx.cluster}")
               if s["metadata"]["name"].endswith(suffix)]
    users, statements, values = [], [], []
    for s in sorted(secrets, key=lambda s: s["metadata"]["name"]):
        user = base64.b64decode(s["data"]["username"]).decode()
        password = base64.b64decode(s["data"]["password"]).decode()
        statements.append(f"ALTER USER {_ident(user)} WITH PASSWORD {literal(password)};")
        users.append(user)
        values.append(password)
    # Keep the statements, which carry passwords, out of the server log whatever its settings.
    quiet = "SET log_statement = 'none'; SET log_min_error_statement = 'panic'; SET log_min_duration_statement = -1;"
    ctx.psql.run(ctx.ns, f"{ctx.cluster}-0", quiet + "\n" + "\n".join(statements), secrets=values)
    return {"users": users}
