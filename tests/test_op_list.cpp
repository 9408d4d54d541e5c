// Every differentiable op in engine/ops.def must have a float64 gradcheck case.
#include <doctest/doctest.h>

#include "tests/gradcheck.h"

using namespace ember;

TEST_CASE("every differentiable op in ops.def has a float64 gradcheck") {
  const auto& covered = test::gradcheck_registry();
  int missing = 0;
  for (const OpInfo& op : op_list()) {
    if (!op.differentiable) continue;
    bool has = covered.count(op.name) > 0;
    if (!has) ++missing;
    INFO("op '", std::string(op.name), "' (family ", std::string(op.family), ") has no GRADCHECK_CASE");
    CHECK(has);
  }
  CHECK(missing == 0);
  CHECK(op_list().size() >= 50);
}
