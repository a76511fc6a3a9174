# node/ and deploy/: the nodenet binary, nodenet-admin and the cluster scripts, end to end
# on 127.0.0.1 (tests/integration/node_cases.sh holds the cases).
if(TARGET nodenet AND TARGET nodenet-admin)
    set(_nn_node_cases
        config_error_stops_the_node_with_the_key_path
        node_serves_mysql_and_stops_on_sigterm
        sighup_with_broken_config_keeps_serving
        local_cluster_starts_checks_and_stops_three_nodes
        rollout_off_prefer_require_loses_no_call)
    foreach(c ${_nn_node_cases})
        add_test(NAME node_${c}
                 COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/node_cases.sh ${c}
                         $<TARGET_FILE_DIR:nodenet> ${CMAKE_SOURCE_DIR})
        set_tests_properties(node_${c} PROPERTIES LABELS integration TIMEOUT 300)
    endforeach()
    # The rollout test restarts nodes while they carry traffic: keep it off the other
    # multi-node tests' CPU.
    set_tests_properties(node_rollout_off_prefer_require_loses_no_call PROPERTIES RUN_SERIAL ON)
endif()
