"""The ledger relay: what the API needs of TraceabilityLedger to act for a partner without its key.

* **The service** (:mod:`api.ledger.service`): register items and lots, transform, aggregate and
  disaggregate, recall, offer and accept ownership. The ledger checks ``msg.sender`` (brand owner,
  owner, the account offered), so the partner signs its own transaction; the API checks it is
  exactly the route's call, from the signed-in partner, on this chain, that the partner has the
  authority the ledger will ask for, simulates it and only then relays the raw bytes unchanged.
* **Items** (:mod:`api.ledger.items`): an asset's ledger record, for the partners who may read it.
* **Schemas** (:mod:`api.ledger.models`); ``api.routes.ledger`` only parses, calls and shapes.
"""
