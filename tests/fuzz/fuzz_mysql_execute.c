/* COM_STMT_EXECUTE's parameter block and COM_STMT_SEND_LONG_DATA's pieces from a hostile
 * client, then every decoded value encoded back as a text and a binary row under
 * arbitrary column types (the conversions an engine's values go through).
 *
 * Input: [param count][flags][query attributes?][long data param][long data len] then the
 * parameter block. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) {
        return 0;
    }
    uint32_t n = data[0] % 40;
    uint8_t flags = data[1];
    bool attrs = data[2] & 1;
    uint32_t ld_param = data[3];
    size_t ld_len = data[4];
    data += 5;
    size_t left = size - 5;
    uint8_t types[80] = {0};
    bool bound = false;
    nn_buf long_data[40];
    memset(long_data, 0, sizeof(long_data));
    if (n > 0 && ld_param < n && ld_len <= left) {
        /* As COM_STMT_SEND_LONG_DATA would have joined it. */
        nn_buf_append(&long_data[ld_param], data, ld_len);
        data += ld_len;
        left -= ld_len;
    }
    nn_mysql_value values[40];
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, data, left);
    int rc = nn_mysql_execute_params(&c, n, attrs, flags, types, &bound, long_data, values);
    if (rc == 0 && n > 0) {
        /* Each value under its own type and under every other: text and binary. */
        rs_col cols[40];
        for (uint32_t i = 0; i < n; i++) {
            cols[i].type = types[2 * i];
            cols[i].decimals = (uint8_t)(types[2 * i + 1] & 0x3f);
            cols[i].flags = (types[2 * i + 1] & 0x80) ? NN_MYSQL_FLAG_UNSIGNED : 0;
            if (values[i].kind == NN_MYSQL_VALUE_BYTES && values[i].bytes.len > 0 &&
                values[i].bytes.data == NULL) {
                abort(); /* a value must point at its bytes */
            }
        }
        nn_buf out = {0};
        for (uint32_t i = 0; i < n; i++) {
            nn_mysql_value_text(&out, &cols[i], &values[i]);
        }
        nn_mysql_row_binary(&out, cols, n, values);
        for (uint32_t rot = 1; rot < n; rot++) {
            rs_col shifted[40];
            for (uint32_t i = 0; i < n; i++) {
                shifted[i] = cols[(i + rot) % n];
            }
            nn_buf_clear(&out);
            nn_mysql_row_binary(&out, shifted, n, values);
        }
        nn_buf_free(&out);
    }
    for (uint32_t i = 0; i < 40; i++) {
        nn_buf_free(&long_data[i]);
    }
    return 0;
}
