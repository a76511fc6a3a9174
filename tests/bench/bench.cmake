# The benchmark harness (tests/bench/run-all) and the programs it drives. Each program
# measures one side; run-all starts the servers, runs every program against nodenet and
# against its reference, and prints the ratios. Nothing here asserts a speed.
set(_nn_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench)

# A libmariadb client that measures any MySQL server on a port. Its own executable, never
# linking nodenet: libmariadb brings OpenSSL 3, whose symbols clash with BoringSSL's.
pkg_check_modules(NN_BENCH_MARIADB IMPORTED_TARGET libmariadb)
if(NN_BENCH_MARIADB_FOUND)
    add_executable(bench_mysql ${_nn_bench}/bench_mysql.c)
    target_link_libraries(bench_mysql PRIVATE PkgConfig::NN_BENCH_MARIADB Threads::Threads)
endif()

# BoringSSL's raw AEAD seal+open speed: the single-core ceiling for bulk TLS.
add_executable(bench_aead ${_nn_bench}/bench_aead.c)
target_link_libraries(bench_aead PRIVATE BoringSSL::crypto)

# Node-to-node TLS channel set-up (full and resumed handshakes) through security/ on net/.
add_executable(bench_tls_setup ${_nn_bench}/bench_tls_setup.c)
target_link_libraries(bench_tls_setup PRIVATE nn_security nn_net)

# The gRPC C++ reference echo service, only when gRPC, protobuf and a C++ compiler exist.
include(CheckLanguage)
check_language(CXX)
find_program(NN_BENCH_PROTOC protoc)
find_program(NN_BENCH_GRPC_PLUGIN grpc_cpp_plugin)
if(CMAKE_CXX_COMPILER AND NN_BENCH_PROTOC AND NN_BENCH_GRPC_PLUGIN)
    enable_language(CXX)
    pkg_check_modules(NN_BENCH_GRPC IMPORTED_TARGET grpc++ protobuf)
endif()
if(NN_BENCH_GRPC_FOUND)
    set(_gen ${CMAKE_CURRENT_BINARY_DIR}/bench_grpc_gen)
    file(MAKE_DIRECTORY ${_gen})
    add_custom_command(
        OUTPUT ${_gen}/grpc_echo.pb.cc ${_gen}/grpc_echo.pb.h ${_gen}/grpc_echo.grpc.pb.cc
               ${_gen}/grpc_echo.grpc.pb.h
        COMMAND ${NN_BENCH_PROTOC} -I ${_nn_bench} --cpp_out=${_gen} --grpc_out=${_gen}
                --plugin=protoc-gen-grpc=${NN_BENCH_GRPC_PLUGIN} ${_nn_bench}/grpc_echo.proto
        DEPENDS ${_nn_bench}/grpc_echo.proto
        COMMENT "protoc: tests/bench/grpc_echo.proto (gRPC reference)")
    add_executable(bench_grpc ${_nn_bench}/bench_grpc.cc ${_gen}/grpc_echo.pb.cc
                              ${_gen}/grpc_echo.grpc.pb.cc)
    set_target_properties(bench_grpc PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
    target_include_directories(bench_grpc PRIVATE ${_gen})
    # Generated code is not ours to keep warning-free under -Wshadow.
    set_source_files_properties(${_gen}/grpc_echo.pb.cc ${_gen}/grpc_echo.grpc.pb.cc
                                PROPERTIES COMPILE_OPTIONS "-Wno-shadow;-Wno-error")
    target_link_libraries(bench_grpc PRIVATE PkgConfig::NN_BENCH_GRPC Threads::Threads)
else()
    message(STATUS "bench: gRPC reference unavailable (needs g++, libgrpc++-dev, "
                   "libprotobuf-dev, protobuf-compiler-grpc)")
endif()

# nodenet's RPC echo client: a node of the benchmark cluster, calling its peers.
if(TARGET nn_rpc AND EXISTS ${_nn_bench}/bench_rpc.c)
    add_executable(bench_rpc ${_nn_bench}/bench_rpc.c)
    target_link_libraries(bench_rpc PRIVATE nn_rpc nn_proto nn_security nn_net Threads::Threads)
endif()

# Proves every benchmark runs end to end (servers start, every call and login succeeds);
# asserts no speed. Quick mode: each figure once, about a second each.
add_test(NAME bench_run_all_quick
         COMMAND ${_nn_bench}/run-all --quick --build-dir ${CMAKE_BINARY_DIR}
                 --out ${CMAKE_BINARY_DIR}/bench-quick)
# Alone: its load would starve the timing-sensitive cluster tests running beside it.
set_tests_properties(bench_run_all_quick PROPERTIES LABELS bench TIMEOUT 600 RUN_SERIAL TRUE)
