"""`--secrets alter-users` leaves no password where the database keeps what it ran: not in
pg_stat_statements (Spilo preloads it and its monitoring roles read it through
metric_helpers.pg_stat_statements), not in the server's logs (Spilo logs every DDL statement:
log_statement 'ddl', zalando/spilo configure_spilo.py), and the secrets still open the database.

The cluster is given `pg_stat_statements.track_utility: 'on'` in spec.postgresql.parameters, as a
site may (Spilo's own default is off): then every ALTER USER is tracked with its text unless the
session turns tracking off."""

from __future__ import annotations

from pathlib import Path

from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION

from .conftest import CLUSTER, NS, credential_secrets, make_backup, secrets_open_database, server, wait_healthy

TRACK_UTILITY = {"pg_stat_statements.track_utility": "on"}


def _set_parameters(sandbox, parameters: dict | None) -> None:
    postgresql = {"parameters": parameters} if parameters else {"parameters": None}
    sandbox.api.custom.patch_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, CLUSTER,
                                                      {"spec": {"postgresql": postgresql}})


def _server_logs(srv) -> str:
    """Everything the server logged: pg_ctl's log and Spilo's csv logs in PGROOT/pg_log."""
    files = [Path(srv.log), *sorted((Path(srv.datadir).parent / "pg_log").glob("*"))]
    return "".join(p.read_text(errors="replace") for p in files if p.is_file())


def test_alter_users_leaves_no_password_in_pg_stat_statements_or_the_logs(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    _set_parameters(sandbox, TRACK_UTILITY)
    try:
        plan = tmp_path / "plan.json"
        res = cli("plan", "keycloak", "--backup", make_backup(sandbox, "psql"), "--secrets", "alter-users",
                  "-o", str(plan))
        assert res.returncode == 0, res.stderr
        res = cli("apply", str(plan), "--auto-approve")
        assert res.returncode == 0, res.stderr
    finally:
        _set_parameters(sandbox, None)

    passwords = {pw for _, pw in credential_secrets(sandbox).values()}
    srv = server(sandbox)  # the re-created cluster, with the parameter
    assert srv.psql("SHOW pg_stat_statements.track_utility").strip() == "on"
    tracked = srv.psql("SELECT query FROM public.pg_stat_statements", db="postgres")
    assert "ALTER ROLE" in tracked, "utility statements are tracked: the check below means something"
    assert not any(pw in tracked for pw in passwords), "a password is in pg_stat_statements"
    assert "ALTER USER" not in tracked, "alter-users' statements (verifiers) were tracked"

    logs = _server_logs(srv)
    assert "statement: CREATE" in logs, "DDL is logged as Spilo logs it: the check below means something"
    assert not any(pw in logs for pw in passwords), "a password is in the server log"
    assert "ALTER USER" not in logs
    assert secrets_open_database(sandbox), "the new secrets open the database"
