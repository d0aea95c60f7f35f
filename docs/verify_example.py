#!/usr/bin/env python3
"""Independent re-verification of the chain test vectors, from docs/CHAINS.md alone.

Uses only the Python standard library (hashlib: SHA-256, SHA-512/256) and the `cryptography`
package (ed25519, ECDSA secp256k1) -- none of the Rust code. For each chain it:

1. decodes the genesis validator set, the block header and the certificate from their bytes;
2. recomputes the header hash (Algorand-style) / batch digest (ResDB-style);
3. rebuilds the exact bytes every certificate signature covers and verifies each signature
   (ResDB-style ECDSA: low-S required), counts distinct known signers against the threshold;
4. decodes the exported entry's proof, re-verifies its certificate the same way, checks the
   transaction record's Merkle inclusion against the certified root, rebuilds the transfer
   payload from the record and compares it with the entry payload.

Usage: python3 docs/verify_example.py [path/to/chains.json]
(default: chains/tests/vectors/chains.json next to this folder). Exit code 0 iff all checks pass.
"""

import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def sha256(b):
    return hashlib.sha256(b).digest()


def sha512_256(b):
    return hashlib.new("sha512_256", b).digest()


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise ValueError("unexpected end of input")
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return int.from_bytes(self.take(4), "big")

    def u64(self):
        return int.from_bytes(self.take(8), "big")

    def bytes(self):
        return self.take(self.u32())

    def str(self):
        return self.bytes().decode("ascii")

    def option(self, f):
        t = self.u8()
        if t == 0:
            return None
        if t == 1:
            return f()
        raise ValueError("bad option tag")

    def done(self):
        if self.i != len(self.b):
            raise ValueError("trailing bytes")


def address(r):
    t = r.u8()
    if t == 1:
        return b"\x01" + r.take(32)
    if t == 2:
        return b"\x02" + r.take(33)
    raise ValueError("bad address tag")


def chain_id_bytes(s):
    b = s.encode("ascii")
    return len(b).to_bytes(4, "big") + b


# ---------------------------------------------------------------- Algorand-style


def algo_set(r):
    epoch = r.u64()
    vals = {}
    for _ in range(r.u32()):
        key = r.take(32)
        vals[key] = r.u64()
    return epoch, vals


def algo_header(r):
    start = r.i
    h = {
        "round": r.u64(), "prev": r.take(32), "seed": r.take(32), "txn_root": r.take(32),
        "timestamp": r.u64(), "genesis_id": r.str(), "genesis_hash": r.take(32),
        "proto": r.str(), "txn_counter": r.u64(),
        "next_validators": r.option(lambda: r.take(32)),
    }
    h["bytes"] = r.b[start:r.i]
    return h


def algo_cert(r):
    c = {"round": r.u64(), "period": r.u64(), "step": r.u64(),
         "digest": r.take(32), "proposer": r.take(32), "votes": []}
    for _ in range(r.u32()):
        c["votes"].append((r.take(32), r.take(64)))
    return c


def algo_verify(chain, header, cert, vset):
    epoch, vals = vset
    assert header["genesis_id"] == chain["chain_id"], "wrong chain"
    assert header["genesis_hash"].hex() == chain["genesis_hash"], "wrong genesis hash"
    assert cert["step"] == 2, "wrong step"
    assert cert["round"] == header["round"], "round mismatch"
    digest = sha512_256(b"BH" + header["bytes"])
    assert cert["digest"] == digest, "digest mismatch"
    assert cert["proposer"] in vals, "unknown proposer"
    seen, weight = set(), 0
    for sender, sig in cert["votes"]:
        assert sender in vals, "unknown signer"
        assert sender not in seen, "duplicate signer"
        seen.add(sender)
        msg = (b"VO" + sender + cert["round"].to_bytes(8, "big") + cert["period"].to_bytes(8, "big")
               + cert["step"].to_bytes(8, "big") + cert["digest"] + cert["proposer"])
        ed25519.Ed25519PublicKey.from_public_bytes(sender).verify(sig, msg)
        weight += vals[sender]
    total = sum(vals.values())
    assert weight * 1500 >= 1112 * total, "insufficient weight"
    return digest, weight, total


# ---------------------------------------------------------------- ResDB-style


def resdb_set(r):
    epoch = r.u64()
    reps = {}
    for _ in range(r.u32()):
        rid = r.u32()
        t = r.u8()
        reps[rid] = ("ed25519", r.take(32)) if t == 1 else ("secp256k1", r.take(33))
    return epoch, reps


def resdb_header(r):
    start = r.i
    h = {"seq": r.u64(), "view": r.u64(), "primary": r.u32(), "prev_hash": r.take(32),
         "epoch": r.u64(), "timestamp": r.u64(), "request_count": r.u32(),
         "request_root": r.take(32), "next_replicas": r.option(lambda: r.take(32))}
    h["bytes"] = r.b[start:r.i]
    h["txn_root"] = h["request_root"]
    return h


def resdb_cert(r):
    c = {"chain_id": r.str(), "view": r.u64(), "seq": r.u64(), "digest": r.take(32), "sigs": []}
    for _ in range(r.u32()):
        c["sigs"].append((r.u32(), r.take(64)))
    return c


def resdb_verify(chain, header, cert, rset):
    epoch, reps = rset
    assert cert["chain_id"] == chain["chain_id"], "wrong chain"
    assert header["epoch"] == (header["seq"] - 1) // chain["epoch_length"], "wrong epoch"
    assert cert["seq"] == header["seq"] and cert["view"] == header["view"], "header mismatch"
    ids = sorted(reps)
    assert header["primary"] == ids[header["view"] % len(ids)], "wrong primary"
    digest = sha256(b"RESDB-BATCH" + header["bytes"])
    assert cert["digest"] == digest, "digest mismatch"
    msg = (b"RESDB-COMMIT" + chain_id_bytes(cert["chain_id"]) + cert["view"].to_bytes(8, "big")
           + cert["seq"].to_bytes(8, "big") + cert["digest"])
    seen = set()
    for rid, sig in cert["sigs"]:
        assert rid in reps, "unknown signer"
        assert rid not in seen, "duplicate signer"
        seen.add(rid)
        scheme, key = reps[rid]
        if scheme == "ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(key).verify(sig, msg)
        else:
            r_, s_ = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            assert s_ <= SECP256K1_N // 2, "malleable high-S signature"
            pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), key)
            pub.verify(encode_dss_signature(r_, s_), msg, ec.ECDSA(hashes.SHA256()))
    f = (len(reps) - 1) // 3
    assert len(seen) >= 2 * f + 1, "insufficient signatures"
    return digest, len(seen), len(reps)


# ---------------------------------------------------------------- shared


MODELS = {
    "algorand": dict(tag=1, set=algo_set, header=algo_header, cert=algo_cert, verify=algo_verify,
                     leaf=lambda d: sha512_256(b"TL" + d),
                     node=lambda l, r: sha512_256(b"MA" + l + r),
                     txhash=sha512_256, txprefix=b"TX"),
    "resdb": dict(tag=2, set=resdb_set, header=resdb_header, cert=resdb_cert, verify=resdb_verify,
                  leaf=lambda d: sha256(b"\x00" + d),
                  node=lambda l, r: sha256(b"\x01" + l + r),
                  txhash=sha256, txprefix=b"RESDB-TX"),
}


def merkle_verify(m, leaf_data, index, leaves, siblings, root):
    assert index < leaves
    h, idx, width, it = m["leaf"](leaf_data), index, leaves, iter(siblings)
    while width > 1:
        if idx % 2 == 1:
            h = m["node"](next(it), h)
        elif idx + 1 < width:
            h = m["node"](h, next(it))
        idx, width = idx // 2, (width + 1) // 2
    assert next(it, None) is None, "extra siblings"
    return h == root


def tx_body(r):
    """Decode a transaction body; returns (kind, fields, raw body bytes)."""
    start = r.i
    t = r.u8()
    if t == 1:
        f = {"from": address(r), "to": address(r), "amount": r.u64(), "nonce": r.u64()}
        kind = "transfer"
    elif t == 2:
        f = {"from": address(r), "dest_chain": r.str(), "recipient": address(r),
             "amount": r.u64(), "nonce": r.u64()}
        kind = "bridge_out"
    elif t == 3:
        f = {"k": r.u64(), "payload": r.bytes(), "proof": r.bytes()}
        kind = "bridge_in"
    else:
        raise ValueError("bad tx tag")
    return kind, f, r.b[start:r.i]


def verify_block_only(name, chain):
    m = MODELS[name]
    blk = chain["block"]
    vset = m["set"](Reader(bytes.fromhex(blk["validator_set"])))
    header = m["header"](Reader(bytes.fromhex(blk["header"])))
    cert = m["cert"](Reader(bytes.fromhex(blk["certificate"])))
    return m["verify"](chain, header, cert, vset)


def verify_chain(name, chain):
    m = MODELS[name]
    blk = chain["block"]
    r = Reader(bytes.fromhex(blk["validator_set"]))
    vset = m["set"](r)
    r.done()
    r = Reader(bytes.fromhex(blk["header"]))
    header = m["header"](r)
    r.done()
    r = Reader(bytes.fromhex(blk["certificate"]))
    cert = m["cert"](r)
    r.done()
    digest, got, total = m["verify"](chain, header, cert, vset)
    assert digest.hex() == blk["header_hash"]
    print(f"{name}: block {blk['height']} hash {digest.hex()} certified ({got} of {total})")

    # The exported entry.
    e = chain["entry"]
    r = Reader(bytes.fromhex(e["proof"]))
    assert r.u8() == m["tag"], "wrong proof kind"
    sets = {vset[0]: vset}
    for _ in range(r.u32()):
        th, tc, ns = m["header"](r), m["cert"](r), m["set"](r)
        epoch = ((th.get("round") or th.get("seq")) - 1) // chain["epoch_length"]
        m["verify"](chain, th, tc, sets[epoch])
        assert ns[0] == epoch + 1
        sets[ns[0]] = ns
    header = m["header"](r)
    cert = m["cert"](r)
    record = r.bytes()
    index, leaves = r.u32(), r.u32()
    siblings = [r.take(32) for _ in range(r.u32())]
    r.done()
    height = header.get("round") or header.get("seq")
    m["verify"](chain, header, cert, sets[(height - 1) // chain["epoch_length"]])
    assert merkle_verify(m, record, index, leaves, siblings, header["txn_root"]), "inclusion"
    rr = Reader(record)
    kind, f, body = tx_body(rr)
    rr.bytes()  # signature
    k = rr.option(rr.u64)
    rr.done()
    assert kind == "bridge_out" and k == e["k"], "not the exported bridge-out"
    assert f["dest_chain"] == e["dest_chain"], "wrong destination"
    txid = m["txhash"](m["txprefix"] + chain_id_bytes(chain["chain_id"]) + body)
    payload = (chain_id_bytes(chain["chain_id"]) + chain_id_bytes(f["dest_chain"])
               + k.to_bytes(8, "big") + txid + f["from"] + f["recipient"]
               + f["amount"].to_bytes(8, "big") + f["nonce"].to_bytes(8, "big"))
    assert payload.hex() == e["payload"], "payload mismatch"
    tid = sha256(b"BRIDGE-TRANSFER" + chain_id_bytes(chain["chain_id"]) + txid)
    print(f"{name}: entry k={k} amount {f['amount']} -> {f['dest_chain']} verified, "
          f"transfer id {tid.hex()}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "chains", "tests", "vectors", "chains.json")
    with open(path) as fh:
        v = json.load(fh)
    try:
        for name in ("algorand", "resdb"):
            verify_chain(name, v[name])
    except (AssertionError, InvalidSignature, ValueError) as e:
        print(f"FAILED: {type(e).__name__} {e}")
        return 1
    # Self-test: one corrupted signature byte per chain must be refused.
    for name in ("algorand", "resdb"):
        bad = json.loads(json.dumps(v[name]))
        cert = bytearray.fromhex(bad["block"]["certificate"])
        cert[-1] ^= 1
        bad["block"]["certificate"] = cert.hex()
        try:
            verify_block_only(name, bad)
        except (AssertionError, InvalidSignature, ValueError):
            print(f"{name}: corrupted certificate refused, as it must be")
            continue
        print(f"FAILED: {name}: corrupted certificate accepted")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
