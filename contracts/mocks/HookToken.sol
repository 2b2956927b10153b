// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice What a HookToken recipient implements to be told of incoming tokens.
interface ITokenRecipient {
    function onTokenReceived(address from, uint256 amount) external;
}

/// @title HookToken
/// @notice An ERC-20 that calls `onTokenReceived` on recipients that opted in (ERC-777 style), so a
/// malicious payee gets control in the middle of the escrow's transfer. Tests only.
contract HookToken is ERC20 {
    mapping(address account => bool) private _hooked;

    constructor() ERC20("Hook Token", "HOOK") {}

    /// @notice Mints `amount` to `to`. Anyone may call it: this is a test token.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Opts the caller in or out of the receive hook.
    function setHook(bool on) external {
        _hooked[msg.sender] = on;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (_hooked[to]) ITokenRecipient(to).onTokenReceived(from, value);
    }
}
