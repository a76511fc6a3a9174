# The TLS server (security/'s memory-BIO engine) under hostile client bytes. Seeds are real
# ClientHellos captured from openssl s_client (see fuzz_tls_server.c for the input layout).
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DNODENET_FUZZ=ON \
#         -DNODENET_SANITIZE=address,undefined
#   cmake --build build-fuzz --target fuzz_tls_server_libfuzzer
#   build-fuzz/bin/fuzz_tls_server_libfuzzer -max_total_time=600 CORPUS_COPY_DIR
# BoringSSL is the system's (not instrumented), so coverage guidance comes from security/
# alone: the engine's states and failure paths.
nn_fuzz_target(tls_server fuzz_tls_server.c nn_security)
target_compile_definitions(fuzz_tls_server PRIVATE NN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
if(NODENET_FUZZ)
    target_compile_definitions(fuzz_tls_server_libfuzzer PRIVATE
                               NN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
    target_compile_options(nn_security PRIVATE -fsanitize=fuzzer-no-link)
endif()
