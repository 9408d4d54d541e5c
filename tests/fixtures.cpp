// tests/fixtures.cpp — see fixtures.h.
#include "tests/fixtures.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <vector>

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

std::string fixture_path(const std::string& file) {
  std::string path = std::string(EMBER_FIXTURES) + "/" + file;
  std::string script = file.substr(0, file.find('.'));
  script = script.substr(0, script.find('_'));
  REQUIRE_MESSAGE(std::ifstream(path).good(), "missing ", path, "; run /usr/bin/python3 scripts/fixtures/", script,
                  ".py");
  return path;
}

void expect_close(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what) {
  REQUIRE_MESSAGE(got.defined(), what, ": no tensor");
  REQUIRE_MESSAGE(want.defined(), what, ": no reference tensor");
  REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": shape ", shape_str(got.shape()), ", expected ",
                  shape_str(want.shape()));
  std::vector<double> a = got.to(Device::cpu()).to_vector<double>(), b = want.to(Device::cpu()).to_vector<double>();
  double worst = 0;
  size_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::fabs(a[i] - b[i]);
    worst = std::max(worst, err);
    if (!(err <= rtol * std::fabs(b[i]) + atol)) ++bad;
  }
  INFO(what, ": max |got - want| = ", worst, ", ", bad, " of ", a.size(), " elements outside ", rtol, "·|want| + ",
       atol);
  CHECK(bad == 0);
}

}  // namespace ember::test
