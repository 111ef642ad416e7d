"""LiveCodeBench's pickled tests: primitive payloads decode, anything that names code is refused unrun."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from pathlib import Path

import pytest

from criticlab.data import UnsafePickleError, decode_compressed_pickle, loads_primitive
from criticlab.data.safepickle import _PrimitiveUnpickler, decompress


def _pack(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw)).decode()


class _RunsCommand:
    """Unpickling this would call os.system(command) — the classic pickle exploit."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Plain:
    pass


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_primitive_payloads_decode_under_every_protocol(protocol: int) -> None:
    value: dict = {
        "input_output": json.dumps({"inputs": ["1\n"], "outputs": ["2\n"]}),
        "nested": [1, -(2**70), 2.5, None, True, False, (1, "a"), ["é", {"k": []}]],
    }
    if protocol >= 4:  # older protocols build sets and bytes through a global (refused)
        value["more"] = [b"raw", {3, 4}, frozenset({5})]
    assert loads_primitive(pickle.dumps(value, protocol=protocol)) == value
    assert decode_compressed_pickle(_pack(pickle.dumps(value, protocol=protocol))) == value


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_malicious_pickle_is_refused_without_running(protocol: int, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"input_output": _RunsCommand(f"touch {marker}")}, protocol=protocol)
    with pytest.raises(UnsafePickleError, match="not allowed|refers to"):
        decode_compressed_pickle(_pack(payload))
    with pytest.raises(UnsafePickleError):
        loads_primitive(payload)
    assert not marker.exists()


def test_the_unpickler_alone_also_refuses_globals(tmp_path: Path) -> None:
    """Second guard: even without the opcode scan, find_class refuses every global."""
    import io

    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsCommand(f"touch {marker}"))
    with pytest.raises(UnsafePickleError, match=r"posix\.system|os\.system|nt\.system"):
        _PrimitiveUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()
    with pytest.raises(UnsafePickleError, match="_Plain"):
        _PrimitiveUnpickler(io.BytesIO(pickle.dumps(_Plain()))).load()


def test_class_instances_and_garbage_are_refused() -> None:
    with pytest.raises(UnsafePickleError, match="GLOBAL"):
        loads_primitive(pickle.dumps({1, 2}, protocol=2))  # set() by name
    with pytest.raises(UnsafePickleError, match="GLOBAL|not allowed"):
        loads_primitive(pickle.dumps(_Plain()))
    with pytest.raises(UnsafePickleError, match="well-formed"):
        loads_primitive(b"\x80\x04\x95 not a pickle")
    with pytest.raises(ValueError, match="zlib"):
        decode_compressed_pickle(base64.b64encode(b"plain bytes").decode())


def test_decompression_is_capped() -> None:
    bomb = zlib.compress(b"\0" * 10_000_000)
    assert len(bomb) < 20_000
    with pytest.raises(ValueError, match="expands beyond"):
        decompress(bomb, max_bytes=1_000_000)
    assert len(decompress(bomb, max_bytes=20_000_000)) == 10_000_000
