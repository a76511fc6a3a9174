/* MySQL packets from a hostile client: the reader must take any bytes, stop at the size
 * limit, and what it returns must re-frame to the same payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/mysql_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const size_t max_payload = 1u << 20;
    nn_buf scratch = {0};
    size_t off = 0;
    uint8_t seq = size > 0 ? data[0] : 0;
    while (off < size) {
        nn_mysql_packet pkt;
        size_t consumed = 0;
        int rc = nn_mysql_packet_read(data + off, size - off, seq, max_payload, &scratch, &pkt,
                                      &consumed);
        if (rc <= 0) {
            break;
        }
        if (consumed == 0 || consumed > size - off || pkt.len > max_payload) {
            abort();
        }
        /* Re-framing the payload from the same sequence id gives the bytes we read. */
        nn_buf framed = {0};
        uint8_t s = seq;
        if (nn_mysql_packet_frame(&framed, &s, pkt.payload, pkt.len) == 0 &&
            (framed.len != consumed || memcmp(nn_buf_begin(&framed), data + off, consumed) != 0 ||
             s != pkt.next_seq)) {
            abort();
        }
        nn_buf_free(&framed);
        seq = pkt.next_seq;
        off += consumed;
    }
    nn_buf_free(&scratch);
    return 0;
}
