"""The running stack for the end-to-end stories: `tracechain up` as a subprocess, and the parties
that use it only through what we ship (the `tracechain` CLI, the API over HTTP, MQTT for devices,
the carrier webhook), plus the test harness's own hands on the node (its clock, gas and test tokens).

Each partner step (`PartnerClient`) is one method: today most are HTTP calls to the API with the
transaction signed locally (as a wallet would); when the partner CLI (`tracechain login`,
`tracechain shipment ...`) lands, each method switches to its command in that one place.

Processes are stopped by the PIDs started here (the `up` process group, the keepers started by
`start_keeper`), never by name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from chain.contracts import ShipmentEscrow, TestToken
from chain.deploy import read_deployment
from chain.keys import dev_account
from oracles.keeper.process import KEEPER_INDEX
from oracles.keeper.process import STARTED as KEEPER_STARTED
from oracles.simulator import TOPIC, Publisher
from oracles.telemetry import codec
from tests.fixtures.anvil import ROOT, free_port

T = TypeVar("T")
PASSPHRASE = "e2e-stack-passphrase"
STARTUP_TIMEOUT_S = 150
READY_LINE = "Ctrl-C to stop"
#: The carrier system with an HMAC secret (ORACLE_CARRIER_SECRETS), bound to the carrier's account
#: (ORACLE_CARRIER_ACCOUNTS): both are set before `up` starts.
CARRIER_SYSTEM = "e2e-carrier"
#: Test tokens (6 decimals) each buyer starts with.
BUYER_TOKENS = 10_000 * 10**6


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60.0, every: float = 0.3) -> T:
    """Polls ``probe`` until it returns something truthy; fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def _children(pid: int) -> list[tuple[int, str]]:
    """(PID, command line) of the processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(entry.name), cmdline))
    return found


def _running(pid: int, cmdline: str) -> bool:
    """Whether process ``pid`` runs (not a zombie) with command line ``cmdline``."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        now = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return state != "Z" and now == cmdline


@dataclass
class Stack:
    """`tracechain up` in its own data directory, on free ports, with the story carriers' secrets."""

    data_dir: Path
    rpc_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    mqtt_port: int = field(default_factory=free_port)
    telemetry_port: int = field(default_factory=free_port)
    webhook_port: int = field(default_factory=free_port)
    carrier_secrets: dict[str, str] = field(default_factory=lambda: {CARRIER_SYSTEM: os.urandom(32).hex()})
    carrier_accounts: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    keeper: subprocess.Popen[bytes] | None = None
    _keeper_log_from: int = 0

    # ------------------------------------------------------------------ environment and CLI

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}"

    def env(self) -> dict[str, str]:
        """The environment of `up` and of every CLI call: this stack's data dir, node and ports only."""
        prefixes = ("TRACECHAIN_", "ORACLE_", "KEEPER_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        env |= {
            "TRACECHAIN_DATA_DIR": str(self.data_dir),
            "TRACECHAIN_RPC_URL": self.rpc_url,
            "TRACECHAIN_PASSPHRASE": PASSPHRASE,
            # Interval mining, as `make run` does: confirmations come without traffic.
            "TRACECHAIN_BLOCK_TIME": "1",
            "TRACECHAIN_CONFIRMATIONS": "1",
            "TRACECHAIN_API_PORT": str(self.api_port),
            "ORACLE_MQTT_PORT": str(self.mqtt_port),
            "ORACLE_HTTP_PORT": str(self.telemetry_port),
            "ORACLE_WEBHOOK_PORT": str(self.webhook_port),
            "ORACLE_CARRIER_SECRETS": json.dumps(self.carrier_secrets),
            "ORACLE_CARRIER_ACCOUNTS": json.dumps(self.carrier_accounts),
            # The stories move the node's clock ahead of the wall clock (dispute windows, deadlines)
            # and their devices keep the node's time: the telemetry oracle accepts readings that far
            # "ahead" of its own clock.
            "ORACLE_MAX_SKEW_S": str(30 * 86_400),
            # The demo fleet keeps publishing on its own shipment; slowly, to leave the cores to the stories.
            "ORACLE_SIMULATOR_DEVICES": "1",
            "ORACLE_SIMULATOR_RATE": "0.2",
            "ORACLE_SIMULATOR_EXCURSIONS": "0",
            "COLUMNS": "250",
        }
        return env

    def cli(self, *args: str, timeout: float = 120) -> str:
        """Runs `tracechain ARGS` against this stack; its standard output (fails on a non-zero exit)."""
        done = subprocess.run(
            [sys.executable, "-m", "chain.cli", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"tracechain {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def import_keys(self, accounts: dict[str, LocalAccount]) -> Callable[[], None]:
        """Starts `tracechain keys import NAME` for each party's key (concurrently: scrypt is slow);
        returns the function that waits for them and checks they succeeded."""
        procs = {
            name: subprocess.Popen(
                [sys.executable, "-m", "chain.cli", "keys", "import", name],
                cwd=ROOT,
                env=self.env() | {"TRACECHAIN_PRIVATE_KEY": account.key.hex()},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for name, account in accounts.items()
        }

        def imported() -> None:
            for name, proc in procs.items():
                output, _ = proc.communicate(timeout=300)
                assert proc.returncode == 0, f"keys import {name}: {output.decode()}"
                assert accounts[name].address in output.decode()

        return imported

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """`tracechain up` (the keeper and the oracles among its services); returns once it runs."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "up.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chain.cli", "up", "--port", str(self.rpc_port)],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_tail()
            return READY_LINE in self.log_path.read_text(errors="replace")

        eventually(ready, "tracechain up", STARTUP_TIMEOUT_S, every=0.5)
        # The demo fleet provisions its devices with the admin key in a thread of `up`: wait for it
        # before the admin CLI sends with the same key (one nonce sequence).
        eventually(lambda: (self.data_dir / "simulator-fleet.json").is_file(), "the demo fleet", 60)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "up.log"

    def log_tail(self, n: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        """Stops the keeper started here, then `up` with SIGINT (as Ctrl-C); SIGKILLs its group on a hang."""
        self.stop_keeper()
        if self.proc is None:
            return
        # Its services run in their own sessions: known now, killed by PID below if a stop hangs.
        services = _children(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for pid, cmdline in services:
            if _running(pid, cmdline):  # the same process still (not a PID reused since)
                os.kill(pid, signal.SIGKILL)
        self.proc = None

    # ------------------------------------------------------------------ the node (test harness)

    def w3(self) -> Web3:
        return Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 10}))

    def rpc(self, method: str, *params: Any) -> Any:
        answer = self.w3().provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in answer, answer
        return answer.get("result")

    def chain_time(self) -> int:
        return int(self.w3().eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Moves the node's clock forward (JSON-RPC ``evm_increaseTime`` and ``evm_mine``)."""
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def address(self, contract: str) -> str:
        deployment = read_deployment(self.data_dir, 31337)
        assert deployment is not None, "nothing deployed"
        return deployment.address(contract)

    @property
    def token(self) -> str:
        return self.address("TestToken")

    @property
    def escrow(self) -> ShipmentEscrow:
        return ShipmentEscrow(self.w3(), self.address("ShipmentEscrow"))

    def balance(self, account: str) -> int:
        """The account's test-token balance on chain."""
        return TestToken(self.w3(), self.token).balance_of(account)

    def owed(self, account: str) -> int:
        """What the escrow owes the account in the test token, on chain."""
        return self.escrow.owed(account, self.token)

    def fund(self, account: LocalAccount, tokens: int = 0) -> None:
        """Gas (``anvil_setBalance``) and ``tokens`` test tokens (the token's open ``mint``, signed by
        the account itself). Replace with `tracechain dev fund ADDRESS` once it exists."""
        self.rpc("anvil_setBalance", account.address, hex(10**20))
        if tokens:
            send_raw(self, account, TestToken(self.w3(), self.token).mint(account.address, tokens))

    # ------------------------------------------------------------------ the keeper

    @property
    def keeper_address(self) -> str:
        """The account `up` gives its keeper on the local chain (and `start_keeper` too)."""
        return str(dev_account(KEEPER_INDEX).address)

    def keeper_owed(self) -> dict[str, int]:
        """What the keeper reports the escrow owes each payee in the test token (`tracechain keeper
        status`, its "owed by the escrow" table)."""
        rows = {}
        for line in self.cli("keeper", "status").splitlines():
            cells = [cell.strip() for cell in line.split("│")[1:-1]]
            if len(cells) == 3 and cells[1] == self.token and cells[2].isdigit():
                rows[cells[0]] = int(cells[2])
        return rows

    def keeper_pids(self) -> list[int]:
        """The PIDs of the running keepers: `up`'s child and the one started here."""
        assert self.proc is not None
        pids = [pid for pid, cmd in _children(self.proc.pid) if "oracles.keeper" in cmd]
        if self.keeper is not None and self.keeper.poll() is None:
            pids.append(self.keeper.pid)
        return pids

    def kill_keeper(self) -> int:
        """SIGKILLs the running keeper (there is one); returns how many were killed."""
        pids = self.keeper_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        if self.keeper is not None:
            self.keeper.wait(timeout=10)
            self.keeper = None
        return len(pids)

    def start_keeper(self) -> None:
        """`tracechain keeper` on this stack's node, database and deployment with the key `up` gives
        its keeper (the same account and outbox), logging to the data dir; returns once its log
        says it started (it is about to make its first pass)."""
        assert self.keeper is None or self.keeper.poll() is not None
        env = self.env() | {"KEEPER_ENV": "dev", "KEEPER_PRIVATE_KEY": dev_account(KEEPER_INDEX).key.hex()}
        log = self.keeper_log
        self._keeper_log_from = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:
            self.keeper = subprocess.Popen(
                [sys.executable, "-m", "chain.cli", "keeper"], cwd=ROOT, env=env, stdout=out, stderr=out
            )

        self.wait_keeper_log(KEEPER_STARTED)

    @property
    def keeper_log(self) -> Path:
        return self.data_dir / "logs" / "keeper-restarted.log"

    def wait_keeper_log(self, text: str) -> None:
        """Waits until the keeper started last logs ``text``."""

        def logged() -> bool:
            assert self.keeper is not None and self.keeper.poll() is None, self.keeper_log.read_text()
            with open(self.keeper_log, "rb") as f:
                f.seek(self._keeper_log_from)
                return text in f.read().decode(errors="replace")

        eventually(logged, f"the keeper's log saying {text!r}", 60, every=0.05)

    def stop_keeper(self) -> int | None:
        """SIGTERMs the keeper started here; its exit code."""
        if self.keeper is None:
            return None
        if self.keeper.poll() is None:
            self.keeper.terminate()
            try:
                self.keeper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.keeper.kill()
                self.keeper.wait(timeout=10)
        code, self.keeper = self.keeper.returncode, None
        return code


def send_raw(stack: Stack, account: LocalAccount, request: Any, gas: int = 300_000) -> str:
    """``request`` (a wrapper's TxRequest) signed by ``account`` as its wallet would and sent with
    ``eth_sendRawTransaction``; waits until mined and successful. Returns the transaction hash."""
    w3 = stack.w3()
    base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    tx = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "to": Web3.to_checksum_address(request.to),
        "value": 0,
        "data": request.data,
        "gas": gas,
        "maxFeePerGas": 2 * base + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.2)
    assert receipt["status"] == 1, receipt
    return tx_hash.to_0x_hex()


# ---------------------------------------------------------------------------------------- parties


@dataclass
class Party:
    """A partner: its keystore name (for the CLI) and its key as its wallet holds it."""

    key_name: str
    account: LocalAccount

    @property
    def address(self) -> str:
        return str(self.account.address)


class PartnerClient:
    """One partner's session with the API. Each method is one step a partner takes; see the module
    docstring for which of them go over HTTP and which through the CLI."""

    def __init__(self, stack: Stack, party: Party) -> None:
        self.stack, self.party = stack, party
        self.http = httpx.Client(base_url=stack.api_url, timeout=30)
        self.login()

    def close(self) -> None:
        self.http.close()

    # -------------------------------------------------------------- sign-in

    def login(self) -> None:
        """EIP-4361 sign-in (HTTP /auth/nonce and /auth/login); the bearer token for the next calls.
        To switch: `tracechain login --key NAME`."""
        nonce = self._ok(self.http.get("/auth/nonce"))
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        message = "\n".join(
            [
                f"{nonce['domain']} wants you to sign in with your Ethereum account:",
                self.party.address,
                "",
                "Sign in to Tracechain.",
                "",
                f"URI: https://{nonce['domain']}",
                "Version: 1",
                f"Chain ID: {nonce['chainId']}",
                f"Nonce: {nonce['nonce']}",
                f"Issued At: {now}",
            ]
        )
        signed = self.party.account.sign_message(encode_defunct(text=message))
        token = self._ok(
            self.http.post(
                "/auth/login", json={"message": message, "signature": signed.signature.to_0x_hex()}
            )
        )
        self.http.headers["Authorization"] = f"Bearer {token['access_token']}"

    # -------------------------------------------------------------- shipments

    def create_shipment(self, manifest: dict[str, Any], tmp: Path) -> str:
        """`tracechain sign manifest` (CLI) with the supplier's keystore, then the signed manifest
        relayed with HTTP POST /shipments; waits until the API shows it. To switch: `tracechain
        shipment new`."""
        path = tmp / f"manifest-{manifest['shipmentId'][2:10]}.json"
        path.write_text(json.dumps(manifest))
        signed = json.loads(self.stack.cli("sign", "manifest", str(path), "--key", self.party.key_name))
        assert signed["manifest"] == manifest
        relayed = self._ok(
            self.http.post(
                "/shipments", json={"manifest": signed["manifest"], "signature": signed["signature"]}
            ),
            202,
        )
        sid = str(relayed["shipment_id"])
        self.wait_state(sid, "Created")
        return sid

    def show(self, sid: str) -> dict[str, Any]:
        """HTTP GET /shipments/{id}. To switch: `tracechain shipment show ID --json`."""
        return dict(self._ok(self.http.get(f"/shipments/{sid}")))

    def wait_state(self, sid: str, state: str, timeout: float = 60) -> dict[str, Any]:
        """The shipment as the API shows it once it reports ``state`` (the indexer caught up)."""

        def probe() -> dict[str, Any] | None:
            r = self.http.get(f"/shipments/{sid}")
            if r.status_code == 404:
                return None
            shown = self._ok(r)
            return shown if shown["state"] == state else None

        return eventually(probe, f"shipment {sid[:10]} {state} in the API", timeout)

    def fund(self, sid: str) -> None:
        """The buyer's approve and fund, signed locally and relayed with HTTP POST …/fund.
        To switch: `tracechain shipment fund ID`."""
        approve = self._ok(self.http.get(f"/shipments/{sid}/unsigned/approve"))
        fund = self._ok(self.http.get(f"/shipments/{sid}/unsigned/fund"))
        raws = [self._sign(approve), self._sign(fund, nonce=approve["nonce"] + 1, gas=fund["gas"] or 200_000)]
        self._relayed(sid, self.http.post(f"/shipments/{sid}/fund", json={"transactions": raws}))
        self.wait_state(sid, "Funded")

    def hand_over(self, sid: str, to: PartnerClient) -> None:
        """This custodian hands over to ``to``, which consents (EIP-712 typed data from the API,
        signed in its wallet); relayed with HTTP POST …/custody. To switch: `tracechain shipment
        hand-over ID --to ADDRESS` (and the consent command on the other side)."""
        until = self.stack.chain_time() + 3_600
        asked = to._ok(
            to.http.get(
                f"/shipments/{sid}/custody/consent",
                params={"to": to.party.address, "deadline": until, "sender": self.party.address},
            )
        )
        assert asked["signer"] == to.party.address
        consent = to.party.account.sign_message(encode_typed_data(full_message=asked["typed_data"]))
        signature = consent.signature.to_0x_hex()
        params = {"to": to.party.address, "deadline": until, "consent": signature}
        template = self._ok(self.http.get(f"/shipments/{sid}/unsigned/hand-over", params=params))
        body = {
            "consent": {"to": to.party.address, "deadline": until, "signature": signature},
            "transaction": self._sign(template),
        }
        self._relayed(sid, self.http.post(f"/shipments/{sid}/custody", json=body))

    def dispute(self, sid: str, reason: str, evidence: list[str]) -> None:
        """The buyer's dispute, signed locally and relayed with HTTP POST …/dispute (slice
        `disputes`). To switch: `tracechain shipment dispute ID --reason … --evidence …`."""
        template = self._ok(
            self.http.get(
                f"/shipments/{sid}/unsigned/dispute", params={"reason": reason, "evidence": evidence}
            )
        )
        self._relayed(
            sid, self.http.post(f"/shipments/{sid}/dispute", json={"transaction": self._sign(template)})
        )

    def resolve(self, sid: str, to_buyer: int) -> None:
        """The arbiter's ruling, signed locally and relayed with HTTP POST …/resolution (slice
        `disputes`). To switch: `tracechain shipment resolve ID --to-buyer N`."""
        template = self._ok(
            self.http.get(f"/shipments/{sid}/unsigned/resolve", params={"to_buyer": to_buyer})
        )
        self._relayed(
            sid, self.http.post(f"/shipments/{sid}/resolution", json={"transaction": self._sign(template)})
        )

    def withdraw(self, token: str) -> None:
        """Withdraws what the escrow owes this partner in ``token``: HTTP POST /payments/withdraw when
        the API has it (slice `client`), else the partner's own signed ``withdraw`` sent to the node.
        To switch: `tracechain shipment withdraw`."""
        if "/payments/withdraw" in self.stack_paths():
            template = self._ok(self.http.get("/payments/unsigned/withdraw", params={"token": token}))
            r = self.http.post("/payments/withdraw", json={"transaction": self._sign(template)})
            assert r.status_code in (200, 202), r.text
            eventually(lambda: self.stack.owed(self.party.address) == 0, "the withdrawal mined")
        else:
            send_raw(
                self.stack, self.party.account, self.stack.escrow.withdraw(token, sender=self.party.address)
            )

    def stack_paths(self) -> set[str]:
        return set(self._ok(self.http.get("/openapi.json"))["paths"])

    # -------------------------------------------------------------- plumbing

    def _sign(self, template: dict[str, Any], **override: Any) -> str:
        """A transaction template from GET …/unsigned/… signed as is by this partner's wallet."""
        tx = {
            "chainId": template["chainId"],
            "nonce": template["nonce"],
            "to": template["to"],
            "value": template["value"],
            "data": template["data"],
            "gas": template["gas"] or 300_000,
            "maxFeePerGas": template["maxFeePerGas"],
            "maxPriorityFeePerGas": template["maxPriorityFeePerGas"],
            **override,
        }
        return self.party.account.sign_transaction(tx).raw_transaction.to_0x_hex()

    def _relayed(self, sid: str, response: httpx.Response) -> None:
        """Waits until every relayed transaction is mined (HTTP GET …/transactions/{hash})."""
        body = self._ok(response, 202)
        for tx in body["transactions"]:

            def mined(tx_hash: str = tx["tx_hash"]) -> str | None:
                state = self._ok(self.http.get(f"/shipments/{sid}/transactions/{tx_hash}"))["state"]
                assert state != "reverted", f"{body['action']} reverted"
                return state if state == "mined" else None

            eventually(mined, f"{body['action']} mined")

    @staticmethod
    def _ok(response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, f"{response.request.method} {response.url}: {response.text}"
        return response.json()


# ---------------------------------------------------------------------------------------- devices


class Device:
    """A tracking device: its own key, signing readings (EIP-712) and publishing them over MQTT with
    QoS 1 on `tracechain/telemetry/<shipment>/<device>`, as a real tracker does."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.key = os.urandom(32)
        self.address = codec.to_checksum(codec.address_of(self.key))
        self.counter = time.time_ns() // 1_000_000

    def publish(self, sid: str, temperatures_centi: list[int], timestamp: int) -> None:
        """One signed reading per temperature, a second apart from ``timestamp`` (device clock)."""
        from chain import eip712

        domain = eip712.domain_separator(31337, self.stack.escrow.address)
        shipment = bytes.fromhex(sid[2:])
        device = codec.address_of(self.key)
        publisher = Publisher("127.0.0.1", self.stack.mqtt_port, f"e2e-device-{self.address[2:10]}")
        try:
            for i, temperature in enumerate(temperatures_centi):
                self.counter += 1
                reading = codec.Reading(
                    device, self.counter, timestamp + i, shipment, temperature, 5_000, 52_520_000, 13_405_000
                )
                signed = codec.sign(reading, self.key, domain)
                topic = TOPIC.format(shipment=shipment.hex(), device=device.hex())
                publisher.publish(topic, codec.encode(signed))
            assert publisher.wait_acked(10), "the broker did not acknowledge the readings"
        finally:
            publisher.close()


# ---------------------------------------------------------------------------------------- carriers


def carrier_webhook(stack: Stack, system: str, sid: str, kind: str = "arrived") -> dict[str, Any]:
    """The carrier system's milestone webhook: a JSON event, HMAC-SHA256 signed with its shared
    secret over `<timestamp>.<body>`, POSTed to the shipment oracle."""
    body = json.dumps(
        {
            "eventId": f"e2e-{uuid.uuid4()}",
            "shipmentId": sid,
            "type": kind,
            "time": datetime.now(UTC).isoformat(),
            "location": {"latitude": 48.137, "longitude": 11.575},
        }
    ).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(stack.carrier_secrets[system].encode(), stamp.encode() + b"." + body, hashlib.sha256)
    r = httpx.post(
        f"{stack.webhook_url}/webhooks/{system}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Tracechain-Timestamp": stamp,
            "X-Tracechain-Signature": f"sha256={mac.hexdigest()}",
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return dict(r.json())
