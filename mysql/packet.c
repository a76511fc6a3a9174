/* mysql/packet.c: MySQL packet framing and the little-endian field codecs. */
#include <errno.h>
#include <string.h>

#include "mysql/mysql_internal.h"

static uint32_t get_u24(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}

int nn_mysql_packet_read(const uint8_t *in, size_t in_len, uint8_t expected_seq, size_t max_payload,
                         nn_buf *scratch, nn_mysql_packet *out, size_t *consumed) {
    /* First pass: walk the headers only, checking sequence ids and the running size, so
     * that an oversized or misnumbered packet is refused before its body arrives. */
    size_t pos = 0;
    size_t total = 0;
    size_t pieces = 0;
    uint8_t seq = expected_seq;
    for (;;) {
        if (in_len - pos < 4) {
            return 0;
        }
        uint32_t len = get_u24(in + pos);
        if (in[pos + 3] != seq) {
            out->bad_seq = in[pos + 3];
            return -EPROTO;
        }
        total += len;
        if (total > max_payload) {
            return -EMSGSIZE;
        }
        seq++;
        pieces++;
        if (in_len - pos - 4 < len) {
            return 0;
        }
        pos += 4 + len;
        if (len < NN_MYSQL_MAX_PHYSICAL) {
            break;
        }
    }
    out->next_seq = seq;
    out->len = total;
    *consumed = pos;
    if (pieces == 1) {
        out->payload = in + 4;
        return 1;
    }
    nn_buf_clear(scratch);
    if (nn_buf_reserve(scratch, total) < 0) {
        return -ENOMEM;
    }
    size_t at = 0;
    while (at < pos) {
        uint32_t len = get_u24(in + at);
        nn_buf_append(scratch, in + at + 4, len);
        at += 4 + len;
    }
    out->payload = nn_buf_begin(scratch);
    return 1;
}

int nn_mysql_packet_frame(nn_buf *out, uint8_t *seq, const uint8_t *payload, size_t len) {
    size_t off = 0;
    for (;;) {
        size_t piece = len - off;
        if (piece > NN_MYSQL_MAX_PHYSICAL) {
            piece = NN_MYSQL_MAX_PHYSICAL;
        }
        uint8_t *h = nn_buf_tail(out, 4 + piece);
        if (h == NULL) {
            return -ENOMEM;
        }
        h[0] = (uint8_t)piece;
        h[1] = (uint8_t)(piece >> 8);
        h[2] = (uint8_t)(piece >> 16);
        h[3] = (*seq)++;
        if (piece > 0) {
            memcpy(h + 4, payload + off, piece);
        }
        nn_buf_commit(out, 4 + piece);
        off += piece;
        /* A piece of exactly 0xffffff says "more follows", even if what follows is an
         * empty packet. */
        if (piece < NN_MYSQL_MAX_PHYSICAL) {
            return 0;
        }
    }
}

int nn_mysql_put_u8(nn_buf *b, uint8_t v) {
    return nn_buf_append(b, &v, 1);
}

int nn_mysql_put_u16(nn_buf *b, uint16_t v) {
    uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return nn_buf_append(b, p, 2);
}

int nn_mysql_put_u24(nn_buf *b, uint32_t v) {
    uint8_t p[3] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16)};
    return nn_buf_append(b, p, 3);
}

int nn_mysql_put_u32(nn_buf *b, uint32_t v) {
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return nn_buf_append(b, p, 4);
}

int nn_mysql_put_lenenc(nn_buf *b, uint64_t v) {
    uint8_t p[9];
    size_t n;
    if (v < 251) {
        p[0] = (uint8_t)v;
        n = 1;
    } else if (v < 0x10000) {
        p[0] = 0xfc;
        n = 3;
    } else if (v < 0x1000000) {
        p[0] = 0xfd;
        n = 4;
    } else {
        p[0] = 0xfe;
        n = 9;
    }
    for (size_t i = 1; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * (i - 1)));
    }
    return nn_buf_append(b, p, n);
}

int nn_mysql_put_lenenc_str(nn_buf *b, const void *s, size_t len) {
    if (nn_mysql_put_lenenc(b, len) < 0) {
        return -ENOMEM;
    }
    return len > 0 ? nn_buf_append(b, s, len) : 0;
}

int nn_mysql_put_str_nul(nn_buf *b, const char *s) {
    return nn_buf_append(b, s, strlen(s) + 1);
}

void nn_mysql_cursor_init(nn_mysql_cursor *c, const uint8_t *p, size_t len) {
    c->p = p;
    c->left = len;
    c->bad = false;
}

const uint8_t *nn_mysql_get_bytes(nn_mysql_cursor *c, size_t n) {
    if (c->bad || c->left < n) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

uint8_t nn_mysql_get_u8(nn_mysql_cursor *c) {
    const uint8_t *p = nn_mysql_get_bytes(c, 1);
    return p ? p[0] : 0;
}

uint16_t nn_mysql_get_u16(nn_mysql_cursor *c) {
    const uint8_t *p = nn_mysql_get_bytes(c, 2);
    return p ? (uint16_t)(p[0] | (p[1] << 8)) : 0;
}

uint32_t nn_mysql_get_u32(nn_mysql_cursor *c) {
    const uint8_t *p = nn_mysql_get_bytes(c, 4);
    if (p == NULL) {
        return 0;
    }
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint64_t nn_mysql_get_lenenc(nn_mysql_cursor *c) {
    uint8_t first = nn_mysql_get_u8(c);
    size_t n;
    if (first < 0xfb) {
        return first;
    } else if (first == 0xfc) {
        n = 2;
    } else if (first == 0xfd) {
        n = 3;
    } else if (first == 0xfe) {
        n = 8;
    } else {
        /* 0xfb is NULL in rows and 0xff an error header: never a length here. */
        c->bad = true;
        return 0;
    }
    const uint8_t *p = nn_mysql_get_bytes(c, n);
    if (p == NULL) {
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

const char *nn_mysql_get_str_nul(nn_mysql_cursor *c, size_t *len) {
    if (c->bad) {
        return NULL;
    }
    const uint8_t *nul = memchr(c->p, 0, c->left);
    if (nul == NULL) {
        c->bad = true;
        return NULL;
    }
    const char *s = (const char *)c->p;
    size_t n = (size_t)(nul - c->p);
    if (len != NULL) {
        *len = n;
    }
    c->p += n + 1;
    c->left -= n + 1;
    return s;
}
