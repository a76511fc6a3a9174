# net/'s log rate limit (nn_log_limited): counts, summary line, several threads at once.
nn_unit_test(test_log_limit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log_limit.c LIBS nn_net)
