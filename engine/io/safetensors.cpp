// safetensors.cpp — the safetensors reader and writer (format and dtype rules: safetensors.h).
//
// Loading runs in three steps so that nothing a file claims is believed before it is checked:
//   1. the 8-byte header length against the file's real size (and a 100 MiB cap);
//   2. the JSON header: every entry's types, dtype, shape (no overflow), byte range (inside the
//      data buffer, exactly numel × element size, no two ranges overlapping);
//   3. only then allocate each tensor and copy (or widen) its bytes.
// Every allocation in step 3 is bounded by the bytes the file really holds (× 4 at most, for
// I8/U8/BOOL widened to int32). From a file, only the header is read before validation; each
// tensor is then read straight into its own storage, so a model is never held twice.
//
// Saving follows the reference implementation (huggingface/safetensors): tensors are laid out
// by element size, 8-byte types first, then 4, then 2 (the caller's order within each group),
// so every tensor is naturally aligned with no gaps; the header lists "__metadata__" first, then
// the tensors in data order, and is padded with spaces to a multiple of 8 bytes.
#include "engine/io/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

namespace ember::safetensors {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian and is copied as is; a big-endian host needs byte swaps");

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit too

// ---------------- dtypes ----------------

// A dtype as the file names it, and the ember dtype it loads as.
struct FileType {
  const char* name;
  size_t size;     // bytes per element in the file
  DType loads_as;  // F16 widens to F32; I16/I8/U8/BOOL widen to I32
};

constexpr FileType kFileTypes[] = {
    {"F64", 8, DType::F64}, {"I64", 8, DType::I64}, {"F32", 4, DType::F32}, {"I32", 4, DType::I32},
    {"BF16", 2, DType::BF16}, {"F16", 2, DType::F32}, {"I16", 2, DType::I32}, {"I8", 1, DType::I32},
    {"U8", 1, DType::I32}, {"BOOL", 1, DType::I32},
};

const FileType* find_file_type(const std::string& name) {
  for (const FileType& t : kFileTypes)
    if (name == t.name) return &t;
  return nullptr;
}

const char* file_type_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
  }
  EMBER_FAIL("safetensors: no file dtype for ", t);
}

std::string known_type_names() {
  std::string s;
  for (const FileType& t : kFileTypes) s += std::string(s.empty() ? "" : ", ") + t.name;
  return s;
}

// ---------------- header parsing (step 2) ----------------

struct Entry {
  std::string name;
  const FileType* type = nullptr;
  Shape shape;
  int64_t numel = 1;
  uint64_t begin = 0, end = 0;  // within the data buffer
};

struct Header {
  std::vector<Entry> entries;  // sorted by begin
  std::map<std::string, std::string> metadata;
};

// A JSON value as it would appear in a message, cut short: a hostile header can be 100 MiB.
std::string brief(const json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

std::string range_str(uint64_t b, uint64_t e) { return "[" + std::to_string(b) + ", " + std::to_string(e) + "]"; }

const json& field(const json& entry, const char* key, const std::string& what, const std::string& name) {
  auto it = entry.find(key);
  EMBER_CHECK(it != entry.end(), "safetensors: ", what, ": tensor '", name, "' is missing \"", key, "\" (found ",
              brief(entry), ")");
  return *it;
}

Shape parse_shape(const json& v, const std::string& what, const std::string& name, int64_t* numel) {
  EMBER_CHECK(v.is_array(), "safetensors: ", what, ": tensor '", name,
              "' has \"shape\" that is not an array of integers: ", brief(v));
  Shape shape;
  int64_t n = 1;
  for (const json& d : v) {
    EMBER_CHECK(!d.is_number_integer() || d.is_number_unsigned(), "safetensors: ", what, ": tensor '", name,
                "' has a negative dimension in shape ", brief(v));
    EMBER_CHECK(d.is_number_unsigned(), "safetensors: ", what, ": tensor '", name,
                "' has \"shape\" that is not an array of integers: ", brief(v));
    uint64_t u = d.get<uint64_t>();
    EMBER_CHECK(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), "safetensors: ", what,
                ": tensor '", name, "' has dimension ", u, " that does not fit int64 in shape ", brief(v));
    int64_t dim = static_cast<int64_t>(u);
    EMBER_CHECK(!__builtin_mul_overflow(n, dim, &n), "safetensors: ", what, ": tensor '", name, "' has shape ",
                brief(v), " whose element count overflows int64");
    shape.push_back(dim);
  }
  *numel = n;
  return shape;
}

// One tensor's entry: types, dtype, shape, and a byte range that fits `data_size` exactly.
Entry parse_entry(const std::string& name, const json& v, uint64_t data_size, const std::string& what) {
  EMBER_CHECK(v.is_object(), "safetensors: ", what, ": tensor '", name,
              "' must be a JSON object with dtype, shape and data_offsets, found ", brief(v));
  Entry e;
  e.name = name;
  const json& dt = field(v, "dtype", what, name);
  EMBER_CHECK(dt.is_string(), "safetensors: ", what, ": tensor '", name, "' has \"dtype\" that is not a string: ",
              brief(dt));
  e.type = find_file_type(dt.get<std::string>());
  EMBER_CHECK(e.type != nullptr, "safetensors: ", what, ": tensor '", name, "' has unknown dtype ", brief(dt),
              " (expected one of ", known_type_names(), ")");
  e.shape = parse_shape(field(v, "shape", what, name), what, name, &e.numel);

  const json& off = field(v, "data_offsets", what, name);
  EMBER_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
              "safetensors: ", what, ": tensor '", name,
              "' has \"data_offsets\" that is not [begin, end] of non-negative integers: ", brief(off));
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  EMBER_CHECK(e.begin <= e.end, "safetensors: ", what, ": tensor '", name, "' has data_offsets ",
              range_str(e.begin, e.end), " with begin > end");
  EMBER_CHECK(e.end <= data_size, "safetensors: ", what, ": tensor '", name, "' has data_offsets ",
              range_str(e.begin, e.end), " that end beyond the data buffer of ", data_size, " bytes");
  uint64_t need = 0;
  bool overflow = __builtin_mul_overflow(static_cast<uint64_t>(e.numel), e.type->size, &need);
  EMBER_CHECK(!overflow && e.end - e.begin == need, "safetensors: ", what, ": tensor '", name,
              "' has data_offsets ", range_str(e.begin, e.end), " but shape ", e.shape, " of ", e.type->name,
              " needs ", overflow ? std::string("more than 2^64") : std::to_string(need), " bytes");
  return e;
}

std::map<std::string, std::string> parse_metadata(const json& v, const std::string& what) {
  EMBER_CHECK(v.is_object(), "safetensors: ", what, ": __metadata__ must be an object of string to string, found ",
              brief(v));
  std::map<std::string, std::string> m;
  for (auto it = v.begin(); it != v.end(); ++it) {
    EMBER_CHECK(it.value().is_string(), "safetensors: ", what, ": __metadata__ must be an object of string to ",
                "string, but key '", it.key(), "' holds ", brief(it.value()));
    m[it.key()] = it.value().get<std::string>();
  }
  return m;
}

// Parses and validates the whole header against the data buffer's size. Allocates nothing
// beyond the parsed JSON itself (bounded by the 100 MiB header cap).
Header parse_header(const std::string& text, uint64_t data_size, const std::string& what) {
  json root;
  try {
    root = json::parse(text);  // rejects ill-formed UTF-8 too; trailing space padding is whitespace
  } catch (const json::exception& ex) {
    std::string why = ex.what();  // can quote the offending token: keep it short
    if (why.size() > 200) why = why.substr(0, 197) + "...";
    EMBER_FAIL("safetensors: ", what, ": header is not valid JSON: ", why);
  }
  EMBER_CHECK(root.is_object(), "safetensors: ", what, ": header is not a JSON object, found ", brief(root));
  // Duplicate names cannot be detected here: the JSON parser keeps the last one.
  Header h;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      h.metadata = parse_metadata(it.value(), what);
    } else {
      h.entries.push_back(parse_entry(it.key(), it.value(), data_size, what));
    }
  }
  std::sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Non-empty ranges must not overlap (empty tensors own no bytes). Gaps, and bytes left
  // over at the end of the buffer, are allowed: the reference writer never makes them, but
  // they are harmless to us since every tensor is copied out on its own.
  const Entry* prev = nullptr;
  for (const Entry& e : h.entries) {
    if (e.begin == e.end) continue;
    EMBER_CHECK(prev == nullptr || e.begin >= prev->end, "safetensors: ", what, ": tensor '", e.name,
                "' has data_offsets ", range_str(e.begin, e.end), " that overlap tensor '", prev->name, "' at ",
                range_str(prev->begin, prev->end));
    prev = &e;
  }
  return h;
}

// ---------------- tensors (step 3) ----------------

// Copies n bytes starting at `offset` in the data buffer into dst.
using ReadFn = std::function<void(uint64_t offset, uint64_t n, char* dst)>;

template <class Src>
void widen_to_i32(const char* src, int32_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    Src v;
    std::memcpy(&v, src + i * static_cast<int64_t>(sizeof(Src)), sizeof(Src));
    dst[i] = static_cast<int32_t>(v);
  }
}

Tensor read_tensor(const Entry& e, const ReadFn& read) {
  Tensor t = empty(e.shape, Options(e.type->loads_as));
  uint64_t nbytes = e.end - e.begin;
  if (nbytes == 0) return t;
  const std::string name = e.type->name;
  if (e.type->size == dtype_size(e.type->loads_as)) {  // same layout: straight into storage
    read(e.begin, nbytes, static_cast<char*>(t.raw_data()));
    return t;
  }
  std::vector<char> raw(nbytes);  // ≤ the file's own size
  read(e.begin, nbytes, raw.data());
  if (name == "F16") {
    float* out = t.data<float>();
    for (int64_t i = 0; i < e.numel; ++i) {
      uint16_t h;
      std::memcpy(&h, raw.data() + 2 * i, 2);
      out[i] = half_to_float(h);
    }
  } else if (name == "I16") {
    widen_to_i32<int16_t>(raw.data(), t.data<int32_t>(), e.numel);
  } else if (name == "I8") {
    widen_to_i32<int8_t>(raw.data(), t.data<int32_t>(), e.numel);
  } else if (name == "U8") {
    widen_to_i32<uint8_t>(raw.data(), t.data<int32_t>(), e.numel);
  } else if (name == "BOOL") {
    int32_t* out = t.data<int32_t>();
    for (int64_t i = 0; i < e.numel; ++i) out[i] = raw[i] != 0;
  } else {
    EMBER_FAIL("safetensors: no conversion from ", name, " to ", e.type->loads_as);
  }
  return t;
}

File build_file(Header&& h, const ReadFn& read, const std::string& what) {
  File f;
  f.source = what;
  f.metadata = std::move(h.metadata);
  f.tensors.reserve(h.entries.size());
  for (const Entry& e : h.entries) f.tensors.emplace_back(e.name, read_tensor(e, read));
  return f;
}

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Step 1: the header length against the total size.
void check_header_length(uint64_t total, uint64_t n, const std::string& what) {
  EMBER_CHECK(n <= kMaxHeaderBytes, "safetensors: ", what, ": header length ", n,
              " exceeds the 100 MiB limit (", kMaxHeaderBytes, " bytes)");
  EMBER_CHECK(n <= total - 8, "safetensors: ", what, ": header length ", n, " is larger than the ", total - 8,
              " bytes after the length field (file is ", total, " bytes)");
}

void check_min_size(uint64_t total, const std::string& what) {
  EMBER_CHECK(total >= 8, "safetensors: ", what, ": file is ", total,
              " bytes, shorter than the 8-byte header length");
}

// ---------------- saving ----------------

struct Plan {
  std::string header;                                    // padded JSON
  std::vector<std::pair<std::string, Tensor>> ordered;   // contiguous CPU tensors, in data order
};

Plan plan_save(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  Plan p;
  for (const auto& [name, t] : tensors) {
    EMBER_CHECK(name != "__metadata__", "safetensors: save: '__metadata__' is reserved and cannot name a tensor");
    EMBER_CHECK(seen.insert(name).second, "safetensors: save: tensor name '", name, "' appears twice");
    EMBER_CHECK(t.defined(), "safetensors: save: tensor '", name, "' is undefined");
    p.ordered.emplace_back(name, t.detach().to(Device::cpu()).contiguous());
  }
  // 8-byte types, then 4, then 2: every tensor starts aligned to its element size.
  std::stable_sort(p.ordered.begin(), p.ordered.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second.dtype()) > dtype_size(b.second.dtype());
  });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : p.ordered) {
    uint64_t nbytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", file_type_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  p.header = header.dump();
  p.header.append((8 - p.header.size() % 8) % 8, ' ');
  return p;
}

void write_plan(const Plan& p, std::ostream& os) {
  char len[8];
  uint64_t n = p.header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  os.write(len, 8);
  os.write(p.header.data(), static_cast<std::streamsize>(p.header.size()));
  for (const auto& [name, t] : p.ordered) {
    size_t nbytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
    if (nbytes) os.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(nbytes));
  }
}

// Similarity of two tensor names for "did you mean": the longer of their common prefix and
// common suffix ("encoder.layer.3.output.bias" is close to "encoder.layer.3.output.weight").
size_t name_similarity(const std::string& a, const std::string& b) {
  size_t pre = 0, suf = 0, n = std::min(a.size(), b.size());
  while (pre < n && a[pre] == b[pre]) ++pre;
  while (suf < n && a[a.size() - 1 - suf] == b[b.size() - 1 - suf]) ++suf;
  return std::max(pre, suf);
}

}  // namespace

// ---------------- public API ----------------

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h >> 15) << 31;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {  // zero or subnormal: mant × 2^-24, exact in float
    float mag = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -mag : mag;
  } else if (exp == 0x1f) {  // inf, or NaN with its payload kept
    bits = sign | 0x7f800000u | (mant << 13);
  } else {  // normal: rebias the exponent 15 → 127
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

bool File::contains(const std::string& name) const {
  for (const auto& kv : tensors)
    if (kv.first == name) return true;
  return false;
}

Tensor File::get(const std::string& name) const {
  for (const auto& kv : tensors)
    if (kv.first == name) return kv.second;
  std::vector<const std::string*> names;
  for (const auto& kv : tensors) names.push_back(&kv.first);
  std::stable_sort(names.begin(), names.end(), [&](const std::string* a, const std::string* b) {
    return name_similarity(*a, name) > name_similarity(*b, name);
  });
  std::string closest;
  for (size_t i = 0; i < names.size() && i < 5; ++i) closest += (i ? ", '" : "'") + *names[i] + "'";
  EMBER_FAIL("safetensors: ", source, ": no tensor named '", name, "'; the file holds ", tensors.size(),
             " tensors", names.empty() ? "" : ", closest: ", closest);
}

File load_from_memory(const std::string& bytes, const std::string& what) {
  uint64_t total = bytes.size();
  check_min_size(total, what);
  uint64_t n = read_u64_le(bytes.data());
  check_header_length(total, n, what);
  Header h = parse_header(bytes.substr(8, n), total - 8 - n, what);
  const char* data = bytes.data() + 8 + n;
  return build_file(std::move(h), [data](uint64_t off, uint64_t len, char* dst) { std::memcpy(dst, data + off, len); },
                    what);
}

File load(const std::string& path) {
  std::error_code ec;
  uint64_t total = fs::file_size(path, ec);
  EMBER_CHECK(!ec, "safetensors: cannot read ", path, ": ", ec.message());
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(in.good(), "safetensors: cannot open ", path);
  check_min_size(total, path);
  char len[8];
  in.read(len, 8);
  EMBER_CHECK(in.gcount() == 8, "safetensors: ", path, ": could not read the 8-byte header length");
  uint64_t n = read_u64_le(len);
  check_header_length(total, n, path);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  EMBER_CHECK(static_cast<uint64_t>(in.gcount()) == n, "safetensors: ", path, ": file ended inside the ", n,
              "-byte header (did it change while being read?)");
  Header h = parse_header(text, total - 8 - n, path);
  uint64_t data_start = 8 + n;
  ReadFn read = [&in, &path, data_start](uint64_t off, uint64_t len, char* dst) {
    in.seekg(static_cast<std::streamoff>(data_start + off));
    in.read(dst, static_cast<std::streamsize>(len));
    EMBER_CHECK(in.good() && static_cast<uint64_t>(in.gcount()) == len, "safetensors: ", path,
                ": could not read ", len, " bytes at data offset ", off, " (did the file change while being read?)");
  };
  return build_file(std::move(h), read, path);
}

std::string save_to_memory(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  Plan p = plan_save(tensors, metadata);
  std::ostringstream os(std::ios::binary);
  write_plan(p, os);
  return os.str();
}

void save(const std::string& path, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  Plan p = plan_save(tensors, metadata);  // every check before the disk is touched
  const std::string tmp = path + ".tmp";
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    EMBER_CHECK(out.good(), "safetensors: cannot open ", tmp, " for writing");
    write_plan(p, out);
    out.close();
    EMBER_CHECK(!out.fail(), "safetensors: writing ", tmp, " failed (disk full?)");
    std::error_code ec;
    fs::rename(tmp, path, ec);
    EMBER_CHECK(!ec, "safetensors: cannot rename ", tmp, " to ", path, ": ", ec.message());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace ember::safetensors
