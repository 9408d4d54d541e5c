// kernels/cpu/conv_dnnl.h — float32 2-D convolution through oneDNN (forward, backward-data,
// backward-weights with the bias gradient), the fast CPU path of conv2d.
//
// Same contract as cpu::conv2d_forward / conv2d_backward in kernels/cpu/conv.h (plain NCHW x
// and y, OIHW weight, groups = 1), so engine/ops/conv.cpp can pick either per call. The
// im2col + GEMM kernels stay the reference: float64 always uses them, and so does float32 when
// ember was configured without oneDNN or when EMBER_DNNL=0 is set in the environment.
//
// Only conv_dnnl.cpp sees oneDNN's headers (compiled with EMBER_HAVE_DNNL when CMake found
// libdnnl); without it these functions exist, dnnl_conv_enabled() is false and the two
// kernels throw.
#pragma once

#include <cstdint>

#include "kernels/cpu/conv.h"

namespace ember::cpu {

// ember was built with oneDNN (independent of EMBER_DNNL).
bool dnnl_conv_available();

// Built with oneDNN and EMBER_DNNL is not "0". The variable is read on every call, so a test
// or a benchmark can switch paths within one process. The same switch decides whether float32
// GEMMs go through oneDNN's sgemm (kernels/cpu/gemm_dnnl.h).
bool dnnl_conv_enabled();

// Output planes smaller than this (OH·OW) stay on im2col + GEMM, which is faster there
// (measurements in conv_dnnl.cpp).
constexpr int64_t kDnnlMinOutputPlane = 16;

// Whether float32 conv2d of this geometry goes through oneDNN now:
//   EMBER_DNNL unset (or any other value): when dnnl_conv_enabled() and OH·OW ≥ kDnnlMinOutputPlane
//   EMBER_DNNL=all: every float32 conv (tests, comparisons)
//   EMBER_DNNL=0:   none
bool dnnl_conv_wanted(const Window2d& s);

// x (N, Cin, H, W), w (Cout, Cin, kh, kw), b (Cout) or null → y (N, Cout, OH, OW). s.C = Cin.
void dnnl_conv2d_forward(float* y, const float* x, const float* w, const float* b, int64_t N, int64_t Cout,
                         const Window2d& s);

// g (N, Cout, OH, OW) → gx (N, Cin, H, W), gw (Cout, Cin, kh, kw), gb (Cout), all overwritten;
// any may be null (not wanted). x is read only for gw, w only for gx. forward_bias: whether the
// forward had a bias, so that backward-data reuses the forward's cached plan.
void dnnl_conv2d_backward(float* gx, float* gw, float* gb, const float* g, const float* x, const float* w,
                          int64_t N, int64_t Cout, const Window2d& s, bool forward_bias);

}  // namespace ember::cpu
