// Trees built by OpenZeppelin's own library (@openzeppelin/merkle-tree, pinned in package.json),
// for tests/chain/test_merkle_openzeppelin.py to compare chain.merkle against.
//
// stdin: a JSON list of cases {encoding: ["bytes32", ...], values: [[...], ...], sortLeaves: bool};
// integers are given as decimal strings. stdout: a JSON list of {root, tree, proofs} (proofs in the
// order of the values), hex strings as the library returns them.
import { readFileSync } from "node:fs";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";

const INT = /^u?int\d*$/;
const cases = JSON.parse(readFileSync(0, "utf8"));
const out = cases.map(({ encoding, values, sortLeaves }) => {
  const typed = values.map((v) => v.map((x, i) => (INT.test(encoding[i]) ? BigInt(x) : x)));
  const tree = StandardMerkleTree.of(typed, encoding, { sortLeaves });
  return {
    root: tree.root,
    tree: tree.dump().tree,
    proofs: typed.map((_, i) => tree.getProof(i)),
  };
});
process.stdout.write(JSON.stringify(out));
