// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IShipmentEscrow} from "../../../contracts/interfaces/IShipmentEscrow.sol";
import {PartnerRegistry} from "../../../contracts/PartnerRegistry.sol";
import {ShipmentEscrow} from "../../../contracts/ShipmentEscrow.sol";
import {FeeOnTransferToken} from "../../../contracts/mocks/FeeOnTransferToken.sol";
import {TestToken} from "../../../contracts/mocks/TestToken.sol";
import {Vm} from "./Vm.sol";

/// @title ShipmentEscrowHandler
/// @notice Drives random fund / hand-over / telemetry / breach / deliver / release / refund /
/// dispute / resolve / fallback settlement / withdraw sequences on the escrow with real signatures, and keeps ghost books of the money.
/// A call that reverts is discarded by the fuzzer (fail_on_revert = false), ghost updates included.
/// Attacks (unauthorised actors, suspended parties, a fee-on-transfer token, a second settlement by
/// the other path) are tried with try/catch: one that succeeds, or changes anything, is counted in
/// `violations`, which the invariants require to stay zero.
contract ShipmentEscrowHandler {
    Vm private constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    ShipmentEscrow public immutable escrow;
    TestToken public immutable token;

    uint256[] private _supplierKeys;
    uint256[] private _buyerKeys;
    uint256[] private _carrierKeys;
    uint256 private immutable _deviceKey;
    address private immutable _oracle;

    bytes32[] public ids;
    mapping(bytes32 id => uint256) public settlements; // successful release, refund, resolve or fallback calls
    mapping(bytes32 id => IShipmentEscrow.TelemetryBatch) private _batches;
    mapping(bytes32 id => IShipmentEscrow.Reading[2]) private _readings;

    uint256 public deposited;
    uint256 public released;
    uint256 public refunded;
    uint256 public withdrawn;
    uint256 public breaches;
    uint256 public violations; // attacks that succeeded or changed state
    uint256 public attacks; // attacks tried (so a run shows they ran)

    PartnerRegistry private immutable _registry;
    address private immutable _admin;
    FeeOnTransferToken public immutable feeToken;
    address private constant _STRANGER = address(0xBAD);
    address private immutable _arbiter;

    constructor(
        ShipmentEscrow escrow_,
        TestToken token_,
        uint256[] memory supplierKeys,
        uint256[] memory buyerKeys,
        uint256[] memory carrierKeys,
        uint256 deviceKey,
        address oracle,
        PartnerRegistry registry_,
        address admin_,
        FeeOnTransferToken feeToken_,
        address arbiter_
    ) {
        _arbiter = arbiter_;
        _registry = registry_;
        _admin = admin_;
        feeToken = feeToken_;
        escrow = escrow_;
        token = token_;
        _supplierKeys = supplierKeys;
        _buyerKeys = buyerKeys;
        _carrierKeys = carrierKeys;
        _deviceKey = deviceKey;
        _oracle = oracle;
    }

    // ------------------------------------------------------------ actions

    function create(uint256 seed, uint256 amount, uint256 penaltyPct, uint32 deadlineIn, uint32 window) external {
        uint256 supplierKey = _supplierKeys[seed % _supplierKeys.length];
        address supplier = vm.addr(supplierKey);
        amount = 1 + amount % 1e15;
        address[] memory devices = new address[](1);
        devices[0] = vm.addr(_deviceKey);
        IShipmentEscrow.Manifest memory m = IShipmentEscrow.Manifest({
            shipmentId: keccak256(abi.encode("shipment", ids.length)),
            itemsHash: keccak256(abi.encode(seed)),
            supplier: supplier,
            buyer: vm.addr(_buyerKeys[(seed >> 8) % _buyerKeys.length]),
            carrier: vm.addr(_carrierKeys[(seed >> 16) % _carrierKeys.length]),
            devices: devices,
            token: address(token),
            amount: amount,
            penalty: amount * (penaltyPct % 101) / 100,
            minTemp: 200,
            maxTemp: 800,
            deadline: uint64(block.timestamp + 1 hours + deadlineIn % 10 days),
            disputeWindow: uint64(window % 3 days),
            nonce: escrow.nonces(supplier)
        });
        escrow.createShipment(m, _sign(supplierKey, escrow.manifestDigest(m)));
        ids.push(m.shipmentId);
    }

    function fund(uint256 seed) external {
        bytes32 id = _pickIn(seed, _bit(IShipmentEscrow.State.Created));
        IShipmentEscrow.Shipment memory s = escrow.shipment(id);
        token.mint(s.buyer, s.amount);
        vm.prank(s.buyer);
        token.approve(address(escrow), s.amount);
        vm.prank(s.buyer);
        escrow.fund(id);
        deposited += s.amount;
    }

    function handOver(uint256 seed, uint256 toSeed, bool byReceiver) external {
        bytes32 id = _pickIn(seed, _bit(IShipmentEscrow.State.Funded) | _bit(IShipmentEscrow.State.InTransit));
        IShipmentEscrow.Shipment memory s = escrow.shipment(id);
        uint256 fromKey = _keyOf(s.custodian);
        uint256 toKey = toSeed % 3 == 0 ? _keyOf(s.buyer) : _carrierKeys[toSeed % _carrierKeys.length];
        address to = vm.addr(toKey);
        uint64 deadline = uint64(block.timestamp + 1 hours);
        bytes32 digest = escrow.handoverDigest(id, s.custodian, to, s.custodySeq, deadline);
        vm.prank(byReceiver ? to : s.custodian);
        escrow.handOver(id, to, deadline, _sign(byReceiver ? fromKey : toKey, digest));
    }

    function postTelemetry(uint256 seed, int32 t0, int32 t1, uint32 offset) external {
        bytes32 id = _pickIn(seed, _ACTIVE);
        address device = vm.addr(_deviceKey);
        // Readings in the last day (proofs of those before pickup are refused: custody).
        uint64 back = uint64(30 minutes + offset % 1 days);
        uint64 start = block.timestamp > back ? uint64(block.timestamp) - back : 0;
        IShipmentEscrow.Reading[2] storage r = _readings[id];
        r[0] = IShipmentEscrow.Reading(device, 1, start, id, _temp(t0), 5000, 0, 0);
        r[1] = IShipmentEscrow.Reading(device, 2, start + 30 minutes, id, _temp(t1), 5000, 0, 0);
        bytes32 a = _leaf(r[0]);
        bytes32 b = _leaf(r[1]);
        IShipmentEscrow.TelemetryBatch memory batch = IShipmentEscrow.TelemetryBatch({
            root: _hashPair(a, b),
            count: 2,
            windowStart: start,
            windowEnd: start + 30 minutes,
            minTemp: r[0].temperature < r[1].temperature ? r[0].temperature : r[1].temperature,
            maxTemp: r[0].temperature < r[1].temperature ? r[1].temperature : r[0].temperature
        });
        vm.prank(_oracle);
        escrow.postTelemetry(id, batch);
        _batches[id] = batch;
    }

    function proveBreach(uint256 seed, bool second) external {
        bytes32 id = _pickIn(seed, _ACTIVE);
        IShipmentEscrow.Reading memory r = _readings[id][second ? 1 : 0];
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = _leaf(_readings[id][second ? 0 : 1]);
        escrow.proveBreach(id, _batches[id], r, _sign(_deviceKey, escrow.readingDigest(r)), proof);
        ++breaches;
    }

    function deliver(uint256 seed, bool byOracle) external {
        bytes32 id = _pickIn(seed, _bit(IShipmentEscrow.State.InTransit));
        vm.prank(byOracle ? _oracle : escrow.shipment(id).buyer);
        escrow.confirmDelivery(id);
    }

    function release(uint256 seed) external {
        bytes32 id = _pickIn(seed, _bit(IShipmentEscrow.State.Delivered));
        escrow.release(id);
        released += escrow.shipment(id).amount;
        ++settlements[id];
    }

    function refund(uint256 seed) external {
        bytes32 id = _pickIn(seed, _bit(IShipmentEscrow.State.Created) | _bit(IShipmentEscrow.State.Funded) | _bit(IShipmentEscrow.State.InTransit));
        IShipmentEscrow.State before = escrow.shipment(id).state;
        escrow.refund(id);
        if (before != IShipmentEscrow.State.Created) refunded += escrow.shipment(id).amount;
        ++settlements[id];
    }

    /// The buyer disputes a delivered shipment whose window is open; when none is, one is made
    /// (created, funded, handed to the buyer), so that disputes are frequent in every run.
    function dispute(uint256 seed, uint8 evidence) external {
        bytes32 id = _disputable(seed);
        if (id == bytes32(0)) id = _freshDelivered(seed);
        string[] memory refs = new string[](evidence % 3);
        for (uint256 i = 0; i < refs.length; ++i) refs[i] = "ipfs://evidence";
        vm.prank(escrow.shipment(id).buyer);
        escrow.dispute(id, "arrived warm", refs);
    }

    function _disputable(uint256 seed) private view returns (bytes32) {
        uint256 n = ids.length;
        for (uint256 i = 0; i < n; ++i) {
            bytes32 id = ids[(seed + i) % n];
            IShipmentEscrow.Shipment memory s = escrow.shipment(id);
            if (
                s.state == IShipmentEscrow.State.Delivered
                    && block.timestamp < uint256(s.deliveredAt) + s.disputeWindow
            ) return id;
        }
        return bytes32(0);
    }

    function _freshDelivered(uint256 seed) private returns (bytes32 id) {
        uint256 supplierKey = _supplierKeys[seed % _supplierKeys.length];
        uint256 buyerKey = _buyerKeys[(seed >> 8) % _buyerKeys.length];
        address supplier = vm.addr(supplierKey);
        address buyer = vm.addr(buyerKey);
        address[] memory devices = new address[](1);
        devices[0] = vm.addr(_deviceKey);
        uint256 amount = 1 + (seed >> 32) % 1e15;
        IShipmentEscrow.Manifest memory m = IShipmentEscrow.Manifest({
            shipmentId: keccak256(abi.encode("shipment", ids.length)),
            itemsHash: keccak256(abi.encode(seed)),
            supplier: supplier,
            buyer: buyer,
            carrier: vm.addr(_carrierKeys[(seed >> 16) % _carrierKeys.length]),
            devices: devices,
            token: address(token),
            amount: amount,
            penalty: amount / 10,
            minTemp: 200,
            maxTemp: 800,
            deadline: uint64(block.timestamp + 1 days),
            disputeWindow: 1 days,
            nonce: escrow.nonces(supplier)
        });
        id = m.shipmentId;
        escrow.createShipment(m, _sign(supplierKey, escrow.manifestDigest(m)));
        ids.push(id);
        token.mint(buyer, amount);
        vm.prank(buyer);
        token.approve(address(escrow), amount);
        vm.prank(buyer);
        escrow.fund(id);
        deposited += amount;
        uint64 until = uint64(block.timestamp + 1 hours);
        bytes memory consent = _sign(buyerKey, escrow.handoverDigest(id, supplier, buyer, 0, until));
        vm.prank(supplier);
        escrow.handOver(id, buyer, until, consent);
    }

    /// The arbiter splits: what it gives the buyer and the supplier's rest are both credits.
    function resolve(uint256 seed, uint256 toBuyer) external {
        bytes32 id = _pickIn(seed, _bit(IShipmentEscrow.State.Disputed));
        uint256 amount = escrow.shipment(id).amount;
        vm.prank(_arbiter);
        escrow.resolveDispute(id, toBuyer % (amount + 1));
        released += amount;
        ++settlements[id];
    }

    /// The fallback after the arbitration period (time moves there first).
    function settleDispute(uint256 seed) external {
        bytes32 id = _pickIn(seed, _bit(IShipmentEscrow.State.Disputed));
        uint256 endsAt = uint256(escrow.shipment(id).disputedAt) + escrow.ARBITRATION_PERIOD();
        if (block.timestamp < endsAt) vm.warp(endsAt);
        escrow.settleDispute(id);
        released += escrow.shipment(id).amount;
        ++settlements[id];
    }

    function withdraw(uint256 seed) external {
        address[] memory who = actors();
        address account = who[seed % who.length];
        for (uint256 i = 0; i < who.length && escrow.owed(account, address(token)) == 0; ++i) {
            account = who[(seed + i) % who.length];
        }
        uint256 amount = escrow.owed(account, address(token));
        vm.prank(account);
        escrow.withdraw(address(token));
        withdrawn += amount;
    }

    // ------------------------------------------------------------ attacks (must change nothing)

    /// A stranger, or a party in the wrong role, tries each party's and the admin's actions.
    function intrude(uint256 seed, uint8 action, bool stranger) external {
        bytes32 id = _pickIn(seed, _ACTIVE | _bit(IShipmentEscrow.State.Created));
        IShipmentEscrow.Shipment memory s = escrow.shipment(id);
        action %= 7;
        // A wrong party: the supplier or the carrier for the buyer's, the oracle's and the admin's
        // actions; for a hand-over to itself, a party that is not the custodian. Withdrawal: a
        // stranger only (a party may rightly be owed money).
        address actor = stranger || action == 6 ? _STRANGER : (action % 2 == 0 ? s.supplier : s.carrier);
        if (!stranger && action == 2 && s.custodian == s.carrier) actor = s.supplier;
        bytes32 before = _fingerprint(id);
        bool ok;
        vm.prank(actor);
        if (action == 0) {
            try escrow.fund(id) {ok = true;} catch {}
        } else if (action == 1) {
            try escrow.confirmDelivery(id) {ok = true;} catch {}
        } else if (action == 2) {
            // Hands custody to itself, with a consent it signed itself (it has no key of the custodian).
            try escrow.handOver(id, actor, uint64(block.timestamp + 1 hours), new bytes(65)) {ok = true;} catch {}
        } else if (action == 3) {
            IShipmentEscrow.TelemetryBatch memory b = IShipmentEscrow.TelemetryBatch(
                keccak256(abi.encode(seed)), 1, uint64(block.timestamp), uint64(block.timestamp), 0, 0
            );
            try escrow.postTelemetry(id, b) {ok = true;} catch {}
        } else if (action == 4) {
            try escrow.setTokenApproved(address(feeToken), false) {ok = true;} catch {}
        } else if (action == 5) {
            try escrow.pause() {ok = true;} catch {}
        } else {
            try escrow.withdraw(address(token)) {ok = true;} catch {}
        }
        _judge(ok, before, id);
    }

    /// Disputes by the wrong hands: a non-buyer disputes; a party or a stranger resolves; the arbiter
    /// gives the buyer more than the amount; release of a disputed shipment; the fallback too early.
    function intrudeDispute(uint256 seed, uint8 action, uint256 toBuyer) external {
        bytes32 id = _pickIn(seed, _bit(IShipmentEscrow.State.Delivered) | _bit(IShipmentEscrow.State.Disputed));
        IShipmentEscrow.Shipment memory s = escrow.shipment(id);
        action %= 5;
        address[4] memory wrong = [s.supplier, s.carrier, _STRANGER, s.buyer];
        bytes32 before = _fingerprint(id);
        bool ok;
        if (action == 0) {
            vm.prank(wrong[seed % 3]); // never the buyer
            try escrow.dispute(id, "not mine to dispute", new string[](0)) {ok = true;} catch {}
        } else if (action == 1) {
            vm.prank(wrong[seed % 4]); // no arbiter
            try escrow.resolveDispute(id, toBuyer % (s.amount + 1)) {ok = true;} catch {}
        } else if (action == 2) {
            vm.prank(_arbiter);
            try escrow.resolveDispute(id, s.amount + 1 + toBuyer % 1e18) {ok = true;} catch {}
        } else if (action == 3) {
            if (s.state != IShipmentEscrow.State.Disputed) return;
            try escrow.release(id) {ok = true;} catch {}
        } else {
            if (s.state != IShipmentEscrow.State.Disputed) return;
            if (block.timestamp >= uint256(s.disputedAt) + escrow.ARBITRATION_PERIOD()) return;
            try escrow.settleDispute(id) {ok = true;} catch {}
        }
        _judge(ok, before, id);
    }

    /// A party of a live shipment is suspended and tries its action; then it is reinstated.
    function actWhileSuspended(uint256 seed) external {
        bytes32 id = _pickIn(seed, _bit(IShipmentEscrow.State.Created) | _bit(IShipmentEscrow.State.Funded) | _bit(IShipmentEscrow.State.InTransit));
        IShipmentEscrow.Shipment memory s = escrow.shipment(id);
        bool ok;
        bytes32 before;
        if (s.state == IShipmentEscrow.State.Created) {
            token.mint(s.buyer, s.amount);
            vm.prank(s.buyer);
            token.approve(address(escrow), s.amount);
            _suspend(s.buyer, false);
            before = _fingerprint(id);
            vm.prank(s.buyer);
            try escrow.fund(id) {ok = true;} catch {}
            _suspend(s.buyer, true);
        } else {
            // The next custodian is suspended; the current one hands over with its valid consent.
            address to = s.custodian == s.carrier ? s.buyer : s.carrier;
            uint64 deadline = uint64(block.timestamp + 1 hours);
            bytes memory consent = _sign(_keyOf(to), escrow.handoverDigest(id, s.custodian, to, s.custodySeq, deadline));
            _suspend(to, false);
            before = _fingerprint(id);
            vm.prank(s.custodian);
            try escrow.handOver(id, to, deadline, consent) {ok = true;} catch {}
            if (!ok && to == s.buyer && s.state == IShipmentEscrow.State.InTransit) {
                vm.prank(s.buyer); // the suspended buyer confirms delivery instead
                try escrow.confirmDelivery(id) {ok = true;} catch {}
            }
            _suspend(to, true);
        }
        _judge(ok, before, id);
    }

    /// A shipment in the fee-on-transfer token (which the consortium approved) is funded: refused.
    function fundInFeeToken(uint256 seed, uint256 amount) external {
        uint256 supplierKey = _supplierKeys[seed % _supplierKeys.length];
        address supplier = vm.addr(supplierKey);
        amount = 100 + amount % 1e15; // large enough for a fee of at least one unit
        address[] memory devices = new address[](1);
        devices[0] = vm.addr(_deviceKey);
        IShipmentEscrow.Manifest memory m = IShipmentEscrow.Manifest({
            shipmentId: keccak256(abi.encode("fee shipment", ids.length, seed)),
            itemsHash: keccak256(abi.encode(seed)),
            supplier: supplier,
            buyer: vm.addr(_buyerKeys[(seed >> 8) % _buyerKeys.length]),
            carrier: vm.addr(_carrierKeys[(seed >> 16) % _carrierKeys.length]),
            devices: devices,
            token: address(feeToken),
            amount: amount,
            penalty: 0,
            minTemp: 200,
            maxTemp: 800,
            deadline: uint64(block.timestamp + 1 days),
            disputeWindow: 0,
            nonce: escrow.nonces(supplier)
        });
        escrow.createShipment(m, _sign(supplierKey, escrow.manifestDigest(m)));
        ids.push(m.shipmentId);
        feeToken.mint(m.buyer, amount);
        vm.prank(m.buyer);
        feeToken.approve(address(escrow), amount);
        bytes32 before = _fingerprint(m.shipmentId);
        bool ok;
        vm.prank(m.buyer);
        try escrow.fund(m.shipmentId) {ok = true;} catch {}
        _judge(ok, before, m.shipmentId);
    }

    /// The other settlement path after one settled: refund after delivery or release, release after
    /// refund or cancellation, or the same path twice.
    function settleAgain(uint256 seed, bool viaRefund) external {
        uint256 settled = _bit(IShipmentEscrow.State.Delivered) | _bit(IShipmentEscrow.State.Released)
            | _bit(IShipmentEscrow.State.Refunded) | _bit(IShipmentEscrow.State.Cancelled)
            | _bit(IShipmentEscrow.State.Disputed) | _bit(IShipmentEscrow.State.Resolved);
        bytes32 id = _pickIn(seed, settled);
        IShipmentEscrow.Shipment memory s = escrow.shipment(id);
        if (block.timestamp <= s.deadline) vm.warp(uint256(s.deadline) + 1); // refund's own condition met
        if (s.state == IShipmentEscrow.State.Delivered) {
            // Delivered is not settled yet: only refund must fail (release is the rightful path).
            viaRefund = true;
        }
        // Disputed (awaiting its resolution) and Resolved: neither refund nor release may pay again.
        bytes32 before = _fingerprint(id);
        bool ok;
        if (viaRefund) {
            try escrow.refund(id) {ok = true;} catch {}
        } else {
            try escrow.release(id) {ok = true;} catch {}
        }
        _judge(ok, before, id);
    }

    function warp(uint32 by) external {
        vm.warp(block.timestamp + 1 + by % 2 days);
    }

    // ------------------------------------------------------------ views for the invariants

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function actors() public view returns (address[] memory all) {
        uint256 n = _supplierKeys.length + _buyerKeys.length + _carrierKeys.length;
        all = new address[](n);
        uint256 k;
        for (uint256 i = 0; i < _supplierKeys.length; ++i) all[k++] = vm.addr(_supplierKeys[i]);
        for (uint256 i = 0; i < _buyerKeys.length; ++i) all[k++] = vm.addr(_buyerKeys[i]);
        for (uint256 i = 0; i < _carrierKeys.length; ++i) all[k++] = vm.addr(_carrierKeys[i]);
    }

    // ------------------------------------------------------------ helpers

    function _suspend(address account, bool active) private {
        vm.prank(_admin);
        _registry.setPartnerActive(account, active);
    }

    /// @dev Everything an attack on shipment `id` could change: the shipment, the escrow's balances
    /// in both tokens, what anyone is owed, the pause and the token approvals.
    function _fingerprint(bytes32 id) private view returns (bytes32) {
        address[] memory who = actors();
        uint256[] memory owed = new uint256[](who.length);
        for (uint256 i = 0; i < who.length; ++i) owed[i] = escrow.owed(who[i], address(token));
        return keccak256(
            abi.encode(
                escrow.shipment(id),
                token.balanceOf(address(escrow)),
                feeToken.balanceOf(address(escrow)),
                owed,
                escrow.paused(),
                escrow.isTokenApproved(address(token)),
                escrow.isTokenApproved(address(feeToken))
            )
        );
    }

    function _judge(bool succeeded, bytes32 before, bytes32 id) private {
        ++attacks;
        if (succeeded || _fingerprint(id) != before) ++violations;
    }

    uint256 private constant _ACTIVE = (1 << uint8(IShipmentEscrow.State.Funded))
        | (1 << uint8(IShipmentEscrow.State.InTransit)) | (1 << uint8(IShipmentEscrow.State.Delivered));

    function _bit(IShipmentEscrow.State state) private pure returns (uint256) {
        return 1 << uint8(state);
    }

    /// @dev A shipment in one of `states` (a bitmap), searched from a random start, so that most
    /// calls act instead of reverting on a wrong state.
    function _pickIn(uint256 seed, uint256 states) private view returns (bytes32) {
        uint256 n = ids.length;
        for (uint256 i = 0; i < n; ++i) {
            bytes32 id = ids[(seed + i) % n];
            if (_bit(escrow.shipment(id).state) & states != 0) return id;
        }
        revert();
    }

    function _keyOf(address account) private view returns (uint256) {
        for (uint256 i = 0; i < _supplierKeys.length; ++i) if (vm.addr(_supplierKeys[i]) == account) return _supplierKeys[i];
        for (uint256 i = 0; i < _buyerKeys.length; ++i) if (vm.addr(_buyerKeys[i]) == account) return _buyerKeys[i];
        for (uint256 i = 0; i < _carrierKeys.length; ++i) if (vm.addr(_carrierKeys[i]) == account) return _carrierKeys[i];
        revert();
    }

    function _temp(int32 t) private pure returns (int32) {
        return int32(t % 1000) + 500; // -499 .. 1499 centi-°C around the 200 .. 800 band
    }

    function _sign(uint256 key, bytes32 digest) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _leaf(IShipmentEscrow.Reading memory r) private view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                escrow.READING_TYPEHASH(),
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
        return keccak256(bytes.concat(structHash));
    }

    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }
}
