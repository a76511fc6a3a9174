/* nodenet/mysql.h: the MySQL engine face. PROVISIONAL.
 *
 * This header forwards the handler interface of mysql/mysql.h as it stands today, so that
 * an engine can be written against the installed package now. The face is being replaced
 * (typed results, prepared statements, streaming with back-pressure): expect this header to
 * change before 1.0, and the nn_mysql_handler table in particular to become a versioned
 * table whose NULL entries mean "the library's default". See docs/EMBEDDING.md.
 */
#ifndef NODENET_PUBLIC_MYSQL_H
#define NODENET_PUBLIC_MYSQL_H

#include <stddef.h>
#include <stdint.h>

#include <nodenet/nodenet.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One authenticated client session. Borrowed by the handler for the duration of a call
 * or, for a command answered later, until that answer is complete. */
typedef struct nn_mysql_session nn_mysql_session;

/* Every callback runs on the session's worker. A query gets exactly one answer:
 * nn_mysql_session_ok(), nn_mysql_session_error(), or a result set (result_begin, one
 * result_column per column, result_row per row, result_end), given before query() returns
 * or later through nn_mysql_session_run(). Until then the session reads no further
 * command. If the client disconnects meanwhile, the session stays valid until the answer
 * is complete and the answer is discarded. */
typedef struct nn_mysql_handler {
    /* COM_QUERY. sql is not NUL-terminated: use len. */
    void (*query)(void *arg, nn_mysql_session *ses, const char *sql, size_t len);
    /* COM_INIT_DB (optional; NULL = accept any name). Answered like query. */
    void (*init_db)(void *arg, nn_mysql_session *ses, const char *db, size_t len);
    /* The session ended (optional); no answer is pending. */
    void (*session_end)(void *arg, nn_mysql_session *ses);
} nn_mysql_handler;

/* Before nn_node_start(). h and arg are borrowed until nn_node_free(); NULL restores the
 * administrative handler. */
NN_API void nn_node_set_mysql_handler(nn_node *node, const nn_mysql_handler *h, void *arg);

/* The administrative handler (CREATE USER, SHOW STATUS, SELECT @@version_comment, ...),
 * for what the engine does not answer itself. On the session's worker. */
NN_API void nn_mysql_admin_query(nn_mysql_session *ses, const char *sql, size_t len);

/* Answers, on the session's worker. Each returns 0, or -EPROTO out of order. */
NN_API int nn_mysql_session_ok(nn_mysql_session *ses, uint64_t affected_rows,
                               uint64_t last_insert_id, const char *info);
NN_API int nn_mysql_session_error(nn_mysql_session *ses, uint16_t code, const char *sqlstate,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
typedef enum nn_mysql_type {
    NN_MYSQL_TYPE_LONGLONG = 0x08,
    NN_MYSQL_TYPE_DOUBLE = 0x05,
    NN_MYSQL_TYPE_VAR_STRING = 0xfd,
} nn_mysql_type;
NN_API int nn_mysql_session_result_begin(nn_mysql_session *ses, uint32_t column_count);
NN_API int nn_mysql_session_result_column(nn_mysql_session *ses, const char *name,
                                          nn_mysql_type type);
/* values[i] == NULL is SQL NULL; lens NULL = NUL-terminated values. */
NN_API int nn_mysql_session_result_row(nn_mysql_session *ses, const char *const *values,
                                       const size_t *lens);
NN_API int nn_mysql_session_result_end(nn_mysql_session *ses);

/* Answering later: any thread. fn(arg, ses) runs once on the session's worker, where it
 * may answer. Returns 0, or negative (the worker is gone; fn will not run). */
NN_API int nn_mysql_session_run(nn_mysql_session *ses, void (*fn)(void *arg, nn_mysql_session *ses),
                                void *arg);

/* Facts, borrowed for the session's life. */
NN_API const char *nn_mysql_session_user(const nn_mysql_session *ses);
NN_API const char *nn_mysql_session_host(const nn_mysql_session *ses);
NN_API const char *nn_mysql_session_database(const nn_mysql_session *ses); /* "" = none */
NN_API uint64_t nn_mysql_session_id(const nn_mysql_session *ses);
NN_API const nn_tls_facts *nn_mysql_session_tls(const nn_mysql_session *ses);
NN_API void nn_mysql_session_set_user_data(nn_mysql_session *ses, void *data);
NN_API void *nn_mysql_session_user_data(const nn_mysql_session *ses);

#ifdef __cplusplus
}
#endif

#endif
