"""`tracechain verify`: an item and its events' anchors checked against anvil directly."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_abi import encode

from chain import merkle
from chain.cli import main
from chain.contracts import PartnerRegistry, TraceabilityLedger, role
from chain.deploy import Deployment, load_deployment
from chain.gs1 import asset_id
from chain.identifiers import event_id
from chain.keys import dev_account
from chain.roles import RECORDER_ROLE
from chain.transact import TxRequest, send_and_wait
from chain.verify import load_claims, verify_item
from tests.chain.support import admin, deployed, service
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil
SUPPLIER, STRANGER = dev_account(3), dev_account(9)
ITEM = "https://brand.example/p/01/9506000134352/10/LOT42/21/0001?linkType=gs1:pip"


def ni(label: str) -> str:
    return f"ni:///sha-256;{hashlib.sha256(label.encode()).hexdigest()}?ver=CBV2.0"


def leaf(eid: bytes, capturer: str) -> bytes:
    """The ledger's batch leaf: keccak256(bytes.concat(keccak256(abi.encode(eventId, capturer))))."""
    return merkle.leaf(encode(["bytes32", "address"], [eid, capturer]))


def tree(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Root and per-leaf proofs of a sorted-pair Merkle tree (OpenZeppelin MerkleProof)."""
    t = merkle.MerkleTree(leaves)
    return t.root, t.proofs()


@dataclass(frozen=True)
class Recorded:
    data_dir: Path
    single: str
    batch: list[dict[str, object]]
    by_stranger: str


@pytest.fixture(scope="module")
def recorded(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """A registered item, one event anchored singly by a recorder, three in an anchored batch, and
    one anchored singly by an account whose RECORDER_ROLE was revoked since."""
    w3 = anvil.w3()
    data_dir = tmp_path_factory.mktemp("verify")
    deployment: Deployment = deployed(w3, data_dir)
    registry = PartnerRegistry(w3, deployment.address("PartnerRegistry"))
    ledger = TraceabilityLedger(w3, deployment.address("TraceabilityLedger"))
    send_and_wait(
        w3,
        admin(),
        registry.admit_partner(
            SUPPLIER.address, "Acme", ["0614141", "9506000"], [role("supplier")], sender=admin().address
        ),
    )
    send_and_wait(w3, SUPPLIER, ledger.register_asset(ITEM, sender=SUPPLIER.address))
    single = ni("single")
    send_and_wait(w3, service(), ledger.anchor_event(event_id(single), sender=service().address))
    batch_ids = [ni(f"batch-{i}") for i in range(3)]
    root, proofs = tree([leaf(event_id(e), SUPPLIER.address) for e in batch_ids])
    send_and_wait(w3, service(), ledger.anchor_batch(root, len(batch_ids), sender=service().address))
    # Anchoring needs RECORDER_ROLE: the stranger anchors while it holds the role, then loses it.
    by_stranger = ni("stranger")
    send_and_wait(w3, admin(), registry.grant_role(RECORDER_ROLE, STRANGER.address, sender=admin().address))
    send_and_wait(
        w3, STRANGER, TxRequest(ledger.address, ledger.calldata("anchorEvent", event_id(by_stranger)))
    )
    send_and_wait(w3, admin(), registry.revoke_role(RECORDER_ROLE, STRANGER.address, sender=admin().address))
    batch = [
        {
            "eventId": e,
            "capturer": SUPPLIER.address,
            "root": "0x" + root.hex(),
            "proof": ["0x" + p.hex() for p in proof],
        }
        for e, proof in zip(batch_ids, proofs, strict=True)
    ]
    return Recorded(data_dir, single, batch, by_stranger)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, anvil: AnvilNode, recorded: Recorded) -> Recorded:
    for name in list(os.environ):
        if name.startswith("TRACECHAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECHAIN_DATA_DIR", str(recorded.data_dir))
    monkeypatch.setenv("TRACECHAIN_RPC_URL", anvil.url)
    monkeypatch.setenv("COLUMNS", "250")
    return recorded


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        main(["verify", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def proof_file(tmp_path: Path, events: list[dict[str, object]]) -> str:
    path = tmp_path / "proofs.json"
    path.write_text(json.dumps({"events": events}))
    return str(path)


def test_event_id_is_the_sha256_in_the_ni_uri() -> None:
    # The item's key is tested with the other GS1 keys: tests/chain/gs1/test_gs1.py.
    assert event_id(ni("x")) == hashlib.sha256(b"x").digest()


def test_verify_registered_item_with_anchored_events_succeeds(
    env: Recorded, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = verify(capsys, ITEM, "--event", env.single, "--proofs", proof_file(tmp_path, env.batch))
    assert code == 0, out
    assert out.count("verified") >= 6 and "not verified" not in out
    assert SUPPLIER.address in out and "not recalled" in out


def _ledger(anvil: AnvilNode, recorded: Recorded) -> TraceabilityLedger:
    w3 = anvil.w3()
    return TraceabilityLedger(w3, load_deployment(w3, recorded.data_dir).address("TraceabilityLedger"))


def test_verified_batch_claim_names_its_capturer(
    anvil: AnvilNode, recorded: Recorded, tmp_path: Path
) -> None:
    """#27: a batch leaf commits to the partner who captured the event: the proof shows who made the claim."""
    claims = load_claims(Path(proof_file(tmp_path, recorded.batch)))
    report = verify_item(_ledger(anvil, recorded), asset_id(ITEM), claims)
    assert report.verified
    assert [c.claim.endswith(f"captured by {SUPPLIER.address}") for c in report.checks[2:]] == [True] * 3


def test_claim_attributed_to_another_capturer_refused(
    anvil: AnvilNode, recorded: Recorded, env: Recorded, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """#27: the same event and proof claimed as another partner's capture do not verify (nothing on
    chain is written by a check)."""
    claimed = [{**recorded.batch[0], "capturer": STRANGER.address}]
    report = verify_item(
        _ledger(anvil, recorded), asset_id(ITEM), load_claims(Path(proof_file(tmp_path, claimed)))
    )
    check = report.checks[-1]
    assert not check.verified and check.claim.endswith(f"captured by {STRANGER.address}")
    assert check.detail.startswith("proof does not match the root")
    code, out = verify(capsys, ITEM, "--proofs", proof_file(tmp_path, claimed))
    assert code == 1 and "1 of 3 checks not verified" in out and "proof does not match the root" in out


def test_verify_tampered_proof_fails(
    env: Recorded, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tampered = [dict(e) for e in env.batch]
    proof = list(tampered[1]["proof"])  # type: ignore[call-overload]
    proof[0] = proof[0][:-2] + ("00" if proof[0][-2:] != "00" else "01")
    tampered[1]["proof"] = proof
    code, out = verify(capsys, "0x" + asset_id(ITEM).hex(), "--proofs", proof_file(tmp_path, tampered))
    assert code == 1
    assert "1 of 5 checks not verified" in out and "proof does not match the root" in out


def test_verify_anchor_by_non_recorder_fails(env: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = verify(capsys, ITEM, "--event", env.by_stranger)
    assert code == 1 and "who is not a recorder" in out


def test_verify_unknown_item_and_unanchored_event_fail(
    env: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(
        capsys, "https://id.gs1.org/01/09506000134352/10/LOT42/21/9999", "--event", ni("never")
    )
    assert code == 1 and "no such asset" in out and "not anchored" in out


def test_verify_bad_identifier_is_rejected(env: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = verify(capsys, "https://example.com/not-a-link")
    assert code == 2 and "GS1 Digital Link" in out


def test_verify_reports_goods_packed_with_a_recalled_lot(
    env: Recorded, anvil: AnvilNode, capsys: pytest.CaptureFixture[str]
) -> None:
    # isRecalled covers a lot's items and what was made from them; being packed with recalled goods
    # is found by `tracechain verify` from the ledger's aggregation logs (docs/security.md #9).
    w3 = anvil.w3()
    ledger = TraceabilityLedger(w3, load_deployment(w3, env.data_dir).address("TraceabilityLedger"))
    gtin = "https://id.gs1.org/01/09506000134352"
    lot, item, pallet = f"{gtin}/10/PACKED", f"{gtin}/21/PACKED-1", "https://id.gs1.org/00/095060001000000012"
    send_and_wait(w3, SUPPLIER, ledger.register_asset(lot, sender=SUPPLIER.address))
    send_and_wait(w3, SUPPLIER, ledger.register_asset(item, asset_id(lot), sender=SUPPLIER.address))
    send_and_wait(w3, SUPPLIER, ledger.register_asset(pallet, sender=SUPPLIER.address))
    aggregate = ledger.calldata("aggregate", asset_id(pallet), [asset_id(item)])
    send_and_wait(w3, SUPPLIER, TxRequest(ledger.address, aggregate))
    code, out = verify(capsys, pallet)
    assert code == 0 and "not recalled" in out

    send_and_wait(w3, SUPPLIER, ledger.recall_lot(lot, "Listeria", sender=SUPPLIER.address))
    code, out = verify(capsys, pallet)
    assert code == 0 and "RECALLED: packed with recalled 0x" + asset_id(item).hex()[:16] in out
