// autograd.h — reverse-mode automatic differentiation, in the micrograd shape.
//
// Every differentiable op that sees an input requiring grad records one Node: the edges to
// its inputs, and a closure that maps the gradients of its outputs to gradients of its
// inputs. Tensor::backward() sorts the Nodes topologically and runs the closures in reverse,
// summing gradients that meet at a Node and accumulating (+=) into leaves' .grad.
// After the pass every visited Node drops its closure (and so its saved tensors) unless
// retain_graph is asked for.
//
// Rule for op authors: a closure captures only what its backward needs, and captures
// tensors through save() (a detached alias), never the op's own outputs with their
// grad_fn — that would be a reference cycle.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ember {

using TensorList = std::vector<Tensor>;
// grads of the outputs (missing ones filled with zeros) → grads of the inputs
// (an undefined Tensor for an input that needs none).
using BackwardFn = std::function<TensorList(const TensorList& grad_outputs)>;

struct Edge {
  std::shared_ptr<Node> node;        // the producer of a non-leaf input ...
  int output_nr = 0;
  std::shared_ptr<TensorImpl> leaf;  // ... or the leaf input itself
  bool defined() const { return node || leaf; }
};

struct Node {
  const char* name = "";              // op name, for error messages and graph dumps
  std::vector<Edge> next;             // one per input of the op (undefined: no grad needed)
  std::vector<Shape> output_shapes;   // to zero-fill gradients of unused outputs
  std::vector<Shape> input_shapes;    // to check what backward returns
  DType dtype = DType::F32;
  Device device;
  BackwardFn backward;
  bool needs_input_grad(size_t i) const { return i < next.size() && next[i].defined(); }
};

// Grad mode: on by default, per thread. NoGradGuard turns it off for a scope.
bool grad_mode_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and at least one input requires grad: only then does an op
// record a Node. A frozen feature extractor (no parameter requiring grad, input without
// grad) therefore builds no graph and costs no backward work.
bool any_requires_grad(const TensorList& inputs);

// Records `name` as the producer of `outputs`. Call only when any_requires_grad(inputs).
// Returns the Node so an op can ask needs_input_grad(i) inside its closure.
std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const TensorList& outputs,
                             BackwardFn backward);

// A detached alias to keep in a closure (shares storage, holds no graph).
inline Tensor save(const Tensor& t) { return t.defined() ? t.detach() : Tensor(); }

// The pass itself (Tensor::backward calls this).
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace ember
