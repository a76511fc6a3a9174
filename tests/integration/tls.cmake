# TLS hardening and revocation (issue 13): the MySQL port with the mariadb CLI and openssl
# s_client (tls_hardening_test.sh), the RPC port with real nodes (tls_rpc_test.py), and a
# testssl.sh scan of both (tls_testssl_test.py, skipped with 77 when testssl is missing).
find_program(NN_TLS_MARIADB_CLI NAMES mariadb mysql)
if(TARGET nodenet AND NN_TLS_MARIADB_CLI)
    add_test(NAME tls_hardening_mysql_port
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/tls_hardening_test.sh)
    set_tests_properties(tls_hardening_mysql_port PROPERTIES LABELS integration TIMEOUT 300
                         SKIP_RETURN_CODE 77
                         ENVIRONMENT "NODENET_BIN=$<TARGET_FILE:nodenet>;GEN_CERTS=${CMAKE_SOURCE_DIR}/deploy/gen-certs")
endif()
if(TARGET nodenet)
    foreach(case rel_09_rpc_port_tls13_only rel_22_other_cluster_ca_refused
            revoked_node_refused_on_mesh stale_crl_reload_status)
        add_test(NAME tls_rpc_${case}
                 COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/tls_rpc_test.py
                         --bin ${CMAKE_BINARY_DIR}/bin --src ${CMAKE_SOURCE_DIR} ${case})
        set_tests_properties(tls_rpc_${case} PROPERTIES LABELS integration TIMEOUT 300
                             SKIP_RETURN_CODE 77)
    endforeach()
endif()
if(TARGET nodenet)
    # About two minutes: two testssl runs side by side (see the script for what is skipped).
    add_test(NAME tls_rel_20_testssl_scan_both_ports
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/tls_testssl_test.py
                     --bin ${CMAKE_BINARY_DIR}/bin --src ${CMAKE_SOURCE_DIR})
    set_tests_properties(tls_rel_20_testssl_scan_both_ports PROPERTIES LABELS integration
                         TIMEOUT 1200 SKIP_RETURN_CODE 77)
endif()
