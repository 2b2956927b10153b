// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {HookToken, ITokenRecipient} from "./HookToken.sol";

/// @title ReentrantPayee
/// @notice A payee contract (it can be a shipment's buyer) that, when tokens arrive, re-enters a
/// target with a stored call and bubbles up any revert. Tests only.
contract ReentrantPayee is ITokenRecipient {
    address private _target;
    bytes private _reentry;

    /// @notice Performs an arbitrary call as this contract (to approve, fund, withdraw).
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        return _call(target, data);
    }

    /// @notice Arms the re-entry: on the next receipt of tokens, call `target` with `data`.
    function arm(address target, bytes calldata data) external {
        _target = target;
        _reentry = data;
    }

    /// @notice Disarms the re-entry.
    function disarm() external {
        delete _target;
        delete _reentry;
    }

    /// @notice Opts in to the HookToken receive hook.
    function hook(HookToken token) external {
        token.setHook(true);
    }

    /// @inheritdoc ITokenRecipient
    function onTokenReceived(address, uint256) external {
        if (_target != address(0)) _call(_target, _reentry);
    }

    function _call(address target, bytes memory data) private returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return ret;
    }
}
