add_executable(bench_echo ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_echo.c)
target_link_libraries(bench_echo PRIVATE nn_net)
# Proves the benchmark runs and every echo is right; never asserts a speed.
add_test(NAME bench_echo_quick COMMAND bench_echo --quick)
set_tests_properties(bench_echo_quick PROPERTIES LABELS bench TIMEOUT 120)
