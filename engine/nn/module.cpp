// module.cpp — registration, recursive listings, state_dict loading and the recursive
// mode/dtype/device switches of nn::Module (see module.h).
#include "engine/nn/module.h"

#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace ember::nn {

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Makes `t` hold `src`'s data (PyTorch's `t.data = src`): every handle to t sees the change.
// The gradient, if any, is converted the same way so it still matches its parameter.
template <class Convert>
void assign_data(const Tensor& t, Convert convert) {
  NoGradGuard ng;
  Tensor src = convert(t.detach());
  TensorImpl& d = *t.impl();
  if (src.impl() != t.impl() && src.storage() != d.storage) {
    d.storage = src.storage();
    d.shape = src.shape();
    d.strides = src.strides();
    d.offset = src.offset();
    d.dtype = src.dtype();
  }
  if (d.grad) d.grad = convert(Tensor(d.grad)).impl();
}

}  // namespace

Tensor Module::forward(const Tensor&) {
  EMBER_FAIL(type_name(), " has no single-tensor forward(x); call its own forward overload");
}

// ---------------- registration ----------------

void Module::check_new_name(const std::string& name) const {
  EMBER_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(),
              ": a registered name must be non-empty and contain no '.', got '", name, "'");
  auto taken = [&](const auto& table) {
    for (const auto& entry : table)
      if (entry.first == name) return true;
    return false;
  };
  EMBER_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), type_name(), ": the name '", name,
              "' is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  if (!t.defined()) return t;
  check_new_name(name);
  EMBER_CHECK(t.is_leaf(), type_name(), ": parameter '", name,
              "' must be a leaf tensor (made by an op: detach() it first)");
  EMBER_CHECK(is_floating(t.dtype()), type_name(), ": parameter '", name, "' must be floating, got ", t.dtype());
  t.requires_grad_(requires_grad);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  if (!t.defined()) return t;
  check_new_name(name);
  if (t.requires_grad()) t = t.detach();  // buffers are state, never trained
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  EMBER_CHECK(child != nullptr, type_name(), ": register_module('", name, "') got a null module");
  check_new_name(name);
  children_.emplace_back(name, std::move(child));
}

// ---------------- listings ----------------

void Module::collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out) const {
  out.emplace_back(prefix, const_cast<Module*>(this));
  for (const auto& [name, child] : children_) child->collect_modules(join(prefix, name), out);
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out;
  collect_modules("", out);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& [prefix, m] : named_modules())
    for (const auto& [name, t] : m->params_)
      if (seen.insert(t.impl().get()).second) out.emplace_back(join(prefix, name), t);
  return out;
}

TensorList Module::parameters() const {
  TensorList out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& [prefix, m] : named_modules())
    for (const auto& [name, t] : m->buffers_)
      if (seen.insert(t.impl().get()).second) out.emplace_back(join(prefix, name), t);
  return out;
}

TensorList Module::buffers() const {
  TensorList out;
  for (auto& [name, t] : named_buffers()) out.push_back(t);
  return out;
}

// torch.nn.Module.state_dict order: own parameters, own buffers, then each child's.
void Module::collect_state(const std::string& prefix, NamedTensors& out) const {
  for (const auto& [name, t] : params_) out.emplace_back(join(prefix, name), t);
  for (const auto& [name, t] : buffers_) out.emplace_back(join(prefix, name), t);
  for (const auto& [name, child] : children_) child->collect_state(join(prefix, name), out);
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect_state("", out);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

// ---------------- loading ----------------

LoadResult Module::load_state_dict(const NamedTensors& state, bool strict) {
  NamedTensors mine = state_dict();
  std::unordered_map<std::string, const Tensor*> given;
  std::vector<std::string> problems;  // shape/dtype mismatches and duplicates: errors in both modes
  for (const auto& [name, t] : state)
    if (!given.emplace(name, &t).second) problems.push_back("duplicate key '" + name + "' in the checkpoint");

  LoadResult result;
  std::unordered_set<std::string> known;
  std::vector<std::pair<Tensor, const Tensor*>> copies;
  for (const auto& [name, dst] : mine) {
    known.insert(name);
    auto it = given.find(name);
    if (it == given.end()) {
      result.missing_keys.push_back(name);
      continue;
    }
    const Tensor& src = *it->second;
    bool ok = true;
    if (!src.defined()) {
      problems.push_back("undefined tensor for '" + name + "'");
      continue;
    }
    if (src.shape() != dst.shape()) {
      problems.push_back(detail::str("shape mismatch for '", name, "': module has ", dst.shape(),
                                     ", checkpoint has ", src.shape()));
      ok = false;
    }
    if (src.dtype() != dst.dtype()) {
      problems.push_back(detail::str("dtype mismatch for '", name, "': module has ", dst.dtype(),
                                     ", checkpoint has ", src.dtype()));
      ok = false;
    }
    if (ok) copies.emplace_back(dst, &src);
  }
  for (const auto& [name, t] : state)
    if (!known.count(name)) result.unexpected_keys.push_back(name);

  size_t n_problems = problems.size() + (strict ? result.missing_keys.size() + result.unexpected_keys.size() : 0);
  if (n_problems > 0) {
    std::ostringstream msg;
    msg << "load_state_dict into " << type_name() << ": " << n_problems << " problem" << (n_problems > 1 ? "s" : "")
        << (strict ? " (strict)" : "") << ":";
    if (strict) {
      for (const auto& k : result.missing_keys) msg << "\n  missing key '" << k << "'";
      for (const auto& k : result.unexpected_keys) msg << "\n  unexpected key '" << k << "'";
    }
    for (const auto& p : problems) msg << "\n  " << p;
    EMBER_FAIL(msg.str());
  }

  NoGradGuard ng;
  for (auto& [dst, src] : copies) copy_(dst, *src);
  return result;
}

LoadResult Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  return load_state_dict(NamedTensors(state.begin(), state.end()), strict);
}

// ---------------- modes and conversions ----------------

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

template <class F>
void Module::for_each_tensor(F&& f) {
  for (auto& [name, t] : params_) f(t);
  for (auto& [name, t] : buffers_) f(t);
  for (auto& [name, child] : children_) child->for_each_tensor(f);
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

Module& Module::to(Device device) {
  for_each_tensor([&](Tensor& t) { assign_data(t, [&](const Tensor& x) { return x.to(device); }); });
  return *this;
}

Module& Module::to(DType dtype) {
  EMBER_CHECK(is_floating(dtype), type_name(), ".to(dtype): expected a floating dtype, got ", dtype);
  for_each_tensor([&](Tensor& t) {
    if (is_floating(t.dtype())) assign_data(t, [&](const Tensor& x) { return x.to(dtype).contiguous(); });
  });
  return *this;
}

void Module::set_requires_grad(bool on) {
  for (Tensor& p : parameters()) p.requires_grad_(on);
}

}  // namespace ember::nn
