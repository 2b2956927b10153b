// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IShipmentEscrow} from "../../../contracts/interfaces/IShipmentEscrow.sol";
import {ITraceabilityLedger} from "../../../contracts/interfaces/ITraceabilityLedger.sol";
import {PartnerRegistry} from "../../../contracts/PartnerRegistry.sol";
import {TraceabilityLedger} from "../../../contracts/TraceabilityLedger.sol";
import {SettledShipments} from "../../../contracts/mocks/SettledShipments.sol";
import {ForgeTest} from "./Vm.sol";

/// @title settleOwnership over any shipment state, item list and prior ownership (fuzzed): title
/// passes only for a Released or Resolved shipment and its signed list, only what the supplier
/// still owns, once.
contract TraceabilityLedgerSettlementTest is ForgeTest {
    error Unexpected(string what);

    PartnerRegistry private registry;
    SettledShipments private shipments;
    TraceabilityLedger private ledger;
    address private supplier = vm.addr(0x5001);
    address private buyer = vm.addr(0xb001);
    address private other = vm.addr(0x0001);

    function setUp() public {
        registry = new PartnerRegistry(1 days, address(this));
        shipments = new SettledShipments();
        ledger = new TraceabilityLedger(address(registry), address(shipments));
        string[] memory prefixes = new string[](1);
        prefixes[0] = "4012345";
        bytes32[] memory roles = new bytes32[](1);
        roles[0] = keccak256("SUPPLIER_ROLE");
        registry.admitPartner(supplier, "supplier", prefixes, roles);
    }

    function testFuzz_settleOwnership(uint8 stateRaw, uint8 count, uint8 soldMask, bool tamper)
        public
    {
        IShipmentEscrow.State state = IShipmentEscrow.State(stateRaw % 10);
        uint256 n = uint256(count % 8) + 1;
        bytes32[] memory ids = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            vm.prank(supplier);
            ids[i] = ledger.registerAsset(
                string.concat("https://id.gs1.org/01/04012345000010/21/S", _digit(i)), bytes32(0)
            );
            if (soldMask & (1 << i) != 0) {
                vm.prank(supplier);
                ledger.offerOwnership(ids[i], other);
                vm.prank(other);
                ledger.acceptOwnership(ids[i]);
            }
        }
        bytes32 signed = keccak256(abi.encode(ids));
        bytes32 sid = keccak256("shipment");
        shipments.set(sid, state, supplier, buyer, tamper ? keccak256("another list") : signed);
        bool settled = state == IShipmentEscrow.State.Released || state == IShipmentEscrow.State.Resolved;

        try ledger.settleOwnership(sid, ids) {
            if (!settled || tamper) revert Unexpected("settled without payment or with another list");
        } catch (bytes memory reason) {
            bytes4 selector = bytes4(reason);
            if (!settled) {
                if (selector != ITraceabilityLedger.LedgerShipmentNotSettled.selector) revert Unexpected("error");
            } else if (!tamper || selector != ITraceabilityLedger.LedgerShipmentItemsMismatch.selector) {
                revert Unexpected("refused a settled shipment's signed list");
            }
        }
        bool passed = settled && !tamper;
        for (uint256 i = 0; i < n; ++i) {
            address expected = soldMask & (1 << i) != 0 ? other : (passed ? buyer : supplier);
            if (ledger.asset(ids[i]).owner != expected) revert Unexpected("owner");
        }
        if (ledger.isOwnershipSettled(sid) != passed) revert Unexpected("settled flag");
        if (passed) {
            try ledger.settleOwnership(sid, ids) {
                revert Unexpected("settled twice");
            } catch (bytes memory reason) {
                if (bytes4(reason) != ITraceabilityLedger.LedgerOwnershipAlreadySettled.selector) {
                    revert Unexpected("repeat error");
                }
            }
        }
    }

    function _digit(uint256 i) private pure returns (string memory) {
        return string(abi.encodePacked(bytes1(uint8(48 + i))));
    }
}
