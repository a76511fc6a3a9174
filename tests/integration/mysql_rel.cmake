# RELIABILITY.md's MySQL-port cases (rel_NN_...) and load scenarios L1-L4 (rel_lN_...), one
# real node per test (tests/integration/mysql_rel_test.py): raw bytes over sockets and
# Python's ssl for the hostile side, the mariadb CLI for logins and for the well-behaved
# client at the end of every case. Without the mariadb CLI a test exits 77 (skipped).
pkg_check_modules(NN_REL_OPENSSL IMPORTED_TARGET openssl)
set(_nn_rel_abuse "")
if(NN_REL_OPENSSL_FOUND)
    # Renegotiation and KeyUpdate from the client side need OpenSSL (BoringSSL cannot start
    # either as a client). Its own executable: never linked with nodenet's BoringSSL.
    add_executable(mysql_rel_tls_abuse ${CMAKE_CURRENT_LIST_DIR}/mysql_rel_tls_abuse.c)
    target_link_libraries(mysql_rel_tls_abuse PRIVATE PkgConfig::NN_REL_OPENSSL)
    set(_nn_rel_abuse --tls-abuse $<TARGET_FILE:mysql_rel_tls_abuse>)
endif()
if(TARGET nodenet)
    set(_nn_rel_cases
        01_silent_client_closed_at_handshake_deadline
        02_slowloris_closed_at_absolute_handshake_deadline
        03_oversized_length_closed_without_allocating
        04_malformed_handshake_response_bad_handshake
        05_sslrequest_then_plaintext_fails_tls
        06_plaintext_after_clienthello_in_one_segment_never_executed
        07_sslrequest_twice_or_with_tls_off_is_an_error
        08_no_client_ssl_under_require_secure_transport_3159
        10_renegotiation_keyupdate_flood_tiny_and_oversized_records
        11_require_ssl_over_plaintext_1045_as_wrong_password
        12_require_x509_without_client_cert_denied
        13_subject_or_issuer_mismatch_denied
        14_require_cipher_mismatch_denied
        19_tcp_rst_mid_handshake_or_result_frees_everything
        l1_idle_tls_sessions_and_connect_storm
        l2_slowloris_flood_legitimate_clients_served
        l3_abandoned_client_hellos_logins_still_succeed
        l4_wrong_password_flood_log_rate_limited)
    foreach(c ${_nn_rel_cases})
        string(SUBSTRING ${c} 0 2 _nn_rel_case)
        add_test(NAME rel_${c}
                 COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/mysql_rel_test.py
                         --bin $<TARGET_FILE_DIR:nodenet> --src ${CMAKE_SOURCE_DIR}
                         ${_nn_rel_abuse} ${_nn_rel_case})
        set_tests_properties(rel_${c} PROPERTIES LABELS integration TIMEOUT 180
                             SKIP_RETURN_CODE 77)
        if(_nn_rel_case MATCHES "^l")
            # The load scenarios print p99 figures: keep the other tests' load off them.
            set_tests_properties(rel_${c} PROPERTIES LABELS "integration;load" RUN_SERIAL TRUE)
        endif()
    endforeach()
endif()
