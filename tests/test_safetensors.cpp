// test_safetensors.cpp — the safetensors reader and writer: bit-exact round trips of every
// saved dtype, F16 and small-integer widening from hand-built bytes, and one in-memory file
// per way a file can be bad, each giving an ember::Error that names the problem.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "engine/io/safetensors.h"
#include "engine/ops.h"

using namespace ember;
namespace st = ember::safetensors;
namespace fs = std::filesystem;

namespace {

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A file from a header text and data bytes, the length field computed.
std::string st_file(const std::string& header, const std::string& data = "") {
  return u64le(header.size()) + header + data;
}

// One tensor entry, as the header spells it.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b,
                  uint64_t e) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(b) + "," + std::to_string(e) + "]}";
}

// The message of the ember::Error that f throws ("<no error>" if none; other exceptions propagate).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ember::Error& e) {
    return e.what();
  }
  return "<no error>";
}

// Loading `bytes` must fail with a message naming the buffer and containing `phrase`.
void expect_bad(const std::string& bytes, const std::string& phrase) {
  std::string msg = error_of([&] { st::load_from_memory(bytes, "bad.safetensors"); });
  INFO("expected a message containing: ", phrase);
  INFO("got: ", msg);
  CHECK(msg.find(phrase) != std::string::npos);
  CHECK(msg.find("safetensors: bad.safetensors: ") != std::string::npos);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  size_t n = static_cast<size_t>(a.numel()) * dtype_size(a.dtype());
  return n == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), n) == 0;
}

std::string temp_path(const std::string& stem) {
  return (fs::temp_directory_path() / (stem + "_" + std::to_string(::getpid()) + ".safetensors")).string();
}

std::string f16_bytes(const std::vector<uint16_t>& halves) {
  std::string s(2 * halves.size(), '\0');
  for (size_t i = 0; i < halves.size(); ++i) {
    s[2 * i] = static_cast<char>(halves[i] & 0xff);
    s[2 * i + 1] = static_cast<char>(halves[i] >> 8);
  }
  return s;
}

}  // namespace

TEST_CASE("safetensors: round trip of every saved dtype through a file is bit-exact") {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor f32 = from_vector<float>({1.5f, -0.0f, inf, std::nanf(""), 1e-45f, -3.25e7f}, {2, 3});
  Tensor f64 = from_vector<double>({3.141592653589793, -1e-310, 1e300, 0.1}, {4, 1});
  Tensor bf16 = from_vector<float>({1.0f, -2.5f, 0.15625f, 3.0e38f, -0.0f}, {5}, Options(DType::BF16));
  Tensor i32 = from_vector<int32_t>({std::numeric_limits<int32_t>::min(), -1, 0, 7, std::numeric_limits<int32_t>::max(), 42}, {3, 2});
  Tensor i64 = from_vector<int64_t>({std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), -5}, {3});
  Tensor scalar = from_vector<double>({2.5}, {});
  Tensor empty0 = zeros({0, 3});
  Tensor transposed = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);  // (3,2), not contiguous
  Tensor param = from_vector<float>({0.5f, -0.5f}, {2});
  param.requires_grad_(true);

  st::NamedTensors in = {{"fc.weight", f32},   {"bf", bf16},          {"ids", i32},     {"f64.values", f64},
                         {"step", i64},        {"scalar", scalar},    {"empty", empty0}, {"layer.0.t", transposed},
                         {"param", param}};
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "caf\xc3\xa9, \"quoted\""}};

  const std::string path = temp_path("ember_st_roundtrip");
  st::save(path, in, meta);
  CHECK(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".tmp"));
  st::File f = st::load(path);
  fs::remove(path);

  CHECK(f.source == path);
  CHECK(f.metadata == meta);
  REQUIRE(f.tensors.size() == in.size());
  for (const auto& [name, t] : in) {
    INFO("tensor ", name);
    REQUIRE(f.contains(name));
    Tensor got = f.get(name);
    CHECK(got.device() == Device::cpu());
    CHECK(got.is_contiguous());
    CHECK(got.shape() == t.shape());
    CHECK(got.dtype() == t.dtype());
    CHECK(same_bits(got, t.detach()));
  }
  CHECK(f.get("layer.0.t").to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(f.get("step").to_vector<int64_t>()[0] == std::numeric_limits<int64_t>::min());
  CHECK(f.get("bf").to_vector<float>() == std::vector<float>{1.0f, -2.5f, 0.15625f, static_cast<float>(bfloat16(3.0e38f)), -0.0f});
  CHECK(f.get("scalar").dim() == 0);
  CHECK(f.get("scalar").item() == 2.5);
  CHECK(f.get("empty").numel() == 0);

  // Data order: 8-byte types, then 4, then 2, the caller's order within each group.
  std::vector<std::string> order;
  for (const auto& kv : f.tensors) order.push_back(kv.first);
  CHECK(order == std::vector<std::string>{"f64.values", "step", "scalar", "fc.weight", "ids", "empty",
                                          "layer.0.t", "param", "bf"});
}

TEST_CASE("safetensors: saved header is padded, aligned, reference-ordered and reloads from memory") {
  Tensor a = from_vector<float>({1, 2, 3}, {3});
  Tensor b = from_vector<double>({4}, {1});
  Tensor c = from_vector<float>({5}, {1}, Options(DType::BF16));
  std::string bytes = st::save_to_memory({{"a", a}, {"c", c}, {"b", b}}, {{"k", "v"}});

  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(n % 8 == 0);
  CHECK(bytes.size() == 8 + n + 3 * 4 + 8 + 2);
  std::string header = bytes.substr(8, n);
  CHECK(header.rfind("{\"__metadata__\":{\"k\":\"v\"},\"b\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}", 0) == 0);
  CHECK(header.find("\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]}") != std::string::npos);
  CHECK(header.find("\"c\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[20,22]}") != std::string::npos);
  CHECK(header.find_last_not_of(' ') == header.rfind('}'));

  st::File f = st::load_from_memory(bytes);
  CHECK(f.get("a").to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(f.get("b").to_vector<double>() == std::vector<double>{4});
  CHECK(f.get("c").to_vector<float>() == std::vector<float>{5});
  CHECK(f.metadata.at("k") == "v");

  // No tensors, no metadata: still a valid file.
  std::string none = st::save_to_memory({});
  CHECK(none.size() == 16);
  CHECK(st::load_from_memory(none).tensors.empty());
}

TEST_CASE("safetensors: F16 loads as exact float32 values") {
  const float inf = std::numeric_limits<float>::infinity();
  // 1, -2, 65504 (max), 2^-24 (smallest subnormal), 1023·2^-24 (largest subnormal),
  // 2^-14 (smallest normal), +inf, -inf, NaN, -0, 0.333251953125 (nearest half to 1/3).
  std::vector<uint16_t> halves = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x7C00, 0xFC00, 0x7E00, 0x8000, 0x3555};
  std::string bytes = st_file("{" + entry("h", "F16", "[11]", 0, 22) + "}", f16_bytes(halves));
  st::File f = st::load_from_memory(bytes);
  Tensor h = f.get("h");
  CHECK(h.dtype() == DType::F32);
  CHECK(h.shape() == Shape{11});
  std::vector<float> v = h.to_vector<float>();
  CHECK(v[0] == 1.0f);
  CHECK(v[1] == -2.0f);
  CHECK(v[2] == 65504.0f);
  CHECK(v[3] == std::ldexp(1.0f, -24));
  CHECK(v[3] == 5.9604644775390625e-08f);
  CHECK(v[4] == std::ldexp(1023.0f, -24));
  CHECK(v[5] == std::ldexp(1.0f, -14));
  CHECK(v[6] == inf);
  CHECK(v[7] == -inf);
  CHECK(std::isnan(v[8]));
  CHECK(v[9] == 0.0f);
  CHECK(std::signbit(v[9]));
  CHECK(v[10] == 0.333251953125f);

  // Every half converts to the float of the same value: check all normals against ldexp.
  for (uint32_t bits = 0x0400; bits < 0x7C00; bits += 37) {
    float expected = std::ldexp(static_cast<float>(1024 + (bits & 0x3ff)), static_cast<int>(bits >> 10) - 25);
    REQUIRE(st::half_to_float(static_cast<uint16_t>(bits)) == expected);
    REQUIRE(st::half_to_float(static_cast<uint16_t>(bits | 0x8000)) == -expected);
  }
}

TEST_CASE("safetensors: I16, I8, U8 and BOOL widen to int32") {
  std::string data;
  for (int16_t v : {int16_t(-32768), int16_t(32767), int16_t(-1)}) data.append(reinterpret_cast<const char*>(&v), 2);
  data += std::string("\x80\x7f\xff", 3);   // I8: -128, 127, -1
  data += std::string("\x00\xff\x01", 3);   // U8: 0, 255, 1
  data += std::string("\x00\x01\x01\x00", 4);  // BOOL
  std::string header = "{" + entry("s", "I16", "[3]", 0, 6) + "," + entry("b", "I8", "[3]", 6, 9) + "," +
                       entry("u", "U8", "[1,3]", 9, 12) + "," + entry("m", "BOOL", "[2,2]", 12, 16) + "}";
  st::File f = st::load_from_memory(st_file(header, data));
  for (const char* name : {"s", "b", "u", "m"}) CHECK(f.get(name).dtype() == DType::I32);
  CHECK(f.get("s").to_vector<int32_t>() == std::vector<int32_t>{-32768, 32767, -1});
  CHECK(f.get("b").to_vector<int32_t>() == std::vector<int32_t>{-128, 127, -1});
  CHECK(f.get("u").to_vector<int32_t>() == std::vector<int32_t>{0, 255, 1});
  CHECK(f.get("u").shape() == Shape{1, 3});
  CHECK(f.get("m").to_vector<int32_t>() == std::vector<int32_t>{0, 1, 1, 0});
}

TEST_CASE("safetensors: gaps, trailing bytes and empty tensors are allowed") {
  std::string data(20, '\0');
  float one = 1.0f, two = 2.0f;
  std::memcpy(&data[4], &one, 4);
  std::memcpy(&data[12], &two, 4);
  std::string header = "{" + entry("x", "F32", "[1]", 4, 8) + "," + entry("y", "F32", "[]", 12, 16) + "," +
                       entry("e", "F32", "[0,5]", 6, 6) + ",\"__metadata__\":{}}";
  st::File f = st::load_from_memory(st_file(header, data));
  CHECK(f.get("x").item() == 1.0);
  CHECK(f.get("y").item() == 2.0);
  CHECK(f.get("e").shape() == Shape{0, 5});
  CHECK(f.metadata.empty());
}

TEST_CASE("safetensors: bad length field or header is rejected") {
  expect_bad("", "file is 0 bytes, shorter than the 8-byte header length");
  expect_bad(std::string(7, '\0'), "file is 7 bytes, shorter than the 8-byte header length");
  expect_bad(u64le(1000) + "{}", "header length 1000 is larger than the 2 bytes after the length field");
  expect_bad(u64le(200ull << 20) + "{}", "header length 209715200 exceeds the 100 MiB limit");
  expect_bad(u64le(~0ull) + "{}", "exceeds the 100 MiB limit");
  expect_bad(st_file("{not json"), "header is not valid JSON");
  expect_bad(st_file("{\"a\":\"\xff\xfe\"}"), "header is not valid JSON");  // ill-formed UTF-8
  expect_bad(st_file(""), "header is not valid JSON");
  expect_bad(st_file("[1,2]"), "header is not a JSON object, found [1,2]");
  expect_bad(st_file("{\"__metadata__\":[1]}"), "__metadata__ must be an object of string to string");
  expect_bad(st_file("{\"__metadata__\":{\"k\":3}}"), "key 'k' holds 3");
}

TEST_CASE("safetensors: bad tensor entries are rejected with the tensor's name") {
  const std::string d(64, '\0');
  expect_bad(st_file("{\"w\":3}", d), "tensor 'w' must be a JSON object");
  expect_bad(st_file("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", d), "tensor 'w' is missing \"dtype\"");
  expect_bad(st_file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", d), "tensor 'w' is missing \"shape\"");
  expect_bad(st_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", d), "tensor 'w' is missing \"data_offsets\"");
  expect_bad(st_file("{\"w\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", d),
             "tensor 'w' has \"dtype\" that is not a string");
  expect_bad(st_file("{" + entry("w", "F8", "[1]", 0, 1) + "}", d), "tensor 'w' has unknown dtype \"F8\"");
  expect_bad(st_file("{" + entry("w", "f32", "[1]", 0, 4) + "}", d), "unknown dtype");
  expect_bad(st_file("{" + entry("w", "F32", "3", 0, 12) + "}", d), "tensor 'w' has \"shape\" that is not an array");
  expect_bad(st_file("{" + entry("w", "F32", "[2.5]", 0, 12) + "}", d), "\"shape\" that is not an array of integers");
  expect_bad(st_file("{" + entry("w", "F32", "[\"2\"]", 0, 8) + "}", d), "\"shape\" that is not an array of integers");
  expect_bad(st_file("{" + entry("w", "F32", "[2,-3]", 0, 24) + "}", d), "tensor 'w' has a negative dimension");
  expect_bad(st_file("{" + entry("w", "F32", "[1099511627776,1099511627776]", 0, 4) + "}", d),
             "element count overflows int64");
  expect_bad(st_file("{" + entry("w", "F32", "[18446744073709551615]", 0, 4) + "}", d), "does not fit int64");
  expect_bad(st_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", d),
             "tensor 'w' has \"data_offsets\" that is not [begin, end]");
  expect_bad(st_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", d),
             "\"data_offsets\" that is not [begin, end] of non-negative integers");
  expect_bad(st_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0-4\"}}", d),
             "\"data_offsets\" that is not [begin, end]");
  expect_bad(st_file("{" + entry("w", "F32", "[1]", 8, 4) + "}", d), "tensor 'w' has data_offsets [8, 4] with begin > end");
  expect_bad(st_file("{" + entry("w", "F32", "[20]", 0, 80) + "}", d),
             "tensor 'w' has data_offsets [0, 80] that end beyond the data buffer of 64 bytes");
  expect_bad(st_file("{" + entry("fc.weight", "F32", "[10,20]", 0, 100) + "}", std::string(800, '\0')),
             "tensor 'fc.weight' has data_offsets [0, 100] but shape [10, 20] of F32 needs 800 bytes");
  expect_bad(st_file("{" + entry("a", "F32", "[4]", 0, 16) + "," + entry("b", "F32", "[2]", 8, 16) + "}", d),
             "tensor 'b' has data_offsets [8, 16] that overlap tensor 'a' at [0, 16]");
  expect_bad(st_file("{" + entry("a", "I64", "[2]", 16, 32) + "," + entry("b", "F32", "[4]", 0, 16) + "," +
                     entry("c", "BF16", "[2]", 30, 34) + "}", d),
             "tensor 'c' has data_offsets [30, 34] that overlap tensor 'a' at [16, 32]");
}

TEST_CASE("safetensors: a header claiming a 2^60-byte tensor in a tiny file fails before allocating") {
  const std::string d(16, '\0');
  // Range past the buffer: rejected against the 16 real bytes, never allocated.
  expect_bad(st_file("{" + entry("huge", "F32", "[288230376151711744]", 0, 1ull << 60) + "}", d),
             "tensor 'huge' has data_offsets [0, 1152921504606846976] that end beyond the data buffer of 16 bytes");
  // Range inside the buffer, shape claiming 2^60 elements: the size check catches it.
  expect_bad(st_file("{" + entry("huge", "F32", "[1152921504606846976]", 0, 8) + "}", d),
             "shape [1152921504606846976] of F32 needs 4611686018427387904 bytes");
  // 2^62 doubles need 2^65 bytes: the byte count itself would overflow.
  expect_bad(st_file("{" + entry("huge", "F64", "[4611686018427387904]", 0, 8) + "}", d),
             "of F64 needs more than 2^64 bytes");
}

TEST_CASE("safetensors: truncated and missing files on disk") {
  std::string good = st::save_to_memory({{"w", from_vector<float>({1, 2, 3, 4}, {2, 2})}});
  expect_bad(good.substr(0, good.size() - 4), "tensor 'w' has data_offsets [0, 16] that end beyond the data buffer of 12 bytes");

  const std::string path = temp_path("ember_st_truncated");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(good.data(), static_cast<std::streamsize>(good.size() - 4));
  }
  std::string msg = error_of([&] { st::load(path); });
  fs::remove(path);
  INFO(msg);
  CHECK(msg.find("safetensors: " + path + ": tensor 'w'") != std::string::npos);
  CHECK(msg.find("end beyond the data buffer") != std::string::npos);

  msg = error_of([] { st::load("/nonexistent/ember/model.safetensors"); });
  CHECK(msg.find("safetensors: cannot read /nonexistent/ember/model.safetensors") != std::string::npos);
}

TEST_CASE("safetensors: get names the missing tensor and the closest ones") {
  st::File f = st::load_from_memory(st::save_to_memory({{"fc.weight", zeros({2})}, {"fc.bias", zeros({2})},
                                                       {"conv1.weight", zeros({1})}}),
                                    "model.safetensors");
  CHECK(f.contains("fc.bias"));
  CHECK_FALSE(f.contains("fc.wieght"));
  std::string msg = error_of([&] { f.get("fc.wieght"); });
  INFO(msg);
  CHECK(msg.find("safetensors: model.safetensors: no tensor named 'fc.wieght'; the file holds 3 tensors") !=
        std::string::npos);
  CHECK(msg.find("closest: 'fc.weight', 'fc.bias'") != std::string::npos);
}

TEST_CASE("safetensors: save rejects bad input and leaves no temp file") {
  Tensor t = zeros({2});
  CHECK(error_of([&] { st::save_to_memory({{"a", t}, {"a", t}}); }).find("tensor name 'a' appears twice") !=
        std::string::npos);
  CHECK(error_of([&] { st::save_to_memory({{"__metadata__", t}}); }).find("'__metadata__' is reserved") !=
        std::string::npos);
  CHECK(error_of([&] { st::save_to_memory({{"u", Tensor()}}); }).find("tensor 'u' is undefined") != std::string::npos);

  const std::string bad_dir = "/nonexistent_ember_dir/model.safetensors";
  CHECK(error_of([&] { st::save(bad_dir, {{"a", t}}); }).find("cannot open " + bad_dir + ".tmp") != std::string::npos);
  CHECK_FALSE(fs::exists(bad_dir + ".tmp"));

  // Overwriting an existing file replaces it whole.
  const std::string path = temp_path("ember_st_overwrite");
  st::save(path, {{"a", from_vector<float>({1, 2}, {2})}});
  st::save(path, {{"b", from_vector<int64_t>({7}, {1})}});
  st::File f = st::load(path);
  fs::remove(path);
  CHECK_FALSE(f.contains("a"));
  CHECK(f.get("b").to_vector<int64_t>() == std::vector<int64_t>{7});
}
