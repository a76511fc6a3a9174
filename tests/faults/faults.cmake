# tests/faults/: the userspace fault proxy (faultproxy) and the fault scenarios that run a
# real cluster behind it (faults_test.py): the RPC-port checklist (rel_21 ... rel_28) and the
# partition, slow-peer and half-open-link scenarios (L5, L6).
add_executable(faultproxy ${CMAKE_CURRENT_LIST_DIR}/faultproxy.c)

# One ctest per case, named after its checklist number (../shared/RELIABILITY.md).
set(_nn_fault_cases
    proxy_smoke:faultproxy_modes_do_what_the_readme_says
    rel_21:rel_21_plaintext_under_require_is_closed
    rel_23:rel_23_node_cert_claiming_another_node_is_refused
    rel_24:rel_24_bad_frame_lengths_are_closed
    rel_25:rel_25_protobuf_garbage_gets_an_error
    rel_26:rel_26_unknown_type_version_and_call_ids
    rel_27:rel_27_peer_that_stops_reading_is_dropped
    rel_28:rel_28_sigstop_and_one_way_link_reconnect_without_duplicates
    L5:L5_partition_heals_without_duplicates
    L6:L6_slow_peer_does_not_slow_the_others
    half_open:faults_half_open_link_reconnects)
if(TARGET nodenet AND TARGET nodenet-admin)
    foreach(pair ${_nn_fault_cases})
        string(REPLACE ":" ";" parts ${pair})
        list(GET parts 0 case)
        list(GET parts 1 name)
        add_test(NAME ${name}
                 COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/faults_test.py
                         --bin ${CMAKE_BINARY_DIR}/bin --src ${CMAKE_SOURCE_DIR} ${case})
        set_tests_properties(${name} PROPERTIES LABELS "integration;faults" TIMEOUT 300)
    endforeach()
endif()
