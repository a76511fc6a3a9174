# RPC mesh integration tests: real nodenet processes on 127.0.0.1 (rpc_cluster_test.py).
foreach(case tls_matrix wrong_node_cert other_ca_cert tool_clients frame_limits sigkill_peer
        sigterm_peer reconfigure heartbeat_sigstop cert_reload pool_steady_state
        require_reload_cuts_plaintext)
    add_test(NAME rpc_${case}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rpc_cluster_test.py
                     --bin ${CMAKE_BINARY_DIR}/bin --src ${CMAKE_SOURCE_DIR} ${case})
    set_tests_properties(rpc_${case} PROPERTIES LABELS integration TIMEOUT 300)
endforeach()
