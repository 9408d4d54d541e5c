// tensor.cpp — storage, metadata, creation, copies and printing of Tensor.
// The differentiable view methods (view, transpose, …) forward to engine/ops/shape.cpp.
#include "engine/tensor.h"

#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops.h"
#include "kernels/cpu/allocator.h"
#include "kernels/cpu/strided.h"

namespace ember {

// ---------------- storage ----------------
Storage::Storage(size_t n, Device d) : nbytes(n), device(d) {
  if (d.is_cpu()) {
    data = cpu::host_alloc(n);
    deleter = [n](void* p) { cpu::host_free(p, n); };
  } else {
    data = backend::cuda_alloc(n, d);
    deleter = [d](void* p) { backend::cuda_free(p, d); };
  }
}

Storage::~Storage() {
  if (data && deleter) deleter(data);
}

// ---------------- shape helpers ----------------
int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t v : s) n *= v;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = -std::max<int64_t>(ndim, 1), hi = std::max<int64_t>(ndim, 1) - 1;
  EMBER_CHECK(dim >= lo && dim <= hi, op, ": dim ", dim, " out of range for a ", ndim, "-D tensor (expected ",
              lo, "..", hi, ")");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

std::string shape_str(const Shape& s) { return detail::str(s); }

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    EMBER_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b,
                " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---------------- metadata ----------------
int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::numel() const { return shape_numel(shape()); }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data) + offset() * static_cast<int64_t>(dtype_size(dtype()));
}

Tensor& Tensor::requires_grad_(bool on) {
  EMBER_CHECK(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad (this one was made by '",
              "an op'; use detach() first)");
  EMBER_CHECK(!on || is_floating(dtype()), "requires_grad_: only floating tensors can require grad, got ", dtype());
  impl_->requires_grad = on;
  return *this;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const { run_backward(*this, grad, retain_graph); }

Tensor Tensor::detach() const {
  auto t = std::make_shared<TensorImpl>();
  t->storage = ref().storage;
  t->shape = shape();
  t->strides = strides();
  t->offset = offset();
  t->dtype = dtype();
  return Tensor(t);
}

// ---------------- creation ----------------
Tensor empty(const Shape& shape, Options o) {
  for (int64_t v : shape) EMBER_CHECK(v >= 0, "empty: negative dimension in shape ", shape);
  auto t = std::make_shared<TensorImpl>();
  t->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(o.dtype), o.device);
  t->shape = shape;
  t->strides = contiguous_strides(shape);
  t->dtype = o.dtype;
  Tensor out(t);
  if (o.requires_grad) out.requires_grad_(true);
  return out;
}

Tensor full(const Shape& shape, double value, Options o) {
  bool rg = o.requires_grad;
  o.requires_grad = false;
  Tensor t = empty(shape, o);
  fill_(t, value);
  if (rg) t.requires_grad_(true);
  return t;
}
Tensor zeros(const Shape& shape, Options o) { return full(shape, 0.0, o); }
Tensor ones(const Shape& shape, Options o) { return full(shape, 1.0, o); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), Options(t.dtype(), t.device())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), Options(t.dtype(), t.device())); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), Options(t.dtype(), t.device())); }

Tensor arange(double start, double end, double step, Options o) {
  EMBER_CHECK(step != 0, "arange: step must be nonzero");
  double span = (end - start) / step;
  int64_t n = span > 0 ? static_cast<int64_t>(std::ceil(span)) : 0;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i) * step;
  return from_vector<double>(v, {n}, o);
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Options o) {
  EMBER_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
              " values do not fill shape ", shape, " (", shape_numel(shape), " elements)");
  Tensor host = empty(shape, Options(dtype_of<T>::value));
  std::copy(values.begin(), values.end(), host.data<T>());
  Tensor t = host.to(o.dtype).to(o.device);
  if (t.impl() == host.impl() && o.requires_grad) t = t.detach();
  if (o.requires_grad) t.requires_grad_(true);
  return t;
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, Options);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, Options);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, Options);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Options);

// ---------------- copies ----------------
void copy_(Tensor& dst, const Tensor& src) {
  EMBER_CHECK(dst.shape() == src.shape(), "copy_: destination shape ", dst.shape(), " != source shape ",
              src.shape());
  if (dst.device().is_cpu() && src.device().is_cpu()) {
    EMBER_DISPATCH_ALL(dst.dtype(), "copy_", [&] {
      using D = scalar_t;
      EMBER_DISPATCH_ALL(src.dtype(), "copy_", [&] {
        cpu::copy_strided(dst.data<D>(), dst.strides().data(), src.data<scalar_t>(), src.strides().data(),
                          src.shape().data(), src.dim());
      });
    });
    return;
  }
  backend::cuda_copy(dst, src);
}

void fill_(Tensor& t, double value) {
  if (t.device().is_cuda()) return backend::cuda_fill(t, value);
  EMBER_DISPATCH_ALL(t.dtype(), "fill_", [&] {
    scalar_t v = cpu::convert<scalar_t>(value);
    scalar_t* p = t.data<scalar_t>();
    cpu::for_each_strided<1>(t.shape().data(), t.dim(), {t.strides().data()},
                             [&](const std::array<int64_t, 1>& o) { p[o[0]] = v; });
  });
}

Tensor Tensor::contiguous() const { return ember::contiguous(*this); }
Tensor Tensor::clone() const { return ember::add_scalar(*this, 0.0); }

Tensor Tensor::to(Device d) const {
  if (device() == d) return *this;
  EMBER_CHECK(!requires_grad() || is_leaf() || !grad_mode_enabled(),
              "to(device): moving a non-leaf tensor that requires grad between devices is not "
              "differentiable; move parameters before building the graph");
  Tensor out = empty(shape(), Options(dtype(), d));
  copy_(out, *this);
  return out;
}

Tensor Tensor::to(DType t) const { return dtype() == t ? *this : ember::cast(*this, t); }

double Tensor::item() const {
  EMBER_CHECK(numel() == 1, "item: tensor must hold exactly one element, it has shape ", shape());
  Tensor h = to(Device::cpu()).to(DType::F64).contiguous();
  return *h.data<double>();
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor h = to(Device::cpu()).detach();
  Tensor c = empty(shape(), Options(dtype_of<T>::value));
  copy_(c, h);
  const T* p = c.data<T>();
  return std::vector<T>(p, p + numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

// ---------------- views (differentiable: see engine/ops/shape.cpp) ----------------
Tensor Tensor::view(const Shape& s) const {
  EMBER_CHECK(is_contiguous(), "view: tensor of shape ", shape(), " with strides ", strides(),
              " is not contiguous; use reshape() (which copies) instead");
  return ember::reshape(*this, s);
}
Tensor Tensor::reshape(const Shape& s) const { return ember::reshape(*this, s); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return ember::transpose(*this, d0, d1); }
Tensor Tensor::permute(const Shape& dims) const { return ember::permute(*this, dims); }
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  return ember::narrow(*this, d, start, length);
}
Tensor Tensor::expand(const Shape& s) const { return ember::expand(*this, s); }
Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape();
  s.insert(s.begin() + d, 1);
  return reshape(s);
}
Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape s = shape();
  s.erase(s.begin() + d);
  return reshape(s);
}
Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  Shape s(shape().begin(), shape().begin() + start);
  int64_t n = 1;
  for (int64_t i = start; i <= end; ++i) n *= shape()[i];
  s.push_back(n);
  s.insert(s.end(), shape().begin() + end + 1, shape().end());
  return reshape(s);
}

// ---------------- printing ----------------
namespace {
void print_rec(std::ostringstream& os, const std::vector<double>& v, const Shape& shape, size_t d, int64_t base,
               int max_per_dim, bool integral) {
  int64_t n = shape[d];
  int64_t stride = 1;
  for (size_t i = d + 1; i < shape.size(); ++i) stride *= shape[i];
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (n > max_per_dim && i == max_per_dim / 2) {
      os << "..., ";
      i = n - max_per_dim / 2;
    }
    if (d + 1 == shape.size()) {
      if (integral) os << static_cast<int64_t>(v[base + i]);
      else os << std::setprecision(4) << v[base + i];
    } else {
      if (i) os << "\n" << std::string(d + 1 + 7, ' ');
      print_rec(os, v, shape, d + 1, base + i * stride, max_per_dim, integral);
    }
    if (i + 1 < n) os << ", ";
  }
  os << ']';
}
}  // namespace

std::string Tensor::str(int max_per_dim) const {
  if (!defined()) return "tensor(undefined)";
  std::vector<double> v = to_vector<double>();
  std::ostringstream os;
  os << "tensor(";
  bool integral = !is_floating(dtype());
  if (dim() == 0) os << (integral ? std::to_string(static_cast<int64_t>(v[0])) : detail::str(v[0]));
  else print_rec(os, v, shape(), 0, 0, max_per_dim, integral);
  os << ", shape=" << shape_str(shape()) << ", dtype=" << dtype() << ", device=" << device();
  if (requires_grad()) {
    if (is_leaf()) os << ", requires_grad";
    else os << ", grad_fn=" << grad_fn()->name;
  }
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    char* end = nullptr;
    long i = std::strtol(s.c_str() + 5, &end, 10);
    EMBER_CHECK(end && *end == '\0' && i >= 0, "Device::parse: bad device index in '", s, "'");
    return cuda(static_cast<int>(i));
  }
  EMBER_FAIL("Device::parse: expected 'cpu', 'cuda' or 'cuda:N', got '", s, "'");
}

}  // namespace ember
