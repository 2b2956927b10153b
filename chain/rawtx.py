"""Signing raw EIP-1559 and EIP-155 legacy transactions from their fields, fast.

Why hand-written: ``LocalAccount.sign_transaction`` (eth-account) validates and normalises a
transaction dict through several layers (``TypedTransaction``, ``rlp.Serializable`` sedes, hex
formatters) that cost ~1 ms a transaction, four times the secp256k1 signature itself, and no
library offers signing from already-validated fields. The outbox sender signs thousands of its
own transactions (fields it built itself, never user input), so this module encodes exactly the
two shapes it sends: a flat RLP list of integers and byte strings (plus the empty access list),
hashed with keccak-256 and signed with libsecp256k1 (coincurve, low-s, recoverable).

``tests/chain/test_rawtx.py`` checks the raw bytes and hashes byte for byte against
``eth_account.Account.sign_transaction`` for both shapes, fee and nonce extremes included.
"""

from __future__ import annotations

from dataclasses import dataclass

import coincurve
from eth_hash.auto import keccak


def _rlp_int(value: int) -> bytes:
    """The RLP encoding of a non-negative integer (big-endian, no leading zeros; 0 is empty)."""
    if value < 0x80:
        return b"\x80" if value == 0 else bytes((value,))
    return _rlp_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _rlp_bytes(value: bytes) -> bytes:
    """The RLP encoding of a byte string."""
    length = len(value)
    if length == 1 and value[0] < 0x80:
        return value
    if length < 56:
        return bytes((0x80 + length,)) + value
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0xB7 + len(size),)) + size + value


def _rlp_list(payload: bytes) -> bytes:
    """The RLP encoding of a list whose items are already encoded and concatenated in ``payload``."""
    length = len(payload)
    if length < 56:
        return bytes((0xC0 + length,)) + payload
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size + payload


def _rlp_word(value: bytes) -> bytes:
    """A 32-byte big-endian signature scalar (r or s) as an RLP integer (leading zeros dropped)."""
    return _rlp_bytes(value.lstrip(b"\x00")) if value.strip(b"\x00") else b"\x80"


_EMPTY_ACCESS_LIST = b"\xc0"


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed transaction: the bytes for ``eth_sendRawTransaction`` and its hash."""

    raw: bytes
    tx_hash: bytes


class RawTxSigner:
    """Signs transactions of one key; the same bytes as ``LocalAccount.sign_transaction``.

    Args:
        private_key: the 32-byte secp256k1 private key.
        chain_id: the chain ID every transaction is bound to (EIP-155 / EIP-1559).
    """

    def __init__(self, private_key: bytes, chain_id: int) -> None:
        self._key = coincurve.PrivateKey(bytes(private_key))
        self.chain_id = chain_id
        self._chain = _rlp_int(chain_id)

    def eip1559(
        self,
        *,
        nonce: int,
        max_priority_fee_per_gas: int,
        max_fee_per_gas: int,
        gas: int,
        to: bytes,
        value: int,
        data: bytes,
    ) -> SignedTx:
        """A type-2 transaction with an empty access list."""
        body = b"".join(
            (
                self._chain,
                _rlp_int(nonce),
                _rlp_int(max_priority_fee_per_gas),
                _rlp_int(max_fee_per_gas),
                _rlp_int(gas),
                _rlp_bytes(to),
                _rlp_int(value),
                _rlp_bytes(data),
                _EMPTY_ACCESS_LIST,
            )
        )
        signature = self._key.sign_recoverable(keccak(b"\x02" + _rlp_list(body)), hasher=None)
        raw = b"\x02" + _rlp_list(
            body + _rlp_int(signature[64]) + _rlp_word(signature[:32]) + _rlp_word(signature[32:64])
        )
        return SignedTx(raw, keccak(raw))

    def legacy(self, *, nonce: int, gas_price: int, gas: int, to: bytes, value: int, data: bytes) -> SignedTx:
        """An EIP-155 legacy transaction (``gasPrice``), for chains without a base fee."""
        body = b"".join(
            (
                _rlp_int(nonce),
                _rlp_int(gas_price),
                _rlp_int(gas),
                _rlp_bytes(to),
                _rlp_int(value),
                _rlp_bytes(data),
            )
        )
        signature = self._key.sign_recoverable(
            keccak(_rlp_list(body + self._chain + b"\x80\x80")), hasher=None
        )
        v = signature[64] + 35 + 2 * self.chain_id
        raw = _rlp_list(body + _rlp_int(v) + _rlp_word(signature[:32]) + _rlp_word(signature[32:64]))
        return SignedTx(raw, keccak(raw))
