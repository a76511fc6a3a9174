/* mysql/reply.c: packets toward the client. Every packet is framed in ses->wire as it is
 * built (header placeholder first, so the payload is written once), and ses->wire goes to
 * the stream in batches: when 16 KiB are ready, or at the end of the loop round (on_flush),
 * so that a result of many small rows costs one stream write per batch, not per row. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mysql/session_internal.h"

#define BATCH_BYTES 16384

size_t nn_mysql_reply_begin(nn_mysql_session *ses) {
    size_t at = ses->wire.len;
    static const uint8_t header[4] = {0};
    nn_buf_append(&ses->wire, header, sizeof(header));
    return at;
}

static void put_header(uint8_t *h, size_t len, uint8_t seq) {
    h[0] = (uint8_t)len;
    h[1] = (uint8_t)(len >> 8);
    h[2] = (uint8_t)(len >> 16);
    h[3] = seq;
}

void nn_mysql_reply_end(nn_mysql_session *ses, size_t at) {
    nn_buf *w = &ses->wire;
    if (w->failed || w->len < at + 4) {
        return; /* the flush sees the failure */
    }
    size_t len = w->len - at - 4;
    if (len < NN_MYSQL_MAX_PHYSICAL) {
        put_header(nn_buf_begin(w) + at, len, ses->seq++);
        return;
    }
    /* 16 MiB or more: a header before every 0xffffff bytes, and an empty packet after an
     * exact multiple. Rare enough that moving the tail is fine. */
    size_t pieces = len / NN_MYSQL_MAX_PHYSICAL + 1;
    if (nn_buf_reserve(w, (pieces - 1) * 4) < 0) {
        return;
    }
    uint8_t *base = nn_buf_begin(w) + at;
    /* Walk from the last piece to the first, moving each into its final place. */
    for (size_t i = pieces; i-- > 0;) {
        size_t src = 4 + i * NN_MYSQL_MAX_PHYSICAL;
        size_t dst = 4 + i * (NN_MYSQL_MAX_PHYSICAL + 4);
        size_t n = i + 1 < pieces ? NN_MYSQL_MAX_PHYSICAL : len - i * NN_MYSQL_MAX_PHYSICAL;
        memmove(base + dst, base + src, n);
    }
    for (size_t i = 0; i < pieces; i++) {
        size_t n = i + 1 < pieces ? NN_MYSQL_MAX_PHYSICAL : len - i * NN_MYSQL_MAX_PHYSICAL;
        put_header(base + i * (NN_MYSQL_MAX_PHYSICAL + 4), n, ses->seq++);
    }
    nn_buf_commit(w, (pieces - 1) * 4);
}

void nn_mysql_reply_flush(nn_mysql_session *ses) {
    nn_buf *w = &ses->wire;
    if (w->failed) {
        nn_buf_clear(w);
        nn_log(NN_LOG_WARN, "mysql.conn.error",
               "conn=%llu reason=\"out of memory building a reply\"", (unsigned long long)ses->id);
        nn_mysql_conn_close(ses, NN_CLOSE_LOCAL, "out of memory");
        return;
    }
    if (w->len == 0 || ses->stream == NULL) {
        nn_buf_clear(w);
        return;
    }
    int rc = ses->z != NULL ? nn_mysql_z_write(ses, nn_buf_begin(w), w->len)
                            : nn_stream_write(ses->stream, nn_buf_begin(w), w->len);
    if (ses->state == ST_COMMAND_PENDING) {
        nn_buf_clear(w); /* more of the answer comes: keep the room for the next batch */
    } else {
        nn_buf_free(w); /* answered (or still logging in): an idle session keeps no buffer */
    }
    if (rc == -ENOMEM) {
        nn_mysql_conn_close(ses, NN_CLOSE_LOCAL, "out of memory");
    }
}

void nn_mysql_reply_soon(nn_mysql_session *ses) {
    if (ses->wire.len >= BATCH_BYTES || ses->wire.failed) {
        nn_mysql_reply_flush(ses);
    } else if (ses->wire.len > 0 && ses->stream != NULL) {
        nn_stream_want_flush(ses->stream);
    }
}

size_t nn_mysql_reply_pending(const nn_mysql_session *ses) {
    size_t n = ses->wire.len;
    if (ses->stream != NULL) {
        n += nn_stream_output_pending(ses->stream);
    }
    return n;
}

size_t nn_mysql_reply_limit(const nn_mysql_session *ses) {
    return ses->settings->output_limit;
}

/* ----------------------------------------------------------- common packets */

int nn_mysql_conn_send_out(nn_mysql_session *ses) {
    size_t at = nn_mysql_reply_begin(ses);
    nn_buf_append(&ses->wire, nn_buf_begin(&ses->out), ses->out.len);
    if (ses->out.failed) {
        ses->wire.failed = true;
    }
    nn_buf_clear(&ses->out);
    nn_mysql_reply_end(ses, at);
    nn_mysql_reply_soon(ses);
    return 0;
}

uint16_t nn_mysql_conn_status_flags(const nn_mysql_session *ses) {
    const char *ac = nn_mysql_session_var(ses, "autocommit");
    bool off = ac != NULL && (strcmp(ac, "0") == 0 || strcasecmp(ac, "OFF") == 0);
    uint16_t flags = off ? 0 : NN_SERVER_STATUS_AUTOCOMMIT;
    if (ses->more_results) {
        flags |= NN_SERVER_MORE_RESULTS_EXISTS;
    }
    if (ses->in_transaction) {
        flags |= NN_SERVER_STATUS_IN_TRANS;
    }
    return flags;
}

int nn_mysql_conn_send_ok(nn_mysql_session *ses, uint8_t header, uint64_t affected,
                          uint64_t last_id, const char *info) {
    nn_buf *b = &ses->wire;
    size_t at = nn_mysql_reply_begin(ses);
    uint16_t status = nn_mysql_conn_status_flags(ses);
    bool track = (ses->caps & NN_CLIENT_SESSION_TRACK) && ses->track.len > 0;
    if (track) {
        status |= NN_SERVER_SESSION_STATE_CHANGED;
    }
    nn_mysql_put_u8(b, header);
    nn_mysql_put_lenenc(b, affected);
    nn_mysql_put_lenenc(b, last_id);
    nn_mysql_put_u16(b, status);
    nn_mysql_put_u16(b, ses->warnings);
    if (ses->caps & NN_CLIENT_SESSION_TRACK) {
        /* With session tracking the info is always length-encoded, state after it. */
        nn_mysql_put_lenenc_str(b, info != NULL ? info : "", info != NULL ? strlen(info) : 0);
        if (track) {
            nn_mysql_put_lenenc_str(b, nn_buf_begin(&ses->track), ses->track.len);
            nn_buf_free(&ses->track);
        }
    } else if (info != NULL && info[0] != '\0') {
        /* Length-encoded, as MariaDB sends it and libmariadb reads it; readers of
         * string<EOF> (PyMySQL) see the same text after a length byte. */
        nn_mysql_put_lenenc_str(b, info, strlen(info));
    }
    nn_mysql_reply_end(ses, at);
    ses->warnings = 0;
    nn_mysql_reply_soon(ses);
    return 0;
}

int nn_mysql_conn_send_eof(nn_mysql_session *ses) {
    size_t at = nn_mysql_reply_begin(ses);
    nn_mysql_put_u8(&ses->wire, 0xfe);
    nn_mysql_put_u16(&ses->wire, ses->warnings);
    nn_mysql_put_u16(&ses->wire, nn_mysql_conn_status_flags(ses));
    nn_mysql_reply_end(ses, at);
    nn_mysql_reply_soon(ses);
    return 0;
}

int nn_mysql_conn_send_error(nn_mysql_session *ses, uint16_t code, const char *sqlstate,
                             const char *msg) {
    nn_buf *b = &ses->wire;
    size_t at = nn_mysql_reply_begin(ses);
    nn_mysql_put_u8(b, 0xff);
    nn_mysql_put_u16(b, code);
    nn_mysql_put_u8(b, '#');
    nn_buf_append(b, sqlstate, 5);
    nn_buf_append(b, msg, strlen(msg));
    nn_mysql_reply_end(ses, at);
    nn_mysql_reply_soon(ses);
    return 0;
}
