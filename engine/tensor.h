// tensor.h — the Tensor: a strided view onto shared Storage, plus the autograd fields.
//
// A Tensor is a cheap handle (a shared_ptr to TensorImpl). Two handles can share one
// TensorImpl (same tensor) or two TensorImpls can share one Storage (views: reshape of a
// contiguous tensor, transpose, permute, narrow, expand, detach). Where a method must copy,
// its comment says so.
//
// Autograd: a tensor produced by a differentiable op while grad mode is on holds grad_fn,
// the Node that knows how to send its gradient to the op's inputs (engine/autograd.h).
// Leaves are tensors the user made with requires_grad; their .grad() accumulates.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "engine/error.h"

namespace ember {

using Shape = std::vector<int64_t>;

struct Node;  // engine/autograd.h

// A flat, owned block of memory on one device. Views share it.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  std::function<void(void*)> deleter;

  Storage(size_t nbytes, Device device);  // allocates (CPU: 64-byte aligned; CUDA: caching allocator)
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;        // in elements
  int64_t offset = 0;   // in elements, from storage->data
  DType dtype = DType::F32;

  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // leaves only: accumulated gradient
  std::shared_ptr<Node> grad_fn;     // non-leaves: the op that produced this tensor
  int output_nr = 0;                 // which output of grad_fn this is
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

  // ---- metadata ----
  const Shape& shape() const { return ref().shape; }
  const Shape& strides() const { return ref().strides; }
  int64_t offset() const { return ref().offset; }
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const { return ref().dtype; }
  Device device() const { return ref().storage->device; }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return ref().storage; }

  // Pointer to the first element (storage + offset). Checks the element type.
  template <class T>
  T* data() const {
    EMBER_CHECK(dtype_of<T>::value == dtype(), "Tensor::data: tensor holds ", dtype(), ", asked for ",
                dtype_of<T>::value);
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // ---- autograd ----
  bool requires_grad() const { return ref().requires_grad; }
  // Marks a leaf as a parameter (or freezes it with false). Only leaves can change this.
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return ref().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return ref().grad_fn; }
  Tensor grad() const { return Tensor(ref().grad); }
  void set_grad(const Tensor& g) { impl_->grad = g.impl_; }
  void zero_grad() { impl_->grad.reset(); }
  // Reverse-mode pass from this tensor. Without `grad`, the tensor must hold one element.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  // Same data, no history: shares storage, grad_fn dropped, requires_grad false.
  Tensor detach() const;

  // ---- copies and conversions ----
  Tensor contiguous() const;  // copies only if not already contiguous
  Tensor clone() const;       // always copies (differentiable)
  Tensor to(Device d) const;  // copies unless already there
  Tensor to(DType t) const;   // copies unless already that dtype (differentiable between floats)
  double item() const;        // the single element, as double
  template <class T>
  std::vector<T> to_vector() const;  // contiguous host copy
  std::string str(int max_per_dim = 6) const;  // readable printing, PyTorch-like

  // ---- views (share storage; differentiable) ----
  Tensor view(const Shape& shape) const;     // requires a contiguous tensor; one dim may be -1
  Tensor reshape(const Shape& shape) const;  // view if contiguous, else copies
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor permute(const Shape& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor expand(const Shape& shape) const;   // broadcast view, stride 0 on expanded dims
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

 private:
  TensorImpl& ref() const {
    EMBER_CHECK(impl_ != nullptr, "use of an undefined Tensor");
    return *impl_;
  }
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- shape helpers ----
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);  // -1 → ndim-1, with a range check
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
std::string shape_str(const Shape& s);

// ---- creation ----
struct Options {
  DType dtype = DType::F32;
  Device device = Device::cpu();
  bool requires_grad = false;
  Options() = default;
  Options(DType t) : dtype(t) {}  // NOLINT: allow zeros({2,3}, DType::F64)
  Options(DType t, Device d, bool rg = false) : dtype(t), device(d), requires_grad(rg) {}
};

Tensor empty(const Shape& shape, Options o = {});  // uninitialised
Tensor zeros(const Shape& shape, Options o = {});
Tensor ones(const Shape& shape, Options o = {});
Tensor full(const Shape& shape, double value, Options o = {});
Tensor arange(double start, double end, double step = 1, Options o = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor empty_like(const Tensor& t);  // contiguous, same dtype and device
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Options o = Options(dtype_of<T>::value));

// Copies src's values into dst (same shape; converts dtype; any strides). No autograd.
void copy_(Tensor& dst, const Tensor& src);
// Fills every element of t with value (any strides). No autograd.
void fill_(Tensor& t, double value);

}  // namespace ember
