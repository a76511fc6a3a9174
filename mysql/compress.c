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

int nn_mysql_z_start(nn_mysql_session *ses, nn_mysql_zalgo algo, int level) {
    struct nn_mysql_zstate *z = calloc(1, sizeof(*z));
    if (z == NULL) {
        return -ENOMEM;
    }
    z->algo = algo;
    if (algo == NN_MYSQL_Z_ZSTD) {
        z->level = level < 1 ? 3 : (level > 22 ? 22 : level);
        z->zc = ZSTD_createCCtx();
        z->zd = ZSTD_createDCtx();
        if (z->zc == NULL || z->zd == NULL) {
            ZSTD_freeCCtx(z->zc);
            ZSTD_freeDCtx(z->zd);
            free(z);
            return -ENOMEM;
        }
    } else {
        z->level = level < 0 || level > 9 ? 6 : level;
    }
    ses->z = z;
    return 0;
}

void nn_mysql_z_free(nn_mysql_session *ses) {
    struct nn_mysql_zstate *z = ses->z;
    if (z == NULL) {
        return;
    }
    nn_buf_free(&z->plain);
    nn_buf_free(&z->packed);
    ZSTD_freeCCtx(z->zc);
    ZSTD_freeDCtx(z->zd);
    free(z);
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

int nn_mysql_z_input(nn_mysql_session *ses, const uint8_t **data, size_t *len, const char **why) {
    struct nn_mysql_zstate *z = ses->z;
    size_t cap = (size_t)ses->settings->max_allowed_packet + MAX_PIECE + 64;
    while (!plain_has_packet(&z->plain) && ses->stream != NULL) {
        size_t in_len = 0;
        const uint8_t *in = nn_stream_input(ses->stream, &in_len);
        if (in_len < HEADER) {
            break;
        }
        uint32_t comp_len = get_u24(in);
        uint32_t plain_len = get_u24(in + 4);
        if (in_len < HEADER + (size_t)comp_len) {
            nn_stream_input_reserve(ses->stream, HEADER + (size_t)comp_len);
            break;
        }
        if (z->plain.len + (plain_len ? plain_len : comp_len) > cap) {
            *why = "compressed input larger than max_allowed_packet";
            return -EMSGSIZE;
        }
        z->seq = (uint8_t)(in[3] + 1);
        if (plain_len == 0) {
            if (nn_buf_append(&z->plain, in + HEADER, comp_len) < 0) {
                *why = "out of memory";
                return -ENOMEM;
            }
        } else {
            uint8_t *dst = nn_buf_tail(&z->plain, plain_len);
            if (dst == NULL) {
                *why = "out of memory";
                return -ENOMEM;
            }
            if (inflate_into(z, in + HEADER, comp_len, dst, plain_len) < 0) {
                *why = "compressed packet does not decompress to its declared length";
                return -EPROTO;
            }
            nn_buf_commit(&z->plain, plain_len);
        }
        nn_stream_consume(ses->stream, HEADER + (size_t)comp_len);
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

static int write_piece(nn_mysql_session *ses, const uint8_t *data, size_t len) {
    struct nn_mysql_zstate *z = ses->z;
    uint8_t header[HEADER];
    const uint8_t *payload = data;
    size_t payload_len = len;
    size_t plain_len = 0;
    if (len >= MIN_COMPRESS) {
        size_t bound =
            z->algo == NN_MYSQL_Z_ZSTD ? ZSTD_compressBound(len) : compressBound((uLong)len);
        nn_buf_clear(&z->packed);
        uint8_t *dst = nn_buf_tail(&z->packed, bound);
        if (dst == NULL) {
            return -ENOMEM;
        }
        size_t out = 0;
        if (z->algo == NN_MYSQL_Z_ZSTD) {
            size_t n = ZSTD_compressCCtx(z->zc, dst, bound, data, len, z->level);
            out = ZSTD_isError(n) ? 0 : n;
        } else {
            uLongf n = (uLongf)bound;
            out = compress2(dst, &n, data, (uLong)len, z->level) == Z_OK ? (size_t)n : 0;
        }
        if (out > 0 && out < len) {
            payload = dst;
            payload_len = out;
            plain_len = len;
        }
    }
    header[0] = (uint8_t)payload_len;
    header[1] = (uint8_t)(payload_len >> 8);
    header[2] = (uint8_t)(payload_len >> 16);
    header[3] = z->seq++;
    header[4] = (uint8_t)plain_len;
    header[5] = (uint8_t)(plain_len >> 8);
    header[6] = (uint8_t)(plain_len >> 16);
    struct iovec iov[2] = {{.iov_base = header, .iov_len = HEADER},
                           {.iov_base = (void *)payload, .iov_len = payload_len}};
    return nn_stream_writev(ses->stream, iov, 2);
}

int nn_mysql_z_write(nn_mysql_session *ses, const uint8_t *data, size_t len) {
    /* Leave room so that an incompressible piece still fits the 3-byte length. */
    const size_t piece = MAX_PIECE - 64;
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        rc = write_piece(ses, data + off, n);
    }
    if (ses->z->packed.cap > 65536) {
        nn_buf_free(&ses->z->packed);
    }
    return rc;
}
