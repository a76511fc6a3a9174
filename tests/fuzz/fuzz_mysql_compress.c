/* The compressed protocol from a hostile client: compressed packets (zlib or zstd) are
 * decoded within their bound, and what the codec packs always unpacks to the same bytes.
 * Input: [algo][max plain KiB] then the compressed bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) {
        return 0;
    }
    nn_mysql_zalgo algo = (data[0] & 1) ? NN_MYSQL_Z_ZSTD : NN_MYSQL_Z_ZLIB;
    size_t cap = ((size_t)data[1] + 1) * 1024;
    data += 2;
    size -= 2;
    struct nn_mysql_zstate *z = nn_mysql_z_new(algo, 1);
    if (z == NULL) {
        return 0;
    }
    nn_buf plain = {0};
    const char *why = NULL;
    size_t off = 0;
    for (int round = 0; round < 64 && off < size; round++) {
        int used = nn_mysql_z_unpack(z, data + off, size - off, &plain, cap, &why);
        if (used < 0) {
            if (why == NULL) {
                abort(); /* every refusal says why */
            }
            break;
        }
        if (plain.len > cap) {
            abort(); /* the bound holds whatever the input claims */
        }
        if (used == 0) {
            break;
        }
        off += (size_t)used;
        nn_buf_clear(&plain); /* as if the reader took the packets */
    }
    /* Round trip: the input bytes packed, then unpacked, are the same bytes. */
    nn_buf packed = {0};
    nn_buf back = {0};
    if (nn_mysql_z_pack(z, data, size, &packed) == 0) {
        size_t at = 0;
        while (at < packed.len) {
            /* Unpack one compressed packet at a time (plain holds no MySQL framing here). */
            const uint8_t *h = nn_buf_begin(&packed) + at;
            size_t one = 7 + ((size_t)h[0] | ((size_t)h[1] << 8) | ((size_t)h[2] << 16));
            nn_buf piece = {0};
            int used = nn_mysql_z_unpack(z, h, one, &piece, size + 64, &why);
            if (used != (int)one) {
                abort();
            }
            nn_buf_append(&back, nn_buf_begin(&piece), piece.len);
            nn_buf_free(&piece);
            at += one;
        }
        if (back.len != size || (size > 0 && memcmp(nn_buf_begin(&back), data, size) != 0)) {
            abort();
        }
    }
    nn_buf_free(&packed);
    nn_buf_free(&back);
    nn_buf_free(&plain);
    nn_mysql_z_delete(z);
    return 0;
}
