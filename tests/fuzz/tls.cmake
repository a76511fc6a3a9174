# The TLS server (security/'s memory-BIO engine) under hostile client bytes. Seeds are real
# ClientHellos captured from openssl s_client (see fuzz_tls_server.c for the input layout).
nn_fuzz_target(tls_server fuzz_tls_server.c nn_security)
target_compile_definitions(fuzz_tls_server PRIVATE NN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
if(NODENET_FUZZ)
    target_compile_definitions(fuzz_tls_server_libfuzzer PRIVATE
                               NN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()
