// tests/test_image_io.cpp — apps/common/image_io (classify's decode path): a valid PPM/PGM decodes
// to the right floats; truncated, hostile and oversized headers are refused with a clear error
// before stb_image allocates or overflows. Inputs found by tests/fuzz/fuzz_image are kept here.
#include <doctest/doctest.h>

#include "apps/common/image_io.h"
#include "tests/test_util.h"

using namespace ember;

TEST_CASE("image_io: a 2x1 PPM and a PGM decode to planar RGB floats in [0, 1]") {
  app::Image im = app::decode_image(std::string("P6\n2 1\n255\n") + std::string("\xff\x00\x33\x00\x80\xff", 6), "rgb");
  CHECK(im.width == 2);
  CHECK(im.height == 1);
  REQUIRE(im.pixels.shape() == Shape{1, 3, 1, 2});
  const float* p = im.pixels.data<float>();
  CHECK(p[0] == doctest::Approx(1.0));           // R of pixel 0
  CHECK(p[1] == doctest::Approx(0.0));           // R of pixel 1
  CHECK(p[2] == doctest::Approx(0.0));           // G of pixel 0
  CHECK(p[3] == doctest::Approx(128 / 255.0));   // G of pixel 1
  CHECK(p[4] == doctest::Approx(0.2));           // B of pixel 0
  CHECK(p[5] == doctest::Approx(1.0));           // B of pixel 1
  app::Image grey = app::decode_image(std::string("P5\n# a comment\n1 1\n255\n\x40", 24), "grey");
  CHECK(grey.pixels.data<float>()[0] == doctest::Approx(64 / 255.0));
  CHECK(grey.pixels.data<float>()[2] == doctest::Approx(64 / 255.0));  // grey copied to all three
}

TEST_CASE("image_io: hostile and broken files are refused with one clear error") {
  // fuzz_image finding: a PNM width of 30 digits overflowed stb_image's int (UBSan), now refused first.
  test::expect_error([] { app::decode_image(std::string("P5\n2 4444444444444444444444444444\xc0\x32\n\xad\xfd", 34), "f"); },
                     "a PNM header number of 28 digits");
  // fuzz_image finding: 54 digits straight after the magic overflowed ember's own header check (UBSan).
  test::expect_error([] { app::decode_image("P5" + std::string(53, '5') + "6\n2 1\x0e\xff", "f"); },
                     "a PNM header number of 54 digits");
  // fuzz_image finding: a 16-bit PGM overflowed a heap buffer inside Debian's stb 2.27 (ASan).
  test::expect_error([] { app::decode_image(std::string("P5\n2 2\n925\n\xeb\x06\x76\x32\x00\x40\x80\xff", 19), "f"); },
                     "a 16-bit PNM (maxval 925)");
  test::expect_error([] { app::decode_image("P6\n99999 99999\n255\n", "huge"); }, "ember decodes at most");
  // Debian's stb 2.27 "decodes" a truncated PNM with the missing pixels uninitialised: refused first.
  test::expect_error([] { app::decode_image("P6\n4 4\n255\n\x01\x02", "short"); },
                     "the PNM header says 4 x 4 pixels (48 bytes) but the file holds 2 (truncated)");
  test::expect_error([] { app::decode_image("not an image", "text"); }, "cannot read image 'text'");
  test::expect_error([] { app::decode_image("", "empty"); }, "cannot read image 'empty'");
  test::expect_error([] { app::read_image("/nonexistent/x.png"); }, "does not exist");
}
