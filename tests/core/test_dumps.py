"""Dump checks and psql error classification, on real files."""

from __future__ import annotations

import gzip

import pytest

from executors.dumpfile import check
from pgrestore.adapters.psql import classify
from pgrestore.errors import BackupError

DUMP = (b"--\n-- PostgreSQL database cluster dump\n--\n\n\\connect service_db\n\n"
        b"COPY public.realm (id, name) FROM stdin;\nmaster\tmaster\nshasta\tshasta\n\\.\n\n"
        b'COPY public."user" (id) FROM stdin;\n1\n\\.\n\n'
        b"--\n-- PostgreSQL database cluster dump complete\n--\n\n")


def _backup(path, fmt="psql"):
    return {"source": "file", "format": fmt, "key": str(path)}


def test_row_counts_per_database_and_table(tmp_path):
    path = tmp_path / "d.psql"
    path.write_bytes(DUMP)
    report = check(_backup(path), None)
    assert report.rows == {"service_db": {"public.realm": 2, 'public."user"': 1}}
    assert report.bytes_raw == len(DUMP)


def test_missing_trailer_means_truncated(tmp_path):
    path = tmp_path / "d.psql"
    path.write_bytes(DUMP[:-60])
    with pytest.raises(BackupError, match="trailer"):
        check(_backup(path), None)


def test_truncated_gzip_is_refused(tmp_path):
    path = tmp_path / "d.sql.gz"
    packed = gzip.compress(DUMP)
    path.write_bytes(packed[: len(packed) - 12])
    with pytest.raises(BackupError, match="truncated|not intact"):
        check(_backup(path, "logical"), None)


def test_gzip_roundtrip_counts_rows(tmp_path):
    path = tmp_path / "d.sql.gz"
    path.write_bytes(gzip.compress(DUMP))
    assert check(_backup(path, "logical"), None).rows["service_db"]["public.realm"] == 2


def test_not_a_cluster_dump(tmp_path):
    path = tmp_path / "d.psql"
    path.write_bytes(b"SELECT 1;\n-- PostgreSQL database cluster dump complete\n")
    with pytest.raises(BackupError, match="header"):
        check(_backup(path), None)


def test_only_known_benign_errors_pass():
    stderr = ('psql:<stdin>:14: ERROR:  role "postgres" already exists\n'
              "psql:<stdin>:9: ERROR:  current user cannot be dropped\n"
              'psql:<stdin>:99: ERROR:  relation "system" already exists\n'
              'ERROR:  database "hmsds" is being accessed by other users\nDETAIL:  There is 1 other session.\n')
    benign, unexpected = classify(stderr)
    assert len(benign) == 2
    assert [u.split("ERROR:  ")[1] for u in unexpected] == [
        'relation "system" already exists', 'database "hmsds" is being accessed by other users']
