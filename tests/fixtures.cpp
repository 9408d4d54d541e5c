// tests/fixtures.cpp — see fixtures.h.
#include "tests/fixtures.h"

#include <doctest/doctest.h>

#include <fstream>
#include <map>

namespace ember::test {

const nlohmann::json& fixture(const std::string& file) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(file);
  if (it != cache.end()) return it->second;
  std::string path = std::string(EMBER_FIXTURES) + "/" + file;
  std::ifstream f(path);
  std::string script = file.substr(0, file.rfind('.')) + ".py";
  REQUIRE_MESSAGE(f.good(), "missing ", path, "; run /usr/bin/python3 scripts/fixtures/", script);
  return cache.emplace(file, nlohmann::json::parse(f)).first->second;
}

Tensor fixture_tensor(const nlohmann::json& j, bool requires_grad) {
  Tensor t = from_vector(j.at("data").get<std::vector<double>>(), j.at("shape").get<Shape>());
  if (requires_grad) t.requires_grad_(true);
  return t;
}

Tensor fixture_int_tensor(const nlohmann::json& j) {
  return from_vector(j.at("data").get<std::vector<int64_t>>(), j.at("shape").get<Shape>());
}

}  // namespace ember::test
