nn_unit_test(test_mysql SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mysql.c
             LIBS nn_mysql BoringSSL::crypto)
