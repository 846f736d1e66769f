# Docs that are tested: every ```c block of a Markdown file becomes a program, built with
# -Wall -Wextra -Werror against the shared library and run by ctest as readme_c_<n> (n counts
# the blocks from 1, in file order), so the README's C cannot rot. A block must be a complete
# program that exits 0. The blocks are extracted when CMake configures, and editing the file
# makes the next build configure again.
#
#   wasmpool_add_markdown_c_tests(<markdown file> <test name prefix>)
function(wasmpool_add_markdown_c_tests markdown prefix)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${markdown}")
  # The text is only searched and cut as a whole string, never treated as a list, so the
  # semicolons and brackets of C survive.
  file(READ "${markdown}" text)
  set(fence_open "\n```c\n")
  set(fence_close "\n```")
  set(outdir "${CMAKE_CURRENT_BINARY_DIR}/${prefix}")
  set(n 0)
  while(TRUE)
    string(FIND "${text}" "${fence_open}" at)
    if(at EQUAL -1)
      break()
    endif()
    math(EXPR at "${at} + 6") # past the opening fence and its newline
    string(SUBSTRING "${text}" ${at} -1 text)
    string(FIND "${text}" "${fence_close}" end)
    if(end EQUAL -1)
      message(FATAL_ERROR "${markdown}: a ```c block is never closed")
    endif()
    math(EXPR end "${end} + 1") # keep the last line's newline
    string(SUBSTRING "${text}" 0 ${end} block)
    string(SUBSTRING "${text}" ${end} -1 text)
    math(EXPR n "${n} + 1")
    set(source "${outdir}/${prefix}_${n}.c")
    # Rewritten only when the block changed, so an unrelated README edit rebuilds nothing.
    set(old "")
    if(EXISTS "${source}")
      file(READ "${source}" old)
    endif()
    if(NOT old STREQUAL block)
      file(WRITE "${source}" "${block}")
    endif()
    add_executable(${prefix}_${n} "${source}")
    target_link_libraries(${prefix}_${n} PRIVATE wasmpool::wasmpool Threads::Threads)
    target_compile_options(${prefix}_${n} PRIVATE -Wall -Wextra -Werror)
    add_test(NAME ${prefix}_${n} COMMAND ${prefix}_${n})
  endwhile()
  message(STATUS "${markdown}: ${n} C block(s) registered as tests ${prefix}_<n>")
endfunction()
