"""Mosquitto configuration for device traffic (used by `make run` and the tests).

QoS 1 readings must survive the oracle being down and the broker restarting: the oracle's
session is persistent, queues are unbounded (the default of 1000 queued messages per client
would drop readings during an oracle outage), and the broker persists its state to disk.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"


def render_config(port: int, data_dir: Path, host: str = "127.0.0.1") -> str:
    """A mosquitto.conf listening on host:port with persistence in `data_dir`."""
    # Started as root, mosquitto drops to user "mosquitto", which cannot write `data_dir`: stay the caller.
    return "\n".join(
        [
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            f"listener {port} {host}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {data_dir}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            "max_inflight_messages 0",
            "persistent_client_expiration 7d",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "",
        ]
    )
