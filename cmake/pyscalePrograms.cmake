# Settings for the project's own programs (examples, tests); never put on pyscale::core,
# whose users choose their own flags.
function(pyscale_program_settings target)
    # ISO C++17 (-std=c++17, not gnu++17), as the Python extension is compiled.
    set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
    if(MSVC)
        target_compile_options(${target} PRIVATE /W4 $<$<BOOL:${PYSCALE_WARNINGS_AS_ERRORS}>:/WX>)
    else()
        target_compile_options(${target} PRIVATE -Wall -Wextra
                               $<$<BOOL:${PYSCALE_WARNINGS_AS_ERRORS}>:-Werror>)
    endif()
endfunction()
