# Operator-facing tests (issue 14): TLS that heals itself, metrics, certificate expiry,
# nodenet-admin output. Real nodenet processes on 127.0.0.1 (tests/integration/ops_test.py).
if(TARGET nodenet AND TARGET nodenet-admin)
    foreach(case prefer_channel_heals_to_tls metrics_scrape_counts_what_happened
                 cert_expiry_is_warned_and_listed tls_session_renewed_before_cert_expiry
                 ca_rotation_under_traffic max_connections_and_log_level_change_live
                 metrics_over_tls_needs_a_client_certificate
                 one_lost_client_hello_does_not_leave_plaintext)
        # The CA rotation is RELIABILITY.md's case 31 and carries its number.
        set(name ops_${case})
        if(case STREQUAL "ca_rotation_under_traffic")
            set(name rel_31_ca_rotation_under_traffic_no_failed_call_or_login)
        endif()
        add_test(NAME ${name}
                 COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/ops_test.py
                         --bin $<TARGET_FILE_DIR:nodenet> --src ${CMAKE_SOURCE_DIR} ${case})
        set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 180
                             SKIP_RETURN_CODE 77)
    endforeach()
endif()
