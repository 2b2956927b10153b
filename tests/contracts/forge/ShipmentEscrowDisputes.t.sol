// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IShipmentEscrow} from "../../../contracts/interfaces/IShipmentEscrow.sol";
import {PartnerRegistry} from "../../../contracts/PartnerRegistry.sol";
import {ShipmentEscrow} from "../../../contracts/ShipmentEscrow.sol";
import {TestToken} from "../../../contracts/mocks/TestToken.sol";
import {ForgeTest} from "./Vm.sol";

/// @title Disputes (docs/disputes.md): each rule and refusal with its exact custom error, fuzzed where
/// an amount or a time is the input; every credit conserves the escrowed amount.
contract ShipmentEscrowDisputesTest is ForgeTest {
    error WrongRevert(bytes expected, bytes actual);
    error Unexpected(string what);

    bytes32 private constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    uint256 private constant SUPPLIER_KEY = 0x5001;
    uint256 private constant BUYER_KEY = 0xb001;
    uint256 private constant CARRIER_KEY = 0xc001;
    uint256 private constant AMOUNT = 1_000e6;
    uint64 private constant WINDOW = 2 days;

    PartnerRegistry private registry;
    ShipmentEscrow private escrow;
    TestToken private token;
    address private supplier;
    address private buyer;
    address private carrier;
    address private arbiter = address(0xA4B1);
    uint256 private created;

    function setUp() public {
        registry = new PartnerRegistry(1 days, address(this));
        escrow = new ShipmentEscrow(address(registry));
        token = new TestToken("Test USD", "TUSD");
        escrow.setTokenApproved(address(token), true);
        supplier = vm.addr(SUPPLIER_KEY);
        buyer = vm.addr(BUYER_KEY);
        carrier = vm.addr(CARRIER_KEY);
        _admit(supplier, keccak256("SUPPLIER_ROLE"));
        _admit(buyer, keccak256("RETAILER_ROLE"));
        _admit(carrier, keccak256("CARRIER_ROLE"));
        _admit(arbiter, ARBITER_ROLE);
    }

    // ------------------------------------------------------------ dispute

    function test_dispute_by_buyer_stores_disputedAt_and_blocks_release() public {
        bytes32 id = _delivered(0);
        vm.prank(buyer);
        escrow.dispute(id, "warm", new string[](0));
        IShipmentEscrow.Shipment memory s = escrow.shipment(id);
        if (s.state != IShipmentEscrow.State.Disputed || s.disputedAt != block.timestamp) revert Unexpected("state");
        vm.warp(block.timestamp + WINDOW);
        _expect(
            abi.encodeWithSelector(
                IShipmentEscrow.ShipmentUnexpectedState.selector,
                id,
                IShipmentEscrow.State.Disputed,
                bytes32(uint256(1 << uint8(IShipmentEscrow.State.Delivered)))
            ),
            address(escrow),
            abi.encodeCall(escrow.release, (id))
        );
    }

    function test_dispute_by_non_buyer_reverts() public {
        bytes32 id = _delivered(0);
        address[3] memory wrong = [supplier, carrier, arbiter];
        for (uint256 i = 0; i < 3; ++i) {
            vm.prank(wrong[i]);
            _expect(
                abi.encodeWithSelector(IShipmentEscrow.ShipmentUnauthorized.selector, id, wrong[i]),
                address(escrow),
                abi.encodeCall(escrow.dispute, (id, "warm", new string[](0)))
            );
        }
    }

    function testFuzz_dispute_window_is_half_open(uint64 after_) public {
        bytes32 id = _delivered(0);
        uint256 endsAt = block.timestamp + WINDOW;
        vm.warp(block.timestamp + after_ % (2 * WINDOW));
        vm.prank(buyer);
        if (block.timestamp < endsAt) {
            escrow.dispute(id, "warm", new string[](0));
        } else {
            _expect(
                abi.encodeWithSelector(IShipmentEscrow.ShipmentDisputeWindowClosed.selector, id, endsAt),
                address(escrow),
                abi.encodeCall(escrow.dispute, (id, "warm", new string[](0)))
            );
        }
    }

    function test_dispute_bounds_revert() public {
        bytes32 id = _delivered(0);
        vm.prank(buyer);
        _expect(
            abi.encodeWithSelector(IShipmentEscrow.ShipmentInvalidDisputeReason.selector, id, 0),
            address(escrow),
            abi.encodeCall(escrow.dispute, (id, "", new string[](0)))
        );
        vm.prank(buyer);
        _expect(
            abi.encodeWithSelector(IShipmentEscrow.ShipmentTooMuchEvidence.selector, id, 17),
            address(escrow),
            abi.encodeCall(escrow.dispute, (id, "warm", new string[](17)))
        );
        vm.prank(buyer); // 16 references, all empty: the first is refused
        _expect(
            abi.encodeWithSelector(IShipmentEscrow.ShipmentInvalidDisputeEvidence.selector, id, 0, 0),
            address(escrow),
            abi.encodeCall(escrow.dispute, (id, "warm", new string[](16)))
        );
    }

    // ------------------------------------------------------------ resolveDispute

    function testFuzz_resolve_splits_and_conserves(uint256 toBuyer) public {
        bytes32 id = _disputed();
        toBuyer %= AMOUNT + 1;
        vm.prank(arbiter);
        escrow.resolveDispute(id, toBuyer);
        uint256 toSupplier = escrow.owed(supplier, address(token));
        uint256 buyerShare = escrow.owed(buyer, address(token));
        if (buyerShare != toBuyer || toSupplier + buyerShare != AMOUNT) revert Unexpected("split");
        if (token.balanceOf(address(escrow)) != AMOUNT) revert Unexpected("balance");
    }

    function testFuzz_resolve_above_amount_reverts(uint256 excess) public {
        bytes32 id = _disputed();
        uint256 toBuyer = AMOUNT + 1 + excess % type(uint128).max;
        vm.prank(arbiter);
        _expect(
            abi.encodeWithSelector(IShipmentEscrow.ShipmentInvalidSplit.selector, id, toBuyer, AMOUNT),
            address(escrow),
            abi.encodeCall(escrow.resolveDispute, (id, toBuyer))
        );
    }

    function test_resolve_by_non_arbiter_or_party_reverts() public {
        bytes32 id = _disputed();
        vm.prank(address(0xBAD));
        _expect(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(0xBAD), ARBITER_ROLE
            ),
            address(escrow),
            abi.encodeCall(escrow.resolveDispute, (id, 0))
        );
        address[3] memory parties = [supplier, buyer, carrier];
        for (uint256 i = 0; i < 3; ++i) {
            registry.grantRole(ARBITER_ROLE, parties[i]);
            vm.prank(parties[i]);
            _expect(
                abi.encodeWithSelector(IShipmentEscrow.ShipmentArbiterIsParty.selector, id, parties[i]),
                address(escrow),
                abi.encodeCall(escrow.resolveDispute, (id, AMOUNT))
            );
        }
    }

    // ------------------------------------------------------------ the arbitration bound and the fallback

    function testFuzz_arbitration_bound_decides_who_settles(uint64 after_) public {
        bytes32 id = _disputed();
        uint256 endsAt = block.timestamp + escrow.ARBITRATION_PERIOD();
        vm.warp(block.timestamp + after_ % (2 * escrow.ARBITRATION_PERIOD()));
        if (block.timestamp < endsAt) {
            _expect(
                abi.encodeWithSelector(IShipmentEscrow.ShipmentArbitrationOpen.selector, id, endsAt),
                address(escrow),
                abi.encodeCall(escrow.settleDispute, (id))
            );
            vm.prank(arbiter);
            escrow.resolveDispute(id, 1);
        } else {
            vm.prank(arbiter);
            _expect(
                abi.encodeWithSelector(IShipmentEscrow.ShipmentArbitrationClosed.selector, id, endsAt),
                address(escrow),
                abi.encodeCall(escrow.resolveDispute, (id, 1))
            );
            escrow.settleDispute(id); // anyone: this test contract
            if (escrow.owed(supplier, address(token)) != AMOUNT) revert Unexpected("fallback"); // no breach
        }
        if (escrow.shipment(id).state != IShipmentEscrow.State.Resolved) revert Unexpected("state");
    }

    // ------------------------------------------------------------ helpers

    function _expect(bytes memory expected, address target, bytes memory call) private {
        (bool ok, bytes memory actual) = target.call(call);
        if (ok || keccak256(actual) != keccak256(expected)) revert WrongRevert(expected, actual);
    }

    function _admit(address account, bytes32 role) private {
        bytes32[] memory roles = new bytes32[](1);
        roles[0] = role;
        registry.admitPartner(account, "partner", new string[](0), roles);
    }

    /// A funded shipment the supplier handed straight to the buyer (with its consent): Delivered now.
    function _delivered(uint256 seed) private returns (bytes32 id) {
        address[] memory devices = new address[](1);
        devices[0] = address(0xD1);
        IShipmentEscrow.Manifest memory m = IShipmentEscrow.Manifest({
            shipmentId: keccak256(abi.encode("dispute", created++, seed)),
            itemsHash: bytes32(0),
            supplier: supplier,
            buyer: buyer,
            carrier: carrier,
            devices: devices,
            token: address(token),
            amount: AMOUNT,
            penalty: AMOUNT / 10,
            minTemp: 200,
            maxTemp: 800,
            deadline: uint64(block.timestamp + 7 days),
            disputeWindow: WINDOW,
            nonce: escrow.nonces(supplier)
        });
        id = m.shipmentId;
        escrow.createShipment(m, _sign(SUPPLIER_KEY, escrow.manifestDigest(m)));
        token.mint(buyer, AMOUNT);
        vm.prank(buyer);
        token.approve(address(escrow), AMOUNT);
        vm.prank(buyer);
        escrow.fund(id);
        uint64 until = uint64(block.timestamp + 1 hours);
        bytes memory consent = _sign(BUYER_KEY, escrow.handoverDigest(id, supplier, buyer, 0, until));
        vm.prank(supplier);
        escrow.handOver(id, buyer, until, consent);
    }

    function _disputed() private returns (bytes32 id) {
        id = _delivered(1);
        string[] memory evidence = new string[](1);
        evidence[0] = "ipfs://photos";
        vm.prank(buyer);
        escrow.dispute(id, "warm", evidence);
    }

    function _sign(uint256 key, bytes32 digest) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
