nn_unit_test(test_net SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_net.c LIBS nn_net)
