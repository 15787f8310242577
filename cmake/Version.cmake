# The git revision is baked into one generated source file so only that file rebuilds per commit.
execute_process(
  COMMAND git rev-parse --short=12 HEAD
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  OUTPUT_VARIABLE PRIVPROBE_GIT_REVISION
  OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET)
if(NOT PRIVPROBE_GIT_REVISION)
  set(PRIVPROBE_GIT_REVISION "unknown")
endif()
execute_process(
  COMMAND git status --porcelain --untracked-files=no
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  OUTPUT_VARIABLE PRIVPROBE_GIT_DIRTY
  OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET)
if(PRIVPROBE_GIT_DIRTY)
  set(PRIVPROBE_GIT_REVISION "${PRIVPROBE_GIT_REVISION}-dirty")
endif()
configure_file(${CMAKE_SOURCE_DIR}/src/util/version.cpp.in ${CMAKE_BINARY_DIR}/generated/version.cpp @ONLY)
