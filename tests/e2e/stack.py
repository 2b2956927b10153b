"""The running stack for the end-to-end stories: `tracechain up` as a subprocess in its own data
directory on free ports, the `tracechain` CLI against it, and the test harness's own hands on the
node (its clock, gas and test tokens, balances read on chain) and on the keeper process. The
parties that use the stack are in tests/e2e/partners.py.

Processes are stopped by the PIDs started here (the `up` process group, the keepers started by
`start_keeper`), never by name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from chain.contracts import ShipmentEscrow, TestToken
from chain.deploy import read_deployment
from chain.keys import dev_account
from oracles.keeper.process import KEEPER_INDEX
from oracles.keeper.process import STARTED as KEEPER_STARTED
from tests.fixtures.anvil import ROOT, free_port

T = TypeVar("T")
PASSPHRASE = "e2e-stack-passphrase"
STARTUP_TIMEOUT_S = 150
READY_LINE = "Ctrl-C to stop"
#: The carrier system with an HMAC secret (ORACLE_CARRIER_SECRETS), bound to the carrier's account
#: (ORACLE_CARRIER_ACCOUNTS): both are set before `up` starts.
CARRIER_SYSTEM = "e2e-carrier"


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
            # One process each (the stories send a request at a time): a quicker start on 2 cores.
            "TRACECHAIN_API_WORKERS": "1",
            "ORACLE_VERIFY_WORKERS": "1",
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

    def fund(self, address: str, tokens: int = 0) -> None:
        """10 ETH of gas and ``tokens`` whole test tokens: `tracechain dev fund ADDRESS`."""
        assert f"funded {address}" in self.cli("dev", "fund", address, "--tokens", str(tokens))

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
