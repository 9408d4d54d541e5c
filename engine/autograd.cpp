// autograd.cpp — recording Nodes and the reverse pass. See autograd.h for the model.
#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"

namespace ember {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_mode_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

bool any_requires_grad(const TensorList& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const TensorList& outputs,
                             BackwardFn backward) {
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(backward);
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      if (t.is_leaf()) e.leaf = t.impl();
      else {
        e.node = t.grad_fn();
        e.output_nr = t.impl()->output_nr;
      }
    }
    node->next.push_back(e);
    node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& o = outputs[i];
    node->output_shapes.push_back(o.shape());
    if (i == 0) {
      node->dtype = o.dtype();
      node->device = o.device();
    }
    if (!is_floating(o.dtype())) continue;  // e.g. max's indices: never differentiable
    o.impl()->grad_fn = node;
    o.impl()->output_nr = static_cast<int>(i);
    o.impl()->requires_grad = true;
  }
  return node;
}

namespace {

// Nodes reachable from `root`, ordered so that every Node comes before the Nodes it feeds
// (consumers before producers): the order in which gradients are complete.
std::vector<Node*> topo_order(Node* root) {
  std::vector<Node*> post;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  seen.insert(root);
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->next.size()) {
      Node* child = n->next[i++].node.get();
      if (child && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      post.push_back(n);
      stack.pop_back();
    }
  }
  return {post.rbegin(), post.rend()};
}

void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) slot = g;
  else slot = add(slot, g);
}

// True when nothing but `g` refers to g's memory and g covers all of it, contiguously: then g
// may become a leaf's .grad as it is.
bool sole_dense_owner(const Tensor& g) {
  const size_t bytes = static_cast<size_t>(g.numel()) * dtype_size(g.dtype());
  return g.impl().use_count() == 1 && g.storage().use_count() == 1 && g.offset() == 0 && g.is_contiguous() &&
         g.storage()->nbytes == bytes && !g.requires_grad() && g.impl()->grad_fn == nullptr;
}

void accumulate_leaf(const std::shared_ptr<TensorImpl>& leaf, const Tensor& g) {
  Tensor grad(leaf->grad);
  // A leaf's .grad is contiguous and never aliases another tensor: optimizers and clipping
  // write into it in place. So the first gradient is copied, unless the backward made it for
  // this leaf alone (the usual case: a weight's dW from its GEMM), which is then kept as it is.
  if (!grad.defined()) leaf->grad = sole_dense_owner(g) ? g.impl() : g.clone().impl();
  else leaf->grad = add(grad, g).impl();
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
  EMBER_CHECK(root.requires_grad(), "backward: the tensor does not require grad and has no grad_fn");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    EMBER_CHECK(root.numel() == 1, "backward: a gradient must be given for a non-scalar output of shape ",
                root.shape());
    grad = ones(root.shape(), Options(root.dtype(), root.device()));
  }
  EMBER_CHECK(grad.shape() == root.shape(), "backward: gradient shape ", grad.shape(),
              " does not match the output shape ", root.shape());
  NoGradGuard no_grad;  // backward rules are plain (non-recorded) computations
  if (root.is_leaf()) {
    accumulate_leaf(root.impl(), grad);
    return;
  }
  std::vector<Node*> order = topo_order(root.grad_fn().get());
  std::unordered_map<Node*, TensorList> grads;
  grads[root.grad_fn().get()].resize(root.grad_fn()->output_shapes.size());
  grads[root.grad_fn().get()][root.impl()->output_nr] = grad;

  for (Node* n : order) {
    TensorList gout = std::move(grads[n]);
    grads.erase(n);
    EMBER_CHECK(n->backward != nullptr, "backward: the graph through '", n->name,
                "' was already released; call backward(grad, /*retain_graph=*/true) the first time");
    gout.resize(n->output_shapes.size());
    bool any = false;
    for (size_t i = 0; i < gout.size(); ++i) {
      if (gout[i].defined()) any = true;
      else gout[i] = zeros(n->output_shapes[i], Options(n->dtype, n->device));
    }
    if (!any) continue;
    TensorList gin = n->backward(gout);
    EMBER_CHECK(gin.size() == n->next.size(), "backward of '", n->name, "' returned ", gin.size(),
                " gradients for ", n->next.size(), " inputs");
    for (size_t i = 0; i < gin.size(); ++i) {
      const Edge& e = n->next[i];
      if (!e.defined() || !gin[i].defined()) continue;
      EMBER_CHECK(gin[i].shape() == n->input_shapes[i], "backward of '", n->name, "' returned a gradient of shape ",
                  gin[i].shape(), " for input ", i, " of shape ", n->input_shapes[i]);
      if (e.leaf) {
        accumulate_leaf(e.leaf, gin[i]);
      } else {
        TensorList& slot = grads[e.node.get()];
        slot.resize(e.node->output_shapes.size());
        accumulate(slot[e.output_nr], gin[i]);
      }
    }
    if (!retain_graph) {
      n->backward = nullptr;  // frees the saved tensors
    }
  }
  if (!retain_graph) {
    // Producers first: clearing a consumer's edges may free its producers, which by then
    // are done with.
    for (auto it = order.rbegin(); it != order.rend(); ++it) (*it)->next.clear();
  }
}

const std::vector<OpInfo>& op_list() {
  static const std::vector<OpInfo> ops = {
#define EMBER_OP(name, family, diff) {#name, #family, diff != 0},
#include "engine/ops.def"
#undef EMBER_OP
  };
  return ops;
}

}  // namespace ember
