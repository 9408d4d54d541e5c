// mnist.cpp — IDX reading (plain or gzip through zlib) with every size checked before it is
// trusted, and the MNIST split loader on top of it.
#include "datasets/mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <sstream>

namespace ember::datasets {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // uint8 data, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // uint8 data, 1 dimension
constexpr size_t kChunk = size_t(1) << 20;     // inflate granularity: memory grows with real data

std::string hex32(uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << std::setw(8) << std::setfill('0') << v;
  return os.str();
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// A file read byte by byte whether it is plain or gzip'd; which one is decided by the gzip magic
// 0x1f 0x8b at its start. Owns its handle.
class ByteStream {
 public:
  explicit ByteStream(const std::string& path) : path_(path) {
    std::error_code ec;
    file_size_ = fs::file_size(path, ec);
    EMBER_CHECK(!ec, "IDX: cannot open ", path, ": ", ec.message());
    plain_ = std::fopen(path.c_str(), "rb");
    EMBER_CHECK(plain_ != nullptr, "IDX: cannot open ", path);
    uint8_t m[2] = {0, 0};
    gzip_ = std::fread(m, 1, 2, plain_) == 2 && m[0] == 0x1f && m[1] == 0x8b;
    if (gzip_) {
      std::fclose(plain_);
      plain_ = nullptr;
      gz_ = gzopen(path.c_str(), "rb");
      EMBER_CHECK(gz_ != nullptr, "IDX: zlib cannot open ", path);
      gzbuffer(gz_, 1 << 17);
    } else {
      std::rewind(plain_);
    }
  }
  ~ByteStream() {
    if (plain_) std::fclose(plain_);
    if (gz_) gzclose(gz_);
  }
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  bool gzip() const { return gzip_; }
  uint64_t file_size() const { return file_size_; }

  // Up to n bytes into buf; fewer only at the end of the (decompressed) stream. A corrupt or cut
  // gzip stream throws with zlib's own description.
  size_t read(uint8_t* buf, size_t n) {
    if (!gzip_) return std::fread(buf, 1, n, plain_);
    size_t total = 0;
    while (total < n) {
      const unsigned want = static_cast<unsigned>(std::min<size_t>(n - total, kChunk));
      const int got = gzread(gz_, buf + total, want);
      int err = Z_OK;
      const char* msg = gzerror(gz_, &err);
      EMBER_CHECK(got >= 0 && err == Z_OK, "IDX: ", path_, ": gzip stream is corrupt or cut short (zlib: ",
                  msg ? msg : "?", ") after ", total, " bytes of this read");
      if (got == 0) break;
      total += static_cast<size_t>(got);
    }
    return total;
  }

 private:
  std::string path_;
  uint64_t file_size_ = 0;
  bool gzip_ = false;
  std::FILE* plain_ = nullptr;
  gzFile gz_ = nullptr;
};

// Reads and returns the `header_bytes`-byte header; the first word must be `magic`.
std::vector<uint8_t> read_header(ByteStream& s, const std::string& path, size_t header_bytes, uint32_t magic,
                                 const char* kind) {
  std::vector<uint8_t> h(header_bytes);
  const size_t got = s.read(h.data(), header_bytes);
  // The magic first: a label file handed to the image reader is shorter than an image header.
  const uint32_t found = got >= 4 ? be32(h.data()) : magic;
  if (found != magic) {
    const char* hint = found == kImagesMagic   ? " (this is an IDX image file)"
                       : found == kLabelsMagic ? " (this is an IDX label file)"
                                               : "";
    EMBER_FAIL("IDX: ", path, ": bad magic number: expected ", hex32(magic), " (", kind, "), found ", hex32(found),
               hint);
  }
  EMBER_CHECK(got == header_bytes, "IDX: ", path, " is too short for an IDX header (", kind, ": ", header_bytes,
              " bytes): found ", got, " bytes", s.gzip() ? " after decompression" : "");
  return h;
}

// Reads exactly `claimed` data bytes after a header of `header_bytes`. A plain file's length is
// checked first, so the one allocation is known to be backed by the file; a gzip stream is
// inflated chunk by chunk and must end exactly at `claimed`.
std::vector<uint8_t> read_payload(ByteStream& s, const std::string& path, uint64_t header_bytes, uint64_t claimed,
                                  const std::string& claim) {
  EMBER_CHECK(claimed <= kMaxIdxBytes, "IDX: ", path, ": header claims ", claim, " = ", claimed,
              " data bytes, more than the limit of ", kMaxIdxBytes, "; the header is corrupt");
  if (!s.gzip()) {
    EMBER_CHECK(s.file_size() == header_bytes + claimed, "IDX: ", path, ": header claims ", claim, " = ", claimed,
                " data bytes, so the file should be ", header_bytes + claimed, " bytes, but it is ", s.file_size(),
                " bytes", s.file_size() < header_bytes + claimed ? " (truncated)" : " (trailing data)");
  }
  std::vector<uint8_t> out;
  if (!s.gzip()) out.reserve(claimed);
  while (out.size() < claimed) {
    const size_t old = out.size(), want = std::min<uint64_t>(kChunk, claimed - old);
    out.resize(old + want);
    const size_t got = s.read(out.data() + old, want);
    out.resize(old + got);
    EMBER_CHECK(got == want, "IDX: ", path, ": data ends after ", out.size(), " bytes", s.gzip() ? " (decompressed)" : "",
                " but the header claims ", claim, " = ", claimed, " bytes (truncated file)");
  }
  // Anything after the claimed data means header and data disagree; count it for the message.
  uint64_t extra = 0;
  uint8_t scratch[4096];
  for (size_t got; extra <= kMaxIdxBytes && (got = s.read(scratch, sizeof scratch)) > 0;) extra += got;
  EMBER_CHECK(extra == 0, "IDX: ", path, ": the header claims ", claim, " = ", claimed, " data bytes, but ", extra,
              " more bytes follow", s.gzip() ? " in the decompressed stream" : "");
  return out;
}

// dir/name if present, else dir/name.gz; otherwise an error naming both.
std::string find_idx(const std::string& dir, const std::string& name) {
  const fs::path plain = fs::path(dir) / name, gz = fs::path(dir) / (name + ".gz");
  if (fs::is_regular_file(plain)) return plain.string();
  if (fs::is_regular_file(gz)) return gz.string();
  EMBER_FAIL("load_mnist: ", dir, " has neither ", name, " nor ", name, ".gz (the file names as distributed)");
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  ByteStream s(path);
  const std::vector<uint8_t> h = read_header(s, path, 16, kImagesMagic, "IDX images, uint8, 3 dims");
  IdxImages im;
  im.count = be32(&h[4]);
  im.rows = be32(&h[8]);
  im.cols = be32(&h[12]);
  EMBER_CHECK(im.count > 0 && im.rows > 0 && im.cols > 0, "IDX: ", path, ": header has a zero dimension: count ",
              im.count, ", rows ", im.rows, ", cols ", im.cols);
  const std::string claim = detail::str("count×rows×cols = ", im.count, "×", im.rows, "×", im.cols);
  // rows·cols < 2^64 always; check it alone first so count·rows·cols cannot overflow.
  const uint64_t plane = uint64_t(im.rows) * uint64_t(im.cols);
  EMBER_CHECK(plane <= kMaxIdxBytes, "IDX: ", path, ": header claims ", claim, ", an image of ", plane,
              " bytes, more than the limit of ", kMaxIdxBytes, "; the header is corrupt");
  im.pixels = read_payload(s, path, 16, uint64_t(im.count) * plane, claim);
  return im;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  ByteStream s(path);
  const std::vector<uint8_t> h = read_header(s, path, 8, kLabelsMagic, "IDX labels, uint8, 1 dim");
  const uint64_t count = be32(&h[4]);
  EMBER_CHECK(count > 0, "IDX: ", path, ": header claims 0 labels");
  return read_payload(s, path, 8, count, detail::str("count = ", count));
}

ImageSet load_mnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = find_idx(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx(dir, prefix + "-labels-idx1-ubyte");
  IdxImages im = read_idx_images(images_path);
  const std::vector<uint8_t> labels = read_idx_labels(labels_path);
  EMBER_CHECK(static_cast<int64_t>(labels.size()) == im.count, "load_mnist: ", images_path, " holds ", im.count,
              " images but ", labels_path, " holds ", labels.size(), " labels; they must match");
  ImageSet set;
  set.labels.resize(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    EMBER_CHECK(labels[i] < 10, "load_mnist: ", labels_path, ": label ", int(labels[i]), " at index ", i,
                "; MNIST labels are 0..9");
    set.labels[i] = labels[i];
  }
  set.pixels = std::move(im.pixels);
  set.n = im.count;
  set.c = 1;
  set.h = im.rows;
  set.w = im.cols;
  return set;
}

}  // namespace ember::datasets
