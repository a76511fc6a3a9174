# security/: policy, REQUIRE clauses, certificate store and reload, TLS between in-memory
# engines. Makes a throwaway PKI with the openssl CLI (tests/unit/pki/mkpki.sh) per run.
nn_unit_test(test_security SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_security.c LIBS nn_security)
target_compile_definitions(test_security PRIVATE NN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
