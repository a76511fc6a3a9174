/* nodenet: runs one node of a cluster.
 *
 *   nodenet --config cluster.yaml --node n1 [--log-level debug|info|warn|error] [--check]
 *   nodenet --config cluster.yaml --list-nodes     (name host mysql_port rpc_port lines)
 *
 * Signals are taken by sigwait() on the main thread (blocked everywhere else, so no worker
 * ever runs a handler): SIGTERM/SIGINT stop gracefully, SIGHUP reloads. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"

/* How long in-flight MySQL commands and RPC calls get to finish on SIGTERM. */
#define DRAIN_MS 5000

static void usage(FILE *out) {
    fprintf(out,
            "usage: nodenet --config FILE --node NAME [--log-level debug|info|warn|error]\n"
            "       nodenet --config FILE [--node NAME] --check\n"
            "       nodenet --config FILE --list-nodes\n"
            "  --check   validate the config (and each node's certificates) and exit 0/1\n");
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"node", required_argument, NULL, 'n'},
        {"log-level", required_argument, NULL, 'l'},
        {"check", no_argument, NULL, 'k'},
        {"list-nodes", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    const char *node_name = NULL;
    bool check = false;
    bool list = false;
    bool level_given = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:n:l:kh", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'n':
            node_name = optarg;
            break;
        case 'l': {
            nn_log_level level;
            if (nn_log_level_parse(optarg, &level) < 0) {
                fprintf(stderr, "nodenet: --log-level: invalid value '%s' (expected debug, "
                                "info, warn or error)\n",
                        optarg);
                return 1;
            }
            nn_log_set_level(level);
            level_given = true;
            break;
        }
        case 'k':
            check = true;
            break;
        case 'L':
            list = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nodenet: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 1;
    }
    if (config_path == NULL || (!check && !list && node_name == NULL)) {
        fprintf(stderr, "nodenet: %s is required\n", config_path == NULL ? "--config" : "--node");
        usage(stderr);
        return 1;
    }

    nn_err err = {0};
    if ((list || check) && !level_given) {
        /* One-shot commands: the certificate store's info lines are not the answer. */
        nn_log_set_level(NN_LOG_WARN);
    }
    if (list) {
        /* For scripts (deploy/local-cluster): the config's own parser, one node a line. */
        nn_config cfg;
        if (nn_config_load(config_path, NULL, NN_CONFIG_FOR_TOOL, &cfg, &err) < 0) {
            fprintf(stderr, "nodenet: %s\n", err.msg);
            return 1;
        }
        for (size_t i = 0; i < cfg.node_count; i++) {
            printf("%s %s %u %u\n", cfg.nodes[i].name, cfg.nodes[i].host, cfg.nodes[i].mysql_port,
                   cfg.nodes[i].rpc_port);
        }
        nn_config_free(&cfg);
        return 0;
    }
    if (check) {
        if (nn_node_check(config_path, node_name, &err) < 0) {
            fprintf(stderr, "nodenet: %s\n", err.msg);
            return 1;
        }
        printf("%s: ok%s%s\n", config_path, node_name != NULL ? " for node " : " for every node",
               node_name != NULL ? node_name : "");
        return 0;
    }

    /* Before any thread exists, so that every thread inherits the mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    /* A peer that vanishes mid-write must not kill the node. */
    signal(SIGPIPE, SIG_IGN);

    nn_node *node = nn_node_new(config_path, node_name, &err);
    if (node == NULL) {
        nn_log(NN_LOG_ERROR, "node.failed", "node=%s reason=\"%s\"", node_name, err.msg);
        fprintf(stderr, "nodenet: %s\n", err.msg);
        return 1;
    }
    if (nn_node_start(node, &err) < 0) {
        nn_log(NN_LOG_ERROR, "node.failed", "node=%s reason=\"%s\"", node_name, err.msg);
        fprintf(stderr, "nodenet: %s\n", err.msg);
        nn_node_free(node);
        return 1;
    }

    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            char summary[512];
            nn_err reload_err = {0};
            /* nn_node_reload logs success and failure itself; a failure keeps serving. */
            nn_node_reload(node, summary, sizeof(summary), &reload_err);
            continue;
        }
        nn_log(NN_LOG_INFO, "node.signal", "node=%s signal=%s", node_name,
               sig == SIGTERM ? "TERM" : "INT");
        break;
    }
    nn_node_stop(node, DRAIN_MS);
    nn_node_free(node);
    return 0;
}
