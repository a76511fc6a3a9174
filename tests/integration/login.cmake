# MySQL TLS login (issue 15): a client certificate that logged in before is refused once a
# CRL revoking it is reloaded (the verification cache of security/verify_cache.c is per
# store snapshot), and an account's REQUIRE SUBJECT/ISSUER is checked at every login. The
# mariadb CLI against a real node.
find_program(NN_LOGIN_MARIADB_CLI NAMES mariadb mysql)
if(TARGET nodenet AND NN_LOGIN_MARIADB_CLI)
    add_test(NAME tls_login_cached_cert_revoked_on_reload
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/login_cache_test.sh)
    set_tests_properties(tls_login_cached_cert_revoked_on_reload PROPERTIES LABELS integration
                         TIMEOUT 300 SKIP_RETURN_CODE 77
                         ENVIRONMENT "NODENET_BIN=$<TARGET_FILE:nodenet>;GEN_CERTS=${CMAKE_SOURCE_DIR}/deploy/gen-certs")
endif()
