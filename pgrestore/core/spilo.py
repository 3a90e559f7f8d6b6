"""What a Spilo pod makes by itself, before any restore: the catalogue of Spilo-owned objects.

Spilo 2.1-p7 is the image CSM runs (cray-postgres-operator values.yaml: ``spilo-14:2.1-p7``). Patroni
runs ``/scripts/post_init.sh "{HUMAN_ROLE}" <dsn of database postgres>`` once after bootstrap
(configure_spilo.py l.172; HUMAN_ROLE defaults to ``zalandos``, l.527). From zalando/spilo at tag
2.1-p7, ``postgres-appliance/scripts/``:

* post_init.sh l.8-45: roles ``admin`` (CREATEDB), ``cron_admin`` (granted to admin), the human role
  and ``robot_zmon``, all NOLOGIN.
* post_init.sh l.47-172, in database ``postgres`` only: extensions ``pg_auth_mon``, ``pg_cron`` (its
  schema ``cron`` and Spilo's own ``cron.schedule_in_database(text, text, text)``, l.79-94), ``file_fdw``;
  foreign server ``pglog`` (l.112-119); table ``public.postgres_log`` (l.121-154); foreign tables
  ``public.postgres_log_0..7`` and views ``public.failed_authentication_0..7`` (l.157-170); then
  ``_zmon_schema.dump``: extension ``plpython3u``, schema ``zmon_utils`` with type
  ``system_information`` and functions ``get_database_cluster_information()``,
  ``get_database_cluster_system_information()``.
* post_init.sh l.174-205, in every database that allows connections at bootstrap (``postgres`` and
  ``template1``; the operator's databases are copied from template1 and inherit all of it):
  ``create_user_functions.sql`` (schema ``user_management``, nine functions), extensions
  ``pg_stat_statements``, ``pg_stat_kcache``, ``set_user`` (l.192-197), ``pg_mon`` only with
  ENABLE_PG_MON (l.203), and ``metric_helpers.sql`` (schema ``metric_helpers``: three functions, three
  views).

The sandbox's model of it is ``sandbox/data/spilo_post_init.sql`` (without what Debian's PostgreSQL
cannot provide). Names are as pg_dump writes them in its TOC comments: relations and schemas bare,
functions as ``name(argtype, ...)`` with pg_dump's type names.
"""

from __future__ import annotations

VERSION = "2.1-p7"

# The human role post_init.sh receives as $1 (configure_spilo.py: HUMAN_ROLE, default "zalandos").
HUMAN_ROLE = "zalandos"

ROLES: frozenset[str] = frozenset({"admin", "cron_admin", "robot_zmon", HUMAN_ROLE})

# Databases in which post_init.sh creates objects (l.205: every datallowconn database at bootstrap).
DATABASES: frozenset[str] = frozenset({"postgres", "template1"})

SCHEMAS: frozenset[str] = frozenset({"cron", "zmon_utils", "user_management", "metric_helpers"})

EXTENSIONS: frozenset[str] = frozenset({
    "pg_auth_mon", "pg_cron", "file_fdw", "plpython3u",          # postgres only
    "pg_stat_statements", "pg_stat_kcache", "set_user", "pg_mon",  # every database
})

FOREIGN_SERVERS: frozenset[str] = frozenset({"pglog"})

# (schema, name) by pg_dump TOC type.
_WEEKDAYS = range(8)  # post_init.sh l.157: "Sunday could be 0 or 7 ... we just create both"
TABLES: frozenset[tuple[str, str]] = frozenset({("public", "postgres_log")})
FOREIGN_TABLES: frozenset[tuple[str, str]] = frozenset(("public", f"postgres_log_{i}") for i in _WEEKDAYS)
VIEWS: frozenset[tuple[str, str]] = frozenset(
    {("public", f"failed_authentication_{i}") for i in _WEEKDAYS}
    | {("metric_helpers", "table_bloat"), ("metric_helpers", "index_bloat"),
       ("metric_helpers", "pg_stat_statements")}
)
TYPES: frozenset[tuple[str, str]] = frozenset({("zmon_utils", "system_information")})

# Functions by schema, as "name(argtypes)" the way pg_dump's TOC names them.
FUNCTIONS: dict[str, frozenset[str]] = {
    "user_management": frozenset({
        "random_password(integer)",
        "create_application_user(text)",
        "create_user(text)",
        "create_role(text)",
        "create_application_user_or_change_password(text, text)",
        "revoke_admin(text)",
        "drop_user(text)",
        "drop_role(text)",
        "terminate_backend(integer)",
    }),
    "metric_helpers": frozenset({
        "get_table_bloat_approx()",
        "get_btree_bloat_approx()",
        "pg_stat_statements(boolean)",
    }),
    "zmon_utils": frozenset({
        "get_database_cluster_information()",
        "get_database_cluster_system_information()",
    }),
    "cron": frozenset({"schedule_in_database(text, text, text)"}),
}

# What the postgres-operator (v1.8.2) makes in every cluster besides the application's roles and
# databases: the superuser and the replication user (pkg/util/config/config.go l.103-104:
# super_username default "postgres", replication_username default "standby"). Not Spilo's, but just as
# much already there before a restore.
OPERATOR_ROLES: frozenset[str] = frozenset({"postgres", "standby"})


def owns(toc_type: str, schema: str | None, name: str) -> bool:
    """Is this pg_dump TOC entry (type, schema, tag) one of the objects Spilo creates itself?"""
    schema = schema or ""
    if toc_type == "SCHEMA":
        return name in SCHEMAS
    if toc_type == "EXTENSION":
        return name in EXTENSIONS
    if toc_type == "SERVER":
        return name in FOREIGN_SERVERS
    if toc_type == "TABLE":
        return (schema, name) in TABLES
    if toc_type == "FOREIGN TABLE":
        return (schema, name) in FOREIGN_TABLES
    if toc_type == "VIEW":
        return (schema, name) in VIEWS
    if toc_type == "TYPE":
        return (schema, name) in TYPES
    if toc_type == "FUNCTION":
        return name in FUNCTIONS.get(schema, frozenset())
    return False
