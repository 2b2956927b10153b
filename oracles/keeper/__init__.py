"""The keeper: settles shipments on time (release after the dispute window, refund after the deadline)."""
