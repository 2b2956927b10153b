// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Shipments with escrowed payment and cold-chain enforcement
/// @notice A shipment starts from a supplier-signed EIP-712 manifest; the buyer funds it in an
/// ERC-20; custody moves with both parties' consent; the oracle posts telemetry batches (Merkle
/// roots of device-signed readings); a temperature breach is proven with one reading of one of
/// the shipment's devices taken in custody (pickup to delivery), from a posted batch by anyone or
/// straight from the device's signature by a party of the shipment;
/// payment is released after delivery and the dispute window, or refunded after a missed deadline;
/// the buyer may dispute within the window, and a consortium arbiter (or, after ARBITRATION_PERIOD,
/// the fallback rule) splits the escrow; every payee withdraws what it is owed (pull payment).
interface IShipmentEscrow {
    enum State {
        None,
        Created,
        Funded,
        InTransit,
        Delivered,
        Released,
        Refunded,
        Cancelled,
        Disputed,
        Resolved
    }

    /// @notice What the supplier signs (EIP-712 type `Manifest`). Temperatures in centi-degrees Celsius.
    /// `devices` are the tracking devices travelling with the goods (1 to MAX_DEVICES, no
    /// duplicates): only their readings count as breach evidence.
    struct Manifest {
        bytes32 shipmentId;
        bytes32 itemsHash;
        address supplier;
        address buyer;
        address carrier;
        address[] devices;
        address token;
        uint256 amount;
        uint256 penalty;
        int32 minTemp;
        int32 maxTemp;
        uint64 deadline;
        uint64 disputeWindow;
        uint256 nonce;
    }

    /// @notice A shipment on chain (slot layout chosen so a hand-over writes one slot, and a dispute
    /// writes only slots the check already read). Custody, for breach evidence, runs from `pickedUpAt`
    /// (the first hand-over) to `deliveredAt`. `disputeWindow` is at most MAX_DISPUTE_WINDOW, so 32
    /// bits hold it and `disputedAt` (0: never disputed) shares the buyer's slot.
    struct Shipment {
        address supplier;
        uint64 deadline;
        State state;
        address buyer;
        uint32 disputeWindow;
        uint64 disputedAt;
        address carrier;
        uint64 deliveredAt;
        address custodian;
        uint32 custodySeq;
        uint64 pickedUpAt;
        address token;
        int32 minTemp;
        int32 maxTemp;
        uint256 amount;
        uint256 penalty;
        uint256 penalties;
        bytes32 itemsHash;
    }

    /// @notice A telemetry batch as posted by the oracle: Merkle root of `count` readings taken in
    /// [windowStart, windowEnd] with temperatures in [minTemp, maxTemp].
    struct TelemetryBatch {
        bytes32 root;
        uint32 count;
        uint64 windowStart;
        uint64 windowEnd;
        int32 minTemp;
        int32 maxTemp;
    }

    /// @notice One device reading (EIP-712 type `Reading`), as signed by the device.
    /// temperature in centi-°C, humidity in centi-%, latitude/longitude in micro-degrees.
    struct Reading {
        address device;
        uint64 counter;
        uint64 timestamp;
        bytes32 shipmentId;
        int32 temperature;
        uint32 humidity;
        int32 latitude;
        int32 longitude;
    }

    error ShipmentUnexpectedState(bytes32 shipmentId, State current, bytes32 expectedStates);
    error ShipmentExists(bytes32 shipmentId);
    error ShipmentInvalidManifest(bytes32 shipmentId);
    error ShipmentInvalidSigner(bytes32 shipmentId, address expected, address recovered);
    error ShipmentUnauthorized(bytes32 shipmentId, address account);
    error ShipmentInvalidCustodian(bytes32 shipmentId, address to);
    error ShipmentConsentExpired(bytes32 shipmentId, uint64 deadline);
    error ShipmentDeadlinePassed(bytes32 shipmentId, uint64 deadline);
    error ShipmentDeadlineNotPassed(bytes32 shipmentId, uint64 deadline);
    error ShipmentDisputeWindowOpen(bytes32 shipmentId, uint256 endsAt);
    error ShipmentInvalidBatch(bytes32 shipmentId, bytes32 root);
    error ShipmentBatchExists(bytes32 shipmentId, bytes32 batchHash);
    error ShipmentBatchAfterDelivery(bytes32 shipmentId, uint64 windowStart, uint64 deliveredAt);
    error ShipmentUnknownBatch(bytes32 shipmentId, bytes32 batchHash);
    error ShipmentInvalidReading(bytes32 shipmentId, address device, uint64 counter);
    error ShipmentInactiveDevice(address device);
    error ShipmentNoBreach(bytes32 shipmentId, int32 temperature);
    error ShipmentBreachAlreadyProven(bytes32 shipmentId, uint64 episode);
    error ShipmentDeviceNotAssigned(bytes32 shipmentId, address device);
    error ShipmentReadingOutsideCustody(bytes32 shipmentId, uint64 timestamp);
    error ShipmentBreachLimitReached(bytes32 shipmentId, uint256 limit);
    error ShipmentPartySuspended(bytes32 shipmentId, address account);
    error ShipmentTokenNotApproved(address token);
    error ShipmentFundingShortfall(bytes32 shipmentId, uint256 expected, uint256 received);
    error EscrowNothingToWithdraw(address account, address token);
    error ShipmentDisputeWindowClosed(bytes32 shipmentId, uint256 endedAt);
    error ShipmentInvalidDisputeReason(bytes32 shipmentId, uint256 length);
    error ShipmentInvalidDisputeEvidence(bytes32 shipmentId, uint256 index, uint256 length);
    error ShipmentTooMuchEvidence(bytes32 shipmentId, uint256 count);
    error ShipmentArbiterIsParty(bytes32 shipmentId, address arbiter);
    error ShipmentInvalidSplit(bytes32 shipmentId, uint256 toBuyer, uint256 amount);
    error ShipmentArbitrationOpen(bytes32 shipmentId, uint256 endsAt);
    error ShipmentArbitrationClosed(bytes32 shipmentId, uint256 endedAt);

    /// @notice `manifest` is the signed manifest as submitted (its nonce included).
    event ShipmentCreated(
        bytes32 indexed shipmentId, address indexed supplier, address indexed buyer, Manifest manifest
    );
    event ShipmentFunded(bytes32 indexed shipmentId, address indexed buyer, uint256 amount);
    event CustodyHandedOver(bytes32 indexed shipmentId, address indexed from, address indexed to, uint96 seq);
    event TelemetryBatchPosted(
        bytes32 indexed shipmentId,
        bytes32 indexed root,
        uint32 count,
        uint64 windowStart,
        uint64 windowEnd,
        int32 minTemp,
        int32 maxTemp
    );
    event BreachProven(
        bytes32 indexed shipmentId,
        address indexed device,
        uint64 indexed episode,
        uint64 counter,
        int32 temperature,
        uint256 penalty
    );
    event DeliveryConfirmed(bytes32 indexed shipmentId, address indexed by, uint64 deliveredAt);
    event PaymentReleased(bytes32 indexed shipmentId, uint256 toSupplier, uint256 toBuyer);
    event ShipmentRefunded(bytes32 indexed shipmentId, uint256 toBuyer);
    event ShipmentCancelled(bytes32 indexed shipmentId);
    event Withdrawn(address indexed account, address indexed token, uint256 amount);
    event TokenApprovalChanged(address indexed token, bool approved);
    /// @notice `evidence` are references (URIs, content hashes) the arbiter reads off chain;
    /// `disputedAt` starts the ARBITRATION_PERIOD (carried for the indexer, as deliveredAt is).
    event DisputeRaised(
        bytes32 indexed shipmentId, address indexed buyer, string reason, string[] evidence, uint64 disputedAt
    );
    event DisputeResolved(
        bytes32 indexed shipmentId, address indexed arbiter, uint256 toSupplier, uint256 toBuyer
    );
    /// @notice No arbiter decided within ARBITRATION_PERIOD: the fallback rule (the split release
    /// would have made) was applied, at `by`'s call.
    event DisputeSettledByFallback(
        bytes32 indexed shipmentId, address indexed by, uint256 toSupplier, uint256 toBuyer
    );

    /// @notice Creates a shipment from a manifest signed (EIP-712) by its supplier; anyone may relay it.
    /// The terms are bounded by the consortium: the deadline lies in the future by at most
    /// MAX_DEADLINE_AHEAD, the dispute window is at most MAX_DISPUTE_WINDOW (zero allowed: the buyer
    /// agrees to it by funding), and the token is one the consortium approved.
    /// @dev Supplier, buyer and carrier must hold SUPPLIER_ROLE, RETAILER_ROLE and CARRIER_ROLE (a
    /// suspended partner holds none). The manifest nonce must be the supplier's next nonce; it names
    /// 1 to MAX_DEVICES distinct non-zero devices. Reverts with ShipmentExists,
    /// ShipmentInvalidManifest (zero ID, token or amount, penalty above the amount, inverted band,
    /// deadline past or beyond the bound, dispute window beyond the bound, devices),
    /// ShipmentTokenNotApproved, ShipmentInvalidSigner, InvalidAccountNonce, ECDSAInvalidSignatureS
    /// (high-s) or AccessControlUnauthorizedAccount. Emits ShipmentCreated.
    function createShipment(Manifest calldata manifest, bytes calldata signature) external;

    /// @notice The buyer deposits the manifest amount into escrow; exactly that amount must arrive.
    /// @dev Only the buyer, an active partner, in state Created, before the deadline, in a token still
    /// approved. Reverts with ShipmentUnexpectedState, ShipmentUnauthorized, ShipmentDeadlinePassed,
    /// ShipmentPartySuspended, ShipmentTokenNotApproved, ShipmentFundingShortfall (the escrow's
    /// balance grew by less than the amount: a fee-on-transfer token) or EnforcedPause.
    /// Emits ShipmentFunded.
    function fund(bytes32 shipmentId) external;

    /// @notice Hands custody from the current custodian to `to`. The caller is one of the two and
    /// `consent` is the other's EIP-712 `CustodyHandover` signature. A hand-over to the buyer is
    /// delivery: the shipment becomes Delivered as with confirmDelivery (the dispute window starts,
    /// and refund is no longer possible); otherwise a Funded shipment becomes InTransit. The first
    /// hand-over is the pickup: custody (and breach evidence) starts then.
    /// @dev States Funded or InTransit. `to` must be the shipment's carrier, its buyer or another
    /// CARRIER_ROLE holder. Both ends must be active partners. Reverts with ShipmentUnexpectedState,
    /// ShipmentUnauthorized, ShipmentInvalidCustodian, ShipmentConsentExpired, ShipmentInvalidSigner,
    /// ShipmentPartySuspended (the current or the next custodian is suspended), EnforcedPause.
    /// Emits CustodyHandedOver, then DeliveryConfirmed (`by` the buyer) for a hand-over to the buyer.
    function handOver(bytes32 shipmentId, address to, uint64 consentDeadline, bytes calldata consent) external;

    /// @notice Posts a telemetry batch of a shipment under way: Funded or InTransit, or Delivered
    /// for a batch whose window began at or before delivery (the last batch of the journey is
    /// sealed after the goods arrive). Not while paused. One storage write per batch.
    /// @dev Requires ORACLE_ROLE. Reverts with AccessControlUnauthorizedAccount, EnforcedPause,
    /// ShipmentUnexpectedState (unknown shipment, or not Funded, InTransit or Delivered),
    /// ShipmentBatchAfterDelivery (window begun after delivery), ShipmentInvalidBatch (zero root or
    /// count, or an inverted window or range) or ShipmentBatchExists. Emits TelemetryBatchPosted.
    function postTelemetry(bytes32 shipmentId, TelemetryBatch calldata batch) external;

    /// @notice Proves a temperature breach with one device-signed reading of a posted batch.
    /// The reading must come from one of the shipment's devices, active (with its owner) when it
    /// was taken, between pickup and delivery. Charges the supplier the manifest penalty once per
    /// breach episode, capped at the escrowed amount. An episode is BREACH_EPISODE seconds from the
    /// reading that opened it: a reading closer than that to a charged episode's start, before or
    /// after it, belongs to that episode (proofs may come in any order).
    /// @dev Anyone; states Funded, InTransit or Delivered. Reverts with ShipmentUnknownBatch,
    /// ShipmentInvalidReading (not in the batch, wrong shipment or outside its window),
    /// ShipmentInvalidSigner, ShipmentDeviceNotAssigned, ShipmentReadingOutsideCustody,
    /// ShipmentInactiveDevice, ShipmentNoBreach, ShipmentBreachAlreadyProven (with the charged
    /// episode's start), ShipmentBreachLimitReached (MAX_BREACH_EPISODES charged), EnforcedPause.
    /// Emits BreachProven, whose `episode` is the episode's start (the reading's timestamp).
    function proveBreach(
        bytes32 shipmentId,
        TelemetryBatch calldata batch,
        Reading calldata reading,
        bytes calldata deviceSignature,
        bytes32[] calldata proof
    ) external;

    /// @notice Proves a temperature breach straight from a device-signed reading, without an oracle
    /// batch: the oracle cannot suppress evidence. Same rules and charge as proveBreach.
    /// @dev A party of the shipment (supplier, carrier or buyer); states Funded, InTransit or
    /// Delivered. Reverts with ShipmentUnauthorized, ShipmentInvalidReading (another shipment's
    /// reading) and the evidence errors of proveBreach. Emits BreachProven.
    function proveBreachFromReading(bytes32 shipmentId, Reading calldata reading, bytes calldata deviceSignature)
        external;

    /// @notice Confirms delivery without a hand-over record (the buyer, or an oracle's geofence
    /// evidence); starts the dispute window. A hand-over to the buyer delivers by itself.
    /// @dev The buyer (an active partner), or ORACLE_ROLE; state InTransit. Reverts with
    /// ShipmentUnexpectedState, ShipmentUnauthorized, ShipmentPartySuspended or EnforcedPause.
    /// Emits DeliveryConfirmed.
    function confirmDelivery(bytes32 shipmentId) external;

    /// @notice After the dispute window, credits the supplier the amount less penalties and the
    /// buyer the penalties. Anyone may call it.
    /// @dev State Delivered (a Disputed shipment waits for its resolution). Reverts with
    /// ShipmentUnexpectedState or ShipmentDisputeWindowOpen. Emits PaymentReleased.
    function release(bytes32 shipmentId) external;

    /// @notice The buyer disputes a delivered shipment within its dispute window, with a reason and
    /// evidence references; release waits for an arbiter's decision (or the fallback rule). Only
    /// breaches proven before the dispute count for the fallback.
    /// @dev Only the buyer, an active partner, in state Delivered, before deliveredAt + disputeWindow.
    /// `reason` is 1 to MAX_DISPUTE_REASON bytes; at most MAX_DISPUTE_EVIDENCE evidence entries of 1 to
    /// MAX_DISPUTE_EVIDENCE_LENGTH bytes each. Reverts with ShipmentUnexpectedState,
    /// ShipmentUnauthorized, ShipmentPartySuspended, ShipmentDisputeWindowClosed,
    /// ShipmentInvalidDisputeReason, ShipmentTooMuchEvidence, ShipmentInvalidDisputeEvidence or
    /// EnforcedPause. Emits DisputeRaised.
    function dispute(bytes32 shipmentId, string calldata reason, string[] calldata evidence) external;

    /// @notice A consortium arbiter splits a disputed shipment's escrow: the buyer is credited
    /// `toBuyer`, the supplier the rest (pull payments). The split replaces the penalty rule.
    /// @dev ARBITER_ROLE of the registry (a suspended partner holds none), not the shipment's supplier,
    /// buyer or carrier; state Disputed; before disputedAt + ARBITRATION_PERIOD; toBuyer <= amount.
    /// Reverts with AccessControlUnauthorizedAccount, ShipmentUnexpectedState, ShipmentArbiterIsParty,
    /// ShipmentArbitrationClosed, ShipmentInvalidSplit or EnforcedPause. Emits DisputeResolved.
    function resolveDispute(bytes32 shipmentId, uint256 toBuyer) external;

    /// @notice A dispute no arbiter resolved within ARBITRATION_PERIOD settles by the fallback rule:
    /// as release would have (the supplier the amount less proven penalties, the buyer the
    /// penalties), the proven breaches being the only facts on chain. Anyone may call it.
    /// @dev State Disputed, from disputedAt + ARBITRATION_PERIOD. Reverts with
    /// ShipmentUnexpectedState, ShipmentArbitrationOpen or EnforcedPause. Emits DisputeSettledByFallback.
    function settleDispute(bytes32 shipmentId) external;

    /// @notice After a missed deadline, credits the buyer the full deposit (or cancels an unfunded
    /// shipment). Anyone may call it. Never after delivery, a hand-over to the buyer included.
    /// @dev States Created, Funded or InTransit (ShipmentUnexpectedState otherwise). Reverts with ShipmentDeadlineNotPassed. Emits
    /// ShipmentRefunded or ShipmentCancelled.
    function refund(bytes32 shipmentId) external;

    /// @notice Sends the caller everything it is owed in `token`. Open to suspended partners, in
    /// tokens no longer approved, and while paused: money already owed stays theirs.
    /// @dev Reverts with EscrowNothingToWithdraw. Emits Withdrawn.
    function withdraw(address token) external;

    /// @notice Stops every state change but withdrawals. DEFAULT_ADMIN_ROLE of the registry.
    function pause() external;

    /// @notice Lifts a pause. DEFAULT_ADMIN_ROLE of the registry.
    function unpause() external;

    /// @notice Approves (or withdraws approval of) `token` for new shipments and their funding.
    /// Shipments already funded settle in their token either way.
    /// @dev DEFAULT_ADMIN_ROLE of the registry. Reverts with ShipmentTokenNotApproved for the zero
    /// address. Setting the current approval again changes nothing. Emits TokenApprovalChanged.
    function setTokenApproved(address token, bool approved) external;

    /// @notice Whether the consortium approved `token` for settlement.
    function isTokenApproved(address token) external view returns (bool);

    function shipment(bytes32 shipmentId) external view returns (Shipment memory);

    /// @notice The devices the shipment's manifest names (empty for an unknown shipment).
    function shipmentDevices(bytes32 shipmentId) external view returns (address[] memory);

    /// @notice Start times of the breach episodes charged so far, in the order they were proven.
    function breachEpisodes(bytes32 shipmentId) external view returns (uint64[] memory);
    function owed(address account, address token) external view returns (uint256);
    function isBatchPosted(bytes32 shipmentId, TelemetryBatch calldata batch) external view returns (bool);
    function manifestDigest(Manifest calldata manifest) external view returns (bytes32);
    function handoverDigest(bytes32 shipmentId, address from, address to, uint96 seq, uint64 deadline)
        external
        view
        returns (bytes32);
    function readingDigest(Reading calldata reading) external view returns (bytes32);
    function nonces(address owner) external view returns (uint256);
}
