/* minidb_client: prepared statements and a streamed result against minidb, with libmariadb
 * over TLS (server verified against the cluster CA).
 *
 *   minidb_client WRITE_PORT READ_PORT PASSWORD CA
 *
 * On WRITE_PORT: a table, then 100 rows inserted by a prepared INSERT with an integer, a
 * text and a double parameter. On READ_PORT (another node): a prepared SELECT with a
 * parameter, its binary rows read back typed; then a result of 200000 rows read with
 * mysql_use_result slowly at first (the node has to hold back: back-pressure) and counted.
 * Prints "ok: ..." lines; exit 0 when all of it checks out. */
#define _DEFAULT_SOURCE /* usleep under -std=c17 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static MYSQL *connect_to(unsigned port, const char *password, const char *ca) {
    MYSQL *m = mysql_init(NULL);
    my_bool verify = 1;
    mysql_optionsv(m, MYSQL_OPT_SSL_CA, ca);
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    if (mysql_real_connect(m, "127.0.0.1", "root", password, NULL, port, NULL, 0) == NULL) {
        fprintf(stderr, "FAIL: connect to %u: %s\n", port, mysql_error(m));
        exit(1);
    }
    if (mysql_get_ssl_cipher(m) == NULL) {
        fprintf(stderr, "FAIL: no TLS on %u\n", port);
        exit(1);
    }
    return m;
}

static void must(MYSQL *m, const char *sql) {
    if (mysql_query(m, sql) != 0) {
        fprintf(stderr, "FAIL: %s: %s\n", sql, mysql_error(m));
        exit(1);
    }
}

static void stmt_fail(MYSQL_STMT *st, const char *what) {
    fprintf(stderr, "FAIL: %s: %s\n", what, mysql_stmt_error(st));
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: minidb_client WRITE_PORT READ_PORT PASSWORD CA\n");
        return 2;
    }
    MYSQL *w = connect_to((unsigned)atoi(argv[1]), argv[3], argv[4]);
    must(w, "CREATE DATABASE ps");
    must(w, "CREATE TABLE ps.m (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, n INT, "
            "label VARCHAR(32), score DOUBLE)");

    MYSQL_STMT *ins = mysql_stmt_init(w);
    const char *isql = "INSERT INTO ps.m (n, label, score) VALUES (?, ?, ?)";
    if (mysql_stmt_prepare(ins, isql, strlen(isql)) != 0) {
        stmt_fail(ins, "prepare INSERT");
    }
    if (mysql_stmt_param_count(ins) != 3) {
        fprintf(stderr, "FAIL: INSERT has %lu parameters\n", mysql_stmt_param_count(ins));
        return 1;
    }
    int n = 0;
    char label[32];
    unsigned long label_len = 0;
    double score = 0;
    MYSQL_BIND in[3];
    memset(in, 0, sizeof(in));
    in[0].buffer_type = MYSQL_TYPE_LONG;
    in[0].buffer = &n;
    in[1].buffer_type = MYSQL_TYPE_STRING;
    in[1].buffer = label;
    in[1].length = &label_len;
    in[2].buffer_type = MYSQL_TYPE_DOUBLE;
    in[2].buffer = &score;
    mysql_stmt_bind_param(ins, in);
    for (n = 1; n <= 100; n++) {
        label_len = (unsigned long)snprintf(label, sizeof(label), "row '%d'", n);
        score = n / 4.0;
        if (mysql_stmt_execute(ins) != 0) {
            stmt_fail(ins, "execute INSERT");
        }
        if (mysql_stmt_insert_id(ins) != (my_ulonglong)n) {
            fprintf(stderr, "FAIL: insert id %llu for row %d\n", mysql_stmt_insert_id(ins), n);
            return 1;
        }
    }
    mysql_stmt_close(ins);
    printf("ok: 100 rows by a prepared INSERT, insert ids 1..100\n");

    /* Another node: the writes were acknowledged once every live peer applied them. */
    MYSQL *r = connect_to((unsigned)atoi(argv[2]), argv[3], argv[4]);
    MYSQL_STMT *sel = mysql_stmt_init(r);
    const char *ssql = "SELECT id, label, score FROM ps.m WHERE n > ? ORDER BY id";
    if (mysql_stmt_prepare(sel, ssql, strlen(ssql)) != 0) {
        stmt_fail(sel, "prepare SELECT");
    }
    int above = 90;
    MYSQL_BIND p;
    memset(&p, 0, sizeof(p));
    p.buffer_type = MYSQL_TYPE_LONG;
    p.buffer = &above;
    mysql_stmt_bind_param(sel, &p);
    if (mysql_stmt_execute(sel) != 0) {
        stmt_fail(sel, "execute SELECT");
    }
    MYSQL_RES *meta = mysql_stmt_result_metadata(sel);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    if (f[0].type != MYSQL_TYPE_LONGLONG || f[2].type != MYSQL_TYPE_DOUBLE) {
        fprintf(stderr, "FAIL: column types %d %d %d\n", f[0].type, f[1].type, f[2].type);
        return 1;
    }
    mysql_free_result(meta);
    long long id = 0;
    char got_label[64];
    unsigned long got_len = 0;
    double got_score = 0;
    MYSQL_BIND out[3];
    memset(out, 0, sizeof(out));
    out[0].buffer_type = MYSQL_TYPE_LONGLONG;
    out[0].buffer = &id;
    out[1].buffer_type = MYSQL_TYPE_STRING;
    out[1].buffer = got_label;
    out[1].buffer_length = sizeof(got_label);
    out[1].length = &got_len;
    out[2].buffer_type = MYSQL_TYPE_DOUBLE;
    out[2].buffer = &got_score;
    mysql_stmt_bind_result(sel, out);
    int rows = 0;
    while (mysql_stmt_fetch(sel) == 0) {
        rows++;
        char want[32];
        snprintf(want, sizeof(want), "row '%lld'", id);
        if (id != 90 + rows || got_len != strlen(want) || memcmp(got_label, want, got_len) != 0 ||
            got_score != (double)id / 4.0) {
            fprintf(stderr, "FAIL: row %d: %lld %.*s %g\n", rows, id, (int)got_len, got_label,
                    got_score);
            return 1;
        }
    }
    if (rows != 10) {
        fprintf(stderr, "FAIL: %d rows above 90\n", rows);
        return 1;
    }
    mysql_stmt_close(sel);
    printf("ok: a prepared SELECT on the other node: 10 typed binary rows\n");

    /* A result much larger than a session's output limit, read slowly at first. */
    must(r, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) "
            "SELECT x, 'padding-padding-padding-padding-padding-padding' FROM c");
    MYSQL_RES *res = mysql_use_result(r);
    MYSQL_ROW row;
    long long count = 0, sum = 0;
    while ((row = mysql_fetch_row(res)) != NULL) {
        count++;
        sum += atoll(row[0]);
        if (count == 10) {
            usleep(300 * 1000); /* the node's output fills up meanwhile */
        }
    }
    if (mysql_errno(r) != 0 || count != 200000 || sum != 200000LL * 200001 / 2) {
        fprintf(stderr, "FAIL: streamed %lld rows (sum %lld): %s\n", count, sum, mysql_error(r));
        return 1;
    }
    mysql_free_result(res);
    printf("ok: 200000 rows streamed\n");
    mysql_close(w);
    mysql_close(r);
    return 0;
}
