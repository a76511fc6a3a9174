#!/usr/bin/python3
"""Protocol compression over TLS against a real node: PyMySQL logs in (with
CLIENT_COMPRESS or CLIENT_ZSTD_COMPRESSION_ALGORITHM), then this script speaks the
compressed protocol on the same TLS socket (zlib from Python, zstd through libzstd with
ctypes): the rows equal those of an uncompressed session, and a compression bomb is
refused with an error and a closed session while the node serves everyone else.

    mysql_compress_client.py PORT CA_FILE ROOT_PASSWORD"""
import ctypes
import ctypes.util
import hashlib
import sys
import zlib

import pymysql
from pymysql.constants import CLIENT

PORT, CA, PW = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ZSTD_FLAG = 1 << 26
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    passed += ok
    failed += not ok
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else ": %s" % (detail,)))


libzstd = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
libzstd.ZSTD_compressBound.restype = ctypes.c_size_t
libzstd.ZSTD_compress.restype = ctypes.c_size_t
libzstd.ZSTD_decompress.restype = ctypes.c_size_t
libzstd.ZSTD_isError.restype = ctypes.c_uint


def zstd_compress(data, level=3):
    cap = libzstd.ZSTD_compressBound(ctypes.c_size_t(len(data)))
    out = ctypes.create_string_buffer(cap)
    n = libzstd.ZSTD_compress(out, ctypes.c_size_t(cap), data, ctypes.c_size_t(len(data)), level)
    assert not libzstd.ZSTD_isError(ctypes.c_size_t(n))
    return out.raw[:n]


def zstd_decompress(data, size):
    out = ctypes.create_string_buffer(max(size, 1))
    n = libzstd.ZSTD_decompress(out, ctypes.c_size_t(size), data, ctypes.c_size_t(len(data)))
    assert not libzstd.ZSTD_isError(ctypes.c_size_t(n)) and n == size
    return out.raw[:size]


class Compressed:
    def __init__(self, algo):
        flag = CLIENT.COMPRESS if algo == "zlib" else ZSTD_FLAG
        self.algo = algo
        self.conn = pymysql.connect(host="127.0.0.1", port=PORT, user="root", password=PW,
                                    ssl={"ca": CA}, client_flag=flag, autocommit=None)
        self.sock = self.conn._sock
        self.rbuf = b""
        self.plain = b""

    def send(self, payload, seq=0, bomb=None):
        packet = len(payload).to_bytes(3, "little") + bytes([0]) + payload
        if bomb is not None:
            body, ulen = bomb
        else:
            body = zlib.compress(packet) if self.algo == "zlib" else zstd_compress(packet)
            ulen = len(packet)
        self.sock.sendall(len(body).to_bytes(3, "little") + bytes([seq]) +
                          ulen.to_bytes(3, "little") + body)

    def recv_exact(self, n):
        while len(self.rbuf) < n:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError
            self.rbuf += data
        out, self.rbuf = self.rbuf[:n], self.rbuf[n:]
        return out

    def packet(self):
        while True:
            if len(self.plain) >= 4:
                n = int.from_bytes(self.plain[:3], "little")
                if len(self.plain) >= 4 + n:
                    out, self.plain = self.plain[4:4 + n], self.plain[4 + n:]
                    return out
            h = self.recv_exact(7)
            clen = int.from_bytes(h[:3], "little")
            ulen = int.from_bytes(h[4:7], "little")
            body = self.recv_exact(clen)
            if ulen == 0:
                self.plain += body
            elif self.algo == "zlib":
                self.plain += zlib.decompress(body)
            else:
                self.plain += zstd_decompress(body, ulen)

    def query(self, sql):
        """Rows of a text result as raw row payloads; raises on an error packet."""
        self.send(b"\x03" + sql.encode())
        first = self.packet()
        if first[0] == 0xFF:
            raise RuntimeError(int.from_bytes(first[1:3], "little"))
        rows = []
        eofs = 0
        while eofs < 2:
            p = self.packet()
            if p[0] == 0xFE and len(p) < 9:
                eofs += 1
            elif eofs == 1:
                rows.append(p)
        return rows


def plain_rows(sql):
    c = pymysql.connect(host="127.0.0.1", port=PORT, user="root", password=PW, ssl={"ca": CA})
    cur = c.cursor()
    cur.execute(sql)
    rows = cur.fetchall()
    c.close()
    return rows


big = "SELECT '%s' AS big, 'x' AS small" % ("abc" * 200000)
for algo in ("zlib", "zstd"):
    z = Compressed(algo)
    rows = z.query("SHOW VARIABLES")
    check("%s_show_variables_same_rows" % algo, len(rows) == len(plain_rows("SHOW VARIABLES")),
          len(rows))
    rows = z.query(big)
    digest = hashlib.sha256(rows[0]).hexdigest() if rows else ""
    check("%s_600k_value" % algo, len(rows) == 1 and len(rows[0]) > 600000, digest)
    status = z.query("SHOW STATUS LIKE 'Compression%'")
    text = b"|".join(status)
    check("%s_status_on" % algo, b"ON" in text and algo.encode() in text, text)
    # A bomb: 64 MiB of zeros compressed to a few KiB, declared as 100 bytes.
    payload = b"\x03SELECT 1" + b"\x00" * (64 << 20)
    packet = len(payload[:0xFFFFFF]).to_bytes(3, "little") + b"\x00" + payload
    body = zlib.compress(packet) if algo == "zlib" else zstd_compress(packet)
    z.send(b"", bomb=(body, 100))
    try:
        p = z.packet()
        check("%s_bomb_refused" % algo, p[0] == 0xFF and int.from_bytes(p[1:3], "little") in (1157, 1153), p[:40])
        try:
            z.packet()
            closed = False
        except (EOFError, OSError):
            closed = True
        check("%s_bomb_closes_session" % algo, closed)
    except (EOFError, OSError) as e:
        check("%s_bomb_refused" % algo, False, "closed without an error: %s" % e)
    check("%s_others_served" % algo, plain_rows("SELECT 'served'") == (("served",),))

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
