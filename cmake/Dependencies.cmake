# Every third-party dependency is found here, once. All come from Debian 12 packages
# (scripts/setup.sh installs them); on a GPU machine Torch may come from a pip wheel instead.
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(Freetype REQUIRED)
find_package(JPEG REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
find_package(Threads REQUIRED)
find_package(tomlplusplus REQUIRED)
# The probe's solver calls CBLAS and LAPACK directly (Debian: libblas-dev, liblapack-dev; at run
# time the alternatives point both at OpenBLAS), so `probe` needs no libtorch.
find_package(BLAS REQUIRED)
find_package(LAPACK REQUIRED)

if(PRIVPROBE_WITH_TORCH)
  # Prefer the libtorch inside an installed `torch` wheel (CUDA builds), else Debian's libtorch-dev.
  if(NOT Torch_DIR)
    execute_process(
      COMMAND python3 -c "import torch;print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _torch_rc)
    if(_torch_rc EQUAL 0 AND _torch_prefix AND PRIVPROBE_TORCH_FROM_WHEEL)
      list(APPEND CMAKE_PREFIX_PATH ${_torch_prefix})
    endif()
  endif()
  find_package(Torch REQUIRED)
endif()
