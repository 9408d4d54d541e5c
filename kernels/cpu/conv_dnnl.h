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

#include <cstddef>
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

// The bytes of x in the layout the forward chose for this geometry, or 0 when that is plain NCHW
// (then there is nothing to keep): the size of dnnl_conv2d_forward's x_blocked.
size_t dnnl_conv2d_blocked_input_bytes(int64_t N, int64_t Cout, const Window2d& s, bool bias);

// x (N, Cin, H, W), w (Cout, Cin, kh, kw), b (Cout) or null → y (N, Cout, OH, OW). s.C = Cin.
// x_blocked: null, or dnnl_conv2d_blocked_input_bytes(…) bytes that receive x as reordered for
// the forward, for the backward's weight gradient to read instead of reordering x again.
void dnnl_conv2d_forward(float* y, const float* x, const float* w, const float* b, int64_t N, int64_t Cout,
                         const Window2d& s, void* x_blocked = nullptr);

// g (N, Cout, OH, OW) → gx (N, Cin, H, W), gw (Cout, Cin, kh, kw), gb (Cout), all overwritten;
// any may be null (not wanted). x is read only for gw, w only for gx. forward_bias: whether the
// forward had a bias, so that backward-data reuses the forward's cached plan. x_blocked: null, or
// what dnnl_conv2d_forward wrote there; with it, x may be null.
void dnnl_conv2d_backward(float* gx, float* gw, float* gb, const float* g, const float* x, const float* w,
                          int64_t N, int64_t Cout, const Window2d& s, bool forward_bias,
                          const void* x_blocked = nullptr);

}  // namespace ember::cpu
