nn_unit_test(test_mysql SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mysql.c
             LIBS nn_mysql BoringSSL::crypto)
# The replicated catalog's version and merge rule (two catalogs in temp dirs, no network).
nn_unit_test(test_mysql_catalog_repl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mysql_catalog_repl.c
             LIBS nn_mysql nn_proto BoringSSL::crypto)
# Typed values, binary rows, execute parameters, the compression codec (no network).
nn_unit_test(test_mysql_values SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mysql_values.c
             LIBS nn_mysql)
# Its allocator fails on demand (packet_writer_fails_sticky_at_every_allocation).
target_link_options(test_mysql_values PRIVATE -Wl,--wrap=malloc)
