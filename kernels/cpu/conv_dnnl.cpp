// kernels/cpu/conv_dnnl.cpp — float32 conv2d forward / backward through oneDNN (v2.6 API).
//
// ember's tensors are plain NCHW (activations) and OIHW (weights). Each convolution is
// described to oneDNN with format_tag::any for its operands, so oneDNN picks the layout its
// fastest kernel wants (on AVX2 a channel-blocked nChw8c / OIhw8i8o, which runs a direct JIT
// convolution instead of its own im2col + GEMM). Every operand whose chosen layout differs from
// the plain one is reordered in before, or out after, the primitive; one that matches is bound
// to ember's buffer directly.
//
// Primitive descriptors, primitives and those reorders are built once per convolution
// geometry (N, Cin, H, W, Cout, kernel, stride, padding, dilation, bias or not) and kept in a
// process-wide cache, so a training loop builds them on its first step only. The cache is
// guarded by a mutex; entries are never removed (one per distinct layer shape: ~20 for
// ResNet18, a few more for a smaller last batch). Execution uses one CPU engine and one
// stream per thread, and a per-thread scratchpad (scratchpad_mode::user).
//
// Which convolutions: oneDNN's direct (JIT) kernels work image by image on channel-blocked
// planes and win on ResNet18-at-32×32's early layers (batch 64, output planes 16×16 … 4×4:
// 1.2–2.3× the im2col path, forward + backward, one thread on a busy 2-core machine); on the
// last layers' 2×2 and 1×1 planes they lose (0.85× down to 0.16× at 1×1), where ember's
// batched im2col puts all images side by side in one large GEMM. So below
// kDnnlMinOutputPlane output positions conv2d keeps im2col.
//
// Threading: Debian's libdnnl is built with DNNL_CPU_RUNTIME = OMP (dnnl_config.h), i.e. on
// libgomp, the same OpenMP pool as ember's loops and OpenBLAS-openmp: no second thread pool.
#include "kernels/cpu/conv_dnnl.h"

#include "kernels/cpu/allocator.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#ifdef EMBER_HAVE_DNNL
#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace ember::cpu {

namespace {
bool env_is(const char* v, const char* value) { return v && std::strcmp(v, value) == 0; }
}  // namespace

bool dnnl_conv_enabled() { return dnnl_conv_available() && !env_is(std::getenv("EMBER_DNNL"), "0"); }

bool dnnl_conv_wanted(const Window2d& s) {
  if (!dnnl_conv_enabled()) return false;
  return env_is(std::getenv("EMBER_DNNL"), "all") || s.OH * s.OW >= kDnnlMinOutputPlane;
}

#ifndef EMBER_HAVE_DNNL

bool dnnl_conv_available() { return false; }

size_t dnnl_conv2d_blocked_input_bytes(int64_t, int64_t, const Window2d&, bool) { return 0; }

void dnnl_conv2d_forward(float*, const float*, const float*, const float*, int64_t, int64_t, const Window2d&,
                         void*) {
  throw std::logic_error("dnnl_conv2d_forward: ember was built without oneDNN (check dnnl_conv_enabled())");
}

void dnnl_conv2d_backward(float*, float*, float*, const float*, const float*, const float*, int64_t, int64_t,
                          const Window2d&, bool, const void*) {
  throw std::logic_error("dnnl_conv2d_backward: ember was built without oneDNN (check dnnl_conv_enabled())");
}

#else  // EMBER_HAVE_DNNL

bool dnnl_conv_available() { return true; }

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

// Buffers in a chosen layout that live for one call: taken from ember's host allocator, whose cache
// hands a block of a repeated size back without the kernel mapping and zeroing fresh pages
// (memory(desc, engine) allocates through malloc, which returned each multi-MiB block to the system
// on free: about a thousand page faults per call of a 64-channel 16×16 batch-64 convolution).
class CallBuffers {
 public:
  void* take(size_t bytes) {
    bytes = std::max<size_t>(bytes, 1);
    // Owned from here on: if recording it fails, the block's shared_ptr frees it.
    std::shared_ptr<void> block(host_alloc(bytes), [bytes](void* q) { host_free(q, bytes); });
    held_.push_back(block);
    return block.get();
  }

 private:
  std::vector<std::shared_ptr<void>> held_;
};

// One tensor argument of a primitive: ember's plain layout, the one the primitive chose, and
// the reorder between them (plain → chosen for an input, chosen → plain for an output).
struct Operand {
  memory::desc plain, chosen;
  dnnl::reorder convert;
  bool same = true;

  Operand() = default;
  Operand(const memory::desc& plain_md, const memory::desc& chosen_md, bool is_input)
      : plain(plain_md), chosen(chosen_md), same(plain_md == chosen_md) {
    if (same) return;
    auto& e = cpu_engine();
    convert = is_input ? dnnl::reorder(dnnl::reorder::primitive_desc(e, plain, e, chosen))
                       : dnnl::reorder(dnnl::reorder::primitive_desc(e, chosen, e, plain));
  }

  // The memory to hand the primitive for an input at p (reordered, if needed, into `into` when
  // given — chosen.get_size() bytes — or else into a buffer of this call).
  memory input(const float* p, CallBuffers& call, void* into = nullptr) const {
    memory user(plain, cpu_engine(), const_cast<float*>(p));
    if (same) return user;
    memory m(chosen, cpu_engine(), into ? into : call.take(chosen.get_size()));
    convert.execute(thread_stream(), user, m);
    return m;
  }
  // The memory the primitive writes an output at p into; finish() copies it out if needed.
  memory output(float* p, CallBuffers& call) const {
    return same ? memory(plain, cpu_engine(), p) : memory(chosen, cpu_engine(), call.take(chosen.get_size()));
  }
  void finish(memory m, float* p) const {
    if (same) return;
    memory user(plain, cpu_engine(), p);
    convert.execute(thread_stream(), m, user);
  }
};

// Everything built once for one geometry; the backward parts on the first backward pass.
struct ConvPlan {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  Operand fwd_src, fwd_wei, fwd_bias, fwd_dst;

  bool have_bwd_data = false;
  dnnl::convolution_backward_data bwd_data;
  Operand bd_diff_dst, bd_wei, bd_diff_src;
  size_t bd_scratch = 0;

  bool have_bwd_weights = false;
  dnnl::convolution_backward_weights bwd_weights;
  Operand bw_src, bw_diff_dst, bw_diff_wei, bw_diff_bias;
  size_t bw_scratch = 0;
  size_t fwd_scratch = 0;
};

// The plain descriptors and the convolution arguments of one geometry.
struct Geometry {
  memory::desc src, wei, bias, dst;  // nchw, oihw, x, nchw
  memory::desc any_src, any_wei, any_bias, any_dst;
  memory::dims strides, dilates, pad_l, pad_r;
  bool has_bias;

  Geometry(int64_t N, int64_t Cout, const Window2d& s, bool with_bias) : has_bias(with_bias) {
    const memory::dims x{N, s.C, s.H, s.W}, w{Cout, s.C, s.kh, s.kw}, b{Cout}, y{N, Cout, s.OH, s.OW};
    src = {x, f32, tag::nchw}, wei = {w, f32, tag::oihw}, bias = {b, f32, tag::x}, dst = {y, f32, tag::nchw};
    any_src = {x, f32, tag::any}, any_wei = {w, f32, tag::any}, any_bias = {b, f32, tag::any};
    any_dst = {y, f32, tag::any};
    strides = {s.sh, s.sw};
    dilates = {s.dh - 1, s.dw - 1};  // oneDNN counts dilation from 0 (1 = one gap), torch from 1
    // Symmetric padding as torch: oneDNN accepts pad_r whenever (H + pad_l + pad_r −
    // ((kh−1)·dh + 1)) / sh + 1 rounds down to OH, which is how OH was computed.
    pad_l = {s.ph, s.pw}, pad_r = {s.ph, s.pw};
  }
};

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

std::unique_ptr<ConvPlan> make_plan(const Geometry& g) {
  using namespace dnnl;
  auto plan = std::make_unique<ConvPlan>();
  const auto prop = prop_kind::forward_training;
  const auto algo = algorithm::convolution_direct;
  auto desc = g.has_bias ? convolution_forward::desc(prop, algo, g.any_src, g.any_wei, g.any_bias, g.any_dst,
                                                     g.strides, g.dilates, g.pad_l, g.pad_r)
                         : convolution_forward::desc(prop, algo, g.any_src, g.any_wei, g.any_dst, g.strides,
                                                     g.dilates, g.pad_l, g.pad_r);
  plan->fwd_pd = convolution_forward::primitive_desc(desc, user_scratchpad(), cpu_engine());
  plan->fwd = convolution_forward(plan->fwd_pd);
  plan->fwd_src = Operand(g.src, plan->fwd_pd.src_desc(), true);
  plan->fwd_wei = Operand(g.wei, plan->fwd_pd.weights_desc(), true);
  if (g.has_bias) plan->fwd_bias = Operand(g.bias, plan->fwd_pd.bias_desc(), true);
  plan->fwd_dst = Operand(g.dst, plan->fwd_pd.dst_desc(), false);
  plan->fwd_scratch = plan->fwd_pd.scratchpad_desc().get_size();
  return plan;
}

void add_backward_data(ConvPlan& p, const Geometry& g) {
  using namespace dnnl;
  convolution_backward_data::desc desc(algorithm::convolution_direct, g.any_src, g.any_wei, g.any_dst, g.strides,
                                       g.dilates, g.pad_l, g.pad_r);
  convolution_backward_data::primitive_desc pd(desc, user_scratchpad(), cpu_engine(), p.fwd_pd);
  p.bwd_data = convolution_backward_data(pd);
  p.bd_diff_dst = Operand(g.dst, pd.diff_dst_desc(), true);
  p.bd_wei = Operand(g.wei, pd.weights_desc(), true);
  p.bd_diff_src = Operand(g.src, pd.diff_src_desc(), false);
  p.bd_scratch = pd.scratchpad_desc().get_size();
  p.have_bwd_data = true;
}

void add_backward_weights(ConvPlan& p, const Geometry& g) {
  using namespace dnnl;
  const auto algo = algorithm::convolution_direct;
  auto desc = g.has_bias ? convolution_backward_weights::desc(algo, g.any_src, g.any_wei, g.any_bias, g.any_dst,
                                                              g.strides, g.dilates, g.pad_l, g.pad_r)
                         : convolution_backward_weights::desc(algo, g.any_src, g.any_wei, g.any_dst, g.strides,
                                                              g.dilates, g.pad_l, g.pad_r);
  convolution_backward_weights::primitive_desc pd(desc, user_scratchpad(), cpu_engine(), p.fwd_pd);
  p.bwd_weights = convolution_backward_weights(pd);
  p.bw_src = Operand(g.src, pd.src_desc(), true);
  p.bw_diff_dst = Operand(g.dst, pd.diff_dst_desc(), true);
  p.bw_diff_wei = Operand(g.wei, pd.diff_weights_desc(), false);
  if (g.has_bias) p.bw_diff_bias = Operand(g.bias, pd.diff_bias_desc(), false);
  p.bw_scratch = pd.scratchpad_desc().get_size();
  p.have_bwd_weights = true;
}

enum class Pass { forward, backward_data, backward_weights };

std::string geometry_string(int64_t N, int64_t Cout, const Window2d& s, bool bias) {
  return "x (" + std::to_string(N) + ", " + std::to_string(s.C) + ", " + std::to_string(s.H) + ", " +
         std::to_string(s.W) + "), w (" + std::to_string(Cout) + ", " + std::to_string(s.C) + ", " +
         std::to_string(s.kh) + ", " + std::to_string(s.kw) + "), stride (" + std::to_string(s.sh) + ", " +
         std::to_string(s.sw) + "), padding (" + std::to_string(s.ph) + ", " + std::to_string(s.pw) +
         "), dilation (" + std::to_string(s.dh) + ", " + std::to_string(s.dw) + ")" + (bias ? ", bias" : "");
}

// The cached plan of this geometry with `pass` built; builds what is missing.
const ConvPlan& plan_for(int64_t N, int64_t Cout, const Window2d& s, bool bias, Pass pass) {
  using Key = std::array<int64_t, 14>;
  static std::mutex mutex;
  static std::map<Key, std::unique_ptr<ConvPlan>> cache;
  const Key key{N, s.C, s.H, s.W, Cout, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, bias ? 1 : 0};
  std::lock_guard<std::mutex> lock(mutex);
  try {
    std::unique_ptr<ConvPlan>& plan = cache[key];
    const bool need_bwd_data = pass == Pass::backward_data && (!plan || !plan->have_bwd_data);
    const bool need_bwd_weights = pass == Pass::backward_weights && (!plan || !plan->have_bwd_weights);
    if (plan && !need_bwd_data && !need_bwd_weights) return *plan;  // the usual case: all built
    const Geometry g(N, Cout, s, bias);  // oneDNN descriptors, only when something is to be built
    if (!plan) plan = make_plan(g);
    if (need_bwd_data) add_backward_data(*plan, g);
    if (need_bwd_weights) add_backward_weights(*plan, g);
    return *plan;
  } catch (const dnnl::error& e) {
    if (!cache[key]) cache.erase(key);  // a plan that exists may be in use by another thread: keep it
    throw std::runtime_error(std::string("conv2d (oneDNN): cannot build the primitive for ") +
                             geometry_string(N, Cout, s, bias) + ": " + e.what() +
                             " (EMBER_DNNL=0 uses the im2col path)");
  }
}

// A per-thread scratchpad of at least `bytes`, as oneDNN memory (executions on one thread
// run one after another, so they can share it).
memory scratchpad(size_t bytes) {
  thread_local std::vector<char> buffer;
  bytes = std::max<size_t>(bytes, 1);  // oneDNN takes no null handle
  if (buffer.size() < bytes) buffer.resize(bytes);
  return memory({{static_cast<memory::dim>(bytes)}, memory::data_type::u8, tag::x}, cpu_engine(), buffer.data());
}

}  // namespace

size_t dnnl_conv2d_blocked_input_bytes(int64_t N, int64_t Cout, const Window2d& s, bool bias) {
  const ConvPlan& p = plan_for(N, Cout, s, bias, Pass::forward);
  return p.fwd_src.same ? 0 : p.fwd_src.chosen.get_size();
}

void dnnl_conv2d_forward(float* y, const float* x, const float* w, const float* b, int64_t N, int64_t Cout,
                         const Window2d& s, void* x_blocked) {
  const ConvPlan& p = plan_for(N, Cout, s, b != nullptr, Pass::forward);
  CallBuffers call;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, p.fwd_src.input(x, call, x_blocked)},
                                       {DNNL_ARG_WEIGHTS, p.fwd_wei.input(w, call)},
                                       {DNNL_ARG_DST, p.fwd_dst.output(y, call)},
                                       {DNNL_ARG_SCRATCHPAD, scratchpad(p.fwd_scratch)}};
  if (b) args[DNNL_ARG_BIAS] = p.fwd_bias.input(b, call);
  p.fwd.execute(thread_stream(), args);
  p.fwd_dst.finish(args[DNNL_ARG_DST], y);
  thread_stream().wait();
}

void dnnl_conv2d_backward(float* gx, float* gw, float* gb, const float* g, const float* x, const float* w,
                          int64_t N, int64_t Cout, const Window2d& s, bool forward_bias, const void* x_blocked) {
  // g in the layout backward-weights chose: backward-data reuses it when it chose the same one
  // (oneDNN's AVX-512 kernels both take nChw16c), instead of reordering g a second time.
  CallBuffers call;
  memory g_blocked;
  memory::desc g_blocked_desc;
  if (gw) {  // the weight gradient, and the bias gradient with it when wanted
    const ConvPlan& p = plan_for(N, Cout, s, gb != nullptr, Pass::backward_weights);
    // The forward's reordered x, when this pass wants x in the layout the forward chose.
    const memory::desc& fwd_src = plan_for(N, Cout, s, forward_bias, Pass::forward).fwd_src.chosen;
    const bool reuse_x = x_blocked && !p.bw_src.same && p.bw_src.chosen == fwd_src;
    if (!x && !reuse_x)
      throw std::logic_error("dnnl_conv2d_backward: the weight gradient needs x, or the forward's reordered x in the "
                             "layout backward-weights chose");
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, reuse_x ? memory(p.bw_src.chosen, cpu_engine(),
                                                                         const_cast<void*>(x_blocked))
                                                                : p.bw_src.input(x, call)},
                                         {DNNL_ARG_DIFF_DST, p.bw_diff_dst.input(g, call)},
                                         {DNNL_ARG_DIFF_WEIGHTS, p.bw_diff_wei.output(gw, call)},
                                         {DNNL_ARG_SCRATCHPAD, scratchpad(p.bw_scratch)}};
    if (gb) args[DNNL_ARG_DIFF_BIAS] = p.bw_diff_bias.output(gb, call);
    p.bwd_weights.execute(thread_stream(), args);
    p.bw_diff_wei.finish(args[DNNL_ARG_DIFF_WEIGHTS], gw);
    if (gb) p.bw_diff_bias.finish(args[DNNL_ARG_DIFF_BIAS], gb);
    if (!p.bw_diff_dst.same) g_blocked = args[DNNL_ARG_DIFF_DST], g_blocked_desc = p.bw_diff_dst.chosen;
  } else if (gb) {  // only the bias gradient: a plain sum over (n, oh, ow)
    conv2d_backward<float>(nullptr, nullptr, gb, g, x, w, N, Cout, s);
  }
  if (gx) {
    // Backward data does not depend on the bias, but plans are keyed by it: keyed as the forward
    // was, this is the forward's cached plan (its forward descriptor is backward-data's hint).
    const ConvPlan& p = plan_for(N, Cout, s, forward_bias, Pass::backward_data);
    const bool reuse_g = g_blocked && !p.bd_diff_dst.same && p.bd_diff_dst.chosen == g_blocked_desc;
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, reuse_g ? g_blocked : p.bd_diff_dst.input(g, call)},
                                         {DNNL_ARG_WEIGHTS, p.bd_wei.input(w, call)},
                                         {DNNL_ARG_DIFF_SRC, p.bd_diff_src.output(gx, call)},
                                         {DNNL_ARG_SCRATCHPAD, scratchpad(p.bd_scratch)}};
    p.bwd_data.execute(thread_stream(), args);
    p.bd_diff_src.finish(args[DNNL_ARG_DIFF_SRC], gx);
  }
  thread_stream().wait();
}

#endif  // EMBER_HAVE_DNNL

}  // namespace ember::cpu
