add_executable(test_net_echo ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_net_echo.c)
target_link_libraries(test_net_echo PRIVATE nn_net PkgConfig::CUNIT)
add_test(NAME test_net_echo COMMAND test_net_echo)
set_tests_properties(test_net_echo PROPERTIES LABELS integration TIMEOUT 180)
