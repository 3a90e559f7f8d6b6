"""alter-users: in the leader, set every credential secret's role password to the secret's value.

Only a SCRAM-SHA-256 verifier computed here goes to the server (core/scram.py, as psql's \\password
does), never the password: Spilo preloads pg_stat_statements and logs DDL (zalando/spilo
postgres-appliance/scripts/configure_spilo.py: shared_preload_libraries 'bg_mon,pg_stat_statements,...',
log_statement 'ddl', log_min_duration_statement 500), and its monitoring roles read the statements
(scripts/metric_helpers.sql: the metric_helpers.pg_stat_statements view). The session also turns
statement tracking and logging off, so not even the verifier is kept: these settings are superuser-only
(PGC_SUSET) and we connect as postgres.
"""

from __future__ import annotations

from typing import cast

from pgrestore.adapters.psql import ident, literal
from pgrestore.contract.model import Step
from pgrestore.contract.params import AlterUsersParams
from pgrestore.core import pods, scram
from pgrestore.core.observe import secret_value
from pgrestore.errors import StepFailed

from ..context import Context

# pg_stat_statements.track 'none' also keeps utility statements out where a site turned
# track_utility on (Spilo's default is off); track_activities off keeps them out of
# pg_stat_activity (and bg_mon, which reads it); the log_* settings out of the server log.
_QUIET = ("SET pg_stat_statements.track = 'none'; SET track_activities = off; SET log_statement = 'none'; "
          "SET log_min_error_statement = 'panic'; SET log_min_duration_statement = -1;")


def run(step: Step, ctx: Context) -> dict:
    t = step.target
    users, statements, hidden = [], [], []
    for name in sorted(cast(AlterUsersParams, step.params)["secrets"]):
        secret = ctx.kube.read_secret(t.namespace, name)
        if secret is None:
            raise StepFailed(f"secret {t.namespace}/{name} is missing; the operator should have created it")
        user, password = secret_value(secret, "username"), secret_value(secret, "password")
        verifier = scram.verifier(password)
        statements.append(f"ALTER USER {ident(user)} WITH PASSWORD {literal(verifier)};")
        users.append(user)
        hidden += [password, verifier]
    leader = pods.find_leader(ctx.kube, t.namespace, t.name, ctx.deadline)
    ctx.psql.run(t.namespace, leader, _QUIET + "\n" + "\n".join(statements), secrets=hidden, deadline=ctx.deadline)
    return {"users": users, "leader": leader}
