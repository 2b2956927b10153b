// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken
/// @notice An ERC-20 that burns a fee (in basis points) from every transfer, so the recipient gets
/// less than was sent (as some deflationary tokens do), to show that the escrow credits only what
/// arrived. Tests only.
contract FeeOnTransferToken is ERC20 {
    uint256 private immutable _feeBps;

    constructor(uint256 feeBps) ERC20("Fee Token", "FEE") {
        _feeBps = feeBps;
    }

    /// @notice Mints `amount` to `to`. Anyone may call it: this is a test token.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = value * _feeBps / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}
