// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IShipmentEscrow} from "../interfaces/IShipmentEscrow.sol";

/// @notice Test stand-in for ShipmentEscrow's `shipment` view, whose shipments a test sets in any
/// state (Resolved included), for the ledger's settleOwnership tests.
contract SettledShipments {
    mapping(bytes32 => IShipmentEscrow.Shipment) private _shipments;

    function set(bytes32 id, IShipmentEscrow.State state, address supplier, address buyer, bytes32 itemsHash)
        external
    {
        IShipmentEscrow.Shipment storage s = _shipments[id];
        s.state = state;
        s.supplier = supplier;
        s.buyer = buyer;
        s.itemsHash = itemsHash;
    }

    function shipment(bytes32 id) external view returns (IShipmentEscrow.Shipment memory) {
        return _shipments[id];
    }
}
