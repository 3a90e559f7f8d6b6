"""What exec sends is masked as RFC 6455 5.3 says (each byte XOR the key byte at its position mod 4),
by websockets' C routine where it is installed and by our integer XOR where it is not."""

from __future__ import annotations

import os

import pytest

from pgrestore.adapters import kube


def _by_the_rfc(key: bytes, data: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("c_routine", [True, False], ids=["websockets C", "integer XOR"])
@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 1023, 256 * 1024 + 1])
def test_a_frame_is_masked_byte_by_byte_as_the_rfc_says(monkeypatch, c_routine, length):
    if c_routine:
        assert kube._c_mask is not None, "websockets' C routine is a dependency: it must be importable"
    else:
        monkeypatch.setattr(kube, "_c_mask", None)
    key, data = os.urandom(4), os.urandom(length)
    assert kube.xor_mask(key, data) == _by_the_rfc(key, data)
