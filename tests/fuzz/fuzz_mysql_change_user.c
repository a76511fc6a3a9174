/* COM_CHANGE_USER from a hostile client: the fields read stay inside the packet, and the
 * connection attributes it carries are bounded by it. Input: [caps byte] then the packet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        return 0;
    }
    uint32_t caps = 0;
    if (data[0] & 1) {
        caps |= NN_CLIENT_SECURE_CONNECTION;
    }
    if (data[0] & 2) {
        caps |= NN_CLIENT_PLUGIN_AUTH;
    }
    if (data[0] & 4) {
        caps |= NN_CLIENT_CONNECT_ATTRS;
    }
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    nn_mysql_change_user_req req;
    if (nn_mysql_change_user_parse(p, len, caps, &req) == 0) {
        const uint8_t *end = p + len;
        if ((const uint8_t *)req.user < p || (const uint8_t *)req.user + req.user_len > end ||
            (const uint8_t *)req.db < p || (const uint8_t *)req.db + req.db_len > end ||
            (req.attrs != NULL && (req.attrs < p || req.attrs + req.attrs_len > end))) {
            abort();
        }
        if (memchr(req.user, 0, req.user_len) != NULL) {
            abort(); /* a name is cut at its NUL, never longer */
        }
    }
    return 0;
}
