# third_party/cuda.cmake — the CUDA toolkit libraries of the EMBER_CUDA build, gathered in one
# interface target, ember_cuda_deps. Included by the top CMakeLists after enable_language(CUDA).
#   cudart   (toolkit)  runtime: streams, memory, kernel launches — linked STATIC, see below
#   cublas   (toolkit)  GEMM (used by engine/ops/linalg.cpp's CUDA path, coming next)
#
# The runtime is linked statically (CMake's default for nvcc, made explicit): the binaries then
# need only the driver (libcuda.so) on the GPU machine, whose CUDA userland may be PyTorch's
# wheels of another CUDA version. One runtime only: mixing CUDA::cudart with the static one
# that nvcc links would give two runtimes with separate state.
#
# cuDNN is not needed yet. When conv2d moves to it, find it, in this order:
#   1. the toolkit itself (this machine's /usr/local/cuda/lib64 holds libcudnn.so.9);
#   2. -DCUDNN_ROOT=... or $ENV{CUDNN_ROOT} (include/cudnn.h, lib/libcudnn.so);
#   3. on the GPU machine, PyTorch's pip wheel: <site-packages>/nvidia/cudnn/{include,lib}
#      (python3 -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))").
set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
find_package(CUDAToolkit REQUIRED)
message(STATUS "ember: CUDA ${CUDAToolkit_VERSION} (nvcc ${CMAKE_CUDA_COMPILER}), architectures ${CMAKE_CUDA_ARCHITECTURES}")

add_library(ember_cuda_deps INTERFACE)
target_link_libraries(ember_cuda_deps INTERFACE CUDA::cudart_static CUDA::cublas)
