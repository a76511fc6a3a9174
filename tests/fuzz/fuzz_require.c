/* REQUIRE clauses as CREATE/ALTER USER carries them: parse, print, parse the print again,
 * and the two must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "security/security.h"

static int same(const char *a, const char *b) {
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nn_ssl_require req;
    memset(&req, 0, sizeof(req));
    size_t consumed = 0;
    nn_err err;
    if (nn_ssl_require_parse((const char *)data, size, &req, &consumed, &err) != 0) {
        return 0;
    }
    if (consumed > size) {
        abort();
    }
    char printed[8192];
    size_t n = nn_ssl_require_print(&req, printed, sizeof(printed));
    if (n < sizeof(printed) && strncmp(printed, "REQUIRE ", 8) == 0) {
        nn_ssl_require again;
        memset(&again, 0, sizeof(again));
        if (nn_ssl_require_parse(printed + 8, n - 8, &again, NULL, &err) != 0 ||
            again.type != req.type || !same(again.cipher, req.cipher) ||
            !same(again.issuer, req.issuer) || !same(again.subject, req.subject)) {
            abort(); /* SHOW CREATE USER output must read back as the same requirement */
        }
        nn_ssl_require_clear(&again);
    }
    nn_ssl_require_clear(&req);
    return 0;
}
