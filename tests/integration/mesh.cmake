# The mesh's heartbeat (issue 15): one prober per idle pair, peer-down from either side
# (mesh_test.py, on rpc_cluster_test.py's cluster).
if(TARGET nodenet)
    foreach(case idle_pair_one_prober frozen_prober_called_down)
        add_test(NAME mesh_${case}
                 COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/mesh_test.py
                         --bin ${CMAKE_BINARY_DIR}/bin --src ${CMAKE_SOURCE_DIR} ${case})
        set_tests_properties(mesh_${case} PROPERTIES LABELS integration TIMEOUT 300)
    endforeach()
endif()
