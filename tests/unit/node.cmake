# node/: the cluster config loader (temp files only, no network).
nn_unit_test(test_node_config SOURCES unit/test_node_config.c LIBS nn_node)
target_compile_definitions(test_node_config PRIVATE NN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
