// kernels/cpu/isa.cpp — the float row kernels of kernels/cpu/isa.h, once per x86 ISA level.
//
// Each level is a wrapper around the one template in norm.h / softmax.h: `target` compiles the
// wrapper for that level and `flatten` inlines the template (and exp_fast, …) into it,
// so the whole row loop is vectorised for that width. Nothing else in this file carries a target
// attribute, so no out-of-line template instance compiled for AVX-512 can end up in code that a
// baseline CPU runs.
#include "kernels/cpu/isa.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/norm.h"
#include "kernels/cpu/softmax.h"

namespace ember::cpu {

namespace {

#if defined(__x86_64__) && defined(__GNUC__)
#define EMBER_ISA_X86 1
#define EMBER_TARGET_AVX2 [[gnu::target("avx2,fma"), gnu::flatten]]
#if defined(__clang__)  // clang's target attribute has no prefer-vector-width (it picks the width itself)
#define EMBER_TARGET_AVX512 [[gnu::target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"), gnu::flatten]]
#else
#define EMBER_TARGET_AVX512 \
  [[gnu::target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512"), gnu::flatten]]
#endif
#else
#define EMBER_ISA_X86 0
#endif

Isa detect() {
#if EMBER_ISA_X86
  __builtin_cpu_init();  // libgcc's cpuid, which also checks that the OS saves the wide registers
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::baseline;
}

Isa from_env(Isa best) {
  const char* v = std::getenv("EMBER_ISA");
  if (v == nullptr || *v == '\0') return best;
  Isa want = best;
  if (std::strcmp(v, "baseline") == 0) want = Isa::baseline;
  else if (std::strcmp(v, "avx2") == 0) want = Isa::avx2;
  else if (std::strcmp(v, "avx512") == 0) want = Isa::avx512;
  else std::fprintf(stderr, "ember: EMBER_ISA='%s' is not baseline, avx2 or avx512; ignored\n", v);
  return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

std::atomic<int>& active() {
  static std::atomic<int> a{static_cast<int>(from_env(best_isa()))};
  return a;
}

// A function pointer for the active level.
template <class F>
F for_active(F baseline, F avx2, F avx512) {
  switch (static_cast<Isa>(active().load(std::memory_order_relaxed))) {
    case Isa::avx512: return avx512;
    case Isa::avx2: return avx2;
    default: return baseline;
  }
}

// NAME_baseline, NAME_avx2, NAME_avx512: each `return TEMPLATE ARGS;` compiled for its level.
#if EMBER_ISA_X86
#define EMBER_ISA_VARIANTS(ret, name, params, args, templ)              \
  ret name##_baseline params { return templ args; }                    \
  EMBER_TARGET_AVX2 ret name##_avx2 params { return templ args; }      \
  EMBER_TARGET_AVX512 ret name##_avx512 params { return templ args; }
#define EMBER_ISA_PICK(name) for_active(name##_baseline, name##_avx2, name##_avx512)
#else
#define EMBER_ISA_VARIANTS(ret, name, params, args, templ) ret name##_baseline params { return templ args; }
#define EMBER_ISA_PICK(name) name##_baseline
#endif

#define LN_FWD_PARAMS                                                                                     \
  (float* y, float* mean, float* rstd, const float* x, const float* weight, const float* bias, int64_t r0, \
   int64_t r1, int64_t n, double eps)
#define LN_FWD_ARGS (y, mean, rstd, x, weight, bias, r0, r1, n, eps)
EMBER_ISA_VARIANTS(void, ln_fwd, LN_FWD_PARAMS, LN_FWD_ARGS, layer_norm_forward_rows<float>)

#define LN_BWD_PARAMS                                                                                   \
  (float* gx, double* sw, double* sb, const float* g, const float* x, const float* mean, const float* rstd, \
   const float* weight, int64_t r0, int64_t r1, int64_t n)
#define LN_BWD_ARGS (gx, sw, sb, g, x, mean, rstd, weight, r0, r1, n)
EMBER_ISA_VARIANTS(void, ln_bwd, LN_BWD_PARAMS, LN_BWD_ARGS, layer_norm_backward_rows<float>)

EMBER_ISA_VARIANTS(double, lse_row, (const float* x, int64_t C), (x, C), log_sum_exp_row<float>)
EMBER_ISA_VARIANTS(void, softmax_row, (float* o, const float* x, float lse, float scale, int64_t C),
                   (o, x, lse, scale, C), softmax_scaled_row<float>)

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "baseline";
  }
}

Isa best_isa() {
  static const Isa best = detect();
  return best;
}

Isa active_isa() { return static_cast<Isa>(active().load()); }

void set_active_isa(Isa isa) {
  const Isa best = best_isa();
  active().store(static_cast<int>(static_cast<int>(isa) < static_cast<int>(best) ? isa : best));
}

void layer_norm_forward_rows_f32 LN_FWD_PARAMS { EMBER_ISA_PICK(ln_fwd) LN_FWD_ARGS; }
void layer_norm_backward_rows_f32 LN_BWD_PARAMS { EMBER_ISA_PICK(ln_bwd) LN_BWD_ARGS; }
double log_sum_exp_row_f32(const float* x, int64_t C) { return EMBER_ISA_PICK(lse_row)(x, C); }
void softmax_scaled_row_f32(float* o, const float* x, float lse, float scale, int64_t C) {
  EMBER_ISA_PICK(softmax_row)(o, x, lse, scale, C);
}

}  // namespace ember::cpu
