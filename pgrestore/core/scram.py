"""SCRAM-SHA-256 password verifiers, computed here so a plain password never reaches the server.

`ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'` stores the verifier as given (PostgreSQL 10+ takes a
string already in verifier form as is). The format and the numbers are PostgreSQL's own, as libpq's
PQencryptPasswordConn and psql's \\password compute it (src/common/scram-common.c
scram_build_secret, PostgreSQL 15): RFC 5802 / RFC 7677 with 4096 iterations and a 16-byte random
salt, `SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>`.

The password goes through SASLprep (RFC 4013) first, as PostgreSQL's pg_saslprep does
(src/common/saslprep.c): pure ASCII as is (the operator generates letters and digits), else mapped,
NFKC-normalised and checked; a password SASLprep rejects is used as its raw UTF-8 bytes, as
pg_fe_scram_build_secret does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

ITERATIONS = 4096  # SCRAM_SHA_256_DEFAULT_ITERATIONS (src/include/common/scram-common.h)
SALT_BYTES = 16  # SCRAM_DEFAULT_SALT_LEN


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def saslprep(password: str) -> str:
    """RFC 4013 as pg_saslprep applies it; the password unchanged where it fails (PostgreSQL's choice)."""
    if password.isascii():
        return password
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    prepped = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3, stringprep.in_table_c4,
                  stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
                  stringprep.in_table_c9, stringprep.in_table_a1)
    if any(check(c) for c in prepped for check in prohibited):
        return password
    rtl = [stringprep.in_table_d1(c) for c in prepped]
    if any(rtl) and (any(stringprep.in_table_d2(c) for c in prepped) or not (rtl[0] and rtl[-1])):
        return password
    return prepped


def verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The verifier PostgreSQL would store for this password (a fresh random salt unless given)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"
