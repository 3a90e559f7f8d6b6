"""Dump checks on real files: the full read at apply time and the cheap probe at plan time."""

from __future__ import annotations

import gzip

import pytest

from pgrestore.contract.model import BackupRef
from pgrestore.core.dumps import check, probe
from pgrestore.errors import BackupError

DUMP = (b"--\n-- PostgreSQL database cluster dump\n--\n\n\\connect service_db\n\n"
        b"COPY public.realm (id, name) FROM stdin;\nmaster\tmaster\nshasta\tshasta\n\\.\n\n"
        b'COPY public."user" (id) FROM stdin;\n1\n\\.\n\n'
        b"--\n-- PostgreSQL database cluster dump complete\n--\n\n")


def _backup(path, fmt="psql"):
    return BackupRef(source="file", format=fmt, bucket=None, key=str(path), size=path.stat().st_size, etag=None,
                     sha256=None, taken_at=None, manifest=None)


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


def test_probe_reads_only_head_and_tail_of_a_plain_dump(tmp_path):
    path = tmp_path / "d.psql"
    path.write_bytes(DUMP)
    probe(_backup(path), None)
    path.write_bytes(DUMP[:-60])
    with pytest.raises(BackupError, match="trailer"):
        probe(_backup(path), None)


@pytest.mark.parametrize("content", [b"\x00" * 4096, b"hello", b"SELECT 1;\n" * 100])
def test_probe_refuses_what_is_not_a_dump(tmp_path, content):
    path = tmp_path / "random.bin"
    path.write_bytes(content)
    with pytest.raises(BackupError, match="not a cluster dump|too small"):
        probe(_backup(path), None)


def test_probe_reads_a_gzip_dump_through(tmp_path):
    path = tmp_path / "d.sql.gz"
    path.write_bytes(gzip.compress(DUMP[:-60]))  # intact gzip around a truncated dump, as pigz leaves it
    with pytest.raises(BackupError, match="trailer"):
        probe(_backup(path, "logical"), None)
