"""Errors of signing keys (keystores) and of the manifests a supplier signs with them."""

from __future__ import annotations

from chain.exceptions.base import TracechainError


class KeystoreError(TracechainError):
    """A keystore problem (base of the key errors)."""


class KeyNotFound(KeystoreError):
    """No keystore of that name."""

    def __init__(self, name: str, directory: str) -> None:
        self.name = name
        self.directory = directory
        super().__init__(f"no key {name!r} in {directory}: create it with `tracechain keys create {name}`")


class KeyExists(KeystoreError):
    """A keystore of that name exists already; it is never overwritten."""

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        super().__init__(f"key {name!r} exists already at {path}: choose another name")


class WrongPassphrase(KeystoreError):
    """The passphrase does not decrypt the keystore."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"wrong passphrase for {path}: check TRACECHAIN_PASSPHRASE")


class InvalidPrivateKey(KeystoreError):
    """The private key to import is malformed."""

    def __init__(self) -> None:
        super().__init__("the private key must be 32 bytes as 64 hex digits (optionally 0x-prefixed)")


class NoKey(KeystoreError):
    """No signing key is configured for a non-local chain."""

    def __init__(self) -> None:
        super().__init__(
            "no signing key: pass --key NAME or set TRACECHAIN_KEY (create one with `tracechain keys create`)"
        )


class InvalidManifest(TracechainError):
    """A manifest JSON document is malformed."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"manifest field {field!r}: {problem}")


class SignerNotSupplier(TracechainError):
    """The key signing a manifest is not the manifest's supplier."""

    def __init__(self, signer: str, supplier: str) -> None:
        self.signer = signer
        self.supplier = supplier
        super().__init__(
            f"the key {signer} is not the manifest's supplier {supplier}: sign with the supplier's key"
        )
