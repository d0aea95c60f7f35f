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

Live mode: python3 docs/verify_example.py --live http://127.0.0.1:PORT [--height H] [--wait S]
fetches a block (default: the newest) of a running `picsou-relay chain` over JSON-RPC 2.0
(urllib), with the epoch-0 validator set and, for a block past epoch 0, the certified last block
of every earlier epoch (each commits the next epoch's set, section 6), and re-verifies it from its
canonical bytes: header hash / batch digest, every signature over bytes rebuilt from the spec
(which must equal the server's `signed_bytes`), distinct known signers against the threshold,
the next-set commitment, every transaction's id and signature and the Merkle root of the body.
Exit code 0 iff every check passes, 1 if a check fails, 2 if the endpoint cannot be read.
"""

import argparse
import hashlib
import json
import os
import sys
import time
import urllib.request

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


def algo_vote_bytes(cert, sender):
    """The 122 bytes a vote signature covers (section 4)."""
    return (b"VO" + sender + cert["round"].to_bytes(8, "big") + cert["period"].to_bytes(8, "big")
            + cert["step"].to_bytes(8, "big") + cert["digest"] + cert["proposer"])


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
        pub = ed25519.Ed25519PublicKey.from_public_bytes(sender)
        pub.verify(sig, algo_vote_bytes(cert, sender))
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
        if t not in (1, 2):
            raise ValueError("bad replica key tag")
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


def resdb_commit_bytes(cert):
    """The bytes every commit signature covers (section 5)."""
    return (b"RESDB-COMMIT" + chain_id_bytes(cert["chain_id"]) + cert["view"].to_bytes(8, "big")
            + cert["seq"].to_bytes(8, "big") + cert["digest"])


def secp256k1_verify(key, sig, msg):
    """ECDSA secp256k1 over SHA-256(msg), `r || s` with s <= n/2 (high S refused first)."""
    assert len(sig) == 64, "bad signature length"
    r_, s_ = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    assert s_ <= SECP256K1_N // 2, "malleable high-S signature"
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), key)
    pub.verify(encode_dss_signature(r_, s_), msg, ec.ECDSA(hashes.SHA256()))


def resdb_verify(chain, header, cert, rset):
    epoch, reps = rset
    assert cert["chain_id"] == chain["chain_id"], "wrong chain"
    assert header["epoch"] == (header["seq"] - 1) // chain["epoch_length"], "wrong epoch"
    assert cert["seq"] == header["seq"] and cert["view"] == header["view"], "header mismatch"
    ids = sorted(reps)
    assert header["primary"] == ids[header["view"] % len(ids)], "wrong primary"
    digest = sha256(b"RESDB-BATCH" + header["bytes"])
    assert cert["digest"] == digest, "digest mismatch"
    msg = resdb_commit_bytes(cert)
    seen = set()
    for rid, sig in cert["sigs"]:
        assert rid in reps, "unknown signer"
        assert rid not in seen, "duplicate signer"
        seen.add(rid)
        scheme, key = reps[rid]
        if scheme == "ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(key).verify(sig, msg)
        else:
            secp256k1_verify(key, sig, msg)
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


# ---------------------------------------------------------------- live mode
#
# python3 docs/verify_example.py --live http://127.0.0.1:PORT [--height H] [--wait SECONDS]
#
# Fetches a block from a running devnet chain (`picsou-relay chain`) over JSON-RPC 2.0 and
# re-verifies it from its canonical bytes alone. The decoded JSON the server also sends is never
# trusted: where the server states a derived value (the block hash, the signed bytes of each
# signature, the transaction ids, the set hashes), it is recomputed here and must be equal.


class RpcError(Exception):
    pass


def rpc(url, method, params, timeout=30.0):
    """One JSON-RPC 2.0 call over HTTP POST (standard library only)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.load(resp)
    if "error" in reply:
        raise RpcError(f"{method}: {reply['error']}")
    return reply["result"]


def set_hash(name, raw):
    if name == "algorand":
        return sha512_256(b"VS" + raw)
    return sha256(b"RESDB-SET" + raw)


def decode_set_strict(name, raw):
    """Decodes a validator set and checks it is canonical (sections 4 and 5): re-encoding the
    decoded set in the required order gives back the same bytes (so it is sorted, without
    duplicate keys or ids), stakes are positive and the total fits a u64, replica keys distinct."""
    r = Reader(raw)
    vset = MODELS[name]["set"](r)
    r.done()
    epoch, members = vset
    out = epoch.to_bytes(8, "big") + len(members).to_bytes(4, "big")
    if name == "algorand":
        for key in sorted(members):
            out += key + members[key].to_bytes(8, "big")
        assert all(s > 0 for s in members.values()), "zero stake"
        assert sum(members.values()) < 1 << 64, "total stake overflows"
    else:
        for rid in sorted(members):
            scheme, key = members[rid]
            out += rid.to_bytes(4, "big") + (b"\x01" if scheme == "ed25519" else b"\x02") + key
        keys = [k for _, k in members.values()]
        assert len(set(keys)) == len(keys), "duplicate replica key"
    assert out == raw, "validator set not canonical (unsorted or duplicate entries)"
    assert members, "empty validator set"
    return vset


def tx_record(r):
    """A transaction record: body || bytes(sig) || option(u64 k)."""
    kind, f, body = tx_body(r)
    sig = r.bytes()
    k = r.option(r.u64)
    return kind, f, body, sig, k


def verify_tx_signature(f, sig, signed):
    """Section 2: ed25519 over the signed bytes, or ECDSA secp256k1 over SHA-256 (low S)."""
    frm = f["from"]
    assert len(sig) == 64, "transaction signature is not 64 bytes"
    if frm[0] == 1:
        ed25519.Ed25519PublicKey.from_public_bytes(frm[1:]).verify(sig, signed)
    else:
        secp256k1_verify(frm[1:], sig, signed)


def check_body(name, ctx, header, view):
    """Decodes `encoded_body` (u32 count || records), checks every transaction's id and
    signature, and recomputes the Merkle root the header commits (section 3)."""
    m = MODELS[name]
    r = Reader(bytes.fromhex(view["encoded_body"]))
    n = r.u32()
    records, leaves = [], []
    for _ in range(n):
        start = r.i
        rec = tx_record(r)
        records.append(rec)
        leaves.append(m["leaf"](r.b[start:r.i]))
    r.done()
    # Merkle root: pairs hashed level by level, an odd last node carried up unchanged.
    level = leaves
    while len(level) > 1:
        level = [m["node"](level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    root = level[0] if level else bytes(32)
    assert root == header["txn_root"], "tampered body: transaction root mismatch"
    if name == "resdb":
        assert header["request_count"] == n, "tampered body: request count mismatch"
    served = view.get("transactions") or []
    assert len(served) == n, "server lists a different number of transactions"
    kinds, exports, signed_count = {}, [], 0
    for (kind, f, body, sig, k), tv in zip(records, served):
        signed = m["txprefix"] + chain_id_bytes(ctx["chain_id"]) + body
        txid = m["txhash"](signed)
        assert txid.hex() == tv["id"], "transaction id differs from the server's"
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "bridge_in":
            assert sig == b"", "a BridgeIn carries an empty signature"
            assert k is None, "export index on a BridgeIn"
            continue
        verify_tx_signature(f, sig, signed)
        signed_count += 1
        if kind == "bridge_out":
            assert k is not None, "BridgeOut without an export index"
            exports.append(k)
        else:
            assert k is None, "export index on a Transfer"
    assert all(b == a + 1 for a, b in zip(exports, exports[1:])), "export indices not dense"
    return n, root, kinds, signed_count, exports


def rebuilt_signatures(name, cert, vset):
    """(signer name, key type, public key, signed bytes, signature) of every certificate
    signature, rebuilt from the certificate bytes and the set per sections 4 and 5."""
    out = []
    if name == "algorand":
        for sender, sig in cert["votes"]:
            out.append((sender.hex(), "ed25519", sender, algo_vote_bytes(cert, sender), sig))
    else:
        msg = resdb_commit_bytes(cert)
        for rid, sig in cert["sigs"]:
            scheme, key = vset[1].get(rid, ("unknown", b""))
            out.append((f"replica-{rid}", scheme, key, msg, sig))
    return out


def tamper_view(view, what):
    """Hidden --tamper: flips one byte of what the server sent, before verification."""
    what, _, at = what.partition("@")
    field = {"header": "encoded_header", "certificate": "encoded_certificate",
             "body": "encoded_body"}.get(what)
    if what == "signed-bytes":
        b = bytearray.fromhex(view["signatures"][0]["signed_bytes"])
        b[int(at) if at else len(b) - 1] ^= 1
        view["signatures"][0]["signed_bytes"] = b.hex()
        return f"signatures[0].signed_bytes byte {int(at) if at else len(b) - 1}"
    if field is None:
        raise SystemExit(f"--tamper: unknown target {what!r}")
    b = bytearray.fromhex(view[field])
    if at:
        i = int(at)
    elif what == "header":
        # The low byte of the timestamp: decoding still succeeds, only the hash changes.
        i = 111 if view["kind"] == "algorand" else 67
    elif what == "body" and int.from_bytes(b[:4], "big") > 0:
        # The first byte of the first record's signature: still decodes, the root changes.
        r = Reader(bytes(b))
        r.u32()
        tx_body(r)
        i = r.i + 4
    else:
        i = len(b) - 1
    b[i] ^= 1
    view[field] = b.hex()
    return f"{field} byte {i}"


def verify_live_block(name, ctx, view, vset, log):
    """Verifies one served block under `vset` (the set of its epoch) from its bytes alone.
    Returns (height, decoded next set or None, raw next set or None)."""
    m = MODELS[name]
    L = ctx["epoch_length"]
    assert view["kind"] == name and view["chain"] == ctx["chain_id"], "block of another chain"
    r = Reader(bytes.fromhex(view["encoded_header"]))
    header = m["header"](r)
    r.done()
    r = Reader(bytes.fromhex(view["encoded_certificate"]))
    cert = m["cert"](r)
    r.done()
    height = header["round"] if name == "algorand" else header["seq"]
    assert height == view["height"], "header height differs from the requested block"
    epoch = (height - 1) // L
    assert view["epoch"] == epoch, "server states another epoch for the block"
    assert vset[0] == epoch, f"verifying with the set of epoch {vset[0]}, block is in {epoch}"
    if name == "algorand" and ctx.get("genesis_hash") is None:
        ctx["genesis_hash"] = header["genesis_hash"].hex()
        log(f"  genesis hash {ctx['genesis_hash']} (taken from the first header; "
            f"pin it with --genesis-hash)")
    digest, got, total = m["verify"](ctx, header, cert, vset)
    assert digest.hex() == view["hash"], "recomputed header hash differs from the server's"
    prev = header["prev"] if name == "algorand" else header["prev_hash"]
    assert prev.hex() == view["prev_hash"], "prev hash differs from the server's"
    # Signed bytes: rebuilt from the spec, then compared with what the server claims.
    rebuilt = rebuilt_signatures(name, cert, vset)
    served = view["signatures"]
    assert len(served) == len(rebuilt), "server lists a different number of signatures"
    for (signer, ktype, key, msg, sig), sv in zip(rebuilt, served):
        assert sv["signed_bytes"] == msg.hex(), f"signed bytes of {signer} differ from the spec"
        assert sv["signer"] == signer and sv["signature"] == sig.hex(), "signature list differs"
        assert sv["key_type"] == ktype and sv["public_key"] == key.hex(), "signer key differs"
    # Section 4 step 9 / section 5 step 9: next set committed iff last block of its epoch.
    nxt = header["next_validators"] if name == "algorand" else header["next_replicas"]
    assert (nxt is not None) == (height % L == 0), "tampered header: next-set field misplaced"
    raw_next = view.get("encoded_next_validator_set")
    next_set = None
    assert (raw_next is not None) == (nxt is not None), "next set carried iff committed"
    if raw_next is not None:
        raw_next = bytes.fromhex(raw_next)
        next_set = decode_set_strict(name, raw_next)
        assert set_hash(name, raw_next) == nxt, "tampered body: next set hash mismatch"
        assert next_set[0] == epoch + 1, "wrong epoch: next set is not epoch e + 1"
    n, root, kinds, nsig, exports = check_body(name, ctx, header, view)
    if name == "algorand":
        thr = -(-1112 * total // 1500)
        weight = f"stake {got} of {total} (threshold {thr} = ceil(1112*{total}/1500))"
    else:
        f = (total - 1) // 3
        weight = f"{got} distinct replicas of {total} (quorum 2f+1 = {2 * f + 1}, low-S)"
    log(f"  block {height} (epoch {epoch}): header hash {digest.hex()}")
    log(f"    certificate: {len(rebuilt)} signatures verified over bytes rebuilt from the spec "
        f"(equal to the server's signed_bytes); {weight}")
    kinds_s = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) or "empty"
    exp_s = ""
    if exports:
        exp_s = f", export index {exports[0]}" if len(exports) == 1 else \
            f", export indices {exports[0]}..{exports[-1]}"
    log(f"    body: {n} records ({kinds_s}), Merkle root {root.hex()} matches the header; "
        f"{nsig} transaction signatures and ids verified{exp_s}")
    if next_set is not None:
        log(f"    commits the set of epoch {next_set[0]}: hash {nxt.hex()} matches the carried set")
    return height, next_set, raw_next


def live(args):
    url = args.live
    log = print
    status = rpc(url, "chain_status", [])
    name, L = status["kind"], status["epoch_length"]
    assert name in MODELS, f"unknown chain kind {name!r}"
    assert L >= 1, "epoch length must be at least 1"
    ctx = {"chain_id": status["chain"], "epoch_length": L,
           "genesis_hash": args.genesis_hash.lower() if args.genesis_hash else None}
    log(f"live: {name} chain {status['chain']!r} at {url}: tip {status['height']}, "
        f"epoch length {L}, {status['validators']} validators")

    # The block to verify (waiting for it if asked).
    assert args.height is None or args.height >= 1, "height 0 is the genesis, never a block"
    height = args.height if args.height is not None else status["height"]
    deadline = time.monotonic() + args.wait
    view = rpc(url, "chain_getBlock", [height]) if height >= 1 else None
    while view is None and time.monotonic() < deadline:
        if height == 0 and args.height is None:
            height = rpc(url, "chain_status", [])["height"]
            view = rpc(url, "chain_getBlock", [height]) if height >= 1 else None
            if view is None:
                time.sleep(0.1)
            continue
        left = int(max(1, min(10_000, (deadline - time.monotonic()) * 1000)))
        rpc(url, "chain_waitForBlock", [height - 1, left], timeout=left / 1000 + 10)
        view = rpc(url, "chain_getBlock", [height])
    assert height >= 1, "the chain has no block yet (height 0 is the genesis; try --wait)"
    assert view is not None, f"block {height} not produced yet (tip {status['height']}; try --wait)"
    if args.tamper:
        log(f"  TAMPER: flipped {tamper_view(view, args.tamper)} of the fetched block")
    target_epoch = (height - 1) // L

    # Trust anchor: the epoch-0 set.
    g = rpc(url, "chain_getValidatorSet", [0])
    raw0 = bytes.fromhex(g["encoded"])
    sets = {0: decode_set_strict(name, raw0)}
    h0 = set_hash(name, raw0)
    assert sets[0][0] == 0, "genesis set is not epoch 0's"
    assert h0.hex() == g["hash"], "genesis set hash differs from the server's"
    if args.genesis_set_hash:
        assert h0.hex() == args.genesis_set_hash.lower(), "genesis set is not the pinned one"
        pin = "pinned with --genesis-set-hash"
    else:
        pin = "fetched from the endpoint; pin it with --genesis-set-hash"
    log(f"  trust anchor: epoch-0 set hash {h0.hex()} ({len(sets[0][1])} members; {pin})")

    # Walk the epochs: the last block of epoch e, verified under set e, commits set e + 1.
    for e in range(target_epoch):
        tv = rpc(url, "chain_getBlock", [(e + 1) * L])
        assert tv is not None, f"transition block {(e + 1) * L} missing"
        _, nset, raw = verify_live_block(name, ctx, tv, sets[e], log)
        assert nset is not None, f"block {(e + 1) * L} commits no next set"
        reported = rpc(url, "chain_getValidatorSet", [e + 1])
        assert reported is not None and bytes.fromhex(reported["encoded"]) == raw, \
            f"chain_getValidatorSet({e + 1}) differs from the set block {(e + 1) * L} commits"
        assert reported["hash"] == set_hash(name, raw).hex(), "set hash differs from the server's"
        sets[e + 1] = nset
        log(f"    epoch {e} -> {e + 1}: set of epoch {e + 1} learned from the certified block "
            f"(equal to chain_getValidatorSet({e + 1}))")
    if target_epoch == 0:
        log("  no epoch transition needed: the block is in epoch 0")

    _, nset, raw = verify_live_block(name, ctx, view, sets[target_epoch], log)
    if nset is not None:
        reported = rpc(url, "chain_getValidatorSet", [target_epoch + 1])
        assert reported is not None and bytes.fromhex(reported["encoded"]) == raw, \
            f"chain_getValidatorSet({target_epoch + 1}) differs from the committed set"
    log(f"live: block {height} of {status['chain']} verified from its bytes "
        f"({target_epoch} epoch transition(s) followed)")


def vectors(path):
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


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description="Re-verify chain blocks from docs/CHAINS.md alone.")
    p.add_argument("vectors", nargs="?", default=os.path.join(
        here, "..", "chains", "tests", "vectors", "chains.json"),
        help="test vectors file (default: chains/tests/vectors/chains.json)")
    p.add_argument("--live", metavar="URL",
                   help="verify a block of a running devnet chain at this JSON-RPC endpoint")
    p.add_argument("--height", type=int, help="block to verify (default: the newest)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait up to this long for the block to be produced")
    p.add_argument("--genesis-set-hash", metavar="HEX", help="pin the epoch-0 set hash")
    p.add_argument("--genesis-hash", metavar="HEX", help="pin the Algorand-style genesis hash")
    p.add_argument("--tamper", metavar="WHAT[@BYTE]", help=argparse.SUPPRESS)
    args = p.parse_args()
    if not args.live:
        return vectors(args.vectors)
    try:
        live(args)
    except (AssertionError, InvalidSignature, ValueError) as e:
        print(f"FAILED: {type(e).__name__} {str(e) or 'bad signature'}")
        return 1
    except (OSError, RpcError, KeyError, TypeError) as e:
        print(f"ERROR: cannot fetch from {args.live}: {type(e).__name__} {e}")
        return 2
    print("all live checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
