// module.h — the nn::Module base class: named parameters, buffers and child modules, in the
// PyTorch shape, so that models built from it carry exactly PyTorch's state_dict names
// ("layer1.0.conv1.weight") and load pretrained weights by name.
//
// A Module owns three ordered tables: parameters (leaf tensors that require grad), buffers
// (state that is saved but not trained: BatchNorm's running statistics) and children
// (shared_ptr<Module>). Recursive listings walk them like torch.nn.Module does: a module's
// own parameters (then buffers, for state_dict) first, then each child in registration order.
//
// Tensor identity: to(Device) / to(DType) swap the data of each held tensor in place
// (PyTorch's `param.data = param.data.to(...)`), so every handle to a parameter — the layer's
// own member, an optimizer's group — keeps pointing at the live parameter afterwards.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace ember::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// What load_state_dict(strict=false) skipped.
struct LoadResult {
  std::vector<std::string> missing_keys;     // in the module, absent from the checkpoint
  std::vector<std::string> unexpected_keys;  // in the checkpoint, absent from the module
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The class name, for messages ("Linear", "Sequential").
  virtual std::string type_name() const { return "Module"; }
  // Single-tensor forward, what Sequential chains. Modules with other signatures (LSTM's
  // state, attention masks) add their own overloads; this default throws.
  virtual Tensor forward(const Tensor& x);

  // ---- listings (recursive, dotted names, registration order) ----
  // Each distinct parameter once (a parameter shared by two modules is listed where first met),
  // as torch.nn.Module.named_parameters.
  NamedTensors named_parameters() const;
  TensorList parameters() const;
  NamedTensors named_buffers() const;
  TensorList buffers() const;
  // Parameters and buffers, exactly PyTorch's state_dict keys and order. Values are the live
  // tensors (not copies): detach-and-clone them to snapshot.
  NamedTensors state_dict() const;
  // Direct children, and every module of the tree (this one first, named "") as non-owning
  // pointers valid while this module lives.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  std::vector<std::pair<std::string, Module*>> named_modules() const;
  int64_t num_parameters() const;  // elements, over distinct parameters

  // ---- loading ----
  // Copies each checkpoint tensor into the parameter or buffer of the same name, in place and
  // without autograd. Shapes and dtypes must match exactly (no silent conversion). Strict mode
  // throws one ember::Error listing every missing, unexpected, wrong-shape and wrong-dtype name;
  // non-strict mode still throws on wrong shapes and dtypes (a silently half-loaded tensor is a
  // bug) and returns the missing and unexpected names.
  LoadResult load_state_dict(const NamedTensors& state, bool strict = true);
  LoadResult load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // ---- modes and conversions (all recursive) ----
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();                  // every parameter's grad back to undefined
  Module& to(Device device);         // parameters and buffers
  Module& to(DType dtype);           // floating parameters and buffers only (counters stay int64)
  void set_requires_grad(bool on);   // freeze (false) or unfreeze (true) every parameter

  // ---- registration (public, as in libtorch, so a model can also be assembled from outside) ----
  // Names are unique across the three tables and contain no '.'. An undefined tensor registers
  // nothing (bias=false) and comes back undefined. Returned handles alias the registered tensor.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name) const;
  void collect_state(const std::string& prefix, NamedTensors& out) const;
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out) const;
  template <class F>
  void for_each_tensor(F&& f);  // own and children's parameters and buffers

  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace ember::nn
