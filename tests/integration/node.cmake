# node/ and deploy/: the nodenet binary, nodenet-admin and the cluster scripts, end to end
# on 127.0.0.1 (tests/integration/node_cases.sh holds the cases).
if(TARGET nodenet AND TARGET nodenet-admin)
    set(_nn_node_cases
        config_error_stops_the_node_with_the_key_path
        node_serves_mysql_and_stops_on_sigterm
        sighup_with_broken_config_keeps_serving
        local_cluster_starts_checks_and_stops_three_nodes
        sighup_rollout_off_prefer_require_without_restart_loses_no_call
        admin_prefer_falls_back_to_plaintext_only_for_a_node_with_tls_off)
    foreach(c ${_nn_node_cases})
        add_test(NAME node_${c}
                 COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/node_cases.sh ${c}
                         $<TARGET_FILE_DIR:nodenet> ${CMAKE_SOURCE_DIR})
        set_tests_properties(node_${c} PROPERTIES LABELS integration TIMEOUT 120)
    endforeach()
    # The rollout by restarts (node_cases.sh rollout_off_prefer_require_loses_no_call) is
    # registered once, under RELIABILITY.md's name: L7_rolling_tls_change_under_load
    # (rel_more.cmake).
endif()

# The cluster with each node in its own network namespace (10.77.0.1-3 behind a bridge):
# needs root and `ip`; skipped (77) where namespaces cannot be made.
if(TARGET nodenet AND TARGET nodenet-admin)
    add_test(NAME node_cluster_across_network_namespaces_with_tls_require
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/node_netns_test.sh
                     $<TARGET_FILE_DIR:nodenet> ${CMAKE_SOURCE_DIR})
    set_tests_properties(node_cluster_across_network_namespaces_with_tls_require PROPERTIES
                         LABELS integration TIMEOUT 120 SKIP_RETURN_CODE 77)
endif()
