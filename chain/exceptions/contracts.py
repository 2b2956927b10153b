"""Custom errors declared by Tracechain's contracts (``IPartnerRegistry``, ``RegistryGated``,
``ITraceabilityLedger``, ``IShipmentEscrow``), grouped by contract.

One class per ABI ``error`` entry; fields as in :mod:`chain.exceptions.contract`.
"""

from __future__ import annotations

from chain.exceptions.contract import ContractError

# ---------------------------------------------------------------- partner registry (and RegistryGated)


class RegistryAdminRoleConflict(ContractError):
    """The admin may hold no operational role, nor an account holding one become the admin."""

    account: str
    role: bytes


class RegistryDeviceExists(ContractError):
    """The device is already registered."""

    device: str
    owner: str


class RegistryGatedZeroRegistry(ContractError):
    """The registry address is zero."""


class RegistryInvalidDevice(ContractError):
    """The device address is zero."""

    device: str


class RegistryInvalidPartner(ContractError):
    """The partner address is zero or its name is empty."""

    account: str
    name: str


class RegistryInvalidPrefix(ContractError):
    """A GS1 company prefix must be 4 to 12 digits."""

    prefix: str


class RegistryPrefixNotHeld(ContractError):
    """The partner does not hold this GS1 company prefix."""

    account: str
    prefix: str


class RegistryPrefixOverlap(ContractError):
    """The prefix equals, extends or is extended by one `holder` holds: one key, one brand owner."""

    prefix: str
    holder: str


class RegistryRestrictedPrefix(ContractError):
    """Restricted-circulation numbers (leading 02, 04, 20-29) belong to no company."""

    prefix: str


class RegistryPartnerExists(ContractError):
    """The account is already an admitted partner."""

    account: str


class RegistrySuspendedPartner(ContractError):
    """The partner is suspended: roles are granted again once it is reinstated."""

    account: str


class RegistryUnknownDevice(ContractError):
    """The device is not registered."""

    device: str


class RegistryUnknownPartner(ContractError):
    """The account is not an admitted partner."""

    account: str


# ---------------------------------------------------------------- traceability ledger


class LedgerAlreadyAggregated(ContractError):
    """The child is already aggregated into a parent."""

    child: bytes
    parent: bytes


class LedgerAssetExists(ContractError):
    """An asset with this ID is already registered."""

    id: bytes


class LedgerBatchAlreadyAnchored(ContractError):
    """This Merkle root is already anchored."""

    root: bytes


class LedgerEmptyBatch(ContractError):
    """The batch has a zero root or count."""

    root: bytes


class LedgerEventAlreadyAnchored(ContractError):
    """This EPCIS event ID is already anchored."""

    event_id: bytes


class LedgerInvalidLink(ContractError):
    """A link (ID, inputs or outputs, children) is empty or invalid."""

    id: bytes


class LedgerLotRecalled(ContractError):
    """The lot is recalled."""

    lot: bytes


class LedgerOwnershipAlreadySettled(ContractError):
    """Ownership of this shipment's items was settled before."""

    shipment_id: bytes


class LedgerShipmentItemsMismatch(ContractError):
    """The item IDs given do not hash (keccak256(abi.encode(ids))) to the manifest's itemsHash."""

    shipment_id: bytes
    items_hash: bytes
    given: bytes


class LedgerShipmentNotSettled(ContractError):
    """The escrow's shipment is not Released or Resolved: its items' ownership stays."""

    shipment_id: bytes
    state: int


class LedgerTooManyItems(ContractError):
    """The shipment lists more items than the ledger settles (MAX_SETTLEMENT_ITEMS)."""

    shipment_id: bytes
    count: int
    max: int


class LedgerNotAggregated(ContractError):
    """The child is not aggregated into this parent."""

    child: bytes
    parent: bytes


class LedgerNotBrandOwner(ContractError):
    """The account holds no GS1 company prefix that the asset's key carries."""

    id: bytes
    account: str


class LedgerInvalidKey(ContractError):
    """Not the constrained canonical Digital Link of a GTIN or an SSCC."""

    link: str


class LedgerAssetConsumed(ContractError):
    """The asset was the input of a transformation: it no longer exists as itself."""

    id: bytes


class LedgerNoOffer(ContractError):
    """The account was offered no ownership of the asset."""

    id: bytes
    account: str


class LedgerTransformationExists(ContractError):
    """This transformation ID was recorded before."""

    transformation_id: bytes


class LedgerAggregationCycle(ContractError):
    """Packing the child into the parent would pack the child into itself."""

    parent: bytes
    child: bytes


class LedgerAggregationTooDeep(ContractError):
    """The parent is nested too deep: nothing more is packed into it."""

    parent: bytes


class LedgerNotOwner(ContractError):
    """The account is not the asset's owner."""

    id: bytes
    account: str


class LedgerUnknownAsset(ContractError):
    """No asset with this ID is registered."""

    id: bytes


# ---------------------------------------------------------------- shipment escrow


class EscrowNothingToWithdraw(ContractError):
    """The account is owed nothing in this token."""

    account: str
    token: str


class ShipmentBatchAfterDelivery(ContractError):
    """The telemetry batch's window began after the shipment was delivered."""

    shipment_id: bytes
    window_start: int
    delivered_at: int


class ShipmentBatchExists(ContractError):
    """This telemetry batch is already posted."""

    shipment_id: bytes
    batch_hash: bytes


class ShipmentBreachAlreadyProven(ContractError):
    """The reading lies within one episode of a breach already charged (``episode``: that
    episode's start, the time of the reading that opened it)."""

    shipment_id: bytes
    episode: int


class ShipmentBreachLimitReached(ContractError):
    """The shipment has as many charged breach episodes as the contract keeps."""

    shipment_id: bytes
    limit: int


class ShipmentDeviceNotAssigned(ContractError):
    """The reading's device is not one of the devices the shipment's manifest names."""

    shipment_id: bytes
    device: str


class ShipmentReadingOutsideCustody(ContractError):
    """The reading was taken before the shipment's pickup or after its delivery (or is dated in
    the future)."""

    shipment_id: bytes
    timestamp: int


class ShipmentConsentExpired(ContractError):
    """The hand-over consent has expired."""

    shipment_id: bytes
    deadline: int


class ShipmentDeadlineNotPassed(ContractError):
    """The delivery deadline has not passed yet."""

    shipment_id: bytes
    deadline: int


class ShipmentDeadlinePassed(ContractError):
    """The delivery deadline has passed."""

    shipment_id: bytes
    deadline: int


class ShipmentDisputeWindowOpen(ContractError):
    """The dispute window is still open."""

    shipment_id: bytes
    ends_at: int


class ShipmentExists(ContractError):
    """A shipment with this ID exists."""

    shipment_id: bytes


class ShipmentInactiveDevice(ContractError):
    """The device is unknown or inactive."""

    device: str


class ShipmentInvalidBatch(ContractError):
    """The telemetry batch is malformed."""

    shipment_id: bytes
    root: bytes


class ShipmentInvalidCustodian(ContractError):
    """The new custodian is not allowed."""

    shipment_id: bytes
    to: str


class ShipmentInvalidManifest(ContractError):
    """The manifest is malformed."""

    shipment_id: bytes


class ShipmentInvalidReading(ContractError):
    """The reading is not in the batch, of another shipment, or outside its window."""

    shipment_id: bytes
    device: str
    counter: int


class ShipmentInvalidSigner(ContractError):
    """The signature was made by someone else."""

    shipment_id: bytes
    expected: str
    recovered: str


class ShipmentNoBreach(ContractError):
    """The reading is within the temperature range."""

    shipment_id: bytes
    temperature: int


class ShipmentUnauthorized(ContractError):
    """The account may not act on this shipment."""

    shipment_id: bytes
    account: str


class ShipmentUnexpectedState(ContractError):
    """The shipment is in a state that does not allow this call."""

    shipment_id: bytes
    current: int
    expected_states: bytes


class ShipmentPartySuspended(ContractError):
    """A party acting on the shipment (caller or consenting custodian) is a suspended partner."""

    shipment_id: bytes
    account: str


class ShipmentTokenNotApproved(ContractError):
    """The token is not one the consortium approved for settlement."""

    token: str


class ShipmentFundingShortfall(ContractError):
    """Funding moved less into escrow than the shipment's amount (a fee-on-transfer token)."""

    shipment_id: bytes
    expected: int
    received: int


class ShipmentUnknownBatch(ContractError):
    """The telemetry batch was never posted."""

    shipment_id: bytes
    batch_hash: bytes


class ShipmentDisputeWindowClosed(ContractError):
    """The dispute window has ended (or the manifest gave none): the shipment can only be released."""

    shipment_id: bytes
    ended_at: int


class ShipmentInvalidDisputeReason(ContractError):
    """A dispute reason must be 1 to MAX_DISPUTE_REASON bytes long."""

    shipment_id: bytes
    length: int


class ShipmentInvalidDisputeEvidence(ContractError):
    """An evidence reference must be 1 to MAX_DISPUTE_EVIDENCE_LENGTH bytes long."""

    shipment_id: bytes
    index: int
    length: int


class ShipmentTooMuchEvidence(ContractError):
    """A dispute carries at most MAX_DISPUTE_EVIDENCE evidence references."""

    shipment_id: bytes
    count: int


class ShipmentArbiterIsParty(ContractError):
    """An arbiter may not decide a shipment it is the supplier, buyer or carrier of."""

    shipment_id: bytes
    arbiter: str


class ShipmentInvalidSplit(ContractError):
    """An arbiter cannot give the buyer more than the escrowed amount."""

    shipment_id: bytes
    to_buyer: int
    amount: int


class ShipmentArbitrationOpen(ContractError):
    """Arbiters may still decide: the fallback rule applies only from ``ends_at``."""

    shipment_id: bytes
    ends_at: int


class ShipmentArbitrationClosed(ContractError):
    """The arbitration period has ended: only the fallback rule may settle the dispute now."""

    shipment_id: bytes
    ended_at: int
