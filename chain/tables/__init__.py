"""Every table in the database, each declared once, beside the migrations that create it.

One module per owner; the owner writes the tables, anyone may read them (``api/`` reads the
oracles' tables through these same classes):

- `chain.tables.readmodel`: what the contracts emitted, written by the indexer (0001).
- `chain.tables.outbox`: the transaction outbox of the sender (0002).
- `chain.tables.telemetry`: the telemetry oracle's readings, batches and breaches (0003, 0007).
- `chain.tables.shipments`: the shipment oracle's milestones, webhooks and deliveries (0003, 0005).
- `chain.tables.epcis`: the API's EPCIS event store (0004).
- `chain.tables.auth`: the API's sign-in nonces (0006).
- `chain.tables.items`: the ledger asset IDs each shipment sells, from its relayed manifest (0008).
- `chain.tables.disputes`: shipments' disputes and their ends, written by the indexer (0009).

The migrations in ``chain/migrations/versions`` create them, never ``create_all``;
``tests/chain/tables/test_schema.py`` checks that the two agree. Importing this package puts every
table on ``chain.db.Base.metadata``.
"""

from chain.tables import auth, disputes, epcis, items, outbox, readmodel, shipments, telemetry

__all__ = ["auth", "disputes", "epcis", "items", "outbox", "readmodel", "shipments", "telemetry"]
