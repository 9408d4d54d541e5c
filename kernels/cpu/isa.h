// kernels/cpu/isa.h — float row kernels compiled for wider x86 vector units, chosen at run time.
//
// ember is built for baseline x86-64 (SSE2), so a binary runs on any x86-64 machine; but a loop
// compiled for SSE2 does 4 floats an instruction where AVX2 does 8 and AVX-512 16. The
// bandwidth-and-exp-bound float rows (layer norm, the 33k-class softmax cross-entropy) are
// therefore also compiled, from the same templates, for AVX2 + FMA and for AVX-512, as functions
// with GCC's `target` attribute (kernels/cpu/isa.cpp); cpuid picks the widest this CPU has.
// Threads are started by the callers (kernels/cpu/norm.h, softmax.h) in baseline code: an
// OpenMP region inside a `target` function would be outlined without the attribute.
//
// EMBER_ISA=baseline|avx2|avx512 caps the choice (read at first use); set_active_isa does so in
// a running process (tests, bench). Float results can differ in the last bits between levels
// (FMA contraction, the width of SIMD reductions); for a given level they do not depend on the
// thread count. Double never comes here: the float64 reference path is one portable build.
#pragma once

#include <cstdint>

namespace ember::cpu {

enum class Isa : int { baseline = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
Isa best_isa();                // the widest level this CPU supports
Isa active_isa();              // what the float row kernels below use
void set_active_isa(Isa isa);  // clamped to best_isa()

// Layer norm forward over rows [r0, r1) of x (rows, n): see layer_norm_forward in norm.h.
void layer_norm_forward_rows_f32(float* y, float* mean, float* rstd, const float* x, const float* weight,
                                 const float* bias, int64_t r0, int64_t r1, int64_t n, double eps);
// Layer norm backward over rows [r0, r1): gx rows, and this block's column sums of g⊙x̂ and g
// added into sw, sb (n each, double; null when not wanted). See layer_norm_backward in norm.h.
void layer_norm_backward_rows_f32(float* gx, double* sw, double* sb, const float* g, const float* x,
                                  const float* mean, const float* rstd, const float* weight, int64_t r0, int64_t r1,
                                  int64_t n);
// log Σ_c exp(x[c]) of one row of C logits.
double log_sum_exp_row_f32(const float* x, int64_t C);
// o[c] = exp(x[c] − lse)·scale over one row of C (softmax times scale, from the saved lse).
void softmax_scaled_row_f32(float* o, const float* x, float lse, float scale, int64_t C);

}  // namespace ember::cpu
