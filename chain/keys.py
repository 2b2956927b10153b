"""Encrypted keystores (eth-account's V3 format, scrypt KDF), one file per key, mode 0600.

Passphrases and private keys are never logged or printed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from chain.exceptions import InvalidPrivateKey, KeyExists, KeyNotFound, WrongPassphrase

#: The well-known development mnemonic anvil funds: for local chains only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def keystore_file(directory: Path, name: str) -> Path:
    if not _NAME.match(name):
        raise ValueError(f"key name {name!r}: use letters, digits, '.', '_' or '-'")
    return Path(directory) / f"{name}.json"


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyExists(path.stem, str(path)) from exc
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.chmod(path, 0o600)  # regardless of the umask


def _save(directory: Path, name: str, private_key: bytes, passphrase: str) -> str:
    path = keystore_file(directory, name)
    if path.exists():
        raise KeyExists(name, str(path))
    keystore = Account.encrypt(private_key, passphrase, kdf="scrypt")
    _write_private(path, json.dumps(keystore))
    return str(Account.from_key(private_key).address)


def create_key(directory: Path, name: str, passphrase: str) -> str:
    """Creates a new key, stores it encrypted as ``<directory>/<name>.json``; returns its address.

    Raises:
        KeyExists: a key of that name exists (it is never overwritten).
    """
    return _save(directory, name, bytes(Account.create().key), passphrase)


def _key_bytes(private_key: str) -> bytes:
    digits = private_key.strip().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", digits):
        raise InvalidPrivateKey()
    return bytes.fromhex(digits)


def import_key(directory: Path, name: str, private_key: str, passphrase: str) -> str:
    """Stores an existing private key (64 hex digits) encrypted; returns its address.

    Raises:
        InvalidPrivateKey: malformed key.
        KeyExists: a key of that name exists.
    """
    return _save(directory, name, _key_bytes(private_key), passphrase)


def load_key(directory: Path, name: str, passphrase: str) -> LocalAccount:
    """Decrypts the key ``name``.

    Raises:
        KeyNotFound: no such keystore.
        WrongPassphrase: the passphrase does not decrypt it.
    """
    return read_keystore(keystore_file(directory, name), passphrase)


def read_keystore(path: Path, passphrase: str) -> LocalAccount:
    """Decrypts the keystore file at ``path`` (a service's key, configured by its path).

    Raises:
        KeyNotFound: no such file.
        WrongPassphrase: the passphrase does not decrypt it.
    """
    path = Path(path)
    if not path.is_file():
        raise KeyNotFound(path.stem, str(path.parent))
    try:
        key = Account.decrypt(json.loads(path.read_text()), passphrase)
    except ValueError as exc:
        raise WrongPassphrase(str(path)) from exc
    account: LocalAccount = Account.from_key(key)
    return account


def plain_account(private_key: str) -> LocalAccount:
    """The account of an unencrypted private key (64 hex digits): local chains and tests only.

    Raises:
        InvalidPrivateKey: malformed key.
    """
    account: LocalAccount = Account.from_key(_key_bytes(private_key))
    return account


def dev_account(index: int = 0) -> LocalAccount:
    """Account ``index`` of the development mnemonic (funded by anvil); never for real chains."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


def dev_device_key(index: int) -> bytes:
    """Signing key of demo device ``index``: public (derived from a fixed text), so the demo's
    manifest can name the devices the demo fleet registers later; never for real devices."""
    return keccak(text=f"tracechain dev device {index}")


def dev_device_address(index: int) -> str:
    """The checksummed address of demo device ``index`` (see :func:`dev_device_key`)."""
    return str(Account.from_key(dev_device_key(index)).address)
