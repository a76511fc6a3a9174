/* mysql/compress.c: the compressed protocol (CLIENT_COMPRESS with zlib, and
 * CLIENT_ZSTD_COMPRESSION_ALGORITHM with a level), a layer of its own between the MySQL
 * packets and the stream (TLS included). Each compressed packet has a 7-byte header:
 * compressed length (3), compressed sequence id (1), uncompressed length (3; 0 = the
 * payload is sent as is).
 *
 * Bounds: a compressed packet says how large it decompresses to (at most 16 MiB) and must
 * decompress to exactly that; more input is decompressed only while the plain side holds
 * no whole packet, so a compression bomb costs one packet's expansion, and a packet larger
 * than max_allowed_packet is refused as usual. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "mysql/session_internal.h"

#define HEADER 7
#define MAX_PIECE 0xffffffu
/* Below this, compressing costs more than it saves (MySQL uses 50 too). */
#define MIN_COMPRESS 50

struct nn_mysql_zstate {
    nn_mysql_zalgo algo;
    int level;
    uint8_t seq;   /* the next compressed sequence id we send */
    nn_buf plain;  /* decompressed input not yet consumed */
    nn_buf packed; /* compression output scratch */
    ZSTD_CCtx *zc;
    ZSTD_DCtx *zd;
};

struct nn_mysql_zstate *nn_mysql_z_new(nn_mysql_zalgo algo, int level) {
    struct nn_mysql_zstate *z = calloc(1, sizeof(*z));
    if (z == NULL) {
        return NULL;
    }
    z->algo = algo;
    if (algo == NN_MYSQL_Z_ZSTD) {
        z->level = level < 1 ? 3 : (level > 22 ? 22 : level);
        z->zc = ZSTD_createCCtx();
        z->zd = ZSTD_createDCtx();
        if (z->zc == NULL || z->zd == NULL) {
            nn_mysql_z_delete(z);
            return NULL;
        }
    } else {
        z->level = level < 0 || level > 9 ? 6 : level;
    }
    return z;
}

void nn_mysql_z_delete(struct nn_mysql_zstate *z) {
    if (z == NULL) {
        return;
    }
    nn_buf_free(&z->plain);
    nn_buf_free(&z->packed);
    ZSTD_freeCCtx(z->zc);
    ZSTD_freeDCtx(z->zd);
    free(z);
}

int nn_mysql_z_start(nn_mysql_session *ses, nn_mysql_zalgo algo, int level) {
    ses->z = nn_mysql_z_new(algo, level);
    return ses->z != NULL ? 0 : -ENOMEM;
}

void nn_mysql_z_free(nn_mysql_session *ses) {
    nn_mysql_z_delete(ses->z);
    ses->z = NULL;
}

const char *nn_mysql_z_name(const nn_mysql_session *ses) {
    if (ses->z == NULL) {
        return "";
    }
    return ses->z->algo == NN_MYSQL_Z_ZSTD ? "zstd" : "zlib";
}

int nn_mysql_z_level(const nn_mysql_session *ses) {
    return ses->z != NULL ? ses->z->level : 0;
}

void nn_mysql_z_command_start(nn_mysql_session *ses) {
    (void)ses; /* the sequence follows the client's, see z_input */
}

static uint32_t get_u24(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}

/* Whether plain holds at least one whole MySQL packet (or the start of one larger than a
 * physical packet, which the reader then reassembles). */
static bool plain_has_packet(const nn_buf *plain) {
    if (plain->len < 4) {
        return false;
    }
    uint32_t len = get_u24(nn_buf_begin(plain));
    return plain->len >= 4 + (size_t)len;
}

static int inflate_into(struct nn_mysql_zstate *z, const uint8_t *src, size_t src_len, uint8_t *dst,
                        size_t dst_len) {
    if (z->algo == NN_MYSQL_Z_ZSTD) {
        size_t n = ZSTD_decompressDCtx(z->zd, dst, dst_len, src, src_len);
        return ZSTD_isError(n) || n != dst_len ? -EPROTO : 0;
    }
    uLongf n = (uLongf)dst_len;
    int rc = uncompress(dst, &n, src, (uLong)src_len);
    return rc != Z_OK || n != dst_len ? -EPROTO : 0;
}

int nn_mysql_z_unpack(struct nn_mysql_zstate *z, const uint8_t *in, size_t len, nn_buf *plain,
                      size_t cap, const char **why) {
    size_t used = 0;
    while (!plain_has_packet(plain) && len - used >= HEADER) {
        const uint8_t *h = in + used;
        uint32_t comp_len = get_u24(h);
        uint32_t plain_len = get_u24(h + 4);
        if (len - used < HEADER + (size_t)comp_len) {
            break;
        }
        if (plain->len + (plain_len ? plain_len : comp_len) > cap) {
            *why = "compressed input larger than max_allowed_packet";
            return -EMSGSIZE;
        }
        z->seq = (uint8_t)(h[3] + 1);
        if (plain_len == 0) {
            if (nn_buf_append(plain, h + HEADER, comp_len) < 0) {
                *why = "out of memory";
                return -ENOMEM;
            }
        } else {
            uint8_t *dst = nn_buf_tail(plain, plain_len);
            if (dst == NULL) {
                *why = "out of memory";
                return -ENOMEM;
            }
            if (inflate_into(z, h + HEADER, comp_len, dst, plain_len) < 0) {
                *why = "compressed packet does not decompress to its declared length";
                return -EPROTO;
            }
            nn_buf_commit(plain, plain_len);
        }
        used += HEADER + (size_t)comp_len;
    }
    return (int)used;
}

int nn_mysql_z_input(nn_mysql_session *ses, const uint8_t **data, size_t *len, const char **why) {
    struct nn_mysql_zstate *z = ses->z;
    size_t cap = (size_t)ses->settings->max_allowed_packet + MAX_PIECE + 64;
    if (ses->stream != NULL && !plain_has_packet(&z->plain)) {
        size_t in_len = 0;
        const uint8_t *in = nn_stream_input(ses->stream, &in_len);
        int used = nn_mysql_z_unpack(z, in, in_len, &z->plain, cap, why);
        if (used < 0) {
            return used;
        }
        nn_stream_consume(ses->stream, (size_t)used);
        if (!plain_has_packet(&z->plain) && in_len - (size_t)used >= HEADER) {
            /* A compressed packet still arriving: size the input for it at once. */
            const uint8_t *h = in + used;
            nn_stream_input_reserve(ses->stream, HEADER + (size_t)get_u24(h));
        }
    }
    *data = nn_buf_begin(&z->plain);
    *len = z->plain.len;
    return 0;
}

void nn_mysql_z_consume(nn_mysql_session *ses, size_t n) {
    nn_buf *plain = &ses->z->plain;
    nn_buf_consume(plain, n);
    if (plain->len == 0 && plain->cap > 65536) {
        nn_buf_free(plain); /* an idle session keeps no big buffer */
    }
}

static int pack_piece(struct nn_mysql_zstate *z, const uint8_t *data, size_t len, nn_buf *out) {
    size_t bound = z->algo == NN_MYSQL_Z_ZSTD ? ZSTD_compressBound(len) : compressBound((uLong)len);
    uint8_t *h = nn_buf_tail(out, HEADER + (len >= MIN_COMPRESS ? bound : len));
    if (h == NULL) {
        return -ENOMEM;
    }
    size_t payload_len = 0;
    size_t plain_len = 0;
    if (len >= MIN_COMPRESS) {
        size_t n = 0;
        if (z->algo == NN_MYSQL_Z_ZSTD) {
            size_t r = ZSTD_compressCCtx(z->zc, h + HEADER, bound, data, len, z->level);
            n = ZSTD_isError(r) ? 0 : r;
        } else {
            uLongf r = (uLongf)bound;
            n = compress2(h + HEADER, &r, data, (uLong)len, z->level) == Z_OK ? (size_t)r : 0;
        }
        if (n > 0 && n < len) {
            payload_len = n;
            plain_len = len;
        }
    }
    if (plain_len == 0) {
        /* Small or incompressible: as is, with an uncompressed length of 0. */
        memcpy(h + HEADER, data, len);
        payload_len = len;
    }
    h[0] = (uint8_t)payload_len;
    h[1] = (uint8_t)(payload_len >> 8);
    h[2] = (uint8_t)(payload_len >> 16);
    h[3] = z->seq++;
    h[4] = (uint8_t)plain_len;
    h[5] = (uint8_t)(plain_len >> 8);
    h[6] = (uint8_t)(plain_len >> 16);
    nn_buf_commit(out, HEADER + payload_len);
    return 0;
}

int nn_mysql_z_pack(struct nn_mysql_zstate *z, const uint8_t *data, size_t len, nn_buf *out) {
    /* Leave room so that an incompressible piece still fits the 3-byte length. */
    const size_t piece = MAX_PIECE - 64;
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        if (pack_piece(z, data + off, n, out) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

int nn_mysql_z_write(nn_mysql_session *ses, const uint8_t *data, size_t len) {
    struct nn_mysql_zstate *z = ses->z;
    nn_buf_clear(&z->packed);
    int rc = nn_mysql_z_pack(z, data, len, &z->packed);
    if (rc == 0) {
        rc = nn_stream_write(ses->stream, nn_buf_begin(&z->packed), z->packed.len);
    }
    if (z->packed.cap > 65536) {
        nn_buf_free(&z->packed);
    }
    return rc;
}
