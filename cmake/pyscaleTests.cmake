# The C++-only test programs: every csrc/tests/test_*.cpp is one executable and one CTest
# test (a new file is picked up at the next configure). Each exits non-zero on failure.
file(GLOB _pyscale_test_sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/csrc/tests/test_*.cpp")
foreach(source IN LISTS _pyscale_test_sources)
    get_filename_component(name "${source}" NAME_WE)
    add_executable(${name} "${source}")
    target_link_libraries(${name} PRIVATE pyscale::core)
    pyscale_program_settings(${name})
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES FAIL_REGULAR_EXPRESSION "FAIL")
endforeach()
