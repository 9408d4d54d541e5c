# third_party/deps.cmake — finds the Debian-packaged libraries ember builds on and gathers
# them in one interface target, ember_deps. No third-party sources live in this repo.
#   OpenBLAS        libopenblas-openmp-dev  CPU GEMM (optional: plain loops without it)
#   OpenMP          (compiler)           both cores for large CPU ops
#   oneDNN          libdnnl-dev          float32 conv2d (optional: im2col + GEMM without it)
#   nlohmann_json   nlohmann-json3-dev   safetensors headers, JSON results
#   ZLIB            zlib1g-dev           gzip'd IDX files
#   utf8proc        libutf8proc-dev      Unicode categories, case mapping, NFD (WordPiece)
#   doctest         doctest-dev          tests
add_library(ember_deps INTERFACE)

# Prefer Debian's OpenMP build of OpenBLAS (libopenblas-openmp-dev): its threads are libgomp's,
# the same pool as ember's own OpenMP loops, so the two never fight over the cores (with the
# pthread build, each switch between a GEMM and an OpenMP loop left threads spinning: -35%
# throughput on the Q2 training step). The library's folder goes into the RUNPATH, so the
# OpenMP build is the one loaded whatever the system's libopenblas.so.0 alternative points at.
find_package(OpenBLAS CONFIG QUIET PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp/cmake NO_DEFAULT_PATH)
if(NOT OpenBLAS_FOUND)
  find_package(OpenBLAS CONFIG QUIET)
endif()
if(OpenBLAS_FOUND AND EXISTS "${OpenBLAS_LIBRARIES}")
  message(STATUS "ember: GEMM through OpenBLAS ${OpenBLAS_VERSION}")
  target_include_directories(ember_deps INTERFACE ${OpenBLAS_INCLUDE_DIRS})
  target_link_libraries(ember_deps INTERFACE ${OpenBLAS_LIBRARIES})
  target_compile_definitions(ember_deps INTERFACE EMBER_HAVE_BLAS=1)
else()
  message(WARNING "ember: OpenBLAS not found (apt-get install libopenblas-dev); using the plain GEMM fallback")
endif()

find_package(OpenMP REQUIRED COMPONENTS CXX)
target_link_libraries(ember_deps INTERFACE OpenMP::OpenMP_CXX)

find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(ember_deps INTERFACE nlohmann_json::nlohmann_json)

find_package(ZLIB REQUIRED)
target_link_libraries(ember_deps INTERFACE ZLIB::ZLIB)

# utf8proc has no CMake config in Debian; its header and library are found directly.
find_path(UTF8PROC_INCLUDE_DIR utf8proc.h)
find_library(UTF8PROC_LIBRARY NAMES utf8proc)
if(NOT UTF8PROC_INCLUDE_DIR OR NOT UTF8PROC_LIBRARY)
  message(FATAL_ERROR "ember: utf8proc not found (header utf8proc.h: ${UTF8PROC_INCLUDE_DIR}, library: "
                      "${UTF8PROC_LIBRARY}); apt-get install libutf8proc-dev (or scripts/install-deps.sh)")
endif()
target_include_directories(ember_deps INTERFACE ${UTF8PROC_INCLUDE_DIR})
target_link_libraries(ember_deps INTERFACE ${UTF8PROC_LIBRARY})

# oneDNN (optional): the float32 conv2d path (kernels/cpu/conv_dnnl.cpp). Debian's dnnl-config.cmake
# does find_package(OpenCL REQUIRED) (the library is built with the OpenCL GPU runtime), which
# aborts the configure where the OpenCL headers are missing, so the config is tried only when
# OpenCL is found; otherwise the header and library are found directly (ember uses only the CPU
# engine and never includes the OpenCL interop headers). -DEMBER_DNNL=OFF skips it.
option(EMBER_DNNL "Use oneDNN for float32 conv2d when libdnnl is found" ON)
set(EMBER_HAVE_DNNL OFF)
if(EMBER_DNNL)
  find_package(OpenCL QUIET)
  if(OpenCL_FOUND)
    find_package(dnnl CONFIG QUIET)
  endif()
  if(dnnl_FOUND AND TARGET DNNL::dnnl)
    set(EMBER_HAVE_DNNL ON)
    set(EMBER_DNNL_HOW "oneDNN ${dnnl_VERSION} (CMake config)")
  else()
    find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
    find_library(DNNL_LIBRARY NAMES dnnl)
    if(DNNL_INCLUDE_DIR AND DNNL_LIBRARY)
      add_library(DNNL::dnnl UNKNOWN IMPORTED)
      set_target_properties(DNNL::dnnl PROPERTIES IMPORTED_LOCATION "${DNNL_LIBRARY}"
                                                  INTERFACE_INCLUDE_DIRECTORIES "${DNNL_INCLUDE_DIR}")
      set(EMBER_HAVE_DNNL ON)
      set(EMBER_DNNL_HOW "oneDNN ${DNNL_LIBRARY} (no OpenCL headers for its CMake config; found directly)")
    endif()
  endif()
endif()
if(EMBER_HAVE_DNNL)
  message(STATUS "ember: float32 conv2d through ${EMBER_DNNL_HOW}; float64 and EMBER_DNNL=0 use im2col + GEMM")
  target_link_libraries(ember_deps INTERFACE DNNL::dnnl)
else()
  message(STATUS "ember: conv2d through im2col + GEMM (oneDNN not found or -DEMBER_DNNL=OFF; apt-get install libdnnl-dev)")
endif()
