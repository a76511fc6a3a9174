/* mysql/users.c: the immutable account snapshot that logins read (reference counted) and
 * MySQL's host matching. Built by catalog.c on the catalog thread; read on any worker. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/mysql_internal.h"

static void account_free(nn_mysql_account *a) {
    free(a->user);
    free(a->host);
    free(a->plugin);
    free(a->auth_string);
    nn_ssl_require_clear(&a->require);
    free(atomic_load(&a->sha2_cache));
}

void nn_mysql_users_ref(nn_mysql_users *u) {
    atomic_fetch_add_explicit(&u->refs, 1, memory_order_relaxed);
}

void nn_mysql_users_unref(nn_mysql_users *u) {
    if (u == NULL || atomic_fetch_sub_explicit(&u->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (size_t i = 0; i < u->count; i++) {
        account_free(&u->accounts[i]);
    }
    free(u->accounts);
    free(u);
}

bool nn_mysql_host_match(const char *pattern, const char *peer_host) {
    if (strcmp(pattern, "localhost") == 0) {
        return strcmp(peer_host, "127.0.0.1") == 0 || strcmp(peer_host, "::1") == 0 ||
               strcmp(peer_host, "localhost") == 0;
    }
    return nn_sql_like(pattern, peer_host);
}

const nn_mysql_account *nn_mysql_users_match(const nn_mysql_users *u, const char *user,
                                             const char *peer_host) {
    for (size_t i = 0; i < u->count; i++) {
        const nn_mysql_account *a = &u->accounts[i];
        if (strcmp(a->user, user) == 0 && nn_mysql_host_match(a->host, peer_host)) {
            return a;
        }
    }
    return NULL;
}

const nn_mysql_account *nn_mysql_users_find(const nn_mysql_users *u, const char *user,
                                            const char *host) {
    for (size_t i = 0; i < u->count; i++) {
        const nn_mysql_account *a = &u->accounts[i];
        if (strcmp(a->user, user) == 0 && strcasecmp(a->host, host) == 0) {
            return a;
        }
    }
    return NULL;
}
