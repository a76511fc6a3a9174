# examples/minidb, built out of tree from `cmake --install` of this build (as an embedder
# builds it), run as a 3-node cluster with rpc_tls require and mysql_tls on.
set(_nn_minidb_test ${CMAKE_CURRENT_SOURCE_DIR}/integration/minidb_test.sh)
set(_nn_minidb_flags "")
if(NODENET_SANITIZE)
    set(_nn_minidb_flags "-fsanitize=${NODENET_SANITIZE} -fno-omit-frame-pointer")
endif()
foreach(_case replicate kill rolling stmt)
    if(_case STREQUAL replicate)
        set(_name minidb_write_on_n1_is_read_on_n2_and_n3)
    elseif(_case STREQUAL kill)
        set(_name minidb_node_killed_and_restarted_catches_up)
    elseif(_case STREQUAL stmt)
        set(_name minidb_prepared_statements_and_streamed_results_over_tls)
    else()
        set(_name minidb_rolling_restart_under_writes_loses_no_acknowledged_write)
    endif()
    add_test(NAME ${_name}
             COMMAND bash ${_nn_minidb_test} ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} ${_case})
    set_tests_properties(${_name} PROPERTIES LABELS integration TIMEOUT 600
                         SKIP_RETURN_CODE 77 ENVIRONMENT "NN_EMBED_FLAGS=${_nn_minidb_flags}")
endforeach()
