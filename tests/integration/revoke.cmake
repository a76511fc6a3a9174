# A compromised node (issue 14): its certificate revoked through the CRL, the mesh cuts it
# within one reload (or the certificate file watcher's reload), under traffic. Real nodenet
# processes on 127.0.0.1 (tests/integration/revoke_test.py). A peer whose CA is dropped is
# cut once its replacement is refused. nodenet-admin works on with a stale CRL, with a
# warning.
if(TARGET nodenet AND TARGET nodenet-admin)
    foreach(case compromised_node_cut_by_one_reload compromised_node_cut_by_the_file_watcher
                 untrusted_peer_cut_when_its_replacement_is_refused admin_tolerates_a_stale_crl)
        add_test(NAME ops_${case}
                 COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/revoke_test.py
                         --bin $<TARGET_FILE_DIR:nodenet> --src ${CMAKE_SOURCE_DIR} ${case})
        set_tests_properties(ops_${case} PROPERTIES LABELS integration TIMEOUT 180
                             SKIP_RETURN_CODE 77)
    endforeach()
endif()
