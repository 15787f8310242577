# Warnings for our own targets only (third-party headers are included as SYSTEM).
function(privprobe_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local -Wno-unused-parameter)
  if(PRIVPROBE_SANITIZE)
    # GCC 12 reports false maybe-uninitialized warnings inside libstdc++ (std::regex, std::function)
    # when ASan instrumentation changes inlining.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  if(DEFINED ENV{CI})
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
