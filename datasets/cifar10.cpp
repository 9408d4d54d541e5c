// cifar10.cpp — CIFAR-10 binary batches: size checks first, then one read per file, split into
// labels and CHW pixel planes.
#include "datasets/cifar10.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace ember::datasets {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kImageBytes = kCifarRecordBytes - 1;  // 3072 = 3 × 32 × 32

std::vector<std::string> split_file_names(bool train) {
  if (!train) return {"test_batch.bin"};
  std::vector<std::string> names;
  for (int b = 1; b <= 5; ++b) names.push_back("data_batch_" + std::to_string(b) + ".bin");
  return names;
}

// Number of records in the file at `path`, after checking its size.
int64_t record_count(const std::string& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  EMBER_CHECK(!ec, "cifar10: cannot read ", path, ": ", ec.message());
  EMBER_CHECK(size > 0 && size % kCifarRecordBytes == 0, "cifar10: ", path, " is ", size,
              " bytes, expected a non-zero multiple of ", kCifarRecordBytes, " (1 label byte + 3072 pixel bytes per record; ",
              size / kCifarRecordBytes, " whole records and ", size % kCifarRecordBytes, " bytes left over)");
  return static_cast<int64_t>(size / kCifarRecordBytes);
}

}  // namespace

void read_cifar10_batch(const std::string& path, ImageSet& set) {
  const int64_t records = record_count(path);
  EMBER_CHECK(set.n == 0 || (set.c == 3 && set.h == 32 && set.w == 32), "cifar10: cannot append ", path,
              " to an ImageSet of ", set.c, "x", set.h, "x", set.w, " images");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  EMBER_CHECK(f != nullptr, "cifar10: cannot open ", path);
  std::vector<uint8_t> buf(static_cast<size_t>(records * kCifarRecordBytes));
  const size_t got = std::fread(buf.data(), 1, buf.size(), f);
  std::fclose(f);
  EMBER_CHECK(got == buf.size(), "cifar10: ", path, ": read ", got, " of ", buf.size(), " bytes");

  const size_t base = set.pixels.size();
  set.pixels.resize(base + static_cast<size_t>(records * kImageBytes));
  set.labels.reserve(set.labels.size() + records);
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* rec = buf.data() + r * kCifarRecordBytes;
    EMBER_CHECK(rec[0] < 10, "cifar10: ", path, ": record ", r, " (byte offset ", r * kCifarRecordBytes,
                ") has label ", int(rec[0]), "; labels are 0..9 — is this the binary version?");
    set.labels.push_back(rec[0]);
    std::copy(rec + 1, rec + kCifarRecordBytes, set.pixels.begin() + base + r * kImageBytes);
  }
  set.n += records;
  set.c = 3;
  set.h = 32;
  set.w = 32;
}

ImageSet load_cifar10(const std::string& dir, bool train) {
  const std::vector<std::string> names = split_file_names(train);
  std::vector<std::string> paths, missing;
  for (const auto& name : names) {
    const fs::path p = fs::path(dir) / name;
    (fs::is_regular_file(p) ? paths : missing).push_back(p.string());
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + fs::path(m).filename().string();
    EMBER_FAIL("load_cifar10: ", dir, " lacks ", list, " (expected the cifar-10-batches-bin files: ",
               train ? "data_batch_1.bin .. data_batch_5.bin" : "test_batch.bin", ")");
  }
  // Sizes of every file first, so the pixels are allocated once and only for data that exists.
  int64_t total = 0;
  for (const auto& p : paths) total += record_count(p);
  ImageSet set;
  set.pixels.reserve(static_cast<size_t>(total * kImageBytes));
  set.labels.reserve(static_cast<size_t>(total));
  for (const auto& p : paths) read_cifar10_batch(p, set);
  return set;
}

std::vector<std::string> cifar10_class_names(const std::string& dir) {
  const fs::path path = fs::path(dir) / "batches.meta.txt";
  std::ifstream in(path);
  EMBER_CHECK(in.good(), "cifar10_class_names: cannot open ", path.string());
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    const auto end = line.find_last_not_of(" \t\r\n");
    if (end == std::string::npos) continue;  // blank line (the official file ends with some)
    names.push_back(line.substr(0, end + 1));
  }
  EMBER_CHECK(names.size() == 10, "cifar10_class_names: ", path.string(), " holds ", names.size(),
              " class names, expected 10 (one per line)");
  return names;
}

}  // namespace ember::datasets
