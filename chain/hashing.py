"""keccak-256 as fast as the installed packages allow."""

from __future__ import annotations

from collections.abc import Callable


def _fast_keccak() -> Callable[[bytes], bytes]:
    # safe-pysha3's C keccak costs ~0.9 µs a hash where eth_hash's dispatch costs ~6 µs; a telemetry
    # reading takes four (struct hash, digest, signer address, leaf) plus its share of the Merkle tree.
    try:
        from sha3 import keccak_256
    except ImportError:
        from eth_hash.auto import keccak as eth_keccak

        return eth_keccak

    def keccak(data: bytes) -> bytes:
        return keccak_256(data).digest()

    return keccak


keccak = _fast_keccak()
"""keccak256 of bytes."""
