/* mysql/mysql.h's side of tests/lib/mysql_face_layout.h. */
#include <stddef.h>
#include <stdio.h>

#include "mysql/mysql.h"
#include "mysql_face_layout.h"

void layout_internal(char *out, size_t cap);
void layout_internal(char *out, size_t cap) {
    NN_LAYOUT_WRITE(out, cap);
}
