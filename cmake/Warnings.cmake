# Warnings for our own targets only (third-party headers are included as SYSTEM).
function(privprobe_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local -Wno-unused-parameter)
  if(PRIVPROBE_SANITIZE)
    # GCC 12 reports false maybe-uninitialized warnings inside libstdc++ (std::regex, std::function)
    # when ASan instrumentation changes inlining.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  # Warnings are errors in CI's Release build; the sanitizer build is there for run-time checks,
  # and GCC's -O2 + ASan inlining produces false positives in libstdc++.
  if(DEFINED ENV{CI} AND NOT PRIVPROBE_SANITIZE)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
