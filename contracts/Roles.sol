// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Consortium roles, held in the PartnerRegistry.
library Roles {
    bytes32 internal constant SUPPLIER = keccak256("SUPPLIER_ROLE");
    bytes32 internal constant CARRIER = keccak256("CARRIER_ROLE");
    bytes32 internal constant RETAILER = keccak256("RETAILER_ROLE");
    bytes32 internal constant AUDITOR = keccak256("AUDITOR_ROLE");
    /// Telemetry and shipment oracles (consortium service accounts).
    bytes32 internal constant ORACLE = keccak256("ORACLE_ROLE");
    /// The API's relayer that submits partner-signed payloads (consortium service account).
    bytes32 internal constant RELAYER = keccak256("RELAYER_ROLE");
    /// May write to the traceability ledger: partners that record EPCIS events, and the relayer.
    bytes32 internal constant RECORDER = keccak256("RECORDER_ROLE");
    /// Consortium arbiters: decide the split of a disputed shipment's escrow (never for their own).
    bytes32 internal constant ARBITER = keccak256("ARBITER_ROLE");
}
