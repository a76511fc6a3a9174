/* minidb: one node of a replicated SQL engine, built only against the installed nodenet.
 *
 *   minidb --config cluster.yaml --node n1 [--log-level L] [--data-dir DIR]
 *
 * The same config file and command line as the nodenet binary (so deploy/local-cluster
 * starts either), with SQLite as the engine: DIR/minidb.sqlite, DIR defaulting to
 * <config's directory>/data/<node> (the demo's node.data_dir). Signals are taken by
 * sigwait() on the main thread: SIGTERM/SIGINT stop gracefully, SIGHUP reloads. */
#define _GNU_SOURCE /* asprintf */
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nodenet/mysql.h>
#include <nodenet/nodenet.h>

#include "minidb.h"

#define DRAIN_MS 5000

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"node", required_argument, NULL, 'n'},
        {"log-level", required_argument, NULL, 'l'},
        {"data-dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *name = NULL, *data_dir = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:n:l:d:", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'l':
            if (nn_set_log_level(optarg) < 0) {
                fprintf(stderr, "minidb: --log-level: invalid value '%s'\n", optarg);
                return 1;
            }
            break;
        default:
            fprintf(stderr, "usage: minidb --config FILE --node NAME [--log-level L] "
                            "[--data-dir DIR]\n");
            return 1;
        }
    }
    if (config == NULL || name == NULL) {
        fprintf(stderr, "minidb: --config and --node are required\n");
        return 1;
    }
    if (nn_version() / 10000 != NN_VERSION_MAJOR) {
        fprintf(stderr, "minidb: built for nodenet %s, running with %s\n", NN_VERSION_STRING,
                nn_version_string());
        return 1;
    }
    char *default_dir = NULL;
    if (data_dir == NULL) {
        char *copy = strdup(config);
        if (copy == NULL || asprintf(&default_dir, "%s/data/%s", dirname(copy), name) < 0) {
            return 1;
        }
        free(copy);
        data_dir = default_dir;
    }

    /* Before any thread exists, so that every thread inherits the mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    nn_err *err = nn_err_new();
    minidb *mdb = NULL;
    nn_node *node = nn_node_new(config, name, err); /* creates data_dir */
    if (node == NULL) {
        fprintf(stderr, "minidb: %s\n", nn_err_message(err));
        goto out;
    }
    mkdir(data_dir, 0700);
    mdb = minidb_new(node, data_dir);
    if (mdb == NULL) {
        goto out;
    }
    nn_node_set_mysql_handler(node, &minidb_mysql_handler, mdb);
    if (nn_node_subscribe(node, minidb_on_event, mdb) < 0 || nn_node_start(node, err) < 0) {
        fprintf(stderr, "minidb: %s\n", nn_err_message(err));
        goto out;
    }
    for (;;) {
        int sig = 0;
        sigwait(&signals, &sig);
        if (sig == SIGHUP) {
            char summary[256] = "";
            if (nn_node_reload(node, summary, sizeof(summary), err) < 0) {
                fprintf(stderr, "minidb: reload: %s\n", nn_err_message(err));
            }
            continue;
        }
        break;
    }
    rc = 0;
out:
    if (node != NULL) {
        nn_node_stop(node, DRAIN_MS);
    }
    minidb_free(mdb); /* after the workers: nothing can post a job any more */
    nn_node_free(node);
    nn_err_free(err);
    free(default_dir);
    return rc;
}
