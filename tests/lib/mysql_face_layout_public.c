/* include/nodenet/mysql.h's side of tests/lib/mysql_face_layout.h, and the comparison:
 * the public engine face forwards the library's structs and constants unchanged. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <nodenet/mysql.h>

#include "mysql_face_layout.h"

void layout_internal(char *out, size_t cap);

static void layout_public(char *out, size_t cap) {
    NN_LAYOUT_WRITE(out, cap);
}

int main(void) {
    static char pub[8192], internal[8192];
    layout_public(pub, sizeof(pub));
    layout_internal(internal, sizeof(internal));
    if (strcmp(pub, internal) != 0) {
        printf("FAIL: include/nodenet/mysql.h differs from mysql/mysql.h\n--- public\n%s--- "
               "library\n%s",
               pub, internal);
        return 1;
    }
    printf("ok: the public MySQL face matches the library's (%zu bytes of facts)\n", strlen(pub));
    return 0;
}
