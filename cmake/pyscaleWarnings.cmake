# Warnings for the project's own programs (examples, tests); never put on pyscale::core,
# whose users choose their own flags.
function(pyscale_program_warnings target)
    if(MSVC)
        target_compile_options(${target} PRIVATE /W4 $<$<BOOL:${PYSCALE_WARNINGS_AS_ERRORS}>:/WX>)
    else()
        target_compile_options(${target} PRIVATE -Wall -Wextra
                               $<$<BOOL:${PYSCALE_WARNINGS_AS_ERRORS}>:-Werror>)
    endif()
endfunction()
