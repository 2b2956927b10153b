"""Typed wrapper of PartnerRegistry: membership, roles and devices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chain.contracts.base import ContractWrapper, checksum
from chain.exceptions import (
    AccessControlEnforcedDefaultAdminDelay,
    AccessControlEnforcedDefaultAdminRules,
    AccessControlInvalidDefaultAdmin,
    AccessControlUnauthorizedAccount,
    RegistryAdminRoleConflict,
    RegistryDeviceExists,
    RegistryInvalidDevice,
    RegistryInvalidPartner,
    RegistryInvalidPrefix,
    RegistryPartnerExists,
    RegistryPrefixNotHeld,
    RegistryPrefixOverlap,
    RegistryRestrictedPrefix,
    RegistryUnknownDevice,
    RegistryUnknownPartner,
)
from chain.gs1 import IdentifierError, brand_digits, is_restricted
from chain.gs1.brand import MAX_PREFIX, MIN_PREFIX
from chain.jsonrpc import JsonRpc
from chain.roles import DEFAULT_ADMIN_ROLE, Role
from chain.roles import role_id as role
from chain.transact import TxRequest

__all__ = [
    "AdminTransfer",
    "Device",
    "DeviceRecord",
    "Partner",
    "PartnerRecord",
    "PartnerRegistry",
    "Standing",
    "role",
]


@dataclass(frozen=True)
class Partner:
    """A consortium partner (its GS1 company prefixes: :meth:`PartnerRegistry.prefixes_of`)."""

    account: str
    name: str
    active: bool
    admitted_at: int

    @property
    def admitted(self) -> bool:
        return self.admitted_at != 0


@dataclass(frozen=True)
class AdminTransfer:
    """The registry's admin and a pending transfer of the role (``pending`` zero: none; to the zero
    address with a schedule: a renouncement), acceptable from ``accept_after`` (a Unix time)."""

    admin: str
    delay: int
    pending: str
    accept_after: int

    @property
    def scheduled(self) -> bool:
        return self.accept_after != 0


@dataclass(frozen=True)
class Device:
    """A registered IoT device."""

    address: str
    owner: str
    active: bool

    @property
    def registered(self) -> bool:
        return int(self.owner, 16) != 0


@dataclass(frozen=True)
class DeviceStatus:
    """Whether a device is registered, and whether its readings count (``isActiveDevice``: the
    device and its owner both active)."""

    address: str
    registered: bool
    active: bool


def _bool(result: str) -> bool:
    """An ABI-encoded bool result (one 32-byte word, 0 or 1).

    Raises:
        ValueError: anything else.
    """
    word = bytes.fromhex(result.removeprefix("0x"))
    if len(word) != 32 or word[:31] != bytes(31) or word[31] > 1:
        raise ValueError(f"not an ABI-encoded bool: {result}")
    return word[31] == 1


@dataclass(frozen=True)
class Standing:
    """An account's standing in the consortium at the chain's latest block: whether it is an
    active partner (``isActivePartner``: admitted and not suspended) and the roles it holds."""

    account: str
    active_partner: bool
    roles: tuple[Role, ...]


@dataclass(frozen=True)
class PartnerRecord:
    """A partner as ``tracechain admin partners`` lists it: its standing at the latest block, the
    GS1 company prefixes it holds, and since when (Unix time) it is in its current state."""

    account: str
    name: str
    active: bool
    roles: tuple[Role, ...]
    prefixes: tuple[str, ...]
    since: int


@dataclass(frozen=True)
class DeviceRecord:
    """A registered device as ``tracechain admin devices`` lists it: its own active flag, whether its
    readings count (``isActiveDevice``: it and its owner active), and since when (Unix time) its
    flag has had its current value."""

    address: str
    owner: str
    active: bool
    counts: bool
    since: int


def _owner(address: str) -> str | None:
    """A checksum address, None for the zero address."""
    return None if int(address, 16) == 0 else checksum(address)


class PartnerRegistry(ContractWrapper):
    """PartnerRegistry at a validated address; writes return :class:`TxRequest` after pre-flight checks."""

    NAME = "PartnerRegistry"

    # ---------------------------------------------------------------- reads

    def partner(self, account: str) -> Partner:
        p = self._struct("partner", checksum(account))
        return Partner(checksum(account), p["name"], bool(p["active"]), int(p["admittedAt"]))

    def prefixes_of(self, account: str) -> list[str]:
        """The GS1 company prefixes ``account`` holds, sorted."""
        return sorted(self._call("prefixesOf", checksum(account)))

    def brand_owner(self, key_or_link: str) -> str | None:
        """The brand owner of a GS1 key (one ``eth_call``): the partner whose company prefix the
        key carries, None when no partner's does, or when ``key_or_link`` is no GS1 key with a
        company prefix (docs/security.md §4.3: such goods have no brand owner).

        Args:
            key_or_link: anything :func:`chain.gs1.brand_digits` takes (Digital Link URI, EPC URN,
                bare GTIN, GLN or SSCC digits).

        Returns:
            The owner's checksum address, or None.
        """
        try:
            digits = brand_digits(key_or_link)
        except IdentifierError:
            return None
        return _owner(self._call("brandOwnerOf", digits))

    def brand_owners(self, keys: Iterable[str]) -> dict[str, str | None]:
        """:meth:`brand_owner` of each of ``keys``, in one batched JSON-RPC request.

        Raises:
            NodeRequestRefused: the node refused one of the calls.
        """
        digits: dict[str, str | None] = {}
        for key in keys:
            try:
                digits[key] = brand_digits(key)
            except IdentifierError:
                digits[key] = None
        asked = [d for d in digits.values() if d is not None]
        found = dict(zip(asked, self.call_many([("brandOwnerOf", (d,)) for d in asked]), strict=True))
        owners = {key: None if d is None else _owner(found[d]) for key, d in digits.items()}
        return owners

    def device(self, device: str) -> Device:
        owner, active = self._call("device", checksum(device))
        return Device(checksum(device), checksum(owner), bool(active))

    def has_role(self, role_id: bytes, account: str) -> bool:
        return bool(self._call("hasRole", role_id, checksum(account)))

    def is_active_device(self, device: str) -> bool:
        return bool(self._call("isActiveDevice", checksum(device)))

    def is_active_partner(self, account: str) -> bool:
        return bool(self._call("isActivePartner", checksum(account)))

    def standing(self, account: str) -> Standing:
        """The account's :class:`Standing`, its roles in :class:`~chain.roles.Role` order: one batched
        JSON-RPC request (``isActivePartner`` and a ``hasRole`` per role, each at the latest block).

        The API asks this on every authenticated request, so the calls are encoded and decoded by
        hand (static arguments, bool results): through :meth:`call_many`'s ABI codec the nine calls
        cost 1.3 ms of CPU, by hand 0.11 ms (timeit, eth_abi 5, on the loaded 2-core test host).

        Raises:
            NodeRequestRefused: the node refused one of the calls.
            InvalidAddress: ``account`` is not an address.
        """
        return self.standings([account])[0]

    def standings(self, accounts: Sequence[str]) -> list[Standing]:
        """Each account's :class:`Standing` (as :meth:`standing`), all in one batched JSON-RPC request.

        Raises:
            NodeRequestRefused: the node refused one of the calls.
            InvalidAddress: one of ``accounts`` is not an address.
        """
        addresses = [checksum(a) for a in accounts]
        is_active, has_role = self._function("isActivePartner").selector, self._function("hasRole").selector
        calls: list[bytes] = []
        for account in addresses:
            word = bytes(12) + bytes.fromhex(account[2:])
            calls += [is_active + word, *(has_role + role.id + word for role in Role)]
        results = JsonRpc(self.w3).call_many(
            [("eth_call", [{"to": self.address, "data": "0x" + data.hex()}, "latest"]) for data in calls]
        )
        flags = [_bool(str(r)) for r in results]
        per = 1 + len(Role)
        standings = []
        for i, account in enumerate(addresses):
            active, *held = flags[i * per : (i + 1) * per]
            standings.append(
                Standing(account, active, tuple(r for r, has in zip(Role, held, strict=True) if has))
            )
        return standings

    def partner_records(self, from_block: int) -> list[PartnerRecord]:
        """Every partner ever admitted, in admission order, with its standing at the latest block.

        Enumerated from the registry's logs since ``from_block`` (its deployment block), which also
        give the prefixes (assignments and revocations replayed) and the time of each status change;
        the standings are read in one batched request.

        Raises:
            NodeRequestRefused: the node refused a request.
        """
        head = int(self.w3.eth.block_number)
        events = self.events(
            ("PartnerAdmitted", "PartnerStatusChanged", "PrefixAssigned", "PrefixRevoked"), from_block, head
        )
        names: dict[str, str] = {}
        prefixes: dict[str, dict[str, None]] = {}
        changed: dict[str, int] = {}  # block of the admission or of the last status change
        for e in events:
            account = checksum(e.args["account"])
            if e.name == "PartnerAdmitted":
                names[account] = str(e.args["name"])
                prefixes.setdefault(account, {})
                changed[account] = e.block_number
            elif e.name == "PartnerStatusChanged":
                changed[account] = e.block_number
            elif e.name == "PrefixAssigned":
                prefixes.setdefault(account, {})[str(e.args["prefix"])] = None
            else:
                prefixes.get(account, {}).pop(str(e.args["prefix"]), None)
        accounts = list(names)
        times = self._block_times(set(changed.values()))
        return [
            PartnerRecord(
                account=s.account,
                name=names[s.account],
                active=s.active_partner,
                roles=s.roles,
                prefixes=tuple(sorted(prefixes[s.account])),
                since=times[changed[s.account]],
            )
            for s in self.standings(accounts)
        ]

    def device_records(self, from_block: int) -> list[DeviceRecord]:
        """Every registered device, in registration order, with its state at the latest block.

        Enumerated from the registry's logs since ``from_block`` (its deployment block), which also
        give the time its flag last changed (a DeviceStatusChanged that set the current value again
        changed nothing); the states are read in one batched request.

        Raises:
            NodeRequestRefused: the node refused a request.
        """
        head = int(self.w3.eth.block_number)
        changed: dict[str, tuple[bool, int]] = {}  # device -> (flag, block it took that value)
        for e in self.events(("DeviceRegistered", "DeviceStatusChanged"), from_block, head):
            device = checksum(e.args["device"])
            if e.name == "DeviceRegistered":
                changed[device] = (True, e.block_number)
            elif device in changed and changed[device][0] != bool(e.args["active"]):
                changed[device] = (bool(e.args["active"]), e.block_number)
        devices = list(changed)
        results = self.call_many([(fn, (d,)) for d in devices for fn in ("device", "isActiveDevice")])
        times = self._block_times({block for _, block in changed.values()})
        records = []
        for i, address in enumerate(devices):
            owner, active = results[2 * i]
            since = times[changed[address][1]]
            records.append(
                DeviceRecord(address, checksum(owner), bool(active), bool(results[2 * i + 1]), since)
            )
        return records

    def _block_times(self, blocks: Iterable[int]) -> dict[int, int]:
        """The timestamp of each of ``blocks``, in one batched request."""
        numbers = sorted(blocks)
        found = JsonRpc(self.w3).call_many([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        return {n: int(block["timestamp"], 16) for n, block in zip(numbers, found, strict=True)}

    def device_statuses(self, devices: Sequence[str]) -> list[DeviceStatus]:
        """Each device's :class:`DeviceStatus`, all in one batched JSON-RPC request (the telemetry
        oracle refreshes hundreds of devices at once).

        Raises:
            NodeRequestRefused: the node refused one of the calls.
        """
        addresses = [checksum(d) for d in devices]
        results = self.call_many([(fn, (a,)) for a in addresses for fn in ("device", "isActiveDevice")])
        return [
            DeviceStatus(a, int(results[2 * i][0], 16) != 0, bool(results[2 * i + 1]))  # (owner, active)
            for i, a in enumerate(addresses)
        ]

    def admin_transfer(self) -> AdminTransfer:
        """The admin, the transfer delay and any pending transfer of the admin role."""
        admin, delay, (pending, schedule) = (
            self._call("defaultAdmin"),
            self._call("defaultAdminDelay"),
            self._call("pendingDefaultAdmin"),
        )
        return AdminTransfer(checksum(admin), int(delay), checksum(pending), int(schedule))

    def _require_admin(self, sender: str) -> None:
        if not self.has_role(DEFAULT_ADMIN_ROLE, sender):
            raise AccessControlUnauthorizedAccount(account=checksum(sender), needed_role=DEFAULT_ADMIN_ROLE)

    # ---------------------------------------------------------------- writes

    def admit_partner(
        self, account: str, name: str, prefixes: Sequence[str], roles: Sequence[bytes], *, sender: str
    ) -> TxRequest:
        """Admits ``account`` with its GS1 company ``prefixes`` (possibly none) and ``roles``.

        Raises:
            RegistryInvalidPartner: empty name, or the zero address.
            RegistryPartnerExists: already admitted.
            RegistryInvalidPrefix, RegistryRestrictedPrefix, RegistryPrefixOverlap: as
                :meth:`assign_prefix` (an overlap with a longer claim is left to the contract).
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        account = checksum(account)
        if not name or int(account, 16) == 0:
            raise RegistryInvalidPartner(account=account, name=name)
        if self.partner(account).admitted:
            raise RegistryPartnerExists(account=account)
        for prefix in prefixes:
            self._check_prefix(prefix)
        self._require_admin(sender)
        return self._request("admitPartner", account, name, list(prefixes), list(roles))

    def assign_prefix(self, account: str, prefix: str, *, sender: str) -> TxRequest:
        """Gives partner ``account`` the GS1 company prefix ``prefix`` (it becomes the brand owner of
        the keys carrying it).

        Raises:
            RegistryInvalidPrefix: not 4 to 12 digits.
            RegistryRestrictedPrefix: a restricted-circulation number (02, 04, 20-29).
            RegistryPrefixOverlap: a held prefix equals or starts ``prefix`` (a held prefix that
                ``prefix`` starts is refused by the contract).
            RegistryUnknownPartner: never admitted.
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        account = checksum(account)
        if not self.partner(account).admitted:
            raise RegistryUnknownPartner(account=account)
        self._check_prefix(prefix)
        self._require_admin(sender)
        return self._request("assignPrefix", account, prefix)

    def revoke_prefix(self, account: str, prefix: str, *, sender: str) -> TxRequest:
        """Takes the GS1 company prefix ``prefix`` from ``account``.

        Raises:
            RegistryPrefixNotHeld: ``account`` does not hold it.
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        account = checksum(account)
        if prefix not in self.prefixes_of(account):
            raise RegistryPrefixNotHeld(account=account, prefix=prefix)
        self._require_admin(sender)
        return self._request("revokePrefix", account, prefix)

    def _check_prefix(self, prefix: str) -> None:
        if not (prefix.isascii() and prefix.isdigit() and MIN_PREFIX <= len(prefix) <= MAX_PREFIX):
            raise RegistryInvalidPrefix(prefix=prefix)
        if is_restricted(prefix):
            raise RegistryRestrictedPrefix(prefix=prefix)
        holder = _owner(self._call("brandOwnerOf", prefix))
        if holder is not None:
            raise RegistryPrefixOverlap(prefix=prefix, holder=holder)

    def set_partner_active(self, account: str, active: bool, *, sender: str) -> TxRequest:
        """Suspends or reinstates a partner.

        Raises:
            RegistryUnknownPartner: never admitted.
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        account = checksum(account)
        if not self.partner(account).admitted:
            raise RegistryUnknownPartner(account=account)
        self._require_admin(sender)
        return self._request("setPartnerActive", account, active)

    def grant_role(self, role_id: bytes, account: str, *, sender: str) -> TxRequest:
        """Grants ``role_id`` to ``account`` (``sender`` must be the admin).

        Raises:
            AccessControlEnforcedDefaultAdminRules: ``role_id`` is the admin role (it moves only by
                :meth:`begin_admin_transfer` and :meth:`accept_admin_transfer`).
            RegistryAdminRoleConflict: ``account`` is the admin, who holds no operational role.
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        account = checksum(account)
        if role_id == DEFAULT_ADMIN_ROLE:
            raise AccessControlEnforcedDefaultAdminRules()
        self._require_admin(sender)
        if account == checksum(self._call("defaultAdmin")):
            raise RegistryAdminRoleConflict(account=account, role=role_id)
        return self._request("grantRole", role_id, account)

    def revoke_role(self, role_id: bytes, account: str, *, sender: str) -> TxRequest:
        """Revokes ``role_id`` from ``account`` (``sender`` must be the admin).

        Raises:
            AccessControlEnforcedDefaultAdminRules: ``role_id`` is the admin role.
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        if role_id == DEFAULT_ADMIN_ROLE:
            raise AccessControlEnforcedDefaultAdminRules()
        self._require_admin(sender)
        return self._request("revokeRole", role_id, checksum(account))

    def begin_admin_transfer(self, new_admin: str, *, sender: str) -> TxRequest:
        """Schedules the transfer of the admin role to ``new_admin``, acceptable after the delay.

        Raises:
            RegistryAdminRoleConflict: ``new_admin`` holds an operational role (it could not accept).
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        new_admin = checksum(new_admin)
        self._require_admin(sender)
        held = [r for r in self.standing(new_admin).roles if r != Role.DEFAULT_ADMIN]
        if held:
            raise RegistryAdminRoleConflict(account=new_admin, role=held[0].id)
        return self._request("beginDefaultAdminTransfer", new_admin)

    def accept_admin_transfer(self, *, sender: str) -> TxRequest:
        """Accepts a scheduled transfer of the admin role, sent by the new admin after the delay.

        Raises:
            AccessControlInvalidDefaultAdmin: ``sender`` is not the pending admin.
            AccessControlEnforcedDefaultAdminDelay: the delay has not passed at the latest block.
        """
        transfer = self.admin_transfer()
        if transfer.pending != checksum(sender):
            raise AccessControlInvalidDefaultAdmin(default_admin=checksum(sender))
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        if not transfer.scheduled or now < transfer.accept_after:
            raise AccessControlEnforcedDefaultAdminDelay(schedule=transfer.accept_after)
        return self._request("acceptDefaultAdminTransfer")

    def cancel_admin_transfer(self, *, sender: str) -> TxRequest:
        """Cancels a scheduled transfer of the admin role.

        Raises:
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        self._require_admin(sender)
        return self._request("cancelDefaultAdminTransfer")

    def register_device(self, device: str, owner: str, *, sender: str) -> TxRequest:
        """Registers ``device`` for partner ``owner``.

        Raises:
            RegistryInvalidDevice: the zero address.
            RegistryDeviceExists: already registered.
            RegistryUnknownPartner: ``owner`` is not a partner.
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        device, owner = checksum(device), checksum(owner)
        if int(device, 16) == 0:
            raise RegistryInvalidDevice(device=device)
        current = self.device(device)
        if current.registered:
            raise RegistryDeviceExists(device=device, owner=current.owner)
        if not self.partner(owner).admitted:
            raise RegistryUnknownPartner(account=owner)
        self._require_admin(sender)
        return self._request("registerDevice", device, owner)

    def set_device_active(self, device: str, active: bool, *, sender: str) -> TxRequest:
        """Activates or deactivates ``device``.

        Raises:
            RegistryUnknownDevice: never registered.
            AccessControlUnauthorizedAccount: ``sender`` is not the consortium admin.
        """
        device = checksum(device)
        if not self.device(device).registered:
            raise RegistryUnknownDevice(device=device)
        self._require_admin(sender)
        return self._request("setDeviceActive", device, active)
