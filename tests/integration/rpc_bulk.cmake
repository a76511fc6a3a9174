# Bulk RPC payloads byte for byte over TLS and plaintext (rpc_bulk_test.py): the path that
# uses a received payload where it lies.
add_test(NAME rpc_bulk_payloads_in_place_tls_and_plaintext
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rpc_bulk_test.py
                 --bin ${CMAKE_BINARY_DIR}/bin --src ${CMAKE_SOURCE_DIR})
set_tests_properties(rpc_bulk_payloads_in_place_tls_and_plaintext
                     PROPERTIES LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
