# Fuzz targets for every parser that reads bytes from outside: RPC frames, REQUIRE
# clauses, cluster.yaml, MySQL packets and the SQL subset. Each builds twice:
#  - always, with a replaying driver (fuzz_driver.c) and registered in ctest, so the suite
#    (and its sanitizer runs) feed each target its seeds and 20,000 mutations of them;
#  - with -DNODENET_FUZZ=ON under clang, as a real libFuzzer binary (fuzz_<name>_libfuzzer):
#      build/bin/fuzz_rpc_frame_libfuzzer tests/fuzz/corpus/rpc_frame
function(nn_fuzz_target name source libs)
    set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name})
    add_executable(fuzz_${name} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${source}
                   ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_driver.c)
    target_link_libraries(fuzz_${name} PRIVATE ${libs})
    target_include_directories(fuzz_${name} PRIVATE ${CMAKE_SOURCE_DIR})
    add_test(NAME fuzz_${name}_replay COMMAND fuzz_${name} -runs=20000 ${corpus})
    set_tests_properties(fuzz_${name}_replay PROPERTIES LABELS unit TIMEOUT 300)
    if(NODENET_FUZZ)
        add_executable(fuzz_${name}_libfuzzer ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${source})
        target_compile_options(fuzz_${name}_libfuzzer PRIVATE -fsanitize=fuzzer)
        target_link_options(fuzz_${name}_libfuzzer PRIVATE -fsanitize=fuzzer)
        target_link_libraries(fuzz_${name}_libfuzzer PRIVATE ${libs})
        target_include_directories(fuzz_${name}_libfuzzer PRIVATE ${CMAKE_SOURCE_DIR})
    endif()
endfunction()

nn_fuzz_target(rpc_frame fuzz_rpc_frame.c nn_rpc)
nn_fuzz_target(require fuzz_require.c nn_security)
nn_fuzz_target(config fuzz_config.c nn_node)
nn_fuzz_target(mysql_packet fuzz_mysql_packet.c nn_mysql)
nn_fuzz_target(sql fuzz_sql.c nn_mysql)
nn_fuzz_target(mysql_execute fuzz_mysql_execute.c nn_mysql)
nn_fuzz_target(mysql_compress fuzz_mysql_compress.c nn_mysql)
nn_fuzz_target(mysql_change_user fuzz_mysql_change_user.c nn_mysql)

# libFuzzer's coverage guidance needs the code under test instrumented, not only the
# target: the MySQL parsers live in nn_mysql. (The documented build adds ASan, whose
# runtime carries the coverage callbacks for the other executables of the build.)
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DNODENET_FUZZ=ON \
#         -DNODENET_SANITIZE=address,undefined
if(NODENET_FUZZ)
    target_compile_options(nn_mysql PRIVATE -fsanitize=fuzzer-no-link)
endif()

# A whole session against a real server on 127.0.0.1 (fuzz_mysql_session.c): each run is a
# TCP connection, so the replay in the suite is shorter than the others.
add_executable(fuzz_mysql_session ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_mysql_session.c
               ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_driver.c)
target_link_libraries(fuzz_mysql_session PRIVATE nn_mysql)
target_include_directories(fuzz_mysql_session PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_definitions(fuzz_mysql_session PRIVATE NN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_test(NAME fuzz_mysql_session_replay
         COMMAND fuzz_mysql_session -runs=3000 ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/mysql_session)
set_tests_properties(fuzz_mysql_session_replay PROPERTIES LABELS integration TIMEOUT 600)
if(NODENET_FUZZ)
    add_executable(fuzz_mysql_session_libfuzzer ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_mysql_session.c)
    target_compile_options(fuzz_mysql_session_libfuzzer PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_mysql_session_libfuzzer PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_mysql_session_libfuzzer PRIVATE nn_mysql)
    target_include_directories(fuzz_mysql_session_libfuzzer PRIVATE ${CMAKE_SOURCE_DIR})
    target_compile_definitions(fuzz_mysql_session_libfuzzer PRIVATE
                               NN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()
