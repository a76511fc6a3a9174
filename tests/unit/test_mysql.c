/* tests/unit/test_mysql.c: mysql/'s codecs, auth arithmetic and SQL subset, no network. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "mysql/admin_internal.h"

static void hex(const uint8_t *p, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", p[i]);
    }
}

/* ------------------------------------------------------------ packets */

static void packet_single_is_returned_in_place(void) {
    const uint8_t in[] = {3, 0, 0, 0, 0x03, 'a', 'b', 0xff};
    nn_buf scratch = {0};
    nn_mysql_packet pkt;
    size_t consumed = 0;
    CU_ASSERT_EQUAL(nn_mysql_packet_read(in, sizeof(in), 0, 100, &scratch, &pkt, &consumed), 1);
    CU_ASSERT_EQUAL(consumed, 7);
    CU_ASSERT_EQUAL(pkt.len, 3);
    CU_ASSERT_PTR_EQUAL(pkt.payload, in + 4);
    CU_ASSERT_EQUAL(pkt.next_seq, 1);
    nn_buf_free(&scratch);
}

static void packet_truncated_needs_more(void) {
    const uint8_t in[] = {5, 0, 0, 0, 'a', 'b'};
    nn_buf scratch = {0};
    nn_mysql_packet pkt;
    size_t consumed = 0;
    for (size_t n = 0; n <= sizeof(in); n++) {
        CU_ASSERT_EQUAL(nn_mysql_packet_read(in, n, 0, 100, &scratch, &pkt, &consumed), 0);
    }
}

static void packet_wrong_sequence_is_refused(void) {
    const uint8_t in[] = {1, 0, 0, 7, 'x'};
    nn_buf scratch = {0};
    nn_mysql_packet pkt;
    size_t consumed = 0;
    CU_ASSERT_EQUAL(nn_mysql_packet_read(in, sizeof(in), 0, 100, &scratch, &pkt, &consumed),
                    -EPROTO);
    CU_ASSERT_EQUAL(pkt.bad_seq, 7);
}

static void packet_too_large_is_refused_from_header(void) {
    const uint8_t in[] = {0x00, 0x10, 0x00, 0x00}; /* 4096 bytes announced, none sent */
    nn_buf scratch = {0};
    nn_mysql_packet pkt;
    size_t consumed = 0;
    CU_ASSERT_EQUAL(nn_mysql_packet_read(in, sizeof(in), 0, 1024, &scratch, &pkt, &consumed),
                    -EMSGSIZE);
}

static void packet_multi_round_trips(void) {
    /* 16 MiB - 1 + 10 bytes: two physical packets; and an exact 16 MiB - 1: an empty
     * trailer. */
    size_t sizes[] = {NN_MYSQL_MAX_PHYSICAL + 10, NN_MYSQL_MAX_PHYSICAL, 0, 5};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        uint8_t *payload = malloc(n + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
        for (size_t i = 0; i < n; i++) {
            payload[i] = (uint8_t)(i * 7);
        }
        nn_buf wire = {0};
        uint8_t seq = 3;
        CU_ASSERT_EQUAL(nn_mysql_packet_frame(&wire, &seq, payload, n), 0);
        size_t pieces = n / NN_MYSQL_MAX_PHYSICAL + 1;
        CU_ASSERT_EQUAL(wire.len, n + 4 * pieces);
        CU_ASSERT_EQUAL(seq, 3 + pieces);
        nn_buf scratch = {0};
        nn_mysql_packet pkt;
        size_t consumed = 0;
        /* Not all there yet: needs more. */
        CU_ASSERT_EQUAL(nn_mysql_packet_read(nn_buf_begin(&wire), wire.len - 1, 3, 64u << 20,
                                             &scratch, &pkt, &consumed),
                        0);
        CU_ASSERT_EQUAL(nn_mysql_packet_read(nn_buf_begin(&wire), wire.len, 3, 64u << 20, &scratch,
                                             &pkt, &consumed),
                        1);
        CU_ASSERT_EQUAL(consumed, wire.len);
        CU_ASSERT_EQUAL(pkt.len, n);
        CU_ASSERT_EQUAL(pkt.next_seq, seq);
        CU_ASSERT(n == 0 || memcmp(pkt.payload, payload, n) == 0);
        /* A limit below the total is noticed. */
        if (n > 100) {
            CU_ASSERT_EQUAL(nn_mysql_packet_read(nn_buf_begin(&wire), wire.len, 3, n - 1, &scratch,
                                                 &pkt, &consumed),
                            -EMSGSIZE);
        }
        nn_buf_free(&scratch);
        nn_buf_free(&wire);
        free(payload);
    }
}

static void lenenc_round_trips_and_rejects_bad(void) {
    uint64_t values[] = {0, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, UINT64_MAX};
    nn_buf b = {0};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        nn_mysql_put_lenenc(&b, values[i]);
    }
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, nn_buf_begin(&b), b.len);
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        CU_ASSERT_EQUAL(nn_mysql_get_lenenc(&c), values[i]);
    }
    CU_ASSERT_FALSE(c.bad);
    CU_ASSERT_EQUAL(c.left, 0);
    nn_mysql_get_u8(&c);
    CU_ASSERT_TRUE(c.bad);
    const uint8_t trunc[] = {0xfd, 1, 2};
    nn_mysql_cursor_init(&c, trunc, sizeof(trunc));
    nn_mysql_get_lenenc(&c);
    CU_ASSERT_TRUE(c.bad);
    const uint8_t nullmark[] = {0xfb};
    nn_mysql_cursor_init(&c, nullmark, 1);
    nn_mysql_get_lenenc(&c);
    CU_ASSERT_TRUE(c.bad);
    const uint8_t nonul[] = {'a', 'b'};
    nn_mysql_cursor_init(&c, nonul, 2);
    CU_ASSERT_PTR_NULL(nn_mysql_get_str_nul(&c, NULL));
    CU_ASSERT_TRUE(c.bad);
    nn_buf_free(&b);
}

/* --------------------------------------------------------------- auth */

/* Vectors computed independently (Python hashlib) from the algorithms' definitions:
 * password "secret", scramble bytes 1..20. */
static void native_scramble_matches_vector(void) {
    uint8_t scramble[20];
    for (int i = 0; i < 20; i++) {
        scramble[i] = (uint8_t)(i + 1);
    }
    uint8_t out[20];
    char h[41];
    nn_mysql_native_scramble("secret", 6, scramble, out);
    hex(out, 20, h);
    CU_ASSERT_STRING_EQUAL(h, "b32bb3a583e1340c0a1108d58b1be49781ad8c2f");
    char auth[42];
    nn_mysql_native_auth_string("password", 8, auth);
    CU_ASSERT_STRING_EQUAL(auth, "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
    nn_mysql_native_auth_string("secret", 6, auth);
    CU_ASSERT_TRUE(nn_mysql_native_verify(auth, scramble, out, 20));
    out[3] ^= 1;
    CU_ASSERT_FALSE(nn_mysql_native_verify(auth, scramble, out, 20));
    CU_ASSERT_FALSE(nn_mysql_native_verify(auth, scramble, out, 19));
    CU_ASSERT_FALSE(nn_mysql_native_verify("*ZZ", scramble, out, 20));
    CU_ASSERT_TRUE(nn_mysql_native_verify("", scramble, out, 0));
    CU_ASSERT_FALSE(nn_mysql_native_verify("", scramble, out, 20));
}

static void sha2_scramble_matches_vector(void) {
    uint8_t nonce[20];
    for (int i = 0; i < 20; i++) {
        nonce[i] = (uint8_t)(i + 1);
    }
    uint8_t out[32];
    uint8_t stage2[32];
    char h[65];
    nn_mysql_sha2_scramble("secret", 6, nonce, out);
    hex(out, 32, h);
    CU_ASSERT_STRING_EQUAL(h, "746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9");
    nn_mysql_sha2_stage2("secret", 6, stage2);
    hex(stage2, 32, h);
    CU_ASSERT_STRING_EQUAL(h, "3881219d087dd9c634373fd33dfa33a2cb6bfc6c520b64b8bb60ef2ceb534ae7");
    CU_ASSERT_TRUE(nn_mysql_sha2_verify_fast(stage2, nonce, out, 32));
    out[0] ^= 0x80;
    CU_ASSERT_FALSE(nn_mysql_sha2_verify_fast(stage2, nonce, out, 32));
    CU_ASSERT_FALSE(nn_mysql_sha2_verify_fast(stage2, nonce, out, 20));
}

static void sha2_stored_hash_is_salted_and_checks(void) {
    char a[128];
    char b[128];
    CU_ASSERT_EQUAL(nn_mysql_sha2_auth_string("pw", 2, a), 0);
    CU_ASSERT_EQUAL(nn_mysql_sha2_auth_string("pw", 2, b), 0);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    CU_ASSERT_PTR_NULL(strstr(a, "pw$"));
    CU_ASSERT_TRUE(nn_mysql_sha2_check(a, "pw", 2));
    CU_ASSERT_TRUE(nn_mysql_sha2_check(b, "pw", 2));
    CU_ASSERT_FALSE(nn_mysql_sha2_check(a, "pW", 2));
    CU_ASSERT_FALSE(nn_mysql_sha2_check("$P$5000$zz$zz", "pw", 2));
    CU_ASSERT_FALSE(nn_mysql_sha2_check("garbage", "pw", 2));
    CU_ASSERT_EQUAL(nn_mysql_sha2_auth_string("", 0, a), 0);
    CU_ASSERT_STRING_EQUAL(a, "");
    CU_ASSERT_TRUE(nn_mysql_sha2_check("", "", 0));
    /* A stored form that asks for a million iterations would let one login attempt stall
     * a worker: refused as a form, and never checked. */
    CU_ASSERT_TRUE(nn_mysql_sha2_auth_string_valid(b));
    CU_ASSERT_TRUE(nn_mysql_sha2_auth_string_valid(""));
    char heavy[160];
    snprintf(heavy, sizeof(heavy), "$P$1000000$%s", strchr(b + 3, '$') + 1);
    CU_ASSERT_FALSE(nn_mysql_sha2_auth_string_valid(heavy));
    CU_ASSERT_FALSE(nn_mysql_sha2_check(heavy, "pw", 2));
    CU_ASSERT_FALSE(nn_mysql_sha2_auth_string_valid("$P$5000$zz$zz"));
}

static void scramble_is_printable_and_fresh(void) {
    uint8_t a[20];
    uint8_t b[20];
    CU_ASSERT_EQUAL(nn_mysql_scramble_new(a, 20), 0);
    CU_ASSERT_EQUAL(nn_mysql_scramble_new(b, 20), 0);
    CU_ASSERT(memcmp(a, b, 20) != 0);
    for (int i = 0; i < 20; i++) {
        CU_ASSERT(a[i] != 0 && a[i] < 0x80 && a[i] != '$');
    }
}

static void rsa_password_round_trips(void) {
    nn_err err;
    nn_mysql_rsa *r = nn_mysql_rsa_new(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    size_t pem_len = 0;
    const char *pem = nn_mysql_rsa_public_pem(r, &pem_len);
    CU_ASSERT_PTR_NOT_NULL(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    /* What a client does: "password\0" XOR scramble, RSA-OAEP with the public key. */
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    RSA *pub = PEM_read_bio_RSA_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pub);
    uint8_t scramble[20];
    nn_mysql_scramble_new(scramble, 20);
    uint8_t plain[16];
    memcpy(plain, "hunter2", 8);
    for (int i = 0; i < 8; i++) {
        plain[i] ^= scramble[i % 20];
    }
    uint8_t enc[512];
    int n = RSA_public_encrypt(8, plain, enc, pub, RSA_PKCS1_OAEP_PADDING);
    CU_ASSERT_FATAL(n > 0);
    char pw[512];
    size_t pw_len = 0;
    CU_ASSERT_EQUAL(
        nn_mysql_rsa_decrypt_password(r, scramble, enc, (size_t)n, pw, sizeof(pw), &pw_len), 0);
    CU_ASSERT_EQUAL(pw_len, 7);
    CU_ASSERT(memcmp(pw, "hunter2", 7) == 0);
    enc[5] ^= 1;
    CU_ASSERT_EQUAL(
        nn_mysql_rsa_decrypt_password(r, scramble, enc, (size_t)n, pw, sizeof(pw), &pw_len),
        -EINVAL);
    CU_ASSERT_EQUAL(nn_mysql_rsa_decrypt_password(r, scramble, enc, 7, pw, sizeof(pw), &pw_len),
                    -EINVAL);
    RSA_free(pub);
    nn_mysql_rsa_free(r);
}

/* ---------------------------------------------------------------- SQL */

static int parse(const char *sql, nn_sql_stmt *st, size_t *pos) {
    nn_err err;
    nn_err_clear(&err);
    return nn_sql_parse(sql, strlen(sql), st, pos, &err);
}

static void sql_select_literals_vars_functions(void) {
    nn_sql_stmt st;
    size_t pos = 0;
    CU_ASSERT_EQUAL_FATAL(parse("select @@version_comment limit 1", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_SELECT);
    CU_ASSERT_EQUAL(st.item_count, 1);
    CU_ASSERT_EQUAL(st.items[0].kind, NN_EXPR_SYSVAR);
    CU_ASSERT_STRING_EQUAL(st.items[0].text, "version_comment");
    CU_ASSERT_STRING_EQUAL(st.items[0].label, "@@version_comment");
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(parse("SELECT 1, -2.5, 'it''s', NULL, CURRENT_USER(), "
                                "@@session.autocommit AS ac, connection_id() id;",
                                &st, &pos),
                          0);
    CU_ASSERT_EQUAL(st.item_count, 7);
    CU_ASSERT_STRING_EQUAL(st.items[0].text, "1");
    CU_ASSERT_STRING_EQUAL(st.items[1].text, "-2.5");
    CU_ASSERT_STRING_EQUAL(st.items[2].text, "it's");
    CU_ASSERT_STRING_EQUAL(st.items[2].label, "it's");
    CU_ASSERT_EQUAL(st.items[3].kind, NN_EXPR_NULL);
    CU_ASSERT_STRING_EQUAL(st.items[3].label, "NULL");
    CU_ASSERT_STRING_EQUAL(st.items[4].text, "current_user");
    CU_ASSERT_STRING_EQUAL(st.items[4].label, "CURRENT_USER()");
    CU_ASSERT_EQUAL(st.items[5].scope, NN_SCOPE_SESSION);
    CU_ASSERT_STRING_EQUAL(st.items[5].label, "ac");
    CU_ASSERT_STRING_EQUAL(st.items[6].label, "id");
    nn_sql_stmt_clear(&st);
}

static void sql_syntax_error_has_position(void) {
    nn_sql_stmt st;
    size_t pos = 0;
    CU_ASSERT_EQUAL(parse("SELECT 1 FROM", &st, &pos), -EINVAL);
    CU_ASSERT_EQUAL(pos, 13);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL(parse("SELECT (1 + 2", &st, &pos), -EINVAL);
    CU_ASSERT_EQUAL(pos, 13);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL(parse("SELECT 1 +", &st, &pos), -EINVAL);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL(parse("DELETE FROM t", &st, &pos), -EINVAL);
    CU_ASSERT_EQUAL(pos, 0);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL(parse("SELECT 'open", &st, &pos), -EINVAL);
    CU_ASSERT_EQUAL(pos, 7);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL(parse("CREATE USER 'a'@'%' IDENTIFIED WITH foo BY 'x'", &st, &pos), -EINVAL);
    CU_ASSERT_EQUAL(pos, 36);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL(parse("SELECT 1 2", &st, &pos), -EINVAL);
    nn_sql_stmt_clear(&st);
}

static void sql_create_user_with_require(void) {
    nn_sql_stmt st;
    size_t pos = 0;
    CU_ASSERT_EQUAL_FATAL(
        parse("CREATE USER IF NOT EXISTS 'app'@'127.0.0.1' IDENTIFIED WITH "
              "mysql_native_password BY 'p@ss' REQUIRE SUBJECT '/C=CN/O=nodenet/CN=mysql-client' "
              "AND ISSUER '/C=CN/O=nodenet/CN=nodenet-ca'",
              &st, &pos),
        0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_CREATE_USER);
    CU_ASSERT_TRUE(st.if_not_exists);
    CU_ASSERT_STRING_EQUAL(st.accounts[0].user, "app");
    CU_ASSERT_STRING_EQUAL(st.accounts[0].host, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(st.plugin, "mysql_native_password");
    CU_ASSERT_STRING_EQUAL(st.password, "p@ss");
    CU_ASSERT_TRUE(st.has_require);
    CU_ASSERT_EQUAL(st.require.type, NN_SSL_SPECIFIED);
    CU_ASSERT_STRING_EQUAL(st.require.subject, "/C=CN/O=nodenet/CN=mysql-client");
    CU_ASSERT_STRING_EQUAL(st.require.issuer, "/C=CN/O=nodenet/CN=nodenet-ca");
    CU_ASSERT_PTR_NULL(st.require.cipher);
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(parse("alter user bob require x509", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_ALTER_USER);
    CU_ASSERT_STRING_EQUAL(st.accounts[0].host, "%");
    CU_ASSERT_EQUAL(st.require.type, NN_SSL_X509);
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL(parse("ALTER USER bob REQUIRE BOGUS", &st, &pos), -EINVAL);
    CU_ASSERT_EQUAL(pos, 23);
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(parse("DROP USER IF EXISTS 'a'@'%', `b`@`localhost`", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.account_count, 2);
    CU_ASSERT_STRING_EQUAL(st.accounts[1].user, "b");
    CU_ASSERT_STRING_EQUAL(st.accounts[1].host, "localhost");
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(parse("GRANT CREATE USER ON *.* TO 'ops'@'%'", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_GRANT_CREATE_USER);
    nn_sql_stmt_clear(&st);
}

static void sql_set_and_show(void) {
    nn_sql_stmt st;
    size_t pos = 0;
    CU_ASSERT_EQUAL_FATAL(parse("SET autocommit=0, @@session.sql_mode = 'ANSI'", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.assign_count, 2);
    CU_ASSERT_STRING_EQUAL(st.assigns[0].name, "autocommit");
    CU_ASSERT_EQUAL(st.assigns[0].value.kind, NN_EXPR_NUMBER);
    CU_ASSERT_STRING_EQUAL(st.assigns[0].value.text, "0");
    CU_ASSERT_STRING_EQUAL(st.assigns[1].name, "sql_mode");
    CU_ASSERT_EQUAL(st.assigns[1].scope, NN_SCOPE_SESSION);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci", &st, &pos), 0);
    CU_ASSERT_STRING_EQUAL(st.assigns[0].name, "names");
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("SHOW SESSION STATUS LIKE 'Ssl%'", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_SHOW_STATUS);
    CU_ASSERT_STRING_EQUAL(st.like, "Ssl%");
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("show variables like '%ssl%'", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_SHOW_VARIABLES);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("SHOW CREATE USER 'u'@'h'", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_SHOW_CREATE_USER);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("/* c */ SHOW WARNINGS -- x\n", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_SHOW_WARNINGS);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_TRUE(nn_sql_like("Ssl%", "Ssl_cipher"));
    CU_ASSERT_TRUE(nn_sql_like("ssl\\_cipher", "Ssl_cipher"));
    CU_ASSERT_FALSE(nn_sql_like("ssl\\_cipher", "Sslxcipher"));
    CU_ASSERT_TRUE(nn_sql_like("%ssl%", "have_ssl"));
    CU_ASSERT_FALSE(nn_sql_like("Ssl_", "Ssl_cipher"));
    CU_ASSERT_TRUE(nn_sql_like("%", ""));
    CU_ASSERT_TRUE(nn_sql_like("", ""));
    CU_ASSERT_FALSE(nn_sql_like("", "a"));
    CU_ASSERT_TRUE(nn_sql_like("a%b%c", "aXXbYYc"));
    CU_ASSERT_FALSE(nn_sql_like("a%b%c", "aXXbYY"));
    CU_ASSERT_TRUE(nn_sql_like("%ab", "aab"));
    CU_ASSERT_TRUE(nn_sql_like("_%_", "ab"));
    CU_ASSERT_FALSE(nn_sql_like("_%_", "a"));
    /* A pattern that makes naive backtracking explode finishes at once. */
    CU_ASSERT_FALSE(
        nn_sql_like("%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_x",
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* The expression grammar: precedence, calls with arguments, placeholders. */
static void sql_expressions_have_mysql_precedence(void) {
    nn_sql_stmt st;
    size_t pos = 0;
    CU_ASSERT_EQUAL_FATAL(parse("SELECT 1+2*3, (1+2)*3, -x, 7 DIV 2 MOD 3, NOT 1 = 2", &st, &pos),
                          0);
    CU_ASSERT_EQUAL(st.item_count, 5);
    const nn_sql_expr *e = &st.items[0];
    CU_ASSERT_EQUAL(e->kind, NN_EXPR_BINARY);
    CU_ASSERT_EQUAL(e->op, NN_OP_ADD);
    CU_ASSERT_EQUAL(e->args[1].op, NN_OP_MUL);
    CU_ASSERT_STRING_EQUAL(e->label, "1+2*3");
    e = &st.items[1];
    CU_ASSERT_EQUAL(e->op, NN_OP_MUL);
    CU_ASSERT_EQUAL(e->args[0].op, NN_OP_ADD);
    CU_ASSERT_EQUAL(st.items[2].kind, NN_EXPR_UNARY);
    CU_ASSERT_EQUAL(st.items[2].args[0].kind, NN_EXPR_IDENT);
    CU_ASSERT_EQUAL(st.items[3].op, NN_OP_MOD);
    CU_ASSERT_EQUAL(st.items[3].args[0].op, NN_OP_INTDIV);
    /* NOT binds looser than '=' */
    CU_ASSERT_EQUAL(st.items[4].kind, NN_EXPR_UNARY);
    CU_ASSERT_EQUAL(st.items[4].op, NN_OP_NOT);
    CU_ASSERT_EQUAL(st.items[4].args[0].op, NN_OP_EQ);
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(parse("SELECT concat(@@sql_mode, ',X') AS m, ifnull(NULL, 'a' 'b'), "
                                "now(), current_timestamp, 'x' NOT LIKE 'y%', 1 IN (1, 2) z, "
                                "@u IS NOT NULL, 1 <=> NULL, 2 >= 1 || 0 && 1 FROM DUAL WHERE 1",
                                &st, &pos),
                          0);
    CU_ASSERT_EQUAL(st.item_count, 9);
    CU_ASSERT_EQUAL(st.items[0].kind, NN_EXPR_FUNC);
    CU_ASSERT_STRING_EQUAL(st.items[0].text, "concat");
    CU_ASSERT_EQUAL(st.items[0].arg_count, 2);
    CU_ASSERT_EQUAL(st.items[0].args[0].kind, NN_EXPR_SYSVAR);
    CU_ASSERT_STRING_EQUAL(st.items[0].label, "m");
    CU_ASSERT_STRING_EQUAL(st.items[1].args[1].text, "ab");
    CU_ASSERT_STRING_EQUAL(st.items[1].label, "ifnull(NULL, 'a' 'b')");
    CU_ASSERT_EQUAL(st.items[2].arg_count, 0);
    CU_ASSERT_EQUAL(st.items[3].kind, NN_EXPR_FUNC);
    CU_ASSERT_TRUE(st.items[4].negated);
    CU_ASSERT_EQUAL(st.items[4].op, NN_OP_LIKE);
    CU_ASSERT_EQUAL(st.items[5].kind, NN_EXPR_IN);
    CU_ASSERT_EQUAL(st.items[5].arg_count, 3);
    CU_ASSERT_STRING_EQUAL(st.items[5].label, "z");
    CU_ASSERT_EQUAL(st.items[6].kind, NN_EXPR_IS_NULL);
    CU_ASSERT_TRUE(st.items[6].negated);
    CU_ASSERT_EQUAL(st.items[7].op, NN_OP_NULLSAFE_EQ);
    CU_ASSERT_EQUAL(st.items[8].op, NN_OP_OR);
    CU_ASSERT_EQUAL(st.items[8].args[1].op, NN_OP_AND);
    CU_ASSERT_PTR_NOT_NULL(st.where);
    CU_ASSERT_PTR_NULL(st.from);
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(
        parse("SELECT ? + 1, CONCAT(?, '!') FROM information_schema.processlist", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.param_count, 2);
    CU_ASSERT_EQUAL(st.first_param_at, 7);
    CU_ASSERT_EQUAL(st.items[0].args[0].kind, NN_EXPR_PARAM);
    CU_ASSERT_EQUAL(st.items[0].args[0].param, 0);
    CU_ASSERT_EQUAL(st.items[1].args[0].param, 1);
    CU_ASSERT_STRING_EQUAL(st.from, "information_schema.processlist");
    nn_sql_stmt_clear(&st);

    /* A column named by a long literal gets a bounded name. */
    char long_sql[1200];
    int k = snprintf(long_sql, sizeof(long_sql), "SELECT '");
    memset(long_sql + k, 'a', 1000);
    snprintf(long_sql + k + 1000, sizeof(long_sql) - (size_t)k - 1000, "', 1+%.*s", 5, "22222");
    CU_ASSERT_EQUAL_FATAL(parse(long_sql, &st, &pos), 0);
    CU_ASSERT_EQUAL(strlen(st.items[0].text), 1000);
    CU_ASSERT_EQUAL(strlen(st.items[0].label), NN_SQL_MAX_LABEL);
    CU_ASSERT_STRING_EQUAL(st.items[1].label, "1+22222");
    nn_sql_stmt_clear(&st);

    /* Nesting is bounded: no stack exhaustion from hostile input. */
    char deep[4096];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "SELECT ");
    while (n < 3000) {
        deep[n++] = '(';
    }
    deep[n++] = '1';
    deep[n] = '\0';
    CU_ASSERT_EQUAL(parse(deep, &st, &pos), -EINVAL);
    nn_sql_stmt_clear(&st);
    n = (size_t)snprintf(deep, sizeof(deep), "SELECT ");
    while (n < 3000) {
        deep[n++] = '-';
        deep[n++] = ' ';
    }
    deep[n++] = '1';
    deep[n] = '\0';
    CU_ASSERT_EQUAL(parse(deep, &st, &pos), -EINVAL);
    nn_sql_stmt_clear(&st);
}

/* What drivers send on connect parses (captured from Connector/J, PyMySQL, mysqlclient,
 * libmariadb, Go, mysql2, PHP; see tests/integration/drivers_test.sh). */
static void sql_driver_connect_statements(void) {
    nn_sql_stmt st;
    size_t pos = 0;
    CU_ASSERT_EQUAL_FATAL(parse("set autocommit=1, session_track_schema=1, "
                                "sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')",
                                &st, &pos),
                          0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_SET);
    CU_ASSERT_EQUAL(st.assign_count, 3);
    CU_ASSERT_STRING_EQUAL(st.assigns[2].name, "sql_mode");
    CU_ASSERT_EQUAL(st.assigns[2].value.kind, NN_EXPR_FUNC);
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(parse("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci', "
                                "character_set_results = NULL, @a := 1, time_zone = '+00:00'",
                                &st, &pos),
                          0);
    CU_ASSERT_EQUAL(st.assign_count, 4);
    CU_ASSERT_STRING_EQUAL(st.assigns[0].name, "names");
    CU_ASSERT_STRING_EQUAL(st.assigns[0].value.text, "utf8mb4");
    CU_ASSERT_STRING_EQUAL(st.assigns[0].collation, "utf8mb4_unicode_ci");
    CU_ASSERT_EQUAL(st.assigns[1].value.kind, NN_EXPR_NULL);
    CU_ASSERT_STRING_EQUAL(st.assigns[2].name, "@a");
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(
        parse("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.assign_count, 1);
    CU_ASSERT_STRING_EQUAL(st.assigns[0].name, "transaction_isolation");
    CU_ASSERT_STRING_EQUAL(st.assigns[0].value.text, "READ-COMMITTED");
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("SET TRANSACTION READ ONLY", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.assign_count, 0); /* the next transaction only */
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(parse("SELECT @@max_allowed_packet,@@system_time_zone,@@time_zone,"
                                "@@auto_increment_increment",
                                &st, &pos),
                          0);
    CU_ASSERT_EQUAL(st.item_count, 4);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("SELECT @@session.auto_increment_increment AS "
                                "auto_increment_increment, @@character_set_client AS "
                                "character_set_client, @@global.max_allowed_packet `map`",
                                &st, &pos),
                          0);
    CU_ASSERT_STRING_EQUAL(st.items[0].label, "auto_increment_increment");
    CU_ASSERT_EQUAL(st.items[2].scope, NN_SCOPE_GLOBAL);
    CU_ASSERT_STRING_EQUAL(st.items[2].label, "map");
    nn_sql_stmt_clear(&st);

    CU_ASSERT_EQUAL_FATAL(parse("SHOW COLLATION WHERE Charset = 'utf8mb4' AND Id > 200", &st, &pos),
                          0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_SHOW_COLLATION);
    CU_ASSERT_PTR_NOT_NULL(st.where);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("SHOW CHARACTER SET LIKE 'utf8%'", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_SHOW_CHARSET);
    CU_ASSERT_STRING_EQUAL(st.like, "utf8%");
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(
        parse("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('a', 'b')", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.scope, NN_SCOPE_GLOBAL);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("SHOW ENGINES", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_UNSUPPORTED);
    CU_ASSERT_STRING_EQUAL(st.unsupported, "SHOW ENGINES");
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("START TRANSACTION READ ONLY", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_TRANSACTION);
    nn_sql_stmt_clear(&st);
    const char *transactions[] = {
        "SAVEPOINT `s1`",      "RELEASE SAVEPOINT s1",           "ROLLBACK TO SAVEPOINT s1",
        "ROLLBACK WORK TO s1", "COMMIT AND NO CHAIN NO RELEASE", "ROLLBACK RELEASE"};
    for (size_t i = 0; i < sizeof(transactions) / sizeof(transactions[0]); i++) {
        CU_ASSERT_EQUAL(parse(transactions[i], &st, &pos), 0);
        CU_ASSERT_EQUAL(st.kind, NN_SQL_TRANSACTION);
        nn_sql_stmt_clear(&st);
    }
    CU_ASSERT_EQUAL(parse("SAVEPOINT", &st, &pos), -EINVAL);
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("DO 1, sleep(0)", &st, &pos), 0);
    CU_ASSERT_EQUAL(st.kind, NN_SQL_DO);
    CU_ASSERT_EQUAL(st.item_count, 2);
    nn_sql_stmt_clear(&st);
}

/* The evaluator's results, MySQL's value and column type for each (expressions that need
 * no session). want NULL: SQL NULL; error nonzero: the statement's MySQL error. */
static void sql_eval_has_mysql_types_and_values(void) {
    static const struct {
        const char *expr;
        const char *want;
        nn_mysql_type type;
        uint16_t error;
    } cases[] = {
        {"1+1", "2", NN_MYSQL_TYPE_LONGLONG, 0},
        {"7/2", "3.5000", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"1/3", "0.3333", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"2/3", "0.6667", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"-7/2", "-3.5000", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"1.25*2", "2.50", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"0.1+0.2", "0.3", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"1.5/0.5", "3.00000", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"1e0/4", "0.25", NN_MYSQL_TYPE_DOUBLE, 0},
        {"0.1 + 1e0", "1.1", NN_MYSQL_TYPE_DOUBLE, 0},
        {"'3' * '4'", "12", NN_MYSQL_TYPE_DOUBLE, 0},
        {"10 DIV 3", "3", NN_MYSQL_TYPE_LONGLONG, 0},
        {"-10 MOD 3", "-1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"5.5 MOD 2", "1.5", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"5 % 0", NULL, NN_MYSQL_TYPE_LONGLONG, 0},
        {"1/0", NULL, NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"9223372036854775807 + 1", NULL, NN_MYSQL_TYPE_LONGLONG, 1690},
        {"-9223372036854775808", "-9223372036854775808", NN_MYSQL_TYPE_LONGLONG, 0},
        {"- -9223372036854775808", NULL, NN_MYSQL_TYPE_LONGLONG, 1690},
        {"18446744073709551615 + 1", "18446744073709551616", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"~0", "18446744073709551615", NN_MYSQL_TYPE_LONGLONG, 0},
        {"'abc' = 'ABC '", "1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"'a' < 'b'", "1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"2.0 = 2", "1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"NULL = NULL", NULL, NN_MYSQL_TYPE_LONGLONG, 0},
        {"NULL <=> NULL", "1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"1 AND NULL", NULL, NN_MYSQL_TYPE_LONGLONG, 0},
        {"0 AND NULL", "0", NN_MYSQL_TYPE_LONGLONG, 0},
        {"1 OR NULL", "1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"1 XOR 1", "0", NN_MYSQL_TYPE_LONGLONG, 0},
        {"NOT NULL", NULL, NN_MYSQL_TYPE_LONGLONG, 0},
        {"2 IN (1, NULL)", NULL, NN_MYSQL_TYPE_LONGLONG, 0},
        {"1 IN (1, NULL)", "1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"3 NOT IN (1, 2)", "1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"'abc' LIKE 'a_c'", "1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"'abc' NOT LIKE 'A%'", "0", NN_MYSQL_TYPE_LONGLONG, 0},
        {"NULL IS NULL", "1", NN_MYSQL_TYPE_LONGLONG, 0},
        {"upper('abc')", "ABC", NN_MYSQL_TYPE_VAR_STRING, 0},
        {"lcase('ABC')", "abc", NN_MYSQL_TYPE_VAR_STRING, 0},
        {"if(NULL, 1, 2)", "2", NN_MYSQL_TYPE_LONGLONG, 0},
        {"nullif(1, 1)", NULL, NN_MYSQL_TYPE_LONGLONG, 0},
        {"coalesce(NULL, 2.50)", "2.50", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"ifnull('x', 'y')", "x", NN_MYSQL_TYPE_VAR_STRING, 0},
        {"abs(-3)", "3", NN_MYSQL_TYPE_LONGLONG, 0},
        {"abs(-2.5)", "2.5", NN_MYSQL_TYPE_NEWDECIMAL, 0},
        {"length('h\xc3\xa9')", "3", NN_MYSQL_TYPE_LONGLONG, 0},
        {"char_length('h\xc3\xa9')", "2", NN_MYSQL_TYPE_LONGLONG, 0},
        {"isnull(1)", "0", NN_MYSQL_TYPE_LONGLONG, 0},
        {"(1 + 2) * 3 - -1", "10", NN_MYSQL_TYPE_LONGLONG, 0},
        {"nosuchfunc(1)", NULL, NN_MYSQL_TYPE_NULL, 1235},
        {"upper()", NULL, NN_MYSQL_TYPE_NULL, 1582},
        {"nocolumn", NULL, NN_MYSQL_TYPE_NULL, 1054},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT %s", cases[i].expr);
        nn_sql_stmt st;
        size_t pos = 0;
        CU_ASSERT_EQUAL_FATAL(parse(sql, &st, &pos), 0);
        nn_sql_eval_ctx c = {0};
        nn_sql_val v;
        int rc = nn_sql_eval(&c, &st.items[0], &v);
        if (cases[i].error != 0) {
            CU_ASSERT_EQUAL(rc, -1);
            CU_ASSERT_EQUAL(c.code, cases[i].error);
            nn_sql_stmt_clear(&st);
            continue;
        }
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        char buf[64];
        const char *text = NULL;
        size_t len = 0;
        nn_sql_val_text(&v, buf, sizeof(buf), &text, &len);
        bool ok =
            cases[i].want == NULL ? text == NULL : text != NULL && strcmp(text, cases[i].want) == 0;
        ok = ok && (cases[i].want == NULL || v.type == cases[i].type);
        if (!ok) {
            printf("\n    %s: got %s (type %d)\n", sql, text ? text : "NULL", (int)v.type);
        }
        CU_ASSERT_TRUE(ok);
        nn_sql_val_free(&v);
        nn_sql_stmt_clear(&st);
    }
}

static void sql_fuzzish_inputs_do_not_crash(void) {
    const char *inputs[] = {"",
                            ";",
                            "SELECT",
                            "SELECT ,",
                            "SET",
                            "SET x",
                            "SET x=",
                            "SHOW",
                            "CREATE USER",
                            "CREATE USER 'a'@",
                            "CREATE USER 'a' IDENTIFIED",
                            "CREATE USER 'a' IDENTIFIED BY",
                            "CREATE USER 'a' REQUIRE",
                            "GRANT CREATE USER ON * TO a",
                            "@@",
                            "@",
                            "'",
                            "`",
                            "\"",
                            "SELECT @@",
                            "SELECT f(",
                            "/*",
                            "-- ",
                            "#",
                            "SELECT 1 IN (",
                            "SELECT 1 NOT",
                            "SELECT 1 IS",
                            "SELECT f(1,",
                            "SELECT <=",
                            "SET x := ",
                            "SET NAMES",
                            "SET NAMES x COLLATE",
                            "SET TRANSACTION",
                            "SHOW CHARACTER",
                            "SHOW COLLATION WHERE",
                            "SELECT 1 FROM a.",
                            "SELECT ?, ?"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        nn_sql_stmt st;
        size_t pos = 0;
        int rc = parse(inputs[i], &st, &pos);
        CU_ASSERT(rc == 0 || rc == -EINVAL);
        CU_ASSERT(pos <= strlen(inputs[i]));
        nn_sql_stmt_clear(&st);
    }
}

/* ------------------------------------------------- REQUIRE semantics */

static void require_checks_via_security(void) {
    nn_tls_facts plain;
    memset(&plain, 0, sizeof(plain));
    nn_tls_facts tls = plain;
    tls.encrypted = true;
    snprintf(tls.cipher, sizeof(tls.cipher), "TLS_AES_128_GCM_SHA256");
    nn_tls_facts cert = tls;
    cert.peer_cert_presented = cert.peer_cert_verified = true;
    snprintf(cert.peer_subject, sizeof(cert.peer_subject), "/C=CN/O=nodenet/CN=mysql-client");
    snprintf(cert.peer_issuer, sizeof(cert.peer_issuer), "/C=CN/O=nodenet/CN=nodenet-ca");
    char why[256];
    nn_sql_stmt st;
    size_t pos;
    CU_ASSERT_EQUAL_FATAL(parse("ALTER USER u REQUIRE SUBJECT '/C=CN/O=nodenet/CN=mysql-client' "
                                "AND ISSUER '/C=CN/O=nodenet/CN=nodenet-ca'",
                                &st, &pos),
                          0);
    CU_ASSERT_EQUAL(nn_ssl_require_check(&st.require, &cert, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(nn_ssl_require_check(&st.require, &tls, why, sizeof(why)), -EACCES);
    CU_ASSERT_EQUAL(nn_ssl_require_check(&st.require, &plain, why, sizeof(why)), -EACCES);
    nn_tls_facts other = cert;
    snprintf(other.peer_subject, sizeof(other.peer_subject), "/C=CN/O=nodenet/CN=n1");
    CU_ASSERT_EQUAL(nn_ssl_require_check(&st.require, &other, why, sizeof(why)), -EACCES);
    char printed[1024];
    nn_ssl_require_print(&st.require, printed, sizeof(printed));
    CU_ASSERT_PTR_NOT_NULL(strstr(printed, "SUBJECT '/C=CN/O=nodenet/CN=mysql-client'"));
    nn_sql_stmt_clear(&st);
    CU_ASSERT_EQUAL_FATAL(parse("ALTER USER u REQUIRE SSL", &st, &pos), 0);
    CU_ASSERT_EQUAL(nn_ssl_require_check(&st.require, &tls, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(nn_ssl_require_check(&st.require, &plain, why, sizeof(why)), -EACCES);
    nn_sql_stmt_clear(&st);
}

static void host_patterns_match(void) {
    CU_ASSERT_TRUE(nn_mysql_host_match("%", "10.1.2.3"));
    CU_ASSERT_TRUE(nn_mysql_host_match("127.0.0.1", "127.0.0.1"));
    CU_ASSERT_FALSE(nn_mysql_host_match("127.0.0.1", "127.0.0.10"));
    CU_ASSERT_TRUE(nn_mysql_host_match("127.0.0.%", "127.0.0.10"));
    CU_ASSERT_TRUE(nn_mysql_host_match("localhost", "127.0.0.1"));
    CU_ASSERT_FALSE(nn_mysql_host_match("localhost", "10.0.0.1"));
}

/* ------------------------------------------------------------- catalog */

static void catalog_bootstraps_root_once(void) {
    char dir[] = "/tmp/nn-mysql-unit.XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char data[300];
    snprintf(data, sizeof(data), "%s/data", dir);
    setenv("NODENET_ROOT_PASSWORD", "unit-root-pw", 1);
    nn_err err;
    nn_err_clear(&err);
    nn_mysql_catalog *cat = nn_mysql_catalog_open(data, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cat);
    nn_mysql_users *u = nn_mysql_catalog_users_get(cat);
    CU_ASSERT_EQUAL(u->count, 1);
    const nn_mysql_account *root = nn_mysql_users_match(u, "root", "10.9.8.7");
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_STRING_EQUAL(root->host, "%");
    CU_ASSERT_STRING_EQUAL(root->plugin, NN_PLUGIN_SHA2);
    CU_ASSERT_TRUE(root->admin);
    CU_ASSERT_EQUAL(root->require.type, NN_SSL_NONE);
    CU_ASSERT_PTR_NULL(strstr(root->auth_string, "unit-root-pw"));
    CU_ASSERT_TRUE(nn_mysql_sha2_check(root->auth_string, "unit-root-pw", 12));
    CU_ASSERT_PTR_NULL(nn_mysql_users_match(u, "nobody", "127.0.0.1"));
    nn_mysql_users_unref(u);
    nn_mysql_catalog_close(cat);

    /* Reopened with another password in the environment: no second bootstrap. */
    setenv("NODENET_ROOT_PASSWORD", "other", 1);
    cat = nn_mysql_catalog_open(data, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cat);
    u = nn_mysql_catalog_users_get(cat);
    CU_ASSERT_EQUAL(u->count, 1);
    CU_ASSERT_TRUE(nn_mysql_sha2_check(u->accounts[0].auth_string, "unit-root-pw", 12));
    nn_mysql_users_unref(u);
    nn_mysql_catalog_close(cat);
    unsetenv("NODENET_ROOT_PASSWORD");

    /* A data_dir that cannot be a directory: a clear error naming it. */
    char file[320];
    snprintf(file, sizeof(file), "%s/users.db", data);
    char bad[340];
    snprintf(bad, sizeof(bad), "%s/sub", file);
    nn_err_clear(&err);
    CU_ASSERT_PTR_NULL(nn_mysql_catalog_open(bad, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad));
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    CU_pSuite s = CU_add_suite("mysql", NULL, NULL);
    CU_add_test(s, "packet_single_is_returned_in_place", packet_single_is_returned_in_place);
    CU_add_test(s, "packet_truncated_needs_more", packet_truncated_needs_more);
    CU_add_test(s, "packet_wrong_sequence_is_refused", packet_wrong_sequence_is_refused);
    CU_add_test(s, "packet_too_large_is_refused_from_header",
                packet_too_large_is_refused_from_header);
    CU_add_test(s, "packet_multi_round_trips", packet_multi_round_trips);
    CU_add_test(s, "lenenc_round_trips_and_rejects_bad", lenenc_round_trips_and_rejects_bad);
    CU_add_test(s, "native_scramble_matches_vector", native_scramble_matches_vector);
    CU_add_test(s, "sha2_scramble_matches_vector", sha2_scramble_matches_vector);
    CU_add_test(s, "sha2_stored_hash_is_salted_and_checks", sha2_stored_hash_is_salted_and_checks);
    CU_add_test(s, "scramble_is_printable_and_fresh", scramble_is_printable_and_fresh);
    CU_add_test(s, "rsa_password_round_trips", rsa_password_round_trips);
    CU_add_test(s, "sql_select_literals_vars_functions", sql_select_literals_vars_functions);
    CU_add_test(s, "sql_syntax_error_has_position", sql_syntax_error_has_position);
    CU_add_test(s, "sql_create_user_with_require", sql_create_user_with_require);
    CU_add_test(s, "sql_set_and_show", sql_set_and_show);
    CU_add_test(s, "sql_expressions_have_mysql_precedence", sql_expressions_have_mysql_precedence);
    CU_add_test(s, "sql_driver_connect_statements", sql_driver_connect_statements);
    CU_add_test(s, "sql_eval_has_mysql_types_and_values", sql_eval_has_mysql_types_and_values);
    CU_add_test(s, "sql_fuzzish_inputs_do_not_crash", sql_fuzzish_inputs_do_not_crash);
    CU_add_test(s, "require_checks_via_security", require_checks_via_security);
    CU_add_test(s, "host_patterns_match", host_patterns_match);
    CU_add_test(s, "catalog_bootstraps_root_once", catalog_bootstraps_root_once);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
