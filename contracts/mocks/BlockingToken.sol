// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title BlockingToken
/// @notice An ERC-20 that refuses transfers to blocked recipients (as a sanctions list or a
/// frozen account would), to show that one failing payee cannot block the others. Tests only.
contract BlockingToken is ERC20 {
    mapping(address account => bool) private _blocked;

    error BlockingTokenRecipientBlocked(address to);

    constructor() ERC20("Blocking Token", "BLOCK") {}

    /// @notice Mints `amount` to `to`. Anyone may call it: this is a test token.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Blocks or unblocks transfers to `account`. Anyone may call it: this is a test token.
    function setBlocked(address account, bool blocked) external {
        _blocked[account] = blocked;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (_blocked[to]) revert BlockingTokenRecipientBlocked(to);
        super._update(from, to, value);
    }
}
