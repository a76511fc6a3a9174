/* The SQL subset the administrative handler understands: any text parses or fails with a
 * position inside it, and never leaks. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/mysql_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nn_sql_stmt st;
    memset(&st, 0, sizeof(st));
    size_t err_pos = 0;
    nn_err err;
    nn_err_clear(&err);
    int rc = nn_sql_parse((const char *)data, size, &st, &err_pos, &err);
    if (rc == -EINVAL && (err_pos > size || err.msg[0] == '\0')) {
        abort(); /* error 1064 needs a position within the text, and a reason */
    }
    nn_sql_stmt_clear(&st);
    if (size > 0 && size < 256) {
        char pattern[256];
        memcpy(pattern, data, size);
        pattern[size] = '\0';
        (void)nn_sql_like(pattern, "Ssl_cipher");
    }
    return 0;
}
