"""Shipment (carrier) oracle: carrier webhooks and geofence arrivals become EPCIS ObjectEvents,
ledger anchors and the escrow's confirmDelivery (see service.py, milestones.py, webhooks.py)."""
