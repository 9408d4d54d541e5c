// tests/fixtures.h — reading the PyTorch-generated reference files in tests/fixtures/.
// Each file is written by a script in scripts/fixtures/ (run with Debian's /usr/bin/python3,
// which has torch); tensors are stored as {"data": [flat values], "shape": [dims]}.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "engine/tensor.h"

namespace ember::test {

// tests/fixtures/<file>, parsed once per process; a clear test failure naming the script to
// run when the file is missing.
const nlohmann::json& fixture(const std::string& file);
// {"data", "shape"} → float64 CPU tensor (a leaf requiring grad when asked).
Tensor fixture_tensor(const nlohmann::json& j, bool requires_grad = false);
// {"data", "shape"} → int64 CPU tensor (ids, targets, indices).
Tensor fixture_int_tensor(const nlohmann::json& j);
// tests/fixtures/<file> as a path, with a test failure naming the script when it is missing
// (binary fixtures: safetensors files).
std::string fixture_path(const std::string& file);

// got vs want elementwise: |got − want| ≤ rtol·|want| + atol everywhere (same shape required),
// reporting the worst error and how many elements failed.
void expect_close(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what);

}  // namespace ember::test
