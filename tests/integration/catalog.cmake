# The user catalog shared by the cluster (mysql/ merge rule, node/catalog_sync.c over the
# mesh): three real nodes with rpc_tls require, driven by the mariadb CLI
# (tests/integration/catalog_cases.sh holds the cases).
find_program(NN_CATALOG_MARIADB NAMES mariadb)
# A tool client that tries the peer-only catalog services.
add_executable(catalog_tool_probe ${CMAKE_CURRENT_SOURCE_DIR}/integration/catalog_tool_probe.c)
target_link_libraries(catalog_tool_probe PRIVATE nn_rpc)
if(TARGET nodenet AND NN_CATALOG_MARIADB)
    set(_nn_catalog_cases
        create_user_with_require_subject_reaches_every_node
        alter_user_on_another_node_reaches_all
        drop_user_reaches_all_and_stays_dropped
        node_down_during_create_catches_up_after_restart
        services_refuse_tool_clients)
    foreach(c ${_nn_catalog_cases})
        add_test(NAME catalog_${c}
                 COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/catalog_cases.sh ${c}
                         $<TARGET_FILE_DIR:nodenet> ${CMAKE_SOURCE_DIR})
        set_tests_properties(catalog_${c} PROPERTIES LABELS integration TIMEOUT 180)
    endforeach()
endif()
