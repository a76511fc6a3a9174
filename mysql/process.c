/* mysql/process.c: the process list and KILL. Every logged-in session has an entry in the
 * server's registry, so that SHOW PROCESSLIST (and information_schema.PROCESSLIST) can list
 * the sessions of every worker and KILL can reach one on another worker.
 *
 * The registry's lock is taken at login, logout, a change of user or database, a listing
 * and a KILL, never per query: the command and its start time are relaxed atomics the
 * owning worker writes. A KILL finds the entry under the lock and posts the work to the
 * session's own loop, where it looks the entry up again (the entry leaves the registry on
 * that loop, so it cannot vanish under the task). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/session_internal.h"

/* ---------------------------------------------------------------- registry */

/* The strings a listing reads (user, account host, database, connection attributes) are
 * the session's own: they are written before the entry is added, while it is out of the
 * registry (a change of user), or under the lock (nn_mysql_process_update). */
void nn_mysql_process_add(nn_mysql_session *ses) {
    nn_mysql_server *srv = ses->srv;
    nn_mysql_proc *p = &ses->proc;
    p->ses = ses;
    p->loop = ses->loop;
    p->id = ses->id;
    p->port = ses->stream != NULL ? nn_stream_peer_port(ses->stream) : 0;
    atomic_store_explicit(&p->command, 0, memory_order_relaxed);
    atomic_store_explicit(&p->since_ns, nn_now_ns(), memory_order_relaxed);
    pthread_mutex_lock(&srv->process_lock);
    p->prev = NULL;
    p->next = srv->processes;
    if (srv->processes != NULL) {
        srv->processes->prev = p;
    }
    srv->processes = p;
    p->listed = true;
    pthread_mutex_unlock(&srv->process_lock);
}

void nn_mysql_process_remove(nn_mysql_session *ses) {
    nn_mysql_server *srv = ses->srv;
    nn_mysql_proc *p = &ses->proc;
    if (!p->listed) {
        return;
    }
    pthread_mutex_lock(&srv->process_lock);
    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else {
        srv->processes = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    }
    p->listed = false;
    pthread_mutex_unlock(&srv->process_lock);
}

void nn_mysql_process_set_database(nn_mysql_session *ses, const char *db, size_t len) {
    if (len >= sizeof(ses->database)) {
        len = sizeof(ses->database) - 1;
    }
    bool listed = ses->proc.listed;
    if (listed) {
        pthread_mutex_lock(&ses->srv->process_lock);
    }
    memcpy(ses->database, db, len);
    ses->database[len] = '\0';
    if (listed) {
        pthread_mutex_unlock(&ses->srv->process_lock);
    }
}

void nn_mysql_process_command(nn_mysql_session *ses, uint8_t command) {
    atomic_store_explicit(&ses->proc.command, command, memory_order_relaxed);
    atomic_store_explicit(&ses->proc.since_ns, nn_now_ns(), memory_order_relaxed);
}

static const char *command_name(uint8_t command) {
    switch (command) {
    case 0x00:
        return "Sleep";
    case 0x02:
        return "Init DB";
    case 0x03:
        return "Query";
    case 0x04:
        return "Field List";
    case 0x09:
        return "Statistics";
    case 0x0c:
        return "Kill";
    case 0x0e:
        return "Ping";
    case 0x11:
        return "Change user";
    case 0x16:
        return "Prepare";
    case 0x17:
        return "Execute";
    case 0x18:
        return "Long Data";
    case 0x19:
        return "Close stmt";
    case 0x1a:
        return "Reset stmt";
    case 0x1c:
        return "Fetch";
    case 0x1f:
        return "Reset connection";
    default:
        return "Daemon";
    }
}

/* -------------------------------------------------------------------- KILL */

typedef struct kill_task {
    nn_task task;
    nn_mysql_server *srv;
    nn_loop *loop;
    uint64_t id;
    bool connection;
} kill_task;

static void kill_on_loop(nn_task *t) {
    kill_task *k = (kill_task *)t;
    nn_mysql_session *ses = NULL;
    pthread_mutex_lock(&k->srv->process_lock);
    for (nn_mysql_proc *p = k->srv->processes; p != NULL; p = p->next) {
        if (p->id == k->id && p->loop == k->loop) {
            ses = p->ses;
            break;
        }
    }
    pthread_mutex_unlock(&k->srv->process_lock);
    if (ses != NULL && ses->stream != NULL) {
        nn_log(NN_LOG_INFO, "mysql.kill", "conn=%llu what=%s", (unsigned long long)ses->id,
               k->connection ? "connection" : "query");
        bool pending = ses->state == ST_COMMAND_PENDING;
        if (pending) {
            ses->killed = true;
            const nn_mysql_handler *h = ses->srv->handler;
            if (h != NULL && h->cancel != NULL) {
                h->cancel(ses->srv->handler_arg, ses);
            }
            if (ses->writable_fn != NULL) {
                /* A producer waiting for room learns now that its rows are unwanted. */
                nn_mysql_session_on_writable(ses, ses->writable_fn, ses->writable_arg);
            }
        }
        if (k->connection) {
            ses->kill_connection = true;
            if (!pending) {
                nn_mysql_conn_close(ses, NN_CLOSE_LOCAL, "connection killed");
            }
        }
    }
    free(k);
}

/* KILL [CONNECTION | QUERY] id: one's own sessions, or anyone's with the privilege. */
void nn_mysql_process_kill(nn_mysql_session *ses, uint64_t id, bool connection) {
    nn_mysql_server *srv = ses->srv;
    bool may_kill_any = nn_mysql_session_may_manage_users(ses);
    nn_loop *loop = NULL;
    bool owner = false;
    pthread_mutex_lock(&srv->process_lock);
    for (nn_mysql_proc *p = srv->processes; p != NULL; p = p->next) {
        if (p->id == id) {
            loop = p->loop;
            owner = strcmp(p->ses->user, ses->user) == 0 &&
                    strcasecmp(p->ses->account_host, ses->account_host) == 0;
            break;
        }
    }
    pthread_mutex_unlock(&srv->process_lock);
    if (loop == NULL) {
        nn_mysql_session_error(ses, NN_ER_NO_SUCH_THREAD, "HY000", "Unknown thread id: %llu",
                               (unsigned long long)id);
        return;
    }
    if (!owner && !may_kill_any) {
        nn_mysql_session_error(ses, NN_ER_KILL_DENIED, "HY000", "You are not owner of thread %llu",
                               (unsigned long long)id);
        return;
    }
    kill_task *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
        return;
    }
    k->task.fn = kill_on_loop;
    k->srv = srv;
    k->loop = loop;
    k->id = id;
    k->connection = connection;
    if (nn_loop_post(loop, &k->task) < 0) {
        free(k);
    }
    nn_mysql_session_ok(ses, 0, 0, NULL);
}

/* ------------------------------------------------------------ PROCESSLIST */

#define PROCESS_COLUMNS 11

typedef struct proc_row {
    char id[24];
    char user[128];
    char host[80];
    char db[256];
    const char *command;
    char time[24];
    const char *state;
    bool self;
    char tls_version[16];
    char tls_cipher[64];
    char attrs[256];
} proc_row;

static void processlist(nn_mysql_session *ses, bool upper) {
    nn_mysql_server *srv = ses->srv;
    static const char *names[2][PROCESS_COLUMNS] = {
        {"Id", "User", "Host", "db", "Command", "Time", "State", "Info", "Tls_version",
         "Tls_cipher", "Connect_attrs"},
        {"ID", "USER", "HOST", "DB", "COMMAND", "TIME", "STATE", "INFO", "TLS_VERSION",
         "TLS_CIPHER", "CONNECT_ATTRS"},
    };
    size_t cap = 16;
    size_t n = 0;
    proc_row *rows = malloc(cap * sizeof(*rows));
    uint64_t now = nn_now_ns();
    pthread_mutex_lock(&srv->process_lock);
    for (nn_mysql_proc *p = srv->processes; p != NULL && rows != NULL; p = p->next) {
        if (n == cap) {
            proc_row *more = realloc(rows, cap * 2 * sizeof(*rows));
            if (more == NULL) {
                break;
            }
            rows = more;
            cap *= 2;
        }
        proc_row *r = &rows[n++];
        uint8_t cmd = atomic_load_explicit(&p->command, memory_order_relaxed);
        uint64_t since = atomic_load_explicit(&p->since_ns, memory_order_relaxed);
        const nn_mysql_session *o = p->ses;
        snprintf(r->id, sizeof(r->id), "%llu", (unsigned long long)p->id);
        snprintf(r->user, sizeof(r->user), "%s", o->user);
        snprintf(r->host, sizeof(r->host), "%s:%u", o->host, p->port);
        snprintf(r->db, sizeof(r->db), "%s", o->database);
        r->command = command_name(cmd);
        snprintf(r->time, sizeof(r->time), "%llu",
                 (unsigned long long)(now > since ? (now - since) / NN_SEC(1) : 0));
        r->state = cmd != 0 ? "executing" : "";
        r->self = p->ses == ses;
        snprintf(r->tls_version, sizeof(r->tls_version), "%s", o->secure ? o->tls_version : "");
        snprintf(r->tls_cipher, sizeof(r->tls_cipher), "%s", o->secure ? o->tls_cipher : "");
        /* Connection attributes as "key=value,..." (cut to the column's width). */
        size_t at = 0;
        const char *k = NULL;
        const char *v = NULL;
        r->attrs[0] = '\0';
        for (size_t i = 0; nn_mysql_session_attr_at(o, i, &k, &v) && at + 1 < sizeof(r->attrs);
             i++) {
            int w = snprintf(r->attrs + at, sizeof(r->attrs) - at, "%s%s=%s", i ? "," : "", k, v);
            if (w < 0) {
                break;
            }
            at += (size_t)w;
        }
    }
    pthread_mutex_unlock(&srv->process_lock);
    if (rows == NULL) {
        nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
        return;
    }
    nn_mysql_session_result_begin(ses, PROCESS_COLUMNS);
    for (int c = 0; c < PROCESS_COLUMNS; c++) {
        nn_mysql_column col = {.name = names[upper][c], .type = NN_MYSQL_TYPE_VAR_STRING};
        if (c == 0 || c == 5) {
            col.type = NN_MYSQL_TYPE_LONGLONG;
            col.flags = NN_MYSQL_FLAG_NOT_NULL | NN_MYSQL_FLAG_UNSIGNED;
        }
        nn_mysql_session_result_column_def(ses, &col);
    }
    for (size_t i = 0; i < n; i++) {
        proc_row *r = &rows[i];
        const char *v[PROCESS_COLUMNS] = {
            r->id,
            r->user,
            r->host,
            r->db[0] ? r->db : NULL,
            r->command,
            r->time,
            r->state,
            r->self ? (upper ? "SELECT * FROM information_schema.PROCESSLIST" : "SHOW PROCESSLIST")
                    : NULL,
            r->tls_version,
            r->tls_cipher,
            r->attrs,
        };
        nn_mysql_session_result_row(ses, v, NULL);
    }
    free(rows);
    nn_mysql_session_result_end(ses);
}

/* ------------------------------------------------------------------- SQL */

/* A small reader of keywords: these statements are all words and one number. */
typedef struct words {
    const char *p;
    const char *end;
} words;

static void skip(words *w) {
    for (;;) {
        while (w->p < w->end && isspace((unsigned char)*w->p)) {
            w->p++;
        }
        if (w->end - w->p >= 2 && w->p[0] == '/' && w->p[1] == '*') {
            const char *close = NULL;
            for (const char *q = w->p + 2; q + 1 < w->end; q++) {
                if (q[0] == '*' && q[1] == '/') {
                    close = q;
                    break;
                }
            }
            w->p = close ? close + 2 : w->end;
            continue;
        }
        return;
    }
}

static bool word(words *w, const char *kw) {
    skip(w);
    size_t n = strlen(kw);
    if ((size_t)(w->end - w->p) < n || strncasecmp(w->p, kw, n) != 0) {
        return false;
    }
    const char *after = w->p + n;
    if (after < w->end && (isalnum((unsigned char)*after) || *after == '_')) {
        return false;
    }
    w->p = after;
    return true;
}

static bool at_end(words *w) {
    skip(w);
    if (w->p < w->end && *w->p == ';') {
        w->p++;
        skip(w);
    }
    return w->p == w->end;
}

/* information_schema.PROCESSLIST, with or without backticks. */
static bool processlist_table(words *w) {
    skip(w);
    bool tick = w->p < w->end && *w->p == '`';
    if (tick) {
        w->p++;
    }
    if (!word(w, "information_schema")) {
        return false;
    }
    if (tick && (w->p >= w->end || *w->p++ != '`')) {
        return false;
    }
    if (w->p >= w->end || *w->p++ != '.') {
        return false;
    }
    tick = w->p < w->end && *w->p == '`';
    if (tick) {
        w->p++;
    }
    if (!word(w, "processlist")) {
        return false;
    }
    return !tick || (w->p < w->end && *w->p++ == '`');
}

int nn_mysql_process_statement(nn_mysql_session *ses, const char *sql, size_t len,
                               bool describe_only) {
    /* -1: not one of ours; else the result's column count. */
    words w = {sql, sql + len};
    if (word(&w, "KILL")) {
        bool connection = true;
        if (word(&w, "QUERY")) {
            connection = false;
        } else {
            (void)word(&w, "CONNECTION");
        }
        skip(&w);
        char *num_end = NULL;
        unsigned long long id = strtoull(w.p, &num_end, 10);
        if (num_end == w.p || num_end > w.end) {
            return -1;
        }
        w.p = num_end;
        if (!at_end(&w)) {
            return -1;
        }
        if (!describe_only) {
            nn_mysql_process_kill(ses, id, connection);
        }
        return 0;
    }
    words s = w;
    if (word(&s, "SHOW")) {
        (void)word(&s, "FULL");
        if (word(&s, "PROCESSLIST") && at_end(&s)) {
            if (!describe_only) {
                processlist(ses, false);
            }
            return PROCESS_COLUMNS;
        }
        return -1;
    }
    s = w;
    if (word(&s, "SELECT")) {
        skip(&s);
        if (s.p < s.end && *s.p == '*') {
            s.p++;
            if (word(&s, "FROM") && processlist_table(&s) && at_end(&s)) {
                if (!describe_only) {
                    processlist(ses, true);
                }
                return PROCESS_COLUMNS;
            }
        }
    }
    return -1;
}
