"""Shipment (carrier) oracle: webhooks, geofence arrival. Only its tables exist so far (store.py)."""
