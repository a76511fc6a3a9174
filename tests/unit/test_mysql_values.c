/* tests/unit/test_mysql_values.c: typed values to text and binary rows, parameters from
 * the binary protocol, the compression codec, and the sticky failure of a packet writer.
 * No network. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

static char text_of(const rs_col *col, const nn_mysql_value *v, char *out, size_t cap) {
    nn_buf b = {0};
    int rc = nn_mysql_value_text(&b, col, v);
    out[0] = '\0';
    if (rc == 0 && b.len > 0 && b.data[0] < 251) {
        size_t n = b.data[0];
        snprintf(out, cap, "%.*s", (int)n, (const char *)b.data + 1);
    }
    char first = b.len > 0 ? (char)b.data[0] : 0;
    nn_buf_free(&b);
    return first;
}

static void values_print_as_mysql_does(void) {
    char out[128];
    rs_col dbl = {.type = NN_MYSQL_TYPE_DOUBLE, .decimals = 31};
    nn_mysql_value v = {.kind = NN_MYSQL_VALUE_DOUBLE, .d = 0.1};
    text_of(&dbl, &v, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "0.1"); /* shortest text that reads back the same */
    rs_col flt = {.type = NN_MYSQL_TYPE_FLOAT, .decimals = 31};
    v.d = (float)0.1;
    text_of(&flt, &v, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "0.1");
    rs_col fixed = {.type = NN_MYSQL_TYPE_NEWDECIMAL, .decimals = 2};
    v.d = 3.14159;
    text_of(&fixed, &v, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "3.14");
    rs_col i64 = {.type = NN_MYSQL_TYPE_LONGLONG};
    nn_mysql_value n = {.kind = NN_MYSQL_VALUE_INT, .i = INT64_MIN};
    text_of(&i64, &n, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "-9223372036854775808");
    nn_mysql_value u = {.kind = NN_MYSQL_VALUE_UINT, .u = UINT64_MAX};
    text_of(&i64, &u, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "18446744073709551615");
    rs_col dt = {.type = NN_MYSQL_TYPE_DATETIME, .decimals = 3};
    nn_mysql_value t = {.kind = NN_MYSQL_VALUE_TIME,
                        .time = {.year = 2026,
                                 .month = 2,
                                 .day = 3,
                                 .hour = 4,
                                 .minute = 5,
                                 .second = 6,
                                 .microsecond = 789012}};
    text_of(&dt, &t, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "2026-02-03 04:05:06.789");
    rs_col tm = {.type = NN_MYSQL_TYPE_TIME};
    nn_mysql_value neg = {
        .kind = NN_MYSQL_VALUE_TIME,
        .time = {.days = 34, .hour = 22, .minute = 59, .second = 59, .negative = true}};
    text_of(&tm, &neg, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "-838:59:59");
    rs_col date = {.type = NN_MYSQL_TYPE_DATE};
    text_of(&date, &t, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "2026-02-03");
    nn_mysql_value null = {.kind = NN_MYSQL_VALUE_NULL};
    CU_ASSERT_EQUAL((uint8_t)text_of(&date, &null, out, sizeof(out)), 0xfb);
}

static void binary_rows_convert_text_to_the_column_type(void) {
    rs_col cols[4] = {{.type = NN_MYSQL_TYPE_LONG},
                      {.type = NN_MYSQL_TYPE_DOUBLE},
                      {.type = NN_MYSQL_TYPE_DATETIME},
                      {.type = NN_MYSQL_TYPE_VAR_STRING}};
    nn_mysql_value v[4] = {
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "-5", .len = 2}},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "2.5", .len = 3}},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "2026-11-29 10:20:30", .len = 19}},
        {.kind = NN_MYSQL_VALUE_INT, .i = 7},
    };
    nn_buf b = {0};
    CU_ASSERT_EQUAL(nn_mysql_row_binary(&b, cols, 4, v), 0);
    const uint8_t *p = b.data;
    CU_ASSERT_EQUAL(p[0], 0x00); /* row header */
    CU_ASSERT_EQUAL(p[1], 0x00); /* NULL bitmap: (4 + 7 + 2) / 8 = 1 byte */
    int32_t i32;
    memcpy(&i32, p + 2, 4);
    CU_ASSERT_EQUAL(i32, -5);
    double d;
    memcpy(&d, p + 6, 8);
    CU_ASSERT_DOUBLE_EQUAL(d, 2.5, 0.0);
    CU_ASSERT_EQUAL(p[14], 7); /* datetime without fraction */
    CU_ASSERT_EQUAL(p[15] | (p[16] << 8), 2026);
    CU_ASSERT_EQUAL(p[22], 1); /* "7" as a length-encoded string */
    CU_ASSERT_EQUAL(p[23], '7');
    CU_ASSERT_EQUAL(b.len, 24);
    nn_buf_free(&b);
    /* Text that is no number for a number column: refused, not guessed. */
    nn_mysql_value bad = {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "12abc", .len = 5}};
    CU_ASSERT_EQUAL(nn_mysql_row_binary(&b, cols, 1, &bad), -EINVAL);
    nn_buf_free(&b);
}

static void execute_parameters_decode(void) {
    /* Two parameters: LONGLONG unsigned, and a NULL string; types sent. */
    const uint8_t block[] = {0x02,       /* NULL bitmap: parameter 1 */
                             0x01,       /* new params bound */
                             0x08, 0x80, /* LONGLONG unsigned */
                             0xfd, 0x00, /* VAR_STRING */
                             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t types[4] = {0};
    bool bound = false;
    nn_mysql_value v[2];
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, block, sizeof(block));
    CU_ASSERT_EQUAL(nn_mysql_execute_params(&c, 2, false, 0, types, &bound, NULL, v), 0);
    CU_ASSERT_TRUE(bound);
    CU_ASSERT_EQUAL(v[0].kind, NN_MYSQL_VALUE_UINT);
    CU_ASSERT_EQUAL(v[0].u, UINT64_MAX);
    CU_ASSERT_EQUAL(v[1].kind, NN_MYSQL_VALUE_NULL);
    /* Re-executed without types: the bound ones are used. */
    const uint8_t again[] = {0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'};
    nn_mysql_cursor_init(&c, again, sizeof(again));
    CU_ASSERT_EQUAL(nn_mysql_execute_params(&c, 2, false, 0, types, &bound, NULL, v), 0);
    CU_ASSERT_EQUAL(v[0].u, 1);
    CU_ASSERT_EQUAL(v[1].kind, NN_MYSQL_VALUE_BYTES);
    CU_ASSERT_EQUAL(v[1].bytes.len, 2);
    /* A value cut short is refused. */
    nn_mysql_cursor_init(&c, again, sizeof(again) - 1);
    CU_ASSERT_EQUAL(nn_mysql_execute_params(&c, 2, false, 0, types, &bound, NULL, v), -EPROTO);
    /* No types ever bound: nothing to read the values with. */
    bool none = false;
    uint8_t t2[4] = {0};
    nn_mysql_cursor_init(&c, again, sizeof(again));
    CU_ASSERT_EQUAL(nn_mysql_execute_params(&c, 2, false, 0, t2, &none, NULL, v), -EPROTO);
}

static void compression_round_trips_and_refuses_lies(void) {
    for (int algo = NN_MYSQL_Z_ZLIB; algo <= NN_MYSQL_Z_ZSTD; algo++) {
        struct nn_mysql_zstate *z = nn_mysql_z_new((nn_mysql_zalgo)algo, 3);
        CU_ASSERT_PTR_NOT_NULL_FATAL(z);
        /* A MySQL packet of 100 KiB (compressible), packed then unpacked. */
        size_t n = 100 * 1024;
        uint8_t *pkt = malloc(n + 4);
        pkt[0] = (uint8_t)n;
        pkt[1] = (uint8_t)(n >> 8);
        pkt[2] = (uint8_t)(n >> 16);
        pkt[3] = 0;
        for (size_t i = 0; i < n; i++) {
            pkt[4 + i] = (uint8_t)('a' + i % 7);
        }
        nn_buf packed = {0};
        CU_ASSERT_EQUAL(nn_mysql_z_pack(z, pkt, n + 4, &packed), 0);
        CU_ASSERT(packed.len < n / 4);
        nn_buf plain = {0};
        const char *why = NULL;
        CU_ASSERT_EQUAL(nn_mysql_z_unpack(z, packed.data, packed.len, &plain, 1 << 20, &why),
                        (int)packed.len);
        CU_ASSERT_EQUAL(plain.len, n + 4);
        CU_ASSERT_EQUAL(memcmp(plain.data, pkt, n + 4), 0);
        /* The same bytes claiming a smaller plain length: refused, with the reason. */
        nn_buf_clear(&plain);
        packed.data[4] = 1;
        packed.data[5] = 0;
        packed.data[6] = 0;
        CU_ASSERT_EQUAL(nn_mysql_z_unpack(z, packed.data, packed.len, &plain, 1 << 20, &why),
                        -EPROTO);
        CU_ASSERT_PTR_NOT_NULL(why);
        /* Over the bound: refused before decompressing. */
        nn_buf_clear(&plain);
        packed.data[4] = (uint8_t)(n + 4);
        packed.data[5] = (uint8_t)((n + 4) >> 8);
        packed.data[6] = (uint8_t)((n + 4) >> 16);
        CU_ASSERT_EQUAL(nn_mysql_z_unpack(z, packed.data, packed.len, &plain, 1024, &why),
                        -EMSGSIZE);
        nn_buf_free(&plain);
        nn_buf_free(&packed);
        free(pkt);
        nn_mysql_z_delete(z);
    }
}

/* An allocator that fails on demand: with fail_after = k, the (k+1)-th malloc from now
 * returns NULL (the test binary links with -Wl,--wrap=malloc). */
static int fail_after = -1;
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n) {
    if (fail_after == 0) {
        return NULL;
    }
    if (fail_after > 0) {
        fail_after--;
    }
    return __real_malloc(n);
}

/* Every packet writer fails sticky: whichever allocation fails while a column definition
 * (many appends, so many growth points) is written, the buffer says so, and a buffer that
 * does not say so holds the whole packet. */
static void packet_writer_fails_sticky_at_every_allocation(void) {
    nn_mysql_column col = {.name = "a_column_name_long_enough_to_grow_the_buffer_twice_over",
                           .type = NN_MYSQL_TYPE_VAR_STRING,
                           .table = "some_table_name_that_takes_room_too",
                           .schema = "a_schema_name_as_well"};
    nn_buf whole = {0};
    nn_mysql_column_def(&whole, &col, NULL);
    CU_ASSERT_FALSE_FATAL(whole.failed);
    int failures_seen = 0;
    for (int k = 0; k < 8; k++) {
        nn_buf b = {0};
        fail_after = k;
        nn_mysql_column_def(&b, &col, NULL);
        nn_mysql_put_lenenc_str(&b, "trailer", 7);
        fail_after = -1;
        if (b.failed) {
            failures_seen++;
        } else {
            CU_ASSERT_EQUAL(b.len, whole.len + 8);
            CU_ASSERT_EQUAL(memcmp(b.data, whole.data, whole.len), 0);
        }
        nn_buf_free(&b);
    }
    CU_ASSERT(failures_seen > 0); /* the injected failures did happen */
    nn_buf_free(&whole);
}

static void failed_writer_is_sticky(void) {
    nn_buf b = {0};
    CU_ASSERT_EQUAL(nn_buf_append(&b, "ok", 2), 0);
    CU_ASSERT_FALSE(b.failed);
    /* A reservation that cannot be met fails and marks the buffer, and the mark stays
     * through later successful writes until the buffer is cleared. */
    CU_ASSERT_EQUAL(nn_buf_reserve(&b, SIZE_MAX / 2), -ENOMEM);
    CU_ASSERT_TRUE(b.failed);
    CU_ASSERT_EQUAL(nn_mysql_put_u8(&b, 1), 0);
    CU_ASSERT_TRUE(b.failed);
    nn_buf_clear(&b);
    CU_ASSERT_FALSE(b.failed);
    nn_buf_free(&b);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    CU_pSuite s = CU_add_suite("mysql_values", NULL, NULL);
    CU_add_test(s, "values_print_as_mysql_does", values_print_as_mysql_does);
    CU_add_test(s, "binary_rows_convert_text_to_the_column_type",
                binary_rows_convert_text_to_the_column_type);
    CU_add_test(s, "execute_parameters_decode", execute_parameters_decode);
    CU_add_test(s, "compression_round_trips_and_refuses_lies",
                compression_round_trips_and_refuses_lies);
    CU_add_test(s, "failed_writer_is_sticky", failed_writer_is_sticky);
    CU_add_test(s, "packet_writer_fails_sticky_at_every_allocation",
                packet_writer_fails_sticky_at_every_allocation);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
