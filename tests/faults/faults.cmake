# tests/faults/: the userspace fault proxy (faultproxy) and the fault scenarios that run a
# real cluster behind it (faults_test.py): the RPC-port checklist (rel_21 ... rel_28) and the
# partition, slow-peer and half-open-link scenarios (L5, L6).
add_executable(faultproxy ${CMAKE_CURRENT_LIST_DIR}/faultproxy.c)
