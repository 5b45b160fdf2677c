#!/usr/bin/env python3
"""make_seeds.py: writes the seed corpora in fuzz/corpus/<target>/ (the
files are committed; run this again only to change them). Each seed is a
well-formed or nearly well-formed input in the format its target's header
comment describes."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------ fuzz_addr
# byte 0: type (bit 7 raw), byte 1: flags, then lines <op><address>\n
PAIR, PUB, SUB, REQ, REP, PUSH, PULL, SURVEYOR, RESPONDENT, BUS = range(10)
addr_cases = {
    "tcp_bind_any": (PAIR, 0, [(0, "tcp://*:5555")]),
    "tcp_bind_lit": (PULL, 0, [(2, "tcp://127.0.0.1:5556")]),
    "tcp_bind_v6": (PAIR, 1, [(0, "tcp://[::1]:5557")]),
    "tcp_bind_if": (PAIR, 0, [(0, "tcp://lo:5558"), (0, "tcp://eth0:5558")]),
    "tcp_bind_bad": (PAIR, 0, [(0, "tcp://*:0"), (0, "tcp://*:65536"), (0, "tcp://*:"), (0, "tcp://*")]),
    "tcp_connect": (PUSH, 2, [(0, "tcp://127.0.0.1:5559"), (5, "tcp://127.0.0.1:5559")]),
    "tcp_connect_local": (REQ, 1, [(1, "tcp://lo;127.0.0.1:5560"), (3, "tcp://*;[::1]:5560")]),
    "tcp_connect_name": (REQ, 0, [(1, "tcp://localhost:5561"), (1, "tcp://a-b.c:1"), (1, "tcp://-x:1")]),
    "tcp_connect_scope": (BUS, 1, [(1, "tcp://[fe80::1%lo]:5562"), (1, "tcp://[::ffff:127.0.0.1]:1")]),
    "ipc_bind": (PAIR, 2, [(0, "ipc://sock-a"), (5, "ipc://sock-a"), (2, "ipc://sock-a")]),
    "ipc_long": (PAIR, 0, [(0, "ipc://" + "x" * 107), (0, "ipc://" + "y" * 108)]),
    "ipc_empty": (PAIR, 0, [(0, "ipc://"), (1, "ipc://")]),
    "inproc": (SURVEYOR, 2, [(0, "inproc://n"), (5, "inproc://n"), (2, "inproc://n")]),
    "inproc_self": (PAIR, 0, [(0, "inproc://self"), (1, "inproc://self")]),
    "inproc_long": (PAIR, 0, [(0, "inproc://" + "z" * 118), (0, "inproc://" + "z" * 119)]),
    "garbage": (PUB, 4, [(0, "foo://bar"), (1, "tcp:/x"), (0, ""), (1, "://"), (0, "ws://x:1")]),
    "raw": (REP | 0x80, 6, [(0, "tcp://*:5563"), (5, "tcp://127.0.0.1:5563")]),
    "ws_bind": (PAIR, 2, [(0, "ws://127.0.0.1:5564/a"), (4, "ws://127.0.0.1:5564/b"), (5, "ws://127.0.0.1:5564/a")]),
    "ws_paths": (PAIR, 0, [(0, "ws://*:5565"), (0, "ws://*:5565/"), (0, "ws://*:5565/x?y"), (1, "ws://127.0.0.1/p a")]),
    "ws_connect": (REQ, 1, [(1, "ws://localhost:5566/x"), (1, "ws://[::1]:5566"), (1, "ws://lo;127.0.0.1:5566/q?r#s")]),
}
for name, (t, flags, lines) in addr_cases.items():
    body = b"\n".join(bytes([op]) + a.encode() for op, a in lines)
    put("fuzz_addr", name, bytes([t, flags]) + body)

# ---------------------------------------------------- fuzz_tcp / fuzz_ipc
# byte 0: server index, byte 1: flags (1 header, 2 REQ id echo, 4/8 splits,
# 16 RST), then the bytes.
S_PAIR, S_REQ, S_REP, S_PUB, S_SUB, S_PUSH, S_PULL, S_SURVEYOR, S_RESPONDENT, S_BUS, \
    S_RAWREP, S_RAWRESP, S_RAWBUS, S_SMALLPULL, S_BIGPAIR = range(15)


def frames(msgs, ipc):
    out = b""
    for m in msgs:
        out += (b"\x01" if ipc else b"") + struct.pack(">Q", len(m)) + m
    return out


def w(*words):
    return b"".join(struct.pack(">I", x) for x in words)


for tgt, ipc in (("fuzz_tcp", False), ("fuzz_ipc", True)):
    def f(msgs):
        return frames(msgs, ipc)
    put(tgt, "pair_msgs", bytes([S_PAIR, 1]) + f([b"hello", b"", b"x" * 300]))
    put(tgt, "pair_split", bytes([S_PAIR, 1 | 8]) + f([b"a" * 100, b"b" * 50]))
    put(tgt, "pair_rst", bytes([S_PAIR, 1 | 16]) + f([b"abc"])[:-1])
    put(tgt, "rep_request", bytes([S_REP, 1]) + f([w(0x80000001) + b"req"]))
    put(tgt, "rep_hops", bytes([S_REP, 1]) + f([w(1, 2, 3, 0x80000004) + b"deep"]))
    put(tgt, "rep_nobottom", bytes([S_REP, 1]) + f([w(1, 2, 3) + b"", w(1)]))
    put(tgt, "rep_ttl", bytes([S_REP, 1]) + f([w(*range(1, 10), 0x80000000) + b"ttl"]))
    put(tgt, "req_reply_echo", bytes([S_REQ, 1 | 2]) + f([w(0x80000000) + b"reply"]))
    put(tgt, "req_stray", bytes([S_REQ, 1]) + f([w(0x80001234) + b"stray"]))
    put(tgt, "sub_msgs", bytes([S_SUB, 1]) + f([b"topic data", b""]))
    put(tgt, "pull_msgs", bytes([S_PULL, 1 | 4]) + f([b"m%d" % i for i in range(20)]))
    put(tgt, "pull_toobig", bytes([S_SMALLPULL, 1]) + f([b"y" * 101]))
    put(tgt, "pull_huge_claim", bytes([S_PULL, 1]) + (b"\x01" if ipc else b"") + struct.pack(">Q", 1 << 62))
    put(tgt, "pair_big_partial", bytes([S_BIGPAIR, 1]) + (b"\x01" if ipc else b"") + struct.pack(">Q", 40000) + b"z" * 1000)
    put(tgt, "pair_big", bytes([S_BIGPAIR, 1]) + f([b"q" * 70000]))
    put(tgt, "surveyor_resp", bytes([S_SURVEYOR, 1]) + f([w(0x80000007) + b"resp"]))
    put(tgt, "respondent_survey", bytes([S_RESPONDENT, 1]) + f([w(0x80000009) + b"survey"]))
    put(tgt, "rawrep_stack", bytes([S_RAWREP, 1]) + f([w(5, 0x80000001) + b"r", w(0x80000002)]))
    put(tgt, "rawresp_stack", bytes([S_RAWRESP, 1]) + f([w(0x80000003) + b"s"]))
    put(tgt, "bus_msgs", bytes([S_BUS, 1]) + f([b"bus"]))
    put(tgt, "rawbus_msgs", bytes([S_RAWBUS, 1]) + f([b"bus", b"raw"]))
    put(tgt, "bad_magic", bytes([S_PAIR, 0]) + b"\x00SQ\x00\x00\x10\x00\x00")
    put(tgt, "bad_reserved", bytes([S_PAIR, 0]) + b"\x00SP\x00\x00\x10\x00\x01")
    put(tgt, "wrong_peer", bytes([S_PAIR, 0]) + b"\x00SP\x00\x00\x30\x00\x00" + f([b"x"]))
    put(tgt, "half_header", bytes([S_PULL, 0]) + b"\x00SP\x00")
    put(tgt, "pub_inbound", bytes([S_PUB, 1]) + f([b"to a pub"]))
    put(tgt, "push_inbound", bytes([S_PUSH, 1]) + f([b"to a push"]))
    if ipc:
        put(tgt, "bad_type_byte", bytes([S_PAIR, 1]) + b"\x02" + struct.pack(">Q", 1) + b"x")

# -------------------------------------------------------------- fuzz_ws
# byte 0: mode (0 raw request, 1 valid upgrade + raw frames, 2 valid upgrade
# + frame descriptions, 3 we answer a dialer: bit 2 which dialer, bit 3 valid
# 101, bit 4 descriptions); byte 1: listening socket index.
L_PAIR, L_REP, L_PULL, L_SUB, L_RESP, L_RAWREP, L_BUS, L_TEXT, L_SMALL = range(9)


def upgrade(path, proto, extra=b"", version=b"13", key=b"dGhlIHNhbXBsZSBub25jZQ=="):
    return (b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: " + version + b"\r\nSec-WebSocket-Protocol: " + proto +
            b".sp.nanomsg.org\r\n" + extra + b"\r\n")


def mframe(payload, op=2, fin=True, key=b"\x11\x22\x33\x44"):
    """A masked client frame, as on the wire."""
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        h = bytes([b0, 0x80 | n])
    elif n < 65536:
        h = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    return h + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def uframe(payload, op=2, fin=True):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        return bytes([b0, n]) + payload
    if n < 65536:
        return bytes([b0, 126]) + struct.pack(">H", n) + payload
    return bytes([b0, 127]) + struct.pack(">Q", n) + payload


def desc(payload, op=2, fin=True, mask=True, form=0, lie=None, unit256=False):
    b0 = (0x80 if fin else 0) | op
    fl = (1 if mask else 0) | (form << 1) | (8 if unit256 else 0)
    n = len(payload) // 256 if unit256 else len(payload)
    out = bytes([b0, fl, n])
    if form == 3:
        out += bytes([lie if lie is not None else 128])
    if mask:
        out += b"\x01\x02\x03\x04"
    return out + payload


put("fuzz_ws", "req_pair", bytes([0, L_PAIR]) + upgrade(b"/pair", b"pair"))
put("fuzz_ws", "req_rep_frames", bytes([0, L_REP]) + upgrade(b"/rep", b"rep") +
    mframe(w(0x80000001) + b"hello"))
put("fuzz_ws", "req_bad_version", bytes([0, L_PAIR]) + upgrade(b"/pair", b"pair", version=b"8"))
put("fuzz_ws", "req_bad_proto", bytes([0, L_PAIR]) + upgrade(b"/pair", b"rep"))
put("fuzz_ws", "req_bad_key", bytes([0, L_PAIR]) + upgrade(b"/pair", b"pair", key=b"short"))
put("fuzz_ws", "req_no_path", bytes([0, L_PAIR]) + upgrade(b"/nothing-here", b"pair"))
put("fuzz_ws", "req_post", bytes([0, L_PAIR]) + b"POST /pair HTTP/1.1\r\nHost: x\r\n\r\n")
put("fuzz_ws", "req_http10", bytes([0, L_PAIR]) + b"GET /pair HTTP/1.0\r\n\r\n")
put("fuzz_ws", "req_lf_only", bytes([0, L_PULL]) + upgrade(b"/pull", b"pull").replace(b"\r\n", b"\n"))
put("fuzz_ws", "req_query", bytes([0, L_SUB]) + upgrade(b"/sub?x=1#f", b"sub"))
put("fuzz_ws", "req_many_fields", bytes([0, L_BUS]) + upgrade(b"/bus", b"bus", b"".join(b"X-%d: v\r\n" % i for i in range(70))))
put("fuzz_ws", "req_folded", bytes([0, L_PAIR]) + upgrade(b"/pair", b"pair", b"X-Long: a\r\n  continued\r\n"))
put("fuzz_ws", "raw_frames_pair", bytes([1, L_PAIR]) + mframe(b"one") + mframe(b"two", op=2, fin=False) +
    mframe(b"-cont", op=0) + mframe(b"ping", op=9) + mframe(b"", op=10))
put("fuzz_ws", "raw_close", bytes([1, L_PAIR]) + mframe(struct.pack(">H", 1000) + b"bye", op=8))
put("fuzz_ws", "raw_unmasked", bytes([1, L_PULL]) + uframe(b"unmasked"))
put("fuzz_ws", "raw_text_bad_utf8", bytes([1, L_TEXT]) + mframe(b"\xc3\x28", op=1))
put("fuzz_ws", "raw_text_ok", bytes([1, L_TEXT]) + mframe("h\u00e9llo".encode(), op=1))
put("fuzz_ws", "raw_big", bytes([1, L_PAIR]) + mframe(b"B" * 70000))
put("fuzz_ws", "raw_too_big", bytes([1, L_SMALL]) + mframe(b"s" * 101))
put("fuzz_ws", "raw_len64_huge", bytes([1, L_PULL]) + b"\x82\xff" + b"\x7f" + b"\xff" * 7 + b"\x00\x00\x00\x00")
put("fuzz_ws", "raw_rsv", bytes([1, L_PAIR]) + bytes([0xc2, 0x80]) + b"\x00\x00\x00\x00")
put("fuzz_ws", "raw_rep_stack", bytes([1, L_RAWREP]) + mframe(w(3, 0x80000005) + b"x"))
put("fuzz_ws", "raw_resp", bytes([1, L_RESP]) + mframe(w(0x80000009) + b"survey"))
put("fuzz_ws", "desc_fragments", bytes([2, L_PAIR]) + desc(b"ab", fin=False) + desc(b"cd", op=0, fin=False) +
    desc(b"p", op=9) + desc(b"ef", op=0))
put("fuzz_ws", "desc_forms", bytes([2, L_BUS]) + desc(b"x" * 10, form=1) + desc(b"y" * 10, form=2) +
    desc(b"z" * 10, form=3, lie=130))
put("fuzz_ws", "desc_unmasked", bytes([2, L_PULL]) + desc(b"nomask", mask=False))
put("fuzz_ws", "desc_big", bytes([2, L_PAIR]) + desc(b"Q" * 512, unit256=True))
put("fuzz_ws", "desc_long_ping", bytes([2, L_PAIR]) + desc(b"P" * 126, op=9))
put("fuzz_ws", "desc_close_codes", bytes([2, L_PAIR]) + desc(struct.pack(">H", 1005), op=8))
put("fuzz_ws", "desc_cont_first", bytes([2, L_PAIR]) + desc(b"orphan", op=0))
put("fuzz_ws", "dial_raw_101", bytes([3, 0]) + b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Accept: xxxxxxxxxxxxxxxxxxxxxxxxxxx=\r\n\r\n")
put("fuzz_ws", "dial_raw_404", bytes([3 | 4, 0]) + b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
put("fuzz_ws", "dial_raw_garbage", bytes([3, 0]) + b"SSH-2.0-OpenSSH\r\n")
put("fuzz_ws", "dial_frames", bytes([3 | 8, 0]) + uframe(b"to the dialer") + uframe(b"ping", op=9) +
    uframe(b"frag", fin=False) + uframe(b"ment", op=0))
put("fuzz_ws", "dial_masked", bytes([3 | 8, 0]) + mframe(b"servers do not mask"))
put("fuzz_ws", "dial_req_reply", bytes([3 | 4 | 8, 0]) + uframe(w(0x80000001) + b"reply"))
put("fuzz_ws", "dial_desc", bytes([3 | 4 | 8 | 16, 0]) + desc(w(0x80000002) + b"r", mask=False) +
    desc(struct.pack(">H", 1001), op=8, mask=False))

# ------------------------------------------------------------- fuzz_hdr
# op = kind | arg << 3; raw_senders = RQ RP SV RD XRQ XRP DFRONT DBACK SFRONT SBACK
# sockets: RQ REP RP REQ SV RS RD SY DREQ DFRONT DBACK DREP XRQ XRP DSY SFRONT SBACK DRS
RQ_, REP_, RP_, REQ_, SV_, RS_, RD_, SY_, DREQ_, DFRONT_, DBACK_, DREP_, XRQ_, XRP_, DSY_, SFRONT_, SBACK_, DRS_ = range(18)
RAW = [RQ_, RP_, SV_, RD_, XRQ_, XRP_, DFRONT_, DBACK_, SFRONT_, SBACK_]
COOKED = [REP_, REQ_, RS_, SY_, DREQ_, DREP_, DSY_, DRS_]


def op(kind, arg):
    return bytes([kind | (arg << 3)])


def lb(b):
    return bytes([len(b)]) + b


def raw_send(sock, hdr, body, zc=False):
    f = 1 if zc else 0
    if len(hdr) > 255:
        return op(0, RAW.index(sock)) + bytes([f | 2, len(hdr) // 4]) + hdr + lb(body)
    return op(0, RAW.index(sock)) + bytes([f]) + lb(hdr) + lb(body)


def recv(sock):
    return op(3, sock)


def cooked_send(sock, body):
    return op(7, COOKED.index(sock)) + lb(body)


def echo(sock, body, at=0, x=0):
    return op(4, RAW.index(sock)) + bytes([at, x]) + lb(body)


def fwd(i):
    return op(5, i)


put("fuzz_hdr", "rq_rep", raw_send(RQ_, w(0x80000001), b"ping") + recv(REP_) +
    cooked_send(REP_, b"pong") + recv(RQ_))
put("fuzz_hdr", "rq_rep_hops", raw_send(RQ_, w(7, 9, 0x80000002), b"x") + recv(REP_) +
    cooked_send(REP_, b"y") + recv(RQ_))
put("fuzz_hdr", "rq_rep_bad", raw_send(RQ_, w(1, 2), b"x") + raw_send(RQ_, b"\x80\x00\x00", b"odd") +
    raw_send(RQ_, w(0x80000001, 5), b"after") + recv(REP_))
put("fuzz_hdr", "req_rp", cooked_send(REQ_, b"q") + recv(RP_) + echo(RP_, b"answer") + recv(REQ_))
put("fuzz_hdr", "req_rp_wrong", cooked_send(REQ_, b"q") + recv(RP_) + echo(RP_, b"a", 3, 1) +
    recv(REQ_))
put("fuzz_hdr", "sv_rs", raw_send(SV_, w(0x80000010), b"survey") + recv(RS_) +
    cooked_send(RS_, b"vote") + recv(SV_))
put("fuzz_hdr", "sy_rd", cooked_send(SY_, b"s") + recv(RD_) + echo(RD_, b"v") + recv(SY_))
put("fuzz_hdr", "device_rr", cooked_send(DREQ_, b"through") + fwd(0) + recv(DREP_) +
    cooked_send(DREP_, b"back") + fwd(1) + recv(DREQ_))
put("fuzz_hdr", "device_xrq", raw_send(XRQ_, w(0x80000044), b"raw in") + fwd(0) + recv(DREP_) +
    cooked_send(DREP_, b"out") + fwd(1) + recv(XRQ_))
put("fuzz_hdr", "device_sv", cooked_send(DSY_, b"s") + fwd(2) + recv(DRS_) + cooked_send(DRS_, b"r") +
    fwd(3) + recv(DSY_))
put("fuzz_hdr", "ttl", op(6, 11) + bytes([1]) + raw_send(RQ_, w(1, 0x80000001), b"t") + recv(REP_) +
    op(6, 11) + bytes([255]) + raw_send(RQ_, w(*range(1, 200), 0x80000001), b"deep") + recv(REP_))
ctl = struct.pack("=QiiQ", 8 + 8 + 4, 1, 1, 4) + w(0x80000001)
put("fuzz_hdr", "ctl_raw", op(1, RAW.index(RQ_)) + lb(ctl) + lb(b"c") + recv(REP_))
put("fuzz_hdr", "zero_copy", raw_send(RQ_, w(0x80000003), b"zc", True) + recv(REP_))
print("seeds written")
