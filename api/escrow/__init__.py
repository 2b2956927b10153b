"""The escrow relay: what the API needs of ShipmentEscrow to act for a partner without its key.

* **Who sees a shipment** (:mod:`api.escrow.visibility`): its supplier, buyer and carrier, its
  current custodian, and auditors; to anyone else it does not exist (404).
* **EIP-712 signatures** (:mod:`api.escrow.signatures`: manifests, custody consents) are recovered
  exactly as the contract's OpenZeppelin ``ECDSA.recover`` would: 65 bytes, v in {27, 28}, low s.
* **Partner-signed transactions** (:mod:`api.escrow.transactions`). ``fund`` and ``confirmDelivery``
  must come from the buyer and ``handOver`` from the current or the next custodian (``msg.sender``
  checks), so the API cannot send them from its relayer. The partner signs the transaction with its
  own wallet; the API decodes it, checks that it is exactly the expected call, from the signed-in
  partner, on this chain, simulates it, and only then broadcasts the raw bytes unchanged
  (:mod:`chain.relay`) and reports the receipt.
* **The service** (:mod:`api.escrow.service`): those checks for each action, on the shipment as it is
  on chain now; ``api.routes.escrow`` only parses, calls it and shapes the answer.
"""
