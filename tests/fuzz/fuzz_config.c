/* cluster.yaml from an operator's editor: any bytes give either a config or one error
 * line, never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "node/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    static int fd = -1;
    if (fd < 0) {
        fd = memfd_create("fuzz-cluster.yaml", 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        nn_log_set_level(NN_LOG_ERROR);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
        return 0;
    }
    nn_config cfg;
    nn_err err;
    nn_err_clear(&err);
    int rc = nn_config_load(path, "n1", NN_CONFIG_FOR_TOOL, &cfg, &err);
    if (rc == 0) {
        nn_config_free(&cfg);
    } else if (err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL) {
        abort(); /* a refusal always says why, on one line */
    }
    return 0;
}
