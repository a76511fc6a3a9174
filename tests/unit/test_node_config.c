/* The cluster config loader: a good config, defaults, %n and relative paths, and each kind
 * of mistake reported with its key path. Temp files only. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node.h"

static char tmpdir[256];
static char cfgpath[PATH_MAX];

static void write_file(const char *rel, const char *text) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
}

static int suite_init(void) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/nn-config-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    char certs[PATH_MAX];
    snprintf(certs, sizeof(certs), "%s/certs", tmpdir);
    mkdir(certs, 0700);
    snprintf(cfgpath, sizeof(cfgpath), "%s/cluster.yaml", tmpdir);
    static const char *const files[] = {"certs/ca.pem",     "certs/n1-cert.pem",
                                        "certs/n1-key.pem", "certs/n2-cert.pem",
                                        "certs/n2-key.pem", "certs/admin-cert.pem",
                                        "certs/admin-key.pem"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            return -1;
        }
        fputs("placeholder\n", f);
        fclose(f);
    }
    return 0;
}

static int suite_clean(void) {
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *const good_config =
    "cluster: { name: demo, id: 7 }\n"
    "nodes:\n"
    "  - { name: n1, host: 127.0.0.1, mysql_port: 2881, rpc_port: 2882 }\n"
    "  - { name: n2, host: 127.0.0.1, mysql_port: 3881, rpc_port: 3882 }\n"
    "security:\n"
    "  ca_file: certs/ca.pem\n"
    "  cert_file: certs/%n-cert.pem\n"
    "  key_file: certs/%n-key.pem\n"
    "  mysql_tls: on\n"
    "  require_secure_transport: off\n"
    "  rpc_tls: prefer\n"
    "  tls_min_version: \"1.3\"\n"
    "  rpc_tls_min_version: \"1.2\"\n"
    "  crl_file: certs/%n-crl.pem\n"
    "  ciphers: ECDHE-ECDSA-AES128-GCM-SHA256\n"
    "  tool_subjects: [\"/C=CN/O=nodenet/CN=nodenet-admin\"]\n"
    "  admin_cert_file: certs/admin-cert.pem\n"
    "  admin_key_file: certs/admin-key.pem\n"
    "node:\n"
    "  workers: 2\n"
    "  data_dir: data/%n\n"
    "  max_connections: 500\n"
    "  handshake_timeout_ms: 3000\n"
    "  idle_timeout_ms: 60000\n"
    "  call_timeout_ms: 2000\n"
    "  heartbeat_ms: 250\n"
    "  max_frame_bytes: 1048576\n"
    "  max_packet_bytes: 2097152\n"
    "  max_peer_queue_bytes: 8388608\n"
    "  peer_stall_timeout_ms: 2500\n";

static void good_config_loads_with_every_value(void) {
    write_file("cluster.yaml", good_config);
    nn_config cfg;
    nn_err err = {0};
    int rc = nn_config_load(cfgpath, "n2", NN_CONFIG_FOR_NODE, &cfg, &err);
    if (rc != 0) {
        fprintf(stderr, "unexpected: %s\n", err.msg);
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(cfg.cluster_name, "demo");
    CU_ASSERT_EQUAL(cfg.cluster_id, 7);
    CU_ASSERT_EQUAL(cfg.node_count, 2);
    CU_ASSERT_EQUAL(cfg.self, 1);
    CU_ASSERT_STRING_EQUAL(nn_config_self(&cfg)->name, "n2");
    CU_ASSERT_EQUAL(cfg.nodes[1].mysql_port, 3881);
    CU_ASSERT_EQUAL(cfg.nodes[1].rpc_port, 3882);
    CU_ASSERT_PTR_NOT_NULL(nn_config_node_find(&cfg, "n1"));
    CU_ASSERT_PTR_NULL(nn_config_node_find(&cfg, "n3"));
    CU_ASSERT_TRUE(cfg.security.certificates);
    CU_ASSERT_TRUE(cfg.security.mysql_tls);
    CU_ASSERT_FALSE(cfg.security.require_secure_transport);
    CU_ASSERT_EQUAL(cfg.security.rpc_tls, NN_CONFIG_RPC_TLS_PREFER);
    CU_ASSERT_STRING_EQUAL(cfg.security.tls_min_version, "1.3");
    CU_ASSERT_STRING_EQUAL(cfg.security.rpc_tls_min_version, "1.2");
    CU_ASSERT_PTR_NOT_NULL(cfg.security.crl_file);
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg.security.crl_file ? cfg.security.crl_file : "",
                                  "certs/n2-crl.pem"));
    CU_ASSERT_STRING_EQUAL(cfg.security.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
    CU_ASSERT_EQUAL_FATAL(cfg.security.tool_subject_count, 1);
    CU_ASSERT_STRING_EQUAL(cfg.security.tool_subjects[0], "/C=CN/O=nodenet/CN=nodenet-admin");
    CU_ASSERT_EQUAL(cfg.node.workers, 2);
    CU_ASSERT_EQUAL(cfg.node.max_connections, 500);
    CU_ASSERT_EQUAL(cfg.node.handshake_timeout_ms, 3000);
    CU_ASSERT_EQUAL(cfg.node.idle_timeout_ms, 60000);
    CU_ASSERT_EQUAL(cfg.node.call_timeout_ms, 2000);
    CU_ASSERT_EQUAL(cfg.node.heartbeat_ms, 250);
    CU_ASSERT_EQUAL(cfg.node.max_frame_bytes, 1048576);
    CU_ASSERT_EQUAL(cfg.node.max_packet_bytes, 2097152);
    CU_ASSERT_EQUAL(cfg.node.max_peer_queue_bytes, 8388608);
    CU_ASSERT_EQUAL(cfg.node.peer_stall_timeout_ms, 2500);

    /* %n is this node's name, and relative paths hang off the config's directory. */
    char want[PATH_MAX * 2];
    char real[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(tmpdir, real));
    snprintf(want, sizeof(want), "%s/certs/n2-cert.pem", real);
    CU_ASSERT_STRING_EQUAL(cfg.security.cert_file, want);
    snprintf(want, sizeof(want), "%s/certs/n2-key.pem", real);
    CU_ASSERT_STRING_EQUAL(cfg.security.key_file, want);
    snprintf(want, sizeof(want), "%s/data/n2", real);
    CU_ASSERT_STRING_EQUAL(cfg.node.data_dir, want);
    snprintf(want, sizeof(want), "%s/certs/admin-cert.pem", real);
    CU_ASSERT_STRING_EQUAL(cfg.security.admin_cert_file, want);
    nn_config_free(&cfg);
    CU_ASSERT_PTR_NULL(cfg.nodes);
}

static void relative_paths_do_not_depend_on_the_working_directory(void) {
    write_file("cluster.yaml", good_config);
    char cwd[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
    CU_ASSERT_EQUAL_FATAL(chdir(tmpdir), 0);
    nn_config cfg;
    nn_err err = {0};
    int rc = nn_config_load("cluster.yaml", "n1", NN_CONFIG_FOR_NODE, &cfg, &err);
    CU_ASSERT_EQUAL(chdir("/"), 0);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(cfg.security.ca_file[0], '/');
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg.security.ca_file, "/certs/ca.pem"));
    CU_ASSERT_EQUAL(access(cfg.security.ca_file, R_OK), 0);
    nn_config_free(&cfg);
    CU_ASSERT_EQUAL(chdir(cwd), 0);
}

static void minimal_config_gets_the_defaults(void) {
    write_file("cluster.yaml", "cluster: { name: c, id: 1 }\n"
                               "nodes: [ { name: a, host: \"::1\" } ]\n");
    nn_config cfg;
    nn_err err = {0};
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "a", NN_CONFIG_FOR_NODE, &cfg, &err), 0);
    CU_ASSERT_EQUAL(cfg.nodes[0].mysql_port, NN_CONFIG_DEFAULT_MYSQL_PORT);
    CU_ASSERT_EQUAL(cfg.nodes[0].rpc_port, NN_CONFIG_DEFAULT_RPC_PORT);
    CU_ASSERT_FALSE(cfg.security.certificates);
    CU_ASSERT_FALSE(cfg.security.mysql_tls);
    CU_ASSERT_EQUAL(cfg.security.rpc_tls, NN_CONFIG_RPC_TLS_OFF);
    CU_ASSERT_STRING_EQUAL(cfg.security.tls_min_version, "1.2");
    CU_ASSERT_STRING_EQUAL(cfg.security.rpc_tls_min_version, "1.3");
    CU_ASSERT_PTR_NULL(cfg.security.crl_file);
    CU_ASSERT_PTR_NULL(cfg.security.ciphers);
    CU_ASSERT_EQUAL(cfg.security.tool_subject_count, 0);
    CU_ASSERT_EQUAL(cfg.node.workers, 0);
    CU_ASSERT_EQUAL(cfg.node.max_connections, 10000);
    CU_ASSERT_EQUAL(cfg.node.handshake_timeout_ms, 10000);
    CU_ASSERT_EQUAL(cfg.node.idle_timeout_ms, 28800000);
    CU_ASSERT_EQUAL(cfg.node.call_timeout_ms, 5000);
    CU_ASSERT_EQUAL(cfg.node.heartbeat_ms, 1000);
    CU_ASSERT_EQUAL(cfg.node.max_frame_bytes, 67108864);
    CU_ASSERT_EQUAL(cfg.node.max_packet_bytes, 67108864);
    CU_ASSERT_EQUAL(cfg.node.max_peer_queue_bytes, 134217728);
    CU_ASSERT_EQUAL(cfg.node.peer_stall_timeout_ms, 10000);
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg.node.data_dir, "/data/a"));
    nn_config_free(&cfg);
}

static void mysql_tls_defaults_to_on_with_certificates(void) {
    write_file("cluster.yaml", "cluster: { name: c, id: 1 }\n"
                               "nodes: [ { name: n1, host: 127.0.0.1 } ]\n"
                               "security: { ca_file: certs/ca.pem, cert_file: certs/%n-cert.pem,"
                               " key_file: certs/%n-key.pem }\n");
    nn_config cfg;
    nn_err err = {0};
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &cfg, &err), 0);
    CU_ASSERT_TRUE(cfg.security.mysql_tls);
    nn_config_free(&cfg);
}

static void booleans_accept_true_false_yes_no_on_off(void) {
    static const struct {
        const char *word;
        bool value;
    } cases[] = {{"true", true}, {"false", false}, {"yes", true}, {"no", false},
                 {"on", true},   {"off", false},   {"On", true},  {"FALSE", false}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "cluster: { name: c, id: 1 }\n"
                 "nodes: [ { name: n1, host: 127.0.0.1 } ]\n"
                 "security: { ca_file: certs/ca.pem, cert_file: certs/%%n-cert.pem,"
                 " key_file: certs/%%n-key.pem, mysql_tls: %s }\n",
                 cases[i].word);
        write_file("cluster.yaml", text);
        nn_config cfg;
        nn_err err = {0};
        CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &cfg, &err), 0);
        CU_ASSERT_EQUAL(cfg.security.mysql_tls, cases[i].value);
        nn_config_free(&cfg);
    }
}

/* Loads text and checks that it fails with a message holding each of the wanted parts. */
static void expect_error(const char *text, const char *node, nn_config_purpose purpose,
                         const char *want1, const char *want2) {
    write_file("cluster.yaml", text);
    nn_config cfg;
    nn_err err = {0};
    int rc = nn_config_load(cfgpath, node, purpose, &cfg, &err);
    CU_ASSERT_TRUE(rc < 0);
    CU_ASSERT_NOT_EQUAL(err.code, 0);
    CU_ASSERT_PTR_NULL(cfg.nodes);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cfgpath));
    bool ok = strstr(err.msg, want1) != NULL && (want2 == NULL || strstr(err.msg, want2) != NULL);
    if (!ok) {
        fprintf(stderr, "\nwanted '%s' and '%s' in: %s\n", want1, want2 ? want2 : "", err.msg);
    }
    CU_ASSERT_TRUE(ok);
}

#define HEAD "cluster: { name: c, id: 1 }\n"
#define ONE_NODE "nodes: [ { name: n1, host: 127.0.0.1 } ]\n"
#define CERTS                                                                                   \
    "security:\n  ca_file: certs/ca.pem\n  cert_file: certs/%n-cert.pem\n"                     \
    "  key_file: certs/%n-key.pem\n"

static void unknown_key_is_named_with_its_path(void) {
    expect_error(HEAD "nodes: [ { name: n1, host: 127.0.0.1, prot: 5 } ]\n", "n1",
                 NN_CONFIG_FOR_NODE, "nodes[0].prot: unknown key", NULL);
    expect_error(HEAD ONE_NODE "securty: {}\n", "n1", NN_CONFIG_FOR_NODE,
                 ": securty: unknown key", NULL);
    expect_error(HEAD ONE_NODE CERTS "  rpc_tsl: off\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.rpc_tsl: unknown key", "line");
}

static void bad_enum_value_lists_the_choices(void) {
    expect_error(HEAD ONE_NODE CERTS "  rpc_tls: maybe\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.rpc_tls: invalid value 'maybe' (expected off, prefer or require)",
                 NULL);
    expect_error(HEAD ONE_NODE CERTS "  tls_min_version: \"1.1\"\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.tls_min_version: invalid value '1.1'", NULL);
    expect_error(HEAD ONE_NODE CERTS "  rpc_tls_min_version: \"1.1\"\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.rpc_tls_min_version: invalid value '1.1'", NULL);
}

static void bad_boolean_is_refused_not_taken_as_true(void) {
    expect_error(HEAD ONE_NODE CERTS "  mysql_tls: maybe\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.mysql_tls: invalid value 'maybe'", "true or false");
}

static void wrong_type_says_what_was_expected(void) {
    expect_error(HEAD "nodes: [ { name: n1, host: 127.0.0.1, rpc_port: [1] } ]\n", "n1",
                 NN_CONFIG_FOR_NODE, "nodes[0].rpc_port: wrong type: expected an integer", NULL);
    expect_error(HEAD "nodes: { name: n1 }\n", "n1", NN_CONFIG_FOR_NODE,
                 "nodes: wrong type: expected a list, got a mapping", NULL);
    expect_error(HEAD ONE_NODE "node: { workers: many }\n", "n1", NN_CONFIG_FOR_NODE,
                 "node.workers: invalid value 'many' (expected an integer)", NULL);
    expect_error("- 1\n", "n1", NN_CONFIG_FOR_NODE, "wrong type: expected a mapping", NULL);
}

static void missing_required_key_is_named(void) {
    expect_error("cluster: { name: c }\n" ONE_NODE, "n1", NN_CONFIG_FOR_NODE,
                 "cluster.id: missing required key", NULL);
    expect_error(HEAD "nodes:\n  - { name: n1, host: 127.0.0.1 }\n  - { name: n2 }\n", "n1",
                 NN_CONFIG_FOR_NODE, "nodes[1].host: missing required key", NULL);
    expect_error(HEAD, "n1", NN_CONFIG_FOR_NODE, ": nodes: missing required key", NULL);
    expect_error(HEAD "nodes: []\n", "n1", NN_CONFIG_FOR_NODE, "nodes: must list at least one",
                 NULL);
}

static void duplicate_key_is_refused(void) {
    expect_error(HEAD ONE_NODE CERTS "  rpc_tls: off\n  rpc_tls: require\n", "n1",
                 NN_CONFIG_FOR_NODE, "security.rpc_tls: duplicate key", NULL);
}

static void port_out_of_range_is_refused(void) {
    expect_error(HEAD "nodes: [ { name: n1, host: 127.0.0.1, mysql_port: 70000 } ]\n", "n1",
                 NN_CONFIG_FOR_NODE, "nodes[0].mysql_port: 70000 is out of range (1 to 65535)",
                 NULL);
    expect_error(HEAD "nodes: [ { name: n1, host: 127.0.0.1, rpc_port: 0 } ]\n", "n1",
                 NN_CONFIG_FOR_NODE, "nodes[0].rpc_port: 0 is out of range", NULL);
    expect_error(HEAD ONE_NODE "node: { max_frame_bytes: 10 }\n", "n1", NN_CONFIG_FOR_NODE,
                 "node.max_frame_bytes: 10 is out of range", NULL);
    expect_error(HEAD ONE_NODE "node: { max_peer_queue_bytes: 1000 }\n", "n1", NN_CONFIG_FOR_NODE,
                 "node.max_peer_queue_bytes: 1000 is out of range", NULL);
    expect_error(HEAD ONE_NODE "node: { peer_stall_timeout_ms: 0 }\n", "n1", NN_CONFIG_FOR_NODE,
                 "node.peer_stall_timeout_ms: 0 is out of range", NULL);
}

static void duplicate_node_name_and_endpoint_are_refused(void) {
    expect_error(HEAD "nodes:\n  - { name: n1, host: 127.0.0.1 }\n"
                      "  - { name: n1, host: 127.0.0.2 }\n",
                 "n1", NN_CONFIG_FOR_NODE, "nodes[1]: duplicate node name 'n1'", NULL);
    expect_error(HEAD "nodes:\n  - { name: n1, host: 127.0.0.1, mysql_port: 10, rpc_port: 11 }\n"
                      "  - { name: n2, host: 127.0.0.1, mysql_port: 11, rpc_port: 12 }\n",
                 "n1", NN_CONFIG_FOR_NODE, "nodes[1]: 127.0.0.1:11 is also used by nodes[0]",
                 NULL);
    expect_error(HEAD "nodes: [ { name: n1, host: 127.0.0.1, mysql_port: 5, rpc_port: 5 } ]\n",
                 "n1", NN_CONFIG_FOR_NODE, "nodes[0]: mysql_port and rpc_port are both 5", NULL);
}

static void node_not_in_the_list_is_refused(void) {
    expect_error(HEAD ONE_NODE, "n9", NN_CONFIG_FOR_NODE, "nodes: no node named 'n9'", "n1");
}

static void bad_names_and_hosts_are_refused(void) {
    expect_error(HEAD "nodes: [ { name: ../x, host: 127.0.0.1 } ]\n", NULL, NN_CONFIG_FOR_NODE,
                 "nodes[0].name: '../x' is not a valid node name", NULL);
    expect_error(HEAD "nodes: [ { name: n1, host: db.example } ]\n", "n1", NN_CONFIG_FOR_NODE,
                 "nodes[0].host: 'db.example' is not a numeric", NULL);
}

static void missing_certificate_file_is_named(void) {
    expect_error(HEAD "nodes: [ { name: n3, host: 127.0.0.1 } ]\n" CERTS, "n3",
                 NN_CONFIG_FOR_NODE, "security.cert_file: ", "n3-cert.pem: No such file");
    /* Without --node every node's files are checked. */
    expect_error(HEAD "nodes:\n  - { name: n1, host: 127.0.0.1 }\n"
                      "  - { name: n3, host: 127.0.0.2 }\n" CERTS,
                 NULL, NN_CONFIG_FOR_NODE, "security.cert_file: ", "n3-cert.pem");
    expect_error(HEAD ONE_NODE "security: { wallet_dir: certs }\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.wallet_dir: ", "server-cert.pem");
}

static void contradictory_security_settings_are_refused(void) {
    expect_error(HEAD ONE_NODE "security: { mysql_tls: on }\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.mysql_tls: on needs certificates", NULL);
    expect_error(HEAD ONE_NODE "security: { rpc_tls: require }\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.rpc_tls: require needs certificates", NULL);
    expect_error(HEAD ONE_NODE CERTS "  mysql_tls: off\n  require_secure_transport: on\n", "n1",
                 NN_CONFIG_FOR_NODE, "security.require_secure_transport: on needs mysql_tls on",
                 NULL);
    expect_error(HEAD ONE_NODE "security: { ca_file: certs/ca.pem }\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.cert_file: missing", NULL);
    expect_error(HEAD ONE_NODE CERTS "  wallet_dir: w\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.wallet_dir: set either", NULL);
    expect_error(HEAD ONE_NODE CERTS "  cert_file: certs/%q\n", "n1", NN_CONFIG_FOR_NODE,
                 "duplicate key", NULL);
    expect_error(HEAD ONE_NODE "security:\n  ca_file: certs/ca.pem\n  cert_file: certs/%q\n"
                               "  key_file: k\n",
                 "n1", NN_CONFIG_FOR_NODE, "security.cert_file: unknown placeholder '%q'", NULL);
    expect_error(HEAD ONE_NODE CERTS "  tool_subjects: [nodenet-admin]\n", "n1",
                 NN_CONFIG_FOR_NODE, "security.tool_subjects[0]: 'nodenet-admin' is not", NULL);
}

static void tool_purpose_needs_the_admin_certificate_not_the_node_key(void) {
    expect_error(HEAD ONE_NODE CERTS "  rpc_tls: require\n", "n1", NN_CONFIG_FOR_TOOL,
                 "security.admin_cert_file: missing", NULL);
    expect_error(HEAD ONE_NODE CERTS "  rpc_tls: require\n  admin_cert_file: certs/nope.pem\n"
                                     "  admin_key_file: certs/admin-key.pem\n",
                 "n1", NN_CONFIG_FOR_TOOL, "security.admin_cert_file: ", "nope.pem");
    /* n3 has no key file here, which a tool does not need. */
    write_file("cluster.yaml", HEAD "nodes: [ { name: n3, host: 127.0.0.1 } ]\n" CERTS
                                    "  rpc_tls: require\n  admin_cert_file: certs/admin-cert.pem\n"
                                    "  admin_key_file: certs/admin-key.pem\n");
    nn_config cfg;
    nn_err err = {0};
    CU_ASSERT_EQUAL(nn_config_load(cfgpath, "n3", NN_CONFIG_FOR_TOOL, &cfg, &err), 0);
    nn_config_free(&cfg);
}

static void broken_files_get_clear_errors(void) {
    expect_error("cluster: { name: c, id: 1 }\nnodes: [ { name: \"n1 }\n", "n1",
                 NN_CONFIG_FOR_NODE, "YAML syntax error", NULL);
    expect_error("", "n1", NN_CONFIG_FOR_NODE, "empty document", NULL);
    nn_config cfg;
    nn_err err = {0};
    CU_ASSERT_EQUAL(nn_config_load("/nonexistent/cluster.yaml", "n1", NN_CONFIG_FOR_NODE, &cfg,
                                   &err),
                    -ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/cluster.yaml: No such file"));
    CU_ASSERT_TRUE(nn_config_load(tmpdir, "n1", NN_CONFIG_FOR_NODE, &cfg, &err) < 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a regular file"));
}

static void diff_separates_live_settings_from_restart_ones(void) {
    write_file("cluster.yaml", good_config);
    nn_config a;
    nn_config b;
    nn_err err = {0};
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &a, &err), 0);
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &b, &err), 0);
    nn_config_diff d;
    nn_config_diff_get(&a, &b, &d);
    CU_ASSERT_FALSE(d.mysql_changed || d.rpc_changed || d.security_changed);
    CU_ASSERT_STRING_EQUAL(d.restart, "");
    nn_config_free(&b);

    char text[4096];
    snprintf(text, sizeof(text), "%s", good_config);
    char *p = strstr(text, "rpc_tls: prefer");
    memcpy(p, "rpc_tls: off   ", 15);
    p = strstr(text, "workers: 2");
    memcpy(p, "workers: 3", 10);
    p = strstr(text, "mysql_port: 3881");
    memcpy(p, "mysql_port: 3891", 16);
    write_file("cluster.yaml", text);
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &b, &err), 0);
    nn_config_diff_get(&a, &b, &d);
    CU_ASSERT_TRUE(d.rpc_changed);
    CU_ASSERT_FALSE(d.mysql_changed);
    CU_ASSERT_STRING_EQUAL(d.restart, "nodes, node.workers");
    nn_config_free(&a);
    nn_config_free(&b);
}

static void operator_keys_load_and_are_checked(void) {
    write_file("cluster.yaml", HEAD "nodes: [ { name: n1, host: 127.0.0.1, metrics_port: 9100 },"
                                    " { name: n2, host: 127.0.0.2 } ]\n"
                                    "node: { log_level: debug }\n");
    nn_config cfg;
    nn_err err = {0};
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &cfg, &err), 0);
    CU_ASSERT_EQUAL(cfg.nodes[0].metrics_port, 9100);
    CU_ASSERT_EQUAL(cfg.nodes[1].metrics_port, 0); /* absent = off */
    CU_ASSERT_EQUAL(cfg.node.log_level, NN_LOG_DEBUG);
    CU_ASSERT_EQUAL(cfg.security.cert_warn_days, 30);
    nn_config_free(&cfg);
    write_file("cluster.yaml", HEAD ONE_NODE);
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &cfg, &err), 0);
    CU_ASSERT_EQUAL(cfg.node.log_level, -1); /* not set: the command line's */
    nn_config_free(&cfg);
    expect_error(HEAD "nodes: [ { name: n1, host: 127.0.0.1, metrics_port: 70000 } ]\n", "n1",
                 NN_CONFIG_FOR_NODE, "nodes[0].metrics_port", "out of range");
    expect_error(HEAD "nodes: [ { name: n1, host: 127.0.0.1, metrics_port: 2882 } ]\n", "n1",
                 NN_CONFIG_FOR_NODE, "nodes[0].metrics_port", "rpc_port");
    expect_error(HEAD ONE_NODE "node: { log_level: chatty }\n", "n1", NN_CONFIG_FOR_NODE,
                 "node.log_level", "debug, info, warn or error");
    expect_error(HEAD ONE_NODE "security: { cert_warn_days: -1 }\n", "n1", NN_CONFIG_FOR_NODE,
                 "security.cert_warn_days", "out of range");
}

static void diff_takes_connection_limit_and_log_level_live(void) {
    write_file("cluster.yaml", HEAD ONE_NODE "node: { max_connections: 100 }\n");
    nn_config a;
    nn_config b;
    nn_err err = {0};
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &a, &err), 0);
    write_file("cluster.yaml", HEAD ONE_NODE "node: { max_connections: 5, log_level: warn }\n");
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &b, &err), 0);
    nn_config_diff d;
    nn_config_diff_get(&a, &b, &d);
    CU_ASSERT_TRUE(d.node_changed);
    CU_ASSERT_STRING_EQUAL(d.restart, "");
    nn_config_free(&a);
    nn_config_free(&b);
}

/* MySQL's default_authentication_plugin: caching_sha2_password unless set; a change reaches
 * mysql/ live (new connections). */
static void default_authentication_plugin_loads_and_goes_live(void) {
    write_file("cluster.yaml", HEAD ONE_NODE);
    nn_config a;
    nn_config b;
    nn_err err = {0};
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &a, &err), 0);
    CU_ASSERT_FALSE(a.node.native_password_default);
    write_file("cluster.yaml",
               HEAD ONE_NODE "node: { default_authentication_plugin: mysql_native_password }\n");
    CU_ASSERT_EQUAL_FATAL(nn_config_load(cfgpath, "n1", NN_CONFIG_FOR_NODE, &b, &err), 0);
    CU_ASSERT_TRUE(b.node.native_password_default);
    nn_config_diff d;
    nn_config_diff_get(&a, &b, &d);
    CU_ASSERT_TRUE(d.mysql_changed);
    CU_ASSERT_STRING_EQUAL(d.restart, "");
    nn_config_free(&a);
    nn_config_free(&b);
    expect_error(HEAD ONE_NODE "node: { default_authentication_plugin: sha256_password }\n", "n1",
                 NN_CONFIG_FOR_NODE, "node.default_authentication_plugin",
                 "caching_sha2_password or mysql_native_password");
}

static void example_config_in_deploy_loads(void) {
    nn_config cfg;
    nn_err err = {0};
    int rc = nn_config_load(NN_SOURCE_DIR "/deploy/cluster.yaml.example", "n2",
                            NN_CONFIG_FOR_TOOL, &cfg, &err);
    if (rc != 0) {
        fprintf(stderr, "\n%s\n", err.msg);
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(cfg.node_count, 3);
    CU_ASSERT_EQUAL(nn_config_self(&cfg)->mysql_port, 3881);
    CU_ASSERT_TRUE(cfg.security.mysql_tls);
    nn_config_free(&cfg);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    CU_pSuite s = CU_add_suite("node_config", suite_init, suite_clean);
    CU_add_test(s, "good_config_loads_with_every_value", good_config_loads_with_every_value);
    CU_add_test(s, "relative_paths_do_not_depend_on_the_working_directory",
                relative_paths_do_not_depend_on_the_working_directory);
    CU_add_test(s, "minimal_config_gets_the_defaults", minimal_config_gets_the_defaults);
    CU_add_test(s, "mysql_tls_defaults_to_on_with_certificates",
                mysql_tls_defaults_to_on_with_certificates);
    CU_add_test(s, "booleans_accept_true_false_yes_no_on_off",
                booleans_accept_true_false_yes_no_on_off);
    CU_add_test(s, "unknown_key_is_named_with_its_path", unknown_key_is_named_with_its_path);
    CU_add_test(s, "bad_enum_value_lists_the_choices", bad_enum_value_lists_the_choices);
    CU_add_test(s, "bad_boolean_is_refused_not_taken_as_true",
                bad_boolean_is_refused_not_taken_as_true);
    CU_add_test(s, "wrong_type_says_what_was_expected", wrong_type_says_what_was_expected);
    CU_add_test(s, "missing_required_key_is_named", missing_required_key_is_named);
    CU_add_test(s, "duplicate_key_is_refused", duplicate_key_is_refused);
    CU_add_test(s, "port_out_of_range_is_refused", port_out_of_range_is_refused);
    CU_add_test(s, "duplicate_node_name_and_endpoint_are_refused",
                duplicate_node_name_and_endpoint_are_refused);
    CU_add_test(s, "node_not_in_the_list_is_refused", node_not_in_the_list_is_refused);
    CU_add_test(s, "bad_names_and_hosts_are_refused", bad_names_and_hosts_are_refused);
    CU_add_test(s, "missing_certificate_file_is_named", missing_certificate_file_is_named);
    CU_add_test(s, "contradictory_security_settings_are_refused",
                contradictory_security_settings_are_refused);
    CU_add_test(s, "tool_purpose_needs_the_admin_certificate_not_the_node_key",
                tool_purpose_needs_the_admin_certificate_not_the_node_key);
    CU_add_test(s, "broken_files_get_clear_errors", broken_files_get_clear_errors);
    CU_add_test(s, "diff_separates_live_settings_from_restart_ones",
                diff_separates_live_settings_from_restart_ones);
    CU_add_test(s, "example_config_in_deploy_loads", example_config_in_deploy_loads);
    CU_add_test(s, "operator_keys_load_and_are_checked", operator_keys_load_and_are_checked);
    CU_add_test(s, "diff_takes_connection_limit_and_log_level_live",
                diff_takes_connection_limit_and_log_level_live);
    CU_add_test(s, "default_authentication_plugin_loads_and_goes_live",
                default_authentication_plugin_loads_and_goes_live);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
