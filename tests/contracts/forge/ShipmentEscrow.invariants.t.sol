// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IShipmentEscrow} from "../../../contracts/interfaces/IShipmentEscrow.sol";
import {PartnerRegistry} from "../../../contracts/PartnerRegistry.sol";
import {ShipmentEscrow} from "../../../contracts/ShipmentEscrow.sol";
import {FeeOnTransferToken} from "../../../contracts/mocks/FeeOnTransferToken.sol";
import {TestToken} from "../../../contracts/mocks/TestToken.sol";
import {ForgeTest} from "./Vm.sol";
import {ShipmentEscrowHandler} from "./ShipmentEscrowHandler.sol";

/// @title Escrow invariants (RELIABILITY 6) under random action sequences of the handler.
contract ShipmentEscrowInvariants is ForgeTest {
    error BalanceNotOwed(uint256 balance, uint256 held, uint256 owed);
    error SettledTwice(bytes32 id, uint256 settlements);
    error PaidOutMoreThanDeposited(uint256 released, uint256 refunded, uint256 deposited);
    error CreditsNotConserved(uint256 credited, uint256 withdrawn, uint256 owed);
    error PenaltyOverAmount(bytes32 id, uint256 penalties, uint256 amount);
    error BuyerHoldsGoods(bytes32 id, IShipmentEscrow.State state);
    error AttackSucceeded(uint256 violations, uint256 attacks);
    error FeeTokenCredited(uint256 balance);

    ShipmentEscrow private escrow;
    TestToken private token;
    FeeOnTransferToken private feeToken;
    ShipmentEscrowHandler private handler;

    function setUp() public {
        PartnerRegistry registry = new PartnerRegistry(1 days, address(this));
        escrow = new ShipmentEscrow(address(registry));
        token = new TestToken("Test USD", "TUSD");
        feeToken = new FeeOnTransferToken(100); // 1% per transfer
        escrow.setTokenApproved(address(token), true);
        escrow.setTokenApproved(address(feeToken), true); // approved, yet funding in it must fail

        uint256[] memory suppliers = _keys(0x5000, 2);
        uint256[] memory buyers = _keys(0xb000, 2);
        uint256[] memory carriers = _keys(0xc000, 2);
        _admit(registry, suppliers, keccak256("SUPPLIER_ROLE"));
        _admit(registry, buyers, keccak256("RETAILER_ROLE"));
        _admit(registry, carriers, keccak256("CARRIER_ROLE"));
        uint256 deviceKey = 0xd0d0;
        registry.registerDevice(vm.addr(deviceKey), vm.addr(carriers[0]));
        address oracle = vm.addr(0x0a0a);
        registry.grantRole(keccak256("ORACLE_ROLE"), oracle);
        address arbiter = vm.addr(0xa4b1);
        registry.grantRole(keccak256("ARBITER_ROLE"), arbiter);

        handler = new ShipmentEscrowHandler(
            escrow, token, suppliers, buyers, carriers, deviceKey, oracle, registry, address(this), feeToken, arbiter
        );
        bytes4[] memory selectors = new bytes4[](20);
        selectors[0] = ShipmentEscrowHandler.create.selector;
        selectors[1] = ShipmentEscrowHandler.fund.selector;
        selectors[2] = ShipmentEscrowHandler.handOver.selector;
        selectors[3] = ShipmentEscrowHandler.postTelemetry.selector;
        selectors[4] = ShipmentEscrowHandler.proveBreach.selector;
        selectors[5] = ShipmentEscrowHandler.deliver.selector;
        selectors[6] = ShipmentEscrowHandler.release.selector;
        selectors[7] = ShipmentEscrowHandler.refund.selector;
        selectors[8] = ShipmentEscrowHandler.withdraw.selector;
        selectors[9] = ShipmentEscrowHandler.warp.selector;
        selectors[10] = ShipmentEscrowHandler.create.selector; // shipments twice as often
        selectors[11] = ShipmentEscrowHandler.intrude.selector;
        selectors[12] = ShipmentEscrowHandler.actWhileSuspended.selector;
        selectors[13] = ShipmentEscrowHandler.fundInFeeToken.selector;
        selectors[14] = ShipmentEscrowHandler.settleAgain.selector;
        selectors[15] = ShipmentEscrowHandler.settleAgain.selector; // cross-path settlement twice as often
        selectors[16] = ShipmentEscrowHandler.dispute.selector;
        selectors[17] = ShipmentEscrowHandler.resolve.selector;
        selectors[18] = ShipmentEscrowHandler.settleDispute.selector;
        selectors[19] = ShipmentEscrowHandler.intrudeDispute.selector;
        _targetSelectors(address(handler), selectors);
    }

    /// The escrow holds exactly what it owes: deposits of open shipments plus unpaid credits.
    function invariant_balanceEqualsOwed() public view {
        uint256 held;
        for (uint256 i = 0; i < handler.idCount(); ++i) {
            IShipmentEscrow.Shipment memory s = escrow.shipment(handler.ids(i));
            if (s.token != address(token)) continue;
            if (
                s.state == IShipmentEscrow.State.Funded || s.state == IShipmentEscrow.State.InTransit
                    || s.state == IShipmentEscrow.State.Delivered || s.state == IShipmentEscrow.State.Disputed
            ) held += s.amount;
        }
        uint256 owed = _owedTotal();
        uint256 balance = token.balanceOf(address(escrow));
        if (balance != held + owed) revert BalanceNotOwed(balance, held, owed);
    }

    /// No shipment is released, refunded or resolved (by an arbiter or the fallback) more than once, and penalties never exceed the amount.
    function invariant_nothingSettledTwice() public view {
        for (uint256 i = 0; i < handler.idCount(); ++i) {
            bytes32 id = handler.ids(i);
            uint256 n = handler.settlements(id);
            if (n > 1) revert SettledTwice(id, n);
            IShipmentEscrow.Shipment memory s = escrow.shipment(id);
            if (s.penalties > s.amount) revert PenaltyOverAmount(id, s.penalties, s.amount);
        }
    }

    /// Released (dispute splits included) + refunded never exceed deposits; every credit is either still owed or withdrawn.
    function invariant_paidOutWithinDeposits() public view {
        uint256 released = handler.released();
        uint256 refunded = handler.refunded();
        uint256 deposited = handler.deposited();
        if (released + refunded > deposited) revert PaidOutMoreThanDeposited(released, refunded, deposited);
        uint256 owed = _owedTotal();
        if (released + refunded != handler.withdrawn() + owed) {
            revert CreditsNotConserved(released + refunded, handler.withdrawn(), owed);
        }
    }

    /// Goods handed to the buyer are delivered: such a shipment is never refunded nor left in transit.
    function invariant_buyerHoldingGoodsIsNeverRefunded() public view {
        for (uint256 i = 0; i < handler.idCount(); ++i) {
            bytes32 id = handler.ids(i);
            IShipmentEscrow.Shipment memory s = escrow.shipment(id);
            if (
                s.custodian == s.buyer
                    && (s.state == IShipmentEscrow.State.Refunded || s.state == IShipmentEscrow.State.InTransit)
            ) revert BuyerHoldsGoods(id, s.state);
        }
    }

    /// Unauthorised actors, suspended parties, fee-on-transfer funding and second settlements by the
    /// other path (refund after delivery or release, release after refund) never succeed nor change
    /// anything: balances, shipments, credits, the pause, the approvals.
    function invariant_attacksChangeNothing() public view {
        if (handler.violations() != 0) revert AttackSucceeded(handler.violations(), handler.attacks());
    }

    /// The fee-on-transfer token never ends up credited: nothing of it is held or owed.
    function invariant_feeTokenNeverCredited() public view {
        uint256 balance = feeToken.balanceOf(address(escrow));
        if (balance != 0) revert FeeTokenCredited(balance);
    }

    function _owedTotal() private view returns (uint256 total) {
        address[] memory actors = handler.actors();
        for (uint256 i = 0; i < actors.length; ++i) {
            total += escrow.owed(actors[i], address(token));
        }
    }

    function _keys(uint256 base, uint256 n) private pure returns (uint256[] memory keys) {
        keys = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) keys[i] = base + i;
    }

    function _admit(PartnerRegistry registry, uint256[] memory keys, bytes32 role) private {
        bytes32[] memory roles = new bytes32[](1);
        roles[0] = role;
        for (uint256 i = 0; i < keys.length; ++i) {
            registry.admitPartner(vm.addr(keys[i]), "partner", new string[](0), roles);
        }
    }
}
