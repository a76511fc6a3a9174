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
