// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IPartnerRegistry} from "./interfaces/IPartnerRegistry.sol";
import {IShipmentEscrow} from "./interfaces/IShipmentEscrow.sol";
import {RegistryGated} from "./RegistryGated.sol";
import {Roles} from "./Roles.sol";

/// @title ShipmentEscrow
/// @notice Shipments from supplier-signed manifests, ERC-20 escrow, consented custody hand-overs,
/// telemetry batches, provable cold-chain breaches, pull payments.
contract ShipmentEscrow is IShipmentEscrow, RegistryGated, EIP712, Nonces, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Length of a breach episode, from the reading that opened it: readings closer than
    /// this to a charged episode's start cost no further penalty.
    uint64 public constant BREACH_EPISODE = 1 hours;
    /// @notice Most devices a manifest may name.
    uint256 public constant MAX_DEVICES = 16;
    /// @notice Most breach episodes charged per shipment (bounds the episode scan of a proof).
    uint256 public constant MAX_BREACH_EPISODES = 32;

    /// @notice How far ahead a manifest's delivery deadline may lie (consortium bound).
    uint64 public constant MAX_DEADLINE_AHEAD = 365 days;
    /// @notice The longest dispute window a manifest may set (consortium bound).
    uint64 public constant MAX_DISPUTE_WINDOW = 30 days;
    /// @notice How long arbiters have to decide a dispute before anyone may apply the fallback rule:
    /// two business weeks for both sides' evidence and a decision, while bounding the supplier's
    /// wait for its money to MAX_DISPUTE_WINDOW + ARBITRATION_PERIOD (44 days) after delivery.
    uint64 public constant ARBITRATION_PERIOD = 14 days;
    /// @notice Longest dispute reason, in bytes (it is only logged: bounds the log, not storage).
    uint256 public constant MAX_DISPUTE_REASON = 1024;
    /// @notice Most evidence references a dispute may carry, and the longest one, in bytes.
    uint256 public constant MAX_DISPUTE_EVIDENCE = 16;
    uint256 public constant MAX_DISPUTE_EVIDENCE_LENGTH = 512;

    bytes32 private constant ADMIN_ROLE = 0x00; // DEFAULT_ADMIN_ROLE of the registry

    bytes32 public constant MANIFEST_TYPEHASH = keccak256(
        "Manifest(bytes32 shipmentId,bytes32 itemsHash,address supplier,address buyer,address carrier,address[] devices,"
        "address token,uint256 amount,uint256 penalty,int32 minTemp,int32 maxTemp,uint64 deadline,uint64 disputeWindow,uint256 nonce)"
    );
    bytes32 public constant HANDOVER_TYPEHASH =
        keccak256("CustodyHandover(bytes32 shipmentId,address from,address to,uint96 seq,uint64 deadline)");
    bytes32 public constant READING_TYPEHASH = keccak256(
        "Reading(address device,uint64 counter,uint64 timestamp,bytes32 shipmentId,int32 temperature,uint32 humidity,"
        "int32 latitude,int32 longitude)"
    );

    mapping(bytes32 shipmentId => Shipment) private _shipments;
    mapping(bytes32 batchHash => bool) private _batches;
    mapping(bytes32 shipmentId => address[]) private _devices;
    mapping(bytes32 shipmentId => uint64[] starts) private _episodes;
    mapping(address token => mapping(address account => uint256)) private _owed;
    mapping(address token => bool) private _approvedTokens;

    constructor(address registry_) RegistryGated(registry_) EIP712("Tracechain", "1") {}

    // ---------------------------------------------------------------- lifecycle

    /// @inheritdoc IShipmentEscrow
    function createShipment(Manifest calldata m, bytes calldata signature) external whenNotPaused {
        bytes32 id = m.shipmentId;
        if (_shipments[id].state != State.None) revert ShipmentExists(id);
        if (
            id == bytes32(0) || m.token == address(0) || m.amount == 0 || m.penalty > m.amount
                || m.minTemp >= m.maxTemp || m.deadline <= block.timestamp || !_validDevices(m.devices)
                || m.deadline > block.timestamp + MAX_DEADLINE_AHEAD || m.disputeWindow > MAX_DISPUTE_WINDOW
        ) revert ShipmentInvalidManifest(id);
        _checkTokenApproved(m.token);
        address signer = ECDSA.recover(manifestDigest(m), signature);
        if (signer != m.supplier) revert ShipmentInvalidSigner(id, m.supplier, signer);
        _useCheckedNonce(m.supplier, m.nonce);
        _checkRegistryRole(Roles.SUPPLIER, m.supplier);
        _checkRegistryRole(Roles.RETAILER, m.buyer);
        _checkRegistryRole(Roles.CARRIER, m.carrier);

        _shipments[id] = Shipment({
            supplier: m.supplier,
            deadline: m.deadline,
            state: State.Created,
            buyer: m.buyer,
            disputeWindow: uint32(m.disputeWindow), // at most MAX_DISPUTE_WINDOW, checked above
            disputedAt: 0,
            carrier: m.carrier,
            deliveredAt: 0,
            custodian: m.supplier,
            custodySeq: 0,
            pickedUpAt: 0,
            token: m.token,
            minTemp: m.minTemp,
            maxTemp: m.maxTemp,
            amount: m.amount,
            penalty: m.penalty,
            penalties: 0,
            itemsHash: m.itemsHash
        });
        _devices[id] = m.devices;
        emit ShipmentCreated(id, m.supplier, m.buyer, m);
    }

    /// @inheritdoc IShipmentEscrow
    function fund(bytes32 id) external whenNotPaused nonReentrant {
        Shipment storage s = _shipments[id];
        _checkState(id, s.state, _bit(State.Created));
        if (msg.sender != s.buyer) revert ShipmentUnauthorized(id, msg.sender);
        if (block.timestamp > s.deadline) revert ShipmentDeadlinePassed(id, s.deadline);
        _checkActiveParty(id, msg.sender);
        IERC20 token = IERC20(s.token);
        _checkTokenApproved(address(token));
        uint256 amount = s.amount;
        s.state = State.Funded;
        emit ShipmentFunded(id, msg.sender, amount);
        // Credit only what arrived: a token that takes a fee (or lies about transfers) is refused.
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received < amount) revert ShipmentFundingShortfall(id, amount, received);
    }

    /// @inheritdoc IShipmentEscrow
    function handOver(bytes32 id, address to, uint64 consentDeadline, bytes calldata consent) external whenNotPaused {
        Shipment storage s = _shipments[id];
        State state = s.state;
        _checkState(id, state, _bit(State.Funded) | _bit(State.InTransit));
        address from = s.custodian;
        uint32 seq = s.custodySeq;
        if (to == from || to == address(0)) revert ShipmentInvalidCustodian(id, to);
        if (to != s.carrier && to != s.buyer && !_hasRegistryRole(Roles.CARRIER, to)) {
            revert ShipmentInvalidCustodian(id, to);
        }
        if (block.timestamp > consentDeadline) revert ShipmentConsentExpired(id, consentDeadline);
        if (msg.sender != from && msg.sender != to) revert ShipmentUnauthorized(id, msg.sender);
        address other = msg.sender == from ? to : from;
        address signer = ECDSA.recover(handoverDigest(id, from, to, seq, consentDeadline), consent);
        if (signer != other) revert ShipmentInvalidSigner(id, other, signer);
        _checkActiveParties(id, from, to);

        s.custodian = to;
        s.custodySeq = seq + 1;
        // The first hand-over is the pickup (same slot as the custodian: no extra write).
        if (state == State.Funded) s.pickedUpAt = uint64(block.timestamp);
        emit CustodyHandedOver(id, from, to, seq + 1);
        // Goods in the buyer's hands are delivered, as confirmDelivery would say: refund is closed.
        if (to == s.buyer) {
            _deliver(s, id, to);
        } else if (state == State.Funded) {
            s.state = State.InTransit;
        }
    }

    /// @inheritdoc IShipmentEscrow
    function postTelemetry(bytes32 id, TelemetryBatch calldata batch)
        external
        whenNotPaused
        onlyRegistryRole(Roles.ORACLE)
    {
        Shipment storage s = _shipments[id];
        State state = s.state;
        _checkState(id, state, _bit(State.Funded) | _bit(State.InTransit) | _bit(State.Delivered));
        // After delivery only a batch begun in transit (the last one, sealed after the goods arrived).
        if (state == State.Delivered && batch.windowStart > s.deliveredAt) {
            revert ShipmentBatchAfterDelivery(id, batch.windowStart, s.deliveredAt);
        }
        if (
            batch.root == bytes32(0) || batch.count == 0 || batch.windowStart > batch.windowEnd
                || batch.minTemp > batch.maxTemp
        ) revert ShipmentInvalidBatch(id, batch.root);
        bytes32 key = _batchHash(id, batch);
        if (_batches[key]) revert ShipmentBatchExists(id, key);
        _batches[key] = true;
        emit TelemetryBatchPosted(
            id, batch.root, batch.count, batch.windowStart, batch.windowEnd, batch.minTemp, batch.maxTemp
        );
    }

    /// @inheritdoc IShipmentEscrow
    function proveBreach(
        bytes32 id,
        TelemetryBatch calldata batch,
        Reading calldata reading,
        bytes calldata deviceSignature,
        bytes32[] calldata proof
    ) external whenNotPaused {
        Shipment storage s = _shipments[id];
        _checkState(id, s.state, _bit(State.Funded) | _bit(State.InTransit) | _bit(State.Delivered));
        bytes32 key = _batchHash(id, batch);
        if (!_batches[key]) revert ShipmentUnknownBatch(id, key);
        bytes32 structHash = _readingStructHash(reading);
        if (
            reading.timestamp < batch.windowStart || reading.timestamp > batch.windowEnd
                || !MerkleProof.verifyCalldata(proof, batch.root, keccak256(bytes.concat(structHash)))
        ) revert ShipmentInvalidReading(id, reading.device, reading.counter);
        _checkReading(id, s, reading, structHash, deviceSignature);
        _chargeBreach(s, id, reading);
    }

    /// @inheritdoc IShipmentEscrow
    function proveBreachFromReading(bytes32 id, Reading calldata reading, bytes calldata deviceSignature)
        external
        whenNotPaused
    {
        Shipment storage s = _shipments[id];
        _checkState(id, s.state, _bit(State.Funded) | _bit(State.InTransit) | _bit(State.Delivered));
        if (msg.sender != s.supplier && msg.sender != s.carrier && msg.sender != s.buyer) {
            revert ShipmentUnauthorized(id, msg.sender);
        }
        _checkReading(id, s, reading, _readingStructHash(reading), deviceSignature);
        _chargeBreach(s, id, reading);
    }

    /// @inheritdoc IShipmentEscrow
    function confirmDelivery(bytes32 id) external whenNotPaused {
        Shipment storage s = _shipments[id];
        _checkState(id, s.state, _bit(State.InTransit));
        if (msg.sender == s.buyer) {
            _checkActiveParty(id, msg.sender);
        } else if (!_hasRegistryRole(Roles.ORACLE, msg.sender)) {
            // An oracle is a service account, not a partner: suspension revokes its role instead.
            revert ShipmentUnauthorized(id, msg.sender);
        }
        _deliver(s, id, msg.sender);
    }

    /// @inheritdoc IShipmentEscrow
    function release(bytes32 id) external whenNotPaused nonReentrant {
        Shipment storage s = _shipments[id];
        _checkState(id, s.state, _bit(State.Delivered));
        uint256 endsAt = uint256(s.deliveredAt) + s.disputeWindow;
        if (block.timestamp < endsAt) revert ShipmentDisputeWindowOpen(id, endsAt);
        s.state = State.Released;
        uint256 toBuyer = s.penalties;
        uint256 toSupplier = _credit(s, s.amount - toBuyer, toBuyer);
        emit PaymentReleased(id, toSupplier, toBuyer);
    }

    /// @inheritdoc IShipmentEscrow
    function dispute(bytes32 id, string calldata reason, string[] calldata evidence) external whenNotPaused {
        Shipment storage s = _shipments[id];
        _checkState(id, s.state, _bit(State.Delivered));
        if (msg.sender != s.buyer) revert ShipmentUnauthorized(id, msg.sender);
        _checkActiveParty(id, msg.sender);
        // The same instant release becomes possible closes the window: the two never overlap.
        uint256 endsAt = uint256(s.deliveredAt) + s.disputeWindow;
        if (block.timestamp >= endsAt) revert ShipmentDisputeWindowClosed(id, endsAt);
        uint256 length = bytes(reason).length;
        if (length == 0 || length > MAX_DISPUTE_REASON) revert ShipmentInvalidDisputeReason(id, length);
        uint256 n = evidence.length;
        if (n > MAX_DISPUTE_EVIDENCE) revert ShipmentTooMuchEvidence(id, n);
        for (uint256 i = 0; i < n; ++i) {
            length = bytes(evidence[i]).length;
            if (length == 0 || length > MAX_DISPUTE_EVIDENCE_LENGTH) {
                revert ShipmentInvalidDisputeEvidence(id, i, length);
            }
        }
        s.state = State.Disputed;
        s.disputedAt = uint64(block.timestamp);
        emit DisputeRaised(id, msg.sender, reason, evidence, uint64(block.timestamp));
    }

    /// @inheritdoc IShipmentEscrow
    function resolveDispute(bytes32 id, uint256 toBuyer) external whenNotPaused nonReentrant {
        _checkRegistryRole(Roles.ARBITER, msg.sender);
        Shipment storage s = _shipments[id];
        _checkState(id, s.state, _bit(State.Disputed));
        if (msg.sender == s.supplier || msg.sender == s.buyer || msg.sender == s.carrier) {
            revert ShipmentArbiterIsParty(id, msg.sender);
        }
        uint256 endsAt = uint256(s.disputedAt) + ARBITRATION_PERIOD;
        if (block.timestamp >= endsAt) revert ShipmentArbitrationClosed(id, endsAt);
        uint256 amount = s.amount;
        if (toBuyer > amount) revert ShipmentInvalidSplit(id, toBuyer, amount);
        s.state = State.Resolved;
        uint256 toSupplier = _credit(s, amount - toBuyer, toBuyer);
        emit DisputeResolved(id, msg.sender, toSupplier, toBuyer);
    }

    /// @inheritdoc IShipmentEscrow
    function settleDispute(bytes32 id) external whenNotPaused nonReentrant {
        Shipment storage s = _shipments[id];
        _checkState(id, s.state, _bit(State.Disputed));
        uint256 endsAt = uint256(s.disputedAt) + ARBITRATION_PERIOD;
        if (block.timestamp < endsAt) revert ShipmentArbitrationOpen(id, endsAt);
        s.state = State.Resolved;
        uint256 toBuyer = s.penalties;
        uint256 toSupplier = _credit(s, s.amount - toBuyer, toBuyer);
        emit DisputeSettledByFallback(id, msg.sender, toSupplier, toBuyer);
    }

    /// @inheritdoc IShipmentEscrow
    function refund(bytes32 id) external whenNotPaused nonReentrant {
        Shipment storage s = _shipments[id];
        State state = s.state;
        _checkState(id, state, _bit(State.Created) | _bit(State.Funded) | _bit(State.InTransit));
        if (block.timestamp <= s.deadline) revert ShipmentDeadlineNotPassed(id, s.deadline);
        if (state == State.Created) {
            s.state = State.Cancelled;
            emit ShipmentCancelled(id);
            return;
        }
        s.state = State.Refunded;
        _owed[s.token][s.buyer] += s.amount;
        emit ShipmentRefunded(id, s.amount);
    }

    /// @inheritdoc IShipmentEscrow
    /// @dev Deliberately open to suspended partners and unapproved tokens: money already owed stays owed.
    function withdraw(address token) external nonReentrant {
        uint256 amount = _owed[token][msg.sender];
        if (amount == 0) revert EscrowNothingToWithdraw(msg.sender, token);
        _owed[token][msg.sender] = 0;
        emit Withdrawn(msg.sender, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IShipmentEscrow
    function pause() external onlyRegistryRole(ADMIN_ROLE) {
        _pause();
    }

    /// @inheritdoc IShipmentEscrow
    function unpause() external onlyRegistryRole(ADMIN_ROLE) {
        _unpause();
    }

    /// @inheritdoc IShipmentEscrow
    function setTokenApproved(address token, bool approved) external onlyRegistryRole(ADMIN_ROLE) {
        if (token == address(0)) revert ShipmentTokenNotApproved(token);
        if (_approvedTokens[token] == approved) return;
        _approvedTokens[token] = approved;
        emit TokenApprovalChanged(token, approved);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IShipmentEscrow
    function shipment(bytes32 id) external view returns (Shipment memory) {
        return _shipments[id];
    }

    /// @inheritdoc IShipmentEscrow
    function shipmentDevices(bytes32 id) external view returns (address[] memory) {
        return _devices[id];
    }

    /// @inheritdoc IShipmentEscrow
    function breachEpisodes(bytes32 id) external view returns (uint64[] memory) {
        return _episodes[id];
    }

    /// @inheritdoc IShipmentEscrow
    function isTokenApproved(address token) external view returns (bool) {
        return _approvedTokens[token];
    }

    /// @inheritdoc IShipmentEscrow
    function owed(address account, address token) external view returns (uint256) {
        return _owed[token][account];
    }

    /// @inheritdoc IShipmentEscrow
    function isBatchPosted(bytes32 id, TelemetryBatch calldata batch) external view returns (bool) {
        return _batches[_batchHash(id, batch)];
    }

    /// @inheritdoc IShipmentEscrow
    function manifestDigest(Manifest calldata m) public view returns (bytes32) {
        // Two abi.encode halves (32-byte words each, so their concatenation is the one encoding)
        // keep the stack shallow.
        return _hashTypedDataV4(
            keccak256(
                bytes.concat(
                    abi.encode(
                        MANIFEST_TYPEHASH,
                        m.shipmentId,
                        m.itemsHash,
                        m.supplier,
                        m.buyer,
                        m.carrier,
                        keccak256(abi.encodePacked(m.devices))
                    ),
                    abi.encode(
                        m.token, m.amount, m.penalty, m.minTemp, m.maxTemp, m.deadline, m.disputeWindow, m.nonce
                    )
                )
            )
        );
    }

    /// @inheritdoc IShipmentEscrow
    function handoverDigest(bytes32 id, address from, address to, uint96 seq, uint64 deadline)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(HANDOVER_TYPEHASH, id, from, to, seq, deadline)));
    }

    /// @inheritdoc IShipmentEscrow
    function readingDigest(Reading calldata reading) external view returns (bytes32) {
        return _hashTypedDataV4(_readingStructHash(reading));
    }

    /// @inheritdoc IShipmentEscrow
    function nonces(address owner) public view override(IShipmentEscrow, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    // ---------------------------------------------------------------- internals

    function _checkTokenApproved(address token) private view {
        if (!_approvedTokens[token]) revert ShipmentTokenNotApproved(token);
    }

    /// @dev A party acting on a live shipment must be an active partner (suspension: isActivePartner false).
    function _checkActiveParty(bytes32 id, address account) private view {
        if (!IPartnerRegistry(registry()).isActivePartner(account)) revert ShipmentPartySuspended(id, account);
    }

    /// @dev Both ends of a hand-over, in one call to the registry.
    function _checkActiveParties(bytes32 id, address from, address to) private view {
        (bool fromActive, bool toActive) = IPartnerRegistry(registry()).areActivePartners(from, to);
        if (!fromActive) revert ShipmentPartySuspended(id, from);
        if (!toActive) revert ShipmentPartySuspended(id, to);
    }

    /// @dev The reading is this shipment's, signed by one of its devices, taken in custody while the
    /// device (and its owner) was active. Batch membership, if any, is the caller's check.
    function _checkReading(
        bytes32 id,
        Shipment storage s,
        Reading calldata reading,
        bytes32 structHash,
        bytes calldata deviceSignature
    ) private view {
        if (reading.shipmentId != id) revert ShipmentInvalidReading(id, reading.device, reading.counter);
        address signer = ECDSA.recover(_hashTypedDataV4(structHash), deviceSignature);
        if (signer != reading.device) revert ShipmentInvalidSigner(id, reading.device, signer);
        if (!_isAssigned(id, signer)) revert ShipmentDeviceNotAssigned(id, signer);
        uint64 t = reading.timestamp;
        uint64 pickedUpAt = s.pickedUpAt;
        uint64 deliveredAt = s.deliveredAt;
        // Custody is [pickup, delivery]; before delivery it has reached only the present.
        if (pickedUpAt == 0 || t < pickedUpAt || t > (deliveredAt == 0 ? uint64(block.timestamp) : deliveredAt)) {
            revert ShipmentReadingOutsideCustody(id, t);
        }
        if (!IPartnerRegistry(registry()).wasDeviceActiveAt(signer, t)) revert ShipmentInactiveDevice(signer);
    }

    /// @dev Charges the penalty once per episode, capped at what is still escrowed. Charged
    /// episodes' starts are at least BREACH_EPISODE apart whatever order proofs come in, so an
    /// excursion of length L costs at most L / BREACH_EPISODE + 1 penalties.
    function _chargeBreach(Shipment storage s, bytes32 id, Reading calldata reading) private {
        int32 temperature = reading.temperature;
        if (temperature >= s.minTemp && temperature <= s.maxTemp) revert ShipmentNoBreach(id, temperature);
        uint64 t = reading.timestamp;
        uint64[] storage starts = _episodes[id];
        uint256 n = starts.length;
        for (uint256 i = 0; i < n; ++i) {
            uint64 start = starts[i];
            if ((t >= start ? t - start : start - t) < BREACH_EPISODE) revert ShipmentBreachAlreadyProven(id, start);
        }
        if (n == MAX_BREACH_EPISODES) revert ShipmentBreachLimitReached(id, MAX_BREACH_EPISODES);
        _episodes[id].push(t);
        uint256 charged = s.penalty;
        uint256 room = s.amount - s.penalties;
        if (charged > room) charged = room;
        s.penalties += charged;
        emit BreachProven(id, reading.device, t, reading.counter, temperature, charged);
    }

    /// @dev One of the manifest's devices (at most MAX_DEVICES: a short scan).
    function _isAssigned(bytes32 id, address device_) private view returns (bool) {
        address[] storage devices = _devices[id];
        uint256 n = devices.length;
        for (uint256 i = 0; i < n; ++i) {
            if (devices[i] == device_) return true;
        }
        return false;
    }

    /// @dev 1 to MAX_DEVICES devices, none zero, none twice.
    function _validDevices(address[] calldata devices) private pure returns (bool) {
        uint256 n = devices.length;
        if (n == 0 || n > MAX_DEVICES) return false;
        for (uint256 i = 0; i < n; ++i) {
            if (devices[i] == address(0)) return false;
            for (uint256 j = 0; j < i; ++j) {
                if (devices[j] == devices[i]) return false;
            }
        }
        return true;
    }

    /// @dev Credits the escrowed amount, split between supplier and buyer (a zero share writes nothing).
    function _credit(Shipment storage s, uint256 toSupplier, uint256 toBuyer) private returns (uint256) {
        address token = s.token;
        if (toSupplier != 0) _owed[token][s.supplier] += toSupplier;
        if (toBuyer != 0) _owed[token][s.buyer] += toBuyer;
        return toSupplier;
    }

    /// @dev Delivered now, by `by` (the buyer, or an oracle attesting arrival); starts the dispute window.
    function _deliver(Shipment storage s, bytes32 id, address by) private {
        s.state = State.Delivered;
        s.deliveredAt = uint64(block.timestamp);
        emit DeliveryConfirmed(id, by, uint64(block.timestamp));
    }

    function _readingStructHash(Reading calldata r) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                READING_TYPEHASH,
                r.device,
                r.counter,
                r.timestamp,
                r.shipmentId,
                r.temperature,
                r.humidity,
                r.latitude,
                r.longitude
            )
        );
    }

    function _batchHash(bytes32 id, TelemetryBatch calldata b) private pure returns (bytes32) {
        return keccak256(abi.encode(id, b.root, b.count, b.windowStart, b.windowEnd, b.minTemp, b.maxTemp));
    }

    function _bit(State state) private pure returns (bytes32) {
        return bytes32(1 << uint8(state));
    }

    /// @dev One guard for the state machine, as Governor's `_validateStateBitmap`.
    function _checkState(bytes32 id, State current, bytes32 allowed) private pure {
        if (_bit(current) & allowed == bytes32(0)) revert ShipmentUnexpectedState(id, current, allowed);
    }
}
