"""alter-users: in the leader, set every credential secret's role password to the secret's value."""

from __future__ import annotations

from core import pods
from core.adapters.psql import ident, literal
from core.errors import StepFailed
from core.model import Step
from core.observe import secret_value

from ..context import Context

# Keep the statements, which carry passwords, out of the server log whatever its settings.
_QUIET = "SET log_statement = 'none'; SET log_min_error_statement = 'panic'; SET log_min_duration_statement = -1;"


def run(step: Step, ctx: Context) -> dict:
    t = step.target
    users, statements, values = [], [], []
    for name in sorted(step.params["secrets"]):
        secret = ctx.kube.read_secret(t.namespace, name)
        if secret is None:
            raise StepFailed(f"secret {t.namespace}/{name} is missing; the operator should have created it")
        user, password = secret_value(secret, "username"), secret_value(secret, "password")
        statements.append(f"ALTER USER {ident(user)} WITH PASSWORD {literal(password)};")
        users.append(user)
        values.append(password)
    leader = pods.find_leader(ctx.kube, t.namespace, t.name, ctx.deadline)
    ctx.psql.run(t.namespace, leader, _QUIET + "\n" + "\n".join(statements), secrets=values, deadline=ctx.deadline)
    return {"users": users, "leader": leader}
